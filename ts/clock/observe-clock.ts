// The read-only clock of "observe" mode: tock computes and reports everything a disciplining daemon
// would (offsets, selection, the frequency it would set), but never changes the clock. Every
// adjustment returns `applied: false` and is logged (the first of each kind at info, later ones at
// debug, so a long observe run does not flood the log) and counted.
//
// It is the default when the process lacks CAP_SYS_TIME (see openSystemClock in select-clock.ts), and
// the safe way to run tock next to another time daemon (chronyd, ntpd) to compare their views.
// Its state comes from the real kernel (clock_adjtime with modes 0 reads without privilege), so
// `tock status` shows what the kernel is actually doing, e.g. chronyd's frequency.
import type { NtpTimestamp, UnixTime } from "../core/api.js";
import type { Logger } from "../observe/logger.js";
import {
  assertFinite,
  KERNEL_MAX_FREQUENCY_PPM,
  KERNEL_SLEW_RATE_PPM,
  type AdjustableClock,
  type AdjustResult,
  type AdjustmentKind,
  type ClockCapabilities,
  type ClockState,
  type LeapAction,
  type SyncStatus,
} from "./adjustable.js";
import type { Clock } from "./clock.js";

/** What the observe clock reads: time from `base`, state from `readState` (e.g. a read-only LinuxClock). */
export interface ObserveClockOptions {
  base: Clock & { nowUnix(): UnixTime };
  /** The real clock state; without one (non-Linux), a state saying "unsynchronised, nothing known". */
  readState?: () => ClockState;
  logger?: Logger;
  /** Why this clock is read-only (in logs and results), e.g. "no CAP_SYS_TIME". */
  reason?: string;
}

export class ObserveClock implements AdjustableClock {
  readonly capabilities: ClockCapabilities = {
    kind: "observe",
    canAdjust: false,
    maxFrequencyPpm: KERNEL_MAX_FREQUENCY_PPM,
    slewRatePpm: KERNEL_SLEW_RATE_PPM,
    slewResolutionSeconds: 1e-6,
    stepResolutionSeconds: 1e-9,
  };
  /** Adjustments not applied, by kind (for status and tests). */
  readonly notApplied: Record<AdjustmentKind, number> = { frequency: 0, slew: 0, step: 0, leap: 0, estimate: 0, "take-over": 0 };
  private readonly base: Clock & { nowUnix(): UnixTime };
  private readonly stateReader: (() => ClockState) | undefined;
  private readonly logger: Logger | undefined;
  private readonly reason: string;

  constructor(options: ObserveClockOptions) {
    this.base = options.base;
    this.stateReader = options.readState;
    this.logger = options.logger;
    this.reason = `observe mode${options.reason === undefined ? "" : ` (${options.reason})`}: the clock is never adjusted`;
  }

  get precisionLog2(): number {
    return this.base.precisionLog2;
  }

  now(): NtpTimestamp {
    return this.base.now();
  }

  nowUnix(): UnixTime {
    return this.base.nowUnix();
  }

  readState(): ClockState {
    if (this.stateReader !== undefined) return this.stateReader();
    return {
      frequencyPpm: 0,
      slewRemainingSeconds: 0,
      leap: "none",
      synchronised: false,
      maxErrorSeconds: 16,
      estErrorSeconds: 16,
      taiOffsetSeconds: 0,
      kernelDisciplineActive: false,
      timeState: "error",
      status: 0,
    };
  }

  setFrequency(ppm: number): AdjustResult {
    assertFinite("frequency", ppm);
    return this.refuse("frequency", { ppm });
  }

  slew(offsetSeconds: number): AdjustResult {
    assertFinite("slew offset", offsetSeconds);
    return this.refuse("slew", { offset: offsetSeconds });
  }

  step(offsetSeconds: number): AdjustResult {
    assertFinite("step offset", offsetSeconds);
    return this.refuse("step", { offset: offsetSeconds });
  }

  setLeap(leap: LeapAction): AdjustResult {
    return this.refuse("leap", { leap });
  }

  setSyncStatus(status: SyncStatus): AdjustResult {
    return this.refuse("estimate", { ...status });
  }

  takeOver(): AdjustResult {
    return this.refuse("take-over", {});
  }

  private refuse(kind: AdjustmentKind, fields: Record<string, unknown>): AdjustResult {
    const first = this.notApplied[kind] === 0;
    this.notApplied[kind]++;
    if (this.logger !== undefined) {
      const level = first ? "info" : "debug";
      this.logger[level]({ action: kind, ...fields }, `${this.reason}; not applied: ${kind}`);
    }
    return { applied: false, reason: this.reason, at: this.base.now() };
  }
}
