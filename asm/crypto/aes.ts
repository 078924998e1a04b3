// AES-128/192/256 encryption (FIPS 197), constant time, up to four blocks per call.
// Only the forward cipher exists: CMAC, SIV's CTR mode and AES-GCM-SIV never decrypt a block.
//
// Two engines, chosen at compile time by measurement (bench/aead.ts): with WASM SIMD enabled
// (ASC_FEATURE_SIMD), the vector-permute AES of vperm.ts, about 3x faster per single block, which
// is what CMAC chains need; without SIMD, the bitsliced AES below (bitslice.ts). Both are constant
// time; the functions in this file are the only entry points, so the rest of the code is the same.
//
// Bitsliced key schedule layout at `ks` (AES_SCHED_BYTES): u32 round count at +0, then (rounds + 1)
// round keys from +16, each as 8 planes (64 bytes) with the 16 key bytes repeated in all four lanes.
// (The SIMD engine's layout is in vperm.ts; it fits in the same AES_SCHED_BYTES.)
// The expansion is constant time too: SubWord runs through the bitsliced S-box circuit, and the
// only branches depend on the word index and the key length, which are public.
import { ortho, sbox, loadLane, storeLane, bitslicedRounds } from "./bitslice";
import { wipe } from "./ct";
import { vpermEncrypt, vpermExpandKey } from "./vperm";

export const AES_SCHED_BYTES: i32 = 16 + 15 * 64;
const PLANES: usize = 16;

/** Bitsliced state (8 planes) used by the block functions; wiped by `aesWipeScratch`. */
const STATE: usize = memory.data(64, 16);
/** Expanded key words (at most 60) while a key schedule is built; wiped before returning. */
const WORDS: usize = memory.data(240, 16);

/** SubWord of FIPS 197 §5.2 through the bitsliced S-box: byte m of `w` lands in plane b at bit 8m. */
function subWord(w: u32): u32 {
  store<u64>(STATE, <u64>w);
  for (let b: usize = 8; b < 64; b += 8) store<u64>(STATE + b, 0);
  ortho(STATE);
  sbox(STATE);
  ortho(STATE);
  return <u32>load<u64>(STATE);
}

/**
 * Expands a 16-, 24- or 32-byte key into the schedule at `ks`. Returns the round count
 * (10, 12, 14), or 0 for any other key length (and then leaves `ks` wiped).
 */
export function aesExpandKey(key: usize, keyLen: i32, ks: usize): i32 {
  wipe(ks, AES_SCHED_BYTES);
  if (ASC_FEATURE_SIMD) return vpermExpandKey(key, keyLen, ks);
  let rounds = 0;
  if (keyLen == 16) rounds = 10;
  else if (keyLen == 24) rounds = 12;
  else if (keyLen == 32) rounds = 14;
  else return 0;
  const nk = keyLen >> 2;
  const total = (rounds + 1) << 2;
  let tmp: u32 = 0;
  for (let i = 0; i < nk; i++) {
    tmp = load<u32>(key + (<usize>i << 2));
    store<u32>(WORDS + (<usize>i << 2), tmp);
  }
  // Words are little-endian, so RotWord is a right rotation by 8 and Rcon lands in the low byte.
  let rcon: u32 = 1;
  for (let i = nk, j = 0; i < total; i++) {
    if (j == 0) {
      tmp = subWord(rotr<u32>(tmp, 8)) ^ rcon;
      rcon = (rcon << 1) ^ (0x11b & (0 - (rcon >> 7))); // xtime on a public constant
    } else if (nk > 6 && j == 4) {
      tmp = subWord(tmp);
    }
    tmp ^= load<u32>(WORDS + (<usize>(i - nk) << 2));
    store<u32>(WORDS + (<usize>i << 2), tmp);
    if (++j == nk) j = 0;
  }
  store<u32>(ks, rounds);
  // Bitslice four round keys at a time (one per lane), then copy each lane into all four lanes:
  // lane l of plane b is the bits at positions ≡ l (mod 4); spread each to its nibble.
  for (let r = 0; r <= rounds; r += 4) {
    for (let l = 0; l < 4; l++) {
      if (r + l <= rounds) loadLane(STATE, l, WORDS + (<usize>(r + l) << 4));
      else { store<u64>(STATE + (<usize>l << 3), 0); store<u64>(STATE + (<usize>(l + 4) << 3), 0); }
    }
    ortho(STATE);
    for (let l = 0; l < 4 && r + l <= rounds; l++) {
      const dst = ks + PLANES + (<usize>(r + l) << 6);
      for (let b: usize = 0; b < 64; b += 8) {
        const x = (load<u64>(STATE + b) >> <u64>l) & 0x1111111111111111;
        store<u64>(dst + b, x | (x << 1) | (x << 2) | (x << 3));
      }
    }
  }
  wipe(WORDS, 240);
  wipe(STATE, 64);
  return rounds;
}

/** Encrypts the four lanes already in bitsliced form at `st` (the cipher of FIPS 197 §5.1). */
export function aesEncryptState(ks: usize, st: usize): void {
  bitslicedRounds(st, ks, false);
}

/**
 * Encrypts up to four 16-byte blocks: block l from src + 16*l to dst + 16*l, for l < n (1..4).
 * src and dst may be equal. Unused lanes are filled with zeros and their output discarded.
 */
export function aesEncrypt4(ks: usize, src: usize, dst: usize, n: i32): void {
  if (ASC_FEATURE_SIMD) { vpermEncrypt(ks, src, dst, n); return; }
  for (let l = 0; l < 4; l++) {
    if (l < n) loadLane(STATE, l, src + (<usize>l << 4));
    else { store<u64>(STATE + (<usize>l << 3), 0); store<u64>(STATE + (<usize>(l + 4) << 3), 0); }
  }
  ortho(STATE);
  aesEncryptState(ks, STATE);
  ortho(STATE);
  for (let l = 0; l < n; l++) storeLane(STATE, l, dst + (<usize>l << 4));
}

/** ECB over `blocks` blocks (used by tests and the raw-throughput bench; modes build on aesEncrypt4). */
export function aesEncryptBlocks(ks: usize, src: usize, dst: usize, blocks: i32): void {
  for (let i = 0; i < blocks; i += 4) {
    const n = blocks - i < 4 ? blocks - i : 4;
    aesEncrypt4(ks, src + (<usize>i << 4), dst + (<usize>i << 4), n);
  }
}

/** Clears the bitsliced state, which held key stream or MAC chaining values. */
export function aesWipeScratch(): void {
  wipe(STATE, 64);
}
