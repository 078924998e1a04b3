// Saved (receive, transmit) timestamp pairs for the interleaved client/server mode (RFC 9769 §2).
//
// How a request is recognised (the RFC's two conditions, with chrony's optimisation):
//   1. its receive timestamp differs from its transmit timestamp, and
//   2. its origin timestamp equals the receive timestamp of one of our earlier responses to it.
// Every receive timestamp we send has its lowest bit set and every transmit timestamp its lowest
// bit clear (2^-32 s ≈ 0.23 ns, far below any clock's precision). So an origin with the low bit
// clear (a basic client echoing our transmit timestamp, or zero) cannot be one of our receive
// timestamps and needs no lookup, our transmit timestamp can never equal our receive timestamp
// (the RFC's MUST), and — as in chrony — pairs are only saved for requests whose origin has the
// bit set, i.e. clients that are already speaking the interleaved mode. A new xleave client is
// therefore answered in the interleaved mode from its third request on (chrony behaves the same).
//
// A pair is served once: a match removes it (RFC 9769 §2, "MUST NOT be used again"). Pairs are
// separated by client (the RFC's MAY): each carries 32 bits of the client's keyed address hash, so
// one client cannot obtain the transmit timestamp saved for another.
//
// Table: B buckets of 8 entries of 24 bytes, keyed by the receive timestamp (our own value, which a
// client cannot choose; mixed with a secret seed anyway). Insert takes a free entry or replaces the
// oldest pair in the bucket (the RFC's "fixed-length queue, dropping old timestamps"). Lookup and
// insert are O(1): one bucket of 8. 1 MiB holds 43 688 pairs.
//
// Entry: u64 rx @0 · u64 tx @8 · u32 client tag @16 · u32 state @20 (0 = free, 1 = saved).

import { bucketOf } from "./ratelimit";

export const XLEAVE_ENTRY_BYTES: u32 = 24;
export const XLEAVE_BUCKET_ENTRIES: u32 = 8;
export const XLEAVE_BUCKET_BYTES: u32 = XLEAVE_ENTRY_BYTES * XLEAVE_BUCKET_ENTRIES;

/** Largest plausible gap between the provisional transmit timestamp (the batch's "now", written in
 *  the response) and the real one reported after sending; later reports are refused (as chrony's
 *  MAX_TX_DELAY), so a confused I/O layer cannot plant an absurd timestamp. 1 s in 32.32. */
export const MAX_TX_DELAY: u64 = <u64>1 << 32;

/** murmur3's 64-bit finaliser: a fast bijective mixer, so nearby receive timestamps spread evenly. */
// @ts-ignore: decorator
@inline function mix64(x: u64): u64 {
  x ^= x >>> 33;
  x *= 0xff51afd7ed558ccd;
  x ^= x >>> 33;
  x *= 0xc4ceb9fe1a85ec53;
  x ^= x >>> 33;
  return x;
}

// @ts-ignore: decorator
@inline function bucketFor(table: usize, buckets: u32, seed: u64, rx: u64): usize {
  return table + <usize>bucketOf(<u32>mix64(rx ^ seed), buckets) * XLEAVE_BUCKET_BYTES;
}

function find(bucket: usize, rx: u64): usize {
  for (let i: u32 = 0; i < XLEAVE_BUCKET_ENTRIES; i++) {
    const entry = bucket + <usize>i * XLEAVE_ENTRY_BYTES;
    if (load<u32>(entry, 20) != 0 && load<u64>(entry) == rx) return entry;
  }
  return 0;
}

/** Is a pair with this receive timestamp saved? */
export function xleaveContains(table: usize, buckets: u32, seed: u64, rx: u64): bool {
  return find(bucketFor(table, buckets, seed, rx), rx) != 0;
}

/**
 * The transmit timestamp saved with receive timestamp `rx` for the client `tag`, removing the pair;
 * 0 when there is none (never saved, already served, evicted, or saved for another client).
 */
export function xleaveTake(table: usize, buckets: u32, seed: u64, rx: u64, tag: u32): u64 {
  const entry = find(bucketFor(table, buckets, seed, rx), rx);
  if (entry == 0 || load<u32>(entry, 16) != tag) return 0;
  store<u32>(entry, 0, 20);
  return load<u64>(entry, 8);
}

/** Saves a pair; returns true when an older saved pair had to be dropped to make room. */
export function xleaveSave(table: usize, buckets: u32, seed: u64, rx: u64, tx: u64, tag: u32, now: u64): bool {
  const bucket = bucketFor(table, buckets, seed, rx);
  let target: usize = 0;
  let oldestAge: i64 = i64.MIN_VALUE;
  for (let i: u32 = 0; i < XLEAVE_BUCKET_ENTRIES; i++) {
    const entry = bucket + <usize>i * XLEAVE_ENTRY_BYTES;
    if (load<u32>(entry, 20) == 0) {
      target = entry;
      oldestAge = i64.MAX_VALUE;
      break;
    }
    const age = <i64>(now - load<u64>(entry)); // era-safe: wrapping difference
    if (age > oldestAge) {
      oldestAge = age;
      target = entry;
    }
  }
  const evicted = oldestAge != i64.MAX_VALUE;
  store<u64>(target, rx);
  store<u64>(target, tx, 8);
  store<u32>(target, tag, 16);
  store<u32>(target, 1, 20);
  return evicted;
}

/**
 * Replaces the provisional transmit timestamp saved with `rx` by the one measured after sending.
 * Returns 1 when updated, −1 when refused (earlier than the provisional one or more than
 * MAX_TX_DELAY later), 0 when no such pair is saved (already served or evicted: nothing to do).
 */
export function xleaveUpdateTx(table: usize, buckets: u32, seed: u64, rx: u64, actualTx: u64): i32 {
  const entry = find(bucketFor(table, buckets, seed, rx), rx);
  if (entry == 0) return 0;
  const delay = <i64>(actualTx - load<u64>(entry, 8));
  if (delay < 0 || delay > <i64>MAX_TX_DELAY) return -1;
  store<u64>(entry, actualTx & ~(<u64>1), 8); // keep the "transmit timestamp" low bit clear
  return 1;
}
