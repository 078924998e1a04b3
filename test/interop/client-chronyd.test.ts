// tock's client (ts/daemon/client.ts, production I/O: node:dgram sockets, DNS, real timers, the
// system clock read-only) polling real chronyd servers on loopback. Observe mode: no discipline, so
// nothing can touch the clock; the chronyds run with -x and without CAP_SYS_TIME (peers.ts).
//   - three chronyds serving the same machine clock at `local stratum 8`: all selected or candidates,
//     combined offset near zero;
//   - two of those and one shifted +2 s with libfaketime: the shifted one is a falseticker and the
//     offset stays near zero.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SourceConfig } from "../../ts/config/index.js";
import { SystemClock } from "../../ts/clock/system-clock.js";
import { NtpClient, type ClientReport } from "../../ts/daemon/client.js";
import { loadCore } from "../../ts/daemon/load-core.js";
import { DnsResolver } from "../../ts/daemon/resolver.js";
import { DgramTransport } from "../../ts/daemon/udp.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { unsynchronisedState, type ServerSystemState } from "../../ts/protocol/server-policy.js";
import { findPeer, peerOrSkip, REQUIRE_INTEROP, startChronydServer, stopAllPeers, type ChronydServer } from "./peers.js";

const chronyd = peerOrSkip("chronyd", "chronyc", "setpriv");

/** A `[[source]] mode = "server"` entry polling fast: 1–2 s (poll-interval-limits 0..1). */
function source(port: number): SourceConfig {
  return {
    mode: "server", host: "127.0.0.1", port, address: `127.0.0.1:${port}`,
    pollIntervalLimits: { min: 0, max: 1 }, initialPollInterval: 0, ntpVersion: 4,
  };
}

async function startClient(ports: number[], minimumAgreeingSources: number) {
  const { core, wasm } = await loadCore();
  const clock = new SystemClock((t) => core.unixToNtp(t));
  const served: ServerSystemState[] = [];
  const client = new NtpClient({
    core, wasm, sources: ports.map(source), minimumAgreeingSources,
    transport: new DgramTransport(clock), resolver: new DnsResolver(), precisionLog2: clock.precisionLog2,
    logger: silentLogger(), fallback: () => unsynchronisedState(clock.precisionLog2),
    onSystemState: (s) => served.push(s),
  });
  client.start();
  return { client, served };
}

/** Polls the report until `done` holds (or the deadline passes) and returns the last one. */
async function waitFor(client: NtpClient, done: (r: ClientReport) => boolean, timeoutMs = 30_000): Promise<ClientReport> {
  const end = Date.now() + timeoutMs;
  let r = client.report();
  while (!done(r) && Date.now() < end) {
    await new Promise((res) => setTimeout(res, 250));
    r = client.report();
  }
  return r;
}

describe.skipIf(!chronyd)("tock client ↔ three chronyd servers (observe mode)", () => {
  const servers: ChronydServer[] = [];
  let shifted: ChronydServer | undefined;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startChronydServer({ stratum: 8, ipv6: false }));
    if (findPeer("faketime") !== undefined) shifted = await startChronydServer({ stratum: 8, ipv6: false, faketimeShift: 2 });
    else if (REQUIRE_INTEROP) throw new Error("libfaketime missing (REQUIRE_INTEROP=1)");
  }, 60_000);

  afterAll(stopAllPeers);

  it("selects three agreeing chronyds and reports an offset near zero", async () => {
    const { client, served } = await startClient(servers.map((s) => s.port), 3);
    try {
      const r = await waitFor(client, (x) => x.status === "ok" && x.sources.every((s) => s.state === "selected" || s.state === "candidate"));
      expect(r.status).toBe("ok");
      expect(r.observeOnly).toBe(true);
      expect(r.sources.map((s) => s.state).sort()).toEqual(["candidate", "candidate", "selected"]);
      for (const s of r.sources) {
        expect(s.stratum).toBe(8);
        expect(s.serverRefid).toBe(0x7f7f0101); // chrony's `local` reference id
        expect(Math.abs(s.offset!)).toBeLessThan(0.005);
      }
      expect(Math.abs(r.lastUpdate!.offset)).toBeLessThan(0.005);
      expect(r.lastUpdate!.stratum).toBe(9);
      // What the server half would serve now: stratum 9, refid 127.0.0.1 (the peer's address).
      expect(served.at(-1)).toMatchObject({ stratum: 9, leap: 0, referenceId: 0x7f000001 });
    } finally {
      client.stop();
    }
  }, 45_000);

  it("marks a chronyd shifted +2 s (libfaketime) a falseticker and keeps the offset near zero", async (ctx) => {
    if (shifted === undefined) return ctx.skip();
    const ports = [servers[0]!.port, servers[1]!.port, shifted.port];
    const { client } = await startClient(ports, 2);
    try {
      const isShifted = (s: { port: number }) => s.port === shifted!.port;
      const r = await waitFor(client, (x) => x.status === "ok" && x.sources.some((s) => isShifted(s) && s.state === "falseticker"));
      const bad = r.sources.find(isShifted)!;
      expect(bad.state).toBe("falseticker");
      expect(bad.offset!).toBeGreaterThan(1.9);
      expect(bad.offset!).toBeLessThan(2.1);
      expect(r.status).toBe("ok");
      for (const s of r.sources.filter((x) => !isShifted(x))) expect(["selected", "candidate"]).toContain(s.state);
      expect(Math.abs(r.lastUpdate!.offset)).toBeLessThan(0.005);
    } finally {
      client.stop();
    }
  }, 45_000);
});
