// The selection (intersection) algorithm (asm/select/intersect.ts): Marzullo's textbook cases and
// how the RFC 5905 midpoint rule changes them, falsetickers among five servers, the limits of what
// any intersection can guarantee, and property tests of that guarantee.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { newSelection, place } from "./support.js";
import type { Candidate, Selection } from "../../ts/core/selection.js";

const NOW = 1000;

/** Places sources 0..n−1 at (θ, λ) pairs and returns their candidates. */
function placeAll(sel: Selection, intervals: readonly (readonly [number, number])[]): Candidate[] {
  return intervals.map(([theta, lambda], i) => place(sel, i, theta, lambda, NOW));
}

describe("intersection: textbook cases", () => {
  // Marzullo's example (in hundredths of a second to stay under MAXDIST): [8,12], [11,13], [10,12].
  it("[8,12] [11,13] [10,12]: the RFC variant widens to [10,12] so that every midpoint is inside", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [[0.10, 0.02], [0.12, 0.01], [0.11, 0.01]]));
    // f = 0: the 3-fold overlap [11,12] leaves the midpoint 10 outside, so f = 1 is tried: the 2-fold
    // hull [10,12] contains all three midpoints. Pure Marzullo would answer [11,12].
    expect(r.status).toBe("ok");
    expect(r.low).toBeCloseTo(0.10, 12);
    expect(r.high).toBeCloseTo(0.12, 12);
    expect(r.falsetickers).toBe(1);
    expect(r.truechimers).toBe(3);
    expect(r.perSource.slice(0, 3).every((s) => s !== "falseticker")).toBe(true);
  });

  it("[8,12] [11,13] [14,15]: pure Marzullo finds [11,12] from two sources; the midpoint rule finds no majority", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [[0.10, 0.02], [0.12, 0.01], [0.145, 0.005 + 1e-6]]));
    // f = 1: [11,12] is covered twice but the midpoints 10 and 14.5 lie outside it (2 > f), and
    // f = 2 would no longer leave a majority of 3.
    expect(r.status).toBe("no-majority");
    expect(r.systemPeer).toBeNull();
    expect(r.usable).toBe(3);
    expect(r.perSource.slice(0, 3)).toEqual(["candidate", "candidate", "candidate"]);
  });

  it("a single candidate is its own majority", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [[0.003, 0.02]]));
    expect(r).toMatchObject({ status: "ok", systemPeer: 0, truechimers: 1, falsetickers: 0 });
    expect(r.low).toBeCloseTo(-0.017, 12);
    expect(r.high).toBeCloseTo(0.023, 12);
  });

  it("two disjoint candidates: no majority", () => {
    const sel = newSelection();
    expect(sel.select(NOW, placeAll(sel, [[0, 0.01], [0.05, 0.01]])).status).toBe("no-majority");
  });

  it("closed intervals: two intervals touching at one point do not intersect (l < u is required)", () => {
    const sel = newSelection();
    // [−0.02, 0] and [0, 0.02]: the only common point is 0.
    expect(sel.select(NOW, placeAll(sel, [[-0.01, 0.01], [0.01, 0.01]])).status).toBe("no-majority");
  });
});

describe("intersection: falsetickers among five servers", () => {
  const honest = [[0.001, 0.01], [-0.002, 0.012], [0.0005, 0.008], [0.002, 0.01], [-0.001, 0.009]] as const;

  it("all five agree: no falseticker", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, honest));
    expect(r).toMatchObject({ status: "ok", falsetickers: 0, truechimers: 5 });
  });

  it("one wrong server is a falseticker and does not move the offset", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [...honest.slice(0, 4), [0.25, 0.01]]));
    expect(r.status).toBe("ok");
    expect(r.perSource[4]).toBe("falseticker");
    expect(r.truechimers).toBe(4);
    expect(Math.abs(r.offset)).toBeLessThan(0.003);
  });

  it("two wrong servers (one fast, one slow) are both falsetickers", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [...honest.slice(0, 3), [0.3, 0.01], [-0.4, 0.02]]));
    expect(r.status).toBe("ok");
    expect(r.perSource.slice(3, 5)).toEqual(["falseticker", "falseticker"]);
    expect(r.falsetickers).toBe(2);
    expect(r.low).toBeLessThanOrEqual(0);
    expect(r.high).toBeGreaterThanOrEqual(0);
    expect(Math.abs(r.offset)).toBeLessThan(0.003);
  });

  it("two wrong servers that agree with each other are still outvoted", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [...honest.slice(0, 3), [0.3, 0.01], [0.305, 0.01]]));
    expect(r.status).toBe("ok");
    expect(r.perSource.slice(3, 5)).toEqual(["falseticker", "falseticker"]);
  });

  it("three wrong servers of five (disagreeing among themselves): no majority, no system peer", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [...honest.slice(0, 2), [0.3, 0.01], [-0.3, 0.01], [0.6, 0.01]]));
    expect(r.status).toBe("no-majority");
    expect(r.systemPeer).toBeNull();
    expect(r).toMatchObject({ stratum: 16, leap: 3, offset: 0, newUpdate: false });
  });

  it("three wrong servers of five that agree with each other ARE the majority (the algorithm cannot know)", () => {
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [...honest.slice(0, 2), [0.3, 0.01], [0.301, 0.01], [0.299, 0.01]]));
    expect(r.status).toBe("ok");
    expect(r.perSource.slice(0, 2)).toEqual(["falseticker", "falseticker"]);
    expect(r.offset).toBeCloseTo(0.3, 2);
  });

  it("minCandidates (CMIN): fewer truechimers than required is no majority", () => {
    const sel = newSelection();
    const cands = placeAll(sel, [...honest.slice(0, 3), [0.3, 0.01], [-0.4, 0.02]]);
    expect(sel.select(NOW, cands, { minCandidates: 3 }).status).toBe("ok");
    const r = sel.select(NOW, cands, { minCandidates: 4 });
    expect(r.status).toBe("no-majority");
    expect(r.truechimers).toBe(3);
    expect(r.perSource.slice(3, 5)).toEqual(["falseticker", "falseticker"]);
  });
});

describe("intersection: what it guarantees", () => {
  it("counterexample: wide honest intervals can side with agreeing falsetickers", () => {
    // True offset 0. Honest: A = [−0.01, 0.01]; B, C centred at 0.1 with λ = 0.105 (they contain 0,
    // barely). Falsetickers D, E = [0.09, 0.11]. Four intervals share [0.09, 0.11] and only A's
    // midpoint lies outside it, so f = 1 succeeds and 0 is not in the interval: the true
    // falseticker count (2) exceeds the f the algorithm settled on (1).
    const sel = newSelection();
    const r = sel.select(NOW, placeAll(sel, [[0, 0.01], [0.1, 0.105], [0.1, 0.105], [0.1, 0.01], [0.1, 0.01]]));
    expect(r.status).toBe("ok");
    expect(r.falsetickers).toBe(1);
    expect(r.low).toBeGreaterThan(0);
    expect(r.perSource[0]).toBe("falseticker");
  });

  // Property: honest intervals all contain the true offset T; k < m/2 falsetickers' do not.
  const scenario = fc.record({
    truth: fc.double({ min: -0.5, max: 0.5, noNaN: true }),
    honest: fc.array(fc.record({ radius: fc.double({ min: 0.006, max: 0.3, noNaN: true }), at: fc.double({ min: -1, max: 1, noNaN: true }) }), { minLength: 1, maxLength: 9 }),
    wanted: fc.integer({ min: 0, max: 7 }),
    falsetickers: fc.array(fc.record({ radius: fc.double({ min: 0.006, max: 0.3, noNaN: true }), gap: fc.double({ min: 1e-4, max: 0.5, noNaN: true }), above: fc.boolean() }), { minLength: 7, maxLength: 7 }),
    shuffle: fc.array(fc.nat(), { minLength: 16, maxLength: 16 }),
  });

  /** Builds the intervals: honest θ = T + at·r (contains T); a falseticker sits beyond T by gap + r. */
  type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;
  type Interval = readonly [number, number];
  function build(s: Scenario, separated: boolean): { all: { iv: Interval; honest: boolean }[]; k: number } {
    const honest: Interval[] = s.honest.map((h) => [s.truth + h.at * h.radius, h.radius] as const);
    const kMax = honest.length - 1; // k < m/2 with m = h + k  ⇔  k < h
    const k = Math.min(s.wanted, kMax);
    const lo = Math.min(...honest.map(([t, r]) => t - r));
    const hi = Math.max(...honest.map(([t, r]) => t + r));
    const wrong: Interval[] = s.falsetickers.slice(0, k).map((f) => {
      // Separated: beyond every honest interval. Otherwise: only beyond T (may overlap honest ones).
      const edge = separated ? (f.above ? hi : lo) : s.truth;
      const theta = f.above ? edge + f.gap + f.radius : edge - f.gap - f.radius;
      return [theta, f.radius] as const;
    });
    const all = [...honest.map((iv) => ({ iv, honest: true })), ...wrong.map((iv) => ({ iv, honest: false }))];
    // Deterministic shuffle so falsetickers are not always last.
    for (let i = all.length - 1; i > 0; i--) {
      const j = s.shuffle[i]! % (i + 1);
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return { all, k };
  }

  it("property: falsetickers that overlap no honest interval never win; T ∈ [l, u] whenever ok", () => {
    const sel = newSelection({ maxSources: 16 });
    let ok = 0;
    let withFalsetickers = 0;
    fc.assert(fc.property(scenario, (s) => {
      const { all, k } = build(s, true);
      const r = sel.select(NOW, all.map((e, i) => place(sel, i, e.iv[0], e.iv[1], NOW)));
      expect(r.status).not.toBe("no-candidates");
      if (r.status === "ok") {
        ok++;
        if (k > 0) withFalsetickers++;
        expect(r.low).toBeLessThanOrEqual(s.truth + 1e-12);
        expect(r.high).toBeGreaterThanOrEqual(s.truth - 1e-12);
        all.forEach((e, i) => { if (!e.honest) expect(r.perSource[i]).toBe("falseticker"); });
        // The combined offset is a weighted mean of offsets inside [low, high]: it can leave the
        // interval only by a rounding step, as the bounds above allow for.
        expect(r.offset).toBeGreaterThanOrEqual(r.low - 1e-12);
        expect(r.offset).toBeLessThanOrEqual(r.high + 1e-12);
      }
    }), { numRuns: 300 });
    // Not vacuous: most runs select, many of them with falsetickers present.
    expect(ok).toBeGreaterThan(100);
    expect(withFalsetickers).toBeGreaterThan(30);
  });

  it("property: equal honest radii with centres within r/2 of T always give ok with T inside", () => {
    const sel = newSelection({ maxSources: 16 });
    fc.assert(fc.property(scenario, fc.double({ min: 0.006, max: 0.3, noNaN: true }), (s, radius) => {
      const equal = { ...s, honest: s.honest.map((h) => ({ radius, at: h.at / 2 })) };
      const { all } = build(equal, true);
      const r = sel.select(NOW, all.map((e, i) => place(sel, i, e.iv[0], e.iv[1], NOW)));
      expect(r.status).toBe("ok");
      expect(r.low).toBeLessThanOrEqual(s.truth + 1e-12);
      expect(r.high).toBeGreaterThanOrEqual(s.truth - 1e-12);
      expect(r.truechimers).toBe(s.honest.length);
    }), { numRuns: 300 });
  });

  it("property (any falsetickers): ok with f ≥ the true falseticker count implies T ∈ [l, u]; invariants hold", () => {
    const sel = newSelection({ maxSources: 16 });
    let checked = 0;
    fc.assert(fc.property(scenario, (s) => {
      const { all, k } = build(s, false);
      const m = all.length;
      const r = sel.select(NOW, all.map((e, i) => place(sel, i, e.iv[0], e.iv[1], NOW)));
      if (r.status !== "ok") return;
      expect(2 * r.falsetickers).toBeLessThan(m);
      expect(r.truechimers).toBeGreaterThanOrEqual(m - r.falsetickers);
      expect(r.low).toBeLessThan(r.high);
      all.forEach((e, i) => {
        const inside = e.iv[0] >= r.low && e.iv[0] <= r.high;
        expect(r.perSource[i] === "falseticker").toBe(!inside);
      });
      if (r.falsetickers >= k) {
        if (k > 0) checked++;
        expect(r.low).toBeLessThanOrEqual(s.truth + 1e-12);
        expect(r.high).toBeGreaterThanOrEqual(s.truth - 1e-12);
      }
    }), { numRuns: 500 });
    expect(checked).toBeGreaterThan(50);
  });
});
