// The simulator's own parts: seeded randomness, links, the event queue, determinism of whole runs.
import { describe, expect, it } from "vitest";
import { createRng } from "./random.js";
import { Link } from "./network.js";
import { EventQueue } from "./queue.js";
import { runScenario } from "./world.js";
import { convergence } from "./scenarios.js";

describe("random", () => {
  it("is reproducible per seed and differs between seeds", () => {
    const a = createRng(7), b = createRng(7), c = createRng(8);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
  });

  it("distributions have the right means", () => {
    const r = createRng(1);
    const n = 20000;
    let u = 0, e = 0, g = 0, g2 = 0;
    for (let i = 0; i < n; i++) {
      u += r.uniform(2, 4);
      e += r.exponential(3);
      const x = r.normal();
      g += x;
      g2 += x * x;
    }
    expect(u / n).toBeCloseTo(3, 1);
    expect(e / n).toBeCloseTo(3, 0);
    expect(g / n).toBeCloseTo(0, 1);
    expect(g2 / n).toBeCloseTo(1, 1);
  });
});

describe("links", () => {
  it("base delay splits by asymmetry; outages and loss drop datagrams", () => {
    const link = new Link({ baseDelay: 0.02, asymmetry: 0.5, outages: [{ from: 10, to: 20 }] }, createRng(1));
    expect(link.transit(0, true)).toBeCloseTo(0.015, 12);
    expect(link.transit(0, false)).toBeCloseTo(0.005, 12);
    expect(link.transit(15, true)).toBeNull();
    expect(link.transit(20, true)).not.toBeNull();
    const lossy = new Link({ baseDelay: 0.01, loss: 0.3 }, createRng(2));
    let lost = 0;
    for (let i = 0; i < 10000; i++) if (lossy.transit(i, true) === null) lost++;
    expect(lost / 10000).toBeCloseTo(0.3, 1);
  });

  it("jitter is never negative and has the chosen scale", () => {
    for (const kind of ["uniform", "exponential", "normal"] as const) {
      const link = new Link({ baseDelay: 0, jitter: { kind, scale: 1e-3 } }, createRng(3));
      let sum = 0;
      for (let i = 0; i < 5000; i++) {
        const d = link.transit(i, true)!;
        expect(d).toBeGreaterThanOrEqual(0);
        sum += d;
      }
      const mean = sum / 5000;
      expect(mean).toBeGreaterThan(0.3e-3);
      expect(mean).toBeLessThan(1.2e-3);
    }
  });
});

describe("event queue", () => {
  it("pops in time order, ties in insertion order", () => {
    const q = new EventQueue();
    const seen: string[] = [];
    for (const [at, name] of [[3, "c"], [1, "a"], [2, "b1"], [2, "b2"], [0, "z"]] as const) q.push(at, () => seen.push(name));
    for (let e = q.pop(); e !== undefined; e = q.pop()) e.run();
    expect(seen).toEqual(["z", "a", "b1", "b2", "c"]);
  });
});

describe("whole runs", () => {
  it("the same seed gives the same run, another seed another", async () => {
    const jitter = { kind: "exponential", scale: 1e-3 } as const;
    const a = await runScenario(convergence(5, jitter, 1800));
    const b = await runScenario(convergence(5, jitter, 1800));
    const c = await runScenario(convergence(6, jitter, 1800));
    expect(Array.from(b.error)).toEqual(Array.from(a.error));
    expect(b.clockEvents).toEqual(a.clockEvents);
    expect(Array.from(c.error)).not.toEqual(Array.from(a.error));
  });

  it("observe mode: the real selection runs, the clock is never touched", async () => {
    const scenario = convergence(1, { kind: "exponential", scale: 1e-4 }, 1800);
    scenario.observe = true;
    const run = await runScenario(scenario);
    expect(run.clockEvents).toEqual([]);
    expect(run.rounds.ok).toBeGreaterThan(10);
    expect(run.error[1800]).toBeCloseTo(-0.05 + 20e-6 * 1800, 4);
  });
});

describe("path asymmetry", () => {
  it("shifts the clock by half the difference of the one-way delays, which no NTP client can see", async () => {
    const scenario = convergence(3, { kind: "exponential", scale: 1e-5 }, 3 * 3600);
    // 10 ms round trip split 6 ms out, 4 ms back: the clock settles 1 ms ahead of true time.
    for (const s of scenario.servers) s.link.asymmetry = 0.2;
    const run = await runScenario(scenario);
    const tail = run.error.subarray(3600);
    const mean = tail.reduce((a, b) => a + b, 0) / tail.length;
    expect(mean).toBeCloseTo(0.001, 4);
  });
});
