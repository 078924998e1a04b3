// The clock discipline's estimator (ts/protocol/discipline.ts): a two-state Kalman filter on the
// combined system offset, instead of RFC 5905's PLL/FLL. Sans-IO: times are the caller's monotonic
// seconds. The discipline decides what to do with the estimate (steer, step, panic); this file only
// keeps the estimate and its uncertainty.
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

/** The estimator's tunables, already validated and in SI units (the discipline's options convert). */
export interface EstimatorTunables {
  /** q: variance of the frequency random walk per second ((s/s)²/s). */
  wanderVariance: number;
  /** qθ: white frequency noise of the oscillator (s²/s). */
  phaseNoise: number;
  /** Innovations beyond outlierGate·√S are outliers, accepted after outlierRun in a row. */
  outlierGate: number;
  outlierRun: number;
  /** A frequency change is declared after trendRun innovations of one sign, each beyond trendGate·√S. */
  trendRun: number;
  trendGate: number;
  /** |ε| never exceeds this (s/s). */
  maxFrequency: number;
}

/** History of frequency corrections kept for carrying old samples forward (entries). */
const F_HISTORY_LENGTH = 256;

export class KalmanClockEstimator {
  /** Time of the estimate (monotonic s); NaN until the first update. */
  t = NaN;
  /** θ (s), ε (s/s) and the covariance P (symmetric: p00, p01, p11). */
  theta = 0;
  epsilon: number;
  p00 = 0;
  p01 = 0;
  p11: number;
  /** Frequency correction in force (s/s); fHistory says since when, for old samples. */
  f: number;
  /** Monotonic time of the last accepted measurement (the span an outlier run's innovation covers). */
  lastAccepted = NaN;
  private fHistory: { at: number; f: number }[] = [];
  private outliersInRow = 0;
  private trend: { y: number; sigma: number; at: number }[] = [];

  /**
   * @param initialF the frequency correction in force at start (s/s); ε starts at −F.
   * @param initialP11 the variance of that frequency estimate ((s/s)²).
   * @param counters where detected frequency changes are counted (the discipline's counters).
   */
  constructor(
    private readonly tunables: EstimatorTunables,
    initialF: number,
    initialP11: number,
    private readonly counters: { trends: number },
  ) {
    this.f = initialF;
    this.epsilon = -initialF;
    this.p11 = initialP11;
  }

  /** Sets the estimate's time on the first measurement. */
  begin(time: number): void {
    if (Number.isNaN(this.t)) this.t = time;
  }

  /** Puts θ at `theta` with variance `variance`, uncorrelated with ε (first sample, after a step). */
  resetOffset(theta: number, variance: number): void {
    this.theta = theta;
    this.p00 = variance;
    this.p01 = 0;
  }

  /** Carries the estimate from its time to `now` under the control F in force (the model above). */
  predict(now: number): void {
    const dt = now - this.t;
    if (!(dt > 0)) return;
    const q = this.tunables.wanderVariance;
    this.theta -= (this.epsilon + this.f) * dt;
    // P ← A P Aᵀ + Q with A = [[1, −dt], [0, 1]].
    const p00 = this.p00 - 2 * dt * this.p01 + dt * dt * this.p11 + q * dt ** 3 / 3 + this.tunables.phaseNoise * dt;
    const p01 = this.p01 - dt * this.p11 - q * dt * dt / 2;
    const p11 = this.p11 + q * dt;
    this.p00 = p00;
    this.p01 = p01;
    this.p11 = p11;
    this.t = now;
  }

  /** Measurement update; false when the sample was held back as an outlier. */
  correct(z: number, r: number, now: number): boolean {
    const y = z - this.theta;
    const s = this.p00 + r;
    if (y * y > this.tunables.outlierGate ** 2 * s) {
      this.outliersInRow++;
      if (this.outliersInRow < this.tunables.outlierRun) return false;
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
    this.epsilon = Math.max(-this.tunables.maxFrequency, Math.min(this.tunables.maxFrequency, this.epsilon));
    const p00 = (1 - k0) * this.p00;
    const p01 = (1 - k0) * this.p01;
    const p11 = this.p11 - k1 * this.p01;
    this.p00 = p00;
    this.p01 = p01;
    this.p11 = Math.max(p11, 0);
    return true;
  }

  /** A new frequency correction F (s/s, already clamped) in force from `now`. */
  setControl(f: number, now: number): void {
    this.predict(now);
    this.f = f;
    this.fHistory.push({ at: now, f });
    if (this.fHistory.length > F_HISTORY_LENGTH) this.fHistory.splice(0, this.fHistory.length - F_HISTORY_LENGTH);
  }

  /** Records the starting F as in force since forever (the first frequency action of all). */
  recordInitialControl(): void {
    this.fHistory.push({ at: -Infinity, f: this.f });
  }

  /** ∫F dt over [from, to] from the history of corrections (older than the history: the oldest F). */
  integrateF(from: number, to: number): number {
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

  /**
   * Frequency-change detector (the idea of chrony's runs test): noise gives innovations of random
   * sign; a change of the oscillator's frequency gives a run of one sign. After trendRun innovations
   * of one sign, each beyond trendGate·√S, the frequency variance is reopened by the mean innovation
   * over the run's span (P₁₁ += trendRun·(ȳ/span)², P₀₀ += ȳ²) so the gain rises and the filter
   * follows the new frequency instead of averaging it away.
   */
  private detectTrend(y: number, sigma: number, now: number): void {
    const { trendRun, trendGate } = this.tunables;
    this.trend.push({ y, sigma, at: now });
    if (this.trend.length > trendRun) this.trend.shift();
    if (this.trend.length < trendRun) return;
    const sign = Math.sign(this.trend[0]!.y);
    if (sign === 0 || !this.trend.every((e) => Math.sign(e.y) === sign && Math.abs(e.y) > trendGate * e.sigma)) return;
    const mean = this.trend.reduce((sum, e) => sum + e.y, 0) / this.trend.length;
    const span = Math.max(now - this.trend[0]!.at, 1);
    this.p00 += mean * mean;
    this.p11 += trendRun * (mean / span) ** 2;
    this.counters.trends++;
    this.trend = [];
  }
}
