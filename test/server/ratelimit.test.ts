// Rate limiting over virtual time: burst then drop, KoD RATE at the configured rate, other clients
// unaffected, IPv6 keyed by /64, recovery, clock steps, and agreement with a reference model.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { SECOND, T0, fields, newKernel, outcomeSum, request } from "./support.js";

type Kernel = Awaited<ReturnType<typeof newKernel>>["kernel"];
const at = (k: Kernel, addr: string, t: bigint, poll = 6) => k.handleOne(request({ poll }), addr, 123, t, t + 100n);

describe("rate limiting", () => {
  const limit = { interval: 2, burst: 8, kodOneIn: 4, tableSize: 4096 };

  it("lets a burst through, then drops, answering one in kodOneIn over-limit requests with KoD RATE", async () => {
    const { kernel } = await newKernel({ rateLimit: limit });
    const outcomes = Array.from({ length: 20 }, (_, i) => at(kernel, "192.0.2.1", T0 + BigInt(i) * 1000n).outcome);
    expect(outcomes.slice(0, 8)).toEqual(Array(8).fill("answered_basic"));
    // Over-limit requests 1, 5, 9 get a KoD (the first, then every 4th); the rest are dropped.
    expect(outcomes.slice(8)).toEqual(["kod_rate", "dropped_rate_limited", "dropped_rate_limited", "dropped_rate_limited",
      "kod_rate", "dropped_rate_limited", "dropped_rate_limited", "dropped_rate_limited",
      "kod_rate", "dropped_rate_limited", "dropped_rate_limited", "dropped_rate_limited"]);
    // Meanwhile another address is answered as usual.
    expect(at(kernel, "192.0.2.2", T0 + 30_000n).outcome).toBe("answered_basic");
    const c = kernel.counters();
    expect(c).toMatchObject({ received: 21, answered_basic: 9, kod_rate: 3, dropped_rate_limited: 9 });
    expect(outcomeSum(c)).toBe(c.received);
  });

  it("sends a well-formed KoD RATE that suggests a longer poll", async () => {
    const { kernel } = await newKernel({ rateLimit: { interval: 16, burst: 1, kodOneIn: 1, tableSize: 64 } });
    at(kernel, "192.0.2.1", T0);
    const r = at(kernel, "192.0.2.1", T0 + SECOND, 0);
    expect(r.outcome).toBe("kod_rate");
    expect(fields(r.response!)).toMatchObject({ length: 48, leap: 3, mode: 4, stratum: 0, refIdText: "RATE", poll: 4, origin: T0 });
  });

  it("floods from one address are mostly dropped; a few KoD RATE; other addresses keep being answered", async () => {
    const { kernel } = await newKernel({ rateLimit: limit });
    let t = T0;
    let otherAnswered = 0;
    for (let i = 0; i < 10_000; i++) {
      t += SECOND / 1000n; // 1000 requests/s from the flooder
      at(kernel, "198.51.100.66", t);
      if (i % 2000 === 0) otherAnswered += at(kernel, "203.0.113.5", t).outcome === "answered_basic" ? 1 : 0;
    }
    const c = kernel.counters();
    // 10 s at one request per 2 s after a burst of 8: 8 + 5 answers, the rest limited.
    expect(c.answered_basic - otherAnswered).toBeLessThanOrEqual(14);
    expect(c.kod_rate).toBeGreaterThan(2000);
    expect(c.kod_rate).toBeLessThan(2600); // ≈ 1 in 4 of ~9 987 over-limit requests
    expect(c.dropped_rate_limited).toBeGreaterThan(7000);
    expect(otherAnswered).toBe(5);
    expect(outcomeSum(c)).toBe(c.received);
  });

  it("a client polling at the allowed rate is always answered; at twice the rate, half the time", async () => {
    const { kernel } = await newKernel({ rateLimit: { interval: 2, burst: 2, kodOneIn: 0, tableSize: 64 } });
    const steady = Array.from({ length: 50 }, (_, i) => at(kernel, "192.0.2.10", T0 + BigInt(i) * 2n * SECOND).outcome);
    expect(steady.every((o) => o === "answered_basic")).toBe(true);
    const fast = Array.from({ length: 100 }, (_, i) => at(kernel, "192.0.2.11", T0 + BigInt(i) * SECOND).outcome);
    const answered = fast.filter((o) => o === "answered_basic").length;
    expect(answered).toBeGreaterThanOrEqual(50);
    expect(answered).toBeLessThanOrEqual(52); // burst of 2, then one per 2 s
    expect(fast.includes("kod_rate")).toBe(false); // kodOneIn 0: never a KoD
  });

  it("refills: after burst × interval of silence a full burst is allowed again", async () => {
    const { kernel } = await newKernel({ rateLimit: limit });
    for (let i = 0; i < 30; i++) at(kernel, "192.0.2.1", T0);
    const later = T0 + 16n * SECOND;
    const outcomes = Array.from({ length: 9 }, () => at(kernel, "192.0.2.1", later).outcome);
    expect(outcomes.slice(0, 8).every((o) => o === "answered_basic")).toBe(true);
    expect(outcomes[8]).toBe("kod_rate");
  });

  it("keys IPv6 clients by /64 and IPv4 clients by address (mapped or not)", async () => {
    const { kernel } = await newKernel({ rateLimit: { interval: 10, burst: 1, kodOneIn: 0, tableSize: 64 } });
    expect(at(kernel, "2001:db8:1:2::1", T0).outcome).toBe("answered_basic");
    expect(at(kernel, "2001:db8:1:2:ffff::9", T0).outcome).toBe("dropped_rate_limited"); // same /64
    expect(at(kernel, "2001:db8:1:3::1", T0).outcome).toBe("answered_basic"); // next /64
    expect(at(kernel, "192.0.2.1", T0).outcome).toBe("answered_basic");
    expect(at(kernel, "::ffff:192.0.2.1", T0).outcome).toBe("dropped_rate_limited"); // the same IPv4 client
    expect(at(kernel, "192.0.2.2", T0).outcome).toBe("answered_basic");
  });

  it("recovers at once when the clock is stepped back instead of limiting for the step's length", async () => {
    const { kernel } = await newKernel({ rateLimit: { interval: 1, burst: 1, kodOneIn: 0, tableSize: 64 } });
    expect(at(kernel, "192.0.2.1", T0).outcome).toBe("answered_basic");
    expect(at(kernel, "192.0.2.1", T0 - 3600n * SECOND).outcome).toBe("answered_basic");
  });

  it("does not limit at all without a rate-limit configuration", async () => {
    const { kernel } = await newKernel();
    for (let i = 0; i < 1000; i++) expect(at(kernel, "192.0.2.1", T0).outcome).toBe("answered_basic");
  });

  it("matches a reference token-bucket model on random schedules (no evictions)", async () => {
    const { kernel } = await newKernel({ rateLimit: { interval: 1, burst: 3, kodOneIn: 2, tableSize: 4096 } });
    let epoch = T0;
    // Time in ticks of 1/1024 s, exact in 32.32 units, so boundaries (exactly one token) are exact too.
    const gap = fc.oneof(fc.constantFrom(0, 0, 128, 256, 512, 1024, 3072), fc.integer({ min: 0, max: 600 }));
    fc.assert(
      fc.property(fc.array(fc.record({ client: fc.integer({ min: 0, max: 2 }), gap }), { minLength: 1, maxLength: 200 }),
        (schedule) => {
          epoch += 100_000n * SECOND; // far from the previous run: every client starts afresh
          const net = Number((epoch / SECOND) % 200n);
          // Model in integer ticks: up to 3 tokens, one more every 1024 ticks (1 s); drops counted
          // since the last answer for the one-in-2 KoD pattern.
          const state = new Map<number, { t: number; tokens: number; drops: number }>();
          let now = 0;
          for (const { client, gap: g } of schedule) {
            now += g;
            const s = state.get(client) ?? { t: now, tokens: 3 * 1024, drops: 0 };
            s.tokens = Math.min(3 * 1024, s.tokens + (now - s.t));
            s.t = now;
            let expected: string;
            if (s.tokens >= 1024) {
              s.tokens -= 1024;
              s.drops = 0;
              expected = "answered_basic";
            } else {
              expected = s.drops % 2 === 0 ? "kod_rate" : "dropped_rate_limited";
              s.drops++;
            }
            state.set(client, s);
            const rx = epoch + BigInt(now) * (SECOND / 1024n);
            expect(at(kernel, `10.${net}.0.${client}`, rx).outcome).toBe(expected);
          }
        }),
      { numRuns: 200 },
    );
  });
});
