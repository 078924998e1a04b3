// NTS-protected NTP requests on the server (RFC 8915 §5.3–5.7), called from the request chain
// (request.ts) once access and rate limit have passed and only when an NtsState is attached.
//
// A request (mode 3, NTPv4) is NTS when it carries a Cookie (0x0204) or an Authenticator (0x0404).
// It is well formed when it has exactly one Unique Identifier (0x0104, body ≥ 32 bytes), exactly
// one Cookie, any number of Cookie Placeholders (0x0304) whose length equals the Cookie's, and
// exactly one Authenticator that is the LAST thing in the packet (no MAC, nothing after it), whose
// Nonce Length ≥ 1 and Ciphertext Length ≥ 16 fit inside it with their padding, and which has the
// Additional Padding of §5.6 (space for at least N_REQ nonce bytes: 16 for SIV, 12 for GCM-SIV).
// Malformed NTS requests are dropped and counted — never answered, so they cannot be reflected.
//
// Well-formed requests (the first failing step decides):
//   cookie key id unknown                          → NTS NAK            (nts_nak_unknown_key)
//   cookie does not open / bad plaintext           → NTS NAK            (nts_nak_bad_cookie)
//   authenticator does not verify under C2S        → NTS NAK            (nts_nak_bad_authenticator)
//   (AD = packet[0, authenticator), nonce and ciphertext from the authenticator, §5.6)
//   otherwise → a time response: header, the Unique Identifier EF echoed byte for byte, and an
//   Authenticator sealed under S2C (AD = header ‖ UID EF, a fresh 16-byte — GCM-SIV: 12-byte —
//   nonce) whose plaintext is 1 + min(placeholders, 7) fresh cookies (nts-cookie.ts) carrying the
//   same AEAD and keys. Placeholders count whether sent in the clear or inside the encrypted part.
// NTS NAK = a KoD (leap 3, stratum 0) with kiss code "NTSN", the Unique Identifier echoed, and no
// Cookie or Authenticator (§5.7).
//
// Size: the response is never larger than the request. Each placeholder is as long as the cookie
// EF, a fresh cookie has the same length as the one presented (same AEAD ⇒ same length), and the
// request's Authenticator is at least as long as ours (its nonce + padding ≥ N_REQ, which is our
// nonce length, and both carry a 16-byte tag), so 1 + placeholders cookies always fit; the length
// is nevertheless computed and cookies are removed until it fits (none fits → drop, counted).
import { aeadImportKey, aeadOpen, aeadSeal, aeadKeyLength, AEAD_AES_128_GCM_SIV, AEAD_AES_256_GCM_SIV } from "../crypto/aead";
import { wipe } from "../crypto/ct";
import { HEADER_LENGTH, loadU16BE, storeU16BE, versionOf } from "../packet";
import { SystemState, writeTimeResponse, writeKissOfDeath } from "./response";
import {
  NtsState, ntsBump, ntsAdd, randomLeft, takeRandom, MAX_COOKIES_PER_RESPONSE, KEYS_SCRATCH_BYTES,
  NTS_ANSWERED, NTS_NAK_UNKNOWN_KEY, NTS_NAK_BAD_COOKIE, NTS_NAK_BAD_AUTHENTICATOR, NTS_DROPPED_MALFORMED,
  NTS_DROPPED_PLACEHOLDER, NTS_DROPPED_NO_RANDOM, NTS_DROPPED_TOO_LARGE, NTS_KOD, NTS_COOKIES_ISSUED,
  NTS_PLACEHOLDERS_CAPPED, NTS_UID_ECHOED,
} from "./nts-state";
import { openCookie, sealCookie, cookieLength, COOKIE_UNKNOWN_KEY } from "./nts-cookie";

export const EF_UNIQUE_ID: u32 = 0x0104;
export const EF_COOKIE: u32 = 0x0204;
export const EF_PLACEHOLDER: u32 = 0x0304;
export const EF_AUTHENTICATOR: u32 = 0x0404;
const MIN_UID_BODY: u32 = 32;
const TAG_BYTES: u32 = 16;
const KISS_NTS_NAK: u32 = 0x4e54534e; // "NTSN"

/** ntsParse verdicts. */
export const NTS_NOT: u32 = 0; // no NTS fields: the plain path, unchanged
export const NTS_UID_ONLY: u32 = 1; // a Unique Identifier alone: plain answer with it echoed (§5.3)
export const NTS_REQUEST: u32 = 2; // well-formed NTS request (positions kept in Parsed)
export const NTS_DROP: u32 = 3; // malformed NTS: drop (already counted)

/** Positions found by ntsParse (packet offsets of whole extension fields, lengths incl. header). */
class Parsed {
  uidAt: u32 = 0;
  uidLength: u32 = 0;
  cookieAt: u32 = 0;
  cookieLength: u32 = 0;
  placeholders: u32 = 0;
  authAt: u32 = 0;
  authLength: u32 = 0;
  nonceLength: u32 = 0;
  ciphertextLength: u32 = 0;
}
const parsed = new Parsed();

// @ts-ignore: decorator
@inline function pad4(n: u32): u32 {
  return (n + 3) & ~3;
}

function isGcmSiv(alg: i32): bool {
  return alg == AEAD_AES_128_GCM_SIV || alg == AEAD_AES_256_GCM_SIV;
}

/** N_REQ of §5.6 (min(16, N_MAX) rounded up to 4) — also the nonce length of our responses. */
function nonceRequired(alg: i32): u32 {
  return isGcmSiv(alg) ? 12 : 16;
}

/**
 * Classifies an accepted request (the codec has validated its field lengths) and, for NTS, records
 * where its fields are. Counts its own drops.
 */
export function ntsParse(s: NtsState, packet: usize, length: u32): u32 {
  if (versionOf(packet) != 4) return NTS_NOT;
  let uids: u32 = 0, cookies: u32 = 0, auths: u32 = 0, placeholders: u32 = 0;
  let placeholderLength: u32 = 0, placeholderMismatch = false;
  let authLast = false;
  let pos = HEADER_LENGTH;
  while (pos < length) {
    const rem = length - pos;
    if (rem < 16) break; // a crypto-NAK or a MAC follows: whatever came before is not last
    const type = loadU16BE(packet + pos);
    const efLength = loadU16BE(packet + pos + 2);
    if (rem == 20 || rem == 24 || efLength < 16 || (efLength & 3) != 0 || efLength > rem) break; // MAC
    authLast = false;
    if (type == EF_UNIQUE_ID) {
      uids++;
      parsed.uidAt = pos;
      parsed.uidLength = efLength;
    } else if (type == EF_COOKIE) {
      cookies++;
      parsed.cookieAt = pos;
      parsed.cookieLength = efLength;
    } else if (type == EF_PLACEHOLDER) {
      if (placeholders != 0 && efLength != placeholderLength) placeholderMismatch = true;
      placeholders++;
      placeholderLength = efLength;
    } else if (type == EF_AUTHENTICATOR) {
      auths++;
      parsed.authAt = pos;
      parsed.authLength = efLength;
      authLast = true;
    }
    pos += efLength;
  }
  if (pos != length) authLast = false;
  if (cookies == 0 && auths == 0) {
    if (placeholders != 0) return drop(s, NTS_DROPPED_MALFORMED); // §5.5: placeholders need a cookie
    return uids == 1 ? NTS_UID_ONLY : NTS_NOT;
  }
  if (uids != 1 || cookies != 1 || auths != 1 || !authLast) return drop(s, NTS_DROPPED_MALFORMED);
  if (parsed.uidLength - 4 < MIN_UID_BODY) return drop(s, NTS_DROPPED_MALFORMED);
  if (placeholders != 0 && (placeholderMismatch || placeholderLength != parsed.cookieLength)) {
    return drop(s, NTS_DROPPED_PLACEHOLDER);
  }
  const auth = packet + parsed.authAt;
  const nonceLength = loadU16BE(auth + 4);
  const ciphertextLength = loadU16BE(auth + 6);
  if (nonceLength == 0 || ciphertextLength < TAG_BYTES ||
      <u32>8 + pad4(nonceLength) + pad4(ciphertextLength) > parsed.authLength) {
    return drop(s, NTS_DROPPED_MALFORMED);
  }
  parsed.nonceLength = nonceLength;
  parsed.ciphertextLength = ciphertextLength;
  parsed.placeholders = placeholders;
  return NTS_REQUEST;
}

/** Offset of the Authenticator EF found by the last successful ntsParse. */
export function parsedAuthenticatorAt(): u32 {
  return parsed.authAt;
}

function drop(s: NtsState, counter: u32): u32 {
  ntsBump(s, counter);
  return NTS_DROP;
}

/** Counts a drop found while answering; 0 = send nothing. */
function dropped(s: NtsState, counter: u32): u32 {
  ntsBump(s, counter);
  return 0;
}

/** Copies the request's Unique Identifier EF to out + at (after a KoD or a time header). */
export function echoUid(packet: usize, out: usize, at: u32): u32 {
  memory.copy(out + at, packet + parsed.uidAt, parsed.uidLength);
  return at + parsed.uidLength;
}

/** A KoD (RATE/DENY) answering an NTS or UID-carrying request: the client needs the UID to accept it. */
export function ntsKissEcho(s: NtsState, packet: usize, out: usize, length: u32): u32 {
  ntsBump(s, NTS_KOD);
  return echoUid(packet, out, length);
}

/**
 * Answers a request ntsParse classified as NTS_UID_ONLY or NTS_REQUEST. Returns the response length
 * written at `out`, or 0 to drop (counted).
 */
export function ntsRespond(
  s: NtsState, verdict: u32, packet: usize, length: u32, out: usize,
  version: u32, poll: i32, system: SystemState, receive: u64, transmit: u64,
): u32 {
  if (verdict == NTS_UID_ONLY) {
    ntsBump(s, NTS_UID_ECHOED);
    return echoUid(packet, out, writeTimeResponse(out, packet, version, poll, system, false, receive, transmit));
  }

  // 1. The cookie → AEAD id and keys (in s.keys).
  const alg = openCookie(s, packet + parsed.cookieAt + 4, parsed.cookieLength - 4);
  if (alg < 0) {
    return nak(s, alg == COOKIE_UNKNOWN_KEY ? NTS_NAK_UNKNOWN_KEY : NTS_NAK_BAD_COOKIE,
      packet, out, version, poll, system.precision, receive, transmit);
  }
  const keyLength = <u32>aeadKeyLength(alg);
  const ourNonce = nonceRequired(alg);
  const auth = packet + parsed.authAt;
  // §5.6 Additional Padding: the space left for nonce + padding must reach N_REQ.
  if (parsed.authLength - 8 - pad4(parsed.ciphertextLength) < ourNonce) {
    wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
    return dropped(s, NTS_DROPPED_MALFORMED);
  }

  // 2. Verify the request under C2S (and decrypt its encrypted fields into s.plain).
  if (aeadImportKey(alg, s.keys + 4, <i32>keyLength, s.c2s) == 0) {
    wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
    return nak(s, NTS_NAK_BAD_COOKIE, packet, out, version, poll, system.precision, receive, transmit);
  }
  store<u32>(s.descs, <u32>packet);
  store<u32>(s.descs, parsed.authAt, 4);
  const plainLength = aeadOpen(s.c2s, auth + 8, <i32>parsed.nonceLength, s.descs, 1,
    auth + 8 + pad4(parsed.nonceLength), <i32>parsed.ciphertextLength, s.plain);
  if (plainLength < 0) {
    wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
    return nak(s, NTS_NAK_BAD_AUTHENTICATOR, packet, out, version, poll, system.precision, receive, transmit);
  }

  // 3. Placeholders: in the clear (counted by ntsParse) and encrypted (RFC 8915 §5.7 "MAY be encrypted").
  let placeholders = parsed.placeholders;
  const encrypted = countEncryptedPlaceholders(s.plain, <u32>plainLength, parsed.cookieLength);
  if (encrypted < 0) {
    wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
    return dropped(s, encrypted == -1 ? NTS_DROPPED_MALFORMED : NTS_DROPPED_PLACEHOLDER);
  }
  placeholders += <u32>encrypted;
  let cookies: u32 = 1 + placeholders;
  if (cookies > MAX_COOKIES_PER_RESPONSE) {
    ntsBump(s, NTS_PLACEHOLDERS_CAPPED);
    cookies = MAX_COOKIES_PER_RESPONSE;
  }

  // 4. Size the response (never larger than the request) and check the randomness it needs.
  const cookieField = 4 + cookieLength(alg);
  const fixed = HEADER_LENGTH + parsed.uidLength + 8 + ourNonce + TAG_BYTES;
  while (cookies > 0 && fixed + cookies * cookieField > length) cookies--;
  if (cookies == 0) {
    wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
    return dropped(s, NTS_DROPPED_TOO_LARGE);
  }
  if (s.current < 0 || randomLeft(s) < ourNonce + cookies * 16) {
    wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
    return dropped(s, NTS_DROPPED_NO_RANDOM);
  }

  // 5. Fresh cookies, as encrypted Cookie EFs, into s.plain (the request plaintext is done with).
  const ptLength = 4 + 2 * keyLength;
  let plain: u32 = 0;
  for (let i: u32 = 0; i < cookies; i++) {
    const at = s.plain + plain;
    storeU16BE(at, EF_COOKIE);
    storeU16BE(at + 2, cookieField);
    if (sealCookie(s, ptLength, at + 4) != cookieField - 4) {
      wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
      return dropped(s, NTS_DROPPED_NO_RANDOM);
    }
    plain += cookieField;
  }

  // 6. Header, UID echo, then the Authenticator sealed under S2C over everything before it.
  let at = writeTimeResponse(out, packet, version, poll, system, false, receive, transmit);
  at = echoUid(packet, out, at);
  const authOut = out + at;
  const authLength = 8 + ourNonce + TAG_BYTES + plain;
  storeU16BE(authOut, EF_AUTHENTICATOR);
  storeU16BE(authOut + 2, authLength);
  storeU16BE(authOut + 4, ourNonce);
  storeU16BE(authOut + 6, TAG_BYTES + plain);
  memory.copy(authOut + 8, takeRandom(s, ourNonce), ourNonce);
  const imported = aeadImportKey(alg, s.keys + 4 + keyLength, <i32>keyLength, s.s2c);
  wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
  if (imported == 0) return dropped(s, NTS_DROPPED_MALFORMED);
  store<u32>(s.descs, <u32>out);
  store<u32>(s.descs, at, 4);
  const sealed = aeadSeal(s.s2c, authOut + 8, <i32>ourNonce, s.descs, 1, s.plain, <i32>plain, authOut + 8 + ourNonce);
  if (sealed < 0) return dropped(s, NTS_DROPPED_MALFORMED);
  ntsBump(s, NTS_ANSWERED);
  ntsAdd(s, NTS_COOKIES_ISSUED, cookies);
  return at + authLength;
}

/** NTS NAK (§5.7): KoD "NTSN" with the Unique Identifier echoed and nothing else. */
function nak(
  s: NtsState, counter: u32, packet: usize, out: usize, version: u32, poll: i32, precision: i32,
  receive: u64, transmit: u64,
): u32 {
  ntsBump(s, counter);
  return echoUid(packet, out, writeKissOfDeath(out, packet, version, poll, precision, KISS_NTS_NAK, receive, transmit));
}

/**
 * Walks the decrypted request plaintext (RFC 8915 §5.6: extension fields that may be as short as 4
 * bytes, multiples of 4) and counts Cookie Placeholders. −1 if the fields do not tile the plaintext,
 * −2 if a placeholder's length differs from the cookie EF's.
 */
function countEncryptedPlaceholders(plain: usize, length: u32, cookieField: u32): i32 {
  let count: i32 = 0;
  let pos: u32 = 0;
  while (pos < length) {
    if (length - pos < 4) return -1;
    const type = loadU16BE(plain + pos);
    const efLength = loadU16BE(plain + pos + 2);
    if (efLength < 4 || (efLength & 3) != 0 || efLength > length - pos) return -1;
    if (type == EF_PLACEHOLDER) {
      if (efLength != cookieField) return -2;
      count++;
    }
    pos += efLength;
  }
  return count;
}
