// SIV authenticated encryption with AES-CMAC (RFC 5297 §2.6/§2.7): AEAD_AES_SIV_CMAC_256/384/512
// (IANA AEAD ids 15/16/17) and the deterministic form with header components only.
//
// Output layout (RFC 5297 §3, as NTS puts it on the wire, RFC 8915 §5.6): V (16 bytes) || C.
// Key: the first half is the S2V/CMAC key K1, the second half the CTR key K2 (§2.2).
// SIV context layout (SIV_CTX_BYTES): CMAC context of K1, then the AES schedule of K2.
import { AES_SCHED_BYTES, aesExpandKey, aesWipeScratch } from "./aes";
import { CMAC_CTX_BYTES, cmacInit, s2v } from "./cmac";
import { ctrXor } from "./ctr";
import { tagsEqual, wipe, copy16, zero16 } from "./ct";

export const SIV_CTR_SCHED: i32 = CMAC_CTX_BYTES;
export const SIV_CTX_BYTES: i32 = SIV_CTR_SCHED + AES_SCHED_BYTES;

const V: usize = memory.data(16, 16);
const Q: usize = memory.data(16, 16);
const CHECK: usize = memory.data(16, 16);

/** Imports a 32-, 48- or 64-byte SIV key. Returns 1, or 0 for another length (context wiped). */
export function sivInit(ctx: usize, key: usize, keyLen: i32): i32 {
  wipe(ctx, SIV_CTX_BYTES);
  if (keyLen != 32 && keyLen != 48 && keyLen != 64) return 0;
  const half = keyLen >> 1;
  cmacInit(ctx, key, half);
  aesExpandKey(key + half, half, ctx + SIV_CTR_SCHED);
  return 1;
}

/** Q = V with bits 63 and 31 (counting from the right) cleared, RFC 5297 §2.5. */
function counterFromV(v: usize): void {
  copy16(Q, v);
  store<u8>(Q + 8, load<u8>(Q + 8) & 0x7f);
  store<u8>(Q + 12, load<u8>(Q + 12) & 0x7f);
}

/**
 * Seals `ptLen` bytes at `pt` into `out` (ptLen + 16 bytes: V || C). Header components are described
 * at `descs` (count × (u32 ptr, u32 len)); `nonceLen` < 0 means no nonce component. In place when
 * pt == out + 16. Returns the output length.
 */
export function sivSeal(
  ctx: usize, nonce: usize, nonceLen: i32, descs: usize, count: i32, pt: usize, ptLen: i32, out: usize,
): i32 {
  s2v(ctx, descs, count, nonce, nonceLen, pt, ptLen, V);
  counterFromV(V);
  ctrXor(ctx + SIV_CTR_SCHED, Q, pt, out + 16, ptLen, false);
  copy16(out, V);
  zero16(V); zero16(Q);
  aesWipeScratch();
  return ptLen + 16;
}

/**
 * Opens V || C (`ctLen` bytes at `ct`) into `out` (ctLen − 16 bytes). Returns the plaintext length,
 * or −1 if the input is shorter than a tag or does not authenticate (then `out` is zeroed, so no
 * unauthenticated plaintext escapes). In place when out == ct + 16.
 */
export function sivOpen(
  ctx: usize, nonce: usize, nonceLen: i32, descs: usize, count: i32, ct: usize, ctLen: i32, out: usize,
): i32 {
  if (ctLen < 16) return -1;
  const ptLen = ctLen - 16;
  copy16(V, ct);
  counterFromV(V);
  ctrXor(ctx + SIV_CTR_SCHED, Q, ct + 16, out, ptLen, false);
  s2v(ctx, descs, count, nonce, nonceLen, out, ptLen, CHECK);
  const ok = tagsEqual(V, CHECK);
  zero16(V); zero16(Q); zero16(CHECK);
  aesWipeScratch();
  if (!ok) { wipe(out, ptLen); return -1; }
  return ptLen;
}
