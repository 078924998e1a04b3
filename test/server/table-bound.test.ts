// The client table's memory bound under a flood of distinct (spoofed-looking) source keys, driven
// through the batch ABI as the recvmmsg engine will: memory never grows, abusers stay limited,
// legitimate clients keep being answered.
import { describe, expect, it } from "vitest";
import { SECOND, T0, newKernel, outcomeSum, request } from "./support.js";
import { RATE_CLIENTS_PER_MIB, RATE_TABLE_BYTES_PER_CLIENT } from "../../ts/protocol/server-policy.js";

describe("rate-limit table bound", () => {
  it("documents its cost: 24 bytes per client, 43 688 clients per MiB", async () => {
    expect(RATE_TABLE_BYTES_PER_CLIENT).toBe(24);
    expect(RATE_CLIENTS_PER_MIB).toBe(43_688);
    const { kernel } = await newKernel({ rateLimit: { interval: 2, burst: 8, kodOneIn: 4, tableSize: 65_536 } });
    expect(kernel.rateTableClients).toBe(65_536);
    expect(kernel.rateTableBytes).toBe(65_536 * 24);
  });

  it("stays within its memory under 1M distinct source keys; abusers stay limited, legitimate clients answered", async () => {
    const tableSize = 4096;
    const { kernel, wasm } = await newKernel({ batchSize: 64, rateLimit: { interval: 2, burst: 8, kodOneIn: 8, tableSize } });
    const memoryBefore = wasm.exports.memory.buffer.byteLength;
    const template = request();
    for (let i = 0; i < kernel.slots; i++) kernel.memory().set(template, kernel.requestPacketOffset(i));

    const v4 = new Uint8Array(4);
    const v6 = new Uint8Array(16);
    const legit = Uint8Array.of(192, 0, 2, 10);
    const abuser = Uint8Array.of(198, 51, 100, 66);
    const FLOOD = 1_000_000;
    // 10 000 spoofed requests per second of virtual time: the flood lasts 100 s.
    const step = SECOND / 10_000n;
    let t = T0;
    let spoofed = 0;
    let legitSent = 0;
    let legitAnswered = 0;
    let abuserSent = 0;
    let abuserAnswered = 0;
    let abuserKod = 0;
    let nextLegit = T0;
    let nextAbuser = T0;
    while (spoofed < FLOOD) {
      const slots: Array<"spoof" | "legit" | "abuser"> = [];
      for (let i = 0; i < kernel.slots && spoofed < FLOOD; i++) {
        t += step;
        const hi = Number(t >> 32n);
        const lo = Number(t & 0xffffffffn);
        if (t >= nextLegit) {
          // A legitimate client polling every 8 s.
          nextLegit += 8n * SECOND;
          kernel.setRequestMeta(i, 48, 4, legit, 123, hi, lo);
          slots.push("legit");
          legitSent++;
        } else if (t >= nextAbuser) {
          // An abusive client at 20 requests/s (10× its allowance).
          nextAbuser += SECOND / 20n;
          kernel.setRequestMeta(i, 48, 4, abuser, 123, hi, lo);
          slots.push("abuser");
          abuserSent++;
        } else if (spoofed % 2 === 0) {
          // Spoofed IPv4 sources, every one distinct.
          const n = spoofed >>> 1;
          v4[0] = 100 + (n >>> 24); v4[1] = (n >>> 16) & 255; v4[2] = (n >>> 8) & 255; v4[3] = n & 255;
          kernel.setRequestMeta(i, 48, 4, v4, 123, hi, lo);
          slots.push("spoof");
          spoofed++;
        } else {
          // Spoofed IPv6 sources, each in its own /64.
          const n = spoofed;
          v6[0] = 0x20; v6[1] = 0x01; v6[2] = 0x0d; v6[3] = 0xb8;
          v6[4] = (n >>> 24) & 255; v6[5] = (n >>> 16) & 255; v6[6] = (n >>> 8) & 255; v6[7] = n & 255;
          v6[15] = 1;
          kernel.setRequestMeta(i, 48, 6, v6, 123, hi, lo);
          slots.push("spoof");
          spoofed++;
        }
      }
      kernel.handleBatch(slots.length, Number(t >> 32n), Number(t & 0xffffffffn));
      slots.forEach((who, i) => {
        const outcome = kernel.responseOutcome(i);
        if (who === "legit" && outcome === 1) legitAnswered++;
        if (who === "abuser" && outcome === 1) abuserAnswered++;
        if (who === "abuser" && outcome === 3) abuserKod++;
      });
    }

    expect(wasm.exports.memory.buffer.byteLength).toBe(memoryBefore);
    const c = kernel.counters();
    expect(c.received).toBe(FLOOD + legitSent + abuserSent);
    expect(outcomeSum(c)).toBe(c.received);
    // Every spoofed key was new; the table replaced entries instead of growing.
    expect(c.rate_limit_clients_added).toBeGreaterThanOrEqual(FLOOD);
    expect(c.rate_limit_clients_evicted).toBeGreaterThanOrEqual(FLOOD - tableSize);
    // The legitimate client was answered every time.
    expect(legitSent).toBeGreaterThan(10);
    expect(legitAnswered).toBe(legitSent);
    // The abuser, ~2000 requests over 100 s, got its burst and one answer per 2 s — its entry
    // survived the churn because its demand is the most recent in its bucket.
    expect(abuserSent).toBeGreaterThan(1900);
    expect(abuserAnswered).toBeLessThanOrEqual(8 + 51);
    expect(abuserKod).toBeGreaterThan(0);
    expect(abuserKod).toBeLessThanOrEqual(Math.ceil((abuserSent - abuserAnswered) / 8) + 50);
  });
});
