// The simulated adjustable clock: drift, kernel-like slew rate, steps, frequency clamp, leap seconds
// and the statistics of the random-walk wander (fixed seeds, so every figure is reproducible).
import { beforeAll, describe, expect, it } from "vitest";
import { SimAdjustableClock, gaussian } from "../../ts/clock/sim-adjustable-clock.js";
import { applyClockAction, type Adjustment } from "../../ts/clock/adjustable.js";
import type { ClockAction } from "../../ts/protocol/system.js";
import { loadCore } from "../../ts/daemon/load-core.js";
import type { TockCore } from "../../ts/core/api.js";
import { mulberry32 } from "./prng.js";

let core: TockCore;
beforeAll(async () => {
  core = (await loadCore()).core;
});

/** 2026-06-30 00:00:00 UTC: a month end where leap seconds are applied. */
const JUNE_30 = 1_782_777_600;

function clock(options: Partial<ConstructorParameters<typeof SimAdjustableClock>[0]> = {}) {
  return new SimAdjustableClock({ toNtp: (t) => core.unixToNtp(t), start: { seconds: JUNE_30, nanos: 0 }, ...options });
}

describe("SimAdjustableClock", () => {
  it("reads true time plus its offset, as NTP and as Unix time", () => {
    const c = clock({ initialOffsetSeconds: 0.05 });
    expect(core.ntpDiff(c.now(), c.trueNow())).toBeCloseTo(0.05, 9);
    expect(c.nowUnix()).toEqual({ seconds: JUNE_30, nanos: 50_000_000 });
  });

  it("drifts by its frequency error: 20 ppm for 100 s is 2 ms", () => {
    const c = clock({ frequencyErrorPpm: 20 });
    c.advance(100);
    expect(c.offsetFromTrue()).toBeCloseTo(0.002, 12);
    expect(c.elapsedSeconds).toBeCloseTo(100, 9);
  });

  it("cancels the drift with the opposite frequency correction", () => {
    const c = clock({ frequencyErrorPpm: 20 });
    expect(c.setFrequency(-20).applied).toBe(true);
    c.advance(10_000);
    expect(Math.abs(c.offsetFromTrue())).toBeLessThan(1e-12);
    expect(c.readState().frequencyPpm).toBe(-20);
  });

  it("slews at the kernel's 500 ppm, reports the remainder, and a new slew replaces the old", () => {
    const c = clock();
    c.slew(0.001);
    c.advance(1);
    expect(c.offsetFromTrue()).toBeCloseTo(0.0005, 12);
    expect(c.readState().slewRemainingSeconds).toBeCloseTo(0.0005, 12);
    c.advance(5);
    expect(c.offsetFromTrue()).toBeCloseTo(0.001, 12);
    expect(c.readState().slewRemainingSeconds).toBe(0);
    // Replacement: slew −2 ms, then after 1 s (−0.5 ms done) ask for +0.1 ms instead.
    c.slew(-0.002);
    c.advance(1);
    c.slew(0.0001);
    c.advance(10);
    expect(c.offsetFromTrue()).toBeCloseTo(0.001 - 0.0005 + 0.0001, 12);
  });

  it("slews in whole microseconds, like ADJ_OFFSET_SINGLESHOT", () => {
    const c = clock();
    expect(c.slew(0.0000014).value).toBeCloseTo(0.000001, 15);
  });

  it("steps instantly and cancels a pending slew", () => {
    const c = clock({ initialOffsetSeconds: 0.5 });
    c.slew(-0.5);
    c.advance(1);
    const r = c.step(-0.4995);
    expect(r.applied).toBe(true);
    expect(Math.abs(c.offsetFromTrue())).toBeLessThan(1e-9);
    expect(c.readState().slewRemainingSeconds).toBe(0);
    c.advance(100);
    expect(Math.abs(c.offsetFromTrue())).toBeLessThan(1e-9);
  });

  it("clamps the frequency to ±500 ppm and rounds it to the kernel's 2^-16 ppm", () => {
    const c = clock();
    expect(c.setFrequency(900).value).toBe(500);
    expect(c.setFrequency(-1e6).value).toBe(-500);
    expect(c.setFrequency(1 / 3).value).toBe(Math.round(65536 / 3) / 65536);
    expect(() => c.setFrequency(Number.NaN)).toThrow(RangeError);
  });

  it("records every action with the offset before it, and applies discipline ClockActions", () => {
    const c = clock({ initialOffsetSeconds: 0.2 });
    const actions: ClockAction[] = [
      { kind: "step", offset: -0.2 },
      { kind: "frequency", ppm: 3 },
      { kind: "estimate", maxError: 0.01, estError: 0.001, synchronised: true },
    ];
    for (const a of actions) {
      if (a.kind === "panic") continue;
      // Type-level contract: every non-panic ClockAction is an Adjustment.
      const adjustment: Adjustment = a;
      applyClockAction(c, adjustment);
    }
    expect(c.actions.map((a) => a.action.kind)).toEqual(["step", "frequency", "estimate"]);
    expect(c.actions[0]!.offsetBefore).toBeCloseTo(0.2, 12);
    const s = c.readState();
    expect(s.synchronised).toBe(true);
    expect(s.maxErrorSeconds).toBe(0.01);
    expect(s.timeState).toBe("ok");
  });

  it("ages maxerror by 500 µs/s and becomes unsynchronised at 16 s, like the kernel", () => {
    const c = clock();
    c.setSyncStatus({ maxError: 0.001, estError: 0.0001, synchronised: true });
    c.advance(10);
    expect(c.readState().maxErrorSeconds).toBeCloseTo(0.006, 9);
    c.advance(40_000);
    expect(c.readState().synchronised).toBe(false);
  });

  it("in observe mode records actions and changes nothing", () => {
    const c = clock({ canAdjust: false, initialOffsetSeconds: 0.1 });
    expect(c.step(-0.1).applied).toBe(false);
    expect(c.slew(-0.1).applied).toBe(false);
    c.advance(10);
    expect(c.offsetFromTrue()).toBeCloseTo(0.1, 12);
    expect(c.actions).toHaveLength(2);
  });

  it("inserts a leap second at UTC midnight: the clock falls back one second, then waits", () => {
    const c = clock({ frequencyErrorPpm: 50 });
    c.setSyncStatus({ maxError: 0.001, estError: 0.001, synchronised: true });
    c.setLeap("insert");
    expect(c.readState().timeState).toBe("insert");
    // Clock at 23:59:59.5 (a day minus 0.5 s of clock time, which runs 50 ppm fast); the error
    // bounds are refreshed on the way as a discipline would (the kernel ages maxerror to 16 s in 9 h).
    for (let i = 0; i < 3; i++) {
      c.advance(21_600);
      c.setSyncStatus({ maxError: 0.001, estError: 0.001, synchronised: true });
    }
    c.advance((86_400 - 0.5) / (1 + 50e-6) - 3 * 21_600);
    expect(c.nowUnix().seconds).toBe(JUNE_30 + 86_399);
    expect(c.offsetFromTrue()).toBeCloseTo((50e-6 * (86_400 - 0.5)) / (1 + 50e-6), 9);
    c.advance(1);
    // Crossed midnight: the clock repeated a second, so it still reads 23:59:59.5 + ~0.
    expect(c.nowUnix().seconds).toBe(JUNE_30 + 86_399);
    expect(c.readState().timeState).toBe("wait");
    c.advance(86_400);
    expect(c.offsetFromTrue()).toBeCloseTo(50e-6 * c.elapsedSeconds - 1, 6); // one second, once
    c.setLeap("none");
    c.setSyncStatus({ maxError: 0.001, estError: 0.001, synchronised: true });
    expect(c.readState().timeState).toBe("ok");
  });

  it("deletes a leap second: 23:59:59 is skipped", () => {
    const c = clock();
    c.setSyncStatus({ maxError: 0.001, estError: 0.001, synchronised: true });
    c.setLeap("delete");
    c.advance(86_400 - 1.5);
    expect(c.nowUnix().seconds).toBe(JUNE_30 + 86_398);
    c.advance(1);
    // True 23:59:59.5 reads as 00:00:00.5 the next day.
    expect(c.nowUnix()).toEqual({ seconds: JUNE_30 + 86_400, nanos: 500_000_000 });
    expect(c.offsetFromTrue()).toBe(1);
  });

  it("is deterministic for a seed", () => {
    const run = (seed: number) => {
      const c = clock({ frequencyErrorPpm: 10, wanderPpmPerSqrtSecond: 0.01, random: mulberry32(seed) });
      c.advance(3600);
      return [c.offsetFromTrue(), c.oscillatorFrequencyPpm];
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it("wanders as a random walk: frequency variance σ²·T, offset variance σ²·T³/3", () => {
    // 400 clocks, σ = 0.01 ppm/√s, T = 4096 s (steps of 16 s): Var f = 0.4096 ppm², and the offset
    // (the integral of the walk) has variance σ²·T³/3 (minus a discretisation term of order Δ/T).
    const sigma = 0.01;
    const T = 4096;
    const random = mulberry32(12345);
    const freqs: number[] = [];
    const offsets: number[] = [];
    for (let i = 0; i < 400; i++) {
      const c = clock({ frequencyErrorPpm: 5, wanderPpmPerSqrtSecond: sigma, random });
      c.advance(T);
      freqs.push(c.oscillatorFrequencyPpm - 5);
      offsets.push(c.offsetFromTrue() - 5e-6 * T);
    }
    const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
    const variance = (x: number[]) => mean(x.map((v) => v * v));
    const expectedF = sigma * sigma * T;
    const expectedOffset = ((sigma * 1e-6) ** 2 * T ** 3) / 3;
    // With 400 samples the sample variance is within ±20 % of the truth with > 99 % probability.
    expect(variance(freqs) / expectedF).toBeGreaterThan(0.8);
    expect(variance(freqs) / expectedF).toBeLessThan(1.2);
    expect(Math.abs(mean(freqs))).toBeLessThan(4 * Math.sqrt(expectedF / 400));
    expect(variance(offsets) / expectedOffset).toBeGreaterThan(0.75);
    expect(variance(offsets) / expectedOffset).toBeLessThan(1.25);
  });

  it("gaussian() has mean 0 and variance 1", () => {
    const random = mulberry32(99);
    const xs = Array.from({ length: 20_000 }, () => gaussian(random));
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.04);
  });

  it("rejects going back in time and wander without randomness", () => {
    expect(() => clock().advance(-1)).toThrow(RangeError);
    expect(() => clock({ wanderPpmPerSqrtSecond: 1 })).toThrow(/random/);
  });
});

describe("SimAdjustableClock true time", () => {
  it("keeps true time exact over many small advances (no accumulated rounding)", () => {
    const c = new SimAdjustableClock({ toNtp: (t) => core.unixToNtp(t), start: { seconds: JUNE_30, nanos: 0 } });
    for (let i = 0; i < 100_000; i++) c.advance(0.0100000004); // 10.0000004 ms: 0.4 ns over a whole ns each time
    expect(c.trueUnix()).toEqual({ seconds: JUNE_30 + 1000, nanos: 40_000 });
  });
});
