// NTS server throughput: `tock daemon` with [[nts-ke-server]] against chronyd with NTS, in the same
// run, on loopback. For each server: one NTS-KE over TLS 1.3 (our own client: cookie + exported
// C2S/S2C), then a flood of NTS requests (AEAD 15, one cookie, and optionally placeholders) that
// were sealed in advance — POOL distinct requests, each with its own transmit timestamp, so every
// response names its request through the origin field. Responses are counted when their origin
// matches; a sample of them is verified under S2C (a server that answered without NTS would fail).
// Servers are pinned to core 0 and the generator (this process, batched sendmmsg/recvmmsg) to core 1
// where taskset and two cores exist. Both servers serve stratum 8 from their own clock; neither
// rate-limits (the flood comes from one address).
//
//   npx tsc -p tsconfig.json && node dist/bench/nts-server.js [--seconds 3] [--placeholders 0,7]
//                                                            [--ke-seconds 3] [--ke-concurrency 8]
//
// Prints responses/s per server and the ratio tock ÷ chronyd, then NTS-KE handshakes/s (complete key
// exchanges by concurrent TLS clients in this process) for each server and the ratio. tock serves NTS with
// the engine `engine = "auto"` picks: the batch engine (one worker, like chronyd's one core) where it
// runs, else node:dgram.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LinuxUdpSocket, MessageBatch } from "../ts/daemon/linux-udp.js";
import { keyExchange as keyExchangeWith, TlsKeDialer } from "../ts/daemon/nts-ke-client.js";
import { instantiateWasm } from "../ts/core/instance.js";
import { createAead, type Aead } from "../ts/core/aead.js";
import { packageRoot, wasmPath } from "../ts/daemon/load-core.js";
import { clientHeader, pad4, sealedNtsRequest } from "./nts-request.js";
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const SECONDS = Number(arg("seconds", "3"));
const PLACEHOLDERS = arg("placeholders", "0,7").split(",").map(Number);
const KE_SECONDS = Number(arg("ke-seconds", "3"));
const KE_CONCURRENCY = Number(arg("ke-concurrency", "8"));
const POOL = 4096;
const BATCH = 32;
const NTP_UNIX = 2_208_988_800;

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
const twoCores = spawnSync("nproc", [], { encoding: "utf8" }).stdout.trim() !== "1";
const pin = has("taskset") && twoCores;
const pinned = (core: number, cmd: string[]) => (pin ? ["taskset", "-c", String(core), ...cmd] : cmd);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePorts(): { ntp: number; ke: number } {
  const base = 14000 + (process.pid % 900) * 4;
  return { ntp: base, ke: base + 1 };
}

interface Session { cookie: Uint8Array; c2s: Uint8Array; s2c: Uint8Array }

/** One NTS-KE over TLS 1.3 (AEAD 15) with tock's own KE client: the first cookie and the exported keys. */
const dialer = new TlsKeDialer();
async function keyExchangeOnce(port: number, caFile: string): Promise<Session> {
  const session = await keyExchangeWith(dialer, { address: "127.0.0.1", port, host: "localhost", caFile }, { aeadAlgorithms: [15], timeoutMs: 5000 });
  const cookie = session.cookies.take();
  if (cookie === undefined) throw new Error("NTS-KE gave no cookie");
  return { cookie, c2s: session.c2s, s2c: session.s2c };
}

/** A key exchange, retried for up to 10 s while the server starts. */
async function keyExchange(port: number, ca: string): Promise<Session> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await keyExchangeOnce(port, ca);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/**
 * NTS-KE handshakes per second: `concurrency` clients each run complete key exchanges (TCP + TLS 1.3
 * handshake + records + 8 cookies) back to back for `seconds`. Counts successes and failures.
 */
async function handshakes(port: number, ca: string, seconds: number, concurrency: number): Promise<{ rate: number; failed: number }> {
  const end = performance.now() + seconds * 1000;
  let ok = 0, failed = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      try {
        await keyExchangeOnce(port, ca);
        ok++;
      } catch {
        failed++;
      }
    }
  }));
  return { rate: ok / seconds, failed };
}

/** POOL sealed requests; request i carries transmit = (seconds, i). */
function buildRequests(aead: Aead, s: Session, placeholders: number, seconds: number): Uint8Array[] {
  return Array.from({ length: POOL }, (_, i) => {
    const header = clientHeader();
    const v = new DataView(header.buffer);
    v.setUint32(40, seconds);
    v.setUint32(44, i);
    return sealedNtsRequest(aead, 15, s.c2s, s.cookie, placeholders, header);
  });
}

/** Verifies one response under S2C (the Authenticator is the last field). */
function verify(aead: Aead, s: Session, r: Uint8Array): boolean {
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  let at = 48;
  while (at + 4 <= r.length) {
    const type = v.getUint16(at), len = v.getUint16(at + 2);
    if (len < 16 || at + len > r.length) return false;
    if (type === 0x0404) {
      const nl = v.getUint16(at + 4), cl = v.getUint16(at + 6);
      const nonce = r.subarray(at + 8, at + 8 + nl);
      const ct = r.subarray(at + 8 + pad4(nl), at + 8 + pad4(nl) + cl);
      return aead.open(15, s.s2c, nonce, [r.subarray(0, at)], ct) !== null;
    }
    at += len;
  }
  return false;
}

function flood(port: number, requests: Uint8Array[], seconds: number, aead: Aead, s: Session) {
  const sock = LinuxUdpSocket.open({ address: "127.0.0.1", port: 0, receiveBufferBytes: 8 << 20, sendBufferBytes: 8 << 20 });
  const size = requests[0]!.length;
  const send = new MessageBatch(BATCH, size);
  const recv = new MessageBatch(BATCH, 2048);
  for (let i = 0; i < BATCH; i++) send.setPeer(i, "127.0.0.1", port);
  let sent = 0, received = 0, verified = 0, failed = 0, next = 0, inflight = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let last = start;
  try {
    while (performance.now() < end) {
      // Keep at most 4 batches outstanding (closed loop: measures service rate, not queue overflow).
      if (inflight < 4 * BATCH) {
        for (let i = 0; i < BATCH; i++) {
          send.payload(i).set(requests[next]!);
          send.queue(i, size);
          next = (next + 1) % POOL;
        }
        const took = send.flush(sock);
        sent += took;
        inflight += took;
      }
      for (;;) {
        const n = recv.receive(sock);
        if (n === 0) break;
        last = performance.now();
        for (let i = 0; i < n; i++) {
          const p = recv.payload(i).subarray(0, recv.length(i));
          if (p.length < 48 || (p[0]! & 7) !== 4) continue;
          received++;
          if (received % 997 === 1) (verify(aead, s, p) ? verified++ : failed++);
        }
        inflight = Math.max(0, inflight - n);
      }
      if (inflight >= 4 * BATCH) {
        sock.waitReadable(5);
        // Lost datagrams would stall the window: forget what has been outstanding too long.
        if (performance.now() - last > 20) inflight = 0;
      }
    }
  } finally {
    sock.close();
  }
  const elapsed = (performance.now() - start) / 1000;
  return { sent, received, rate: received / elapsed, verified, failed, size };
}

function start(name: string, cmd: string[]): ChildProcess {
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", () => undefined);
  child.on("exit", (code) => { if (code) process.stderr.write(`${name} exited ${code}\n`); });
  return child;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tock-bench-nts-"));
  chmodSync(dir, 0o700);
  const children: ChildProcess[] = [];
  try {
    const o = (...a: string[]) => spawnSync("openssl", a, { cwd: dir, stdio: "ignore" });
    o("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=bench-ca");
    o("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost");
    writeFileSync(join(dir, "ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    o("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.crt", "-days", "2", "-extfile", "ext");
    const ca = join(dir, "ca.crt"); // the private CA's certificate file, given to the KE client
    const aead = createAead(await instantiateWasm(readFileSync(wasmPath())));
    const seconds = (Math.floor(Date.now() / 1000) + NTP_UNIX) >>> 0;

    const servers: { name: string; ports: { ntp: number; ke: number } }[] = [];
    const chronyd = existsSync("/usr/sbin/chronyd") ? "/usr/sbin/chronyd" : undefined;
    if (chronyd && has("setpriv")) {
      const ports = { ntp: freePorts().ntp + 2, ke: freePorts().ke + 2 };
      const conf = join(dir, "chronyd.conf");
      writeFileSync(conf, [`port ${ports.ntp}`, `ntsport ${ports.ke}`, "bindaddress 127.0.0.1", "bindaddress ::1", "allow 127.0.0.0/8", "local stratum 8", "cmdport 0",
        `pidfile ${join(dir, "chronyd.pid")}`, `ntsserverkey ${join(dir, "srv.key")}`, `ntsservercert ${join(dir, "srv.crt")}`, `ntsdumpdir ${dir}`].join("\n") + "\n");
      children.push(start("chronyd", ["setpriv", "--bounding-set", "-sys_time", ...pinned(0, [chronyd, "-u", "root", "-x", "-d", "-f", conf])]));
      servers.push({ name: "chronyd", ports });
    }
    const ports = freePorts();
    const toml = join(dir, "tock.toml");
    writeFileSync(toml, ["[synchronization]", "local-stratum = 8", "[[server]]", `listen = "127.0.0.1:${ports.ntp}"`, "workers = 1", "[[nts-ke-server]]", `listen = "127.0.0.1:${ports.ke}"`,
      `certificate-chain-path = "${join(dir, "srv.crt")}"`, `private-key-path = "${join(dir, "srv.key")}"`, `ntp-port = ${ports.ntp}`].join("\n") + "\n");
    children.push(start("tock", pinned(0, [process.execPath, join(packageRoot(), "dist", "ts", "cli", "main.js"), "daemon", "-c", toml])));
    servers.push({ name: "tock", ports });

    process.stdout.write(`bench/nts-server: AEAD 15, ${SECONDS} s per row, ${pin ? "servers on core 0, generator on core 1" : "NOT pinned"}\n`);
    process.stdout.write("server".padEnd(10) + "placeholders".padStart(13) + "bytes".padStart(7) + "resp/s".padStart(10) + "verified".padStart(10) + "ratio".padStart(8) + "\n");
    const results = new Map<string, number>();
    for (const placeholders of PLACEHOLDERS) {
      for (const s of servers) {
        const session = await keyExchange(s.ports.ke, ca);
        const requests = buildRequests(aead, session, placeholders, seconds);
        flood(s.ports.ntp, requests, 0.3, aead, session); // warm-up
        const r = flood(s.ports.ntp, requests, SECONDS, aead, session);
        results.set(`${s.name}/${placeholders}`, r.rate);
        const base = results.get(`chronyd/${placeholders}`);
        process.stdout.write(s.name.padEnd(10) + String(placeholders).padStart(13) + String(r.size).padStart(7) + Math.round(r.rate).toString().padStart(10) +
          `${r.verified}/${r.verified + r.failed}`.padStart(10) + (base && s.name !== "chronyd" ? (r.rate / base).toFixed(2) : "").padStart(8) + "\n");
      }
    }
    process.stdout.write(`\nNTS-KE handshakes/s (${KE_CONCURRENCY} concurrent clients, ${KE_SECONDS} s, P-256 certificate):\n`);
    let keBase: number | undefined;
    for (const s of servers) {
      await handshakes(s.ports.ke, ca, 0.3, KE_CONCURRENCY); // warm-up
      const r = await handshakes(s.ports.ke, ca, KE_SECONDS, KE_CONCURRENCY);
      if (s.name === "chronyd") keBase = r.rate;
      process.stdout.write(s.name.padEnd(10) + Math.round(r.rate).toString().padStart(10) + ` failed ${r.failed}`.padStart(12) +
        (keBase && s.name !== "chronyd" ? (r.rate / keBase).toFixed(2) : "").padStart(8) + "\n");
    }
  } finally {
    for (const c of children) if (c.pid !== undefined) c.kill("SIGTERM");
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
