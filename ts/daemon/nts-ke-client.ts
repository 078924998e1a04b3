// NTS-KE client (RFC 8915 §3, §4, §5.1): TLS 1.3 to the KE server, ALPN "ntske/1", one request, one
// response, keys from the TLS exporter. The record logic is sans-IO (protocol/nts-ke-records.ts);
// this file only moves bytes and classifies failures.
//
// The TLS connection sits behind KeDialer/KeChannel so tests (and a simulator) can run the same
// exchange over a scripted channel; TlsKeDialer is the real one over node:tls:
//   - TLS 1.3 only (§3: "MUST NOT" negotiate older versions; minVersion enforces it),
//   - ALPN "ntske/1" offered and REQUIRED in the answer (§4: the server accepts it),
//   - the certificate validated against the given CA file, or else the system's CA bundle plus
//     Node's built-in Mozilla roots; the name checked is the host we were given (DNS or IP SAN),
//   - SNI only for names (RFC 6066 §3 forbids IP literals in server_name),
//   - one deadline for connect + handshake + exchange, and a bounded response (the decoder stops at
//     RESPONSE_LIMITS; the channel also caps what it queues).
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import {
  KeRecordDecoder,
  NTS_EXPORTER_LABEL,
  RESPONSE_LIMITS,
  buildKeRequest,
  interpretKeResponse,
  ntsExporterContext,
} from "../protocol/nts-ke-records.js";
import { CLIENT_AEAD_PREFERENCE, MAX_COOKIE_BYTES, aeadKeyLength, sessionFromKe, type NtsSession } from "../protocol/nts-client.js";

/** IANA port for NTS-KE (RFC 8915 §7.1). */
export const NTS_KE_PORT = 4460;
const ALPN = "ntske/1";
/** Bytes the channel queues unread before it gives up on a flooding server. */
const MAX_QUEUED_BYTES = RESPONSE_LIMITS.maxBytes + 16384;

export type KeFailureKind =
  /** TCP-level: refused, unreachable, reset. */
  | "network"
  /** TLS handshake failed for a reason other than the certificate (version, ALPN, alert). */
  | "tls"
  /** The server's certificate did not validate (untrusted, expired, wrong name). */
  | "certificate"
  /** The deadline passed. */
  | "timeout"
  /** The server sent an Error record (§4.1.3) or a Warning (§4.1.4). */
  | "error-record"
  /** The response broke §4 (malformed, truncated, too large, missing records, no cookies). */
  | "protocol"
  /** The CA file could not be read. */
  | "configuration";

export class KeFailure extends Error {
  constructor(
    readonly kind: KeFailureKind,
    message: string,
  ) {
    super(message);
    this.name = "KeFailure";
  }
}

export interface KeTarget {
  /** Address to connect to (an IP literal, after resolution). */
  readonly address: string;
  readonly port: number;
  /** The name the user gave (for SNI and the certificate check); equals address for IP literals. */
  readonly host: string;
  /** PEM file of trusted CAs; absent → the system CAs. */
  readonly caFile?: string | undefined;
}

/** One TLS connection carrying one NTS-KE exchange. */
export interface KeChannel {
  write(bytes: Uint8Array): void;
  /** The next chunk of application data; null once the server has closed. Rejects with KeFailure. */
  read(): Promise<Uint8Array | null>;
  /** The TLS exporter (RFC 5705 / RFC 8446 §7.5). */
  exportKeyingMaterial(length: number, label: string, context: Uint8Array): Uint8Array;
  /** Sends close_notify and releases the connection. Idempotent. */
  close(): void;
}

export interface KeDialer {
  /** Connects and completes the handshake within `timeoutMs` (which also bounds later reads). */
  dial(target: KeTarget, timeoutMs: number): Promise<KeChannel>;
}

export interface KeOptions {
  /** AEAD ids to offer, most preferred first. */
  readonly aeadAlgorithms?: readonly number[];
  readonly timeoutMs: number;
}

/**
 * One NTS-KE exchange: request, bounded response, checks (§4), keys (§5.1). Resolves with the
 * session, or rejects with KeFailure (never anything else).
 */
export async function keyExchange(dialer: KeDialer, target: KeTarget, options: KeOptions): Promise<NtsSession> {
  const offered = options.aeadAlgorithms ?? CLIENT_AEAD_PREFERENCE;
  let channel: KeChannel;
  try {
    channel = await dialer.dial(target, options.timeoutMs);
  } catch (err) {
    throw asKeFailure(err);
  }
  try {
    channel.write(buildKeRequest({ aeadAlgorithms: offered }));
    const decoder = new KeRecordDecoder(RESPONSE_LIMITS);
    let progress = decoder.progress;
    while (progress.state === "need-more") {
      const chunk = await channel.read();
      progress = chunk === null ? decoder.end() : decoder.push(chunk);
    }
    if (progress.state === "error") {
      throw new KeFailure("protocol", `bad NTS-KE response: ${progress.error.detail}`);
    }
    const response = interpretKeResponse(progress.records, offered);
    if (!response.ok) {
      const f = response.failure;
      if (f.kind === "error-record") throw new KeFailure("error-record", `NTS-KE server sent Error ${f.code} (${KE_ERROR_NAMES[f.code] ?? "unknown code"})`);
      if (f.kind === "warning-record") throw new KeFailure("error-record", `NTS-KE server sent Warning ${f.code}`);
      throw new KeFailure("protocol", `bad NTS-KE response: ${f.reason}`);
    }
    const { aead } = response.value;
    const length = aeadKeyLength(aead);
    const c2s = channel.exportKeyingMaterial(length, NTS_EXPORTER_LABEL, ntsExporterContext(aead, "c2s"));
    const s2c = channel.exportKeyingMaterial(length, NTS_EXPORTER_LABEL, ntsExporterContext(aead, "s2c"));
    const session = sessionFromKe(response.value, { c2s, s2c }, target.address);
    if (session.cookies.size === 0) {
      throw new KeFailure("protocol", `bad NTS-KE response: no usable cookie (longer than ${MAX_COOKIE_BYTES} bytes)`);
    }
    return session;
  } catch (err) {
    throw asKeFailure(err);
  } finally {
    channel.close();
  }
}

const KE_ERROR_NAMES: Record<number, string> = { 0: "unrecognized critical record", 1: "bad request", 2: "internal server error" };

function asKeFailure(err: unknown): KeFailure {
  if (err instanceof KeFailure) return err;
  return classify(err);
}

/** Maps node:net / node:tls errors to a failure kind (codes from OpenSSL's X509_V_ERR_* and Node). */
export function classify(err: unknown): KeFailure {
  const e = err as NodeJS.ErrnoException & { reason?: unknown };
  const code = e?.code ?? "";
  // OpenSSL errors carry a one-line `reason` ("tlsv1 alert protocol version"); the message is a dump.
  const message = typeof e?.reason === "string" ? e.reason : e instanceof Error ? e.message : String(err);
  if (/CERT|SIGNATURE|ISSUER|SELF_SIGNED|LEAF|ALTNAME|CHAIN/.test(code)) {
    return new KeFailure("certificate", `certificate not trusted: ${message}${code ? ` (${code})` : ""}`);
  }
  if (/^E(CONNREFUSED|CONNRESET|HOSTUNREACH|NETUNREACH|ADDRNOTAVAIL|PIPE|CONNABORTED|AFNOSUPPORT)$/.test(code)) {
    return new KeFailure("network", `${message}`);
  }
  return new KeFailure("tls", `TLS failed: ${message}${code ? ` (${code})` : ""}`);
}

// --- the real dialer -----------------------------------------------------------------------------

const SYSTEM_CA_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];
let systemCas: string[] | undefined;

/** Node's Mozilla roots plus the first system bundle found (Node 20 has no system-store API). */
function systemCertificateAuthorities(): string[] {
  if (systemCas !== undefined) return systemCas;
  const cas = [...tls.rootCertificates];
  for (const path of SYSTEM_CA_BUNDLES) {
    try {
      cas.push(readFileSync(path, "utf8"));
      break;
    } catch {
      // not on this system; try the next location
    }
  }
  systemCas = cas;
  return cas;
}

export class TlsKeDialer implements KeDialer {
  async dial(target: KeTarget, timeoutMs: number): Promise<KeChannel> {
    let ca: string | string[];
    if (target.caFile !== undefined) {
      try {
        ca = await readFile(target.caFile, "utf8");
      } catch (err) {
        throw new KeFailure("configuration", `cannot read certificate authority file ${target.caFile}: ${(err as Error).message}`);
      }
    } else {
      ca = systemCertificateAuthorities();
    }
    const isIp = net.isIP(target.host) !== 0;
    const socket = tls.connect({
      host: target.address,
      port: target.port,
      ...(isIp ? {} : { servername: target.host }),
      ALPNProtocols: [ALPN],
      minVersion: "TLSv1.3",
      ca,
      rejectUnauthorized: true,
      // The identity checked is the name (or address) the user asked for, not the resolved address.
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(target.host, cert),
    });
    return new TlsKeChannel(socket, timeoutMs).ready();
  }
}

class TlsKeChannel implements KeChannel {
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private ended = false;
  private failure: KeFailure | undefined;
  private waiter: (() => void) | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly socket: tls.TLSSocket,
    timeoutMs: number,
  ) {
    // unref: the socket keeps the process alive while the exchange runs; the deadline alone must not
    // hold a stopping daemon open for up to timeoutMs.
    this.timer = setTimeout(() => this.fail(new KeFailure("timeout", `NTS-KE did not complete within ${timeoutMs} ms`)), timeoutMs).unref();
    socket.on("data", (chunk: Buffer) => {
      this.queuedBytes += chunk.length;
      if (this.queuedBytes > MAX_QUEUED_BYTES) {
        this.fail(new KeFailure("protocol", "NTS-KE server sent more than the response limit"));
        return;
      }
      this.queue.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("close", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", (err) => this.fail(classify(err)));
  }

  /** Resolves once the handshake is done and ALPN/TLS version are as §3–§4 require. */
  ready(): Promise<KeChannel> {
    return new Promise((resolve, reject) => {
      const onFail = () => {
        this.close();
        reject(this.failure ?? new KeFailure("network", "connection closed during the TLS handshake"));
      };
      const check = () => {
        if (this.failure !== undefined || this.ended) return onFail();
        if (!this.socket.encrypted || this.socket.getProtocol?.() !== "TLSv1.3") {
          this.fail(new KeFailure("tls", `server negotiated ${this.socket.getProtocol?.() ?? "no TLS"}, NTS needs TLSv1.3`));
          return onFail();
        }
        if (this.socket.alpnProtocol !== ALPN) {
          this.fail(new KeFailure("tls", `server did not accept ALPN ${ALPN} (got ${String(this.socket.alpnProtocol)})`));
          return onFail();
        }
        this.waiter = undefined; // from here on, wake() serves read()
        resolve(this);
      };
      this.socket.once("secureConnect", check);
      this.waiter = () => {
        if (this.failure !== undefined || this.ended) {
          this.socket.off("secureConnect", check);
          onFail();
        }
      };
    });
  }

  write(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes);
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        this.queuedBytes -= chunk.length;
        return chunk;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  exportKeyingMaterial(length: number, label: string, context: Uint8Array): Uint8Array {
    return new Uint8Array(this.socket.exportKeyingMaterial(length, label, Buffer.from(context)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    // §4: send close_notify (end() does), then drop the connection rather than wait for the peer's.
    this.socket.end(() => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private fail(failure: KeFailure): void {
    this.failure ??= failure;
    this.socket.destroy();
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

// --- the simulated twin --------------------------------------------------------------------------

/** A scripted NTS-KE server for one connection: answers a complete request, provides the exporter. */
export interface SimKeConnection {
  /** Response bytes to a complete request (chunks arrive in order, then the server closes). */
  respond(request: Uint8Array): Uint8Array[];
  /** Stands in for the TLS exporter; both ends of a simulation must derive keys the same way. */
  exportKeyingMaterial(length: number, label: string, context: Uint8Array): Uint8Array;
}

/** Decides per connection attempt: a scripted connection, or a failure (refused, bad certificate). */
export type SimKeServer = (target: KeTarget) => SimKeConnection | KeFailure;

/** In-memory KeDialer: the same keyExchange() code over scripted servers, with no TLS or sockets. */
export class SimKeDialer implements KeDialer {
  readonly dialed: KeTarget[] = [];

  constructor(private readonly server: SimKeServer) {}

  async dial(target: KeTarget): Promise<KeChannel> {
    this.dialed.push(target);
    const connection = this.server(target);
    if (connection instanceof KeFailure) throw connection;
    let received = new Uint8Array(0);
    let replies: Uint8Array[] | undefined;
    return {
      write(bytes) {
        const joined = new Uint8Array(received.length + bytes.length);
        joined.set(received);
        joined.set(bytes, received.length);
        received = joined;
        replies ??= connection.respond(received);
      },
      async read() {
        return replies?.shift() ?? null;
      },
      exportKeyingMaterial: (length, label, context) => connection.exportKeyingMaterial(length, label, context),
      close() {},
    };
  }
}
