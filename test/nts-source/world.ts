// A virtual NTS world for the client loop (ts/daemon/client.ts NtpClient, production class): virtual
// time (test/source/virtual-net.ts VirtualScheduler), a scripted NTS-KE server behind the real
// keyExchange() code (SimKeDialer), and a scripted NTS-protected NTP server on a ClientTransport.
//
// The KE server hands out cookies that name their key set (cookie = 4-byte session number + filler)
// and derives c2s/s2c with HKDF from a per-connection secret, standing in for the TLS exporter on both
// ends. The NTP server looks the cookie up, verifies the request's Authenticator under c2s (a request
// that does not verify counts in `badRequests` and gets no answer), and answers per `behaviour` —
// honestly (UID echoed, placeholders + 1 fresh cookies sealed under s2c), or with a NAK, a plain
// unauthenticated answer, a wrong key, a forgery, silence.
import { hkdfSync } from "node:crypto";
import type { Aead } from "../../ts/core/aead.js";
import { createAead } from "../../ts/core/aead.js";
import type { NtpHeader } from "../../ts/core/api.js";
import type { SourceConfig } from "../../ts/config/index.js";
import { NtpClient } from "../../ts/daemon/client.js";
import { KeFailure, SimKeDialer } from "../../ts/daemon/nts-ke-client.js";
import { StaticResolver } from "../../ts/daemon/resolver.js";
import type { ClientTransport, Endpoint, ExchangeSocket } from "../../ts/daemon/udp.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { EF_NTS_AUTHENTICATOR, EF_NTS_COOKIE, EF_NTS_COOKIE_PLACEHOLDER, EF_UNIQUE_IDENTIFIER, aeadKeyLength } from "../../ts/protocol/nts-client.js";
import { buildKeResponse, decodeKeMessage, interpretKeRequest, REQUEST_LIMITS } from "../../ts/protocol/nts-ke-records.js";
import { unsynchronisedState } from "../../ts/protocol/server-policy.js";
import type { ClockAction } from "../../ts/protocol/system.js";
import { fields, ntsResponse } from "../nts-client/support.js";
import { core, ntpAt, randomSource, requestNonce, seconds, wasm } from "../source/support.js";
import { VirtualScheduler, virtualExchangeSocket } from "../source/virtual-net.js";

export { core, wasm };
export const aead: Aead = createAead(wasm, { maxMessageBytes: 4096, maxKeys: 4 });

/** Where the KE server is, and the NTP server it negotiates (§4.1.7–§4.1.8). */
export const KE_HOST = "ke.example";
export const KE_ADDRESS = "192.0.2.1";
export const NTP_HOST = "time.example";
export const NTP_ADDRESS = "192.0.2.2";
export const NTP_PORT = 1123;

/** What the NTP server does with request number `i` (0-based, over the whole run). */
export type Behaviour =
  | "honest"
  | "silent"
  /** KoD NTSN echoing the Unique Identifier (§5.7): the cookie is refused. */
  | "nak"
  /** A plain NTP answer (right origin, no NTS fields) — must never become time. */
  | "plain"
  /** Sealed under a key that is not s2c. */
  | "wrong-key"
  /** A forged answer (plain, 5 s off, right origin) first, then the honest one. */
  | "forged-first"
  /** Kiss-o'-Death `code`, authenticated (inside a genuine NTS response) or plain (no NTS fields). */
  | { kod: string; authenticated: boolean }
  /** The honest answer with bit `bit` of byte `byte` flipped. */
  | { byte: number; bit: number };

export interface WorldOptions {
  /** Per KE connection attempt (0-based): "ok" or a failure. */
  ke?: (attempt: number, now: number) => "ok" | KeFailure;
  behaviour?: (i: number, now: number) => Behaviour;
  /** The server's clock offset from ours (s). */
  offset?: number;
  /** Extra sources (e.g. plain servers) beside the nts one. */
  config?: Partial<SourceConfig>;
  minimumAgreeingSources?: number;
}

export interface SentRequest {
  t: number;
  to: Endpoint;
  bytes: Uint8Array;
  placeholders: number;
  cookieSession: number;
}

export function ntsSourceConfig(extra: Partial<SourceConfig> = {}): SourceConfig {
  return {
    mode: "nts", host: KE_HOST, port: 4460, address: `${KE_HOST}:4460`, certificateAuthority: "/test/ca.pem",
    pollIntervalLimits: { min: 2, max: 4 }, initialPollInterval: 2, ntpVersion: 4, ...extra,
  } as SourceConfig;
}

export function ntsWorld(options: WorldOptions = {}) {
  const scheduler = new VirtualScheduler();
  const sessions: Array<{ aead: number; c2s: Uint8Array; s2c: Uint8Array }> = [];
  /** Monotonic times of every KE connection attempt. */
  const keAttempts: number[] = [];
  const requests: SentRequest[] = [];
  const state = { badRequests: 0, opened: 0 };
  let cookieSerial = 0;
  const newCookie = (session: number) => {
    const cookie = new Uint8Array(100).fill(++cookieSerial & 0xff);
    new DataView(cookie.buffer).setUint32(0, session);
    return cookie;
  };

  const dialer = new SimKeDialer((target) => {
    const attempt = keAttempts.length;
    keAttempts.push(scheduler.now());
    const verdict = options.ke?.(attempt, scheduler.now()) ?? "ok";
    if (verdict instanceof KeFailure) return verdict;
    const secret = Buffer.from(`tls-session-${attempt}-${target.address}`);
    const exporter = (length: number, label: string, context: Uint8Array) =>
      new Uint8Array(hkdfSync("sha256", secret, Buffer.alloc(0), Buffer.concat([Buffer.from(label), Buffer.from(context)]), length));
    return {
      exportKeyingMaterial: exporter,
      respond(request) {
        const decoded = decodeKeMessage(request, REQUEST_LIMITS);
        if (decoded.state !== "done") throw new Error("client sent a bad KE request");
        const req = interpretKeRequest(decoded.records);
        if (!req.ok) throw new Error(req.reason);
        const chosen = 15; // what chrony speaks; the client offers it
        if (!req.value.aeadAlgorithms.includes(chosen)) throw new Error("client does not offer AEAD 15");
        const ctx = (d: number) => Uint8Array.from([0, 0, chosen >> 8, chosen & 0xff, d]);
        const session = sessions.length;
        sessions.push({ aead: chosen, c2s: exporter(aeadKeyLength(chosen), "EXPORTER-network-time-security", ctx(0)), s2c: exporter(aeadKeyLength(chosen), "EXPORTER-network-time-security", ctx(1)) });
        return [buildKeResponse({ protocols: [0], aead: chosen, cookies: Array.from({ length: 8 }, () => newCookie(session)), server: NTP_HOST, port: NTP_PORT })];
      },
    };
  });

  /** The server's answers to one request, each with its delay after the request (s). */
  const answer = (request: Uint8Array, t1: number): Array<{ bytes: Uint8Array; after: number }> => {
    const i = requests.length;
    const efs = fields(request);
    const cookie = efs.find((f) => f.type === EF_NTS_COOKIE)?.body;
    const auth = efs.find((f) => f.type === EF_NTS_AUTHENTICATOR);
    const sessionNumber = cookie === undefined ? -1 : new DataView(cookie.buffer, cookie.byteOffset).getUint32(0);
    const placeholders = efs.filter((f) => f.type === EF_NTS_COOKIE_PLACEHOLDER).length;
    const session = sessions[sessionNumber];
    let verified = false;
    if (session !== undefined && auth !== undefined) {
      const nonceLength = (auth.body[0]! << 8) | auth.body[1]!;
      const ctLength = (auth.body[2]! << 8) | auth.body[3]!;
      const at = 4 + ((nonceLength + 3) & ~3);
      const opened = aead.open(session.aead, session.c2s, auth.body.subarray(4, 4 + nonceLength), [request.subarray(0, auth.offset)], auth.body.subarray(at, at + ctLength));
      verified = opened !== null;
    }
    requests.push({ t: t1, to: { address: "", port: 0, family: 4 }, bytes: request, placeholders, cookieSession: sessionNumber });
    if (!verified || session === undefined) {
      state.badRequests++;
      return [];
    }
    const rtt = 0.01;
    const serverTime = ntpAt(t1 + rtt / 2 + (options.offset ?? 0.001));
    const header: Partial<NtpHeader> = {
      stratum: 2, poll: 4, precision: -23, rootDelay: 0.002, rootDispersion: 0.003, referenceId: 0x0a000001,
      referenceTime: serverTime - seconds(10), receiveTime: serverTime, transmitTime: serverTime,
    };
    const fresh = Array.from({ length: placeholders + 1 }, () => newCookie(sessionNumber));
    const honest = () => ntsResponse(core, request, { aead, algorithm: session.aead, s2c: session.s2c, cookies: fresh, header });
    const plain = (offset: number) => core.buildHeader({
      leap: 0, version: 4, mode: 4, stratum: 1, poll: 4, precision: -23, rootDelay: 0, rootDispersion: 0, referenceId: 0x47505300,
      referenceTime: ntpAt(t1), originTime: requestNonce(core, request),
      receiveTime: ntpAt(t1 + rtt / 2 + offset), transmitTime: ntpAt(t1 + rtt / 2 + offset),
    });
    const behaviour = options.behaviour?.(i, t1) ?? "honest";
    if (typeof behaviour === "object" && "kod" in behaviour) {
      const kiss = { stratum: 0, leap: 3, referenceId: ascii(behaviour.kod), receiveTime: 0n, transmitTime: 0n, referenceTime: 0n };
      if (behaviour.authenticated) return [{ bytes: ntsResponse(core, request, { aead, algorithm: session.aead, s2c: session.s2c, cookies: fresh, header: { ...header, ...kiss } }), after: rtt }];
      const kod = core.buildHeader({ version: 4, mode: 4, poll: 4, precision: 0, rootDelay: 0, rootDispersion: 0, originTime: requestNonce(core, request), ...kiss });
      return [{ bytes: kod, after: rtt / 2 }, { bytes: honest(), after: rtt }];
    }
    if (typeof behaviour === "object") {
      const bytes = honest();
      bytes[behaviour.byte % bytes.length]! ^= 1 << (behaviour.bit & 7);
      return [{ bytes, after: rtt }];
    }
    switch (behaviour) {
      case "honest":
        return [{ bytes: honest(), after: rtt }];
      case "silent":
        return [];
      case "plain":
        return [{ bytes: plain(5), after: rtt }];
      case "forged-first":
        return [{ bytes: plain(5), after: rtt / 2 }, { bytes: honest(), after: rtt }];
      case "wrong-key":
        return [{ bytes: ntsResponse(core, request, { aead, algorithm: session.aead, s2c: session.c2s, cookies: fresh, header }), after: rtt }];
      case "nak": {
        const uid = efs.find((f) => f.type === EF_UNIQUE_IDENTIFIER)!.body;
        const kod = core.buildHeader({
          leap: 3, version: 4, mode: 4, stratum: 0, poll: 4, precision: 0, rootDelay: 0, rootDispersion: 0,
          referenceId: 0x4e54534e, referenceTime: 0n, originTime: requestNonce(core, request), receiveTime: 0n, transmitTime: 0n,
        });
        const uidEf = new Uint8Array(4 + uid.length);
        uidEf.set([0x01, 0x04, uidEf.length >> 8, uidEf.length & 0xff]);
        uidEf.set(uid, 4);
        const out = new Uint8Array(kod.length + uidEf.length);
        out.set(kod);
        out.set(uidEf, kod.length);
        return [{ bytes: out, after: rtt }];
      }
    }
  };

  const transport: ClientTransport = {
    async open(to: Endpoint, timeoutMs: number): Promise<ExchangeSocket> {
      state.opened++;
      return virtualExchangeSocket(scheduler, timeoutMs, (bytes, t1, deliver) => {
        const replies = to.address === NTP_ADDRESS && to.port === NTP_PORT ? answer(bytes, t1) : [];
        const sent = requests.at(-1);
        if (sent !== undefined && sent.bytes === bytes) sent.to = to;
        else requests.push({ t: t1, to, bytes, placeholders: 0, cookieSession: -1 }); // sent elsewhere: recorded, unanswered
        for (const r of replies) deliver(t1 + r.after, r.bytes);
      });
    },
  };

  const actions: ClockAction[] = [];
  const client = new NtpClient({
    core, wasm, sources: [ntsSourceConfig(options.config)], minimumAgreeingSources: options.minimumAgreeingSources ?? 1,
    transport,
    resolver: new StaticResolver({ [KE_HOST]: [{ address: KE_ADDRESS, family: 4 }], [NTP_HOST]: [{ address: NTP_ADDRESS, family: 4 }] }),
    precisionLog2: -20, logger: silentLogger(), fallback: () => unsynchronisedState(-20),
    onClockActions: (a) => actions.push(...a), scheduler, random: randomSource(11), maxSources: 4,
    nts: { dialer, aead },
  });
  const source = () => {
    const r = client.report().sources[0];
    if (r === undefined) throw new Error("no source in the report");
    return r;
  };
  return { scheduler, client, dialer, keAttempts, requests, state, sessions, actions, source };
}

function ascii(code: string): number {
  let id = 0;
  for (let i = 0; i < 4; i++) id = (id << 8) | (code.charCodeAt(i) || 0);
  return id >>> 0;
}
