// Tunables of the clock filter and the system process, each with its unit and RFC 5905 name.
// Defaults are the RFC's (§7.2 and Appendix A.1.1); sel_configure replaces them (validated there).

import { PHI } from "../onwire";

export class Tunables {
  /** PHI, seconds per second: worst-case frequency error of a clock; dispersion grows at this rate. */
  frequencyTolerance: f64 = PHI;
  /** MAXDISP, seconds: dispersion of an empty stage; a stage that ages up to it is no longer valid. */
  maxDispersion: f64 = 16.0;
  /** MINDISP, seconds: floor of the delay term of the root distance and of the dispersion
   *  increment passed downstream (RFC 5905 §7.2 table: 0.005 s). */
  minDispersion: f64 = 0.005;
  /** MAXDIST, seconds: root distance above which a source is unfit, and the stratum weight of the
   *  cluster merit (stratum · MAXDIST + λ). */
  maxDistance: f64 = 1.0;
  /** SGATE, multiples of the peer jitter: an offset jump above it within two poll intervals of the
   *  last used sample is a popcorn spike. */
  spikeGate: f64 = 3.0;
  /** NMIN, sources: the cluster algorithm stops pruning at this many survivors. */
  minSurvivors: i32 = 3;
  /** ρ, seconds: the local clock precision; jitter is never reported below it. */
  precision: f64 = 9.5367431640625e-7; // 2^-20 s ≈ 1 µs
}
