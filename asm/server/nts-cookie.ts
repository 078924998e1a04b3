// NTS cookies (RFC 8915 §6, the suggested construction), minted by the NTS-KE server and by the NTP
// server path alike, so there is exactly one definition of the format:
//
//   cookie = I ‖ N ‖ AEAD_K(N, AD = I, P)          P = u16 alg ‖ u16 0 ‖ C2S key ‖ S2C key
//
//   I  4-byte key id, big-endian: which master key K sealed it (looked up in the key table).
//   N  16 random bytes from the pool (NONCE_BYTES).
//   K  the master key, AEAD_AES_SIV_CMAC_256 (COOKIE_AEAD): SIV stays safe even if a nonce repeats.
//      Binding I as associated data means a cookie cannot be re-labelled with another key id.
//   P  the negotiated AEAD id, a reserved zero u16 (keeps every cookie a multiple of 4 bytes, so
//      cookie extension fields need no padding), then both keys (length fixed by the AEAD).
//
// Sizes: 4 + 16 + 16 (SIV tag) + 4 + 2·keylen: 104 bytes for AEAD 15, 136 for 16, 168 for 17,
// 72 for 30, 104 for 31.
import { aeadKeyLength, aeadOpen, aeadSeal } from "../crypto/aead";
import { wipe } from "../crypto/ct";
import { loadU16BE, storeU16BE, storeU32BE, loadU32BE } from "../packet";
import { NtsState, NONCE_BYTES, findKey, keyContext, keyId, takeRandom, KEYS_SCRATCH_BYTES } from "./nts-state";

const ID_BYTES: u32 = 4;
const TAG_BYTES: u32 = 16;
export const COOKIE_OVERHEAD: u32 = ID_BYTES + NONCE_BYTES + TAG_BYTES;

/** Cookie results (negative = why it failed). */
export const COOKIE_UNKNOWN_KEY: i32 = -1;
export const COOKIE_INVALID: i32 = -2;

/** Length of the cookie plaintext for AEAD `alg` (0 if unsupported). */
export function cookiePlaintextLength(alg: i32): u32 {
  const k = aeadKeyLength(alg);
  return k == 0 ? 0 : 4 + 2 * <u32>k;
}

/** Length of a cookie for AEAD `alg` (0 if unsupported). */
export function cookieLength(alg: i32): u32 {
  const p = cookiePlaintextLength(alg);
  return p == 0 ? 0 : COOKIE_OVERHEAD + p;
}

/** Writes the cookie plaintext for (alg, c2s, s2c) at s.keys; returns its length (0: bad alg). */
export function writeCookieKeys(s: NtsState, alg: i32, c2s: usize, s2c: usize): u32 {
  const k = aeadKeyLength(alg);
  if (k == 0) return 0;
  storeU16BE(s.keys, <u32>alg);
  storeU16BE(s.keys + 2, 0);
  memory.copy(s.keys + 4, c2s, <usize>k);
  memory.copy(s.keys + 4 + <usize>k, s2c, <usize>k);
  return 4 + 2 * <u32>k;
}

/**
 * Seals the plaintext at s.keys (ptLen bytes, from writeCookieKeys or openCookie) into a cookie at
 * `out` under the current master key with a nonce from the pool. Returns the cookie length, or 0
 * if there is no current key or no randomness left.
 */
export function sealCookie(s: NtsState, ptLen: u32, out: usize): u32 {
  if (s.current < 0) return 0;
  const nonce = takeRandom(s, NONCE_BYTES);
  if (nonce == 0) return 0;
  const id = keyId(s, s.current);
  storeU32BE(out, id);
  memory.copy(out + ID_BYTES, nonce, NONCE_BYTES);
  store<u32>(s.descs, <u32>out); // AD = the id as written in the cookie
  store<u32>(s.descs, ID_BYTES, 4);
  const n = aeadSeal(keyContext(s, s.current), out + ID_BYTES, <i32>NONCE_BYTES, s.descs, 1,
    s.keys, <i32>ptLen, out + ID_BYTES + NONCE_BYTES);
  if (n < 0) return 0;
  return ID_BYTES + NONCE_BYTES + <u32>n;
}

/**
 * Opens the cookie at [cookie, cookie + len) into s.keys. Returns the AEAD id it carries (> 0), or
 * COOKIE_UNKNOWN_KEY (no such key id: erased or never ours), or COOKIE_INVALID (too short, fails to
 * authenticate, or a plaintext that is not alg ‖ 0 ‖ two keys of that algorithm's length).
 * s.keys is wiped on every failure.
 */
export function openCookie(s: NtsState, cookie: usize, len: u32): i32 {
  if (len < COOKIE_OVERHEAD + 4 || len - COOKIE_OVERHEAD > KEYS_SCRATCH_BYTES) return COOKIE_INVALID;
  const slot = findKey(s, loadU32BE(cookie));
  if (slot < 0) return COOKIE_UNKNOWN_KEY;
  store<u32>(s.descs, <u32>cookie);
  store<u32>(s.descs, ID_BYTES, 4);
  const ptLen = aeadOpen(keyContext(s, slot), cookie + ID_BYTES, <i32>NONCE_BYTES, s.descs, 1,
    cookie + ID_BYTES + NONCE_BYTES, <i32>(len - ID_BYTES - NONCE_BYTES), s.keys);
  if (ptLen < 4) {
    wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
    return COOKIE_INVALID;
  }
  const alg = <i32>loadU16BE(s.keys);
  if (loadU16BE(s.keys + 2) != 0 || cookiePlaintextLength(alg) != <u32>ptLen) {
    wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
    return COOKIE_INVALID;
  }
  return alg;
}
