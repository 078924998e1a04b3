// The standard scenarios, shared by the CI assertions (test/sim/*.test.ts) and bench/accuracy.ts.
// Each is a function of the seed (and a few knobs) returning ScenarioOptions for runScenario().
import type { Jitter } from "./network.js";
import type { ScenarioOptions, SimServerSpec } from "./world.js";

/** Link base delay (s, round trip) used everywhere unless a scenario says otherwise. */
export const BASE_DELAY = 0.01;
/** The starting point: 50 ms off and 20 ppm fast. */
export const START_OFFSET = -0.05;
export const START_FREQUENCY_PPM = 20;

export function goodServers(count: number, jitter: Jitter, extra: Partial<SimServerSpec> = {}): SimServerSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `good${i + 1}`,
    // Real servers are not perfect either: a few µs of their own error.
    offset: (i - (count - 1) / 2) * 2e-6,
    stratum: 1,
    link: { baseDelay: BASE_DELAY, jitter },
    ...extra,
  }));
}

/** Convergence: 5 good servers, the given jitter on each direction, 4 hours. */
export function convergence(seed: number, jitter: Jitter, duration = 4 * 3600): ScenarioOptions {
  return {
    seed,
    duration,
    clock: { initialOffset: START_OFFSET, frequencyPpm: START_FREQUENCY_PPM },
    servers: goodServers(5, jitter),
  };
}

/**
 * Five servers of which `bad` are falsetickers; agreeing = the bad ones agree with each other. One or
 * two are wrong by 60–150 ms: far beyond the good servers' root distance, below the step threshold, so
 * a clock that followed them would visibly move. Three disagreeing ones are wrong by seconds, so that
 * not even the wide intervals of the first polls (a filter with few samples has a dispersion of
 * hundreds of ms) let two of them overlap with the good ones into a false majority.
 */
export function falsetickers(seed: number, bad: number, agreeing: boolean): ScenarioOptions {
  const jitter: Jitter = { kind: "exponential", scale: 1e-4 };
  const servers = goodServers(5 - bad, jitter);
  const wrong = agreeing ? [0.08, 0.08, 0.08] : bad < 3 ? [0.06, -0.09] : [3, -5, 8];
  for (let i = 0; i < bad; i++) {
    servers.push({ name: `bad${i + 1}`, offset: wrong[i]!, stratum: 1, link: { baseDelay: BASE_DELAY, jitter } });
  }
  return {
    seed,
    duration: 2 * 3600,
    clock: { initialOffset: 0.002, frequencyPpm: 5 },
    servers,
  };
}

export function initialStep(seed: number, initialOffset: number, duration = 3600): ScenarioOptions {
  return {
    seed,
    duration,
    clock: { initialOffset, frequencyPpm: START_FREQUENCY_PPM },
    servers: goodServers(5, { kind: "exponential", scale: 1e-4 }),
  };
}

/** All links down for an hour (from 2 h to 3 h), 5 h in total. */
export function outage(seed: number): ScenarioOptions {
  const o = convergence(seed, { kind: "exponential", scale: 1e-4 }, 5 * 3600);
  for (const s of o.servers) s.link.outages = [{ from: 2 * 3600, to: 3 * 3600 }];
  return o;
}

/** A temperature change: the oscillator jumps from 20 to 22 ppm at 2 h. */
export function frequencyJump(seed: number, ppm = 2): ScenarioOptions {
  const o = convergence(seed, { kind: "exponential", scale: 1e-4 }, 4 * 3600);
  o.clock.frequencyJumps = [{ at: 2 * 3600, ppm: START_FREQUENCY_PPM + ppm }];
  return o;
}

/**
 * A leap second at the end of 30 June 2026: the run starts at 22:00 UTC, the servers announce it
 * (leap indicator) from the start until the event and apply it themselves (their UTC repeats or
 * skips a second), like real servers. `announcers` of the 5 servers announce it.
 */
export const LEAP_EVENT = Date.UTC(2026, 6, 1) / 1000;
export function leapSecond(seed: number, kind: "insert" | "delete", announcers = 5): ScenarioOptions {
  const start = LEAP_EVENT - 2 * 3600;
  const eventAt = LEAP_EVENT - start;
  const servers = goodServers(5, { kind: "exponential", scale: 1e-4 });
  servers.forEach((s, i) => {
    s.leap = (t) => (i < announcers && t < eventAt ? (kind === "insert" ? 1 : 2) : 0);
    // An inserted second: UTC (and the clock of every server that knew of it) falls one second
    // behind elapsed time.
    if (i < announcers) s.offsetJumps = [{ at: eventAt, by: kind === "insert" ? -1 : 1 }];
  });
  return {
    seed,
    duration: 4 * 3600,
    startUnix: start,
    clock: { initialOffset: 0.01, frequencyPpm: 10 },
    servers,
  };
}
