// Hostile numbers: samples and candidate fields carry whatever a server (or a bug) produced —
// NaN, ±∞, huge, negative, subnormal. The kernel must never trap, and whatever it reports as a
// selection must be finite and in range.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { candidate, feed, newSelection } from "./support.js";

const anyDouble = fc.oneof(
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 1e308, -1e308, 5e-324, 2 ** 31, -(2 ** 31)),
  fc.double({ min: -0.01, max: 0.01, noNaN: true }),
);
const anyInt = fc.oneof(fc.integer(), fc.integer({ min: -2, max: 20 }));

describe("selection fuzz", () => {
  it("never traps; an ok result is finite and in range", () => {
    const sel = newSelection({ maxSources: 6 });
    let oks = 0;
    fc.assert(fc.property(
      fc.array(fc.record({ source: fc.integer({ min: 0, max: 5 }), offset: anyDouble, delay: anyDouble, dispersion: anyDouble, time: anyDouble, now: anyDouble, poll: anyDouble }), { maxLength: 40 }),
      fc.array(fc.record({ index: fc.integer({ min: 0, max: 5 }), stratum: anyInt, leap: anyInt, reachable: fc.boolean(), rootDelay: anyDouble, rootDispersion: anyDouble, refid: anyInt, serverRefid: anyInt }), { maxLength: 3 }),
      fc.oneof(anyDouble, fc.constant(100)), anyDouble, anyInt,
      (samples, hostile, now, poll, localRefid) => {
        // Three good sources (fit at now = 100), then hostile samples land on any source.
        for (let i = 0; i < 6; i++) sel.resetSource(i);
        sel.resetSystem();
        for (let i = 0; i < 3; i++) feed(sel, i, 0.001 * i, 0.01, 100);
        const candidates = [candidate(0), candidate(1), candidate(2), ...hostile];
        for (const s of samples) {
          expect(["updated", "stale", "spike", "empty", "invalid"]).toContain(sel.addSample(s.source, s, s.now, s.poll));
          if (s.offset > 0.005) sel.expire(s.source, s.now, s.poll);
        }
        const r = sel.select(now, candidates, { pollInterval: poll, localRefid });
        expect(["ok", "no-majority", "no-candidates"]).toContain(r.status);
        if (r.status === "ok") {
          oks++;
          for (const v of [r.offset, r.jitter, r.selectionJitter, r.rootDelay, r.rootDispersion]) expect(Number.isFinite(v)).toBe(true);
          expect(r.jitter).toBeGreaterThanOrEqual(0);
          expect(r.rootDelay).toBeGreaterThanOrEqual(0);
          expect(r.rootDispersion).toBeGreaterThan(0);
          expect(r.stratum).toBeGreaterThanOrEqual(1);
          expect(r.stratum).toBeLessThanOrEqual(16);
          expect([0, 1, 2]).toContain(r.leap);
          expect(r.perSource.filter((x) => x === "selected")).toHaveLength(1);
          expect(r.perSource[r.systemPeer!]).toBe("selected");
        } else {
          expect(r.systemPeer).toBeNull();
          expect(r.perSource).not.toContain("selected");
        }
      },
    ), { numRuns: 2000 });
    expect(oks).toBeGreaterThan(100);
  });
});
