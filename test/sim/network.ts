// Simulated network paths between the client and one server: base delay, random jitter from a
// chosen distribution, asymmetry, loss and outages. Times are true seconds since the start of the run.
//
// One-way delay client→server = base·(1 + asymmetry)/2 + jitter, server→client = base·(1 − asymmetry)/2
// + jitter, each jitter drawn independently. Asymmetry shifts NTP's offset by −base·asymmetry/2 (the
// on-wire maths assumes equal halves): an error no protocol can see, which is why the scenarios
// leave it at 0 unless they test it.
import type { Rng } from "./random.js";

/** Jitter distributions; `scale` is in seconds and means what the name says. */
export type Jitter =
  | { kind: "none" }
  /** Uniform in [0, scale). */
  | { kind: "uniform"; scale: number }
  /** Exponential with mean `scale` (queueing delay: mostly small, a long tail). */
  | { kind: "exponential"; scale: number }
  /** |N(0, scale²)| (half-normal: a delay is never negative). */
  | { kind: "normal"; scale: number };

export interface LinkOptions {
  /** Round-trip base delay (s). */
  baseDelay: number;
  jitter?: Jitter;
  /** Fraction of the base delay by which the outbound half exceeds the return half (−1..1). */
  asymmetry?: number;
  /** Probability that a datagram (either direction) is lost. */
  loss?: number;
  /** Intervals [from, to) of true time during which every datagram is lost. */
  outages?: { from: number; to: number }[];
}

export class Link {
  readonly options: Required<LinkOptions>;
  private readonly rng: Rng;
  dropped = 0;

  constructor(options: LinkOptions, rng: Rng) {
    this.options = { jitter: { kind: "none" }, asymmetry: 0, loss: 0, outages: [], ...options };
    if (!(options.baseDelay >= 0)) throw new RangeError("baseDelay must be ≥ 0");
    if (Math.abs(this.options.asymmetry) > 1) throw new RangeError("asymmetry must be within [−1, 1]");
    this.rng = rng;
  }

  /** The delay (s) of a datagram sent at true time `at`, or null when it is lost. */
  transit(at: number, outbound: boolean): number | null {
    const o = this.options;
    if (o.outages.some((w) => at >= w.from && at < w.to) || (o.loss > 0 && this.rng.next() < o.loss)) {
      this.dropped++;
      return null;
    }
    const half = (o.baseDelay * (1 + (outbound ? o.asymmetry : -o.asymmetry))) / 2;
    return half + this.jitter();
  }

  private jitter(): number {
    const j = this.options.jitter;
    switch (j.kind) {
      case "none":
        return 0;
      case "uniform":
        return this.rng.uniform(0, j.scale);
      case "exponential":
        return this.rng.exponential(j.scale);
      case "normal":
        return Math.abs(this.rng.normal()) * j.scale;
    }
  }
}
