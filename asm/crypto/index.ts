// WASM exports of the crypto kernels (prefixed aes_/aead_ to share asm/index.ts with other modules).
// Everything works on caller-provided linear memory: offsets and lengths in, lengths/status out.
// Offsets are trusted (they come from the façade or another kernel, never from the wire); message
// contents and lengths may be hostile and are handled without trapping.
//
// How each primitive stays constant time (no secret-dependent branch, no secret-dependent address):
//  - AES (bitslice.ts, aes.ts): bitsliced, four blocks as eight 64-bit planes; the S-box is a
//    boolean circuit (Boyar–Peralta), ShiftRows/MixColumns are fixed shifts and rotations, the key
//    schedule's SubWord goes through the same circuit. No tables anywhere.
//  - CMAC / S2V (cmac.ts): GF(2^128) doubling applies the 0x87 reduction under a mask; lane
//    scheduling depends only on message lengths, which are public.
//  - CTR (ctr.ts): counters derive from the synthetic IV / tag, which is public (sent on the wire).
//  - POLYVAL (polyval.ts): carry-less multiply from integer multiplies of operands masked to every
//    fourth bit (holes absorb the carries), Karatsuba, Montgomery-style reduction by shifts.
//  - Tag check (ct.ts): all 16 bytes are compared and folded before the single branch on the result;
//    on failure the decrypted output is zeroed before returning.
import { AES_SCHED_BYTES, aesEncryptBlocks, aesExpandKey, aesWipeScratch } from "./aes";
import { CMAC_CTX_BYTES, cmac, cmacInit } from "./cmac";
import { AEAD_CTX_BYTES, aeadImportKey, aeadKeyLength, aeadOpen, aeadSeal, aeadWipe } from "./aead";

/** The AES engine compiled in: 1 = vector-permute on WASM SIMD, 0 = bitsliced (no SIMD). */
export function aes_engine(): i32 { return ASC_FEATURE_SIMD ? 1 : 0; }
/** Bytes of an AES key schedule (for aes_expand_key). */
export function aes_sched_bytes(): i32 { return AES_SCHED_BYTES; }
/** Expands a 16/24/32-byte key; returns the round count, or 0 for a bad length. */
export function aes_expand_key(key: usize, keyLen: i32, sched: usize): i32 { return aesExpandKey(key, keyLen, sched); }
/** AES-ECB encryption of `blocks` 16-byte blocks (src may equal dst). */
export function aes_encrypt_blocks(sched: usize, src: usize, dst: usize, blocks: i32): void {
  if (blocks > 0) aesEncryptBlocks(sched, src, dst, blocks);
  aesWipeScratch();
}

/** Bytes of a CMAC context. */
export function aes_cmac_ctx_bytes(): i32 { return CMAC_CTX_BYTES; }
/** Prepares a CMAC context from a 16/24/32-byte key; 1 = ok, 0 = bad length. */
export function aes_cmac_init(ctx: usize, key: usize, keyLen: i32): i32 { return cmacInit(ctx, key, keyLen); }
/** AES-CMAC (RFC 4493) of `len` bytes into 16 bytes at `out`. */
export function aes_cmac(ctx: usize, msg: usize, len: i32, out: usize): void {
  if (len >= 0) cmac(ctx, msg, len, out);
  aesWipeScratch();
}

/** Bytes of an AEAD context. */
export function aead_ctx_bytes(): i32 { return AEAD_CTX_BYTES; }
/** Key length for an IANA AEAD id (15, 16, 17, 30, 31), 0 if unsupported. */
export function aead_key_length(alg: i32): i32 { return aeadKeyLength(alg); }
export function aead_import_key(alg: i32, key: usize, keyLen: i32, ctx: usize): i32 {
  return aeadImportKey(alg, key, keyLen, ctx);
}
export function aead_wipe(ctx: usize): void { aeadWipe(ctx); }
export function aead_seal(
  ctx: usize, nonce: usize, nonceLen: i32, descs: usize, count: i32, pt: usize, ptLen: i32, out: usize,
): i32 {
  return aeadSeal(ctx, nonce, nonceLen, descs, count, pt, ptLen, out);
}
export function aead_open(
  ctx: usize, nonce: usize, nonceLen: i32, descs: usize, count: i32, ct: usize, ctLen: i32, out: usize,
): i32 {
  return aeadOpen(ctx, nonce, nonceLen, descs, count, ct, ctLen, out);
}
