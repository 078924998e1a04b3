// Steps and panics (issue 5): an initial offset above the step threshold is stepped once; below it,
// only slewed; beyond the panic thresholds the daemon is told to stop (with the documented message)
// and the clock is left alone.
import { describe, expect, it } from "vitest";
import { runScenario } from "./world.js";
import { goodServers, initialStep } from "./scenarios.js";
import { errorStats, timeToSync } from "./stats.js";

const SEEDS = [1, 2, 3];
const steps = (run: Awaited<ReturnType<typeof runScenario>>) => run.clockEvents.filter((e) => e.action.kind === "step");

describe("steps", () => {
  for (const seed of SEEDS) {
    it(`0.5 s behind (above 0.128 s), seed ${seed}: stepped once, then synchronised`, async () => {
      const run = await runScenario(initialStep(seed, -0.5));
      const s = steps(run);
      expect(s).toHaveLength(1);
      const action = s[0]!.action as { kind: "step"; offset: number };
      expect(action.offset).toBeCloseTo(0.5, 2);
      expect(s[0]!.at).toBeLessThan(60);
      expect(timeToSync(run.error, 1e-3)!).toBeLessThanOrEqual(600);
      expect(errorStats(run.error, 600).max).toBeLessThan(1e-3);
    });

    it(`0.1 s ahead (below 0.128 s), seed ${seed}: only slewed`, async () => {
      const run = await runScenario(initialStep(seed, 0.1));
      expect(steps(run)).toEqual([]);
      expect(timeToSync(run.error, 1e-3)!).toBeLessThanOrEqual(900);
      expect(errorStats(run.error, 900).max).toBeLessThan(1e-3);
    });
  }

  it("step-threshold = infinity: 0.5 s is slewed, never stepped (500 ppm: ~17 min)", async () => {
    const scenario = initialStep(1, -0.5, 7200);
    scenario.discipline = { stepThreshold: Infinity };
    const run = await runScenario(scenario);
    expect(steps(run)).toEqual([]);
    expect(timeToSync(run.error, 1e-3)!).toBeLessThanOrEqual(2400);
  });

  it("a clock 100 000 s ahead (backward step beyond the startup limit of 86 400 s): panic, clock untouched", async () => {
    const run = await runScenario(initialStep(1, 100_000));
    expect(run.panic).not.toBeNull();
    expect(run.panic!.message).toMatch(/^clock panic: a backward step of 100000\.?\d* s exceeds the startup-step-panic-threshold of 86400\.0 s/);
    expect(steps(run)).toEqual([]);
    expect(run.error[Math.floor(run.panic!.at)]).toBeCloseTo(100_000, 0);
  });

  it("a clock 100 000 s behind: forward steps are unlimited at start-up (ntpd-rs default), stepped", async () => {
    const run = await runScenario(initialStep(1, -100_000));
    expect(run.panic).toBeNull();
    expect(steps(run)).toHaveLength(1);
    expect(errorStats(run.error, 600).max).toBeLessThan(1e-3);
  });

  it("after sync, every server jumps 2000 s: held as a spike for the 900 s stepout, then panic (single-step limit 1000 s)", async () => {
    const servers = goodServers(5, { kind: "exponential", scale: 1e-4 }, { offsetJumps: [{ at: 3600, by: 2000 }] });
    const run = await runScenario({ seed: 1, duration: 3 * 3600, clock: { initialOffset: 0.01, frequencyPpm: 5 }, servers });
    expect(run.panic).not.toBeNull();
    expect(run.panic!.at).toBeGreaterThan(3600 + 900);
    expect(run.panic!.message).toMatch(/forward step of 2000.* exceeds the single-step-panic-threshold of 1000\.00 s/);
    expect(steps(run)).toEqual([]);
  });

  it("after sync, every server jumps 5 s: stepped once after the stepout, no panic", async () => {
    const servers = goodServers(5, { kind: "exponential", scale: 1e-4 }, { offsetJumps: [{ at: 3600, by: 5 }] });
    const run = await runScenario({ seed: 2, duration: 3 * 3600, clock: { initialOffset: 0.01, frequencyPpm: 5 }, servers });
    expect(run.panic).toBeNull();
    const s = steps(run);
    expect(s).toHaveLength(1);
    expect(s[0]!.at).toBeGreaterThanOrEqual(3600 + 900);
    expect((s[0]!.action as { offset: number }).offset).toBeCloseTo(5, 2);
    // The clock now follows the servers (5 s ahead of true time).
    expect(Math.abs(run.error[run.error.length - 1]! - 5)).toBeLessThan(1e-3);
  });
});
