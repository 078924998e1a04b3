// NTP timestamp maths (asm/timestamp.ts) through the façade: fixed vectors from RFC 5905 Figure 4,
// the 2036 rollover, and properties across many eras.
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { core, ROLLOVER_UNIX, SECOND, U64, wrap } from "./support.js";

const NTP_UNIX_OFFSET = 2_208_988_800;
/** Unix seconds within ±2000 years of 1970: many eras either side of era 0. */
const unixSeconds = fc.integer({ min: -63_000_000_000, max: 63_000_000_000 });
const nanos = fc.integer({ min: 0, max: 999_999_999 });
/** Differences strictly inside the ±2^31 s window where era-aware subtraction is exact. */
const within68Years = fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 2 });
const u64 = fc.bigInt({ min: 0n, max: U64 - 1n });

describe("unix ↔ NTP, fixed vectors", () => {
  test("the Unix epoch is NTP second 2 208 988 800 (RFC 5905 Figure 4)", () => {
    expect(core.unixToNtp({ seconds: 0, nanos: 0 })).toBe(BigInt(NTP_UNIX_OFFSET) << 32n);
  });

  test("historic dates from RFC 5905 Figure 4 land on their era offsets", () => {
    const cases: Array<[number, number]> = [
      [Date.UTC(1972, 0, 1) / 1000, 2_272_060_800],
      [Date.UTC(1999, 11, 31) / 1000, 3_155_587_200],
      [Date.UTC(2036, 1, 8) / 1000, 63_104], // first day of era 1
      [Date.UTC(1899, 11, 31) / 1000, 4_294_880_896], // last day of era −1
    ];
    for (const [unix, eraOffset] of cases) {
      expect(core.unixToNtp({ seconds: unix, nanos: 0 })).toBe(BigInt(eraOffset) << 32n);
    }
  });

  test("2036-02-07T06:28:16Z is timestamp 0 of era 1, and a pivot near it maps back", () => {
    expect(Date.UTC(2036, 1, 7, 6, 28, 16) / 1000).toBe(ROLLOVER_UNIX);
    expect(core.unixToNtp({ seconds: ROLLOVER_UNIX, nanos: 0 })).toBe(0n);
    expect(core.ntpToUnix(0n, ROLLOVER_UNIX - 10 * 365 * 86400)).toEqual({ seconds: ROLLOVER_UNIX, nanos: 0 });
    // The same bits with a pivot in 1900 mean 1900-01-01.
    expect(core.ntpToUnix(0n, -NTP_UNIX_OFFSET)).toEqual({ seconds: -NTP_UNIX_OFFSET, nanos: 0 });
  });

  test("nanoseconds map to the nearest fraction and back", () => {
    expect(core.unixToNtp({ seconds: 0, nanos: 500_000_000 }) & (SECOND - 1n)).toBe(1n << 31n);
    // 1 ns = 4.294967296 units → 4
    expect(core.unixToNtp({ seconds: 0, nanos: 1 }) & (SECOND - 1n)).toBe(4n);
    // The largest fraction is within half a nanosecond of the next second: it rounds into it.
    const ts = (BigInt(NTP_UNIX_OFFSET) << 32n) | 0xffff_ffffn;
    expect(core.ntpToUnix(ts, 0)).toEqual({ seconds: 1, nanos: 0 });
  });

  test("bad arguments from our own code throw RangeError", () => {
    expect(() => core.unixToNtp({ seconds: 1.5, nanos: 0 })).toThrow(RangeError);
    expect(() => core.unixToNtp({ seconds: 0, nanos: 1e9 })).toThrow(RangeError);
    expect(() => core.unixToNtp({ seconds: 0, nanos: -1 })).toThrow(RangeError);
    expect(() => core.ntpToUnix(-1n, 0)).toThrow(RangeError);
    expect(() => core.ntpToUnix(U64, 0)).toThrow(RangeError);
    expect(() => core.ntpToUnix(0n, Number.NaN)).toThrow(RangeError);
  });
});

describe("unix ↔ NTP, properties", () => {
  test("unix → NTP → unix is exact to the nanosecond, for any pivot within 68 years", () => {
    fc.assert(
      fc.property(unixSeconds, nanos, within68Years, (seconds, ns, pivotShift) => {
        const ts = core.unixToNtp({ seconds, nanos: ns });
        expect(core.ntpToUnix(ts, seconds + pivotShift)).toEqual({ seconds, nanos: ns });
      }),
      { numRuns: 20_000 },
    );
  });

  test("NTP → unix lands in [pivot − 2^31, pivot + 2^31) and NTP → unix → NTP is within rounding", () => {
    fc.assert(
      fc.property(u64, unixSeconds, (ts, pivot) => {
        const t = core.ntpToUnix(ts, pivot);
        expect(Number.isSafeInteger(t.seconds)).toBe(true);
        expect(t.nanos).toBeGreaterThanOrEqual(0);
        expect(t.nanos).toBeLessThan(1e9);
        // The result is ≡ the timestamp's seconds mod 2^32 (possibly +1 from rounding up)…
        expect(t.seconds).toBeGreaterThanOrEqual(pivot - 2 ** 31);
        expect(t.seconds).toBeLessThan(pivot + 2 ** 31 + 1);
        // …and converting back differs by at most half a nanosecond (≤ 2.15 fraction units).
        const back = core.unixToNtp(t);
        const err = BigInt.asIntN(64, back - ts);
        expect(err >= -3n && err <= 3n).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  test("unixToNtp equals the exact definition: (unix + 2 208 988 800) mod 2^32, round(ns·2^32/1e9)", () => {
    fc.assert(
      fc.property(unixSeconds, nanos, (seconds, ns) => {
        const secs = BigInt.asUintN(32, BigInt(seconds) + BigInt(NTP_UNIX_OFFSET));
        const frac = (BigInt(ns) * SECOND + 500_000_000n) / 1_000_000_000n;
        expect(core.unixToNtp({ seconds, nanos: ns })).toBe((secs << 32n) + frac);
      }),
      { numRuns: 20_000 },
    );
  });
});

describe("era-aware difference", () => {
  test("across the 2036 rollover", () => {
    const before = core.unixToNtp({ seconds: ROLLOVER_UNIX - 5, nanos: 250_000_000 });
    const after = core.unixToNtp({ seconds: ROLLOVER_UNIX + 10, nanos: 0 });
    expect(before > after).toBe(true); // the raw values wrapped
    expect(core.ntpDiff(after, before)).toBe(14.75);
    expect(core.ntpDiff(before, after)).toBe(-14.75);
  });

  test("matches the true difference for instants < 68 years apart, in any era", () => {
    fc.assert(
      fc.property(unixSeconds, nanos, within68Years, nanos, (s1, n1, d, n2) => {
        const a = core.unixToNtp({ seconds: s1 + d, nanos: n2 });
        const b = core.unixToNtp({ seconds: s1, nanos: n1 });
        // The exact difference of the two rounded timestamps, from their unwrapped values.
        const units = (BigInt(d) << 32n) + (a & (SECOND - 1n)) - (b & (SECOND - 1n));
        const exact = Number(units) / 2 ** 32; // one rounding, like the kernel
        expect(core.ntpDiff(a, b)).toBe(exact);
        // And it is within a nanosecond of the Unix-time difference.
        expect(Math.abs(core.ntpDiff(a, b) - (d + (n2 - n1) / 1e9))).toBeLessThan(1e-9 + Math.abs(d) * 2 ** -52);
      }),
      { numRuns: 20_000 },
    );
  });

  test("is antisymmetric and exact on raw 64-bit values", () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        const units = BigInt.asIntN(64, a - b);
        expect(core.ntpDiff(a, b)).toBe(Number(units) / 2 ** 32);
        if (units !== -(1n << 63n)) expect(core.ntpDiff(b, a) + core.ntpDiff(a, b)).toBe(0);
      }),
      { numRuns: 20_000 },
    );
  });

  test("the shortest way round: 2^31 s − 1 unit ahead is positive, 2^31 s + 1 unit is negative", () => {
    const half = 1n << 63n;
    expect(core.ntpDiff(wrap(half - 1n), 0n)).toBeGreaterThan(0);
    expect(core.ntpDiff(wrap(half + 1n), 0n)).toBeLessThan(0);
    expect(core.ntpDiff(0n, U64 - 1n)).toBe(2 ** -32);
  });
});

describe("adding durations", () => {
  test("adds seconds at 2^-32 resolution and wraps across the rollover", () => {
    expect(core.ntpAddSeconds(5n * SECOND, 1.5)).toBe(6n * SECOND + (SECOND >> 1n));
    expect(core.ntpAddSeconds(U64 - SECOND, 2)).toBe(SECOND);
    expect(core.ntpAddSeconds(SECOND, -2)).toBe(U64 - SECOND);
  });

  test("add then diff gives the duration back (to 2^-32 s)", () => {
    fc.assert(
      fc.property(u64, fc.double({ min: -(2 ** 30), max: 2 ** 30, noNaN: true }), (ts, d) => {
        expect(Math.abs(core.ntpDiff(core.ntpAddSeconds(ts, d), ts) - d)).toBeLessThanOrEqual(2 ** -33 + Math.abs(d) * 2 ** -52);
      }),
      { numRuns: 10_000 },
    );
  });
});
