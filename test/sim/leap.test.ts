// Leap seconds end to end (issue 5): servers announce an insert/delete at the end of 30 June 2026 and
// apply it; the client arms the kernel (the simulated clock) only on the last day, the kernel applies
// it at UTC midnight, and the clock stays on UTC across it — no step. A minority announcement is ignored.
import { describe, expect, it } from "vitest";
import { runScenario, type SimRun } from "./world.js";
import { LEAP_EVENT, leapSecond } from "./scenarios.js";
import { errorStats } from "./stats.js";

const SEEDS = [1, 2];
const START = LEAP_EVENT - 2 * 3600;
const EVENT_AT = LEAP_EVENT - START;

/** max |clock − UTC| from 10 minutes on, leaving out the two seconds around the event (after an
 *  insert, UTC is one second behind elapsed time; after a delete, one ahead). */
function maxUtcError(run: SimRun, shift: number): number {
  const before = errorStats(run.error, 600, EVENT_AT - 1).max;
  const after = errorStats(run.error.map((e) => e - shift), EVENT_AT + 1).max;
  return Math.max(before, after);
}

describe("leap seconds", () => {
  for (const kind of ["insert", "delete"] as const) {
    for (const seed of SEEDS) {
      it(`${kind}, seed ${seed}: armed on the last day only, applied at midnight, clock stays on UTC`, async () => {
        const run = await runScenario(leapSecond(seed, kind));
        const leaps = run.clockEvents.filter((e) => e.action.kind === "leap");
        expect(leaps.map((e) => e.action)).toEqual([{ kind: "leap", leap: kind }, { kind: "leap", leap: "none" }]);
        expect(leaps[0]!.at).toBeLessThan(60); // the run starts on the last day: armed at the first update
        expect(leaps[1]!.at).toBeGreaterThanOrEqual(EVENT_AT - 1);
        expect(leaps[1]!.at).toBeLessThan(EVENT_AT + 5);
        // The kernel applied it: the clock moved by the leap at the event...
        const shift = kind === "insert" ? -1 : 1;
        expect(run.error[EVENT_AT + 5]! - run.error[EVENT_AT - 5]!).toBeCloseTo(shift, 3);
        // ...and stayed on UTC, with no step by the discipline.
        expect(run.clockEvents.some((e) => e.action.kind === "step")).toBe(false);
        expect(maxUtcError(run, shift)).toBeLessThan(1e-3);
      });
    }
  }

  it("one announcing server of five: no majority, not armed, no leap", async () => {
    const run = await runScenario(leapSecond(1, "insert", 1));
    expect(run.clockEvents.filter((e) => e.action.kind === "leap")).toEqual([]);
    expect(errorStats(run.error, 600).max).toBeLessThan(1e-3);
  });
});

describe("leap seconds from a leap-seconds.list", () => {
  it("a valid table arms the kernel although no source announces the leap", async () => {
    const scenario = leapSecond(1, "insert", 0);
    // The servers know of the leap (they apply it) but announce nothing; the table says so.
    for (const s of scenario.servers) s.offsetJumps = [{ at: EVENT_AT, by: -1 }];
    scenario.discipline = {
      leapTable: { entries: [{ at: Date.UTC(2017, 0, 1) / 1000, taiOffset: 37 }, { at: LEAP_EVENT, taiOffset: 38 }], expires: LEAP_EVENT + 180 * 86400, updated: LEAP_EVENT - 90 * 86400 },
    };
    const run = await runScenario(scenario);
    expect(run.clockEvents.filter((e) => e.action.kind === "leap").map((e) => e.action)).toEqual([{ kind: "leap", leap: "insert" }, { kind: "leap", leap: "none" }]);
    expect(run.clockEvents.some((e) => e.action.kind === "step")).toBe(false);
    expect(maxUtcError(run, -1)).toBeLessThan(1e-3);
  });
});
