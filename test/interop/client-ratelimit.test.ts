// KoD RATE over real UDP: tock's client, polling every second, against a tock daemon whose [[server]]
// rate-limits to one request per 4 s and answers every excess request with KoD RATE (chrony 4.3 and
// NTPsec only drop or need config the harness does not expose, so the limiter here is tock's own —
// both ends are tock; the wire format is the RFC's). The client must lengthen its interval (at
// least doubling per RATE, RFC 5905 §7.4) until it is within the limit, without treating the
// server as denied. Observe mode; no peer binaries needed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig, type SourceConfig } from "../../ts/config/index.js";
import { SystemClock } from "../../ts/clock/system-clock.js";
import { NtpClient } from "../../ts/daemon/client.js";
import { startDaemon, type RunningDaemon } from "../../ts/daemon/daemon.js";
import { loadCore } from "../../ts/daemon/load-core.js";
import { DnsResolver } from "../../ts/daemon/resolver.js";
import { DgramTransport } from "../../ts/daemon/udp.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { unsynchronisedState } from "../../ts/protocol/server-policy.js";
import { freePort } from "./peers.js";

describe("tock client ↔ rate-limiting server (KoD RATE)", () => {
  let server: RunningDaemon;
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    const toml = `[synchronization]\nlocal-stratum = 8\n\n[[server]]\nlisten = "127.0.0.1:${port}"\nengine = "dgram"\nrate-limit = { interval = 4, burst = 1, kod-one-in = 1 }\n`;
    server = await startDaemon(parseConfig(toml, "ratelimit.toml"), { logger: silentLogger(), summaryIntervalSeconds: 0 });
  }, 30_000);

  afterAll(async () => {
    await server?.stop();
  });

  it("backs off its poll interval and keeps the source", async () => {
    const { core, wasm } = await loadCore();
    const clock = new SystemClock((t) => core.unixToNtp(t));
    const source: SourceConfig = {
      mode: "server", host: "127.0.0.1", port, address: `127.0.0.1:${port}`,
      pollIntervalLimits: { min: 0, max: 4 }, initialPollInterval: 0, ntpVersion: 4,
    };
    const client = new NtpClient({
      core, wasm, sources: [source], minimumAgreeingSources: 1, transport: new DgramTransport(clock), resolver: new DnsResolver(),
      precisionLog2: clock.precisionLog2, logger: silentLogger(), fallback: () => unsynchronisedState(clock.precisionLog2),
    });
    client.start();
    try {
      const end = Date.now() + 20_000;
      let s = client.report().sources[0];
      while (Date.now() < end && !(s !== undefined && s.counters.kod > 0 && s.poll >= 2)) {
        await new Promise((res) => setTimeout(res, 250));
        s = client.report().sources[0];
      }
      expect(s?.counters.kod).toBeGreaterThan(0);
      expect(s?.poll).toBeGreaterThanOrEqual(2); // from 1 s to at least 4 s: the server's limit
      expect(s?.state).not.toBe("denied");
      expect(s?.counters.samples).toBeGreaterThan(0);
    } finally {
      client.stop();
    }
  }, 40_000);
});
