// One client/server exchange (RFC 5905 §8, mode 3 → mode 4), sans-IO: bytes, timestamps and random
// bits come in as arguments; nothing here opens a socket, reads a clock or draws randomness.
//
// Request (RFC 9109 spirit, as ntpd-rs and chrony do): every field zero except version 4, mode 3 and
// the transmit timestamp, which carries 64 RANDOM bits instead of our clock. The server copies it into
// the response's origin timestamp, so it works as a nonce: an off-path attacker must guess 64 bits (on
// top of the random source port) to get a forged response accepted, and the request leaks nothing
// about our clock. The real local send time T1 is remembered separately and used for the maths.
//
// Response checks, in order (each maps to one outcome; "ignored" means keep waiting, because the
// datagram may be stale, duplicated or forged and the genuine answer may still come):
//   1. parses as an NTP packet (length ≥ 48, sane version, well-formed extensions)  else ignored
//   2. mode 4 (server)                                                               else ignored
//   3. origin timestamp == our random transmit timestamp (RFC 5905 §8 "bogus")      else ignored
//   4. stratum 0 with an ASCII code in the reference id: a Kiss-o'-Death (RFC 5905 §7.4)   → kod
//   5. leap 3, stratum 0 without a code, or stratum ≥ 16: unsynchronised (RFC 5905 §7.3) → unsynchronised
//      (stratum 0 means "unspecified or invalid"; chronyd without a source answers leap 3, stratum
//      0, reference id 0, and ntpd answers leap 3, stratum 0, "INIT" — neither is a demand to back
//      off, both are unsynchronised servers; "STEP" likewise reports state, so it counts here too)
//   6. zero receive or transmit timestamp: the server did not fill them in          → invalid
//   7. otherwise                                                                     → sample
// Only after check 3 can a datagram end the exchange, so a spoofed KoD cannot silence a client.
import { Leap, Mode, ParseResult, type NtpHeader, type NtpTimestamp, type TockCore } from "../core/api.js";

/** NTP version we speak. */
const VERSION = 4;
/** Stratum values at or above this mean "unsynchronised" (RFC 5905 §7.3: 16). */
const STRATUM_UNSYNCHRONISED = 16;

/** Kiss codes that describe the server's state rather than ask the client to act (RFC 5905 §7.4). */
const STATE_CODES = new Set(["INIT", "STEP"]);

export interface ClientRequest {
  /** The 48 bytes to send. */
  bytes: Uint8Array;
  /** The random transmit timestamp placed in the request; the response must echo it as origin. */
  nonce: NtpTimestamp;
}

/**
 * Builds a mode-3 request whose transmit timestamp is `randomTransmit` (64 bits from a CSPRNG).
 * poll: log2 seconds the client intends to poll at; servers echo or clamp it. 0 says nothing.
 */
export function buildClientRequest(core: TockCore, randomTransmit: NtpTimestamp, poll = 0): ClientRequest {
  const nonce = BigInt.asUintN(64, randomTransmit);
  const header: NtpHeader = {
    leap: Leap.None,
    version: VERSION,
    mode: Mode.Client,
    stratum: 0,
    poll,
    precision: 0,
    rootDelay: 0,
    rootDispersion: 0,
    referenceId: 0,
    referenceTime: 0n,
    originTime: 0n,
    receiveTime: 0n,
    transmitTime: nonce,
  };
  return { bytes: core.buildHeader(header), nonce };
}

/** Why a datagram was ignored (kept waiting) — feeds counters and --verbose output. */
export type IgnoredReason = "malformed" | "not-server-mode" | "origin-mismatch";

/** The on-wire result of a valid response (RFC 5905 §8). Durations in seconds. */
export interface ClientSample {
  header: NtpHeader;
  /** θ: positive when the server is ahead of us. */
  offset: number;
  /** δ: round-trip delay minus server processing, clamped to precision. */
  delay: number;
  /** ε: dispersion of this sample. */
  dispersion: number;
  /** Root distance as RFC 5905 §11.2 computes it for one sample: (rootDelay + δ)/2 + rootDispersion + ε. */
  rootDistance: number;
  /** T1 (our real send time) and T4 (our receive time), for callers that print or log them. */
  sentAt: NtpTimestamp;
  receivedAt: NtpTimestamp;
}

export type ExchangeOutcome =
  | { kind: "ignored"; reason: IgnoredReason; parseResult?: ParseResult }
  | { kind: "kod"; code: string; header: NtpHeader }
  | { kind: "unsynchronised"; header: NtpHeader }
  | { kind: "invalid"; reason: "zero-receive-time" | "zero-transmit-time"; header: NtpHeader }
  | { kind: "sample"; sample: ClientSample };

export interface ResponseContext {
  request: ClientRequest;
  /** T1: the local clock right before the request was handed to the network. */
  sentAt: NtpTimestamp;
  /** T4: the local clock when the response arrived. */
  receivedAt: NtpTimestamp;
  /** Our clock's precision (log2 s), for the delay clamp and dispersion. */
  localPrecisionLog2: number;
}

/** Classifies one received datagram against the outstanding request. Never throws for any input. */
export function matchResponse(core: TockCore, bytes: Uint8Array, ctx: ResponseContext): ExchangeOutcome {
  const parsed = core.parsePacket(bytes);
  const header = parsed.header;
  if (parsed.result !== ParseResult.Ok || header === undefined) {
    return { kind: "ignored", reason: "malformed", parseResult: parsed.result };
  }
  if (header.mode !== Mode.Server) return { kind: "ignored", reason: "not-server-mode" };
  if (header.originTime !== ctx.request.nonce) return { kind: "ignored", reason: "origin-mismatch" };

  if (header.stratum === 0 && isKissCode(header.referenceId)) {
    const code = kissCode(header.referenceId);
    if (!STATE_CODES.has(code)) return { kind: "kod", code, header };
  }
  if (header.leap === Leap.Unsynchronised || header.stratum === 0 || header.stratum >= STRATUM_UNSYNCHRONISED) {
    return { kind: "unsynchronised", header };
  }
  if (header.receiveTime === 0n) return { kind: "invalid", reason: "zero-receive-time", header };
  if (header.transmitTime === 0n) return { kind: "invalid", reason: "zero-transmit-time", header };

  const wire = core.onWire(
    ctx.sentAt,
    header.receiveTime,
    header.transmitTime,
    ctx.receivedAt,
    ctx.localPrecisionLog2,
    header.precision,
  );
  return {
    kind: "sample",
    sample: {
      header,
      offset: wire.offset,
      delay: wire.delay,
      dispersion: wire.dispersion,
      rootDistance: (header.rootDelay + wire.delay) / 2 + header.rootDispersion + wire.dispersion,
      sentAt: ctx.sentAt,
      receivedAt: ctx.receivedAt,
    },
  };
}

/**
 * True when a stratum-0 reference id carries a kiss code: an upper-case letter first, then printable
 * ASCII, optionally NUL-padded (every code RFC 5905 §7.4 and RFC 8915 define is 4 capitals).
 */
export function isKissCode(referenceId: number): boolean {
  const bytes = [24, 16, 8, 0].map((shift) => (referenceId >>> shift) & 0xff);
  const first = bytes[0] ?? 0;
  if (first < 0x41 || first > 0x5a) return false;
  let padding = false;
  for (const b of bytes.slice(1)) {
    if (b === 0) padding = true;
    else if (padding || b < 0x20 || b > 0x7e) return false;
  }
  return true;
}

/** The 4 ASCII characters of a KoD code or stratum-1 source name, NULs and non-printables dropped. */
export function kissCode(referenceId: number): string {
  let code = "";
  for (let shift = 24; shift >= 0; shift -= 8) {
    const c = (referenceId >>> shift) & 0xff;
    if (c >= 0x20 && c < 0x7f) code += String.fromCharCode(c);
  }
  return code;
}

/**
 * How to show a reference id (RFC 5905 §7.3): stratum 0 and 1 carry ASCII (KoD code, or the kind of
 * reference clock: "GPS", "PPS", "LOCL"); stratum ≥ 2 carries the upstream server's IPv4 address, or
 * the first 4 bytes of the MD5 of its IPv6 address — indistinguishable on the wire, so like ntpq and
 * chronyc we print the dotted quad, and callers may add the hex form.
 */
export function formatReferenceId(referenceId: number, stratum: number): string {
  if (stratum <= 1) return kissCode(referenceId);
  return [24, 16, 8, 0].map((shift) => (referenceId >>> shift) & 0xff).join(".");
}

/** The reference id as 8 upper-case hex digits. */
export function referenceIdHex(referenceId: number): string {
  return (referenceId >>> 0).toString(16).toUpperCase().padStart(8, "0");
}
