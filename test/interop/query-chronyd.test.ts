// `tock query` against a real chronyd (Debian's chrony 4.x) serving on loopback with `local stratum 8`:
// what we decode must be what chronyd says about itself (chronyc tracking), and since both ends read
// the same system clock, the offset must be close to zero. A second chronyd, shifted +2 s with
// libfaketime, checks the SIGN and size of the offset; a third one with no time source checks how
// an unsynchronised server is reported.
import path from "node:path";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../ts/cli/query.js";
import { runTockQuery } from "./tock-query.js";
import { packageRoot } from "../../ts/daemon/load-core.js";
import { peerOrSkip, startChronydServer, stopAllPeers, findPeer, REQUIRE_INTEROP, type ChronydServer } from "./peers.js";
import { runProcess } from "../daemon/process-helpers.js";

const chronyd = peerOrSkip("chronyd", "chronyc", "setpriv");

interface QueryJson {
  status: string;
  exitCode: number;
  address: string;
  family: number;
  offset: number;
  delay: number;
  stratum: number;
  referenceId: string;
  referenceIdHex: string;
  leap: number;
  rootDelay: number;
  rootDispersion: number;
  version: number;
  samplesValid: number;
}

/** Runs `tock query` in-process with the production wiring (real clock, sockets, DNS, WASM). */
const tockQuery = (...argv: string[]) => runTockQuery<QueryJson>(argv);

/** chronyc's "Leap status" words for RFC 5905 leap indicator values. */
const CHRONY_LEAP: Record<string, number> = { Normal: 0, "Insert second": 1, "Delete second": 2, "Not synchronised": 3 };

describe.skipIf(!chronyd)("tock query ↔ chronyd", () => {
  let server: ChronydServer;
  let shifted: ChronydServer;
  let unsynced: ChronydServer;

  beforeAll(async () => {
    server = await startChronydServer({ stratum: 8 });
    // Faketime shifts need |shift| ≥ 1 s (PEERS.md); skip that server if libfaketime is missing.
    if (findPeer("faketime") !== undefined) shifted = await startChronydServer({ stratum: 9, faketimeShift: 2, ipv6: false });
    else if (REQUIRE_INTEROP) throw new Error("libfaketime missing (REQUIRE_INTEROP=1)");
    // No `local` directive: chronyd has no time to serve and says so with leap 3.
    unsynced = await startChronydServer({ stratum: null, ipv6: false });
  }, 60_000);

  afterAll(stopAllPeers);

  it("decodes stratum, reference id and leap exactly as chronyc tracking reports them", async () => {
    const tracking = await server.tracking();
    const { code, json } = await tockQuery("--samples", "3", "--interval", "50", `127.0.0.1:${server.port}`);
    expect(code).toBe(ExitCode.Ok);
    expect(json.status).toBe("ok");
    expect(json.stratum).toBe(8);
    expect(json.stratum).toBe(tracking.stratum);
    expect(json.referenceIdHex).toBe(tracking.referenceIdHex); // 7F7F0101, chrony's "local" refid
    expect(json.referenceId).toBe("127.127.1.1");
    expect(json.leap).toBe(CHRONY_LEAP[tracking.leapStatus]);
    expect(json.version).toBe(4);
    expect(json.rootDelay).toBeCloseTo(tracking.rootDelay, 3);
    expect(json.rootDispersion).toBeLessThan(tracking.rootDispersion + 0.001);
    expect(json.samplesValid).toBe(3);
  });

  it("measures an offset within a few ms of zero (both ends read the same clock)", async () => {
    const { json } = await tockQuery("--samples", "4", "--interval", "20", `127.0.0.1:${server.port}`);
    expect(Math.abs(json.offset)).toBeLessThan(0.003);
    expect(json.delay).toBeGreaterThanOrEqual(0);
    expect(json.delay).toBeLessThan(0.05);
  });

  it("queries over IPv6 loopback ([::1]:port)", async (ctx) => {
    if (!server.ipv6) return ctx.skip();
    const { code, json } = await tockQuery(`[::1]:${server.port}`);
    expect(code).toBe(ExitCode.Ok);
    expect(json).toMatchObject({ address: "::1", family: 6, stratum: 8, referenceIdHex: "7F7F0101" });
    expect(Math.abs(json.offset)).toBeLessThan(0.003);
  });

  it("resolves names (localhost, IPv4 only with -4)", async () => {
    const { code, json } = await tockQuery("-4", `localhost:${server.port}`);
    expect(code).toBe(ExitCode.Ok);
    expect(json).toMatchObject({ address: "127.0.0.1", family: 4, stratum: 8 });
  });

  it("reports a server 2 s ahead as offset +2 s (sign and size checked against libfaketime)", async (ctx) => {
    if (shifted === undefined) return ctx.skip();
    const { code, json } = await tockQuery("--samples", "2", "--interval", "20", `127.0.0.1:${shifted.port}`);
    expect(code).toBe(ExitCode.Ok);
    expect(json.stratum).toBe(9);
    expect(json.offset).toBeGreaterThan(1.95);
    expect(json.offset).toBeLessThan(2.05);
  });

  it("exits 6 for a chronyd with no time source (leap 3), matching chronyc's 'Not synchronised'", async () => {
    const tracking = await unsynced.tracking();
    expect(tracking.leapStatus).toBe("Not synchronised");
    const { code, json, stderr } = await tockQuery(`127.0.0.1:${unsynced.port}`);
    expect(code).toBe(ExitCode.Unsynchronised);
    expect(json).toMatchObject({ status: "unsynchronised", leap: 3 });
    expect(stderr).toBe("");
  });

  it("the installed `tock` command exits with the documented codes as a real process", async () => {
    const main = path.join(packageRoot(), "dist", "ts", "cli", "main.js");
    expect(fs.existsSync(main), "run `npm run build` first (npm test does)").toBe(true);
    const ok = await runProcess(main, ["query", `127.0.0.1:${server.port}`]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^stratum +8$/m);
    expect(ok.stdout).toMatch(/^reference id +127\.127\.1\.1 \(0x7F7F0101\)$/m);
    const unsync = await runProcess(main, ["query", `127.0.0.1:${unsynced.port}`]);
    expect(unsync.code).toBe(ExitCode.Unsynchronised);
    const usage = await runProcess(main, ["query", "--samples", "0", "127.0.0.1"]);
    expect(usage.code).toBe(ExitCode.Usage);
  });
});
