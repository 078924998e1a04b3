// One NTP server as a time source (RFC 5905 §9 peer process and §13 poll process), sans-IO.
//
// Shape (ntpd-rs ntp-proto source.rs, made stricter): events come in — start, the poll timer fired,
// the request left (with its T1), a datagram arrived (with its T4) — and actions go out — send these
// bytes there, set the timer, a sample for the filter, age the filter, give up on this server. The
// caller owns sockets, timers, the clock and the CSPRNG; `now` is seconds on its monotonic timeline
// and random bytes come in with each poll. Nothing here reads a clock or draws randomness.
//
// Per poll (A.5.7.1 poll()):
//   - the 8-bit reach register shifts left; a valid answer sets bit 0 (so reach == 0 means none of
//     the last 8 polls were answered);
//   - when the 3 newest bits are 0 the filter is aged with a dummy sample ("missed"), so a silent
//     server's distance grows until selection drops it;
//   - after 8 polls with reach == 0 the source is "unreachable"; after UNREACH_BACKOFF more the poll
//     interval doubles per poll up to the maximum, so a dead server costs little traffic; when it
//     answers again the interval drops back to the minimum and a burst re-acquires it (iburst);
//   - the request is built by ts/protocol/client-exchange.ts: 64 random bits as transmit timestamp
//     (RFC 9109 spirit; the transport adds a fresh random source port per request).
// Start-up burst (iburst): BURST_COUNT polls BURST_SPACING apart fill the filter in seconds, not
// minutes; then `initial-poll-interval`.
//
// Poll interval adaptation (RFC 5905 A.5.5.6 poll-adjust, run per source): after each filter
// update, the change of the filtered offset since the previous update is compared with PGATE times
// the source's jitter. Stable (smaller): a counter grows by the poll exponent and, past LIMIT, the
// interval doubles. Unstable (larger: high jitter, or an undisciplined clock drifting noticeably
// over one interval): the counter falls twice as fast and, past −LIMIT, the interval halves. So the
// interval lengthens only while one interval's drift stays inside the noise — what the clock filter
// and the discipline need — within `poll-interval-limits`.
//
// Kiss-o'-Death (RFC 5905 §7.4): DENY and RSTR demobilise the source (state "denied", no more
// packets); RATE at least doubles the interval and never polls faster than the server's poll field
// asks. Only a datagram echoing our random transmit timestamp can be a KoD (client-exchange.ts), so
// an off-path attacker cannot silence us.
import type { NtpTimestamp, TockCore } from "../core/api.js";
import { buildClientRequest, matchResponse, type ClientRequest, type ClientSample, type IgnoredReason } from "./client-exchange.js";

/** Polls in the start-up burst, and their spacing in seconds (chrony's and ntpd's iburst: 4 × 2 s). */
export const BURST_COUNT = 4;
export const BURST_SPACING = 2;
/** Longest wait for an answer (s): beyond this an answer is useless for timekeeping anyway. */
export const MAX_RESPONSE_WAIT = 4;
/** Polls with reach == 0 (after the first 8) before the interval starts doubling. */
export const UNREACH_BACKOFF = 4;
/** Poll-adjust gate (multiples of jitter) and hysteresis limit (RFC 5905 A.1.1: PGATE 4, LIMIT 30). */
export const PGATE = 4;
export const LIMIT = 30;
/** Highest poll exponent we ever use, even when a server's RATE asks for more (2^17 s ≈ 36 h). */
export const MAX_POLL_EXPONENT = 17;
/** Random bytes handleTimer() needs: 8 for the transmit timestamp, 2 for the poll-interval dither. */
export const RANDOM_BYTES_PER_POLL = 10;
/** The poll interval is shortened by up to this fraction at random, so clients do not lock step. */
const POLL_DITHER = 1 / 16;

export interface SourceAddress {
  address: string;
  port: number;
  family: 4 | 6;
}

export interface SourceOptions {
  to: SourceAddress;
  /** log2 seconds. */
  pollLimits: { min: number; max: number };
  initialPoll: number;
  /** Our clock's precision (log2 s), for the on-wire maths. */
  localPrecisionLog2: number;
  /** Start-up burst polls (default BURST_COUNT; 0: none). */
  burst?: number;
  /** NTP version of the requests (`ntp-version`, default 4; 3 for old servers that drop v4). */
  version?: 3 | 4;
}

export type SourceAction =
  /** Send `bytes` to `to` from a fresh socket; report T1 with handleSent, datagrams with handleResponse
   *  until `timeout` seconds have passed, or a "close" action for this request. */
  | { kind: "send"; requestId: number; bytes: Uint8Array; to: SourceAddress; timeout: number }
  /** Call handleTimer at `at` (monotonic seconds); replaces any earlier timer. */
  | { kind: "set-timer"; at: number }
  /** The exchange is over: release its socket. */
  | { kind: "close"; requestId: number }
  /** A valid measurement for the clock filter, taken at monotonic time `time`. */
  | { kind: "sample"; sample: ClientSample; time: number }
  /** Three polls in a row unanswered: shift a dummy sample into the filter (RFC 5905 A.5.7.1). */
  | { kind: "missed" }
  /** Stop using this source for good (KoD DENY/RSTR). */
  | { kind: "demobilize"; reason: string };

/**
 * What the source itself knows about its server (selection adds its own words on top).
 * "nts-failed": an NTS source (nts-source.ts) whose NTS-KE or response authentication failed.
 */
export type SourceCondition = "initialising" | "reachable" | "unreachable" | "unsynchronised" | "denied" | "nts-failed";

export interface SourceCounters {
  sent: number;
  /** Valid samples. */
  samples: number;
  /** Datagrams kept waiting past, by reason (malformed, not server mode, origin mismatch). */
  ignored: Record<IgnoredReason, number>;
  /** Answers after their exchange ended (late, duplicate) or for an unknown request. */
  stale: number;
  /** Matched answers that carry no usable time: unsynchronised server, zero timestamps. */
  unsynchronised: number;
  invalid: number;
  kod: number;
  /** Polls that got no answer. */
  missed: number;
}

interface Outstanding {
  id: number;
  request: ClientRequest;
  sentAt: NtpTimestamp | undefined;
  sentMono: number;
  done: boolean;
}

export class NtpSource {
  readonly to: SourceAddress;
  /** 8-bit reach register: bit 0 is the newest poll. */
  reach = 0;
  /** Current poll exponent (log2 s) and the floor a server's RATE KoD imposed. */
  poll: number;
  serverPollFloor = 0;
  /** Server's header fields from the newest matched answer (stratum 16 / leap 3 until one comes). */
  stratum = 16;
  leap = 3;
  rootDelay = 0;
  rootDispersion = 0;
  serverRefid = 0;
  /** Offset and delay of the last valid sample (s) and when it arrived (monotonic s), for reports. */
  lastOffset: number | undefined;
  lastDelay: number | undefined;
  lastSampleAt: number | undefined;
  /** Why the source stopped (set once denied). */
  denialReason: string | undefined;
  readonly counters: SourceCounters = {
    sent: 0, samples: 0, ignored: { malformed: 0, "not-server-mode": 0, "origin-mismatch": 0 },
    stale: 0, unsynchronised: 0, invalid: 0, kod: 0, missed: 0,
  };

  private readonly limits: { min: number; max: number };
  private readonly initialPoll: number;
  private readonly burstCount: number;
  private polls = 0;
  private zeroReachPolls = 0;
  private burstLeft: number;
  private adjustCount = 0;
  private previousFiltered: number | undefined;
  private outstanding: Outstanding | undefined;
  private nextId = 1;
  private nextPollAt = 0;
  private denied = false;
  private answeredEver = false;

  constructor(
    private readonly core: TockCore,
    private readonly options: SourceOptions,
  ) {
    const { min, max } = options.pollLimits;
    if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 0 && min <= max && max <= MAX_POLL_EXPONENT)) {
      throw new RangeError(`poll limits must be integers with 0 ≤ min ≤ max ≤ ${MAX_POLL_EXPONENT}, got ${min}..${max}`);
    }
    this.to = options.to;
    this.limits = { min, max };
    this.initialPoll = clamp(options.initialPoll, min, max);
    this.poll = this.initialPoll;
    this.burstCount = options.burst ?? BURST_COUNT;
    this.burstLeft = this.burstCount;
  }

  get condition(): SourceCondition {
    if (this.denied) return "denied";
    // reach == 0 with more than 8 polls behind it: the register's 8 polls (bit 0 the one just sent,
    // RFC 5905 semantics) all unanswered.
    if (this.reach === 0) return this.polls > 8 ? "unreachable" : "initialising";
    if (this.leap === 3 || this.stratum >= 16) return "unsynchronised";
    return "reachable";
  }

  /** Seconds between regular polls now (ignoring bursts): 2^max(poll, the server's floor). */
  get pollInterval(): number {
    return 2 ** Math.max(this.poll, this.serverPollFloor);
  }

  /** Polls sent so far. */
  get pollCount(): number {
    return this.polls;
  }

  /** When the next poll is due (monotonic s). */
  get nextPoll(): number {
    return this.nextPollAt;
  }

  /** Begins polling: the first request goes out at once. */
  start(now: number): SourceAction[] {
    if (this.denied) return [];
    this.nextPollAt = now;
    return [{ kind: "set-timer", at: now }];
  }

  /** After a clock step the filter was emptied: re-acquire quickly with a burst from the initial interval. */
  restart(now: number): SourceAction[] {
    if (this.denied) return [];
    this.burstLeft = this.burstCount;
    this.poll = Math.max(this.initialPoll, this.serverPollFloor);
    this.adjustCount = 0;
    this.previousFiltered = undefined;
    this.nextPollAt = now;
    return [{ kind: "set-timer", at: now }];
  }

  /**
   * The poll timer fired. `random` holds RANDOM_BYTES_PER_POLL bytes from a CSPRNG: the transmit
   * timestamp nonce and the interval dither.
   */
  handleTimer(now: number, random: Uint8Array): SourceAction[] {
    if (this.denied) return [];
    if (now < this.nextPollAt) return [{ kind: "set-timer", at: this.nextPollAt }]; // early wake-up
    if (random.length < RANDOM_BYTES_PER_POLL) throw new RangeError(`handleTimer needs ${RANDOM_BYTES_PER_POLL} random bytes`);
    const actions: SourceAction[] = [];

    const previous = this.outstanding;
    if (previous !== undefined && !previous.done) {
      previous.done = true;
      this.counters.missed++;
      actions.push({ kind: "close", requestId: previous.id });
    }
    if (this.polls > 0) {
      this.reach = (this.reach << 1) & 0xff;
      if ((this.reach & 0x7) === 0 && this.answeredEver) actions.push({ kind: "missed" });
    }
    this.polls++;
    if (this.reach === 0 && this.polls > 8) {
      // Unreachable: no bursts into the void; after UNREACH_BACKOFF more polls, back off (A.5.7.1).
      this.zeroReachPolls++;
      this.burstLeft = 0;
      if (this.zeroReachPolls > UNREACH_BACKOFF && this.poll < this.limits.max) this.poll++;
    } else {
      this.zeroReachPolls = 0;
    }

    const inBurst = this.burstLeft > 0;
    if (inBurst) this.burstLeft--;
    const nonce = readU64(random, 0);
    const request = buildClientRequest(this.core, nonce, Math.max(this.poll, this.serverPollFloor));
    // The version lives in bits 3–5 of the first octet; a v3 request is otherwise identical.
    if (this.options.version === 3) request.bytes[0] = (request.bytes[0]! & 0xc7) | (3 << 3);
    const id = this.nextId++;
    this.outstanding = { id, request, sentAt: undefined, sentMono: now, done: false };
    this.counters.sent++;

    const dither = 1 - POLL_DITHER * (((random[8]! << 8) | random[9]!) / 65536);
    const interval = inBurst && this.burstLeft > 0 ? Math.min(BURST_SPACING, this.pollInterval) : this.pollInterval * dither;
    this.nextPollAt = now + interval;
    actions.push({ kind: "send", requestId: id, bytes: request.bytes, to: this.to, timeout: Math.min(interval, MAX_RESPONSE_WAIT) });
    actions.push({ kind: "set-timer", at: this.nextPollAt });
    return actions;
  }

  /** The request left: `sentAt` is T1, the local clock just before the datagram went to the kernel. */
  handleSent(requestId: number, sentAt: NtpTimestamp): void {
    const o = this.outstanding;
    if (o !== undefined && o.id === requestId && !o.done) o.sentAt = sentAt;
  }

  /** Sending failed (e.g. ENETUNREACH): the poll counts as unanswered; nothing else to do. */
  handleSendFailed(requestId: number): SourceAction[] {
    const o = this.outstanding;
    if (o === undefined || o.id !== requestId || o.done) return [];
    o.done = true;
    return [{ kind: "close", requestId }];
  }

  /** A datagram arrived on request `requestId`'s socket at T4 = `receivedAt` (monotonic `now`). */
  handleResponse(requestId: number, bytes: Uint8Array, receivedAt: NtpTimestamp, now: number): SourceAction[] {
    const o = this.outstanding;
    if (this.denied || o === undefined || o.id !== requestId || o.done || o.sentAt === undefined) {
      this.counters.stale++;
      return [];
    }
    const outcome = matchResponse(this.core, bytes, {
      request: o.request, sentAt: o.sentAt, receivedAt, localPrecisionLog2: this.options.localPrecisionLog2,
    });
    if (outcome.kind === "ignored") {
      this.counters.ignored[outcome.reason]++;
      return []; // keep waiting: the genuine answer may still come
    }
    o.done = true;
    const close: SourceAction = { kind: "close", requestId };
    switch (outcome.kind) {
      case "kod":
        this.counters.kod++;
        if (outcome.code === "DENY" || outcome.code === "RSTR") {
          this.denied = true;
          this.denialReason = `server sent KoD ${outcome.code}`;
          return [close, { kind: "demobilize", reason: this.denialReason }];
        }
        if (outcome.code === "RATE") return [close, ...this.rateLimited(outcome.header.poll, o.sentMono)];
        // Other codes (and unknown "X…" ones, RFC 5905 §7.4) carry no time: like an unsynchronised answer.
        this.noteHeader(outcome.header, true);
        this.counters.unsynchronised++;
        return [close];
      case "unsynchronised":
        this.noteHeader(outcome.header, true);
        this.counters.unsynchronised++;
        return [close];
      case "invalid":
        this.counters.invalid++;
        return [close];
      case "sample":
        this.noteHeader(outcome.sample.header, false);
        this.counters.samples++;
        this.lastOffset = outcome.sample.offset;
        this.lastDelay = outcome.sample.delay;
        this.lastSampleAt = now;
        return [close, { kind: "sample", sample: outcome.sample, time: now }];
    }
  }

  /**
   * The filter took a sample of this source: `offset` and `jitter` are its filtered peer offset and
   * jitter (s). Runs the poll-adjust hill climb (see the file header); may move the next poll.
   */
  handleFiltered(offset: number, jitter: number, now: number): SourceAction[] {
    const previous = this.previousFiltered;
    this.previousFiltered = offset;
    if (previous === undefined || this.burstLeft > 0 || this.denied) return [];
    const before = this.poll;
    const weight = Math.max(this.poll, 1);
    if (Math.abs(offset - previous) < PGATE * jitter) {
      this.adjustCount += weight;
      if (this.adjustCount > LIMIT) {
        this.adjustCount = LIMIT;
        if (this.poll < this.limits.max) {
          this.adjustCount = 0;
          this.poll++;
        }
      }
    } else {
      this.adjustCount -= 2 * weight;
      if (this.adjustCount < -LIMIT) {
        this.adjustCount = -LIMIT;
        if (this.poll > this.limits.min) {
          this.adjustCount = 0;
          this.poll--;
        }
      }
    }
    if (this.poll >= before || this.outstanding === undefined) return [];
    // Shorter interval: poll earlier than planned (the longer one may be pre-empted, A.5.7.2).
    const due = Math.max(now, this.outstanding.sentMono + this.pollInterval);
    if (due >= this.nextPollAt) return [];
    this.nextPollAt = due;
    return [{ kind: "set-timer", at: due }];
  }

  private rateLimited(serverPoll: number, sentMono: number): SourceAction[] {
    // RFC 5905 §7.4: reduce the rate, and again on every RATE. At least double the interval (even
    // past our own maximum: the server's limit wins), never poll faster than the server's poll field
    // says (the minimum it accepts), and keep the new interval as a floor: the faster rate drew a
    // RATE once, so adaptation must not return to it.
    const asked = Number.isInteger(serverPoll) ? clamp(serverPoll, 0, MAX_POLL_EXPONENT) : 0;
    this.poll = Math.min(Math.max(this.poll + 1, asked), MAX_POLL_EXPONENT);
    this.serverPollFloor = Math.max(this.serverPollFloor, this.poll);
    this.burstLeft = 0;
    this.adjustCount = 0;
    this.nextPollAt = sentMono + this.pollInterval;
    return [{ kind: "set-timer", at: this.nextPollAt }];
  }

  private noteHeader(h: { stratum: number; leap: number; rootDelay: number; rootDispersion: number; referenceId: number }, unusable: boolean): void {
    const wasSilent = this.reach === 0;
    this.reach |= 1;
    this.answeredEver = true;
    if (wasSilent && this.zeroReachPolls > 0) {
      // Back after a silence: fast polling and a burst re-acquire it (A.5.7.1 iburst).
      this.zeroReachPolls = 0;
      this.poll = Math.max(this.limits.min, this.serverPollFloor);
      this.burstLeft = this.burstCount;
    }
    // Stratum 0 on the wire means "unspecified" (RFC 5905 §7.3): as a peer variable it is 16.
    this.stratum = unusable || h.stratum === 0 ? 16 : Math.min(h.stratum, 16);
    this.leap = unusable ? 3 : h.leap;
    this.rootDelay = h.rootDelay;
    this.rootDispersion = h.rootDispersion;
    this.serverRefid = h.referenceId >>> 0;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

function readU64(bytes: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(bytes[at + i]!);
  return v;
}
