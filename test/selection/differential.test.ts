// Differential test: the WASM kernel against the plain-TypeScript baseline (bench/selection-baseline.ts),
// written separately without the memory layout. Random sample streams (noise, spikes, missed polls,
// non-monotonic and malformed input) and random candidate tables; every filter outcome, every peer
// variable and every selection result must agree to the last bit.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { newSelection } from "./support.js";
import { BaselineSelection } from "../../bench/selection-baseline.js";
import type { Candidate } from "../../ts/core/selection.js";

const SOURCES = 4;

const event = fc.oneof(
  { weight: 8, arbitrary: fc.record({
    kind: fc.constant("sample" as const),
    source: fc.integer({ min: 0, max: SOURCES - 1 }),
    offset: fc.oneof({ weight: 9, arbitrary: fc.double({ min: -0.005, max: 0.005, noNaN: true }) }, { weight: 1, arbitrary: fc.double({ min: -0.5, max: 0.5, noNaN: true }) }),
    delay: fc.double({ min: 0, max: 0.2, noNaN: true }),
    dispersion: fc.double({ min: 0, max: 0.05, noNaN: true }),
    lag: fc.double({ min: -1, max: 5, noNaN: true }),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("expire" as const), source: fc.integer({ min: 0, max: SOURCES - 1 }) }) },
  { weight: 1, arbitrary: fc.record({
    kind: fc.constant("bad" as const),
    source: fc.integer({ min: 0, max: SOURCES - 1 }),
    offset: fc.constantFrom(NaN, Infinity, 0),
    delay: fc.constantFrom(-1, NaN, 0.01),
  }) },
  { weight: 3, arbitrary: fc.record({
    kind: fc.constant("select" as const),
    candidates: fc.array(fc.record({
      index: fc.integer({ min: 0, max: SOURCES - 1 }),
      stratum: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 17 }) }),
      leap: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: fc.constant(3) }),
      reachable: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      rootDelay: fc.double({ min: 0, max: 0.1, noNaN: true }),
      rootDispersion: fc.double({ min: 0, max: 0.1, noNaN: true }),
      refid: fc.integer({ min: 0, max: 3 }),
      serverRefid: fc.integer({ min: 0, max: 3 }),
    }), { maxLength: SOURCES }),
    minCandidates: fc.integer({ min: 1, max: 4 }),
    poll: fc.constantFrom(16, 64, 1024),
    localRefid: fc.integer({ min: 0, max: 3 }),
  }) },
);

const tunables = fc.record({
  minSurvivors: fc.integer({ min: 1, max: 5 }),
  spikeGate: fc.constantFrom(3, 1.5, Infinity),
  precision: fc.constantFrom(2 ** -20, 1e-3),
  maxDistance: fc.constantFrom(1, 0.3),
});

describe("WASM kernel vs TypeScript baseline", () => {
  it("agrees on every outcome, peer variable and selection result", () => {
    const seen = { ok: 0, "no-majority": 0, "no-candidates": 0, updated: 0, spike: 0, stale: 0 };
    fc.assert(fc.property(tunables, fc.array(event, { minLength: 60, maxLength: 150 }), fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 150, maxLength: 150 }), (t, events, steps) => {
      const wasm = newSelection({ maxSources: SOURCES, ...t });
      // Each source has its own true offset; samples scatter around it.
      const base0 = [0, 0.002, -0.003, 0.4];
      const base = new BaselineSelection(SOURCES, t);
      let now = 1000;
      events.forEach((e, n) => {
        now += steps[n]! - 5; // mostly forward, sometimes a little back
        if (e.kind === "sample") {
          const s = { offset: base0[e.source]! + e.offset, delay: e.delay, dispersion: e.dispersion, time: now - e.lag };
          const outcome = wasm.addSample(e.source, s, now);
          expect(outcome).toBe(base.addSample(e.source, s, now));
          if (outcome in seen) seen[outcome as keyof typeof seen]++;
          expect(wasm.sourceState(e.source)).toEqual(base.sourceState(e.source));
        } else if (e.kind === "expire") {
          expect(wasm.expire(e.source, now)).toBe(base.expire(e.source, now));
          expect(wasm.sourceState(e.source)).toEqual(base.sourceState(e.source));
        } else if (e.kind === "bad") {
          const s = { offset: e.offset, delay: e.delay, dispersion: 0, time: now };
          expect(wasm.addSample(e.source, s, now)).toBe(base.addSample(e.source, s, now));
        } else {
          const cands: Candidate[] = e.candidates;
          const opts = { minCandidates: e.minCandidates, pollInterval: e.poll, localRefid: e.localRefid };
          const r = wasm.select(now, cands, opts);
          expect(r).toEqual(base.select(now, cands, opts));
          seen[r.status]++;
        }
      });
    }), { numRuns: 300 });
    // Every path was exercised (fast-check shrinking aside, these counts come from 300 runs).
    for (const [what, count] of Object.entries(seen)) expect(count, what).toBeGreaterThan(5);
  });

  it("a realistic run selects (the comparison above is not only about failures)", () => {
    const wasm = newSelection({ maxSources: 8 });
    const base = new BaselineSelection(8);
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const cands: Candidate[] = [0, 1, 2, 3, 4].map((index) => ({ index, stratum: 1 + (index % 2), rootDelay: 0.001, rootDispersion: 0.002, reachable: true, leap: 0, refid: index + 1 }));
    let oks = 0;
    for (let t = 0; t < 64 * 40; t += 64) {
      for (const c of cands) {
        const s = { offset: (c.index === 4 ? 0.2 : 0) + (rand() - 0.5) * 1e-3, delay: 0.01 + rand() * 0.01, dispersion: 1e-5, time: t };
        expect(wasm.addSample(c.index, s, t)).toBe(base.addSample(c.index, s, t));
      }
      const r = wasm.select(t, cands);
      expect(r).toEqual(base.select(t, cands));
      if (r.status === "ok") {
        oks++;
        // Once the filters hold 8 samples, the +200 ms server's interval no longer reaches the others.
        if (t >= 8 * 64) expect(r.perSource[4]).toBe("falseticker");
      }
    }
    expect(oks).toBeGreaterThan(30);
  });
});
