// Per-client rate limiting: a token bucket per client address key (IPv4 /32, IPv6 /64) in a
// fixed-size table that never grows.
//
// Token bucket as GCRA (the "generic cell rate algorithm", ITU-T I.371): instead of a token count
// and a last-update time, each client keeps one number, its theoretical arrival time TAT, in NTP
// 32.32 units. With T = interval (mean time between allowed requests) and τ = (burst − 1)·T:
//   a request at time t conforms  ⇔  TAT − t ≤ τ;   if it conforms, TAT ← max(TAT, t) + T.
// This is exactly a bucket of `burst` tokens refilled at one per T: TAT − t is how far the client
// is "in debt"; a new (or long idle) client can send `burst` requests at once, then one per T.
// Non-conforming requests do not move TAT, so a flooding client is not punished beyond the limit
// (it gets answers again at the configured rate). TAT − t > τ + T cannot happen by the rule above;
// when seen (the clock was stepped back) the entry is reset instead of limiting the client for as
// long as the step.
//
// Over-limit requests are dropped, except that one in N of them (the first, then every N-th while
// the client stays over the limit; N = `kodOneIn`, 0 = never) is answered with a KoD RATE so a
// well-behaved client learns to slow down, while the volume sent towards a spoofed victim stays a
// fraction of the request volume (chrony's `leak` lets a random 1 in 2^L over-limit requests through
// as normal responses; here that share gets a KoD RATE instead, which tells a real client to back
// off). The count restarts when the client conforms again. Deterministic, so tests can check it.
//
// Table: B buckets of 8 entries of 24 bytes (192 bytes per bucket, one contiguous region set at
// creation). The bucket of a key is chosen by SipHash-2-4 under a secret random key, so spoofed
// addresses cannot be aimed at one bucket. Lookup compares the ≤ 8 keys of one bucket: O(1), no
// probing beyond it. A new client takes a free entry, else replaces the entry whose TAT is the
// oldest (the client whose demand is the least recent): under a flood of distinct (spoofed)
// addresses larger than the table, the table behaves as an LRU cache and active repeat clients —
// the ones a limit is for — stay in it longest. Memory: 1 MiB holds 5 461 buckets = 43 688 clients.
//
// Entry: u64 key @0 · u64 TAT @8 · u32 drops since last conforming request @16 · u32 family @20
// (0 = free entry, 4 or 6).

export const RATE_ENTRY_BYTES: u32 = 24;
export const RATE_BUCKET_ENTRIES: u32 = 8;
export const RATE_BUCKET_BYTES: u32 = RATE_ENTRY_BYTES * RATE_BUCKET_ENTRIES;

export const RATE_PASS: u32 = 0;
export const RATE_DROP: u32 = 1;
export const RATE_KOD: u32 = 2;

/** Bucket index in [0, buckets) from 32 hash bits, without a division (Lemire's multiply-shift). */
// @ts-ignore: decorator
@inline export function bucketOf(hash32: u32, buckets: u32): u32 {
  return <u32>((<u64>hash32 * <u64>buckets) >>> 32);
}

/**
 * Looks up (or inserts) the client (family, key) whose keyed hash is `hash`, applies the GCRA rule
 * at time `now` and returns RATE_PASS, RATE_DROP or RATE_KOD. `interval` and `tolerance` are T and
 * τ in 32.32 units; one in `kodOneIn` over-limit requests gets a KoD (0: none). Sets *evicted (u32 at `evictedOut`) to 1 when an
 * active entry had to be replaced, 2 when a free entry was used, else 0.
 */
export function rateCheck(
  table: usize, buckets: u32, hash: u64, family: u32, key: u64,
  now: u64, interval: u64, tolerance: u64, kodOneIn: u32, evictedOut: usize,
): u32 {
  const bucket = table + <usize>bucketOf(<u32>hash, buckets) * RATE_BUCKET_BYTES;
  let victim: usize = 0;
  let victimAhead: i64 = i64.MAX_VALUE;
  let free: usize = 0;
  for (let i: u32 = 0; i < RATE_BUCKET_ENTRIES; i++) {
    const entry = bucket + <usize>i * RATE_ENTRY_BYTES;
    const entryFamily = load<u32>(entry, 20);
    if (entryFamily == 0) {
      if (free == 0) free = entry;
      continue;
    }
    if (entryFamily == family && load<u64>(entry) == key) {
      store<u32>(evictedOut, 0);
      return conform(entry, now, interval, tolerance, kodOneIn);
    }
    const ahead = <i64>(load<u64>(entry, 8) - now);
    if (ahead < victimAhead) {
      victimAhead = ahead;
      victim = entry;
    }
  }
  const entry = free != 0 ? free : victim;
  store<u32>(evictedOut, free != 0 ? 2 : 1);
  store<u64>(entry, key);
  store<u64>(entry, now + interval, 8); // this request takes the first of `burst` tokens
  store<u32>(entry, 0, 16);
  store<u32>(entry, family, 20);
  return RATE_PASS;
}

function conform(entry: usize, now: u64, interval: u64, tolerance: u64, kodOneIn: u32): u32 {
  let tat = load<u64>(entry, 8);
  let ahead = <i64>(tat - now);
  if (ahead > <i64>(tolerance + interval)) {
    // Impossible under the rule: the clock went back (or the entry is stale across a wrap). Reset.
    tat = now;
    ahead = 0;
  }
  if (ahead <= <i64>tolerance) {
    store<u64>(entry, (ahead < 0 ? now : tat) + interval, 8);
    store<u32>(entry, 0, 16);
    return RATE_PASS;
  }
  const drops = load<u32>(entry, 16);
  store<u32>(entry, drops + 1, 16); // wraps after 2^32 drops; harmless (the KoD pattern restarts)
  return kodOneIn != 0 && drops % kodOneIn == 0 ? RATE_KOD : RATE_DROP;
}
