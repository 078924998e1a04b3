// The observe clock: every adjustment is a logged, counted no-op; time and state are read through.
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ObserveClock } from "../../ts/clock/observe-clock.js";
import { applyClockAction } from "../../ts/clock/adjustable.js";
import { SimClock } from "../../ts/clock/sim-clock.js";

function capture() {
  const lines: { level: number; msg: string; action: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

describe("ObserveClock", () => {
  const start = 0xe9000000_00000000n;

  it("reads time from its base and never adjusts", () => {
    const base = Object.assign(new SimClock(start), { nowUnix: () => ({ seconds: 1, nanos: 2 }) });
    const { logger, lines } = capture();
    const clock = new ObserveClock({ base, logger, reason: "no CAP_SYS_TIME" });
    expect(clock.now()).toBe(start);
    expect(clock.nowUnix()).toEqual({ seconds: 1, nanos: 2 });
    expect(clock.capabilities.canAdjust).toBe(false);
    const results = [
      clock.step(1.5),
      clock.slew(-0.002),
      clock.setFrequency(12.5),
      clock.setLeap("insert"),
      clock.setSyncStatus({ maxError: 0.01, estError: 0.001, synchronised: true }),
      clock.takeOver(),
      applyClockAction(clock, { kind: "slew", offset: 0.001 }),
    ];
    for (const r of results) {
      expect(r.applied).toBe(false);
      expect(r.reason).toMatch(/observe mode \(no CAP_SYS_TIME\)/);
      expect(r.at).toBe(start);
    }
    expect(clock.now()).toBe(start);
    expect(clock.notApplied).toEqual({ frequency: 1, slew: 2, step: 1, leap: 1, estimate: 1, "take-over": 1 });
    // First of each kind at info (30), repeats at debug (20).
    const slews = lines.filter((l) => l.action === "slew");
    expect(slews.map((l) => l.level)).toEqual([30, 20]);
    expect(lines).toHaveLength(7);
    expect(lines[0]!.msg).toMatch(/not applied: step/);
  });

  it("reports an unsynchronised state when it has no kernel to read", () => {
    const base = Object.assign(new SimClock(start), { nowUnix: () => ({ seconds: 0, nanos: 0 }) });
    const state = new ObserveClock({ base }).readState();
    expect(state).toMatchObject({ synchronised: false, timeState: "error", frequencyPpm: 0, maxErrorSeconds: 16 });
  });

  it("refuses non-finite values loudly (a bug upstream)", () => {
    const base = Object.assign(new SimClock(start), { nowUnix: () => ({ seconds: 0, nanos: 0 }) });
    expect(() => new ObserveClock({ base }).step(Number.NaN)).toThrow(RangeError);
  });
});
