// AES-GCM-SIV (RFC 8452): AEAD_AES_128_GCM_SIV (IANA id 30) and AEAD_AES_256_GCM_SIV (id 31).
// Output layout: C || tag (16 bytes). Nonce: exactly 12 bytes. One associated-data string.
//
// Constant time: AES is bitsliced (aes.ts), POLYVAL uses masked integer multiplies (polyval.ts),
// the tag check folds all byte differences before the single branch on the result.
// Context layout: the AES schedule of the key-generating key (GCMSIV_CTX_BYTES).
import { AES_SCHED_BYTES, aesEncrypt4, aesExpandKey, aesWipeScratch } from "./aes";
import { ctrXor } from "./ctr";
import { polyvalUpdatePadded, polyvalMulAcc } from "./polyval";
import { tagsEqual, wipe, copy16, zero16, copyShort } from "./ct";

export const GCMSIV_CTX_BYTES: i32 = AES_SCHED_BYTES;

// Per-message keys (RFC 8452 §4) live in scratch memory only for the duration of one call.
const ENC_SCHED: usize = memory.data(AES_SCHED_BYTES, 16);
const AUTH_KEY: usize = memory.data(16, 16);
const ENC_KEY: usize = memory.data(32, 16);
const DERIVE: usize = memory.data(96, 16);
const S: usize = memory.data(16, 16);
const TAG: usize = memory.data(16, 16);
const COUNTER: usize = memory.data(16, 16);
const S_CHECK: usize = memory.data(16, 16);

/** Imports a 16- or 32-byte key-generating key. Returns 1, or 0 for another length. */
export function gcmsivInit(ctx: usize, key: usize, keyLen: i32): i32 {
  wipe(ctx, GCMSIV_CTX_BYTES);
  if (keyLen != 16 && keyLen != 32) return 0;
  return aesExpandKey(key, keyLen, ctx) != 0 ? 1 : 0;
}

/**
 * Derives the message-authentication key (2 blocks) and message-encryption key (2 or 4 blocks):
 * block i = AES_K(LE32(i) || nonce), keeping the first 8 bytes of each (RFC 8452 §4).
 */
function deriveKeys(ctx: usize, nonce: usize): void {
  const keyLen: i32 = load<u32>(ctx) == 14 ? 32 : 16;
  const blocks = keyLen == 32 ? 6 : 4;
  for (let i = 0; i < blocks; i++) {
    const b = DERIVE + (<usize>i << 4);
    store<u32>(b, <u32>i);
    copyShort(b + 4, nonce, 12);
  }
  aesEncrypt4(ctx, DERIVE, DERIVE, 4);
  if (blocks > 4) aesEncrypt4(ctx, DERIVE + 64, DERIVE + 64, blocks - 4);
  store<u64>(AUTH_KEY, load<u64>(DERIVE));
  store<u64>(AUTH_KEY, load<u64>(DERIVE + 16), 8);
  for (let i = 2; i < blocks; i++) store<u64>(ENC_KEY + (<usize>(i - 2) << 3), load<u64>(DERIVE + (<usize>i << 4)));
  aesExpandKey(ENC_KEY, keyLen, ENC_SCHED);
  wipe(DERIVE, 96);
  wipe(ENC_KEY, 32);
}

/** tag = AES_encKey( POLYVAL(authKey, pad(AD) || pad(P) || lengths) xor nonce, top bit cleared ). */
function computeTag(nonce: usize, ad: usize, adLen: i32, pt: usize, ptLen: i32, out: usize): void {
  zero16(S);
  polyvalUpdatePadded(S, AUTH_KEY, ad, adLen);
  polyvalUpdatePadded(S, AUTH_KEY, pt, ptLen);
  polyvalMulAcc(S, AUTH_KEY, <u64>adLen << 3, <u64>ptLen << 3);
  for (let i: usize = 0; i < 12; i++) store<u8>(S + i, load<u8>(S + i) ^ load<u8>(nonce + i));
  store<u8>(S + 15, load<u8>(S + 15) & 0x7f);
  aesEncrypt4(ENC_SCHED, S, out, 1);
  zero16(S);
}

function wipeMessageKeys(): void {
  wipe(ENC_SCHED, AES_SCHED_BYTES);
  zero16(AUTH_KEY);
  zero16(COUNTER);
  aesWipeScratch();
}

/** Reads the single AD component from the descriptor list (count 0 = empty AD). */
function adPtr(descs: usize, count: i32): usize { return count == 0 ? 0 : <usize>load<u32>(descs); }
function adLen(descs: usize, count: i32): i32 { return count == 0 ? 0 : <i32>load<u32>(descs, 4); }

/** Seals into `out` (C || tag, ptLen + 16 bytes); in place when out == pt. −1 on a bad nonce/AD count. */
export function gcmsivSeal(
  ctx: usize, nonce: usize, nonceLen: i32, descs: usize, count: i32, pt: usize, ptLen: i32, out: usize,
): i32 {
  if (nonceLen != 12 || count > 1) return -1;
  deriveKeys(ctx, nonce);
  computeTag(nonce, adPtr(descs, count), adLen(descs, count), pt, ptLen, TAG);
  copy16(COUNTER, TAG);
  store<u8>(COUNTER + 15, load<u8>(COUNTER + 15) | 0x80);
  ctrXor(ENC_SCHED, COUNTER, pt, out, ptLen, true);
  copy16(out + ptLen, TAG);
  zero16(TAG);
  wipeMessageKeys();
  return ptLen + 16;
}

/** Opens C || tag into `out`; −1 (and `out` zeroed) unless it authenticates. In place when out == ct. */
export function gcmsivOpen(
  ctx: usize, nonce: usize, nonceLen: i32, descs: usize, count: i32, ct: usize, ctLen: i32, out: usize,
): i32 {
  if (nonceLen != 12 || count > 1 || ctLen < 16) return -1;
  const ptLen = ctLen - 16;
  deriveKeys(ctx, nonce);
  copy16(TAG, ct + ptLen);
  copy16(COUNTER, TAG);
  store<u8>(COUNTER + 15, load<u8>(COUNTER + 15) | 0x80);
  ctrXor(ENC_SCHED, COUNTER, ct, out, ptLen, true);
  computeTag(nonce, adPtr(descs, count), adLen(descs, count), out, ptLen, S_CHECK);
  const ok = tagsEqual(TAG, S_CHECK);
  zero16(TAG); zero16(S_CHECK);
  wipeMessageKeys();
  if (!ok) { wipe(out, ptLen); return -1; }
  return ptLen;
}
