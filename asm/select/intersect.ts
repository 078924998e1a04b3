// The selection (intersection) algorithm: RFC 5905 §11.2.1 and the first half of Appendix A.5.5.1
// clock_select(), Marzullo's algorithm as modified by Mills.
//
// Each of the m usable candidates says "the true offset lies in my correctness interval"
// [θ − λ, θ + λ], θ its peer offset and λ its root distance (system.ts). A truechimer's interval
// contains the true offset; a falseticker's does not. If at most f candidates are falsetickers,
// the true offset is covered by at least m − f intervals, so it lies between
//     l = the lowest point covered by ≥ m − f intervals,  u = the highest such point.
// The algorithm tries f = 0, 1, … while f < m/2 (a majority must remain) and stops at the first f
// for which l < u and at most f midpoints θ lie outside [l, u] — Mills's modification: a
// candidate whose own best estimate θ is outside the interval is counted as a falseticker, so an
// interval that needs more falsetickers than allowed is rejected and f grows.
//
// The scan: 3m endpoints (low −1, midpoint 0, high +1) sorted by value, ties ordered low < mid <
// high so that intervals are closed (a low and a high at the same point both cover it). From the
// bottom, c counts intervals covering the current point (+1 per low, −1 per high) and d counts the
// midpoints passed; the first low where c ≥ m − f is l. The same from the top gives u. Success iff
// d ≤ f and l < u. (The RFC's skeleton compares c against n − found with n the endpoint count, a
// known typo; the text's m − f is used here.)
//
// What it guarantees, and what it cannot: if the true number of falsetickers k satisfies k ≤ f
// (the f the algorithm settled on), the true offset lies in [l, u]. The algorithm settles on the
// smallest f that works, so with k > f — falsetickers that agree with each other and with some
// wide honest intervals better than the honest narrow ones do — the interval can miss the true
// offset. No algorithm can tell those cases apart from the intervals alone;
// test/selection/intersect.test.ts shows such a case. If no falseticker's interval overlaps an
// honest one, only honest intervals can form a clique of m − f > m/2, so f ≥ k and the guarantee
// holds.
//
// Cost: sorting the 3m endpoints (Shell sort, about O(m^1.3)) plus O(m) per value of f, O(m²) in
// the worst case (m/2 values of f) and O(m) when the first f works.

import { EDGE_STRIDE, EDGE_TYPE, EDGE_VALUE, WORK_DISTANCE, WORK_OFFSET, WORK_STRIDE } from "./layout";

/** Outcome of the intersection: the interval and how many falsetickers it allowed. */
export class Intersection {
  low: f64 = Infinity;
  high: f64 = -Infinity;
  allowed: i32 = 0;
  found: bool = false;
}

// @ts-ignore: decorator
@inline
function edgeAt(edges: usize, i: i32): usize {
  return edges + <usize>i * EDGE_STRIDE;
}

/** Writes the 3m endpoints of the work entries' intervals into `edges`, sorted by (value, type). */
function buildEdges(work: usize, m: i32, edges: usize): void {
  let n = 0;
  for (let w = 0; w < m; w++) {
    const entry = work + <usize>w * WORK_STRIDE;
    const theta = load<f64>(entry, WORK_OFFSET);
    const lambda = load<f64>(entry, WORK_DISTANCE);
    for (let type = -1; type <= 1; type++) {
      const slot = edgeAt(edges, n++);
      store<f64>(slot, theta + <f64>type * lambda, EDGE_VALUE);
      store<i32>(slot, type, EDGE_TYPE);
    }
  }
  shellSort(edges, n);
}

// Ciura's gap sequence: Shell sort in O(n^~1.3) compares, in place, no scratch memory. It is not
// stable, which does not matter: endpoints with equal (value, type) are interchangeable for the scan.
const GAPS: StaticArray<i32> = [701, 301, 132, 57, 23, 10, 4, 1];

function shellSort(edges: usize, n: i32): void {
  for (let g = 0; g < GAPS.length; g++) {
    const gap = unchecked(GAPS[g]);
    if (gap >= n) continue;
    for (let i = gap; i < n; i++) {
      const value = load<f64>(edgeAt(edges, i), EDGE_VALUE);
      const type = load<i32>(edgeAt(edges, i), EDGE_TYPE);
      let j = i;
      while (j >= gap) {
        const prev = edgeAt(edges, j - gap);
        const pv = load<f64>(prev, EDGE_VALUE);
        if (pv < value || (pv == value && load<i32>(prev, EDGE_TYPE) <= type)) break;
        const slot = edgeAt(edges, j);
        store<f64>(slot, pv, EDGE_VALUE);
        store<i32>(slot, load<i32>(prev, EDGE_TYPE), EDGE_TYPE);
        j -= gap;
      }
      const slot = edgeAt(edges, j);
      store<f64>(slot, value, EDGE_VALUE);
      store<i32>(slot, type, EDGE_TYPE);
    }
  }
}

/** Runs the algorithm over m work entries (m ≥ 1). `edges` holds room for 3m endpoints. */
export function intersect(work: usize, m: i32, edges: usize, out: Intersection): void {
  buildEdges(work, m, edges);
  const n = 3 * m;
  out.found = false;
  for (let f = 0; 2 * f < m; f++) {
    const need = m - f;
    let midpoints = 0;
    let low = Infinity;
    let chime = 0;
    for (let i = 0; i < n; i++) {
      const type = load<i32>(edgeAt(edges, i), EDGE_TYPE);
      if (type == 0) {
        midpoints++;
      } else {
        chime -= type;
        if (chime >= need) {
          low = load<f64>(edgeAt(edges, i), EDGE_VALUE);
          break;
        }
      }
    }
    let high = -Infinity;
    chime = 0;
    for (let i = n - 1; i >= 0; i--) {
      const type = load<i32>(edgeAt(edges, i), EDGE_TYPE);
      if (type == 0) {
        midpoints++;
      } else {
        chime += type;
        if (chime >= need) {
          high = load<f64>(edgeAt(edges, i), EDGE_VALUE);
          break;
        }
      }
    }
    out.low = low;
    out.high = high;
    out.allowed = f;
    if (midpoints <= f && low < high) {
      out.found = true;
      return;
    }
  }
}
