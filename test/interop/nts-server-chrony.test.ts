// chronyd as an NTS client of tock's NTS server (NTS-KE over TLS 1.3 with a private CA, then
// NTS-protected NTP): chronyd must report its source as authenticated and accept the samples.
// This test assembles the NTS service in-process (NtsService + the WASM kernel over node:dgram);
// test/interop/nts-server-daemon.test.ts does the same through `tock daemon`.
import { createSocket, type Socket } from "node:dgram";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, peerOrSkip, runChronydClient, stopAllPeers } from "./peers.js";
import { parseConfig } from "../../ts/config/load.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createServerKernel, type ServerKernel } from "../../ts/core/server.js";
import { NtsService } from "../../ts/daemon/nts-service.js";
import { makeCerts, type TestCerts } from "../nts-server/certs.js";

const chronyd = peerOrSkip("chronyd", "setpriv", "openssl");

const NTP_EPOCH_OFFSET = 2_208_988_800n;
const nowNtp = (): bigint => {
  const ns = BigInt(Date.now()) * 1_000_000n;
  const seconds = ns / 1_000_000_000n + NTP_EPOCH_OFFSET;
  const frac = ((ns % 1_000_000_000n) << 32n) / 1_000_000_000n;
  return (seconds << 32n) | frac;
};

describe.skipIf(!chronyd)("chronyd as an NTS client of tock", () => {
  let certs: TestCerts;
  let nts: NtsService;
  let kernel: ServerKernel;
  let udp: Socket;
  let ntpPort: number;
  let kePort: number;

  beforeAll(async () => {
    certs = makeCerts();
    ntpPort = await freePort();
    kePort = await freePort({ tcp: true });
    const config = parseConfig(
      `[[nts-ke-server]]\nlisten = "127.0.0.1:${kePort}"\ncertificate-chain-path = "${certs.certPath}"\nprivate-key-path = "${certs.keyPath}"\nntp-port = ${ntpPort}\nntp-server = "127.0.0.1"\n`,
      "nts.toml",
    );
    const { wasm } = await loadFreshCore();
    kernel = createServerKernel(wasm, { batchSize: 1, maxRequestBytes: 2048 });
    kernel.setSystemState({ leap: 0, stratum: 8, precision: -20, referenceId: "LOCL", rootDelay: 0, rootDispersion: 0.001, referenceTime: nowNtp() });
    nts = (await NtsService.create(config, wasm))!;
    nts.attach(kernel);
    udp = createSocket("udp4");
    udp.on("message", (msg, rinfo) => {
      const rx = nowNtp();
      nts.refillRandom();
      const r = kernel.handleOne(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), rinfo.address, rinfo.port, rx, nowNtp());
      if (r.response) udp.send(r.response, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => udp.bind(ntpPort, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    udp?.close();
    await nts?.stop();
    await stopAllPeers();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  it("chronyd -Q gets cookies over NTS-KE and measures with authenticated NTS samples", { timeout: 60_000 }, async () => {
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
