// The cluster and combine algorithms: RFC 5905 §11.2.2–11.2.3, the second half of Appendix
// A.5.5.1 clock_select() and A.5.5.5 clock_combine().
//
// Cluster. The truechimers are ranked by merit  μ_p = stratum_p · MAXDIST + λ_p  (seconds: the
// stratum dominates, then the root distance λ), and the statistical outlier is discarded in rounds.
// For each of the n survivors the selection jitter is the RMS offset difference to the others,
//     ψ_s = sqrt( Σ_j (θ_s − θ_j)² / (n − 1) )
// (the j = s term is 0). Each round removes the survivor with the largest ψ_s, until n ≤ NMIN or
// ψ_max < min_p ψ_p: once the spread between survivors is below the best source's own jitter,
// removing one more cannot make the result better, only thinner.
//   Computing ψ_s. With the mean θ̄ and S = Σ_j (θ_j − θ̄)², the identity
//     Σ_j (θ_s − θ_j)² = n (θ_s − θ̄)² + S
//   (expand (θ_s − θ̄) − (θ_j − θ̄); the cross term sums to 0) gives every ψ_s in O(n) per round
//   instead of O(n²), and centred differences keep the precision when offsets are large and close
//   together. It also shows the outlier is simply the survivor furthest from the mean.
// Ties go to the survivor ranked lower (the later in merit order).
//
// Combine. The survivors' offsets are averaged with weights 1/λ (a source twice as far from the
// root counts half), and the selection jitter is the same weighting of the squared differences to
// the system peer's offset θ_p:
//     Θ  = Σ θ_i/λ_i / Σ 1/λ_i,        Ψ_s = sqrt( Σ (θ_i − θ_p)²/λ_i / Σ 1/λ_i )
// λ > 0 always: its delay term is at least MINDISP/2 (system.ts).
//
// Cost: cluster O(n) per round, O(n²) in all; combine O(n).

import { WORK_DISTANCE, WORK_JITTER, WORK_MERIT, WORK_OFFSET, WORK_STRIDE } from "./layout";

// @ts-ignore: decorator
@inline
function entryOf(work: usize, list: usize, i: i32): usize {
  return work + <usize>load<i32>(list + (<usize>i << 2)) * WORK_STRIDE;
}

/** Sorts the work indices in `list` by increasing merit (stable). */
export function sortByMerit(work: usize, list: usize, n: i32): void {
  for (let k = 1; k < n; k++) {
    const item = load<i32>(list + (<usize>k << 2));
    const merit = load<f64>(work + <usize>item * WORK_STRIDE, WORK_MERIT);
    let j = k;
    while (j > 0 && load<f64>(entryOf(work, list, j - 1), WORK_MERIT) > merit) {
      store<i32>(list + (<usize>j << 2), load<i32>(list + (<usize>(j - 1) << 2)));
      j--;
    }
    store<i32>(list + (<usize>j << 2), item);
  }
}

/**
 * Prunes the merit-sorted `list` of n truechimers. Returns the survivor count s: list[0..s) are the
 * survivors in merit order, list[s..n) the discarded outliers. `minSurvivors` is NMIN (≥ 1).
 */
export function cluster(work: usize, list: usize, n: i32, minSurvivors: i32): i32 {
  let count = n;
  while (count > minSurvivors && count > 1) {
    let mean = 0.0;
    let minJitter = Infinity;
    for (let i = 0; i < count; i++) {
      const e = entryOf(work, list, i);
      mean += load<f64>(e, WORK_OFFSET);
      const psi = load<f64>(e, WORK_JITTER);
      if (psi < minJitter) minJitter = psi;
    }
    mean /= <f64>count;
    let spread = 0.0; // S
    let worst = 0;
    let worstDev = -1.0;
    for (let i = 0; i < count; i++) {
      const dev = Math.abs(load<f64>(entryOf(work, list, i), WORK_OFFSET) - mean);
      spread += dev * dev;
      if (dev >= worstDev) {
        worstDev = dev;
        worst = i;
      }
    }
    const maxSelectionJitter = Math.sqrt((<f64>count * worstDev * worstDev + spread) / <f64>(count - 1));
    if (maxSelectionJitter < minJitter) break;
    // Move the outlier to the end of the live part, keeping the survivors' order.
    const removed = load<i32>(list + (<usize>worst << 2));
    for (let i = worst; i < count - 1; i++) {
      store<i32>(list + (<usize>i << 2), load<i32>(list + (<usize>(i + 1) << 2)));
    }
    store<i32>(list + (<usize>(count - 1) << 2), removed);
    count--;
  }
  return count;
}

/** Θ and Ψ_s of the combine algorithm. */
export class Combined {
  offset: f64 = 0;
  selectionJitter: f64 = 0;
}

/** Combines survivors list[0..s), relative to the system peer's offset `peerOffset`. */
export function combine(work: usize, list: usize, s: i32, peerOffset: f64, out: Combined): void {
  let y = 0.0; // Σ 1/λ
  let z = 0.0; // Σ θ/λ
  let w = 0.0; // Σ (θ − θ_p)²/λ
  for (let i = 0; i < s; i++) {
    const e = entryOf(work, list, i);
    const inverse = 1.0 / load<f64>(e, WORK_DISTANCE);
    const theta = load<f64>(e, WORK_OFFSET);
    const d = theta - peerOffset;
    y += inverse;
    z += theta * inverse;
    w += d * d * inverse;
  }
  out.offset = z / y;
  out.selectionJitter = Math.sqrt(w / y);
}
