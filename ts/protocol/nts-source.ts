// One NTS-protected time source (`[[source]] mode = "nts"`, RFC 8915), sans-IO.
//
// An NtsSource is an NtpSource (ts/protocol/source.ts) with an NTS association in front of its
// wire: the inner NtpSource keeps doing everything a plain source does — reach register, poll
// interval adaptation, start-up burst, Kiss-o'-Death, the random transmit timestamp — and this
// wrapper only changes what goes out and what is allowed in:
//   - out: every 48-byte request the inner source asks to send is wrapped (ts/protocol/nts-client.ts)
//     into header ‖ Unique Identifier (32 random bytes) ‖ NTS Cookie ‖ placeholders ‖ Authenticator
//     under c2s, and sent to the NTP server and port the last NTS-KE named (§4.1.7–§4.1.8), not to
//     the KE server. The shell still uses a fresh random source port per request.
//   - in: a datagram reaches the inner source ONLY after NtsAssociation.handleResponse said
//     "authenticated" (origin, Unique Identifier, AEAD under s2c). Anything else — a plain NTP answer,
//     a forged or mangled one, a wrong key — is dropped and counted and the exchange keeps waiting,
//     so a source configured as NTS never falls back to unauthenticated time (§5.7 "MUST be
//     discarded"). An NTS NAK (KoD NTSN with our Unique Identifier) ends the exchange and asks for a
//     new NTS-KE at once.
//
// NTS-KE itself is I/O (TLS) and belongs to the shell: this machine emits a "key-exchange" action
// and is told the outcome with handleKeyExchangeDone / handleKeyExchangeFailed. A KE is asked for
// when a poll is due and the association cannot build a request (no session yet, no cookie left,
// NAKed) — the poll waits ("deferred") for the KE and goes out as soon as it succeeds — and right
// after a NAK. Between KEs that were not followed by an authenticated exchange, RFC 8915 §4.2's
// back-off applies: the n-th retry waits at least min(10 · 1.5^(n−1), 432000) s after the previous
// attempt, and n is reset only by an authenticated response ("MUST NOT reset the retry interval
// until ... successful use"). A poll that finds the back-off running is counted as unanswered (the
// inner source's reach decays, then it backs off its own interval as for a dead server).
//
// Cookies: each request spends one and carries placeholders so that the server's reply brings the
// jar back to 8 (§5.7); the jar never holds more than 8 (CookieJar capacity).
//
// States in words: the inner source's condition, except "nts-failed" while the last NTS-KE failed or
// the newest response that was ours failed authentication (cleared by the next authenticated one).
import type { NtpTimestamp, TockCore } from "../core/api.js";
import type { Aead } from "../core/aead.js";
import {
  NtsAssociation,
  UNIQUE_ID_BYTES,
  aeadNonceLength,
  keRetryIntervalSeconds,
  type KeyExchangeReason,
  type NtsIgnoredReason,
  type NtsSession,
} from "./nts-client.js";
import {
  NtpSource,
  RANDOM_BYTES_PER_POLL,
  type SourceAction,
  type SourceAddress,
  type SourceCondition,
  type SourceCounters,
  type SourceOptions,
} from "./source.js";

/** Longest AEAD nonce a request needs (SIV: 16, GCM-SIV: 12). */
const MAX_NONCE_BYTES = 16;
/** Random bytes handleTimer() needs: the plain source's, a Unique Identifier and an AEAD nonce. */
export const NTS_RANDOM_BYTES_PER_POLL = RANDOM_BYTES_PER_POLL + UNIQUE_ID_BYTES + MAX_NONCE_BYTES;

/** Reasons a datagram is dropped that say nothing about NTS (not even addressed to our request). */
const NOISE: ReadonlySet<NtsIgnoredReason> = new Set(["malformed", "not-server-mode", "origin-mismatch"]);

export type NtsSourceAction =
  | SourceAction
  /** Run NTS-KE with the configured server now; report with handleKeyExchangeDone/-Failed. */
  | { kind: "key-exchange"; reason: KeyExchangeReason };

export interface NtsSourceOptions extends Omit<SourceOptions, "to"> {
  /** The NTS-KE server as configured (shown as the address until the first KE names the NTP server). */
  keServer: { host: string; port: number };
}

export interface NtsCounters {
  /** NTS-KE exchanges started, and those that failed. */
  keyExchanges: number;
  keyExchangeFailures: number;
  /** Polls not sent because a KE was needed and the §4.2 back-off was still running. */
  backedOffPolls: number;
  /** Authenticated responses. */
  authenticated: number;
  /** NTS NAKs (KoD NTSN with our Unique Identifier). */
  naks: number;
  /** Datagrams dropped by the NTS checks, by reason (never a sample). */
  dropped: Record<NtsIgnoredReason, number>;
}

/** What a source with NTS tells a report beyond a plain one. */
export interface NtsStatus {
  keServer: string;
  /** Negotiated AEAD id, undefined before the first KE. */
  aead: number | undefined;
  cookies: number;
  /** Why the source is "nts-failed", if it is. */
  failure: string | undefined;
  counters: NtsCounters;
}

interface DeferredPoll {
  requestId: number;
  header: Uint8Array;
  timeout: number;
  /** The UID and nonce bytes drawn for this poll. */
  random: Uint8Array;
}

export class NtsSource {
  readonly ntsCounters: NtsCounters = {
    keyExchanges: 0, keyExchangeFailures: 0, backedOffPolls: 0, authenticated: 0, naks: 0,
    dropped: {
      malformed: 0, "not-server-mode": 0, "origin-mismatch": 0, "no-authenticator": 0, "unique-id-mismatch": 0,
      "authentication-failed": 0, "bad-encrypted-fields": 0, "unauthenticated-kod": 0,
    },
  };
  /** Why the source is "nts-failed" (KE failure or authentication failure), or undefined. */
  failure: string | undefined;

  private readonly inner: NtpSource;
  private readonly association = new NtsAssociation();
  private readonly placeholderTo: SourceAddress;
  private ntpTo: SourceAddress | undefined;
  private keRunning = false;
  /** KEs started since the last authenticated response: n of §4.2's back-off. */
  private keSinceAuthenticated = 0;
  private lastKeAt = -Infinity;
  private deferred: DeferredPoll | undefined;
  /** The request whose NTS request is on the wire (responses to others are stale). */
  private inFlight: number | undefined;
  /** Polls the inner source counted as sent that never went out (no session). */
  private unsent = 0;

  constructor(
    private readonly core: TockCore,
    private readonly aead: Aead,
    private readonly options: NtsSourceOptions,
  ) {
    const { host, port } = options.keServer;
    this.placeholderTo = { address: host, port, family: host.includes(":") ? 6 : 4 };
    this.inner = new NtpSource(core, { ...options, to: this.placeholderTo });
  }

  // --- what selection and reports read (PeerView and the report fields of NtpSource) ------------

  /** Where NTP goes: the server and port the last NTS-KE named; the KE server before the first. */
  get to(): SourceAddress {
    return this.ntpTo ?? this.placeholderTo;
  }
  get reach(): number { return this.inner.reach; }
  get stratum(): number { return this.inner.stratum; }
  get leap(): number { return this.inner.leap; }
  get rootDelay(): number { return this.inner.rootDelay; }
  get rootDispersion(): number { return this.inner.rootDispersion; }
  get serverRefid(): number { return this.inner.serverRefid; }
  get pollInterval(): number { return this.inner.pollInterval; }
  get pollCount(): number { return this.inner.pollCount; }
  /** The plain source's counters; `sent` counts only requests that went out (not polls lost to a failed or backed-off KE). */
  get counters(): SourceCounters { return { ...this.inner.counters, sent: this.inner.counters.sent - this.unsent }; }
  get lastOffset(): number | undefined { return this.inner.lastOffset; }
  get lastDelay(): number | undefined { return this.inner.lastDelay; }
  get lastSampleAt(): number | undefined { return this.inner.lastSampleAt; }
  get denialReason(): string | undefined { return this.inner.denialReason; }

  get condition(): SourceCondition {
    const inner = this.inner.condition;
    if (inner === "denied") return "denied";
    if (this.failure !== undefined) return "nts-failed";
    return inner;
  }

  /** Cookies in the jar now (0 before the first KE). */
  get cookies(): number {
    return this.association.session?.cookies.size ?? 0;
  }

  get status(): NtsStatus {
    const { host, port } = this.options.keServer;
    return {
      keServer: `${host.includes(":") ? `[${host}]` : host}:${port}`,
      aead: this.association.session?.aead,
      cookies: this.cookies,
      failure: this.failure,
      counters: this.ntsCounters,
    };
  }

  // --- events ----------------------------------------------------------------------------------

  /** Begins: the first poll is due at once (and asks for the first NTS-KE). */
  start(now: number): NtsSourceAction[] {
    return this.inner.start(now);
  }

  restart(now: number): NtsSourceAction[] {
    return this.inner.restart(now);
  }

  /** The poll timer fired; `random` holds NTS_RANDOM_BYTES_PER_POLL bytes from a CSPRNG. */
  handleTimer(now: number, random: Uint8Array): NtsSourceAction[] {
    if (random.length < NTS_RANDOM_BYTES_PER_POLL) throw new RangeError(`handleTimer needs ${NTS_RANDOM_BYTES_PER_POLL} random bytes`);
    const actions = this.inner.handleTimer(now, random.subarray(0, RANDOM_BYTES_PER_POLL));
    const out: NtsSourceAction[] = [];
    for (const a of actions) {
      if (a.kind !== "send") {
        out.push(a);
        continue;
      }
      // A new poll supersedes one still waiting for a KE (the inner source counted it unanswered).
      this.deferred = undefined;
      this.inFlight = undefined;
      const poll: DeferredPoll = { requestId: a.requestId, header: a.bytes, timeout: a.timeout, random: random.slice(RANDOM_BYTES_PER_POLL) };
      const send = this.wrap(poll);
      if (send !== undefined) {
        out.push(send);
        continue;
      }
      // No usable session: the poll waits for a KE — unless §4.2's back-off forbids one now.
      const ke = this.startKeyExchange(now);
      if (ke === undefined) {
        this.ntsCounters.backedOffPolls++;
        out.push(...this.unsentPoll(a.requestId));
      } else {
        this.deferred = poll;
        out.push(...ke);
      }
    }
    return out;
  }

  /** The shell finished NTS-KE: `ntpTo` is the resolved NTP server it named (or the KE server's). */
  handleKeyExchangeDone(now: number, session: NtsSession, ntpTo: SourceAddress): NtsSourceAction[] {
    if (!this.keRunning) return [];
    this.keRunning = false;
    this.failure = undefined;
    // §5.7: a new KE replaces every old cookie and key (installSession drops the old session).
    this.association.installSession(session);
    this.ntpTo = ntpTo;
    const poll = this.deferred;
    this.deferred = undefined;
    if (poll === undefined) return [];
    const send = this.wrap(poll);
    return send === undefined ? this.unsentPoll(poll.requestId) : [send];
  }

  /** NTS-KE failed (network, TLS, certificate, Error record, protocol): the source is "nts-failed". */
  handleKeyExchangeFailed(_now: number, reason: string): NtsSourceAction[] {
    if (!this.keRunning) return [];
    this.keRunning = false;
    this.ntsCounters.keyExchangeFailures++;
    this.failure = `NTS-KE failed: ${reason}`;
    const poll = this.deferred;
    this.deferred = undefined;
    return poll === undefined ? [] : this.unsentPoll(poll.requestId);
  }

  handleSent(requestId: number, sentAt: NtpTimestamp): void {
    this.inner.handleSent(requestId, sentAt);
  }

  handleSendFailed(requestId: number): NtsSourceAction[] {
    if (requestId === this.inFlight) {
      this.inFlight = undefined;
      this.association.requestLost();
    }
    return this.inner.handleSendFailed(requestId);
  }

  /** A datagram arrived for `requestId`: it becomes time only if it authenticates (see the header). */
  handleResponse(requestId: number, bytes: Uint8Array, receivedAt: NtpTimestamp, now: number): NtsSourceAction[] {
    if (requestId !== this.inFlight) {
      this.inner.counters.stale++;
      return [];
    }
    const verdict = this.association.handleResponse(this.core, this.aead, bytes);
    switch (verdict.kind) {
      case "ignored":
        this.ntsCounters.dropped[verdict.reason]++;
        if (!NOISE.has(verdict.reason)) this.failure = `response failed NTS checks (${verdict.reason})`;
        return []; // keep waiting: the genuine answer may still come
      case "nak": {
        this.ntsCounters.naks++;
        this.inFlight = undefined;
        const closed = this.inner.handleSendFailed(requestId);
        return [...closed, ...(this.startKeyExchange(now) ?? [])];
      }
      case "authenticated":
        this.ntsCounters.authenticated++;
        this.keSinceAuthenticated = 0; // §4.2: a KE followed by a successful exchange resets n
        this.failure = undefined;
        this.inFlight = undefined;
        // Authentic: the ordinary RFC 5905 checks and maths (KoD, unsynchronised, on-wire) apply.
        return this.inner.handleResponse(requestId, bytes, receivedAt, now);
    }
  }

  handleFiltered(offset: number, jitter: number, now: number): NtsSourceAction[] {
    return this.inner.handleFiltered(offset, jitter, now);
  }

  // --- internals -------------------------------------------------------------------------------

  /** A poll that never went out: unanswered for the reach register, not counted as sent. */
  private unsentPoll(requestId: number): NtsSourceAction[] {
    this.unsent++;
    return this.inner.handleSendFailed(requestId);
  }

  /** The inner source's request as an NTS request to the negotiated server, or undefined if a KE is needed. */
  private wrap(poll: DeferredPoll): NtsSourceAction | undefined {
    const session = this.association.session;
    if (session === undefined || this.ntpTo === undefined || this.association.needsKeyExchange !== null) return undefined;
    const nonceLength = aeadNonceLength(session.aead);
    const built = this.association.prepareRequest(this.aead, {
      header: poll.header,
      originTime: readU64(poll.header, 40), // the transmit timestamp: 64 random bits (client-exchange.ts)
      uniqueId: poll.random.subarray(0, UNIQUE_ID_BYTES),
      nonce: poll.random.subarray(UNIQUE_ID_BYTES, UNIQUE_ID_BYTES + nonceLength),
    });
    if (built.kind !== "request") return undefined;
    this.inFlight = poll.requestId;
    return { kind: "send", requestId: poll.requestId, bytes: built.bytes, to: this.ntpTo, timeout: poll.timeout };
  }

  /** [key-exchange], [] when one is already running (the caller waits for it), undefined while §4.2's back-off forbids one. */
  private startKeyExchange(now: number): NtsSourceAction[] | undefined {
    if (this.keRunning) return [];
    const retry = this.keSinceAuthenticated;
    if (retry > 0 && now < this.lastKeAt + keRetryIntervalSeconds(retry)) return undefined;
    this.keRunning = true;
    this.lastKeAt = now;
    this.keSinceAuthenticated++;
    this.ntsCounters.keyExchanges++;
    const reason = this.association.needsKeyExchange ?? "no-cookies";
    return [{ kind: "key-exchange", reason }];
  }
}

function readU64(bytes: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(bytes[at + i] ?? 0);
  return v;
}
