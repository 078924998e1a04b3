// `tock daemon` with `[[source]] mode = "nts"` ↔ chronyd 4.3's NTS server (private CA as
// ../shared/PEERS.md shows, `certificate-authority`): NTS-KE over TLS 1.3 (AEAD 15, chrony's only
// one), then NTS-protected polls to the port chronyd announced; the source is selected with
// authenticated samples only and an offset near zero (both ends read this machine's clock). Observe
// mode: the daemon never touches the clock, and chronyd runs with -x without CAP_SYS_TIME.
// A second daemon trusting an unrelated CA gets no time at all: "nts-failed", zero samples.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../../ts/daemon/daemon.js";
import { makeTestPki, type TestPki } from "../nts-client/certs.js";
import { freePort, peerOrSkip, privateTempDir, startChronydServer, stopAllPeers, type ChronydServer } from "./peers.js";
import { expectAuthenticatedNtsSource, startNtsClientDaemon, waitForSelected } from "./client-nts-support.js";

const available = peerOrSkip("chronyd", "chronyc", "setpriv", "openssl");

describe.skipIf(!available)("tock daemon nts source ↔ chronyd NTS server", () => {
  let server: ChronydServer;
  let pki: TestPki;
  let kePort: number;
  const daemons: RunningDaemon[] = [];

  beforeAll(async () => {
    pki = await makeTestPki(peerOrSkip("openssl")!, privateTempDir("tock-client-nts-pki-"));
    kePort = await freePort({ tcp: true });
    const dump = privateTempDir("tock-client-nts-dump-");
    server = await startChronydServer({
      stratum: 8,
      ipv6: false,
      extraConfig: [`ntsport ${kePort}`, `ntsserverkey ${pki.serverKey}`, `ntsservercert ${pki.serverCert}`, `ntsdumpdir ${dump}`],
    });
  }, 60_000);

  afterAll(async () => {
    for (const d of daemons) await d.stop();
    await stopAllPeers();
  });

  it("selects chronyd with authenticated samples, offset near zero, never steering", async () => {
    const daemon = await startNtsClientDaemon(`127.0.0.1:${kePort}`, pki.caCert);
    daemons.push(daemon);
    const report = await waitForSelected(daemon, 4, 30_000);
    const source = report?.sources[0];
    expect(report?.status).toBe("ok");
    expect(report!.observeOnly).toBe(true);
    expect(source).toMatchObject({ mode: "nts", address: "127.0.0.1", port: server.port, state: "selected", stratum: 8 });
    expect(source!.nts).toMatchObject({ keServer: `127.0.0.1:${kePort}`, aead: 15, failure: undefined });
    // Every sample came from an authenticated response; nothing failed the NTS checks.
    expectAuthenticatedNtsSource(report!);
    const row = daemon.client!.sourceTable()[0]!;
    expect(row).toMatchObject({ kind: "nts", address: `127.0.0.1:${server.port}`, state: "selected" });
  }, 45_000);

  it("a CA that did not sign chronyd's certificate: nts-failed, no NTP sent, no time", async () => {
    const daemon = await startNtsClientDaemon(`127.0.0.1:${kePort}`, pki.otherCaCert);
    daemons.push(daemon);
    const end = Date.now() + 10_000;
    let source = daemon.clientReport()?.sources[0];
    while (source?.state !== "nts-failed" && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 250));
      source = daemon.clientReport()?.sources[0];
    }
    expect(source?.state).toBe("nts-failed");
    expect(source?.note).toMatch(/NTS-KE failed: certificate/);
    expect(source?.counters.sent).toBe(0);
    expect(source?.counters.samples).toBe(0);
    expect(daemon.clientReport()?.lastUpdate).toBeUndefined();
  }, 20_000);
});
