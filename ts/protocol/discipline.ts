// The clock discipline (RFC 5905 §11.3 local_clock / §12 clock_adjust), sans-IO: system updates and
// ticks come in, ClockActions (ts/protocol/system.ts) go out. It never reads a clock: `now` is the
// caller's monotonic seconds, and UTC (for leap seconds only) comes from the `utc` mapping the caller
// supplies from the clock it already reads.
//
// ── Estimator: a two-state Kalman filter instead of RFC 5905's PLL/FLL ──────────────────────────
// RFC 5905's hybrid PLL/FLL (A.5.5.6) feeds each offset through fixed loop gains; it needs 900 s of
// "FREQ" state to measure the frequency and a time constant of 16 poll intervals, so it converges in
// tens of minutes and its steady-state error is set by gains, not by the noise actually seen. ntpd-rs
// (per-source Kalman filter) and chrony (regression over samples) estimate offset AND frequency
// statistically and do far better in the simulator (bench/accuracy.ts prints both side by side).
// We run one Kalman filter on the combined system offset (selection and clustering stay RFC 5905,
// ts/core/selection.ts).
// What the simulator taught us (test/sim, figures in the README):
//   - R = Ψ² (the system jitter) is the right measurement noise here, although Ψ overstates the
//     network noise: the RFC combine averages survivors' samples of DIFFERENT ages, so while the
//     clock is being slewed the combined offset really is that uncertain, and Ψ says so. An
//     innovation-based R (smaller) made the filter chase that mixing error (max error ×4–8).
//   - a chrony-style regression over the uncorrected timeline (u = θ + ∫F) handles old samples
//     exactly but suffered the same mixing at start-up (sync 3–6× slower); the Kalman filter won.
//   - a frequency step (temperature) is the weak case: the RFC clock filter hands over a new sample
//     only when the least-delay one changes, ~once per several polls, so new evidence arrives slowly;
//     the run detector below halves the recovery error compared with the plain filter.
//
// State x = [θ, ε]:
//   θ (s)   time offset: reference − local clock, positive when our clock is behind (SystemUpdate.offset);
//   ε (s/s) the oscillator's own frequency error, positive when it runs fast.
// Control F (s/s): the frequency correction we set (ClockAction "frequency", ppm = F·1e6, positive
// makes the clock faster). Between events F is constant, so for an interval Δ:
//   θ(t+Δ) = θ(t) − (ε + F)·Δ,   ε(t+Δ) = ε(t) + w,  w ~ N(0, q·Δ)   (random-walk frequency, "wander")
//   A = [[1, −Δ], [0, 1]],  Q = q·[[Δ³/3, −Δ²/2], [−Δ²/2, Δ]] + [[qθ·Δ, 0], [0, 0]]
// (the ε-to-θ terms integrate the random walk over the interval; qθ is the oscillator's white frequency
// noise). Predict: x ← A·x − [F·Δ, 0],  P ← A·P·Aᵀ + Q.
// Measurement z = θ + v, v ~ N(0, R) with R = max(Ψ², ρ²) (Ψ = the system jitter of the update,
// ρ = measurementFloor): H = [1, 0], innovation y = z − θ, S = P₀₀ + R, gain K = P·Hᵀ/S,
// x ← x + K·y, P ← (I − K·H)·P.
// A sample older than the state (the clock filter picks the least-delay sample of the last eight) is
// carried forward to the state time with the frequency history: z' = z − ε·(T − ts) − ∫F, and its
// variance grows by P₁₁·(T − ts)².
// Outliers: an innovation beyond outlierGate·√S is held back; after outlierRun of them in a row the
// world has changed: the sample is taken and the covariance inflated by the innovation
// (P₀₀ += y², P₁₁ += (y/Δ)²) so the filter re-learns quickly.
// Frequency changes: trendRun innovations of one sign, each beyond trendGate·√S, reopen P₁₁ (see
// detectTrend) — random noise rarely makes such runs, a new oscillator frequency always does.
//
// ── Steering: frequency only, like chrony and ntpd-rs ────────────────────────────────────────────
// After an update we set F = −ε + c: cancel the oscillator's error and add a correction rate
// c = θ/τ that removes the estimated offset in τ = max(minSlewTime, slewPolls · poll interval),
// |c| ≤ maxSlewRate, |F| ≤ maxFrequency. When τ has elapsed (tick), F returns to −ε. Nothing is
// slewed by the kernel behind our back, so the filter knows exactly what the clock did.
//
// ── Steps and panics (RFC 5905 Figure 28, ntpd-rs thresholds) ────────────────────────────────────
// |θ| > stepThreshold on the first update → step (bounded by startupStepPanic). Once synchronised, an
// offset beyond stepThreshold is treated as a spike (RFC "SPIK"): ignored until it has persisted
// for stepoutInterval (WATCH, 900 s), then stepped, bounded by singleStepPanic. A step beyond its
// panic threshold, or steps adding up beyond accumulatedStepPanic, emits a "panic" action instead:
// the daemon logs the message and exits with PANIC_EXIT_CODE without touching the clock.
// stepThreshold = Infinity never steps: everything is slewed (at most maxSlewRate).
//
// ── Minimum agreeing sources, leap seconds ───────────────────────────────────────────────────────
// Updates combined from fewer than minimumAgreeingSources survivors are ignored (counted).
// The majority leap indicator of each update goes to the LeapPolicy (ts/protocol/leap.ts), which arms
// the kernel only on the last UTC day of the month.
import type { SynchronizationConfig } from "../config/index.js";
import { LeapPolicy, type LeapDecision, type LeapKind, type LeapTable } from "./leap.js";
import type { ClockAction, Discipline, SystemUpdate } from "./system.js";

/** Process exit code after a panic (documented in the README; 0/1/2 are taken by success/error/usage). */
export const PANIC_EXIT_CODE = 3;

export interface StepLimit {
  /** Largest forward step (clock moved ahead, offset > 0), seconds; Infinity = no limit. */
  forward: number;
  /** Largest backward step (seconds); Infinity = no limit. */
  backward: number;
}

export interface DisciplineOptions {
  /** Offsets beyond this are stepped, below it slewed (s; default 0.128; Infinity: never step). */
  stepThreshold?: number;
  /** The first step after start-up may not exceed this (s; default forward ∞, backward 86 400). */
  startupStepPanic?: StepLimit;
  /** Later steps may not exceed this (s; default 1000 both ways, RFC 5905 PANICT). */
  singleStepPanic?: StepLimit;
  /** Sum of |steps| beyond this panics (s; default Infinity = no limit). */
  accumulatedStepPanic?: number;
  /** Updates combined from fewer survivors are ignored (sources; default 1 — the system process
   *  applies the configured minimum through the selection; this is a second gate). */
  minimumAgreeingSources?: number;
  /** Largest correction rate on top of the frequency estimate (ppm; default 500). */
  maxSlewRate?: number;
  /** Largest total frequency correction (ppm; default 500, the Linux kernel's limit). */
  maxFrequency?: number;
  /** An offset beyond stepThreshold must persist this long before a step once synchronised (s; 900, RFC WATCH). */
  stepoutInterval?: number;
  /** Initial frequency correction (ppm) and its 1σ uncertainty (ppm, null: unknown): the drift file's record. */
  initialFrequency?: { frequencyPpm: number; uncertaintyPpm: number | null };
  /** Frequency random walk of the oscillator, ppm per √s (default 1e-3: ~0.06 ppm per hour). */
  wander?: number;
  /** White frequency noise of the oscillator, s²/s (default 1e-16). */
  phaseNoise?: number;
  /** Floor of the measurement standard deviation ρ (s; default 1e-6). */
  measurementFloor?: number;
  /** Frequency uncertainty (1σ, ppm) assumed without a drift file (default 100). */
  initialFrequencyUncertainty?: number;
  /** Innovations beyond this many σ are outliers (default 5), accepted after outlierRun (default 3) in a row. */
  outlierGate?: number;
  outlierRun?: number;
  /** A frequency change is declared after trendRun innovations of one sign (default 3), each beyond
   *  trendGate·√S (default 0: the sign run alone). */
  trendRun?: number;
  trendGate?: number;
  /** The offset is slewed out over slewPolls poll intervals (default 1), at least minSlewTime s (default 4). */
  slewPolls?: number;
  minSlewTime?: number;
  /** POSIX UTC seconds at monotonic `now` (the caller's clock mapping); needed for leap seconds only. */
  utc?: (now: number) => number;
  /** A leap-seconds.list table (authoritative while not expired). */
  leapTable?: LeapTable | null;
}

/**
 * The discipline's options from `[synchronization]` (step-threshold, the three panic thresholds,
 * max-slew-rate; minimum-agreeing-sources is applied by the system process through the selection),
 * plus what the daemon read at start-up: the drift file's frequency, the leap-seconds.list table and
 * its clock's UTC mapping.
 */
export function disciplineOptionsFromConfig(
  sync: SynchronizationConfig,
  inputs: { initialFrequency?: DisciplineOptions["initialFrequency"]; leapTable?: LeapTable | null; utc?: (now: number) => number } = {},
): DisciplineOptions {
  const options: DisciplineOptions = {
    stepThreshold: sync.stepThreshold,
    singleStepPanic: sync.singleStepPanicThreshold,
    startupStepPanic: sync.startupStepPanicThreshold,
    maxSlewRate: sync.maxSlewRate,
    leapTable: inputs.leapTable ?? null,
  };
  if (sync.accumulatedStepPanicThreshold !== undefined) options.accumulatedStepPanic = sync.accumulatedStepPanicThreshold;
  if (inputs.initialFrequency !== undefined) options.initialFrequency = inputs.initialFrequency;
  if (inputs.utc !== undefined) options.utc = inputs.utc;
  return options;
}

export type DisciplineState = "unset" | "sync" | "spike" | "panic";

export interface DisciplineCounters {
  updates: number;
  steps: number;
  spikes: number;
  outliers: number;
  /** Runs of one-signed innovations that reopened the frequency estimate (frequency changes). */
  trends: number;
  tooFewSources: number;
  invalid: number;
}

export interface DisciplineStatus {
  state: DisciplineState;
  /** Estimated remaining offset (s, reference − local) and its 1σ (s). */
  offset: number;
  offsetSigma: number;
  /** Estimated oscillator error (ppm, positive fast) and its 1σ (ppm). */
  oscillatorPpm: number;
  frequencySigmaPpm: number;
  /** Frequency correction currently set (ppm). */
  frequencyPpm: number;
  /** Sum of |steps| (s). */
  accumulatedSteps: number;
  leap: LeapDecision | null;
  counters: DisciplineCounters;
}

const PPM = 1e-6;

export class ClockDiscipline implements Discipline {
  private readonly stepThreshold: number;
  private readonly startupStepPanic: StepLimit;
  private readonly singleStepPanic: StepLimit;
  private readonly accumulatedStepPanic: number;
  private readonly minimumAgreeingSources: number;
  private readonly maxSlewRate: number;
  private readonly maxFrequency: number;
  private readonly stepoutInterval: number;
  private readonly wanderVariance: number;
  private readonly phaseNoise: number;
  private readonly measurementFloor: number;
  private readonly outlierGate: number;
  private readonly outlierRun: number;
  private readonly trendRun: number;
  private readonly trendGate: number;
  private readonly slewPolls: number;
  private readonly minSlewTime: number;
  private readonly utc: ((now: number) => number) | undefined;
  private readonly leapPolicy: LeapPolicy;

  private state: DisciplineState = "unset";
  /** Time of the estimate (monotonic s); NaN until the first update. */
  private t = NaN;
  private theta = 0;
  private epsilon: number;
  private p00 = 0;
  private p01 = 0;
  private p11: number;
  /** Frequency correction in force (s/s), when it was set, and recent history for old samples. */
  private f: number;
  private fHistory: { at: number; f: number }[] = [];
  private slewEnd: number | null = null;
  private frequencyAnnounced = false;
  private spikeSince: number | null = null;
  private outliersInRow = 0;
  private trend: { y: number; sigma: number; at: number }[] = [];
  private lastAccepted = NaN;
  private everStepped = false;
  private accumulatedSteps = 0;
  private majorityLeap = 0;
  private kernelLeap: LeapKind = "none";
  private lastLeap: LeapDecision | null = null;
  readonly counters: DisciplineCounters = { updates: 0, steps: 0, spikes: 0, outliers: 0, trends: 0, tooFewSources: 0, invalid: 0 };

  constructor(options: DisciplineOptions = {}) {
    const o = options;
    this.stepThreshold = positive("stepThreshold", o.stepThreshold ?? 0.128, true);
    this.startupStepPanic = o.startupStepPanic ?? { forward: Infinity, backward: 86_400 };
    this.singleStepPanic = o.singleStepPanic ?? { forward: 1000, backward: 1000 };
    this.accumulatedStepPanic = o.accumulatedStepPanic !== undefined && o.accumulatedStepPanic > 0 ? o.accumulatedStepPanic : Infinity;
    this.minimumAgreeingSources = o.minimumAgreeingSources ?? 1;
    this.maxSlewRate = positive("maxSlewRate", o.maxSlewRate ?? 500, false) * PPM;
    this.maxFrequency = positive("maxFrequency", o.maxFrequency ?? 500, false) * PPM;
    this.stepoutInterval = o.stepoutInterval ?? 900;
    const wander = (o.wander ?? 1e-3) * PPM;
    this.wanderVariance = wander * wander;
    this.phaseNoise = o.phaseNoise ?? 1e-16;
    this.measurementFloor = positive("measurementFloor", o.measurementFloor ?? 1e-6, false);
    this.outlierGate = o.outlierGate ?? 5;
    this.outlierRun = o.outlierRun ?? 3;
    this.trendRun = Math.max(2, Math.floor(o.trendRun ?? 3));
    this.trendGate = o.trendGate ?? 0;
    this.slewPolls = o.slewPolls ?? 1;
    this.minSlewTime = o.minSlewTime ?? 4;
    this.utc = o.utc;
    this.leapPolicy = new LeapPolicy(o.leapTable ?? null);
    const initial = o.initialFrequency;
    const ppm = initial !== undefined && Number.isFinite(initial.frequencyPpm) ? clamp(initial.frequencyPpm, o.maxFrequency ?? 500) : 0;
    // The drift file stores the correction F; the oscillator error is its negative.
    this.f = ppm * PPM;
    this.epsilon = -this.f;
    const sigma = initial !== undefined ? Math.max(initial.uncertaintyPpm ?? 1, 0.1) : (o.initialFrequencyUncertainty ?? 100);
    this.p11 = (sigma * PPM) ** 2;
  }

  update(u: SystemUpdate, now: number): ClockAction[] {
    if (this.state === "panic") return [];
    if (![u.offset, u.jitter, u.time, u.pollInterval, now].every(Number.isFinite) || u.pollInterval <= 0) {
      this.counters.invalid++;
      return [];
    }
    if (u.survivors < this.minimumAgreeingSources) {
      this.counters.tooFewSources++;
      return [];
    }
    this.counters.updates++;
    this.majorityLeap = u.leap;
    const actions: ClockAction[] = [];
    this.announceFrequency(actions);
    const sampleTime = Math.min(u.time, now);
    if (Number.isNaN(this.t)) this.t = sampleTime;
    this.predict(now);
    // The measured offset carried to `now` with what the clock did since the sample.
    const age = now - sampleTime;
    const measured = u.offset - this.epsilon * age - this.integrateF(sampleTime, now);
    const variance = Math.max(u.jitter, this.measurementFloor) ** 2 + this.p11 * age * age;

    if (Math.abs(measured) > this.stepThreshold) {
      if (this.state === "unset" || (this.spikeSince !== null && now - this.spikeSince >= this.stepoutInterval)) {
        this.step(measured, now, variance, actions);
      } else {
        if (this.spikeSince === null) this.spikeSince = now;
        this.state = "spike";
        this.counters.spikes++;
      }
      this.leapActions(now, actions);
      return actions;
    }
    this.spikeSince = null;
    if (!this.panicCheckOffset(measured, actions)) return actions;

    if (this.state === "unset") {
      this.theta = measured;
      this.p00 = variance;
      this.p01 = 0;
    } else if (!this.correct(measured, variance, now)) {
      this.counters.outliers++;
      this.leapActions(now, actions);
      return actions;
    }
    this.state = "sync";
    this.lastAccepted = now;
    this.steer(now, u.pollInterval, actions);
    actions.push({
      kind: "estimate",
      maxError: u.rootDelay / 2 + u.rootDispersion + Math.abs(this.theta),
      estError: Math.sqrt(this.p00),
      synchronised: true,
    });
    this.leapActions(now, actions);
    return actions;
  }

  tick(now: number): ClockAction[] {
    if (this.state === "panic" || !Number.isFinite(now)) return [];
    const actions: ClockAction[] = [];
    this.announceFrequency(actions);
    if (this.slewEnd !== null && now >= this.slewEnd) {
      this.predict(now);
      this.setF(-this.epsilon, now, actions);
      this.slewEnd = null;
    }
    this.leapActions(now, actions);
    return actions;
  }

  /** The leap indicator to serve downstream (0 none, 1 insert, 2 delete). */
  leapIndicator(): number {
    return this.lastLeap?.indicator ?? 0;
  }

  /** Frequency correction worth saving to the drift file, or null until it is known to ±1 ppm. */
  driftRecord(): { frequencyPpm: number; uncertaintyPpm: number } | null {
    const sigma = Math.sqrt(this.p11) / PPM;
    if (this.state === "unset" || sigma > 1) return null;
    return { frequencyPpm: -this.epsilon / PPM, uncertaintyPpm: sigma };
  }

  setLeapTable(table: LeapTable | null): void {
    this.leapPolicy.setTable(table);
  }

  status(): DisciplineStatus {
    return {
      state: this.state,
      offset: this.theta,
      offsetSigma: Math.sqrt(this.p00),
      oscillatorPpm: this.epsilon / PPM,
      frequencySigmaPpm: Math.sqrt(this.p11) / PPM,
      frequencyPpm: this.f / PPM,
      accumulatedSteps: this.accumulatedSteps,
      leap: this.lastLeap,
      counters: { ...this.counters },
    };
  }

  // ── Kalman filter ──────────────────────────────────────────────────────────────────────────────

  /** Carries the estimate from its time to `now` under the control F in force (the model above). */
  private predict(now: number): void {
    const dt = now - this.t;
    if (!(dt > 0)) return;
    const q = this.wanderVariance;
    this.theta -= (this.epsilon + this.f) * dt;
    // P ← A P Aᵀ + Q with A = [[1, −dt], [0, 1]].
    const p00 = this.p00 - 2 * dt * this.p01 + dt * dt * this.p11 + q * dt ** 3 / 3 + this.phaseNoise * dt;
    const p01 = this.p01 - dt * this.p11 - q * dt * dt / 2;
    const p11 = this.p11 + q * dt;
    this.p00 = p00;
    this.p01 = p01;
    this.p11 = p11;
    this.t = now;
  }

  /** Measurement update; false when the sample was held back as an outlier. */
  private correct(z: number, r: number, now: number): boolean {
    const y = z - this.theta;
    const s = this.p00 + r;
    if (y * y > this.outlierGate ** 2 * s) {
      this.outliersInRow++;
      if (this.outliersInRow < this.outlierRun) return false;
      // A persistent change: reopen the covariance by what we missed.
      const span = Math.max(now - this.lastAccepted, 1);
      this.p00 += y * y;
      this.p11 += (y / span) ** 2;
      this.trend = [];
    }
    this.outliersInRow = 0;
    this.detectTrend(y, Math.sqrt(s), now);
    const sInflated = this.p00 + r;
    const k0 = this.p00 / sInflated;
    const k1 = this.p01 / sInflated;
    this.theta += k0 * y;
    this.epsilon += k1 * y;
    this.epsilon = Math.max(-this.maxFrequency, Math.min(this.maxFrequency, this.epsilon));
    const p00 = (1 - k0) * this.p00;
    const p01 = (1 - k0) * this.p01;
    const p11 = this.p11 - k1 * this.p01;
    this.p00 = p00;
    this.p01 = p01;
    this.p11 = Math.max(p11, 0);
    return true;
  }

  /**
   * Frequency-change detector (the idea of chrony's runs test): noise gives innovations of random
   * sign; a change of the oscillator's frequency gives a run of one sign. After trendRun innovations
   * of one sign, each beyond trendGate·√S, the frequency variance is reopened by the mean innovation
   * over the run's span (P₁₁ += trendRun·(ȳ/span)², P₀₀ += ȳ²) so the gain rises and the filter
   * follows the new frequency instead of averaging it away.
   */
  private detectTrend(y: number, sigma: number, now: number): void {
    this.trend.push({ y, sigma, at: now });
    if (this.trend.length > this.trendRun) this.trend.shift();
    if (this.trend.length < this.trendRun) return;
    const sign = Math.sign(this.trend[0]!.y);
    if (sign === 0 || !this.trend.every((e) => Math.sign(e.y) === sign && Math.abs(e.y) > this.trendGate * e.sigma)) return;
    const mean = this.trend.reduce((sum, e) => sum + e.y, 0) / this.trend.length;
    const span = Math.max(now - this.trend[0]!.at, 1);
    this.p00 += mean * mean;
    this.p11 += this.trendRun * (mean / span) ** 2;
    this.counters.trends++;
    this.trend = [];
  }

  // ── Steering ───────────────────────────────────────────────────────────────────────────────────

  private steer(now: number, pollInterval: number, actions: ClockAction[]): void {
    const tau = Math.max(this.minSlewTime, this.slewPolls * pollInterval);
    const rate = Math.max(-this.maxSlewRate, Math.min(this.maxSlewRate, this.theta / tau));
    this.setF(rate - this.epsilon, now, actions);
    this.slewEnd = rate === 0 ? null : now + this.theta / rate;
  }

  private setF(f: number, now: number, actions: ClockAction[]): void {
    const clamped = Math.max(-this.maxFrequency, Math.min(this.maxFrequency, f));
    this.predict(now);
    this.f = clamped;
    this.fHistory.push({ at: now, f: clamped });
    if (this.fHistory.length > 256) this.fHistory.splice(0, this.fHistory.length - 256);
    actions.push({ kind: "frequency", ppm: clamped / PPM });
    this.frequencyAnnounced = true;
  }

  /** The first call of all sets the clock's frequency to our starting value (drift file or 0). */
  private announceFrequency(actions: ClockAction[]): void {
    if (this.frequencyAnnounced) return;
    this.frequencyAnnounced = true;
    this.fHistory.push({ at: -Infinity, f: this.f });
    actions.push({ kind: "frequency", ppm: this.f / PPM });
  }

  /** ∫F dt over [from, to] from the history of corrections (older than the history: the oldest F). */
  private integrateF(from: number, to: number): number {
    if (!(to > from)) return 0;
    let sum = 0;
    const h = this.fHistory;
    for (let i = 0; i < h.length; i++) {
      const start = Math.max(h[i]!.at, from);
      const end = Math.min(i + 1 < h.length ? h[i + 1]!.at : Infinity, to);
      if (end > start) sum += h[i]!.f * (end - start);
    }
    if (h.length === 0) sum = this.f * (to - from);
    return sum;
  }

  // ── Steps and panics ───────────────────────────────────────────────────────────────────────────

  private step(offset: number, now: number, variance: number, actions: ClockAction[]): void {
    const limit = this.everStepped || this.state !== "unset" ? this.singleStepPanic : this.startupStepPanic;
    const allowed = offset >= 0 ? limit.forward : limit.backward;
    if (Math.abs(offset) > allowed) {
      this.panic(offset, allowed, `a ${offset >= 0 ? "forward" : "backward"} step of ${fmt(offset)} exceeds the ${this.everStepped || this.state !== "unset" ? "single-step" : "startup-step"}-panic-threshold of ${fmt(allowed)}`, actions);
      return;
    }
    if (this.accumulatedSteps + Math.abs(offset) > this.accumulatedStepPanic) {
      this.panic(offset, this.accumulatedStepPanic, `steps would add up to ${fmt(this.accumulatedSteps + Math.abs(offset))}, beyond the accumulated-step-panic-threshold of ${fmt(this.accumulatedStepPanic)}`, actions);
      return;
    }
    this.predict(now);
    actions.push({ kind: "step", offset });
    this.counters.steps++;
    this.everStepped = true;
    this.accumulatedSteps += Math.abs(offset);
    // After the step the clock is on the measurement: θ = measurement − offset = 0 ± √variance.
    this.theta = 0;
    this.p00 = variance;
    this.p01 = 0;
    this.spikeSince = null;
    this.slewEnd = null;
    this.state = "sync";
    this.lastAccepted = now;
    this.setF(-this.epsilon, now, actions);
  }

  /** RFC 5905: an offset beyond the panic threshold stops the daemon even when it would be slewed. */
  private panicCheckOffset(offset: number, actions: ClockAction[]): boolean {
    const limit = this.state === "unset" && !this.everStepped ? this.startupStepPanic : this.singleStepPanic;
    const allowed = offset >= 0 ? limit.forward : limit.backward;
    if (Math.abs(offset) <= allowed) return true;
    this.panic(offset, allowed, `an offset of ${fmt(offset)} exceeds the panic threshold of ${fmt(allowed)}`, actions);
    return false;
  }

  private panic(offset: number, threshold: number, why: string, actions: ClockAction[]): void {
    this.state = "panic";
    actions.push({
      kind: "panic",
      offset,
      threshold,
      message: `clock panic: ${why}; the clock was not changed. Set the time by hand or raise the threshold in [synchronization], then restart tock.`,
    });
  }

  // ── Leap seconds ───────────────────────────────────────────────────────────────────────────────

  private leapActions(now: number, actions: ClockAction[]): void {
    if (this.utc === undefined) return;
    const utc = this.utc(now);
    if (!Number.isFinite(utc)) return;
    const decision = this.leapPolicy.decide(this.majorityLeap, utc);
    this.lastLeap = decision;
    if (decision.kernel !== this.kernelLeap) {
      this.kernelLeap = decision.kernel;
      actions.push({ kind: "leap", leap: decision.kernel });
    }
  }
}

/** Checks a tunable: > 0 (or ≥ 0 when zero is allowed: a step threshold of 0 steps every offset). */
function positive(name: string, value: number, infinityAllowed: boolean): number {
  const zeroAllowed = infinityAllowed;
  if (!(value > 0 || (zeroAllowed && value === 0)) || (!infinityAllowed && !Number.isFinite(value))) {
    throw new RangeError(`${name} must be a ${zeroAllowed ? "non-negative" : "positive"} number${infinityAllowed ? " or Infinity" : ""}, got ${value}`);
  }
  return value;
}

function clamp(ppm: number, limit: number): number {
  return Math.max(-limit, Math.min(limit, ppm));
}

function fmt(seconds: number): string {
  return Number.isFinite(seconds) ? `${Math.abs(seconds).toPrecision(6)} s` : "infinity";
}
