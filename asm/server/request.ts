// The per-request policy chain of the server kernel (the decision order is documented with the
// batch ABI at the top of batch.ts) and the state it runs on.

import { HEADER_LENGTH, OFFSET_POLL, OFFSET_ORIGIN_TIME, OFFSET_RECEIVE_TIME, OFFSET_TRANSMIT_TIME,
  PARSE_OK, loadTimestamp, modeOf, validatePacket, versionOf } from "../packet";
import {
  REQ_LENGTH, REQ_FAMILY, REQ_ADDRESS, REQ_RX_TIME, REQ_PACKET,
  REP_LENGTH, REP_FLAGS, REP_RX_TIME, REP_PACKET, REP_FLAG_SAVED,
  COUNTER_RATE_CLIENTS_ADDED, COUNTER_RATE_CLIENTS_EVICTED, COUNTER_XLEAVE_SAVED, COUNTER_XLEAVE_EVICTED,
  OUTCOME_ANSWERED, OUTCOME_ANSWERED_INTERLEAVED, OUTCOME_KOD_RATE, OUTCOME_KOD_DENY, OUTCOME_DROP_TOO_SHORT,
  OUTCOME_DROP_OVERSIZE, OUTCOME_DROP_MODE, OUTCOME_DROP_VERSION, OUTCOME_DROP_MALFORMED, OUTCOME_DROP_DENIED,
  OUTCOME_DROP_RATE_LIMITED, OUTCOME_DROP_BAD_ADDRESS, ACTION_NONE, ACTION_DENY, ACTION_IGNORE,
} from "./layout";
import { inV4Ranges, inV6Ranges } from "./access";
import { siphash16 } from "./siphash";
import { RATE_DROP, RATE_KOD, RATE_PASS, rateCheck } from "./ratelimit";
import { xleaveContains, xleaveSave, xleaveTake } from "./interleave";
import { KISS_DENY, KISS_RATE, SystemState, writeKissOfDeath, writeTimeResponse } from "./response";
import { NtsState } from "./nts-state";
import { NTS_DROP, NTS_NOT, ntsKissEcho, ntsParse, ntsRespond } from "./nts-request";

const MODE_CLIENT: u32 = 3;
/** Receive timestamps closer than this (32.32 units, ≈ 1 µs) to the previous one and not after it
 *  are moved just after it, so no two responses carry the same receive timestamp (RFC 9769 §2:
 *  they must be unique) even when the I/O layer's clock is coarse. */
const RX_DEDUP_WINDOW: i64 = 4096;
/** Attempts to find a receive timestamp not already saved (only after a clock step back). */
const RX_UNIQUE_TRIES: u32 = 4;

/** One server's state. Allocated once per server_create; all its regions are fixed from then on. */
export class Kernel {
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

  // NTS (RFC 8915 §5): the attached NtsState (nts_attach in nts.ts), 0 = NTS off and the chain
  // below is exactly the plain one.
  nts: usize = 0;
}

// @ts-ignore: decorator
@inline export function bump(k: Kernel, counter: u32): void {
  const at = k.counters + (<usize>counter << 3);
  store<u64>(at, load<u64>(at) + 1);
}

/** Runs one request through the chain, writes its response slot (if any), returns its outcome. */
export function handleRequest(k: Kernel, request: usize, response: usize, now: u64): u32 {
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

  // NTS hook (nts-request.ts): classify after the rate limit, so NTS requests are limited too.
  let nts = NTS_NOT;
  if (k.nts != 0) {
    nts = ntsParse(changetype<NtsState>(k.nts), packet, length);
    if (nts == NTS_DROP) return OUTCOME_DROP_MALFORMED;
  }

  const poll = clampPoll(k, <i32>load<i8>(packet + OFFSET_POLL));
  const receive = uniqueReceiveTime(k, load<u64>(request + REQ_RX_TIME));
  const transmit = transmitTime(now, receive);
  store<u64>(response + REP_RX_TIME, receive);
  const out = response + REP_PACKET;

  if (limit == RATE_KOD || action == ACTION_DENY) {
    const code = limit == RATE_KOD ? KISS_RATE : KISS_DENY;
    let kissLength = writeKissOfDeath(out, packet, version, poll, k.system.precision, code, receive, transmit);
    if (nts != NTS_NOT) kissLength = ntsKissEcho(changetype<NtsState>(k.nts), packet, out, kissLength);
    store<u32>(response + REP_LENGTH, kissLength);
    return limit == RATE_KOD ? OUTCOME_KOD_RATE : OUTCOME_KOD_DENY;
  }

  // NTS requests are answered in the basic mode (a NAK counts as answered; the NTS counters say which).
  if (nts != NTS_NOT) {
    const ntsLength = ntsRespond(changetype<NtsState>(k.nts), nts, packet, length, out, version, poll, k.system, receive, transmit);
    store<u32>(response + REP_LENGTH, ntsLength);
    return ntsLength == 0 ? OUTCOME_DROP_MALFORMED : OUTCOME_ANSWERED;
  }

  // Interleaved mode (RFC 9769 §2; see interleave.ts for the low-bit convention).
  const origin = loadTimestamp(packet + OFFSET_ORIGIN_TIME);
  if (k.interleaved && version == 4 && (origin & 1) == 1 &&
      loadTimestamp(packet + OFFSET_RECEIVE_TIME) != loadTimestamp(packet + OFFSET_TRANSMIT_TIME)) {
    const tag = <u32>(hash >>> 32);
    const previousTransmit = xleaveTake(k.xleaveTable, k.xleaveBuckets, k.xleaveSeed, origin, tag);
    // The receive timestamp is the key of the pair saved now; after a clock step back it could
    // collide with one saved earlier, so look for a free one nearby (and do not save if none).
    let saved = receive;
    let unique = false;
    for (let tries: u32 = 0; tries < RX_UNIQUE_TRIES; tries++) {
      if (!xleaveContains(k.xleaveTable, k.xleaveBuckets, k.xleaveSeed, saved)) {
        unique = true;
        break;
      }
      saved += 2;
    }
    if (unique) {
      k.lastRx = saved;
      if (xleaveSave(k.xleaveTable, k.xleaveBuckets, k.xleaveSeed, saved, transmitTime(now, saved), tag, now)) {
        bump(k, COUNTER_XLEAVE_EVICTED);
      }
      bump(k, COUNTER_XLEAVE_SAVED);
      store<u16>(response + REP_FLAGS, <u16>REP_FLAG_SAVED);
      store<u64>(response + REP_RX_TIME, saved);
    } else {
      saved = receive;
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
