// The AdjustableClock interface: how the discipline steers a clock. Three implementations share it:
//   - LinuxClock (linux-clock.ts): the system clock through clock_adjtime(2);
//   - ObserveClock (observe-clock.ts): reads the real clock, refuses every adjustment ("observe" mode,
//     the default without CAP_SYS_TIME);
//   - SimAdjustableClock (sim-adjustable-clock.ts): virtual time with a frequency error and wander
//     for the simulator.
//
// Sans-IO use: the discipline (ts/protocol) never calls these methods itself. It returns
// `ClockAction`s; the daemon's loop (or the simulator) carries them out with `applyClockAction`,
// and feeds back `ClockState` / `AdjustResult` as inputs. Every method is synchronous: one syscall
// on Linux, pure arithmetic in the simulator, so the loop stays deterministic.
//
// Sign convention everywhere: an offset or correction is what is ADDED to the clock. A measured NTP
// offset θ (server − local, RFC 5905 §8) is corrected by slew(θ) or step(θ). A positive frequency
// makes the clock run faster (ppm: microseconds gained per second).
//
// Why `slew` means the kernel's ADJ_OFFSET_SINGLESHOT (adjtime-style) and not the kernel PLL
// (ADJ_OFFSET with STA_PLL):
//   - the kernel PLL would run a second discipline loop (it also moves the frequency from the offsets
//     we feed it), fighting ours; tock's discipline owns the loop, so the kernel must only execute;
//   - singleshot slews the exact amount at a fixed, known rate (500 ppm, MAX_TICKADJ) on top of the
//     frequency we set, and reports what is left (ADJ_OFFSET_SS_READ) — easy to model exactly in the
//     simulator, which is what lets simulation results transfer to the real clock;
//   - a new slew REPLACES the pending remainder (adjtime semantics). That is what a re-measuring
//     discipline wants: the next measured offset already includes whatever was not yet corrected.
// Frequency steering (ntpd-rs's way: slew by offsetting the frequency for a computed time) needs only
// setFrequency, so a discipline can choose either; chrony on Linux does the same with frequency.
import type { NtpTimestamp, UnixTime } from "../core/api.js";
import type { Clock } from "./clock.js";

/** The leap second the kernel should apply at the end of the current UTC day (STA_INS / STA_DEL). */
export type LeapAction = "none" | "insert" | "delete";

/**
 * The kernel's leap state machine (adjtimex return value): ok, insert/delete armed for midnight,
 * "oop" = the inserted second is in progress, "wait" = a leap happened and the bits are still set,
 * "error" = the clock is unsynchronised (STA_UNSYNC or a PPS error).
 */
export type TimeState = "ok" | "insert" | "delete" | "oop" | "wait" | "error";

export interface ClockState {
  /** Frequency correction in ppm (positive: the clock runs faster). */
  frequencyPpm: number;
  /** What remains of the last slew (seconds, sign as passed to slew). */
  slewRemainingSeconds: number;
  /** Leap second armed for the end of the day. */
  leap: LeapAction;
  /** False while STA_UNSYNC is set (the kernel sets it itself when maxerror passes 16 s). */
  synchronised: boolean;
  /** Maximum error (seconds); the kernel adds 500 µs per second to it between updates. */
  maxErrorSeconds: number;
  /** Estimated error (seconds). */
  estErrorSeconds: number;
  /** TAI − UTC (seconds), as the kernel knows it (0 when never set). */
  taiOffsetSeconds: number;
  /** The kernel's own PLL/FLL/PPS discipline is enabled (someone else may be steering). */
  kernelDisciplineActive: boolean;
  timeState: TimeState;
  /** Raw STA_* status bits (Linux), or the simulated equivalent. */
  status: number;
}

export interface ClockCapabilities {
  /** Which implementation this is. */
  kind: "linux" | "observe" | "sim";
  /** False for the observe clock: every adjustment is a logged no-op. */
  canAdjust: boolean;
  /** Largest |frequency| setFrequency accepts (ppm); larger values are clamped. */
  maxFrequencyPpm: number;
  /** Rate at which a slew is carried out (ppm = µs per second). */
  slewRatePpm: number;
  /** Smallest slew / step unit in seconds (1e-6 for singleshot slews, 1e-9 for steps). */
  slewResolutionSeconds: number;
  stepResolutionSeconds: number;
}

export interface AdjustResult {
  /** False when nothing was changed (observe mode), with the reason. */
  applied: boolean;
  reason?: string;
  /** The value actually applied when it differs from the request (a clamped frequency), else the request. */
  value?: number;
  /** The clock's reading right after the change took effect (for Linux: the kernel's own timestamp of the call). */
  at: NtpTimestamp;
}

export interface SyncStatus {
  /** Maximum error bound (seconds): root delay / 2 + root dispersion, as ntpd and chronyd set it. */
  maxError: number;
  /** Estimated error (seconds), e.g. the system jitter. */
  estError: number;
  /** True clears STA_UNSYNC (other programs, and the kernel's RTC sync, see the clock as synchronised). */
  synchronised: boolean;
}

export interface AdjustableClock extends Clock {
  readonly capabilities: ClockCapabilities;
  /** The clock's reading as Unix seconds + nanoseconds. */
  nowUnix(): UnixTime;
  /** The current kernel (or simulated) clock state. */
  readState(): ClockState;
  /** Sets the frequency correction (ppm), replacing the previous one; clamped to ±maxFrequencyPpm. */
  setFrequency(ppm: number): AdjustResult;
  /** Starts slewing the clock by `offsetSeconds` at capabilities.slewRatePpm; replaces a pending slew. */
  slew(offsetSeconds: number): AdjustResult;
  /** Jumps the clock by `offsetSeconds` now; cancels a pending slew (it was computed before the step). */
  step(offsetSeconds: number): AdjustResult;
  /** Arms (or disarms) a leap second at the end of the current UTC day. */
  setLeap(leap: LeapAction): AdjustResult;
  /** Publishes error bounds and the synchronised flag (refresh it at every update: the kernel ages maxerror). */
  setSyncStatus(status: SyncStatus): AdjustResult;
  /**
   * Makes tock the only one steering: disables the kernel's PLL/FLL/PPS discipline (left on by a
   * previous ntpd, say) so only our frequency and slews apply. Call once when the discipline starts.
   */
  takeOver(): AdjustResult;
}

/**
 * One adjustment, as data. The kinds and field names are those of the discipline's `ClockAction`
 * (ts/protocol/system.ts, the sans-IO output of ts/protocol/discipline.ts) minus "panic" (not a clock
 * operation: the daemon logs and exits), plus "take-over" (done once by the shell at start). So the
 * shell can pass every non-panic ClockAction straight to applyClockAction; test/clock checks that the
 * two types stay assignable.
 */
export type Adjustment =
  | { kind: "frequency"; ppm: number }
  | { kind: "slew"; offset: number }
  | { kind: "step"; offset: number }
  | { kind: "leap"; leap: LeapAction }
  | ({ kind: "estimate" } & SyncStatus)
  | { kind: "take-over" };

export type AdjustmentKind = Adjustment["kind"];

/** Carries out one adjustment on a clock (the shell's half of the sans-IO contract). */
export function applyClockAction(clock: AdjustableClock, action: Adjustment): AdjustResult {
  switch (action.kind) {
    case "frequency":
      return clock.setFrequency(action.ppm);
    case "slew":
      return clock.slew(action.offset);
    case "step":
      return clock.step(action.offset);
    case "leap":
      return clock.setLeap(action.leap);
    case "estimate":
      return clock.setSyncStatus({ maxError: action.maxError, estError: action.estError, synchronised: action.synchronised });
    case "take-over":
      return clock.takeOver();
  }
}

/** Linux kernel limits (include/linux/timex.h): MAXFREQ 500 ppm, MAX_TICKADJ 500 µs/s. */
export const KERNEL_MAX_FREQUENCY_PPM = 500;
export const KERNEL_SLEW_RATE_PPM = 500;

/** Rejects NaN/±Infinity before they reach a syscall or the simulator (a bug upstream, never silently used). */
export function assertFinite(what: string, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`${what} must be a finite number (got ${value})`);
}
