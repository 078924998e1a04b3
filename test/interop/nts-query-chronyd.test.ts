// tock's NTS client against chronyd's NTS server (Debian chrony 4.3: AEAD 15 only), private CA as
// ../shared/PEERS.md shows: the NTS-KE client gets keys and 8 cookies, and `tock query --nts`
// shows authenticated samples with an offset near zero (both ends read this machine's clock). A
// CA that did not sign the server's certificate makes the KE fail with its own exit code.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../ts/cli/query.js";
import { runTockQuery } from "./tock-query.js";
import { TlsKeDialer, keyExchange } from "../../ts/daemon/nts-ke-client.js";
import { makeTestPki, type TestPki } from "../nts-client/certs.js";
import { freePort, peerOrSkip, privateTempDir, startChronydServer, stopAllPeers, type ChronydServer } from "./peers.js";

const available = peerOrSkip("chronyd", "chronyc", "setpriv", "openssl");

const tockQuery = (...argv: string[]) => runTockQuery(argv, { nts: true });

describe.skipIf(!available)("tock NTS client ↔ chronyd NTS server", () => {
  let server: ChronydServer;
  let pki: TestPki;
  let kePort: number;

  beforeAll(async () => {
    pki = await makeTestPki(peerOrSkip("openssl")!, privateTempDir("tock-nts-pki-"));
    kePort = await freePort({ tcp: true });
    const dump = privateTempDir("tock-nts-dump-");
    server = await startChronydServer({
      stratum: 8,
      extraConfig: [`ntsport ${kePort}`, `ntsserverkey ${pki.serverKey}`, `ntsservercert ${pki.serverCert}`, `ntsdumpdir ${dump}`],
    });
  }, 60_000);

  afterAll(stopAllPeers);

  it("NTS-KE: AEAD 15, eight cookies, NTP port announced", async () => {
    const session = await keyExchange(new TlsKeDialer(), { address: "127.0.0.1", host: "127.0.0.1", port: kePort, caFile: pki.caCert }, { timeoutMs: 5000 });
    expect(session.aead).toBe(15);
    expect(session.c2s).toHaveLength(32);
    expect(session.s2c).toHaveLength(32);
    expect(session.cookies.size).toBe(8);
    expect(session.ntpPort).toBe(server.port);
  });

  it("tock query --nts: authenticated samples, offset near zero", async () => {
    const { code, json, stderr } = await tockQuery("--nts", `127.0.0.1:${kePort}`, "--certificate-authority", pki.caCert, "--samples", "3", "--interval", "200");
    expect(stderr).toBe("");
    expect(code).toBe(ExitCode.Ok);
    expect(json.status).toBe("ok");
    expect(json.port).toBe(server.port);
    expect(json.stratum).toBe(8);
    expect(Math.abs(json.offset as number)).toBeLessThan(0.01);
    expect(json.samplesValid).toBe(3);
    expect(json.nts).toMatchObject({ authenticated: true, aead: 15, aeadName: "AES-SIV-CMAC-256", cookies: 8, keyExchanges: 1 });
  });

  it("by name (localhost): SNI + DNS SAN", async () => {
    const { code, json } = await tockQuery("--nts", `localhost:${kePort}`, "--certificate-authority", pki.caCert, "-4");
    expect(code).toBe(ExitCode.Ok);
    expect(json.nts).toMatchObject({ authenticated: true });
  });

  it("over IPv6 ([::1]): the KE address is also where NTP goes", async (ctx) => {
    if (!server.ipv6) ctx.skip();
    const { code, json } = await tockQuery("--nts", `[::1]:${kePort}`, "--certificate-authority", pki.caCert);
    expect(code).toBe(ExitCode.Ok);
    expect(json).toMatchObject({ address: "::1", family: 6, port: server.port });
    expect(json.nts).toMatchObject({ authenticated: true });
  });

  it("a CA that did not sign the certificate: NTS-KE failure, no time printed", async () => {
    const { code, json } = await tockQuery("--nts", `127.0.0.1:${kePort}`, "--certificate-authority", pki.otherCaCert);
    expect(code).toBe(ExitCode.NtsKeFailure);
    expect(json.status).toBe("nts-ke-failure");
    expect(String(json.error)).toMatch(/certificate/);
    expect(json.offset).toBeUndefined();
  });

  it("system CAs do not trust the private CA", async () => {
    const { code } = await tockQuery("--nts", `127.0.0.1:${kePort}`);
    expect(code).toBe(ExitCode.NtsKeFailure);
  });
});
