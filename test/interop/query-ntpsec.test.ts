// `tock query` against NTPsec's ntpd (Debian's ntpsec 1.2.x, unpacked in /opt/ntpsec) serving on
// loopback as an orphan parent at stratum 8: what we decode must match ntpq's system variables, and
// the offset must be near zero (same system clock). NTPsec cannot serve on a port other than 123,
// so the harness serialises its users with a machine-wide lock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../ts/cli/query.js";
import { runTockQuery } from "./tock-query.js";
import { peerOrSkip, startNtpsecServer, stopAllPeers, type NtpsecServer } from "./peers.js";

const ntpd = peerOrSkip("ntpd", "ntpq", "setpriv", "timeout");

const tockQuery = (...argv: string[]) => runTockQuery(argv);

describe.skipIf(!ntpd)("tock query ↔ NTPsec ntpd", () => {
  let server: NtpsecServer;

  beforeAll(async () => {
    server = await startNtpsecServer({ stratum: 8 });
  }, 90_000);

  afterAll(stopAllPeers);

  it("decodes stratum, reference id and leap exactly as ntpq reports them", async () => {
    const vars = await server.systemVariables();
    expect(vars.stratum).toBe("8");
    const { code, json } = await tockQuery("--samples", "3", "--interval", "50", "127.0.0.1");
    expect(code).toBe(ExitCode.Ok);
    expect(json.stratum).toBe(Number(vars.stratum));
    expect(json.referenceId).toBe(vars.refid); // orphan parent: 127.0.0.1
    expect(json.leap).toBe(Number.parseInt(vars.leap ?? "", 2)); // ntpq prints leap as two bits, "00"
    expect(json.precision).toBe(Number(vars.precision));
    expect(json.rootDelay as number).toBeCloseTo(Number(vars.rootdelay) / 1000, 4); // ntpq: milliseconds
    expect(json.version).toBe(4);
  });

  it("measures an offset within a few ms of zero", async () => {
    const { json } = await tockQuery("--samples", "4", "--interval", "20", "127.0.0.1");
    expect(Math.abs(json.offset as number)).toBeLessThan(0.003);
    expect(json.delay as number).toBeGreaterThanOrEqual(0);
    expect(json.delay as number).toBeLessThan(0.05);
  });

  it("queries over IPv6 loopback", async (ctx) => {
    if (!server.ipv6) return ctx.skip();
    const { code, json } = await tockQuery("[::1]");
    expect(code).toBe(ExitCode.Ok);
    expect(json).toMatchObject({ address: "::1", family: 6, stratum: 8 });
    expect(Math.abs(json.offset as number)).toBeLessThan(0.003);
  });
});
