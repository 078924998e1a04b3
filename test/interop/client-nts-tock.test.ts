// `tock daemon` with `[[source]] mode = "nts"` ↔ another `tock daemon` serving NTS (`[[nts-ke-server]]`
// with a private CA, `[[server]]` answering NTS requests, local stratum 8): both in this process over
// real TLS and UDP on loopback. The KE server is named `localhost` (SNI, DNS SAN), and its Server/Port
// Negotiation sends the client to 127.0.0.1 and the NTP port; the source is selected with
// authenticated samples and an offset near zero. Observe mode: no discipline, the clock is untouched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../ts/config/index.js";
import { startDaemon, type RunningDaemon } from "../../ts/daemon/daemon.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { makeTestPki, type TestPki } from "../nts-client/certs.js";
import { freePort, peerOrSkip, privateTempDir, stopAllPeers } from "./peers.js";
import { expectAuthenticatedNtsSource, startNtsClientDaemon, waitForSelected } from "./client-nts-support.js";

const openssl = peerOrSkip("openssl");

describe.skipIf(!openssl)("tock daemon nts source ↔ tock daemon NTS server", () => {
  let pki: TestPki;
  let server: RunningDaemon | undefined;
  let client: RunningDaemon | undefined;
  let ntpPort: number;
  let kePort: number;

  beforeAll(async () => {
    pki = await makeTestPki(openssl!, privateTempDir("tock-client-nts-tock-"));
    ntpPort = await freePort();
    kePort = await freePort({ tcp: true });
    const toml = [
      "[synchronization]", "local-stratum = 8", "",
      "[[server]]", `listen = "127.0.0.1:${ntpPort}"`, 'engine = "dgram"', "",
      "[[nts-ke-server]]", `listen = "127.0.0.1:${kePort}"`, `certificate-chain-path = "${pki.serverCert}"`, `private-key-path = "${pki.serverKey}"`,
      `ntp-port = ${ntpPort}`, 'ntp-server = "127.0.0.1"', "",
    ].join("\n");
    server = await startDaemon(parseConfig(toml, "nts-server.toml"), { logger: silentLogger(), summaryIntervalSeconds: 0, observationPath: false });
  }, 60_000);

  afterAll(async () => {
    await client?.stop();
    await server?.stop();
    await stopAllPeers();
  });

  it("selects the tock NTS server with authenticated samples, offset near zero, never steering", async () => {
    client = await startNtsClientDaemon(`localhost:${kePort}`, pki.caCert);
    const report = await waitForSelected(client, 4, 30_000);
    const source = report?.sources[0];
    expect(report?.status).toBe("ok");
    expect(report!.observeOnly).toBe(true);
    expect(source).toMatchObject({ mode: "nts", name: `localhost:${kePort}`, address: "127.0.0.1", port: ntpPort, state: "selected", stratum: 8 });
    expect(source!.nts).toMatchObject({ keServer: `localhost:${kePort}`, failure: undefined });
    expect([15, 16, 17, 30, 31]).toContain(source!.nts!.aead);
    expectAuthenticatedNtsSource(report!);
    // The served state follows: stratum 9 (the server's 8 + 1), reference id 127.0.0.1.
    expect(client.client!.servedState()).toMatchObject({ stratum: 9, referenceId: 0x7f000001 });
    // The NTS server saw NTS requests (its metrics count every answered one).
    expect(server!.metrics.total("ntp_server_nts_requests_total", { outcome: "answered" })).toBeGreaterThanOrEqual(4);
  }, 45_000);
});
