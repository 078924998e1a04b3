// AEAD dispatch over IANA AEAD algorithm ids (RFC 5116 registry), and the flat-memory ABI that the
// TypeScript façade (ts/core/aead.ts) and other WASM modules (the NTS server path) call.
//
// A keyed context (AEAD_CTX_BYTES, caller-provided memory) holds the algorithm id and the expanded
// key; seal/open take only offsets and lengths and allocate nothing. Associated data is a list of
// components described at `descs` as `count` pairs (u32 pointer, u32 length): SIV takes up to 126
// (RFC 5297 limits S2V to 127 components including the plaintext; the nonce counts as one), GCM-SIV
// takes 0 or 1. All functions return −1/0 on bad arguments instead of trapping.
import { SIV_CTX_BYTES, sivInit, sivOpen, sivSeal } from "./siv";
import { GCMSIV_CTX_BYTES, gcmsivInit, gcmsivOpen, gcmsivSeal } from "./gcmsiv";
import { wipe } from "./ct";

export const AEAD_AES_SIV_CMAC_256: i32 = 15;
export const AEAD_AES_SIV_CMAC_384: i32 = 16;
export const AEAD_AES_SIV_CMAC_512: i32 = 17;
export const AEAD_AES_128_GCM_SIV: i32 = 30;
export const AEAD_AES_256_GCM_SIV: i32 = 31;

const HEADER: usize = 16; // u32 algorithm id, then padding to keep the schedules 16-byte aligned
export const AEAD_CTX_BYTES: i32 = <i32>HEADER + (SIV_CTX_BYTES > GCMSIV_CTX_BYTES ? SIV_CTX_BYTES : GCMSIV_CTX_BYTES);
const MAX_SIV_COMPONENTS: i32 = 126;

/** Key length in bytes of an algorithm, or 0 if it is not supported. */
export function aeadKeyLength(alg: i32): i32 {
  if (alg == AEAD_AES_SIV_CMAC_256) return 32;
  if (alg == AEAD_AES_SIV_CMAC_384) return 48;
  if (alg == AEAD_AES_SIV_CMAC_512) return 64;
  if (alg == AEAD_AES_128_GCM_SIV) return 16;
  if (alg == AEAD_AES_256_GCM_SIV) return 32;
  return 0;
}

function isSiv(alg: i32): bool { return alg >= AEAD_AES_SIV_CMAC_256 && alg <= AEAD_AES_SIV_CMAC_512; }

/** Expands `key` into the context at `ctx` (replacing and wiping any previous key). 1 = ok, 0 = bad alg/length. */
export function aeadImportKey(alg: i32, key: usize, keyLen: i32, ctx: usize): i32 {
  wipe(ctx, AEAD_CTX_BYTES);
  const want = aeadKeyLength(alg);
  if (want == 0 || keyLen != want) return 0;
  const ok = isSiv(alg) ? sivInit(ctx + HEADER, key, keyLen) : gcmsivInit(ctx + HEADER, key, keyLen);
  if (ok == 0) { wipe(ctx, AEAD_CTX_BYTES); return 0; }
  store<u32>(ctx, <u32>alg);
  return 1;
}

/** Zeroes a context (the key schedule and subkeys). */
export function aeadWipe(ctx: usize): void {
  wipe(ctx, AEAD_CTX_BYTES);
}

/**
 * Seals `ptLen` bytes at `pt` and writes the AEAD output (SIV: V || C; GCM-SIV: C || tag;
 * ptLen + 16 bytes) at `out`. `nonceLen` < 0 = no nonce (deterministic SIV only). In place when
 * pt == out + 16 (SIV) or pt == out (GCM-SIV). Returns the output length, or −1.
 */
export function aeadSeal(
  ctx: usize, nonce: usize, nonceLen: i32, descs: usize, count: i32, pt: usize, ptLen: i32, out: usize,
): i32 {
  const alg = <i32>load<u32>(ctx);
  if (ptLen < 0 || count < 0) return -1;
  if (isSiv(alg)) {
    if (count > MAX_SIV_COMPONENTS) return -1;
    return sivSeal(ctx + HEADER, nonce, nonceLen, descs, count, pt, ptLen, out);
  }
  if (alg == AEAD_AES_128_GCM_SIV || alg == AEAD_AES_256_GCM_SIV) {
    return gcmsivSeal(ctx + HEADER, nonce, nonceLen, descs, count, pt, ptLen, out);
  }
  return -1;
}

/**
 * Opens `ctLen` bytes of AEAD output at `ct` into `out` (ctLen − 16 bytes). Returns the plaintext
 * length, or −1 if it does not authenticate (out zeroed) or the arguments are invalid.
 * In place when out == ct + 16 (SIV) or out == ct (GCM-SIV).
 */
export function aeadOpen(
  ctx: usize, nonce: usize, nonceLen: i32, descs: usize, count: i32, ct: usize, ctLen: i32, out: usize,
): i32 {
  const alg = <i32>load<u32>(ctx);
  if (ctLen < 16 || count < 0) return -1;
  if (isSiv(alg)) {
    if (count > MAX_SIV_COMPONENTS) return -1;
    return sivOpen(ctx + HEADER, nonce, nonceLen, descs, count, ct, ctLen, out);
  }
  if (alg == AEAD_AES_128_GCM_SIV || alg == AEAD_AES_256_GCM_SIV) {
    return gcmsivOpen(ctx + HEADER, nonce, nonceLen, descs, count, ct, ctLen, out);
  }
  return -1;
}
