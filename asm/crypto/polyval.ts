// POLYVAL (RFC 8452 §3): the universal hash of AES-GCM-SIV, in GF(2^128) defined by
// x^128 + x^127 + x^126 + x^121 + 1, with 16-byte blocks read as little-endian polynomials
// (byte 0 bit 0 = coefficient of x^0). dot(a, b) = a · b · x^-128.
//
// Constant time without a carry-less multiply instruction (the BearSSL ghash_ctmul64 idea, written
// afresh): an ordinary 64-bit integer multiply of operands masked to every fourth bit leaves 3-bit
// "holes" between data bits, so per-position sums (at most 15 terms below bit 60) never carry into
// the next data bit of the same residue class; keeping only that class gives the XOR sum. Integer
// multiply (i64.mul → imul / mul) has data-independent timing on the CPUs Node runs on. No tables,
// no branches on data.

import { copyShort, zero16 } from "./ct";

const M0: u64 = 0x1111111111111111;
const M1: u64 = 0x2222222222222222;
const M2: u64 = 0x4444444444444444;
const M3: u64 = 0x8888888888888888;

/** Low 64 bits of the carry-less product x · y. */
function clmulLow(x: u64, y: u64): u64 {
  const x0 = x & M0, x1 = x & M1, x2 = x & M2, x3 = x & M3;
  const y0 = y & M0, y1 = y & M1, y2 = y & M2, y3 = y & M3;
  const z0 = (x0 * y0) ^ (x1 * y3) ^ (x2 * y2) ^ (x3 * y1);
  const z1 = (x0 * y1) ^ (x1 * y0) ^ (x2 * y3) ^ (x3 * y2);
  const z2 = (x0 * y2) ^ (x1 * y1) ^ (x2 * y0) ^ (x3 * y3);
  const z3 = (x0 * y3) ^ (x1 * y2) ^ (x2 * y1) ^ (x3 * y0);
  return (z0 & M0) | (z1 & M1) | (z2 & M2) | (z3 & M3);
}

/** Bit reversal of a 64-bit word (swap network, no data-dependent steps). */
@inline function rev64(x: u64): u64 {
  x = ((x >> 1) & 0x5555555555555555) | ((x & 0x5555555555555555) << 1);
  x = ((x >> 2) & 0x3333333333333333) | ((x & 0x3333333333333333) << 2);
  x = ((x >> 4) & 0x0F0F0F0F0F0F0F0F) | ((x & 0x0F0F0F0F0F0F0F0F) << 4);
  return bswap<u64>(x);
}

/**
 * High 64 bits of the 127-bit carry-less product: reversing both operands reverses the product
 * (rev(x)·rev(y) = rev128(x·y) >> 1 in 128 bits), so its low half read backwards is our high half.
 */
@inline function clmulHigh(x: u64, y: u64): u64 {
  return rev64(clmulLow(rev64(x), rev64(y))) >> 1;
}

/**
 * acc = dot(acc xor block, h), all 16-byte little-endian values in memory; `block` may be 0 for a
 * zero block. Karatsuba: three 64×64 products; then Montgomery reduction by x^64 twice, using
 * P ≡ 1 (mod x^64): to clear the low limb m, add m·P = m + m·x^121 + m·x^126 + m·x^127 + m·x^128.
 */
export function polyvalMulAcc(acc: usize, h: usize, a0: u64, a1: u64): void {
  a0 ^= load<u64>(acc);
  a1 ^= load<u64>(acc, 8);
  const b0 = load<u64>(h), b1 = load<u64>(h, 8);
  const lo0 = clmulLow(a0, b0), lo1 = clmulHigh(a0, b0);
  const hi0 = clmulLow(a1, b1), hi1 = clmulHigh(a1, b1);
  const a2 = a0 ^ a1, b2 = b0 ^ b1;
  const md0 = clmulLow(a2, b2) ^ lo0 ^ hi0, md1 = clmulHigh(a2, b2) ^ lo1 ^ hi1;
  let c0 = lo0, c1 = lo1 ^ md0, c2 = hi0 ^ md1, c3 = hi1;
  // First reduction step: clear c0, divide by x^64.
  c1 ^= (c0 << 57) ^ (c0 << 62) ^ (c0 << 63);
  c2 ^= c0 ^ (c0 >> 7) ^ (c0 >> 2) ^ (c0 >> 1);
  // Second step: clear c1.
  c2 ^= (c1 << 57) ^ (c1 << 62) ^ (c1 << 63);
  c3 ^= c1 ^ (c1 >> 7) ^ (c1 >> 2) ^ (c1 >> 1);
  store<u64>(acc, c2);
  store<u64>(acc, c3, 8);
}

const PAD: usize = memory.data(16, 16);

/** Absorbs `len` bytes at `src` into the POLYVAL accumulator, zero-padding the last block. */
export function polyvalUpdatePadded(acc: usize, h: usize, src: usize, len: i32): void {
  let off = 0;
  for (; off + 16 <= len; off += 16) polyvalMulAcc(acc, h, load<u64>(src + off), load<u64>(src + off, 8));
  if (off < len) {
    zero16(PAD);
    copyShort(PAD, src + off, len - off);
    polyvalMulAcc(acc, h, load<u64>(PAD), load<u64>(PAD, 8));
    zero16(PAD);
  }
}
