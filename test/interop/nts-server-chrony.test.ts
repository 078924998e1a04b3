// chronyd as an NTS client of tock's NTS server (NTS-KE over TLS 1.3 with a private CA, then
// NTS-protected NTP): chronyd must accept the samples, which it only does from an authenticated source.
// The server is assembled in-process (nts-server-support.ts).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { peerOrSkip, runChronydClient, stopAllPeers } from "./peers.js";
import { startInProcessNtsServer, type InProcessNtsServer } from "./nts-server-support.js";

const chronyd = peerOrSkip("chronyd", "setpriv", "openssl");

describe.skipIf(!chronyd)("chronyd as an NTS client of tock", () => {
  let server: InProcessNtsServer;
  beforeAll(async () => {
    server = await startInProcessNtsServer();
  });
  afterAll(async () => {
    await server?.stop();
    await stopAllPeers();
  });

  it("chronyd -Q gets cookies over NTS-KE and measures with authenticated NTS samples", { timeout: 60_000 }, async () => {
    const { certs, nts, ntpPort, kePort } = server;
    const r = await runChronydClient({
      port: ntpPort,
      sourceOptions: `iburst nts ntsport ${kePort} maxsamples 4`,
      extraDirectives: [`ntstrustedcerts ${certs.caPath}`],
      timeoutS: 20,
    });
    expect(r.offset, r.output).toBeDefined();
    expect(Math.abs(r.offset!)).toBeLessThan(0.05);
    const c = nts.counters();
    expect(c.answered, JSON.stringify(c)).toBeGreaterThanOrEqual(2);
    expect(c.nak_bad_authenticator + c.nak_bad_cookie + c.nak_unknown_key + c.dropped_malformed).toBe(0);
    expect(nts.keStats()[0]!.outcomes.answered).toBeGreaterThanOrEqual(1);
  });
});
