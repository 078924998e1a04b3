// NTS-protected NTP, client side (RFC 8915 §5), sans-IO: the keys and cookies from one NTS-KE
// exchange, the request builder and the response verifier. Randomness (unique identifiers, AEAD
// nonces) and the 48-byte header come in as arguments; nothing here opens a socket, reads a clock
// or draws random bytes. `tock query --nts` uses it today; a `[[source]] mode = "nts"` state machine
// reuses the same NtsAssociation: it asks for a new KE (`needsKeyExchange`) when the cookies run out
// or the server NAKs, and tells where to send (the negotiated server and port, §4.1.7–§4.1.8).
//
// Request layout (§5.7, Figure 5), every EF authenticated because it precedes the Authenticator:
//   header(48) ‖ Unique Identifier(0x0104, 32 random bytes) ‖ NTS Cookie(0x0204)
//              ‖ N × Cookie Placeholder(0x0304, zeros, cookie-sized) ‖ NTS Authenticator(0x0404)
// The Authenticator (§5.6, Figure 4) is Nonce Length ‖ Ciphertext Length ‖ nonce (padded to 4)
// ‖ ciphertext (padded to 4), the ciphertext being AEAD(K = c2s, A = every byte before this EF,
// N = nonce, P = empty). With SIV (RFC 5297) the nonce is the last S2V component after A, as
// §5.6 and the AEAD façade arrange.
//
// Response checks (§5.7 "Upon receiving an NTS-protected response"), in order — each failure means
// "discard and keep waiting": the genuine response may still come, and a forgery must not end the
// exchange:
//   1. parses, mode 4, origin timestamp = our request's random transmit timestamp (RFC 5905 §8)
//   2. an Authenticator EF exists, and a Unique Identifier EF before it equals ours
//   3. the Authenticator opens under s2c with A = every byte before it
//   4. the decrypted plaintext holds well-formed EFs; its NTS Cookie EFs go to the jar
// EFs after the Authenticator are unauthenticated and ignored (§5.7: "MUST discard"). A Kiss-o'-Death
// NTSN (NTS NAK) carries no Authenticator (§5.7); it is believed only if check 1 passes and it carries
// our Unique Identifier — the RFC's requirement once the server has answered authentically, applied
// always here, since without it any off-path packet that guessed nothing could force a new KE.
import { Mode, ParseResult, type ParsedPacket, type TockCore } from "../core/api.js";
import type { Aead } from "../core/aead.js";
import type { KeResponse } from "./nts-ke-records.js";

/** NTS extension field types (RFC 8915 §5.3–§5.6, IANA "NTP Extension Field Types"). */
export const EF_UNIQUE_IDENTIFIER = 0x0104;
export const EF_NTS_COOKIE = 0x0204;
export const EF_NTS_COOKIE_PLACEHOLDER = 0x0304;
export const EF_NTS_AUTHENTICATOR = 0x0404;

/** §5.7: cookies a client keeps; it asks for placeholders so N + 1 returned cookies refill to this. */
export const COOKIES_WANTED = 8;
/** §5.7: "SHOULD NOT include more than seven NTS Cookie Placeholder extension fields". */
export const MAX_PLACEHOLDERS = 7;
/** §5.3: the unique identifier "MUST be at least 32 octets long". */
export const UNIQUE_ID_BYTES = 32;
/** §5.7: requests stay below the IPv6 minimum MTU, so placeholders are dropped first if needed. */
export const MAX_REQUEST_BYTES = 1280;
/**
 * Longest cookie we keep. Cookies are opaque (§4.1.6) but a request must carry one and stay within
 * MAX_REQUEST_BYTES (48 header + 36 UID + 4 + cookie + 40 authenticator), so a hostile KE or NTP
 * server cannot make us build oversized packets. Real cookies are 100–250 bytes.
 */
export const MAX_COOKIE_BYTES = 1024;
/** Default NTP port when the KE server sends no Port Negotiation record (§4.1.8). */
export const DEFAULT_NTP_PORT = 123;

const NTP_HEADER_BYTES = 48;
const EF_HEADER_BYTES = 4;
/** RFC 7822 §7.5: with extension fields only, the last one must be at least 28 octets. */
const MIN_LAST_EF_BYTES = 28;
const KOD_NTSN = 0x4e54534e; // "NTSN"

/** Key lengths (bytes) of the AEADs NTS may negotiate (RFC 5297 §6, RFC 8452 §4). */
const AEAD_KEY_BYTES: Readonly<Record<number, number>> = { 15: 32, 16: 48, 17: 64, 30: 16, 31: 32 };
/** Nonce length we send: SIV takes any length (16 = N_REQ of §5.6); GCM-SIV takes exactly 12. */
const AEAD_NONCE_BYTES: Readonly<Record<number, number>> = { 15: 16, 16: 16, 17: 16, 30: 12, 31: 12 };
export const AEAD_NAMES: Readonly<Record<number, string>> = {
  15: "AES-SIV-CMAC-256",
  16: "AES-SIV-CMAC-384",
  17: "AES-SIV-CMAC-512",
  30: "AES-128-GCM-SIV",
  31: "AES-256-GCM-SIV",
};

/** AEAD ids this client offers in NTS-KE, most preferred first (as ntpd-rs: the 512-bit SIV, then
 *  the mandatory 256-bit one; GCM-SIV for servers that speak nothing else). */
export const CLIENT_AEAD_PREFERENCE: readonly number[] = [17, 15, 16, 30, 31];

/** Key length (bytes) of an NTS AEAD id, or 0 if we do not support it. */
export function aeadKeyLength(aead: number): number {
  return AEAD_KEY_BYTES[aead] ?? 0;
}

/** Length of the random nonce a request needs under `aead` (0 if unsupported). */
export function aeadNonceLength(aead: number): number {
  return AEAD_NONCE_BYTES[aead] ?? 0;
}

/**
 * Unused cookies, oldest first. Bounded: beyond `capacity` the oldest is dropped (a server that
 * returns more cookies than asked cannot grow our memory). Each cookie is sent once (§5.7: a client
 * SHOULD avoid reusing a cookie, for unlinkability, §9.1).
 */
export class CookieJar {
  private readonly cookies: Uint8Array[] = [];

  constructor(
    initial: readonly Uint8Array[] = [],
    readonly capacity: number = COOKIES_WANTED,
  ) {
    for (const cookie of initial) this.add(cookie);
  }

  get size(): number {
    return this.cookies.length;
  }

  /** Keeps `cookie` unless it is empty or longer than MAX_COOKIE_BYTES; returns whether it did. */
  add(cookie: Uint8Array): boolean {
    if (cookie.length === 0 || cookie.length > MAX_COOKIE_BYTES) return false;
    this.cookies.push(cookie);
    if (this.cookies.length > this.capacity) this.cookies.shift();
    return true;
  }

  /** The oldest unused cookie, removed from the jar; undefined when empty. */
  take(): Uint8Array | undefined {
    return this.cookies.shift();
  }

  clear(): void {
    this.cookies.length = 0;
  }
}

/** What one successful NTS-KE gives the NTP side. */
export interface NtsSession {
  readonly aead: number;
  readonly c2s: Uint8Array;
  readonly s2c: Uint8Array;
  readonly cookies: CookieJar;
  /** Where to send NTP: the Server Negotiation record, else the KE server's own address (§4.1.7). */
  readonly ntpServer: string;
  /** The Port Negotiation record, else 123 (§4.1.8). */
  readonly ntpPort: number;
}

/**
 * Builds a session from an interpreted KE response, the exported keys and the address the KE
 * connection reached (used when the response names no NTP server).
 */
export function sessionFromKe(response: KeResponse, keys: { c2s: Uint8Array; s2c: Uint8Array }, keServerAddress: string): NtsSession {
  return {
    aead: response.aead,
    c2s: keys.c2s,
    s2c: keys.s2c,
    cookies: new CookieJar(response.cookies),
    ntpServer: response.server ?? keServerAddress,
    ntpPort: response.port ?? DEFAULT_NTP_PORT,
  };
}

/** What the verifier needs to remember about a request in flight. */
export interface NtsOutstanding {
  readonly uniqueId: Uint8Array;
  /** The request's transmit timestamp (random), which the response must echo as origin. */
  readonly originTime: bigint;
  /** Placeholders sent: the server returns at most this + 1 cookies (§5.7). */
  readonly placeholders: number;
}

export type NtsRequestOutcome =
  | { readonly kind: "request"; readonly bytes: Uint8Array; readonly outstanding: NtsOutstanding }
  /** No session yet, no cookie left (§5.7: rerun NTS-KE), or the server NAKed the last one. */
  | { readonly kind: "need-key-exchange"; readonly reason: KeyExchangeReason };

/** Why an association needs a (new) NTS-KE before it can send. */
export type KeyExchangeReason = "no-session" | "no-cookies" | "nak";

export interface NtsRequestInput {
  /** The 48-byte mode-3 header (client-exchange.ts buildClientRequest: random transmit timestamp). */
  readonly header: Uint8Array;
  /** The header's transmit timestamp, to match the response's origin. */
  readonly originTime: bigint;
  /** At least 32 bytes from a CSPRNG (§5.3). */
  readonly uniqueId: Uint8Array;
  /** aeadNonceLength(session.aead) bytes from a CSPRNG. */
  readonly nonce: Uint8Array;
}

/**
 * Builds an NTS request, taking one cookie from the jar and asking (with placeholders) for enough
 * new ones to hold COOKIES_WANTED afterwards. Throws RangeError only for caller mistakes (a header
 * that is not 48 bytes, a short unique id, a nonce of the wrong length).
 */
export function buildNtsRequest(aead: Aead, session: NtsSession, input: NtsRequestInput): NtsRequestOutcome {
  if (input.header.length !== NTP_HEADER_BYTES) throw new RangeError(`NTP header must be 48 bytes, got ${input.header.length}`);
  if (input.uniqueId.length < UNIQUE_ID_BYTES) throw new RangeError(`unique identifier must be at least ${UNIQUE_ID_BYTES} bytes`);
  if (input.nonce.length !== aeadNonceLength(session.aead)) {
    throw new RangeError(`AEAD ${session.aead} needs a ${aeadNonceLength(session.aead)}-byte nonce, got ${input.nonce.length}`);
  }
  const cookie = session.cookies.take();
  if (cookie === undefined) return { kind: "need-key-exchange", reason: "no-cookies" };

  const uidField = extensionField(EF_UNIQUE_IDENTIFIER, input.uniqueId);
  const cookieField = extensionField(EF_NTS_COOKIE, cookie);
  const authLength = authenticatorLength(input.nonce.length, 0);
  // N placeholders so that N + 1 returned cookies bring the jar to COOKIES_WANTED (§5.7), fewer
  // if the packet would pass MAX_REQUEST_BYTES (§5.7: avoid fragmentation).
  const fixed = NTP_HEADER_BYTES + uidField.length + cookieField.length + authLength;
  const placeholderBytes = EF_HEADER_BYTES + pad4(cookie.length);
  const byRoom = Math.max(0, Math.floor((MAX_REQUEST_BYTES - fixed) / placeholderBytes));
  const placeholders = Math.max(0, Math.min(MAX_PLACEHOLDERS, COOKIES_WANTED - 1 - session.cookies.size, byRoom));

  const packet = new Uint8Array(fixed + placeholders * placeholderBytes);
  packet.set(input.header, 0);
  let at = NTP_HEADER_BYTES;
  packet.set(uidField, at);
  at += uidField.length;
  packet.set(cookieField, at);
  at += cookieField.length;
  for (let i = 0; i < placeholders; i++) {
    // §5.5: same body length as the cookie, body SHOULD be zeros (the array is zero-filled).
    writeEfHeader(packet, at, EF_NTS_COOKIE_PLACEHOLDER, placeholderBytes);
    at += placeholderBytes;
  }
  const associatedData = packet.subarray(0, at);
  const ciphertext = aead.seal(session.aead, session.c2s, input.nonce, [associatedData], new Uint8Array(0));
  packet.set(authenticatorField(input.nonce, ciphertext), at);
  return {
    kind: "request",
    bytes: packet,
    outstanding: { uniqueId: input.uniqueId.slice(), originTime: input.originTime, placeholders },
  };
}

export type NtsIgnoredReason =
  | "malformed"
  | "not-server-mode"
  | "origin-mismatch"
  | "no-authenticator"
  | "unique-id-mismatch"
  | "authentication-failed"
  | "bad-encrypted-fields"
  | "unauthenticated-kod";

export type NtsResponseOutcome =
  /** Authentic: the caller may now use the header for time (client-exchange matchResponse). */
  | { readonly kind: "authenticated"; readonly newCookies: number }
  /** A Kiss-o'-Death NTSN with our unique identifier: the cookie or keys were refused (§5.7). */
  | { readonly kind: "nak" }
  /** Discard and keep waiting (§5.7 "MUST be discarded without further processing"). */
  | { readonly kind: "ignored"; readonly reason: NtsIgnoredReason };

/**
 * Verifies one datagram against the request in flight; on success, puts the decrypted cookies in
 * the session's jar. Never throws for any input bytes.
 */
export function verifyNtsResponse(
  core: TockCore,
  aead: Aead,
  session: NtsSession,
  outstanding: NtsOutstanding,
  bytes: Uint8Array,
): NtsResponseOutcome {
  const parsed = core.parsePacket(bytes);
  const header = parsed.header;
  if (parsed.result !== ParseResult.Ok || header === undefined) return ignored("malformed");
  if (header.mode !== Mode.Server) return ignored("not-server-mode");
  if (header.originTime !== outstanding.originTime) return ignored("origin-mismatch");

  const auth = findAuthenticator(bytes, parsed);
  const authenticatedEnd = auth !== null && auth !== "malformed" ? auth.fieldOffset : bytes.length;
  const uidOk = hasUniqueId(bytes, parsed, authenticatedEnd, outstanding.uniqueId);
  if (header.stratum === 0 && header.referenceId === KOD_NTSN && auth === null) {
    return uidOk ? { kind: "nak" } : ignored("unauthenticated-kod");
  }
  if (auth === null) return ignored("no-authenticator");
  if (auth === "malformed") return ignored("malformed");
  if (!uidOk) return ignored("unique-id-mismatch");

  const plaintext = aead.open(session.aead, session.s2c, auth.nonce, [bytes.subarray(0, auth.fieldOffset)], auth.ciphertext);
  if (plaintext === null) return ignored("authentication-failed");
  const cookies = encryptedCookies(plaintext);
  if (cookies === null) return ignored("bad-encrypted-fields");
  // §5.7: the server MUST NOT send more than placeholders + 1; extra ones are not trusted to fit.
  let added = 0;
  for (const cookie of cookies.slice(0, outstanding.placeholders + 1)) if (session.cookies.add(cookie)) added++;
  return { kind: "authenticated", newCookies: added };
}

function ignored(reason: NtsIgnoredReason): NtsResponseOutcome {
  return { kind: "ignored", reason };
}

interface Authenticator {
  readonly fieldOffset: number;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/**
 * The first NTS Authenticator EF, its nonce and ciphertext, every length checked against the EF
 * (§5.6, Figure 4); null if none, "malformed" if its lengths do not fit.
 */
function findAuthenticator(bytes: Uint8Array, parsed: ParsedPacket): Authenticator | "malformed" | null {
  const field = parsed.extensions.find((ef) => ef.type === EF_NTS_AUTHENTICATOR);
  if (field === undefined) return null;
  const bodyAt = field.offset + EF_HEADER_BYTES;
  const bodyLength = field.length - EF_HEADER_BYTES;
  if (bodyLength < 4 || field.offset + field.length > bytes.length) return "malformed";
  const nonceLength = (bytes[bodyAt]! << 8) | bytes[bodyAt + 1]!;
  const ciphertextLength = (bytes[bodyAt + 2]! << 8) | bytes[bodyAt + 3]!;
  if (4 + pad4(nonceLength) + pad4(ciphertextLength) > bodyLength) return "malformed";
  const nonceAt = bodyAt + 4;
  const ciphertextAt = nonceAt + pad4(nonceLength);
  return {
    fieldOffset: field.offset,
    nonce: bytes.subarray(nonceAt, nonceAt + nonceLength),
    ciphertext: bytes.subarray(ciphertextAt, ciphertextAt + ciphertextLength),
  };
}

/** True when an authenticated (before `before`) Unique Identifier EF carries exactly `uniqueId`. */
function hasUniqueId(bytes: Uint8Array, parsed: ParsedPacket, before: number, uniqueId: Uint8Array): boolean {
  for (const field of parsed.extensions) {
    if (field.type !== EF_UNIQUE_IDENTIFIER || field.offset >= before) continue;
    const body = bytes.subarray(field.offset + EF_HEADER_BYTES, field.offset + field.length);
    // The body is padded to 4 bytes; a 32-byte id needs none, and we only ever send lengths ≡ 0 mod 4.
    if (body.length === pad4(uniqueId.length) && equalPrefix(body, uniqueId)) return true;
  }
  return false;
}

function equalPrefix(body: Uint8Array, id: Uint8Array): boolean {
  for (let i = 0; i < id.length; i++) if (body[i] !== id[i]) return false;
  return true;
}

/**
 * The NTS Cookie EFs inside decrypted plaintext (§5.6 P: EFs joined, each a multiple of 4 long and
 * at least 4, "MAY be arbitrarily short"), or null if the EFs do not tile the plaintext exactly.
 * Other inner EF types are skipped.
 */
export function encryptedCookies(plaintext: Uint8Array): Uint8Array[] | null {
  const cookies: Uint8Array[] = [];
  let at = 0;
  while (at < plaintext.length) {
    if (plaintext.length - at < EF_HEADER_BYTES) return null;
    const type = (plaintext[at]! << 8) | plaintext[at + 1]!;
    const length = (plaintext[at + 2]! << 8) | plaintext[at + 3]!;
    if (length < EF_HEADER_BYTES || length % 4 !== 0 || length > plaintext.length - at) return null;
    if (type === EF_NTS_COOKIE && length > EF_HEADER_BYTES) {
      cookies.push(plaintext.slice(at + EF_HEADER_BYTES, at + length));
    }
    at += length;
  }
  return cookies;
}

// --- encoding helpers ------------------------------------------------------------------------------

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function writeEfHeader(packet: Uint8Array, at: number, type: number, length: number): void {
  packet[at] = type >> 8;
  packet[at + 1] = type & 0xff;
  packet[at + 2] = length >> 8;
  packet[at + 3] = length & 0xff;
}

/** An EF with `body` zero-padded to a multiple of 4 (RFC 7822 §3). */
function extensionField(type: number, body: Uint8Array): Uint8Array {
  const field = new Uint8Array(EF_HEADER_BYTES + pad4(body.length));
  writeEfHeader(field, 0, type, field.length);
  field.set(body, EF_HEADER_BYTES);
  return field;
}

/** Total length of an Authenticator EF carrying `nonceLength` and `plaintextLength` + tag bytes. */
function authenticatorLength(nonceLength: number, plaintextLength: number): number {
  const natural = EF_HEADER_BYTES + 4 + pad4(nonceLength) + pad4(plaintextLength + 16);
  return Math.max(natural, MIN_LAST_EF_BYTES);
}

/** The Authenticator EF of Figure 4 (no Additional Padding needed: our nonce is N_REQ long). */
function authenticatorField(nonce: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const length = Math.max(EF_HEADER_BYTES + 4 + pad4(nonce.length) + pad4(ciphertext.length), MIN_LAST_EF_BYTES);
  const field = new Uint8Array(length);
  writeEfHeader(field, 0, EF_NTS_AUTHENTICATOR, length);
  field[4] = nonce.length >> 8;
  field[5] = nonce.length & 0xff;
  field[6] = ciphertext.length >> 8;
  field[7] = ciphertext.length & 0xff;
  field.set(nonce, 8);
  field.set(ciphertext, 8 + pad4(nonce.length));
  return field;
}

/**
 * RFC 8915 §4.2 suggested back-off before the n-th NTS-KE retry (n ≥ 1), in seconds:
 * t = min(10 · 1.5^(n−1), 432000) — 10 s, 15 s, 22.5 s, … capped at 5 days. A poller resets n only
 * after a KE was followed by a successful NTS-protected exchange (§4.2 "MUST NOT reset" before).
 */
export function keRetryIntervalSeconds(retry: number): number {
  const n = Math.max(1, Math.floor(retry));
  return Math.min(10 * 1.5 ** (n - 1), 432_000);
}

// --- the association: what a poller keeps between requests -----------------------------------------

/**
 * One NTS association's state between polls: the current session (or none), the request in
 * flight, and why a new NTS-KE is needed. The shell performs the KE when `needsKeyExchange` is set
 * and hands the result to `installSession` (§5.7: then ALL old cookies and parameters go).
 */
export class NtsAssociation {
  private current: NtsSession | undefined;
  private inFlight: NtsOutstanding | undefined;
  private reason: KeyExchangeReason | null = "no-session";

  get session(): NtsSession | undefined {
    return this.current;
  }

  /** Why a new KE is needed before the next request, or null. */
  get needsKeyExchange(): KeyExchangeReason | null {
    return this.reason;
  }

  installSession(session: NtsSession): void {
    this.current = session;
    this.inFlight = undefined;
    this.reason = session.cookies.size > 0 ? null : "no-cookies";
  }

  /** Builds the next request, or says a KE is needed first. */
  prepareRequest(aead: Aead, input: NtsRequestInput): NtsRequestOutcome {
    if (this.current === undefined || this.reason !== null) {
      return { kind: "need-key-exchange", reason: this.reason ?? "no-session" };
    }
    const outcome = buildNtsRequest(aead, this.current, input);
    if (outcome.kind === "request") this.inFlight = outcome.outstanding;
    else this.reason = "no-cookies";
    return outcome;
  }

  /** Verifies a datagram against the request in flight; a NAK marks the session for a new KE. */
  handleResponse(core: TockCore, aead: Aead, bytes: Uint8Array): NtsResponseOutcome {
    if (this.current === undefined || this.inFlight === undefined) return ignored("origin-mismatch");
    const outcome = verifyNtsResponse(core, aead, this.current, this.inFlight, bytes);
    if (outcome.kind === "authenticated") {
      this.inFlight = undefined; // one answer per request: a replay of it is now unmatched
    } else if (outcome.kind === "nak") {
      this.inFlight = undefined;
      this.reason = "nak";
    }
    return outcome;
  }

  /** The request in flight timed out; with no cookie left the next poll needs a KE (§5.7). */
  requestLost(): void {
    this.inFlight = undefined;
    if (this.current !== undefined && this.current.cookies.size === 0) this.reason = "no-cookies";
  }
}
