// The discipline (ts/protocol/discipline.ts) on hand-made updates: the decisions of RFC 5905
// Figure 28 and ntpd-rs's thresholds, the estimator's frequency, the drift record, leap actions.
// Whole-system behaviour (accuracy) is asserted by the simulator, test/sim.
import { describe, expect, it } from "vitest";
import { ClockDiscipline, PANIC_EXIT_CODE, type DisciplineOptions } from "../../ts/protocol/discipline.js";
import type { ClockAction, SystemUpdate } from "../../ts/protocol/system.js";

function update(offset: number, time: number, extra: Partial<SystemUpdate> = {}): SystemUpdate {
  return {
    offset, jitter: 1e-4, time, rootDelay: 0.01, rootDispersion: 0.001, stratum: 2, refid: 0, leap: 0,
    status: "ok", pollInterval: 16, peerJitter: 1e-4, selectionJitter: 0, survivors: 3, ...extra,
  };
}
const kinds = (actions: ClockAction[]) => actions.map((a) => a.kind);
const of = <K extends ClockAction["kind"]>(actions: ClockAction[], kind: K) => actions.filter((a): a is Extract<ClockAction, { kind: K }> => a.kind === kind);

describe("start-up", () => {
  it("the first call sets the starting frequency (drift file or 0)", () => {
    expect(new ClockDiscipline().tick(0)).toEqual([{ kind: "frequency", ppm: 0 }]);
    const d = new ClockDiscipline({ initialFrequency: { frequencyPpm: -17.5, uncertaintyPpm: 0.05 } });
    expect(d.tick(0)).toEqual([{ kind: "frequency", ppm: -17.5 }]);
    expect(d.tick(1)).toEqual([]);
  });

  it("an offset below the step threshold is slewed through the frequency, with an estimate", () => {
    const d = new ClockDiscipline();
    const a = d.update(update(0.05, 10), 10);
    expect(kinds(a)).toEqual(["frequency", "frequency", "estimate"]);
    expect(of(a, "frequency")[1]!.ppm).toBeCloseTo(500, 6); // 50 ms over 16 s: capped at maxSlewRate
    expect(of(a, "estimate")[0]).toMatchObject({ synchronised: true });
  });

  it("an offset above it is stepped at once; max slew rate applies", () => {
    const d = new ClockDiscipline({ maxSlewRate: 1 });
    const a = d.update(update(-2, 5), 5);
    expect(of(a, "step")).toEqual([{ kind: "step", offset: -2 }]);
    const b = d.update(update(0.0005, 21), 21);
    expect(of(b, "frequency")).toHaveLength(1);
    // F = −ε̂ + c with the correction rate c capped at 1 ppm.
    const s = d.status();
    expect(Math.abs(s.frequencyPpm + s.oscillatorPpm)).toBeCloseTo(1, 9);
  });

  it("step-threshold Infinity never steps", () => {
    const d = new ClockDiscipline({ stepThreshold: Infinity });
    expect(kinds(d.update(update(30, 5), 5))).not.toContain("step");
  });
});

describe("panics", () => {
  it("the first step beyond the startup limit panics with the documented message and exit code", () => {
    const d = new ClockDiscipline();
    const [panic] = of(d.update(update(-100_000, 5), 5), "panic");
    expect(panic!.message).toMatch(/^clock panic: a backward step of 100000 s exceeds the startup-step-panic-threshold of 86400\.0 s; the clock was not changed/);
    expect(PANIC_EXIT_CODE).toBe(3);
    expect(d.update(update(0, 20), 20)).toEqual([]); // a panicked discipline does nothing more
    expect(d.tick(21)).toEqual([]);
  });

  it("later steps: held for the stepout interval, then checked against single-step-panic-threshold", () => {
    const d = new ClockDiscipline({ singleStepPanic: { forward: 10, backward: 10 } });
    d.update(update(0.001, 5), 5);
    expect(kinds(d.update(update(50, 100), 100))).not.toContain("step"); // a spike: held
    expect(d.status().state).toBe("spike");
    const later = d.update(update(50, 1100), 1100);
    expect(of(later, "panic")[0]!.message).toMatch(/forward step of 50\.0000 s exceeds the single-step-panic-threshold of 10\.0000 s/);
  });

  it("a spike that goes away is never stepped", () => {
    const d = new ClockDiscipline();
    d.update(update(0.001, 5), 5);
    expect(kinds(d.update(update(0.5, 100), 100))).not.toContain("step");
    expect(kinds(d.update(update(0.001, 200), 200))).not.toContain("step");
    expect(kinds(d.update(update(0.5, 1200), 1200))).not.toContain("step"); // a new spike restarts the stepout
    expect(d.status().counters.spikes).toBe(2);
  });

  it("accumulated steps beyond the limit panic", () => {
    const d = new ClockDiscipline({ accumulatedStepPanic: 3, stepoutInterval: 0 });
    expect(kinds(d.update(update(2, 5), 5))).toContain("step");
    d.update(update(2, 100), 100); // spike starts
    const a = d.update(update(2, 101), 101);
    expect(of(a, "panic")[0]!.message).toMatch(/accumulated-step-panic-threshold of 3\.00000 s/);
  });
});

describe("estimation", () => {
  it("learns a constant frequency error from offsets and reports a drift record", () => {
    const d = new ClockDiscipline();
    // A clock 20 ppm fast, uncorrected except by what the discipline sets: simulate θ directly.
    let theta = -0.001;
    let f = 0;
    let last = 0;
    const eps = 20e-6;
    for (let t = 0; t <= 4000; t += 16) {
      // The clock runs (ε + F): θ falls by that much per second.
      theta -= (eps + f) * (t - last);
      last = t;
      for (const a of d.update(update(theta, t, { jitter: 1e-5 }), t)) if (a.kind === "frequency") f = a.ppm * 1e-6;
      for (const a of d.tick(t + 8)) if (a.kind === "frequency") f = a.ppm * 1e-6;
    }
    expect(d.status().oscillatorPpm).toBeCloseTo(20, 1);
    expect(Math.abs(theta)).toBeLessThan(50e-6);
    const record = d.driftRecord()!;
    expect(record.frequencyPpm).toBeCloseTo(-20, 1);
    expect(record.uncertaintyPpm).toBeLessThan(1);
  });

  it("no drift record before it is known to 1 ppm", () => {
    expect(new ClockDiscipline().driftRecord()).toBeNull();
  });

  it("ignores updates from too few survivors and non-finite input", () => {
    const d = new ClockDiscipline({ minimumAgreeingSources: 3 });
    expect(d.update(update(0.01, 5, { survivors: 2 }), 5)).toEqual([]);
    expect(d.update(update(NaN, 5), 5)).toEqual([]);
    expect(d.status().counters).toMatchObject({ tooFewSources: 1, invalid: 1, updates: 0 });
  });

  it("a frequency change (a run of one-signed innovations) reopens the frequency estimate", () => {
    const d = new ClockDiscipline();
    for (let t = 0; t <= 2000; t += 16) d.update(update(0, t, { jitter: 1e-4 }), t);
    expect(d.status().counters.trends).toBe(0);
    const settled = d.status().frequencySigmaPpm;
    for (let k = 1; k <= 3; k++) d.update(update(2e-5 * k, 2000 + 16 * k, { jitter: 1e-4 }), 2000 + 16 * k);
    expect(d.status().counters.trends).toBe(1);
    expect(d.status().frequencySigmaPpm).toBeGreaterThan(settled);
  });
});

describe("leap seconds", () => {
  const options = (utc: number): DisciplineOptions => ({ utc: (now) => utc + now });
  it("arms on the last day on the sources' majority, disarms after the event", () => {
    const lastDay = Date.UTC(2026, 5, 30, 23, 0, 0) / 1000;
    const d = new ClockDiscipline(options(lastDay));
    expect(of(d.update(update(0.001, 5, { leap: 1 }), 5), "leap")).toEqual([{ kind: "leap", leap: "insert" }]);
    expect(d.leapIndicator()).toBe(1);
    expect(of(d.tick(3000), "leap")).toEqual([]);
    expect(of(d.tick(3601), "leap")).toEqual([{ kind: "leap", leap: "none" }]);
    expect(d.leapIndicator()).toBe(0);
  });

  it("does not arm earlier in the month", () => {
    const d = new ClockDiscipline(options(Date.UTC(2026, 5, 20) / 1000));
    expect(of(d.update(update(0.001, 5, { leap: 1 }), 5), "leap")).toEqual([]);
  });
});

describe("disciplineOptionsFromConfig", () => {
  it("maps [synchronization] and the start-up inputs", async () => {
    const { disciplineOptionsFromConfig } = await import("../../ts/protocol/discipline.js");
    const { parseConfig } = await import("../../ts/config/index.js");
    const sync = parseConfig(
      '[synchronization]\nstep-threshold = "inf"\nmax-slew-rate = 100\nsingle-step-panic-threshold = { forward = 10, backward = 20 }\naccumulated-step-panic-threshold = 50\ndrift-file = "/var/lib/tock/drift"\n',
      "test.toml",
    ).synchronization;
    expect(sync.driftFile).toBe("/var/lib/tock/drift");
    const o = disciplineOptionsFromConfig(sync, { initialFrequency: { frequencyPpm: 3, uncertaintyPpm: 0.1 } });
    expect(o).toMatchObject({ stepThreshold: Infinity, maxSlewRate: 100, singleStepPanic: { forward: 10, backward: 20 }, accumulatedStepPanic: 50, initialFrequency: { frequencyPpm: 3 } });
    const d = new ClockDiscipline(o);
    expect(d.tick(0)).toEqual([{ kind: "frequency", ppm: 3 }]);
  });
});
