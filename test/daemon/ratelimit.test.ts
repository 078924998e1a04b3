// Rate limiting end to end: one address flooding is mostly dropped and gets a few KoD RATE, while
// another address (127.0.0.2) is still answered normally.
import { afterAll, describe, expect, it } from "vitest";
import { ENGINES, built, clientRequest, collector, decodeResponse, freeUdpPort, metricSum, send, sleep, startDaemon, stopAll, until } from "./process-helpers.js";

afterAll(stopAll);

const FLOOD = 2000;

describe.skipIf(!built).each(ENGINES)("rate limit end to end (engine %s)", (engine) => {
  it("drops a flooding address, sends it some KoD RATE, keeps serving another address", { timeout: 60_000 }, async () => {
    const port = await freeUdpPort();
    const d = await startDaemon(
      `[synchronization]\nlocal-stratum = 8\n\n[[server]]\nlisten = "127.0.0.1:${port}"\nrate-limit = { interval = 1, burst = 4, kod-one-in = 8 }\nengine = "${engine}"\n`,
    );
    const flooder = await collector("127.0.0.1");
    const other = await collector("127.0.0.2");
    try {
      const started = Date.now();
      for (let i = 0; i < FLOOD; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, k) => send(flooder.socket, clientRequest(BigInt(i + k + 1)), port, "127.0.0.1")));
        await sleep(1);
      }
      const seconds = (Date.now() - started) / 1000;
      await sleep(200);
      const replies = flooder.received.map(decodeResponse);
      const kods = replies.filter((r) => r.stratum === 0 && r.referenceId === "RATE");
      const times = replies.filter((r) => r.stratum === 8);
      // At most the burst plus one token per interval elapsed (and one of slack for timing).
      expect(times.length).toBeLessThanOrEqual(4 + Math.ceil(seconds / 1) + 1);
      expect(times.length).toBeGreaterThanOrEqual(4);
      expect(kods.length).toBeGreaterThan(0);
      expect(kods.length).toBeLessThan(FLOOD / 4);
      expect(kods.every((k) => k.leap === 3 && k.length === 48)).toBe(true);

      // Another client address is unaffected.
      for (let i = 0; i < 3; i++) await send(other.socket, clientRequest(0xabc0n + BigInt(i)), port, "127.0.0.1");
      expect(await until(() => other.received.length === 3)).toBe(true);
      expect(other.received.map((r) => decodeResponse(r).stratum)).toEqual([8, 8, 8]);

      // The batch engine's workers publish counters every few tens of ms: poll briefly.
      let m = await d.metrics();
      for (let i = 0; i < 40 && metricSum(m, "ntp_server_received_packets_total") < FLOOD + 3; i++) m = await sleep(50).then(() => d.metrics());
      expect(metricSum(m, "ntp_server_received_packets_total")).toBe(FLOOD + 3);
      expect(metricSum(m, "ntp_server_kod_packets_total", 'code="RATE"')).toBe(kods.length);
      expect(metricSum(m, "ntp_server_dropped_packets_total", 'reason="rate_limited"')).toBe(FLOOD - kods.length - times.length);
      expect(metricSum(m, "ntp_server_accepted_packets_total")).toBe(times.length + 3);
    } finally {
      await flooder.close();
      await other.close();
    }
    expect((await d.stop()).code).toBe(0);
  });
});
