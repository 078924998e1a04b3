// Writing server responses (RFC 5905 §7.3 header, mode 4) into a response slot. Every response is
// the 48-byte header and nothing else, so it is never longer than the request it answers (the
// kernel only answers requests of at least 48 bytes).

import {
  HEADER_LENGTH, OFFSET_LI_VN_MODE, OFFSET_STRATUM, OFFSET_POLL, OFFSET_PRECISION,
  OFFSET_ROOT_DELAY, OFFSET_ROOT_DISPERSION, OFFSET_REFERENCE_ID, OFFSET_REFERENCE_TIME,
  OFFSET_ORIGIN_TIME, OFFSET_RECEIVE_TIME, OFFSET_TRANSMIT_TIME,
  storeU32BE, storeTimestamp,
} from "../packet";

export const MODE_SERVER: u32 = 4;
export const LEAP_UNSYNCHRONISED: u32 = 3;
/** Kiss codes (RFC 5905 §7.4): four ASCII bytes in the reference id of a stratum-0 packet. */
export const KISS_RATE: u32 = 0x52415445; // "RATE"
export const KISS_DENY: u32 = 0x44454e59; // "DENY"

/** The server's state as clients see it; written by server_set_system, read for every response. */
export class SystemState {
  leap: u32 = LEAP_UNSYNCHRONISED;
  stratum: u32 = 16;
  precision: i32 = -20;
  referenceId: u32 = 0x494e4954; // "INIT"
  rootDelay: u32 = 0; // raw 16.16
  rootDispersion: u32 = 0; // raw 16.16
  referenceTime: u64 = 0;
}

/** Fields common to every response; origin is copied as 8 raw bytes from `originAt` (an exact echo). */
// @ts-ignore: decorator
@inline function writeHeader(
  out: usize, leap: u32, version: u32, stratum: u32, poll: i32, precision: i32,
  rootDelay: u32, rootDispersion: u32, referenceId: u32, referenceTime: u64,
  originAt: usize, receive: u64, transmit: u64,
): u32 {
  store<u8>(out + OFFSET_LI_VN_MODE, <u8>((leap << 6) | (version << 3) | MODE_SERVER));
  store<u8>(out + OFFSET_STRATUM, <u8>stratum);
  store<i8>(out + OFFSET_POLL, <i8>poll);
  store<i8>(out + OFFSET_PRECISION, <i8>precision);
  storeU32BE(out + OFFSET_ROOT_DELAY, rootDelay);
  storeU32BE(out + OFFSET_ROOT_DISPERSION, rootDispersion);
  storeU32BE(out + OFFSET_REFERENCE_ID, referenceId);
  storeTimestamp(out + OFFSET_REFERENCE_TIME, referenceTime);
  store<u64>(out + OFFSET_ORIGIN_TIME, load<u64>(originAt));
  storeTimestamp(out + OFFSET_RECEIVE_TIME, receive);
  storeTimestamp(out + OFFSET_TRANSMIT_TIME, transmit);
  return HEADER_LENGTH;
}

/**
 * A time response. Basic mode: origin = the request's transmit timestamp, transmit = this packet's
 * (provisional) transmit time. Interleaved mode (RFC 9769 §2): origin = the request's receive
 * timestamp, transmit = the saved transmit time of the previous response. Returns the length.
 */
export function writeTimeResponse(
  out: usize, request: usize, version: u32, poll: i32, system: SystemState,
  interleaved: bool, receive: u64, transmit: u64,
): u32 {
  const originAt = request + (interleaved ? OFFSET_RECEIVE_TIME : OFFSET_TRANSMIT_TIME);
  return writeHeader(out, system.leap & 3, version, system.stratum & 0xff, poll, system.precision,
    system.rootDelay, system.rootDispersion, system.referenceId, system.referenceTime,
    originAt, receive, transmit);
}

/**
 * A Kiss-o'-Death (RFC 5905 §7.4): leap 3, stratum 0, the kiss code as reference id, origin echoed
 * so the client can match it, our receive/transmit timestamps filled in (some clients treat a zero
 * transmit timestamp as bogus before looking at the kiss code), nothing about our clock's quality
 * (root delay/dispersion and reference time zero), no extension fields.
 */
export function writeKissOfDeath(
  out: usize, request: usize, version: u32, poll: i32, precision: i32, code: u32,
  receive: u64, transmit: u64,
): u32 {
  return writeHeader(out, LEAP_UNSYNCHRONISED, version, 0, poll, precision, 0, 0, code, 0,
    request + OFFSET_TRANSMIT_TIME, receive, transmit);
}
