// The clock discipline (RFC 5905 §11.3 local_clock / §12 clock_adjust), sans-IO: system updates and
// ticks come in, ClockActions (ts/protocol/system.ts) go out. It never reads a clock: `now` is the
// caller's monotonic seconds, and UTC (for leap seconds only) comes from the `utc` mapping the caller
// supplies from the clock it already reads.
//
// ── Estimator: a two-state Kalman filter on the combined offset ──────────────────────────────────
// State x = [θ, ε] (θ: reference − local, s; ε: the oscillator's frequency error, s/s) under our
// frequency correction F; the model, its maths and what the simulator taught us are in
// discipline-estimator.ts.
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
// panic threshold, or steps adding up beyond accumulatedStepPanic, emits a "panic" action instead
// (the thresholds: discipline-steps.ts): the daemon logs the message and exits with PANIC_EXIT_CODE
// without touching the clock. stepThreshold = Infinity never steps: everything is slewed (at most
// maxSlewRate).
//
// ── Minimum agreeing sources, leap seconds ───────────────────────────────────────────────────────
// Updates combined from fewer than minimumAgreeingSources survivors are ignored (counted).
// The majority leap indicator of each update goes to the LeapPolicy (ts/protocol/leap.ts), which arms
// the kernel only on the last UTC day of the month.
import type { SynchronizationConfig } from "../config/index.js";
import { LeapPolicy, type LeapDecision, type LeapKind, type LeapTable } from "./leap.js";
import { KalmanClockEstimator } from "./discipline-estimator.js";
import { StepLimits, panicAction, type PanicReason, type StepLimit } from "./discipline-steps.js";
import type { ClockAction, Discipline, SystemUpdate } from "./system.js";

// Callers import these from here; they live with the step limits.
export { PANIC_EXIT_CODE, type StepLimit } from "./discipline-steps.js";

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
  private readonly stepLimits: StepLimits;
  private readonly minimumAgreeingSources: number;
  private readonly maxSlewRate: number;
  private readonly maxFrequency: number;
  private readonly stepoutInterval: number;
  private readonly measurementFloor: number;
  private readonly slewPolls: number;
  private readonly minSlewTime: number;
  private readonly utc: ((now: number) => number) | undefined;
  private readonly leapPolicy: LeapPolicy;
  private readonly estimator: KalmanClockEstimator;

  private state: DisciplineState = "unset";
  private slewEnd: number | null = null;
  private frequencyAnnounced = false;
  private spikeSince: number | null = null;
  private majorityLeap = 0;
  private kernelLeap: LeapKind = "none";
  private lastLeap: LeapDecision | null = null;
  readonly counters: DisciplineCounters = { updates: 0, steps: 0, spikes: 0, outliers: 0, trends: 0, tooFewSources: 0, invalid: 0 };

  constructor(options: DisciplineOptions = {}) {
    const o = options;
    this.stepThreshold = positive("stepThreshold", o.stepThreshold ?? 0.128, true);
    this.stepLimits = new StepLimits(
      o.startupStepPanic ?? { forward: Infinity, backward: 86_400 },
      o.singleStepPanic ?? { forward: 1000, backward: 1000 },
      o.accumulatedStepPanic !== undefined && o.accumulatedStepPanic > 0 ? o.accumulatedStepPanic : Infinity,
    );
    this.minimumAgreeingSources = o.minimumAgreeingSources ?? 1;
    this.maxSlewRate = positive("maxSlewRate", o.maxSlewRate ?? 500, false) * PPM;
    this.maxFrequency = positive("maxFrequency", o.maxFrequency ?? 500, false) * PPM;
    this.stepoutInterval = o.stepoutInterval ?? 900;
    const wander = (o.wander ?? 1e-3) * PPM;
    const wanderVariance = wander * wander;
    const phaseNoise = o.phaseNoise ?? 1e-16;
    this.measurementFloor = positive("measurementFloor", o.measurementFloor ?? 1e-6, false);
    const tunables = {
      wanderVariance,
      phaseNoise,
      outlierGate: o.outlierGate ?? 5,
      outlierRun: o.outlierRun ?? 3,
      trendRun: Math.max(2, Math.floor(o.trendRun ?? 3)),
      trendGate: o.trendGate ?? 0,
      maxFrequency: this.maxFrequency,
    };
    this.slewPolls = o.slewPolls ?? 1;
    this.minSlewTime = o.minSlewTime ?? 4;
    this.utc = o.utc;
    this.leapPolicy = new LeapPolicy(o.leapTable ?? null);
    const initial = o.initialFrequency;
    const ppm = initial !== undefined && Number.isFinite(initial.frequencyPpm) ? clamp(initial.frequencyPpm, o.maxFrequency ?? 500) : 0;
    // The drift file stores the correction F; the oscillator error is its negative.
    const sigma = initial !== undefined ? Math.max(initial.uncertaintyPpm ?? 1, 0.1) : (o.initialFrequencyUncertainty ?? 100);
    this.estimator = new KalmanClockEstimator(tunables, ppm * PPM, (sigma * PPM) ** 2, this.counters);
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
    const x = this.estimator;
    const sampleTime = Math.min(u.time, now);
    x.begin(sampleTime);
    x.predict(now);
    // The measured offset carried to `now` with what the clock did since the sample.
    const age = now - sampleTime;
    const measured = u.offset - x.epsilon * age - x.integrateF(sampleTime, now);
    const variance = Math.max(u.jitter, this.measurementFloor) ** 2 + x.p11 * age * age;

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
    const refused = this.stepLimits.refuseOffset(measured, this.stepLimits.isStartup(this.state === "unset"));
    if (refused !== null) {
      this.panic(measured, refused, actions);
      return actions;
    }

    if (this.state === "unset") {
      x.resetOffset(measured, variance);
    } else if (!x.correct(measured, variance, now)) {
      this.counters.outliers++;
      this.leapActions(now, actions);
      return actions;
    }
    this.state = "sync";
    x.lastAccepted = now;
    this.steer(now, u.pollInterval, actions);
    actions.push({
      kind: "estimate",
      maxError: u.rootDelay / 2 + u.rootDispersion + Math.abs(x.theta),
      estError: Math.sqrt(x.p00),
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
      this.estimator.predict(now);
      this.setF(-this.estimator.epsilon, now, actions);
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
    const sigma = Math.sqrt(this.estimator.p11) / PPM;
    if (this.state === "unset" || sigma > 1) return null;
    return { frequencyPpm: -this.estimator.epsilon / PPM, uncertaintyPpm: sigma };
  }

  setLeapTable(table: LeapTable | null): void {
    this.leapPolicy.setTable(table);
  }

  status(): DisciplineStatus {
    const x = this.estimator;
    return {
      state: this.state,
      offset: x.theta,
      offsetSigma: Math.sqrt(x.p00),
      oscillatorPpm: x.epsilon / PPM,
      frequencySigmaPpm: Math.sqrt(x.p11) / PPM,
      frequencyPpm: x.f / PPM,
      accumulatedSteps: this.stepLimits.accumulatedSteps,
      leap: this.lastLeap,
      counters: { ...this.counters },
    };
  }

  // ── Steering ───────────────────────────────────────────────────────────────────────────────────

  private steer(now: number, pollInterval: number, actions: ClockAction[]): void {
    const theta = this.estimator.theta;
    const tau = Math.max(this.minSlewTime, this.slewPolls * pollInterval);
    const rate = Math.max(-this.maxSlewRate, Math.min(this.maxSlewRate, theta / tau));
    this.setF(rate - this.estimator.epsilon, now, actions);
    this.slewEnd = rate === 0 ? null : now + theta / rate;
  }

  private setF(f: number, now: number, actions: ClockAction[]): void {
    const clamped = Math.max(-this.maxFrequency, Math.min(this.maxFrequency, f));
    this.estimator.setControl(clamped, now);
    actions.push({ kind: "frequency", ppm: clamped / PPM });
    this.frequencyAnnounced = true;
  }

  /** The first call of all sets the clock's frequency to our starting value (drift file or 0). */
  private announceFrequency(actions: ClockAction[]): void {
    if (this.frequencyAnnounced) return;
    this.frequencyAnnounced = true;
    this.estimator.recordInitialControl();
    actions.push({ kind: "frequency", ppm: this.estimator.f / PPM });
  }

  // ── Steps and panics ───────────────────────────────────────────────────────────────────────────

  private step(offset: number, now: number, variance: number, actions: ClockAction[]): void {
    const refused = this.stepLimits.refuseStep(offset, this.stepLimits.isStartup(this.state === "unset"));
    if (refused !== null) {
      this.panic(offset, refused, actions);
      return;
    }
    this.estimator.predict(now);
    actions.push({ kind: "step", offset });
    this.counters.steps++;
    this.stepLimits.recordStep(offset);
    // After the step the clock is on the measurement: θ = measurement − offset = 0 ± √variance.
    this.estimator.resetOffset(0, variance);
    this.spikeSince = null;
    this.slewEnd = null;
    this.state = "sync";
    this.estimator.lastAccepted = now;
    this.setF(-this.estimator.epsilon, now, actions);
  }

  private panic(offset: number, reason: PanicReason, actions: ClockAction[]): void {
    this.state = "panic";
    actions.push(panicAction(offset, reason));
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
