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
import { wipe } from "./ct";

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
  wipe(TMP, 16);
  aesEncrypt4(ctx, TMP, TMP, 1); // L
  dbl(TMP, ctx + CMAC_K1);
  dbl(ctx + CMAC_K1, ctx + CMAC_K2);
  wipe(TMP, 16);
  cmac(ctx, TMP, 16, ctx + CMAC_D0); // CMAC(<zero>)
  wipe(TMP, 16);
  return 1;
}

/**
 * AES-CMAC of `len` bytes at `msg`, written to `out` (16 bytes), RFC 4493 §2.4. If `tail` is not 0,
 * the last 16 bytes of the message (len >= 16) are taken XORed with the 16 bytes at `tail` — S2V's
 * "xorend" — without modifying the input.
 */
export function cmacXorEnd(ctx: usize, msg: usize, len: i32, tail: usize, out: usize): void {
  const blocks = len == 0 ? 1 : (len + 15) >> 4;
  const tailStart = len - 16;
  wipe(CHAIN, 16);
  for (let i = 0; i < blocks; i++) {
    const off = i << 4;
    const isLast = i == blocks - 1;
    const avail = len - off; // > 0 except for the empty message
    if (avail >= 16) {
      store<u64>(BLOCK, load<u64>(msg + off));
      store<u64>(BLOCK, load<u64>(msg + off, 8), 8);
    } else {
      // Partial (or empty) last block: pad with 10* (RFC 4493 §2.4 step 4).
      wipe(BLOCK, 16);
      if (avail > 0) memory.copy(BLOCK, msg + off, <usize>avail);
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
  memory.copy(out, CHAIN, 16);
  wipe(CHAIN, 16);
  wipe(BLOCK, 16);
}

/** AES-CMAC of `len` bytes at `msg` into the 16 bytes at `out`. */
export function cmac(ctx: usize, msg: usize, len: i32, out: usize): void {
  cmacXorEnd(ctx, msg, len, 0, out);
}

/** D = dbl(D) xor CMAC(component). */
function s2vAbsorb(ctx: usize, ptr: usize, len: i32): void {
  dbl(D, D);
  cmac(ctx, ptr, len, TMP);
  store<u64>(D, load<u64>(D) ^ load<u64>(TMP));
  store<u64>(D, load<u64>(D, 8) ^ load<u64>(TMP, 8), 8);
}

/**
 * S2V (RFC 5297 §2.4) over the header components listed at `descs` (`count` pairs of u32 pointer,
 * u32 length), then, if `nonceLen >= 0`, the nonce as one more component (the nonce-based AEAD form
 * of RFC 5297 §3 that NTS uses, RFC 8915 §5.6), then the final component `last` (the plaintext).
 * Writes the 16-byte synthetic IV to `out`.
 */
export function s2v(
  ctx: usize, descs: usize, count: i32, nonce: usize, nonceLen: i32, last: usize, lastLen: i32, out: usize,
): void {
  memory.copy(D, ctx + CMAC_D0, 16);
  for (let i = 0; i < count; i++) {
    const d = descs + (<usize>i << 3);
    s2vAbsorb(ctx, <usize>load<u32>(d), <i32>load<u32>(d, 4));
  }
  if (nonceLen >= 0) s2vAbsorb(ctx, nonce, nonceLen);
  if (lastLen >= 16) {
    cmacXorEnd(ctx, last, lastLen, D, out); // T = Sn xorend D
  } else {
    dbl(D, D); // T = dbl(D) xor pad(Sn)
    wipe(TMP, 16);
    if (lastLen > 0) memory.copy(TMP, last, <usize>lastLen);
    store<u8>(TMP + lastLen, 0x80);
    store<u64>(TMP, load<u64>(TMP) ^ load<u64>(D));
    store<u64>(TMP, load<u64>(TMP, 8) ^ load<u64>(D, 8), 8);
    cmac(ctx, TMP, 16, out);
  }
  wipe(D, 16);
  wipe(TMP, 16);
}
