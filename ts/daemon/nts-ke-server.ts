// The NTS-KE server ([[nts-ke-server]]): TLS 1.3 only, ALPN "ntske/1", one request and one
// response per connection (RFC 8915 §4), then close_notify. The decisions are in
// ts/protocol/nts-ke-respond.ts; this file only moves bytes and enforces the limits:
//
//  - concurrent connections: at most `concurrent-connections` TCP connections exist at once; one
//    more is closed by the kernel-level accept path before any TLS work (net.Server
//    maxConnections; counted as rejected). Idle connections cannot pile up: see the deadline.
//    (ntpd-rs's CVE-2023-xxxx class: an unbounded KE server can be exhausted by idle sockets.)
//  - deadline: `key-exchange-timeout-ms` from TCP accept to the end of the exchange, handshake
//    included. At the deadline a connection that finished its handshake gets Error 1 (Bad Request,
//    §4.1.3: "upon the expiration of an implementation-defined timeout"); any connection is
//    destroyed shortly after (DEADLINE_GRACE_MS) whether or not the peer reads.
//  - request size: the record decoder buffers at most REQUEST_LIMITS bytes (≥ 1024, §4).
//  - TLS: minVersion TLSv1.3; a client that does not negotiate ntske/1 is disconnected.
// Nothing a client sends can throw out of here: socket errors are counted and the socket destroyed.
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { Socket } from "node:net";
import type { Logger } from "../observe/logger.js";
import { KeRecordDecoder, NTS_EXPORTER_LABEL, REQUEST_LIMITS } from "../protocol/nts-ke-records.js";
import { respondToKeRequest, type KeServerCrypto, type KeServerOutcome, type KeServerPolicy } from "../protocol/nts-ke-respond.js";

export const NTSKE_ALPN = "ntske/1";
const DEADLINE_GRACE_MS = 200;

export interface NtsKeServerOptions {
  host: string;
  port: number;
  /** PEM: certificate chain and private key. */
  certificateChain: string | Buffer;
  privateKey: string | Buffer;
  timeoutMs: number;
  concurrentConnections: number;
  policy: KeServerPolicy;
  /** Key lengths and cookie minting (the WASM NTS state); the exporter comes from each TLS socket. */
  keyLength(aead: number): number;
  mintCookie(aead: number, c2s: Uint8Array, s2c: Uint8Array): Uint8Array;
  logger?: Logger;
}

export interface NtsKeStats {
  accepted: number;
  rejectedOverCapacity: number;
  handshakeFailed: number;
  alpnRejected: number;
  timedOut: number;
  socketErrors: number;
  outcomes: Record<KeServerOutcome, number>;
  active: number;
}

export class NtsKeServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly stats: NtsKeStats = {
    accepted: 0, rejectedOverCapacity: 0, handshakeFailed: 0, alpnRejected: 0, timedOut: 0, socketErrors: 0,
    outcomes: {
      "answered": 0, "no-common-aead": 0, "no-ntpv4": 0, "error-unrecognized-critical": 0, "error-bad-request": 0, "error-internal": 0,
    },
    active: 0,
  };

  constructor(private readonly options: NtsKeServerOptions) {}

  /** Binds and listens; resolves with the bound port. */
  async start(): Promise<number> {
    const o = this.options;
    const server = createServer({
      cert: o.certificateChain,
      key: o.privateKey,
      minVersion: "TLSv1.3",
      ALPNProtocols: [NTSKE_ALPN],
      handshakeTimeout: o.timeoutMs,
    });
    server.maxConnections = o.concurrentConnections;
    server.on("drop", () => this.stats.rejectedOverCapacity++);
    // Raw TCP connection (before TLS): the hard deadline starts here.
    server.on("connection", (raw: Socket) => this.track(raw));
    server.on("tlsClientError", (_err, tls) => {
      this.stats.handshakeFailed++;
      tls.destroy();
    });
    server.on("secureConnection", (tls: TLSSocket) => this.serve(tls));
    server.on("error", (err) => o.logger?.error({ err }, "NTS-KE server error"));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: o.host, port: o.port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    return typeof address === "object" && address !== null ? address.port : o.port;
  }

  /**
   * Replaces the certificate chain and key for new connections (certificate renewal on SIGHUP);
   * connections already open keep theirs. Throws (and changes nothing) if the PEM is unusable.
   */
  setCertificate(certificateChain: string | Buffer, privateKey: string | Buffer): void {
    this.server?.setSecureContext({ cert: certificateChain, key: privateKey, minVersion: "TLSv1.3" });
  }

  /** Stops accepting, destroys every open connection. Idempotent. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private readonly deadlines = new WeakMap<Socket, number>();

  private track(raw: Socket): void {
    this.stats.accepted++;
    this.stats.active++;
    this.sockets.add(raw);
    const deadline = Date.now() + this.options.timeoutMs;
    this.deadlines.set(raw, deadline);
    const hard = setTimeout(() => {
      this.stats.timedOut++;
      raw.destroy();
    }, this.options.timeoutMs + DEADLINE_GRACE_MS);
    raw.on("error", () => this.stats.socketErrors++);
    raw.once("close", () => {
      clearTimeout(hard);
      this.sockets.delete(raw);
      this.stats.active--;
    });
  }

  private serve(tls: TLSSocket): void {
    tls.on("error", () => {
      this.stats.socketErrors++;
      tls.destroy();
    });
    if (tls.alpnProtocol !== NTSKE_ALPN) {
      this.stats.alpnRejected++;
      tls.destroy();
      return;
    }
    const decoder = new KeRecordDecoder(REQUEST_LIMITS);
    let answered = false;
    const raw = (tls as unknown as { _parent?: Socket })._parent;
    const deadline = (raw && this.deadlines.get(raw)) ?? Date.now() + this.options.timeoutMs;
    const soft = setTimeout(() => {
      if (answered) return;
      this.stats.timedOut++;
      reply(); // decoder still 'need-more' → Error 1 (Bad Request)
    }, Math.max(0, deadline - Date.now()));
    tls.once("close", () => clearTimeout(soft));

    const crypto: KeServerCrypto = {
      keyLength: (aead) => this.options.keyLength(aead),
      exportKey: (length, context) => new Uint8Array(tls.exportKeyingMaterial(length, NTS_EXPORTER_LABEL, Buffer.from(context))),
      mintCookie: (aead, c2s, s2c) => this.options.mintCookie(aead, c2s, s2c),
    };
    const reply = (): void => {
      if (answered) return;
      answered = true;
      clearTimeout(soft);
      tls.pause();
      const result = respondToKeRequest(decoder.progress, this.options.policy, crypto);
      this.stats.outcomes[result.outcome]++;
      if (result.outcome !== "answered") {
        this.options.logger?.debug({ peer: tls.remoteAddress, outcome: result.outcome, detail: result.detail }, "NTS-KE request refused");
      }
      tls.end(result.bytes);
    };
    tls.on("data", (chunk: Buffer) => {
      if (answered) return;
      const progress = decoder.push(chunk);
      if (progress.state !== "need-more") reply();
    });
    tls.on("end", () => {
      if (answered) return;
      decoder.end();
      reply();
    });
  }
}
