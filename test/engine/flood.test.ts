// A bounded flood from many source addresses (127.0.1.1–127.0.1.48) against each engine with the
// same [[server]] config: rate limiting and counters behave the same in the batch engine as in the
// node:dgram engine, and a well-behaved client keeps getting time answers throughout.
//
// Traffic (both engines): 4 rounds, 600 ms apart; per round each flood address sends 10 requests
// back to back (1,920 in all), and the valid client 127.0.0.9 sends one (below its limit).
// Policy: one request per 0.5 s per address, burst 4, one in 4 over-limit requests gets KoD RATE.
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../ts/config/index.js";
import { SystemClock } from "../../ts/clock/system-clock.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { MetricsRegistry } from "../../ts/observe/metrics.js";
import { systemStateFor } from "../../ts/daemon/daemon.js";
import { NtpServer, type KernelCounters } from "../../ts/daemon/ntp-server.js";
import { DgramServerTransport } from "../../ts/daemon/server-transport.js";
import { createRequestKernel, policyOptionsFor } from "../../ts/daemon/request-kernel.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { BatchServer } from "../../ts/daemon/batch-engine.js";
import { Client, batchEngineAvailable, fields, request, until } from "./support.js";

const CONFIG = `
[synchronization]
local-stratum = 8
[[server]]
listen = "127.0.0.1:123"
rate-limit = { interval = 0.5, burst = 4, kod-one-in = 4 }
`;
const FLOOD_ADDRESSES = 48;
const ROUNDS = 4;
const PER_ROUND = 10;
const ROUND_MS = 600; // > the 0.5 s interval with margin: one new token per round
const TOTAL = FLOOD_ADDRESSES * ROUNDS * PER_ROUND + ROUNDS;

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface FloodResult {
  counters: KernelCounters;
  /** Time answers and KoD RATE answers per flood address. */
  answered: number[];
  kod: number[];
  validAnswered: number;
}

const isRateKod = (r: Uint8Array) => fields(r).stratum === 0 && fields(r).referenceId === 0x52415445; // "RATE"

async function flood(port: number, counters: () => KernelCounters): Promise<FloodResult> {
  const flooders = await Promise.all(Array.from({ length: FLOOD_ADDRESSES }, (_, i) => Client.open(`127.0.1.${i + 1}`)));
  const valid = await Client.open("127.0.0.9");
  cleanup.push(() => [...flooders, valid].forEach((c) => c.close()));
  for (let round = 0; round < ROUNDS; round++) {
    const started = Date.now();
    await valid.send(request({ transmit: BigInt(round + 1) }), port);
    for (let k = 0; k < PER_ROUND; k++) for (const c of flooders) await c.send(request({ transmit: BigInt(k + 1) }), port);
    await new Promise((r) => setTimeout(r, Math.max(0, ROUND_MS - (Date.now() - started))));
  }
  await until(() => counters().received >= TOTAL, 3000);
  await new Promise((r) => setTimeout(r, 100)); // last replies in flight
  return {
    counters: counters(),
    answered: flooders.map((c) => c.replies.filter((r) => !isRateKod(r)).length),
    kod: flooders.map((c) => c.replies.filter(isRateKod).length),
    validAnswered: valid.replies.filter((r) => fields(r).stratum === 8).length,
  };
}

function checkInvariants(name: string, r: FloodResult): void {
  const c = r.counters;
  // Every datagram accounted for: received = Σ outcomes = what was sent.
  const outcomes = c.answered_basic + c.answered_interleaved + c.kod_rate + c.kod_deny + c.dropped_too_short + c.dropped_oversize +
    c.dropped_wrong_mode + c.dropped_bad_version + c.dropped_malformed + c.dropped_denied + c.dropped_rate_limited + c.dropped_bad_address;
  expect(c.received, `${name}: received`).toBe(TOTAL);
  expect(outcomes, `${name}: outcomes`).toBe(c.received);
  // The valid client was never limited.
  expect(r.validAnswered, `${name}: valid client answered`).toBe(ROUNDS);
  // Each flooder: burst 4, then about one per 0.5 s round (a round of slack for timing).
  for (const a of r.answered) expect(a).toBeLessThanOrEqual(4 + ROUNDS + 1);
  for (const a of r.answered) expect(a).toBeGreaterThanOrEqual(4);
  // KoD RATE for the first over-limit request of each episode and every 4th after it, the rest
  // dropped (asm/server/ratelimit.ts): per round of 6–9 over-limit requests that is 2–3, i.e.
  // between 1/4 and 1/3 of them.
  const overLimit = c.kod_rate + c.dropped_rate_limited;
  expect(c.kod_rate / overLimit).toBeGreaterThan(0.2);
  expect(c.kod_rate / overLimit).toBeLessThan(0.38);
  expect(r.kod.reduce((a, b) => a + b, 0)).toBe(c.kod_rate);
  expect(c.rate_limit_clients_added).toBeGreaterThanOrEqual(FLOOD_ADDRESSES + 1);
}

describe.skipIf(!batchEngineAvailable)("flood from many addresses", () => {
  it("limits each flooder, keeps answering a valid client, counts everything — as the dgram engine does", async () => {
    const config = parseConfig(CONFIG, "flood.toml");
    const serverConfig = config.server[0]!;
    const { core, wasm } = await loadFreshCore();
    const clock = new SystemClock((t) => core.unixToNtp(t));
    const state = systemStateFor(config, clock);

    const dgramServer = new NtpServer({
      transport: new DgramServerTransport(clock, { receiveBufferBytes: 4 << 20, sendBufferBytes: 4 << 20 }),
      clock,
      logger: silentLogger(),
      metrics: new MetricsRegistry(),
      summaryIntervalSeconds: 0,
    });
    cleanup.push(() => dgramServer.close());
    const [dgramAddress] = await dgramServer.listen([{ address: "127.0.0.1", port: 0, kernel: createRequestKernel(serverConfig, wasm, clock) }]);
    dgramServer.setSystemState(state);
    const viaDgram = await flood(Number(dgramAddress!.split(":")[1]), () => dgramServer.stats()[0]!.kernel);
    await dgramServer.close();

    const batchServer = new BatchServer({ logger: silentLogger(), workers: 1, summaryIntervalSeconds: 0 });
    cleanup.push(() => batchServer.close());
    const [batchAddress] = await batchServer.listen([{ address: "127.0.0.1", port: 0, policy: policyOptionsFor(serverConfig) }]);
    batchServer.setSystemState(state);
    const viaBatch = await flood(Number(batchAddress!.split(":")[1]), () => batchServer.stats()[0]!.kernel);

    const show = (r: FloodResult) =>
      `received ${r.counters.received}, answered ${r.counters.answered_basic}, KoD RATE ${r.counters.kod_rate}, rate-limited drops ${r.counters.dropped_rate_limited}`;
    console.log(`flood, dgram engine: ${show(viaDgram)}\nflood, batch engine: ${show(viaBatch)}`);
    checkInvariants("dgram", viaDgram);
    checkInvariants("batch", viaBatch);
    // Same policy, same traffic: the same split between answers and refusals (timing differs a little).
    const answeredDgram = viaDgram.counters.answered_basic;
    const answeredBatch = viaBatch.counters.answered_basic;
    expect(Math.abs(answeredBatch - answeredDgram)).toBeLessThanOrEqual(0.1 * answeredDgram + 5);
  });
});

describe.skipIf(!batchEngineAvailable)("rate limit across workers", () => {
  it("holds per client address even when the client spreads requests over many source ports and workers", async () => {
    const server = new BatchServer({ logger: silentLogger(), workers: 2, summaryIntervalSeconds: 0 });
    cleanup.push(() => server.close());
    const policy = { rateLimit: { interval: 30, burst: 4, kodOneIn: 0, tableSize: 1024 } };
    const [address] = await server.listen([{ address: "127.0.0.1", port: 0, policy }]);
    server.setSystemState({ leap: 0, stratum: 8, precision: -20, referenceId: 1, rootDelay: 0, rootDispersion: 0, referenceTime: 0n });
    const port = Number(address!.split(":")[1]);
    // 8 client addresses × 16 source ports × 2 requests: 32 requests per address, over both workers.
    const answeredPerAddress: number[] = [];
    const all: Client[] = [];
    for (let a = 0; a < 8; a++) {
      const ports = await Promise.all(Array.from({ length: 16 }, () => Client.open(`127.0.2.${a + 1}`)));
      all.push(...ports);
    }
    cleanup.push(() => all.forEach((c) => c.close()));
    for (let round = 0; round < 2; round++) for (const c of all) await c.send(request({ transmit: BigInt(round + 1) }), port);
    await until(() => server.engineStats()[0]!.counters.received === all.length * 2);
    await new Promise((r) => setTimeout(r, 100));
    for (let a = 0; a < 8; a++) answeredPerAddress.push(all.slice(a * 16, a * 16 + 16).reduce((n, c) => n + c.replies.length, 0));
    const c = server.engineStats()[0]!.counters;
    // Both workers served (the addresses spread over them) ...
    expect(c.received).toBe(256);
    // ... and each address got exactly its burst, as with one worker (2 × 4 without steering).
    expect(answeredPerAddress).toEqual(new Array(8).fill(4));
  });
});

