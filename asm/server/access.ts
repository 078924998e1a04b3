// Access lists (allow/deny by subnet), looked up per request.
//
// Representation: the TypeScript side (ts/protocol/server-policy.ts) turns each CIDR list into
// sorted, disjoint, non-adjacent inclusive address ranges — one array for IPv4 (u32 pairs) and one
// for IPv6 (pairs of 128-bit values held as hi/lo u64) — so the kernel only has to answer "is this
// address inside one of n ranges", by binary search.
//
// Complexity: O(log2 n) comparisons per lookup (n = ranges in that family's list; a list of 10 000
// subnets costs 14 comparisons), no allocation, and memory 8 bytes (IPv4) or 32 bytes (IPv6) per
// range. Merging overlapping and adjacent prefixes at configuration time means n is at most the
// number of configured subnets, usually fewer.

/** Is `addr` inside one of the `count` IPv4 ranges at `table` (each: u32 first, u32 last)? */
export function inV4Ranges(table: usize, count: u32, addr: u32): bool {
  // Find the last range whose first address is ≤ addr, then check its last address.
  let lo: u32 = 0;
  let hi: u32 = count; // search in [lo, hi)
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u32>(table + (<usize>mid << 3)) <= addr) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return false;
  return addr <= load<u32>(table + (<usize>(lo - 1) << 3), 4);
}

// @ts-ignore: decorator
@inline function lessOrEqual128(aHi: u64, aLo: u64, bHi: u64, bLo: u64): bool {
  return aHi < bHi || (aHi == bHi && aLo <= bLo);
}

/** Is the 128-bit address (hi, lo) inside one of the `count` IPv6 ranges at `table`
 *  (each: u64 first hi, first lo, last hi, last lo)? */
export function inV6Ranges(table: usize, count: u32, addrHi: u64, addrLo: u64): bool {
  let lo: u32 = 0;
  let hi: u32 = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const entry = table + (<usize>mid << 5);
    if (lessOrEqual128(load<u64>(entry), load<u64>(entry, 8), addrHi, addrLo)) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return false;
  const entry = table + (<usize>(lo - 1) << 5);
  return lessOrEqual128(addrHi, addrLo, load<u64>(entry, 16), load<u64>(entry, 24));
}
