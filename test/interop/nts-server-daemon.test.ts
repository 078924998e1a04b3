// `tock daemon` as an NTS server, end to end (a built dist/ is needed): chronyd 4.3 as an NTS client
// (authdata shows an NTS source with cookies, and it selects tock), the NTS metrics, a flood of idle
// NTS-KE connections that is capped while NTP keeps answering, and a restart with a key file:
// cookies minted before it are accepted after it; and a KE-only instance feeding an NTP-only instance
// through a shared key file.
import fs from "node:fs";
import path from "node:path";
import { connect } from "node:tls";
import { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPeer, peerOrSkip, privateTempDir, runCommand, stopAllPeers } from "./peers.js";
import { built, clientRequest, collector, freeTcpPort, freeUdpPort, metricSum, send, sleep, startDaemon, stopAll, until, type DaemonProcess } from "../daemon/process-helpers.js";
import { makeCerts, type TestCerts } from "../nts-server/certs.js";
import { buildKeRequest, decodeKeMessage, interpretKeResponse, NTS_EXPORTER_LABEL, ntsExporterContext } from "../../ts/protocol/nts-ke-records.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createAead, type Aead } from "../../ts/core/aead.js";
import { ntsRequest, openResponse, kissCode } from "../nts-server/support.js";

const openssl = peerOrSkip("openssl");
const chronyd = openssl && peerOrSkip("chronyd", "chronyc", "setpriv");

/** NTS-KE as a client (TLS 1.3, ntske/1, AEAD 15): the cookies and the exported keys. */
async function keyExchange(port: number, ca: string): Promise<{ cookies: Uint8Array[]; c2s: Uint8Array; s2c: Uint8Array; ntpPort: number | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols: ["ntske/1"] });
    const chunks: Buffer[] = [];
    let keys: { c2s: Uint8Array; s2c: Uint8Array } | undefined;
    socket.on("secureConnect", () => {
      keys = {
        c2s: new Uint8Array(socket.exportKeyingMaterial(32, NTS_EXPORTER_LABEL, Buffer.from(ntsExporterContext(15, "c2s")))),
        s2c: new Uint8Array(socket.exportKeyingMaterial(32, NTS_EXPORTER_LABEL, Buffer.from(ntsExporterContext(15, "s2c")))),
      };
      socket.write(buildKeRequest({ aeadAlgorithms: [15] }));
    });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const p = decodeKeMessage(Buffer.concat(chunks));
      if (p.state !== "done") return reject(new Error("KE response does not decode"));
      const r = interpretKeResponse(p.records, [15]);
      if (!r.ok || !keys) return reject(new Error(`KE failed: ${JSON.stringify(r)}`));
      resolve({ cookies: [...r.value.cookies], ...keys, ntpPort: r.value.port });
    });
  });
}

describe.skipIf(!built || !openssl)("tock daemon as an NTS server", () => {
  let certs: TestCerts;
  let aead: Aead;
  let ntpPort: number;
  let kePort: number;
  let keyFile: string;
  let toml: string;

  beforeAll(async () => {
    if (!built || !openssl) return;
    certs = makeCerts();
    aead = createAead((await loadFreshCore()).wasm);
    ntpPort = await freeUdpPort();
    kePort = await freeTcpPort();
    keyFile = path.join(certs.dir, "nts-keys.json");
    toml = [
      "[synchronization]", "local-stratum = 8", "",
      "[[server]]", `listen = "127.0.0.1:${ntpPort}"`, "",
      "[[nts-ke-server]]", `listen = "127.0.0.1:${kePort}"`, `certificate-chain-path = "${certs.certPath}"`, `private-key-path = "${certs.keyPath}"`,
      `ntp-port = ${ntpPort}`, 'ntp-server = "127.0.0.1"', "concurrent-connections = 8", "key-exchange-timeout-ms = 1500", "",
      "[keyset]", `key-storage-path = "${keyFile}"`, "stale-key-count = 3", "",
    ].join("\n");
  });
  afterAll(async () => {
    stopAll();
    await stopAllPeers();
    if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
  });

  it.skipIf(!chronyd)("chronyd uses tock as an authenticated NTS source", { timeout: 60_000 }, async () => {
    const d = await startDaemon(toml);
    const dir = privateTempDir("tock-chronyd-nts-");
    const socketPath = path.join(dir, "chronyd.sock");
    const conf = path.join(dir, "chronyd.conf");
    fs.writeFileSync(conf, [
      `server 127.0.0.1 iburst nts ntsport ${kePort} minpoll -2 maxpoll -2`, `ntstrustedcerts ${certs.caPath}`,
      "port 0", "cmdport 0", `bindcmdaddress ${socketPath}`, `pidfile ${path.join(dir, "chronyd.pid")}`, `ntsdumpdir ${dir}`,
    ].join("\n") + "\n");
    const client = runCommand(findPeer("setpriv")!, ["--bounding-set", "-sys_time", findPeer("chronyd")!, "-u", "root", "-x", "-d", "-t", "10", "-f", conf], { timeoutMs: 30_000 });
    try {
      let authdata = "";
      let sources = "";
      const deadline = Date.now() + 9000;
      while (Date.now() < deadline) {
        await sleep(500);
        authdata = (await runCommand(findPeer("chronyc")!, ["-h", socketPath, "-n", "authdata"], { timeoutMs: 5000 })).stdout;
        sources = (await runCommand(findPeer("chronyc")!, ["-h", socketPath, "-n", "sources"], { timeoutMs: 5000 })).stdout;
        if (/127\.0\.0\.1\s+NTS/.test(authdata) && /\^\*\s+127\.0\.0\.1/.test(sources)) break;
      }
      // authdata: Name/IP  Mode KeyID Type KLen Last Atmp NAK Cook CLen — NTS, AEAD 15 (AES-SIV-CMAC-256), no NAKs
      expect(authdata).toMatch(/127\.0\.0\.1\s+NTS\s+\d+\s+15\s+256/);
      expect(authdata).toMatch(/127\.0\.0\.1\s+NTS\s+\d+\s+15\s+256\s+\S+\s+\d+\s+0\s+[1-8]\s+104/);
      expect(sources).toMatch(/\^\*\s+127\.0\.0\.1/);
      const m = await d.metrics();
      expect(metricSum(m, "ntp_server_nts_requests_total", 'outcome="answered"')).toBeGreaterThanOrEqual(2);
      expect(metricSum(m, "nts_ke_responses_total", 'outcome="answered"')).toBeGreaterThanOrEqual(1);
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    } finally {
      await client;
      expect((await d.stop()).code).toBe(0);
    }
  });

  it("a flood of idle NTS-KE connections is capped and NTP keeps answering", { timeout: 60_000 }, async () => {
    const d = await startDaemon(toml);
    const idle: Socket[] = [];
    try {
      await Promise.all(Array.from({ length: 40 }, () => new Promise<void>((resolve) => {
        const s = new Socket();
        s.on("error", () => resolve());
        s.on("close", () => resolve());
        s.connect(kePort, "127.0.0.1", () => resolve());
        idle.push(s);
      })));
      const c = await collector();
      await send(c.socket, clientRequest(123n << 32n), ntpPort, "127.0.0.1");
      expect(await until(() => c.received.length === 1, 3000)).toBe(true);
      await c.close();
      // The client's connect completes in the kernel's backlog before the daemon accepts (and, over
      // the cap, drops) the connection, so wait for the daemon to have processed all 40.
      let m = await d.metrics();
      for (let i = 0; i < 50 && metricSum(m, "nts_ke_rejected_connections_total") < 32; i++) {
        await sleep(100);
        m = await d.metrics();
      }
      expect(metricSum(m, "nts_ke_rejected_connections_total")).toBeGreaterThanOrEqual(32);
      expect(metricSum(m, "nts_ke_active_connections")).toBeLessThanOrEqual(8);
      // the idle ones time out; then a real key exchange succeeds
      await sleep(2000);
      const ke = await keyExchange(kePort, certs.ca);
      expect(ke.cookies.length).toBe(8);
    } finally {
      idle.forEach((s) => s.destroy());
      expect((await d.stop()).code).toBe(0);
    }
  });

  it("one KE instance feeding a separate NTP instance through a shared key file", { timeout: 60_000 }, async () => {
    const shared = path.join(certs.dir, "shared-keys.json");
    const ntpOnlyPort = await freeUdpPort();
    const keOnlyNtpPort = await freeUdpPort();
    const keOnlyKePort = await freeTcpPort();
    // Instance 1: the KE server (its own [[server]] is not the one it announces).
    const keInstance = await startDaemon([
      "[[server]]", `listen = "127.0.0.1:${keOnlyNtpPort}"`,
      "[[nts-ke-server]]", `listen = "127.0.0.1:${keOnlyKePort}"`, `certificate-chain-path = "${certs.certPath}"`, `private-key-path = "${certs.keyPath}"`,
      `ntp-port = ${ntpOnlyPort}`, 'ntp-server = "127.0.0.1"',
      "[keyset]", `key-storage-path = "${shared}"`,
    ].join("\n") + "\n");
    // Instance 2: NTP only, same key file, no KE listener.
    const ntpInstance = await startDaemon([
      "[synchronization]", "local-stratum = 8",
      "[[server]]", `listen = "127.0.0.1:${ntpOnlyPort}"`,
      "[keyset]", `key-storage-path = "${shared}"`,
    ].join("\n") + "\n");
    try {
      const ke = await keyExchange(keOnlyKePort, certs.ca);
      expect(ke.ntpPort).toBe(ntpOnlyPort);
      const s = { algorithm: 15, c2s: ke.c2s, s2c: ke.s2c };
      const c = await collector();
      const { packet, uid } = ntsRequest(aead, s, ke.cookies[0]!);
      await send(c.socket, packet, ntpOnlyPort, "127.0.0.1");
      expect(await until(() => c.received.length === 1, 3000)).toBe(true);
      expect(openResponse(aead, s, new Uint8Array(c.received[0]!), uid)?.length).toBe(1);
      await c.close();
    } finally {
      expect((await ntpInstance.stop()).code).toBe(0);
      expect((await keInstance.stop()).code).toBe(0);
    }
  });

  it("SIGHUP after a certificate renewal serves the new certificate; a broken one changes nothing", { timeout: 60_000 }, async () => {
    const dir = privateTempDir("tock-nts-renew-");
    const chain = path.join(dir, "chain.pem");
    const key = path.join(dir, "key.pem");
    fs.copyFileSync(certs.certPath, chain);
    fs.copyFileSync(certs.keyPath, key);
    const renewTomlText = toml.replace(certs.certPath, chain).replace(certs.keyPath, key);
    const d = await startDaemon(renewTomlText);
    const renewed = makeCerts();
    try {
      expect((await keyExchange(kePort, certs.ca)).cookies.length).toBe(8);
      fs.copyFileSync(renewed.certPath, chain);
      fs.copyFileSync(renewed.keyPath, key);
      process.kill(d.pid, "SIGHUP");
      await d.waitForLine((l) => l.msg === "SIGHUP: config reloaded");
      expect((await keyExchange(kePort, renewed.ca)).cookies.length).toBe(8);
      await expect(keyExchange(kePort, certs.ca)).rejects.toThrow();
      fs.writeFileSync(chain, "not a certificate\n");
      process.kill(d.pid, "SIGHUP");
      await d.waitForLine((l) => l.msg === "SIGHUP: config not reloaded" && String(l.reason).includes("NTS-KE certificates not reloaded"));
      expect((await keyExchange(kePort, renewed.ca)).cookies.length).toBe(8);
    } finally {
      fs.rmSync(renewed.dir, { recursive: true, force: true });
      expect((await d.stop()).code).toBe(0);
    }
  });

  it("restart: cookies issued before are accepted after (key file), and a mangled one is NAKed", { timeout: 60_000 }, async () => {
    let d: DaemonProcess = await startDaemon(toml);
    const ke = await keyExchange(kePort, certs.ca);
    expect(ke.ntpPort).toBe(ntpPort);
    expect((await d.stop()).code).toBe(0);
    d = await startDaemon(toml);
    try {
      const s = { algorithm: 15, c2s: ke.c2s, s2c: ke.s2c };
      const c = await collector();
      const { packet, uid } = ntsRequest(aead, s, ke.cookies[0]!, { placeholders: 2 });
      await send(c.socket, packet, ntpPort, "127.0.0.1");
      expect(await until(() => c.received.length === 1, 3000)).toBe(true);
      const cookies = openResponse(aead, s, new Uint8Array(c.received[0]!), uid);
      expect(cookies?.length).toBe(3);
      const mangled = ke.cookies[1]!.slice();
      mangled[50] = mangled[50]! ^ 1;
      const bad = ntsRequest(aead, s, mangled);
      await send(c.socket, bad.packet, ntpPort, "127.0.0.1");
      expect(await until(() => c.received.length === 2, 3000)).toBe(true);
      expect(kissCode(new Uint8Array(c.received[1]!))).toBe("NTSN");
      await c.close();
    } finally {
      expect((await d.stop()).code).toBe(0);
    }
  });
});
