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
// Decision order per request (first match decides; exactly one outcome):
//   length < 48 → drop too-short · length > capacity → drop oversize · mode ≠ 3 (client) → drop
//   mode (modes 6/7 and everything else are never answered) · version not accepted → drop version ·
//   codec rejects it (asm/packet.ts: extension field lengths, trailer) → drop malformed · address
//   family invalid → drop bad-address · deny list / allow list (ntpd-rs order: deny list first,
//   then "not in allow list") with action ignore → drop denied · rate limit (also applies to KoD
//   DENY answers, so a denied address cannot draw more than the limit) → drop rate-limited or, one
//   in N (kodOneIn), KoD RATE · action deny → KoD DENY · else answer, in the interleaved mode when the
//   request qualifies (asm/server/interleave.ts), otherwise in the basic mode.
// ===================================================================================

import { HEADER_LENGTH, MAX_PACKET, OFFSET_POLL, OFFSET_ORIGIN_TIME, OFFSET_RECEIVE_TIME, OFFSET_TRANSMIT_TIME,
  PARSE_OK, loadTimestamp, modeOf, validatePacket, versionOf } from "../packet";
import {
  REQ_LENGTH, REQ_FAMILY, REQ_ADDRESS, REQ_RX_TIME, REQ_PACKET,
  REP_LENGTH, REP_OUTCOME, REP_FLAGS, REP_RX_TIME, REP_TX_ACTUAL, REP_PACKET, REP_FLAG_SAVED, SLOT_HEADER,
  COUNTER_RECEIVED, COUNTER_COUNT, COUNTER_BATCHES, COUNTER_RATE_CLIENTS_ADDED, COUNTER_RATE_CLIENTS_EVICTED,
  COUNTER_XLEAVE_SAVED, COUNTER_XLEAVE_EVICTED, COUNTER_XLEAVE_TX_UPDATED, COUNTER_XLEAVE_TX_REJECTED,
  OUTCOME_ANSWERED, OUTCOME_ANSWERED_INTERLEAVED, OUTCOME_KOD_RATE, OUTCOME_KOD_DENY, OUTCOME_DROP_TOO_SHORT,
  OUTCOME_DROP_OVERSIZE, OUTCOME_DROP_MODE, OUTCOME_DROP_VERSION, OUTCOME_DROP_MALFORMED, OUTCOME_DROP_DENIED,
  OUTCOME_DROP_RATE_LIMITED, OUTCOME_DROP_BAD_ADDRESS, ACTION_NONE, ACTION_DENY, ACTION_IGNORE,
  ACL_V4_ENTRY, ACL_V6_ENTRY,
} from "./layout";
import { inV4Ranges, inV6Ranges } from "./access";
import { siphash16 } from "./siphash";
import { RATE_BUCKET_BYTES, RATE_BUCKET_ENTRIES, RATE_DROP, RATE_KOD, RATE_PASS, rateCheck } from "./ratelimit";
import { XLEAVE_BUCKET_BYTES, XLEAVE_BUCKET_ENTRIES, xleaveContains, xleaveSave, xleaveTake, xleaveUpdateTx } from "./interleave";
import { KISS_DENY, KISS_RATE, SystemState, writeKissOfDeath, writeTimeResponse } from "./response";
import { reserve } from "../memory";
import { importSockaddrs, importTimespecs } from "./linux-import";

const MODE_CLIENT: u32 = 3;
const MAX_SLOTS: u32 = 4096;
const MAX_ACL_RANGES: u32 = 1 << 20;
/** Receive timestamps closer than this (32.32 units, ≈ 1 µs) to the previous one and not after it
 *  are moved just after it, so no two responses carry the same receive timestamp (RFC 9769 §2:
 *  they must be unique) even when the I/O layer's clock is coarse. */
const RX_DEDUP_WINDOW: i64 = 4096;
/** Attempts to find a receive timestamp not already saved (only after a clock step back). */
const RX_UNIQUE_TRIES: u32 = 4;

/** One server's state. Allocated once per server_create; all its regions are fixed from then on. */
class Kernel {
  slots: u32 = 0;
  capacity: u32 = 0;
  requestStride: u32 = 0;
  responseStride: u32 = 0;
  requests: usize = 0;
  responses: usize = 0;
  counters: usize = 0;
  scratch: usize = 0;

  // Policy configuration (server_configure).
  versionMask: u32 = (1 << 3) | (1 << 4);
  interleaved: bool = true;
  pollMin: i32 = -6;
  pollMax: i32 = 17;
  rateInterval: u64 = 0; // T in 32.32; 0 = rate limiting off
  rateTolerance: u64 = 0; // τ = (burst − 1)·T
  kodOneIn: u32 = 0; // one in N over-limit requests gets a KoD RATE; 0 = never

  // Tables.
  rateTable: usize = 0;
  rateBuckets: u32 = 0;
  xleaveTable: usize = 0;
  xleaveBuckets: u32 = 0;
  key0: u64 = 0;
  key1: u64 = 0;
  xleaveSeed: u64 = 0;
  lastRx: u64 = 0;

  // Access lists (server_set_access); ranges written by the façade into the four regions.
  aclCapacity: u32 = 0;
  allowV4: usize = 0;
  denyV4: usize = 0;
  allowV6: usize = 0;
  denyV6: usize = 0;
  allowV4Count: u32 = 0;
  allowV6Count: u32 = 0;
  denyV4Count: u32 = 0;
  denyV6Count: u32 = 0;
  allowEnabled: bool = false;
  allowAction: u32 = ACTION_NONE;
  denyAction: u32 = ACTION_NONE;

  system: SystemState = new SystemState();
}

// @ts-ignore: decorator
@inline function bump(k: Kernel, counter: u32): void {
  const at = k.counters + (<usize>counter << 3);
  store<u64>(at, load<u64>(at) + 1);
}

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

function handleRequest(k: Kernel, request: usize, response: usize, now: u64): u32 {
  const length = load<u32>(request + REQ_LENGTH);
  if (length < HEADER_LENGTH) return OUTCOME_DROP_TOO_SHORT;
  if (length > k.capacity) return OUTCOME_DROP_OVERSIZE;
  const packet = request + REQ_PACKET;
  if (modeOf(packet) != MODE_CLIENT) return OUTCOME_DROP_MODE;
  const version = versionOf(packet);
  if ((k.versionMask & (<u32>1 << version)) == 0) return OUTCOME_DROP_VERSION;
  if (validatePacket(packet, length) != PARSE_OK) return OUTCOME_DROP_MALFORMED;

  // The client's address in canonical form: IPv4 (also when IPv4-mapped) or a 128-bit IPv6.
  const family = <u32>load<u8>(request + REQ_FAMILY);
  let isV4 = false;
  let v4: u32 = 0;
  let hi: u64 = 0;
  let lo: u64 = 0;
  if (family == 4) {
    isV4 = true;
    v4 = bswap<u32>(load<u32>(request + REQ_ADDRESS));
  } else if (family == 6) {
    hi = bswap<u64>(load<u64>(request + REQ_ADDRESS));
    lo = bswap<u64>(load<u64>(request + REQ_ADDRESS + 8));
    if (hi == 0 && (lo >>> 32) == 0xffff) {
      isV4 = true; // ::ffff:a.b.c.d is the IPv4 client a.b.c.d
      v4 = <u32>lo;
    }
  } else {
    return OUTCOME_DROP_BAD_ADDRESS;
  }

  const action = accessAction(k, isV4, v4, hi, lo);
  if (action == ACTION_IGNORE) return OUTCOME_DROP_DENIED;

  // One keyed hash per request: the rate-limit key is the IPv4 address or the IPv6 /64.
  const rateFamily: u64 = isV4 ? 4 : 6;
  const rateKey: u64 = isV4 ? <u64>v4 : hi;
  const hash = siphash16(k.key0, k.key1, rateFamily, rateKey);

  let limit = RATE_PASS;
  if (k.rateInterval != 0) {
    const rx = load<u64>(request + REQ_RX_TIME);
    limit = rateCheck(k.rateTable, k.rateBuckets, hash, <u32>rateFamily, rateKey, rx,
      k.rateInterval, k.rateTolerance, k.kodOneIn, k.scratch);
    const table = load<u32>(k.scratch);
    if (table == 1) bump(k, COUNTER_RATE_CLIENTS_EVICTED);
    if (table != 0) bump(k, COUNTER_RATE_CLIENTS_ADDED);
  }
  if (limit == RATE_DROP || (limit == RATE_KOD && action == ACTION_DENY)) return OUTCOME_DROP_RATE_LIMITED;

  const poll = clampPoll(k, <i32>load<i8>(packet + OFFSET_POLL));
  const receive = uniqueReceiveTime(k, load<u64>(request + REQ_RX_TIME));
  const transmit = transmitTime(now, receive);
  store<u64>(response + REP_RX_TIME, receive);
  const out = response + REP_PACKET;

  if (limit == RATE_KOD || action == ACTION_DENY) {
    const code = limit == RATE_KOD ? KISS_RATE : KISS_DENY;
    store<u32>(response + REP_LENGTH, writeKissOfDeath(out, packet, version, poll, k.system.precision, code, receive, transmit));
    return limit == RATE_KOD ? OUTCOME_KOD_RATE : OUTCOME_KOD_DENY;
  }

  // Interleaved mode (RFC 9769 §2; see interleave.ts for the low-bit convention).
  const origin = loadTimestamp(packet + OFFSET_ORIGIN_TIME);
  if (k.interleaved && version == 4 && (origin & 1) == 1 &&
      loadTimestamp(packet + OFFSET_RECEIVE_TIME) != loadTimestamp(packet + OFFSET_TRANSMIT_TIME)) {
    const tag = <u32>(hash >>> 32);
    const previousTransmit = xleaveTake(k.xleaveTable, k.xleaveBuckets, k.xleaveSeed, origin, tag);
    let saved = receive;
    let tries: u32 = 0;
    while (xleaveContains(k.xleaveTable, k.xleaveBuckets, k.xleaveSeed, saved) && tries < RX_UNIQUE_TRIES) {
      saved += 2;
      tries++;
    }
    if (tries < RX_UNIQUE_TRIES) {
      k.lastRx = saved;
      if (xleaveSave(k.xleaveTable, k.xleaveBuckets, k.xleaveSeed, saved, transmitTime(now, saved), tag, now)) {
        bump(k, COUNTER_XLEAVE_EVICTED);
      }
      bump(k, COUNTER_XLEAVE_SAVED);
      store<u16>(response + REP_FLAGS, <u16>REP_FLAG_SAVED);
      store<u64>(response + REP_RX_TIME, saved);
    }
    if (previousTransmit != 0) {
      store<u32>(response + REP_LENGTH, writeTimeResponse(out, packet, version, poll, k.system, true, saved, previousTransmit));
      return OUTCOME_ANSWERED_INTERLEAVED;
    }
    store<u32>(response + REP_LENGTH, writeTimeResponse(out, packet, version, poll, k.system, false, saved, transmitTime(now, saved)));
    return OUTCOME_ANSWERED;
  }

  store<u32>(response + REP_LENGTH, writeTimeResponse(out, packet, version, poll, k.system, false, receive, transmit));
  return OUTCOME_ANSWERED;
}

/** ACTION_NONE, or the action of the list that rejects the address (deny list first, as ntpd-rs). */
function accessAction(k: Kernel, isV4: bool, v4: u32, hi: u64, lo: u64): u32 {
  if (isV4) {
    if (inV4Ranges(k.denyV4, k.denyV4Count, v4)) return k.denyAction;
    if (k.allowEnabled && !inV4Ranges(k.allowV4, k.allowV4Count, v4)) return k.allowAction;
  } else {
    if (inV6Ranges(k.denyV6, k.denyV6Count, hi, lo)) return k.denyAction;
    if (k.allowEnabled && !inV6Ranges(k.allowV6, k.allowV6Count, hi, lo)) return k.allowAction;
  }
  return ACTION_NONE;
}

// @ts-ignore: decorator
@inline function clampPoll(k: Kernel, poll: i32): i32 {
  return poll < k.pollMin ? k.pollMin : poll > k.pollMax ? k.pollMax : poll;
}

/** The receive timestamp to send: low bit set (marks it as ours for the interleaved mode), and
 *  never equal to the previous one (see RX_DEDUP_WINDOW). */
function uniqueReceiveTime(k: Kernel, rx: u64): u64 {
  let receive = rx | 1;
  const behind = <i64>(k.lastRx - receive);
  if (behind >= 0 && behind < RX_DEDUP_WINDOW) receive = k.lastRx + 2;
  k.lastRx = receive;
  return receive;
}

/** The transmit timestamp: `now` with the low bit clear, and after the receive timestamp. */
// @ts-ignore: decorator
@inline function transmitTime(now: u64, receive: u64): u64 {
  return (<i64>(now - receive) > 0 ? now : receive + 1) & ~(<u64>1);
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
