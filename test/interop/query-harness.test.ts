// The interop harness itself (test/interop/peers.ts), which other interop tests build on: the
// one-shot client runners agree with tock query about sign and size of an offset, the port lock
// excludes, the parsers read what the real tools print, and teardown leaves nothing running.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { realDeps, runQuery } from "../../ts/cli/query.js";
import {
  acquireLock,
  findPeer,
  freePort,
  parseChronycTracking,
  parseNtpqVariables,
  peerOrSkip,
  privateTempDir,
  runChronydClient,
  startChronydServer,
  stopAllPeers,
  REQUIRE_INTEROP,
  type ChronydServer,
} from "./peers.js";

describe("harness utilities", () => {
  it("freePort returns distinct bindable loopback ports", async () => {
    const ports = await Promise.all([freePort(), freePort({ tcp: true }), freePort()]);
    for (const port of ports) {
      expect(port).toBeGreaterThan(1023);
      expect(port).toBeLessThan(65536);
    }
  });

  it("privateTempDir is mode 700 and removed by stopAllPeers", async () => {
    const dir = privateTempDir();
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    await stopAllPeers();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it("acquireLock excludes a second holder until released", async () => {
    const name = `selftest-${process.pid}`;
    const release = await acquireLock(name);
    await expect(acquireLock(name, 300)).rejects.toThrow(/timed out/);
    release();
    const again = await acquireLock(name, 300);
    again();
  });

  it("peerOrSkip finds installed tools and, for missing ones, skips or throws under REQUIRE_INTEROP", () => {
    if (findPeer("chronyd") !== undefined) expect(peerOrSkip("chronyd")).toMatch(/chronyd$/);
    const missing = () => peerOrSkip("chronyd", "no-such-peer" as "chronyd");
    if (REQUIRE_INTEROP) expect(missing).toThrow(/no-such-peer/);
    else expect(missing()).toBeUndefined();
  });

  it("parses chronyc -c tracking and ntpq variable lists as the tools print them", () => {
    const tracking = parseChronycTracking(
      "7F7F0101,,8,1795380336.449396770,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal\n",
    );
    expect(tracking).toEqual({ referenceIdHex: "7F7F0101", referenceName: "", stratum: 8, rootDelay: 0, rootDispersion: 0, leapStatus: "Normal" });
    expect(parseNtpqVariables("leap=00, stratum=8, precision=-24, rootdelay=0.0, rootdisp=0.0,\nrefid=127.0.0.1\n")).toEqual({
      leap: "00",
      stratum: "8",
      precision: "-24",
      rootdelay: "0.0",
      rootdisp: "0.0",
      refid: "127.0.0.1",
    });
  });
});

const chronyd = peerOrSkip("chronyd", "chronyc", "setpriv", "faketime");

describe.skipIf(!chronyd)("one-shot chronyd client (for tests of tock as a server)", () => {
  let ahead: ChronydServer;

  beforeAll(async () => {
    ahead = await startChronydServer({ stratum: 5, faketimeShift: 2, ipv6: false });
  }, 30_000);

  afterAll(stopAllPeers);

  it("measures a server 2 s ahead as +2 s, agreeing with tock query on the sign", async () => {
    const client = await runChronydClient({ port: ahead.port, timeoutS: 15 });
    expect(client.output).toMatch(/System clock wrong by/);
    expect(client.offset).toBeGreaterThan(1.95);
    expect(client.offset).toBeLessThan(2.05);

    const out: string[] = [];
    const code = await runQuery(["--json", `127.0.0.1:${ahead.port}`], { ...(await realDeps()), stdout: (t) => out.push(t), stderr: () => undefined });
    expect(code).toBe(0);
    const tock = JSON.parse(out.join("")) as { offset: number };
    expect(Math.abs(tock.offset - (client.offset ?? 0))).toBeLessThan(0.01);
  });

  it("stopAllPeers kills every daemon it started", async () => {
    const pid = ahead.process.pid;
    await stopAllPeers();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
