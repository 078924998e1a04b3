// AES-CMAC (RFC 4493, generalised to 192/256-bit keys as in NIST SP 800-38B) and the S2V
// construction of RFC 5297 §2.4 built on it.
//
// Constant time: the AES underneath is bitsliced (aes.ts); doubling in GF(2^128) selects the
// reduction constant with a mask, never a branch; all branches depend only on lengths.
//
// CMAC context layout (CMAC_CTX_BYTES):
//   +0            AES key schedule of the MAC key
//   +CMAC_K1/K2   subkeys K1 = dbl(L), K2 = dbl(K1), L = AES_K(0^128) (RFC 4493 §2.3)
//   +CMAC_D0      AES-CMAC_K(<zero>), the constant first value of S2V's D (RFC 5297 §2.4)
import { AES_SCHED_BYTES, aesEncrypt4, aesExpandKey } from "./aes";
import { wipe, copy16, zero16, copyShort } from "./ct";

export const CMAC_K1: i32 = AES_SCHED_BYTES;
export const CMAC_K2: i32 = CMAC_K1 + 16;
export const CMAC_D0: i32 = CMAC_K2 + 16;
export const CMAC_CTX_BYTES: i32 = CMAC_D0 + 16;

/** CBC-MAC chaining value and one message block. */
const CHAIN: usize = memory.data(16, 16);
const BLOCK: usize = memory.data(16, 16);
/** S2V's running value D and a zero / scratch block. */
const D: usize = memory.data(16, 16);
const TMP: usize = memory.data(16, 16);

/**
 * dbl(S) of RFC 5297 §2.3 / the subkey step of RFC 4493 §2.3: multiply by x in GF(2^128) with the
 * 128-bit string read big-endian; reduction by x^128 + x^7 + x^2 + x + 1 (0x87) is applied under
 * a mask built from the top bit, so there is no secret-dependent branch.
 */
export function dbl(src: usize, dst: usize): void {
  const hi = bswap<u64>(load<u64>(src)), lo = bswap<u64>(load<u64>(src, 8));
  const mask = 0 - (hi >> 63);
  store<u64>(dst, bswap<u64>((hi << 1) | (lo >> 63)));
  store<u64>(dst, bswap<u64>((lo << 1) ^ (mask & 0x87)), 8);
}

/** Prepares a CMAC context. Returns 0 for an unsupported key length (context wiped). */
export function cmacInit(ctx: usize, key: usize, keyLen: i32): i32 {
  wipe(ctx, CMAC_CTX_BYTES);
  if (aesExpandKey(key, keyLen, ctx) == 0) return 0;
  zero16(TMP);
  aesEncrypt4(ctx, TMP, TMP, 1); // L
  dbl(TMP, ctx + CMAC_K1);
  dbl(ctx + CMAC_K1, ctx + CMAC_K2);
  zero16(TMP);
  cmac(ctx, TMP, 16, ctx + CMAC_D0); // CMAC(<zero>)
  zero16(TMP);
  return 1;
}

/**
 * AES-CMAC of `len` bytes at `msg`, written to `out` (16 bytes), RFC 4493 §2.4. If `tail` is not 0,
 * the last 16 bytes of the message (len >= 16) are taken XORed with the 16 bytes at `tail` — S2V's
 * "xorend" — without modifying the input. With `chainIn` != 0, the first `startBlock` blocks were
 * already absorbed (by the lane engine) and `chainIn` holds the CBC chaining value after them.
 */
export function cmacXorEnd(
  ctx: usize, msg: usize, len: i32, tail: usize, out: usize, startBlock: i32 = 0, chainIn: usize = 0,
): void {
  const blocks = len == 0 ? 1 : (len + 15) >> 4;
  const tailStart = len - 16;
  if (chainIn != 0) copy16(CHAIN, chainIn);
  else zero16(CHAIN);
  for (let i = startBlock; i < blocks; i++) {
    const off = i << 4;
    const isLast = i == blocks - 1;
    const avail = len - off; // > 0 except for the empty message
    if (avail >= 16) {
      store<u64>(BLOCK, load<u64>(msg + off));
      store<u64>(BLOCK, load<u64>(msg + off, 8), 8);
    } else {
      // Partial (or empty) last block: pad with 10* (RFC 4493 §2.4 step 4).
      zero16(BLOCK);
      if (avail > 0) copyShort(BLOCK, msg + off, avail);
      store<u8>(BLOCK + avail, 0x80);
    }
    if (tail != 0 && off + 16 > tailStart) {
      // Bytes [tailStart, len) of the message are XORed with tail[0..16).
      const from = off > tailStart ? off : tailStart;
      const to = off + 16 < len ? off + 16 : len;
      for (let p = from; p < to; p++) {
        store<u8>(BLOCK + (p - off), load<u8>(BLOCK + (p - off)) ^ load<u8>(tail + (p - tailStart)));
      }
    }
    if (isLast) {
      const k = ctx + (avail >= 16 ? CMAC_K1 : CMAC_K2);
      store<u64>(BLOCK, load<u64>(BLOCK) ^ load<u64>(k));
      store<u64>(BLOCK, load<u64>(BLOCK, 8) ^ load<u64>(k, 8), 8);
    }
    store<u64>(CHAIN, load<u64>(CHAIN) ^ load<u64>(BLOCK));
    store<u64>(CHAIN, load<u64>(CHAIN, 8) ^ load<u64>(BLOCK, 8), 8);
    aesEncrypt4(ctx, CHAIN, CHAIN, 1);
  }
  copy16(out, CHAIN);
  zero16(CHAIN);
  zero16(BLOCK);
}

/** AES-CMAC of `len` bytes at `msg` into the 16 bytes at `out`. */
export function cmac(ctx: usize, msg: usize, len: i32, out: usize): void {
  cmacXorEnd(ctx, msg, len, 0, out);
}

// Lane engine: up to four independent CBC-MAC chains advance together, one block each per AES
// call, so the bitsliced AES (which always computes four blocks) does not idle three lanes; with
// the SIMD engine (one block at a time) it costs the same as running the chains one by one. Lane l
// absorbs LANE_COUNT[l] raw blocks from LANE_PTR[l], then, if LANE_HAS_LAST[l], the 16 bytes at
// LANE_LAST + 16·l (a CMAC last block, already padded and XORed with K1/K2). Chains start at zero.
const LANE_PTR: usize = memory.data(16, 16);
const LANE_COUNT: usize = memory.data(16, 16);
const LANE_HAS_LAST: usize = memory.data(16, 16);
const LANE_LAST: usize = memory.data(64, 16);
const LANE_CHAIN: usize = memory.data(64, 16);
const PREFIX_CHAIN: usize = memory.data(16, 16);
const LANE_IN: usize = memory.data(64, 16);

@inline function laneSteps(l: usize): i32 {
  return load<i32>(LANE_COUNT + (l << 2)) + load<i32>(LANE_HAS_LAST + (l << 2));
}

function runLanes(ks: usize, n: i32): void {
  let steps = 0;
  for (let l: usize = 0; l < <usize>n; l++) { const t = laneSteps(l); if (t > steps) steps = t; }
  wipe(LANE_CHAIN, 64);
  for (let s = 0; s < steps; s++) {
    // Lanes whose message is done keep their chain value; the AES call then only needs lanes up
    // to the highest one still running (all of this depends on lengths only, which are public).
    let width = 0;
    for (let l: usize = 0; l < <usize>n; l++) {
      if (s >= laneSteps(l)) continue;
      const count = load<i32>(LANE_COUNT + (l << 2));
      const src = s < count ? <usize>load<u32>(LANE_PTR + (l << 2)) + (<usize>s << 4) : LANE_LAST + (l << 4);
      const c = LANE_CHAIN + (l << 4), x = LANE_IN + (l << 4);
      store<u64>(x, load<u64>(c) ^ load<u64>(src));
      store<u64>(x, load<u64>(c, 8) ^ load<u64>(src, 8), 8);
      width = <i32>l + 1;
    }
    aesEncrypt4(ks, LANE_IN, LANE_IN, width);
    for (let l: usize = 0; l < <usize>width; l++) {
      if (s < laneSteps(l)) copy16(LANE_CHAIN + (l << 4), LANE_IN + (l << 4));
    }
  }
  wipe(LANE_IN, 64);
}

/** Sets lane `l` up for a complete CMAC of `len` bytes at `ptr` (RFC 4493 §2.4 steps 2–4). */
function laneFullCmac(ctx: usize, l: usize, ptr: usize, len: i32): void {
  const blocks = len == 0 ? 1 : (len + 15) >> 4;
  const lastLen = len - ((blocks - 1) << 4);
  const last = LANE_LAST + (l << 4);
  zero16(last);
  if (lastLen > 0) copyShort(last, ptr + (<usize>(blocks - 1) << 4), lastLen);
  if (lastLen < 16) store<u8>(last + lastLen, 0x80);
  const k = ctx + (lastLen == 16 ? CMAC_K1 : CMAC_K2);
  store<u64>(last, load<u64>(last) ^ load<u64>(k));
  store<u64>(last, load<u64>(last, 8) ^ load<u64>(k, 8), 8);
  store<u32>(LANE_PTR + (l << 2), <u32>ptr);
  store<i32>(LANE_COUNT + (l << 2), blocks - 1);
  store<i32>(LANE_HAS_LAST + (l << 2), 1);
}

/**
 * S2V (RFC 5297 §2.4) over the header components listed at `descs` (`count` pairs of u32 pointer,
 * u32 length), then, if `nonceLen >= 0`, the nonce as one more component (the nonce-based AEAD form
 * of RFC 5297 §3 that NTS uses, RFC 8915 §5.6), then the final component `last` (the plaintext).
 * Writes the 16-byte synthetic IV to `out`.
 *
 * The CMACs of the header components are independent, and so are the blocks of the final
 * component that lie before its last 16 bytes (only those are XORed with D), so all of them run in
 * parallel lanes; then D is folded in order, D = dbl(D) xor CMAC(S_i), and the final CMAC finishes.
 */
export function s2v(
  ctx: usize, descs: usize, count: i32, nonce: usize, nonceLen: i32, last: usize, lastLen: i32, out: usize,
): void {
  const components = count + (nonceLen >= 0 ? 1 : 0);
  const prefixBlocks = lastLen >= 16 ? (lastLen - 16) >> 4 : 0;
  const jobs = components + (prefixBlocks > 0 ? 1 : 0);
  copy16(D, ctx + CMAC_D0);
  for (let job = 0; job < jobs; job += 4) {
    const n = jobs - job < 4 ? jobs - job : 4;
    for (let l = 0; l < n; l++) {
      const j = job + l;
      if (j < count) {
        const d = descs + (<usize>j << 3);
        laneFullCmac(ctx, <usize>l, <usize>load<u32>(d), <i32>load<u32>(d, 4));
      } else if (j < components) {
        laneFullCmac(ctx, <usize>l, nonce, nonceLen);
      } else { // the final component's blocks before its xorend region: raw CBC, no last block
        store<u32>(LANE_PTR + (<usize>l << 2), <u32>last);
        store<i32>(LANE_COUNT + (<usize>l << 2), prefixBlocks);
        store<i32>(LANE_HAS_LAST + (<usize>l << 2), 0);
      }
    }
    runLanes(ctx, n);
    for (let l = 0; l < n; l++) {
      const chain = LANE_CHAIN + (<usize>l << 4);
      if (job + l < components) {
        dbl(D, D);
        store<u64>(D, load<u64>(D) ^ load<u64>(chain));
        store<u64>(D, load<u64>(D, 8) ^ load<u64>(chain, 8), 8);
      } else {
        copy16(PREFIX_CHAIN, chain);
      }
    }
  }
  if (lastLen >= 16) {
    // T = Sn xorend D, continuing after the prefix blocks already absorbed.
    cmacXorEnd(ctx, last, lastLen, D, out, prefixBlocks, prefixBlocks > 0 ? PREFIX_CHAIN : 0);
  } else {
    dbl(D, D); // T = dbl(D) xor pad(Sn)
    zero16(TMP);
    if (lastLen > 0) copyShort(TMP, last, lastLen);
    store<u8>(TMP + lastLen, 0x80);
    store<u64>(TMP, load<u64>(TMP) ^ load<u64>(D));
    store<u64>(TMP, load<u64>(TMP, 8) ^ load<u64>(D, 8), 8);
    cmac(ctx, TMP, 16, out);
  }
  zero16(D);
  zero16(TMP);
  wipe(LANE_LAST, 64);
  wipe(LANE_CHAIN, 64);
  zero16(PREFIX_CHAIN);
}
