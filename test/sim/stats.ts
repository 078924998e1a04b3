// Figures of merit over a run's per-second clock error (clock − true, seconds).

export interface ErrorStats {
  /** max |error|, RMS and mean |error| over [from, to) seconds (s). */
  max: number;
  rms: number;
  meanAbs: number;
  samples: number;
}

export function errorStats(error: Float64Array, from: number, to = error.length): ErrorStats {
  let max = 0;
  let sumSq = 0;
  let sumAbs = 0;
  let n = 0;
  for (let i = Math.max(0, Math.floor(from)); i < Math.min(to, error.length); i++) {
    const e = Math.abs(error[i]!);
    if (e > max) max = e;
    sumSq += e * e;
    sumAbs += e;
    n++;
  }
  return { max, rms: n > 0 ? Math.sqrt(sumSq / n) : NaN, meanAbs: n > 0 ? sumAbs / n : NaN, samples: n };
}

/**
 * Time to synchronise: the first second after which |error| stays within `bound` for the rest of
 * [0, to) — null when it never settles.
 */
export function timeToSync(error: Float64Array, bound: number, to = error.length): number | null {
  let last = -1;
  for (let i = 0; i < Math.min(to, error.length); i++) if (Math.abs(error[i]!) > bound) last = i;
  return last + 1 < Math.min(to, error.length) ? last + 1 : null;
}

/** Formats seconds as µs with 1 decimal. */
export function us(seconds: number): string {
  return (seconds * 1e6).toFixed(1);
}
