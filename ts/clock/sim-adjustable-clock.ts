// A simulated adjustable clock for the simulator: virtual true time, and a local clock that drifts
// from it the way a real oscillator under the Linux kernel does. The discipline steers it through the
// same AdjustableClock interface as the real clock, so simulated accuracy transfers to Linux.
//
// Model (true time t, clock error e = clock − true, in seconds):
//
//     de/dt = (f_osc(t) + f_set + s(t)) · 1e-6
//
//   f_osc  the oscillator's own frequency error (ppm), a random walk: every `wanderStepSeconds` of
//          true time it moves by σ·√Δt·N(0,1) (σ = wanderPpmPerSqrtSecond), so after T seconds its
//          variance has grown by σ²·T whatever the step size. setOscillatorFrequency() models a
//          sudden change (a temperature jump).
//   f_set  the frequency correction set by setFrequency (clamped to ±500 ppm, like the kernel).
//   s(t)   the slew: ±500 ppm (the kernel's MAX_TICKADJ) while a singleshot slew is pending, 0 after;
//          slew() replaces the pending amount, step() cancels it and adds to e at once.
// Within each integration chunk the frequencies are constant, so e is integrated exactly (piecewise
// linear), with the chunk split where a slew finishes and at the midnight of an armed leap second.
//
// Leap seconds as the kernel does them (kernel/time/ntp.c): with "insert" armed, when the clock
// reaches UTC midnight it is set back one second (23:59:60 repeats as 00:00:00 here); with "delete",
// at 23:59:59 it jumps forward one second. Afterwards the state is "wait" until setLeap("none").
//
// Time: true time is kept as bigint nanoseconds since the Unix epoch (exact, no era ambiguity); the
// error as float64 seconds (sub-picosecond resolution at the offsets that matter). Randomness comes
// in as a function (seed it): no hidden RNG, so a seed reproduces a run exactly.
import type { NtpTimestamp, UnixTime } from "../core/api.js";
import { addSeconds, unixTimeFromNs } from "./clock.js";
import {
  assertFinite,
  KERNEL_MAX_FREQUENCY_PPM,
  KERNEL_SLEW_RATE_PPM,
  type AdjustableClock,
  type AdjustResult,
  type Adjustment,
  type ClockCapabilities,
  type ClockState,
  type LeapAction,
  type SyncStatus,
  type TimeState,
} from "./adjustable.js";
import type { UnixToNtp } from "./system-clock.js";

const NS_PER_S = 1_000_000_000n;
const DAY_SECONDS = 86_400;
/** The kernel ages maxerror by its frequency tolerance, 500 µs per second, up to 16 s (NTP_PHASE_LIMIT). */
const MAX_ERROR_AGING_PER_SECOND = 500e-6;
const MAX_ERROR_LIMIT_SECONDS = 16;

export interface SimAdjustableClockOptions {
  /** Converts Unix time to NTP (inject the core's unixToNtp: one source of truth). */
  toNtp: UnixToNtp;
  /** True time at the start (Unix). */
  start: UnixTime;
  /** Clock − true at the start (seconds). */
  initialOffsetSeconds?: number;
  /** The oscillator's frequency error at the start (ppm; positive: the clock runs fast). */
  frequencyErrorPpm?: number;
  /** Random-walk wander of the oscillator frequency, ppm per √second (0: none). */
  wanderPpmPerSqrtSecond?: number;
  /** True-time interval between wander increments (seconds, default 16). */
  wanderStepSeconds?: number;
  /** Uniform [0, 1) random numbers; required when wander is non-zero. Seed it for reproducible runs. */
  random?: () => number;
  /** Reported precision (log2 s), default −20. */
  precisionLog2?: number;
  /** false: behave like the observe clock (nothing applied, actions still recorded). */
  canAdjust?: boolean;
}

/** One adjustment, as recorded for assertions. */
export interface RecordedClockAction {
  action: Adjustment;
  /** Seconds of true time since the start. */
  atSeconds: number;
  /** Clock − true just before the action. */
  offsetBefore: number;
  applied: boolean;
}

export class SimAdjustableClock implements AdjustableClock {
  readonly capabilities: ClockCapabilities;
  readonly precisionLog2: number;
  /** Every adjustment in order (including refused ones when canAdjust is false). */
  readonly actions: RecordedClockAction[] = [];

  private readonly toNtp: UnixToNtp;
  private readonly startNs: bigint;
  private trueNs: bigint;
  /** Sub-nanosecond remainder of true time not yet in trueNs. */
  private carryNs = 0;
  private error: number;
  private oscillatorPpm: number;
  private readonly wanderSigma: number;
  private readonly wanderStep: number;
  private wanderElapsed = 0;
  private readonly random: (() => number) | undefined;
  private correctionPpm = 0;
  private slewRemaining = 0;
  private leap: LeapAction = "none";
  private timeState: TimeState = "error";
  private synchronised = false;
  private maxError = MAX_ERROR_LIMIT_SECONDS;
  private estError = MAX_ERROR_LIMIT_SECONDS;
  private kernelDiscipline = false;

  constructor(options: SimAdjustableClockOptions) {
    this.toNtp = options.toNtp;
    this.startNs = BigInt(options.start.seconds) * NS_PER_S + BigInt(options.start.nanos);
    this.trueNs = this.startNs;
    this.error = options.initialOffsetSeconds ?? 0;
    this.oscillatorPpm = options.frequencyErrorPpm ?? 0;
    this.wanderSigma = options.wanderPpmPerSqrtSecond ?? 0;
    this.wanderStep = options.wanderStepSeconds ?? 16;
    this.random = options.random;
    for (const [what, v] of [["initial offset", this.error], ["frequency error", this.oscillatorPpm], ["wander", this.wanderSigma]] as const) assertFinite(what, v);
    if (!(this.wanderStep > 0)) throw new RangeError("wanderStepSeconds must be > 0");
    if (this.wanderSigma !== 0 && this.random === undefined) throw new Error("wander needs a random source (pass a seeded `random`)");
    this.precisionLog2 = options.precisionLog2 ?? -20;
    const canAdjust = options.canAdjust ?? true;
    this.capabilities = {
      kind: "sim",
      canAdjust,
      maxFrequencyPpm: KERNEL_MAX_FREQUENCY_PPM,
      slewRatePpm: KERNEL_SLEW_RATE_PPM,
      slewResolutionSeconds: 1e-6,
      stepResolutionSeconds: 1e-9,
    };
  }

  // ---------------------------------------------------------------- the simulator's side

  /** Moves true time forward by `seconds` (≥ 0), integrating drift, wander, slew and leap seconds. */
  advance(seconds: number): void {
    assertFinite("advance", seconds);
    if (seconds < 0) throw new RangeError("true time only moves forward");
    let left = seconds;
    const slewRate = KERNEL_SLEW_RATE_PPM * 1e-6;
    while (left > 0) {
      let chunk = Math.min(left, this.wanderStep - this.wanderElapsed);
      if (this.slewRemaining !== 0) chunk = Math.min(chunk, Math.abs(this.slewRemaining) / slewRate);
      // Within this chunk the clock runs at (1 + rate) × true time (the chunk ends where a slew does).
      const rate = (this.oscillatorPpm + this.correctionPpm) * 1e-6 + (this.slewRemaining === 0 ? 0 : Math.sign(this.slewRemaining) * slewRate);
      const leapIn = this.secondsToLeap(rate);
      if (leapIn !== undefined) chunk = Math.min(chunk, leapIn);
      chunk = Math.max(chunk, 0);
      this.integrate(chunk, slewRate);
      left -= chunk;
      this.wanderElapsed += chunk;
      if (this.wanderElapsed >= this.wanderStep - 1e-12) {
        this.wander(this.wanderElapsed);
        this.wanderElapsed = 0;
      }
      // A zero chunk only happens when a leap is due now; applying it changes state, so the loop
      // always progresses.
      if (leapIn !== undefined && chunk >= leapIn) this.applyLeap();
    }
  }

  /** Seconds of true time since the start. */
  get elapsedSeconds(): number {
    return Number(this.trueNs - this.startNs) / 1e9;
  }

  /** True time as an NTP timestamp (what a perfect server would read). */
  trueNow(): NtpTimestamp {
    return this.toNtp(unixTimeFromNs(this.trueNs));
  }

  /** True time as Unix time. */
  trueUnix(): UnixTime {
    return unixTimeFromNs(this.trueNs);
  }

  /** Clock − true, seconds: the quantity the discipline tries to drive to zero. */
  offsetFromTrue(): number {
    return this.error;
  }

  /** The oscillator's current frequency error (ppm), before the correction. */
  get oscillatorFrequencyPpm(): number {
    return this.oscillatorPpm;
  }

  /** The clock's net frequency error (ppm): oscillator + correction. Zero when perfectly disciplined. */
  get residualFrequencyPpm(): number {
    return this.oscillatorPpm + this.correctionPpm;
  }

  /** A sudden oscillator change, e.g. a temperature jump. */
  setOscillatorFrequency(ppm: number): void {
    assertFinite("oscillator frequency", ppm);
    this.oscillatorPpm = ppm;
  }

  // ---------------------------------------------------------------- AdjustableClock

  now(): NtpTimestamp {
    return addSeconds(this.trueNow(), this.error);
  }

  nowUnix(): UnixTime {
    return unixTimeFromNs(this.trueNs + BigInt(Math.round(this.error * 1e9)));
  }

  readState(): ClockState {
    const statusBits = (this.leap === "insert" ? 0x10 : this.leap === "delete" ? 0x20 : 0) | (this.synchronised ? 0 : 0x40) | 0x2000;
    return {
      frequencyPpm: this.correctionPpm,
      slewRemainingSeconds: this.slewRemaining,
      leap: this.leap,
      synchronised: this.synchronised,
      maxErrorSeconds: this.maxError,
      estErrorSeconds: this.estError,
      taiOffsetSeconds: 0,
      kernelDisciplineActive: this.kernelDiscipline,
      timeState: this.synchronised ? this.timeState : "error",
      status: statusBits,
    };
  }

  setFrequency(ppm: number): AdjustResult {
    assertFinite("frequency", ppm);
    const clamped = Math.max(-KERNEL_MAX_FREQUENCY_PPM, Math.min(KERNEL_MAX_FREQUENCY_PPM, ppm));
    // Kernel resolution: ppm × 2^16 rounded to an integer.
    const value = Math.round(clamped * 65536) / 65536;
    return this.apply({ kind: "frequency", ppm }, value, () => {
      this.correctionPpm = value;
    });
  }

  slew(offsetSeconds: number): AdjustResult {
    assertFinite("slew offset", offsetSeconds);
    const value = Math.round(offsetSeconds * 1e6) / 1e6; // singleshot slews are whole microseconds
    return this.apply({ kind: "slew", offset: offsetSeconds }, value, () => {
      this.slewRemaining = value;
    });
  }

  step(offsetSeconds: number): AdjustResult {
    assertFinite("step offset", offsetSeconds);
    const value = Math.round(offsetSeconds * 1e9) / 1e9;
    return this.apply({ kind: "step", offset: offsetSeconds }, value, () => {
      this.slewRemaining = 0;
      this.error += value;
    });
  }

  setLeap(leap: LeapAction): AdjustResult {
    return this.apply({ kind: "leap", leap }, undefined, () => {
      this.leap = leap;
      if (leap === "none" || this.timeState !== "wait") this.timeState = leap === "none" ? "ok" : leap;
    });
  }

  setSyncStatus(status: SyncStatus): AdjustResult {
    assertFinite("maxerror", status.maxError);
    assertFinite("esterror", status.estError);
    return this.apply({ kind: "estimate", ...status }, undefined, () => {
      this.maxError = clampError(status.maxError);
      this.estError = clampError(status.estError);
      this.synchronised = status.synchronised;
      if (this.synchronised && this.timeState === "error") this.timeState = this.leap === "none" ? "ok" : this.leap;
    });
  }

  takeOver(): AdjustResult {
    return this.apply({ kind: "take-over" }, undefined, () => {
      this.kernelDiscipline = false;
      this.slewRemaining = 0;
    });
  }

  // ---------------------------------------------------------------- internals

  private apply(action: Adjustment, value: number | undefined, change: () => void): AdjustResult {
    const applied = this.capabilities.canAdjust;
    this.actions.push({ action, atSeconds: this.elapsedSeconds, offsetBefore: this.error, applied });
    if (applied) change();
    const result: AdjustResult = { applied, at: this.now() };
    if (!applied) result.reason = "simulated observe mode: the clock is never adjusted";
    if (value !== undefined) result.value = value;
    return result;
  }

  private integrate(dt: number, slewRate: number): void {
    if (dt <= 0) return;
    let slewed = 0;
    if (this.slewRemaining !== 0) {
      slewed = Math.sign(this.slewRemaining) * Math.min(Math.abs(this.slewRemaining), slewRate * dt);
      this.slewRemaining -= slewed;
      // Floating-point dust below the kernel's 1 µs unit means the slew is done.
      if (Math.abs(this.slewRemaining) < 1e-12) this.slewRemaining = 0;
    }
    this.error += (this.oscillatorPpm + this.correctionPpm) * 1e-6 * dt + slewed;
    // Whole nanoseconds into the exact counter, the rounding remainder carried to the next chunk, so
    // true time never drifts from the sum of the advances (many small chunks would otherwise add up).
    const exactNs = dt * 1e9 + this.carryNs;
    const wholeNs = Math.round(exactNs);
    this.carryNs = exactNs - wholeNs;
    this.trueNs += BigInt(wholeNs);
    this.maxError = Math.min(MAX_ERROR_LIMIT_SECONDS, this.maxError + MAX_ERROR_AGING_PER_SECOND * dt);
    if (this.maxError >= MAX_ERROR_LIMIT_SECONDS) this.synchronised = false;
  }

  private wander(dt: number): void {
    if (this.wanderSigma === 0 || this.random === undefined) return;
    this.oscillatorPpm += this.wanderSigma * Math.sqrt(dt) * gaussian(this.random);
  }

  /**
   * True seconds until the armed leap's moment in clock time (UTC midnight for insert, 23:59:59 for
   * delete), given the clock's current rate; undefined when nothing is armed. Exact integers (ns)
   * for the position in the day, so the moment is never skipped by rounding.
   */
  private secondsToLeap(rate: number): number | undefined {
    if (this.leap === "none" || this.timeState === "wait") return undefined;
    const clockNs = this.trueNs + BigInt(Math.round(this.error * 1e9));
    const dayNs = BigInt(DAY_SECONDS) * NS_PER_S;
    let nextMidnight = (clockNs / dayNs + 1n) * dayNs;
    if (clockNs < 0n && clockNs % dayNs !== 0n) nextMidnight -= dayNs;
    const moment = this.leap === "insert" ? nextMidnight : nextMidnight - NS_PER_S;
    if (moment < clockNs) return undefined; // delete armed during the last second: too late today
    return Number(moment - clockNs) / 1e9 / (1 + rate);
  }

  private applyLeap(): void {
    this.error += this.leap === "insert" ? -1 : 1;
    this.timeState = "wait";
  }
}

function clampError(seconds: number): number {
  return Math.max(0, Math.min(MAX_ERROR_LIMIT_SECONDS, seconds));
}

/** A standard normal deviate from two uniforms (Box–Muller); deterministic for a seeded `random`. */
export function gaussian(random: () => number): number {
  const u1 = 1 - random(); // (0, 1]: log(0) never happens
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
