// NTP server request kernel, batch form: validate → access list → rate limit → interleaved table →
// build response, for N requests in ONE call. Both I/O engines (node:dgram with batches of 1, and
// the recvmmsg/sendmmsg workers) drive this same code, so identical inputs and timestamps give
// byte-identical responses whichever engine received them.
//
// ==================================== Batch ABI ====================================
// All regions are reserved once by server_create (never on the hot path); the façade
// (ts/core/server.ts) gets their addresses from server_region / server_info and the field offsets
// from server_layout (asm/server/layout.ts). Multi-byte slot fields are native little-endian;
// addresses and packets are network order.
//
//   Request region: `slots` slots of requestStride = align16(32 + capacity) bytes
//     +0  u32  length      datagram length as received (may exceed capacity: dropped as oversize)
//     +4  u8   family      4 or 6 (IPv4-mapped IPv6 is treated as IPv4); else dropped (bad address)
//     +6  u16  port        client port (not used by policy; there for the I/O layer)
//     +8  16B  address     network order; IPv4 uses the first 4 bytes
//     +24 u64  rx time     receive timestamp, NTP 32.32 (kernel timestamp where the engine has one)
//     +32 capacity bytes   the datagram (the first `capacity` bytes of it)
//
//   Response region: `slots` slots of responseStride = align16(32 + capacity) bytes, same index
//     +0  u32  length      bytes to send back to the request's address/port; 0 = send nothing
//     +4  u16  outcome     OUTCOME_* (layout.ts): exactly one per request, also counted
//     +6  u16  flags       REP_FLAG_SAVED: timestamps kept for an interleaved follow-up
//     +8  u64  rx time     the receive timestamp written in the response (key for note_transmit)
//     +16 u64  tx actual   written BY THE I/O LAYER after sending (0 = unknown), then one call to
//                          server_note_transmits(ctx, count) hands them to the interleaved table
//     +32 ≤ capacity bytes the response (48 bytes today; never longer than the request)
//
//   Counters: COUNTER_COUNT × u64 (layout.ts). received = Σ outcomes, always.
//
//   Calls per batch (worker loop):  fill request slots 0..n-1 (recvmmsg) → now = clock() →
//     server_handle_batch(ctx, n, now_hi, now_lo) → sendmmsg the slots with length > 0 →
//     (optional) write tx actual per saved slot → server_note_transmits(ctx, n).
//
// Timestamps. receive: per packet, from the I/O layer. transmit: `now`, ONE value for the whole
// batch, read by the I/O layer immediately before this call (no clock inside WASM). The transmit
// timestamp therefore precedes the real transmission by at most the time to run this call for the
// batch plus the sendmmsg up to that packet's turn — a batch of 64 at ~1 µs per request is tens of
// µs. Clients that want better use the interleaved mode, which serves the transmit time measured
// after sending (note_transmit). A transmit timestamp is never earlier than the receive timestamp
// of its own response (if `now` is, it is raised to receive + 1 unit).
//
// Decision order per request (request.ts; the first match decides; exactly one outcome):
//   length < 48 → drop too-short · length > capacity → drop oversize · mode ≠ 3 (client) → drop
//   mode (modes 6/7 and everything else are never answered) · version not accepted → drop version ·
//   codec rejects it (asm/packet.ts: extension field lengths, trailer) → drop malformed · address
//   family invalid → drop bad-address · deny list / allow list (ntpd-rs order: deny list first,
//   then "not in allow list") with action ignore → drop denied · rate limit (also applies to KoD
//   DENY answers, so a denied address cannot draw more than the limit) → drop rate-limited or, one
//   in N (kodOneIn), KoD RATE · action deny → KoD DENY · else answer, in the interleaved mode when the
//   request qualifies (asm/server/interleave.ts), otherwise in the basic mode.
// ===================================================================================

import { HEADER_LENGTH, MAX_PACKET } from "../packet";
import {
  REP_LENGTH, REP_OUTCOME, REP_FLAGS, REP_RX_TIME, REP_TX_ACTUAL, REP_FLAG_SAVED, SLOT_HEADER,
  COUNTER_RECEIVED, COUNTER_COUNT, COUNTER_BATCHES, COUNTER_XLEAVE_TX_UPDATED, COUNTER_XLEAVE_TX_REJECTED,
  ACTION_IGNORE, ACL_V4_ENTRY, ACL_V6_ENTRY,
} from "./layout";
import { siphash16 } from "./siphash";
import { RATE_BUCKET_BYTES, RATE_BUCKET_ENTRIES } from "./ratelimit";
import { XLEAVE_BUCKET_BYTES, XLEAVE_BUCKET_ENTRIES, xleaveUpdateTx } from "./interleave";
import { Kernel, bump, handleRequest } from "./request";
import { importSockaddrs, importTimespecs } from "./linux-import";
import { reserve } from "../memory";

const MAX_SLOTS: u32 = 4096;
const MAX_ACL_RANGES: u32 = 1 << 20;

// @ts-ignore: decorator
@inline function align16(n: u32): u32 {
  return (n + 15) & ~15;
}

/** Buckets that fit in `bytes` (at least one, so a table is never empty). */
function bucketsFor(bytes: u32, bucketBytes: u32): u32 {
  const n = bytes / bucketBytes;
  return n == 0 ? 1 : n;
}

/**
 * Creates a server kernel and reserves all its memory: `slots` request and response slots of
 * `capacity` packet bytes (48 ≤ capacity ≤ MAX_PACKET), a rate-limit table and an interleaved table
 * of at most the given bytes each, and room for `aclCapacity` ranges in each of the four access
 * lists. Returns the context handle, or 0 when an argument is out of range. Load time only.
 */
export function server_create(slots: u32, capacity: u32, rateTableBytes: u32, xleaveTableBytes: u32, aclCapacity: u32): usize {
  if (slots == 0 || slots > MAX_SLOTS) return 0;
  if (capacity < HEADER_LENGTH || capacity > MAX_PACKET) return 0;
  if (aclCapacity > MAX_ACL_RANGES) return 0;
  const k = new Kernel();
  k.slots = slots;
  k.capacity = capacity;
  k.requestStride = align16(SLOT_HEADER + capacity);
  k.responseStride = align16(SLOT_HEADER + capacity);
  k.requests = reserve(<usize>slots * k.requestStride);
  k.responses = reserve(<usize>slots * k.responseStride);
  k.counters = reserve(<usize>COUNTER_COUNT << 3);
  k.scratch = reserve(16);
  k.rateBuckets = bucketsFor(rateTableBytes, RATE_BUCKET_BYTES);
  k.rateTable = reserve(<usize>k.rateBuckets * RATE_BUCKET_BYTES);
  k.xleaveBuckets = bucketsFor(xleaveTableBytes, XLEAVE_BUCKET_BYTES);
  k.xleaveTable = reserve(<usize>k.xleaveBuckets * XLEAVE_BUCKET_BYTES);
  k.aclCapacity = aclCapacity;
  k.allowV4 = reserve(<usize>aclCapacity * ACL_V4_ENTRY);
  k.denyV4 = reserve(<usize>aclCapacity * ACL_V4_ENTRY);
  k.allowV6 = reserve(<usize>aclCapacity * ACL_V6_ENTRY);
  k.denyV6 = reserve(<usize>aclCapacity * ACL_V6_ENTRY);
  return changetype<usize>(k);
}

/** Region addresses: 0 requests, 1 responses, 2 counters, 3 allow v4, 4 deny v4, 5 allow v6, 6 deny v6. */
export function server_region(ctx: usize, id: u32): usize {
  const k = changetype<Kernel>(ctx);
  switch (id) {
    case 0: return k.requests;
    case 1: return k.responses;
    case 2: return k.counters;
    case 3: return k.allowV4;
    case 4: return k.denyV4;
    case 5: return k.allowV6;
    case 6: return k.denyV6;
  }
  return 0;
}

/** Sizes: 0 slots, 1 capacity, 2 request stride, 3 response stride, 4 rate-table clients,
 *  5 interleaved-table pairs, 6 access-list capacity, 7 rate-table bytes, 8 interleaved-table bytes. */
export function server_info(ctx: usize, id: u32): u32 {
  const k = changetype<Kernel>(ctx);
  switch (id) {
    case 0: return k.slots;
    case 1: return k.capacity;
    case 2: return k.requestStride;
    case 3: return k.responseStride;
    case 4: return k.rateBuckets * RATE_BUCKET_ENTRIES;
    case 5: return k.xleaveBuckets * XLEAVE_BUCKET_ENTRIES;
    case 6: return k.aclCapacity;
    case 7: return k.rateBuckets * RATE_BUCKET_BYTES;
    case 8: return k.xleaveBuckets * XLEAVE_BUCKET_BYTES;
  }
  return 0;
}

/** Secret hash keys from random bytes supplied by the caller (128-bit SipHash key + 64-bit seed). */
export function server_set_keys(ctx: usize, k0Hi: u32, k0Lo: u32, k1Hi: u32, k1Lo: u32, seedHi: u32, seedLo: u32): void {
  const k = changetype<Kernel>(ctx);
  k.key0 = (<u64>k0Hi << 32) | k0Lo;
  k.key1 = (<u64>k1Hi << 32) | k1Lo;
  k.xleaveSeed = (<u64>seedHi << 32) | seedLo;
}

/**
 * Policy: accepted versions (bit v set = version v answered), interleaved mode on/off, the range
 * the client's poll is clamped to in responses, and the rate limit: interval T (32.32, 0 = off),
 * burst ≥ 1 and kodOneIn (one in N over-limit requests gets a KoD RATE; 0 = never). Returns false
 * (and changes nothing) for an invalid combination.
 */
export function server_configure(
  ctx: usize, versionMask: u32, interleaved: bool, pollMin: i32, pollMax: i32,
  intervalHi: u32, intervalLo: u32, burst: u32, kodOneIn: u32,
): bool {
  const k = changetype<Kernel>(ctx);
  if (pollMin < -128 || pollMax > 127 || pollMin > pollMax) return false;
  const interval = (<u64>intervalHi << 32) | intervalLo;
  if (interval != 0 && (burst == 0 || interval > (<u64>1 << 48) || burst > 0xffff)) return false;
  k.versionMask = versionMask & 0xff;
  k.interleaved = interleaved;
  k.pollMin = pollMin;
  k.pollMax = pollMax;
  k.rateInterval = interval;
  k.rateTolerance = interval == 0 ? 0 : <u64>(burst - 1) * interval;
  k.kodOneIn = kodOneIn;
  return true;
}

/** Access lists: counts of ranges already written into the four regions, and the two actions.
 *  With allowEnabled false every address is in the allow list. Returns false if a count exceeds
 *  the capacity or an action is unknown (nothing changes then). */
export function server_set_access(
  ctx: usize, allowEnabled: bool, allowAction: u32, allowV4Count: u32, allowV6Count: u32,
  denyAction: u32, denyV4Count: u32, denyV6Count: u32,
): bool {
  const k = changetype<Kernel>(ctx);
  const cap = k.aclCapacity;
  if (allowV4Count > cap || allowV6Count > cap || denyV4Count > cap || denyV6Count > cap) return false;
  if (allowAction > ACTION_IGNORE || denyAction > ACTION_IGNORE) return false;
  k.allowEnabled = allowEnabled;
  k.allowAction = allowAction;
  k.allowV4Count = allowV4Count;
  k.allowV6Count = allowV6Count;
  k.denyAction = denyAction;
  k.denyV4Count = denyV4Count;
  k.denyV6Count = denyV6Count;
  return true;
}

/** The system state every response carries (leap, stratum, precision, reference id, root delay and
 *  dispersion as raw 16.16, reference time). */
export function server_set_system(
  ctx: usize, leap: u32, stratum: u32, precision: i32, referenceId: u32,
  rootDelay: u32, rootDispersion: u32, refHi: u32, refLo: u32,
): void {
  const s = changetype<Kernel>(ctx).system;
  s.leap = leap & 3;
  s.stratum = stratum & 0xff;
  s.precision = <i32><i8>precision;
  s.referenceId = referenceId;
  s.rootDelay = rootDelay;
  s.rootDispersion = rootDispersion;
  s.referenceTime = (<u64>refHi << 32) | refLo;
}

/**
 * Handles request slots 0..count−1 (count is capped at the slot count) with `now` (NTP 32.32, read
 * just before the call) as the transmit time. Writes every response slot; returns how many
 * responses are to be sent.
 */
export function server_handle_batch(ctx: usize, count: u32, nowHi: u32, nowLo: u32): u32 {
  const k = changetype<Kernel>(ctx);
  if (count > k.slots) count = k.slots;
  const now = (<u64>nowHi << 32) | nowLo;
  let responses: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const request = k.requests + <usize>i * k.requestStride;
    const response = k.responses + <usize>i * k.responseStride;
    store<u32>(response + REP_LENGTH, 0);
    store<u16>(response + REP_FLAGS, 0);
    store<u64>(response + REP_RX_TIME, 0);
    store<u64>(response + REP_TX_ACTUAL, 0);
    const outcome = handleRequest(k, request, response, now);
    store<u16>(response + REP_OUTCOME, <u16>outcome);
    bump(k, COUNTER_RECEIVED);
    bump(k, outcome);
    if (load<u32>(response + REP_LENGTH) != 0) responses++;
  }
  bump(k, COUNTER_BATCHES);
  return responses;
}

/**
 * Hands the I/O layer's measured transmit times (REP_TX_ACTUAL of response slots 0..count−1 whose
 * REP_FLAG_SAVED is set and whose value is not 0) to the interleaved table. Returns how many were
 * accepted.
 */
export function server_note_transmits(ctx: usize, count: u32): u32 {
  const k = changetype<Kernel>(ctx);
  if (count > k.slots) count = k.slots;
  let updated: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const response = k.responses + <usize>i * k.responseStride;
    if ((<u32>load<u16>(response + REP_FLAGS) & REP_FLAG_SAVED) == 0) continue;
    const actual = load<u64>(response + REP_TX_ACTUAL);
    if (actual == 0) continue;
    if (noteTransmit(k, load<u64>(response + REP_RX_TIME), actual) == 1) updated++;
  }
  return updated;
}

/** One measured transmit time for the response whose receive timestamp was `rx`: 1 updated,
 *  −1 refused as implausible, 0 no saved pair (nothing to do). */
export function server_note_transmit(ctx: usize, rxHi: u32, rxLo: u32, txHi: u32, txLo: u32): i32 {
  return noteTransmit(changetype<Kernel>(ctx), (<u64>rxHi << 32) | rxLo, (<u64>txHi << 32) | txLo);
}

function noteTransmit(k: Kernel, rx: u64, actual: u64): i32 {
  const result = xleaveUpdateTx(k.xleaveTable, k.xleaveBuckets, k.xleaveSeed, rx, actual);
  if (result == 1) bump(k, COUNTER_XLEAVE_TX_UPDATED);
  else if (result < 0) bump(k, COUNTER_XLEAVE_TX_REJECTED);
  return result;
}

export { server_layout } from "./layout";

/** SipHash-2-4 of a 16-byte message (m0, m1 as little-endian words) under key (k0, k1): exposed so a
 *  test can check the table hash against the reference vectors. Not used on the hot path. */
export function server_siphash(k0: u64, k1: u64, m0: u64, m1: u64): u64 {
  return siphash16(k0, k1, m0, m1);
}

/** Fills the address fields of request slots 0..count−1 from Linux sockaddrs at names + i·stride
 *  (see linux-import.ts); returns how many were IPv4/IPv6. */
export function server_import_sockaddrs(ctx: usize, count: u32, names: usize, stride: u32): u32 {
  const k = changetype<Kernel>(ctx);
  return importSockaddrs(k.requests, k.requestStride, count > k.slots ? k.slots : count, names, stride);
}

/** Fills the receive timestamps of request slots 0..count−1 from Linux timespecs (SCM_TIMESTAMPNS)
 *  at times + i·stride; a zero timespec takes `fallback` (hi/lo NTP). */
export function server_import_timespecs(ctx: usize, count: u32, times: usize, stride: u32, fallbackHi: u32, fallbackLo: u32): void {
  const k = changetype<Kernel>(ctx);
  importTimespecs(k.requests, k.requestStride, count > k.slots ? k.slots : count, times, stride, (<u64>fallbackHi << 32) | fallbackLo);
}
