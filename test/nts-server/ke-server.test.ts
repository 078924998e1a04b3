// The NTS-KE server over real TLS on loopback: a correct exchange (keys from the exporter match the
// client's, cookies open to them), every §4 error path, ALPN/TLS-version enforcement, the deadline
// and the connection cap.
import { rmSync } from "node:fs";
import { connect, type TLSSocket } from "node:tls";
import { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NtsKeServer } from "../../ts/daemon/nts-ke-server.js";
import { createNtsServerCore, NTS_SERVER_AEADS, type NtsServerCore } from "../../ts/core/nts-server.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { buildKeRequest, decodeKeMessage, encodeKeRecords, interpretKeResponse, NTS_EXPORTER_LABEL, ntsExporterContext } from "../../ts/protocol/nts-ke-records.js";
import { makeCerts, type TestCerts } from "./certs.js";
import { masterKey } from "./support.js";
import { peerOrSkip } from "../interop/peer-find.js";

// The certificates come from openssl (as in PEERS.md); without it these tests skip (or fail with REQUIRE_INTEROP=1).
const openssl = peerOrSkip("openssl");

let certs: TestCerts;
let core: NtsServerCore;
let server: NtsKeServer;
let port: number;
const TIMEOUT_MS = 600;
const CAP = 4;

beforeAll(async () => {
  if (!openssl) return;
  certs = makeCerts();
  const { wasm } = await loadFreshCore();
  core = createNtsServerCore(wasm, { maxKeys: 4 });
  const k = masterKey(42);
  core.setKeys([k], 42);
  server = new NtsKeServer({
    host: "127.0.0.1", port: 0, certificateChain: certs.cert, privateKey: certs.key,
    timeoutMs: TIMEOUT_MS, concurrentConnections: CAP,
    policy: { aeads: NTS_SERVER_AEADS, ntpServer: "127.0.0.1", ntpPort: 11123 },
    keyLength: (alg) => (({ 15: 32, 16: 48, 17: 64, 30: 16, 31: 32 }) as Record<number, number>)[alg] ?? 0,
    mintCookie: (alg, c2s, s2c) => core.mintCookie(alg, c2s, s2c),
  });
  port = await server.start();
});
afterAll(async () => {
  await server?.stop();
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

interface Exchange { response: Buffer; socket: TLSSocket; closedBy: "end" | "close" }

function exchange(request: Uint8Array | null, opts: { alpn?: string[]; maxVersion?: "TLSv1.2" | "TLSv1.3"; endAfterWrite?: boolean } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1", port, ca: certs.ca, servername: "localhost",
      ALPNProtocols: opts.alpn ?? ["ntske/1"], maxVersion: opts.maxVersion ?? "TLSv1.3",
    });
    const chunks: Buffer[] = [];
    socket.on("secureConnect", () => {
      if (request !== null) socket.write(request);
      if (opts.endAfterWrite) socket.end();
    });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve({ response: Buffer.concat(chunks), socket, closedBy: "close" }));
    setTimeout(() => reject(new Error("client timeout")), 5000).unref();
  });
}

function records(bytes: Uint8Array) {
  const p = decodeKeMessage(bytes);
  if (p.state !== "done") throw new Error(`response does not decode: ${JSON.stringify(p)}`);
  return p.records;
}

describe.skipIf(!openssl)("NTS-KE exchange", () => {
  it("answers NTPv4 + the client's first supported AEAD with 8 cookies carrying the exported keys", async () => {
    for (const offer of [[15], [17, 15], [30, 15], [99, 16]]) {
      let c2s: Buffer | undefined, s2c: Buffer | undefined;
      const r = await new Promise<Buffer>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port, ca: certs.ca, servername: "localhost", ALPNProtocols: ["ntske/1"] });
        const chunks: Buffer[] = [];
        socket.on("secureConnect", () => {
          expect(socket.getProtocol()).toBe("TLSv1.3");
          const alg = offer.find((a) => a !== 99)!;
          const len = ({ 15: 32, 16: 48, 17: 64, 30: 16 } as Record<number, number>)[alg]!;
          c2s = socket.exportKeyingMaterial(len, NTS_EXPORTER_LABEL, Buffer.from(ntsExporterContext(alg, "c2s")));
          s2c = socket.exportKeyingMaterial(len, NTS_EXPORTER_LABEL, Buffer.from(ntsExporterContext(alg, "s2c")));
          socket.write(buildKeRequest({ aeadAlgorithms: offer }));
        });
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("error", reject);
        socket.on("close", () => resolve(Buffer.concat(chunks)));
      });
      const interpreted = interpretKeResponse(records(r), offer);
      expect(interpreted.ok).toBe(true);
      if (!interpreted.ok) continue;
      const chosen = offer.find((a) => a !== 99)!;
      expect(interpreted.value.aead).toBe(chosen);
      expect(interpreted.value.cookies.length).toBe(8);
      expect(interpreted.value.server).toBe("127.0.0.1");
      expect(interpreted.value.port).toBe(11123);
      for (const cookie of interpreted.value.cookies) {
        const opened = core.openCookie(cookie);
        expect(opened).toEqual({ algorithm: chosen, c2s: new Uint8Array(c2s!), s2c: new Uint8Array(s2c!) });
      }
    }
  });

  it("no common AEAD: NTPv4 with an empty AEAD record and no cookies", async () => {
    const { response } = await exchange(buildKeRequest({ aeadAlgorithms: [1, 2] }));
    const rs = records(response);
    expect(rs.find((r) => r.type === "aead-algorithm")).toMatchObject({ algorithms: [] });
    expect(rs.some((r) => r.type === "new-cookie")).toBe(false);
  });

  it("NTPv4 not offered: an empty Next Protocol record", async () => {
    const { response } = await exchange(encodeKeRecords([
      { type: "next-protocol", critical: true, protocols: [0x8000] },
      { type: "end-of-message", critical: true },
    ]));
    expect(records(response).find((r) => r.type === "next-protocol")).toMatchObject({ protocols: [] });
  });
});

describe.skipIf(!openssl)("hostile NTS-KE input gets an Error record or a close, never a crash", () => {
  const errorCode = (response: Buffer) => records(response).find((r) => r.type === "error") as { code: number } | undefined;

  it("unknown critical record → Error 0", async () => {
    const req = encodeKeRecords([
      { type: "next-protocol", critical: true, protocols: [0] },
      { type: "aead-algorithm", critical: true, algorithms: [15] },
      { type: "end-of-message", critical: true },
    ]);
    const unknown = new Uint8Array([0x80 | 0x40, 0x01, 0, 2, 1, 2]); // critical type 0x4001
    const { response } = await exchange(Buffer.concat([unknown, req]));
    expect(errorCode(response)?.code).toBe(0);
  });

  it("unknown non-critical record is ignored", async () => {
    const unknown = new Uint8Array([0x40, 0x01, 0, 2, 1, 2]);
    const { response } = await exchange(Buffer.concat([unknown, buildKeRequest({ aeadAlgorithms: [15] })]));
    expect(records(response).filter((r) => r.type === "new-cookie").length).toBe(8);
  });

  it("malformed, duplicate, client-sent error/cookie records, no protocol → Error 1", async () => {
    const bad: Uint8Array[] = [
      new Uint8Array([0x80, 1, 0, 1, 0, 0x80, 0, 0, 0]), // odd-length Next Protocol, then EOM
      encodeKeRecords([{ type: "next-protocol", critical: true, protocols: [0] }, { type: "next-protocol", critical: true, protocols: [0] }, { type: "aead-algorithm", critical: true, algorithms: [15] }, { type: "end-of-message", critical: true }]),
      encodeKeRecords([{ type: "next-protocol", critical: true, protocols: [0] }, { type: "end-of-message", critical: true }]),
      encodeKeRecords([{ type: "error", critical: true, code: 1 }, { type: "next-protocol", critical: true, protocols: [0] }, { type: "aead-algorithm", critical: true, algorithms: [15] }, { type: "end-of-message", critical: true }]),
      encodeKeRecords([{ type: "new-cookie", critical: false, cookie: new Uint8Array(8) }, { type: "next-protocol", critical: true, protocols: [0] }, { type: "aead-algorithm", critical: true, algorithms: [15] }, { type: "end-of-message", critical: true }]),
      encodeKeRecords([{ type: "end-of-message", critical: true }]),
    ];
    for (const req of bad) {
      const { response } = await exchange(req);
      expect(errorCode(response)?.code).toBe(1);
    }
  });

  it("oversized request (a record longer than the limit) → Error 1", async () => {
    const huge = new Uint8Array(4 + 60000);
    huge[0] = 0x40; huge[1] = 9; huge[2] = 0xea; huge[3] = 0x60;
    const { response } = await exchange(huge);
    expect(errorCode(response)?.code).toBe(1);
  });

  it("truncated request then half-close → Error 1 (or a close)", async () => {
    const req = buildKeRequest({ aeadAlgorithms: [15] });
    const { response } = await exchange(req.subarray(0, req.length - 3), { endAfterWrite: true }).catch(() => ({ response: Buffer.alloc(0) }));
    if (response.length > 0) expect(errorCode(response)?.code).toBe(1);
  });

  it("a request that never completes gets Error 1 at the deadline", async () => {
    const started = Date.now();
    const { response } = await exchange(new Uint8Array([0x80, 1]));
    expect(errorCode(response)?.code).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
  });

  it("no ALPN / another ALPN is refused; TLS 1.2 is refused", async () => {
    const noAlpn = await exchange(buildKeRequest({ aeadAlgorithms: [15] }), { alpn: [] }).catch((e: Error) => e);
    if (!(noAlpn instanceof Error)) expect(noAlpn.response.length).toBe(0);
    const other = await exchange(buildKeRequest({ aeadAlgorithms: [15] }), { alpn: ["http/1.1"] }).catch((e: Error) => e);
    if (!(other instanceof Error)) expect(other.response.length).toBe(0);
    const tls12 = await exchange(buildKeRequest({ aeadAlgorithms: [15] }), { maxVersion: "TLSv1.2" }).catch((e: Error) => e);
    expect(tls12).toBeInstanceOf(Error);
    expect(server.stats.alpnRejected + server.stats.handshakeFailed).toBeGreaterThanOrEqual(2);
  });

  it("random garbage before the handshake is a handshake failure, the server keeps serving", async () => {
    await new Promise<void>((resolve) => {
      const s = new Socket();
      s.connect(port, "127.0.0.1", () => s.write(Buffer.alloc(300, 0x41)));
      s.on("error", () => undefined);
      s.on("close", () => resolve());
    });
    const { response } = await exchange(buildKeRequest({ aeadAlgorithms: [15] }));
    expect(records(response).filter((r) => r.type === "new-cookie").length).toBe(8);
  });
});

describe.skipIf(!openssl)("connection cap and deadline", () => {
  it("idle connections beyond the cap are closed at once; all idle ones go at the deadline; service resumes", async () => {
    // connections of earlier tests may still be closing
    for (let i = 0; i < 40 && server.stats.active > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.stats.active).toBe(0);
    const rejectedBefore = server.stats.rejectedOverCapacity;
    const idle: Socket[] = [];
    const closedAt: number[] = [];
    const start = Date.now();
    await Promise.all(Array.from({ length: CAP + 6 }, () => new Promise<void>((resolve) => {
      const s = new Socket();
      s.on("error", () => undefined);
      s.on("close", () => closedAt.push(Date.now() - start));
      s.connect(port, "127.0.0.1", () => resolve());
      idle.push(s);
    })));
    await new Promise((r) => setTimeout(r, 150));
    expect(server.stats.rejectedOverCapacity - rejectedBefore).toBe(6);
    expect(closedAt.filter((t) => t < 150).length).toBe(6);
    // after the deadline (+ grace) every idle connection is gone and a real exchange works again
    await new Promise((r) => setTimeout(r, TIMEOUT_MS + 400));
    expect(closedAt.length).toBe(CAP + 6);
    expect(server.stats.active).toBe(0);
    const { response } = await exchange(buildKeRequest({ aeadAlgorithms: [15] }));
    expect(records(response).filter((r) => r.type === "new-cookie").length).toBe(8);
    idle.forEach((s) => s.destroy());
  });
});
