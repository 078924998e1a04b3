// How far the clock discipline (ts/protocol/discipline.ts) may step the clock, and the panic it
// raises instead (RFC 5905 §11.3 PANICT, thresholds as ntpd-rs names them): the first step after
// start-up is bounded by the startup-step panic threshold, later steps by the single-step one, and
// all steps together by the accumulated-step one. A refused step (or an offset beyond the panic
// threshold even when it would be slewed) becomes a "panic" action: the daemon logs its message and
// exits with PANIC_EXIT_CODE without touching the clock.
import type { ClockAction } from "./system.js";

/** Process exit code after a panic (documented in the README; 0/1/2 are taken by success/error/usage). */
export const PANIC_EXIT_CODE = 3;

export interface StepLimit {
  /** Largest forward step (clock moved ahead, offset > 0), seconds; Infinity = no limit. */
  forward: number;
  /** Largest backward step (seconds); Infinity = no limit. */
  backward: number;
}

/** Why an offset may not be corrected: the threshold it breaks and the words for the panic message. */
export interface PanicReason {
  threshold: number;
  why: string;
}

export class StepLimits {
  private everStepped = false;
  /** Sum of |steps| taken (s). */
  accumulatedSteps = 0;

  constructor(
    private readonly startupStepPanic: StepLimit,
    private readonly singleStepPanic: StepLimit,
    private readonly accumulatedStepPanic: number,
  ) {}

  /** Still at start-up: the discipline has no estimate yet and has never stepped. */
  isStartup(unset: boolean): boolean {
    return unset && !this.everStepped;
  }

  /** Why a step of `offset` (s) must not be taken, or null when it may. */
  refuseStep(offset: number, startup: boolean): PanicReason | null {
    const limit = startup ? this.startupStepPanic : this.singleStepPanic;
    const allowed = offset >= 0 ? limit.forward : limit.backward;
    if (Math.abs(offset) > allowed) {
      return { threshold: allowed, why: `a ${offset >= 0 ? "forward" : "backward"} step of ${fmt(offset)} exceeds the ${startup ? "startup-step" : "single-step"}-panic-threshold of ${fmt(allowed)}` };
    }
    if (this.accumulatedSteps + Math.abs(offset) > this.accumulatedStepPanic) {
      return {
        threshold: this.accumulatedStepPanic,
        why: `steps would add up to ${fmt(this.accumulatedSteps + Math.abs(offset))}, beyond the accumulated-step-panic-threshold of ${fmt(this.accumulatedStepPanic)}`,
      };
    }
    return null;
  }

  /** RFC 5905: an offset beyond the panic threshold stops the daemon even when it would be slewed. */
  refuseOffset(offset: number, startup: boolean): PanicReason | null {
    const limit = startup ? this.startupStepPanic : this.singleStepPanic;
    const allowed = offset >= 0 ? limit.forward : limit.backward;
    if (Math.abs(offset) <= allowed) return null;
    return { threshold: allowed, why: `an offset of ${fmt(offset)} exceeds the panic threshold of ${fmt(allowed)}` };
  }

  /** A step of `offset` was taken. */
  recordStep(offset: number): void {
    this.everStepped = true;
    this.accumulatedSteps += Math.abs(offset);
  }
}

/** The "panic" action for an offset that breaks a threshold. */
export function panicAction(offset: number, reason: PanicReason): ClockAction {
  return {
    kind: "panic",
    offset,
    threshold: reason.threshold,
    message: `clock panic: ${reason.why}; the clock was not changed. Set the time by hand or raise the threshold in [synchronization], then restart tock.`,
  };
}

function fmt(seconds: number): string {
  return Number.isFinite(seconds) ? `${Math.abs(seconds).toPrecision(6)} s` : "infinity";
}
