// On-wire maths (asm/onwire.ts): hand-computed exchanges, the precision clamp, the 2036 rollover,
// hostile timestamps, and exactness against BigInt arithmetic.
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { core, ROLLOVER_UNIX, U64, wrap } from "./support.js";

const PHI = 15e-6;
const t0 = core.unixToNtp({ seconds: 1_700_000_000, nanos: 0 });
/** t0 shifted by a binary-exact number of seconds, wrapping like a timestamp. */
const at = (base: bigint, seconds: number): bigint => wrap(base + BigInt(seconds * 2 ** 32));

describe("hand-computed exchanges", () => {
  test("server ahead: θ = ((1.25) + (1.5 − 0.5)) / 2 = 1.125, δ = 0.5 − 0.25", () => {
    const s = core.onWire(t0, at(t0, 1.25), at(t0, 1.5), at(t0, 0.5), -20, -24);
    expect(s.offset).toBe(1.125);
    expect(s.delay).toBe(0.25);
    expect(s.dispersion).toBeCloseTo(2 ** -20 + 2 ** -24 + PHI * 0.5, 15);
  });

  test("server behind (negative offset): θ = ((−2.875) + (−2.75 − 0.375)) / 2 = −3", () => {
    const s = core.onWire(t0, at(t0, -2.875), at(t0, -2.75), at(t0, 0.375), -20, -20);
    expect(s.offset).toBe(-3);
    expect(s.delay).toBe(0.25);
    expect(s.dispersion).toBeCloseTo(2 * 2 ** -20 + PHI * 0.375, 15);
  });

  test("delay is clamped to the local precision, not below", () => {
    // Round trip 2^-24 s, server held it 2^-25 s: raw δ = 2^-25.
    const args = [t0, at(t0, 2 ** -26), at(t0, 2 ** -26 + 2 ** -25), at(t0, 2 ** -24)] as const;
    expect(core.onWire(...args, -20, -20).delay).toBe(2 ** -20); // clamped up to ρ_local = 2^-20
    expect(core.onWire(...args, -30, -20).delay).toBe(2 ** -25); // already above ρ_local = 2^-30
    expect(core.onWire(...args, -30, 0).delay).toBe(2 ** -25); // server precision does not clamp δ
  });

  test("a server claiming to hold the packet longer than the round trip gives δ = ρ_local", () => {
    const s = core.onWire(t0, t0, at(t0, 1), at(t0, 0.5), -18, -20);
    expect(s.offset).toBe(0.25);
    expect(s.delay).toBe(2 ** -18);
  });

  test("a negative round trip adds no PHI growth to the dispersion", () => {
    const s = core.onWire(t0, t0, t0, at(t0, -1), -20, -22);
    expect(s.dispersion).toBe(2 ** -20 + 2 ** -22);
  });

  test("an exchange straddling the 2036 rollover", () => {
    const t1 = core.unixToNtp({ seconds: ROLLOVER_UNIX - 1, nanos: 750_000_000 }); // 0.25 s before
    const t2 = at(t1, 10.5);
    expect(t2 < t1).toBe(true); // wrapped into era 1
    const s = core.onWire(t1, t2, at(t2, 0.25), at(t1, 0.75), -20, -20);
    expect(s.offset).toBe(10.25);
    expect(s.delay).toBe(0.5);
  });

  test("an offset of 30 years is still exact (RFC 5905 §8: unambiguous within 34 years)", () => {
    const thirtyYears = 30 * 365.25 * 86400;
    const s = core.onWire(t0, at(t0, thirtyYears), at(t0, thirtyYears + 0.5), at(t0, 1), -20, -20);
    expect(s.offset).toBe(thirtyYears - 0.25);
    expect(s.delay).toBe(0.5);
  });

  test("hostile timestamps give finite numbers and never throw", () => {
    const half = 1n << 63n;
    for (const [t2, t3] of [[wrap(t0 + half - 1n), wrap(t0 - half)], [wrap(t0 - half), wrap(t0 + half - 1n)], [0n, U64 - 1n]]) {
      const s = core.onWire(t0, t2!, t3!, t0, -128, 127);
      expect(Number.isFinite(s.offset) && Number.isFinite(s.delay) && Number.isFinite(s.dispersion)).toBe(true);
    }
    expect(() => core.onWire(t0, t0, t0, t0, -129, 0)).toThrow(RangeError);
  });
});

test("exact against BigInt arithmetic for any era and any first-order differences < 2^61 units", () => {
  const diff = fc.bigInt({ min: -(1n << 61n), max: 1n << 61n });
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: U64 - 1n }), diff, diff, diff, fc.integer({ min: -30, max: 0 }), fc.integer({ min: -30, max: 0 }),
      (t1, a, b, c, local, server) => {
        // T2 = T1 + a, T3 = T2 + b, T4 = T3 + c; so θ = (a − c)/2, δ = a + c, round trip a + b + c.
        const t2 = wrap(t1 + a), t3 = wrap(t2 + b), t4 = wrap(t3 + c);
        const s = core.onWire(t1, t2, t3, t4, local, server);
        expect(s.offset).toBe(Number(a - c) / 2 ** 33);
        expect(s.delay).toBe(Math.max(Number(a + c) / 2 ** 32, 2 ** local));
        const expectedDispersion = 2 ** local + 2 ** server + PHI * Math.max(Number(a + b + c) / 2 ** 32, 0);
        expect(Math.abs(s.dispersion - expectedDispersion)).toBeLessThanOrEqual(Math.abs(expectedDispersion) * 1e-15);
      }),
    { numRuns: 10_000 },
  );
});
