// NTP packet codec: the 48-byte header (RFC 5905 §7.3, Figure 8), extension fields (RFC 7822) and
// legacy MACs. Pure functions over linear memory; every length is checked before a byte is read, so
// no input of any length can make these functions read outside [ptr, ptr + len) or trap.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |LI | VN  |Mode |    Stratum     |     Poll      |  Precision   |   0
// |                         Root Delay                            |   4
// |                         Root Dispersion                       |   8
// |                          Reference ID                         |  12
// |                     Reference Timestamp (64)                  |  16
// |                      Origin Timestamp (64)                    |  24
// |                      Receive Timestamp (64)                   |  32
// |                      Transmit Timestamp (64)                  |  40
// .                    Extension fields, MAC (optional)           .  48
//
// What follows the header (how chrony's parse_packet and RFC 7822 agree to read it):
// - NTPv1..3: no extension fields; everything after the header is a MAC (key id + digest).
// - NTPv4: exactly 4 bytes holding key id 0 is a crypto-NAK (RFC 5905 §7.4 / Appendix A.5.1.1).
//   Otherwise walk from offset 48. At each position, let `rem` be the bytes left:
//     * rem == 20 or 24: a legacy MAC (key id + 16-byte MD5/AES-CMAC or 20-byte SHA-1 digest).
//       RFC 7822 §7.5.1.3 caps a MAC without negotiation at 24 octets, and §7.5.1.4 requires the
//       last extension field of a MAC-less packet to be at least 28 octets, so 20/24 cannot be an
//       extension field: this is what makes the walk deterministic.
//     * rem < 28 otherwise: neither a MAC nor a legal last extension field → BadTrailer.
//     * else an extension field: 16-bit type, 16-bit length counting the 4-byte header and padding;
//       the length must be a multiple of 4, at least 16 (RFC 7822 §7.5) and fit in `rem`, else
//       BadExtensionLength.
//   A packet whose length is not a multiple of 4 cannot be header + fields + MAC → BadTrailer.
//   NTS (RFC 8915) packets are ordinary NTPv4 packets with extension fields (Unique Identifier
//   0x0104, Cookie 0x0204, Cookie Placeholder 0x0304, Authenticator 0x0404) and no MAC; the
//   Authenticator is last and at least 28 octets, so they walk like any other. Fields inside the
//   encrypted plaintext may be shorter (RFC 8915 §5.6) — that walk belongs to the NTS code.
// Modes 6 and 7 (control, private) do not use this header layout; dropping them is policy, not
// codec, so the mode is decoded but not judged here.

import { secondsToShort, shortToSeconds } from "./timestamp";

// ---- Header layout (byte offsets from the start of the packet) ----
export const HEADER_LENGTH: u32 = 48;
export const OFFSET_LI_VN_MODE: u32 = 0;
export const OFFSET_STRATUM: u32 = 1;
export const OFFSET_POLL: u32 = 2;
export const OFFSET_PRECISION: u32 = 3;
export const OFFSET_ROOT_DELAY: u32 = 4;
export const OFFSET_ROOT_DISPERSION: u32 = 8;
export const OFFSET_REFERENCE_ID: u32 = 12;
export const OFFSET_REFERENCE_TIME: u32 = 16;
export const OFFSET_ORIGIN_TIME: u32 = 24;
export const OFFSET_RECEIVE_TIME: u32 = 32;
export const OFFSET_TRANSMIT_TIME: u32 = 40;

// ---- Limits ----
/** Largest packet the codec accepts. NTS requests asking for 8 large cookies stay under 1500; 2048
 *  leaves room without letting a datagram of arbitrary size through. */
export const MAX_PACKET: u32 = 2048;
/** Most extension fields tracked per packet. An NTS request asking for 8 cookies has 10; RFC 7822
 *  §4 says a large number should be treated as a potential attack. */
export const MAX_EXTENSIONS: u32 = 32;
export const EF_HEADER_LENGTH: u32 = 4;
/** RFC 7822 §7.5: every extension field is at least four words. */
export const EF_MIN_LENGTH: u32 = 16;
/** RFC 7822 §7.5.1.4: the last (or only) extension field of a packet without MAC is ≥ 7 words. */
export const EF_MIN_LAST_LENGTH: u32 = 28;
/** Legacy MAC sizes in NTPv4: key id (4) + 16-byte digest (MD5, AES-CMAC) or 20-byte (SHA-1). */
export const MAC_MIN_LENGTH: u32 = 20;
export const MAC_MAX_V4_LENGTH: u32 = 24;
/** A crypto-NAK is a MAC of just a zero key id. */
export const CRYPTO_NAK_LENGTH: u32 = 4;

// ---- Reason codes (the same numbers as ParseResult in ts/core/api.ts; they feed counters) ----
export const PARSE_OK: u32 = 0;
export const PARSE_TOO_SHORT: u32 = 1;
export const PARSE_TOO_LONG: u32 = 2;
export const PARSE_BAD_VERSION: u32 = 3;
export const PARSE_BAD_EXTENSION_LENGTH: u32 = 4;
export const PARSE_BAD_TRAILER: u32 = 5;
export const PARSE_TOO_MANY_EXTENSIONS: u32 = 6;

// ---- Parse result struct, written by parsePacketInto (native little-endian) ----
//   0 u32 reason code        4 u32 extension count     8 u32 MAC offset (0: none)   12 u32 MAC length
//  16 u8 leap  17 u8 version  18 u8 mode  19 u8 stratum  20 i8 poll  21 i8 precision  22 u16 0
//  24 u32 reference id       28 u32 root delay (raw 16.16)  32 u32 root dispersion (raw 16.16)  36 u32 0
//  40 f64 root delay (s)     48 f64 root dispersion (s)
//  56 u64 reference time     64 u64 origin time        72 u64 receive time      80 u64 transmit time
//  88 extension table: MAX_EXTENSIONS × { u16 type, u16 length, u32 offset }
export const RES_REASON: u32 = 0;
export const RES_EXT_COUNT: u32 = 4;
export const RES_MAC_OFFSET: u32 = 8;
export const RES_MAC_LENGTH: u32 = 12;
export const RES_LEAP: u32 = 16;
export const RES_VERSION: u32 = 17;
export const RES_MODE: u32 = 18;
export const RES_STRATUM: u32 = 19;
export const RES_POLL: u32 = 20;
export const RES_PRECISION: u32 = 21;
export const RES_REFERENCE_ID: u32 = 24;
export const RES_ROOT_DELAY_RAW: u32 = 28;
export const RES_ROOT_DISPERSION_RAW: u32 = 32;
export const RES_ROOT_DELAY: u32 = 40;
export const RES_ROOT_DISPERSION: u32 = 48;
export const RES_REFERENCE_TIME: u32 = 56;
export const RES_ORIGIN_TIME: u32 = 64;
export const RES_RECEIVE_TIME: u32 = 72;
export const RES_TRANSMIT_TIME: u32 = 80;
export const RES_EXTENSIONS: u32 = 88;
export const RES_EXTENSION_ENTRY: u32 = 8;
export const RESULT_SIZE: u32 = RES_EXTENSIONS + MAX_EXTENSIONS * RES_EXTENSION_ENTRY;

// ---- Big-endian access at a pointer (for this and other kernels) ----
// @ts-ignore: decorator
@inline export function loadU16BE(ptr: usize): u32 {
  return <u32>bswap<u16>(load<u16>(ptr));
}
// @ts-ignore: decorator
@inline export function loadU32BE(ptr: usize): u32 {
  return bswap<u32>(load<u32>(ptr));
}
/** Reads a 64-bit NTP timestamp (or any big-endian u64) at `ptr`. */
// @ts-ignore: decorator
@inline export function loadTimestamp(ptr: usize): u64 {
  return bswap<u64>(load<u64>(ptr));
}
// @ts-ignore: decorator
@inline export function storeU16BE(ptr: usize, v: u32): void {
  store<u16>(ptr, bswap<u16>(<u16>v));
}
// @ts-ignore: decorator
@inline export function storeU32BE(ptr: usize, v: u32): void {
  store<u32>(ptr, bswap<u32>(v));
}
/** Writes a 64-bit NTP timestamp (or any u64) big-endian at `ptr`. */
// @ts-ignore: decorator
@inline export function storeTimestamp(ptr: usize, v: u64): void {
  store<u64>(ptr, bswap<u64>(v));
}

/** Version number of a packet whose first byte is at `ptr` (caller has checked len ≥ 1). */
// @ts-ignore: decorator
@inline export function versionOf(ptr: usize): u32 {
  return (<u32>load<u8>(ptr) >> 3) & 7;
}
// @ts-ignore: decorator
@inline export function modeOf(ptr: usize): u32 {
  return <u32>load<u8>(ptr) & 7;
}

/**
 * Validates the packet at [ptr, ptr + len) and, when `out` is not 0, writes the parse result struct
 * there (header fields whenever len ≥ 48, extension table and MAC position as far as the walk got).
 * Returns the reason code. Reads nothing outside the packet.
 */
export function walkPacket(ptr: usize, len: u32, out: usize): u32 {
  let reason = checkPacket(ptr, len, out);
  if (out != 0) store<u32>(out, reason, RES_REASON);
  return reason;
}

// Inlined into its two callers so that, with `out` a constant 0, the optimiser drops every store
// from the validate-only path.
// @ts-ignore: decorator
@inline function checkPacket(ptr: usize, len: u32, out: usize): u32 {
  if (out != 0) {
    store<u32>(out, 0, RES_EXT_COUNT);
    store<u32>(out, 0, RES_MAC_OFFSET);
    store<u32>(out, 0, RES_MAC_LENGTH);
  }
  if (len < HEADER_LENGTH) return PARSE_TOO_SHORT;
  if (len > MAX_PACKET) return PARSE_TOO_LONG;
  if (out != 0) decodeHeader(ptr, out);
  const version = versionOf(ptr);
  if (version < 1 || version > 4) return PARSE_BAD_VERSION;
  if ((len & 3) != 0) return PARSE_BAD_TRAILER;

  let pos = HEADER_LENGTH;
  if (pos == len) return PARSE_OK;
  if (version < 4) return recordMac(out, pos, len - pos);
  if (len - pos == CRYPTO_NAK_LENGTH && load<u32>(ptr + pos) == 0) return recordMac(out, pos, CRYPTO_NAK_LENGTH);

  let count: u32 = 0;
  let reason = PARSE_OK;
  while (pos < len) {
    const rem = len - pos;
    if (rem == MAC_MIN_LENGTH || rem == MAC_MAX_V4_LENGTH) {
      reason = recordMac(out, pos, rem);
      break;
    }
    if (rem < EF_MIN_LAST_LENGTH) {
      reason = PARSE_BAD_TRAILER;
      break;
    }
    // rem ≥ 28, so the 4-byte field header is inside the packet.
    const fieldLength = loadU16BE(ptr + pos + 2);
    if (fieldLength < EF_MIN_LENGTH || (fieldLength & 3) != 0 || fieldLength > rem) {
      reason = PARSE_BAD_EXTENSION_LENGTH;
      break;
    }
    if (count == MAX_EXTENSIONS) {
      reason = PARSE_TOO_MANY_EXTENSIONS;
      break;
    }
    if (out != 0) {
      const entry = out + RES_EXTENSIONS + count * RES_EXTENSION_ENTRY;
      store<u16>(entry, <u16>loadU16BE(ptr + pos), 0);
      store<u16>(entry, <u16>fieldLength, 2);
      store<u32>(entry, pos, 4);
    }
    count++;
    pos += fieldLength;
  }
  if (out != 0) store<u32>(out, count, RES_EXT_COUNT);
  return reason;
}

// @ts-ignore: decorator
@inline function recordMac(out: usize, offset: u32, length: u32): u32 {
  if (out != 0) {
    store<u32>(out, offset, RES_MAC_OFFSET);
    store<u32>(out, length, RES_MAC_LENGTH);
  }
  return PARSE_OK;
}

function decodeHeader(ptr: usize, out: usize): void {
  const first = <u32>load<u8>(ptr);
  store<u8>(out, <u8>(first >> 6), RES_LEAP);
  store<u8>(out, <u8>((first >> 3) & 7), RES_VERSION);
  store<u8>(out, <u8>(first & 7), RES_MODE);
  store<u8>(out, load<u8>(ptr + OFFSET_STRATUM), RES_STRATUM);
  store<u8>(out, load<u8>(ptr + OFFSET_POLL), RES_POLL);
  store<u8>(out, load<u8>(ptr + OFFSET_PRECISION), RES_PRECISION);
  store<u16>(out, 0, 22);
  store<u32>(out, loadU32BE(ptr + OFFSET_REFERENCE_ID), RES_REFERENCE_ID);
  const rootDelay = loadU32BE(ptr + OFFSET_ROOT_DELAY);
  const rootDispersion = loadU32BE(ptr + OFFSET_ROOT_DISPERSION);
  store<u32>(out, rootDelay, RES_ROOT_DELAY_RAW);
  store<u32>(out, rootDispersion, RES_ROOT_DISPERSION_RAW);
  store<u32>(out, 0, 36);
  store<f64>(out, shortToSeconds(rootDelay), RES_ROOT_DELAY);
  store<f64>(out, shortToSeconds(rootDispersion), RES_ROOT_DISPERSION);
  store<u64>(out, loadTimestamp(ptr + OFFSET_REFERENCE_TIME), RES_REFERENCE_TIME);
  store<u64>(out, loadTimestamp(ptr + OFFSET_ORIGIN_TIME), RES_ORIGIN_TIME);
  store<u64>(out, loadTimestamp(ptr + OFFSET_RECEIVE_TIME), RES_RECEIVE_TIME);
  store<u64>(out, loadTimestamp(ptr + OFFSET_TRANSMIT_TIME), RES_TRANSMIT_TIME);
}

/** The reason code for the packet at [ptr, ptr + len), without decoding anything. */
export function validatePacket(ptr: usize, len: u32): u32 {
  return checkPacket(ptr, len, 0);
}

/**
 * Writes a 48-byte header at `out`. Small fields are masked to their widths (leap 2 bits, version
 * and mode 3 bits, the rest 8 bits; poll and precision as two's complement); root delay and
 * dispersion are seconds, converted to 16.16 rounding up and saturating.
 */
export function writeHeader(
  out: usize, leap: u32, version: u32, mode: u32, stratum: u32, poll: i32, precision: i32,
  rootDelaySeconds: f64, rootDispersionSeconds: f64, referenceId: u32,
  referenceTime: u64, originTime: u64, receiveTime: u64, transmitTime: u64,
): void {
  store<u8>(out + OFFSET_LI_VN_MODE, <u8>(((leap & 3) << 6) | ((version & 7) << 3) | (mode & 7)));
  store<u8>(out + OFFSET_STRATUM, <u8>stratum);
  store<u8>(out + OFFSET_POLL, <u8>poll);
  store<u8>(out + OFFSET_PRECISION, <u8>precision);
  storeU32BE(out + OFFSET_ROOT_DELAY, secondsToShort(rootDelaySeconds));
  storeU32BE(out + OFFSET_ROOT_DISPERSION, secondsToShort(rootDispersionSeconds));
  storeU32BE(out + OFFSET_REFERENCE_ID, referenceId);
  storeTimestamp(out + OFFSET_REFERENCE_TIME, referenceTime);
  storeTimestamp(out + OFFSET_ORIGIN_TIME, originTime);
  storeTimestamp(out + OFFSET_RECEIVE_TIME, receiveTime);
  storeTimestamp(out + OFFSET_TRANSMIT_TIME, transmitTime);
}

/** Writes a 48-byte header at `out` from a parse result struct (the exact inverse of decoding:
 *  short-format fields are copied raw, not through seconds). */
export function encodeHeaderFromResult(result: usize, out: usize): void {
  store<u8>(out + OFFSET_LI_VN_MODE, <u8>(
    ((<u32>load<u8>(result, RES_LEAP) & 3) << 6) |
    ((<u32>load<u8>(result, RES_VERSION) & 7) << 3) |
    (<u32>load<u8>(result, RES_MODE) & 7)));
  store<u8>(out + OFFSET_STRATUM, load<u8>(result, RES_STRATUM));
  store<u8>(out + OFFSET_POLL, load<u8>(result, RES_POLL));
  store<u8>(out + OFFSET_PRECISION, load<u8>(result, RES_PRECISION));
  storeU32BE(out + OFFSET_ROOT_DELAY, load<u32>(result, RES_ROOT_DELAY_RAW));
  storeU32BE(out + OFFSET_ROOT_DISPERSION, load<u32>(result, RES_ROOT_DISPERSION_RAW));
  storeU32BE(out + OFFSET_REFERENCE_ID, load<u32>(result, RES_REFERENCE_ID));
  storeTimestamp(out + OFFSET_REFERENCE_TIME, load<u64>(result, RES_REFERENCE_TIME));
  storeTimestamp(out + OFFSET_ORIGIN_TIME, load<u64>(result, RES_ORIGIN_TIME));
  storeTimestamp(out + OFFSET_RECEIVE_TIME, load<u64>(result, RES_RECEIVE_TIME));
  storeTimestamp(out + OFFSET_TRANSMIT_TIME, load<u64>(result, RES_TRANSMIT_TIME));
}

// ---- WASM exports (prefixed pkt_) ----

/** Parses [ptr, ptr + len) into the result struct at `out` (RESULT_SIZE bytes); returns the reason. */
export function pkt_parse(ptr: usize, len: u32, out: usize): u32 {
  return walkPacket(ptr, len, out);
}

/** Reason code only; writes nothing. */
export function pkt_validate(ptr: usize, len: u32): u32 {
  return validatePacket(ptr, len);
}

/**
 * Validates `count` packets in one call: packet i starts at base + i·stride, its length is the u32
 * at lengths + 4i, and its reason code is written as a u8 at reasons + i. Returns how many were Ok.
 * Lengths larger than `stride` are reported TooLong without reading (the slot cannot hold them).
 */
export function pkt_validate_batch(base: usize, stride: u32, lengths: usize, count: u32, reasons: usize): u32 {
  let ok: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const len = load<u32>(lengths + (<usize>i << 2));
    const reason = len > stride ? PARSE_TOO_LONG : validatePacket(base + <usize>i * stride, len);
    store<u8>(reasons + i, <u8>reason);
    if (reason == PARSE_OK) ok++;
  }
  return ok;
}

/** Writes a 48-byte header at `out` (see writeHeader). */
export function pkt_build_header(
  out: usize, leap: u32, version: u32, mode: u32, stratum: u32, poll: i32, precision: i32,
  rootDelaySeconds: f64, rootDispersionSeconds: f64, referenceId: u32,
  referenceTime: u64, originTime: u64, receiveTime: u64, transmitTime: u64,
): void {
  writeHeader(out, leap, version, mode, stratum, poll, precision, rootDelaySeconds,
    rootDispersionSeconds, referenceId, referenceTime, originTime, receiveTime, transmitTime);
}

/** Writes a 48-byte header at `out` from the parse result struct at `result`. */
export function pkt_encode_header(result: usize, out: usize): void {
  encodeHeaderFromResult(result, out);
}

/** Limits and struct size, so the façade sizes its regions from the one definition here. */
export function pkt_max_packet(): u32 {
  return MAX_PACKET;
}
export function pkt_max_extensions(): u32 {
  return MAX_EXTENSIONS;
}
export function pkt_result_size(): u32 {
  return RESULT_SIZE;
}
