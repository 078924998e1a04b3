// State of the NTS server path (RFC 8915 §5–6) in WASM memory: the cookie master-key table, the
// random pool, per-request scratch and the NTS counters. One NtsState serves one server kernel (it
// is attached with nts_attach) and/or an NTS-KE server (which mints cookies with nts_cookie_seal).
//
// ============================== Memory and who writes it ==============================
//   Key table    `maxKeys` entries: u32 key id, u32 in-use flag (ids region) and one AEAD context
//                (AEAD_CTX_BYTES, the expanded AES-SIV-CMAC-256 key) per entry. Written ONLY by the
//                TypeScript keyset (ts/core/nts-server.ts) on start-up and on each rotation:
//                key bytes go to the 32-byte staging region, nts_set_key expands them into a
//                slot and wipes the staging bytes. nts_set_current says which slot mints cookies.
//   Random pool  `poolBytes` of random bytes with a consumption cursor. WASM has no RNG (DESIGN.md),
//                so the façade fills the pool from crypto.randomFillSync at creation and, before
//                each batch, refills the consumed prefix [0, cursor) and resets the cursor
//                (nts_random_cursor / nts_random_reset). Every byte is used at most once: a
//                request that would need more than what is left is dropped (nts_dropped_no_random),
//                never served with reused randomness. One NTS request consumes at most
//                NTS_RANDOM_PER_REQUEST bytes (a 16-byte response nonce + 16 per cookie), so a pool
//                of slots × NTS_RANDOM_PER_REQUEST bytes always covers a full batch.
//   Counters     NTS_COUNTER_COUNT × u64, read by the façade (names in NTS_COUNTER_NAMES there).
// ======================================================================================

import { AEAD_CTX_BYTES } from "../crypto/aead";
import { MAX_PACKET } from "../packet";
import { reserve } from "../memory";

/** The AEAD that seals cookies under the master key (RFC 8915 §6 suggests a misuse-resistant one). */
export const COOKIE_AEAD: i32 = 15; // AEAD_AES_SIV_CMAC_256
export const MASTER_KEY_BYTES: u32 = 32;
/** Cookie nonce and server response nonce lengths (16 = the SIV block; GCM-SIV uses 12). */
export const NONCE_BYTES: u32 = 16;
/** Cookies per response: the one used plus at most 7 placeholders (RFC 8915 §5.7 SHOULD NOT exceed 7). */
export const MAX_COOKIES_PER_RESPONSE: u32 = 8;
export const NTS_RANDOM_PER_REQUEST: u32 = NONCE_BYTES * (1 + MAX_COOKIES_PER_RESPONSE);

// ---- Counters (indices into the counter region; the façade names them in this order) ----
export const NTS_ANSWERED: u32 = 0;
export const NTS_NAK_UNKNOWN_KEY: u32 = 1;
export const NTS_NAK_BAD_COOKIE: u32 = 2;
export const NTS_NAK_BAD_AUTHENTICATOR: u32 = 3;
export const NTS_DROPPED_MALFORMED: u32 = 4;
export const NTS_DROPPED_PLACEHOLDER: u32 = 5;
export const NTS_DROPPED_NO_RANDOM: u32 = 6;
export const NTS_DROPPED_TOO_LARGE: u32 = 7;
export const NTS_KOD: u32 = 8;
export const NTS_COOKIES_ISSUED: u32 = 9;
export const NTS_PLACEHOLDERS_CAPPED: u32 = 10;
export const NTS_UID_ECHOED: u32 = 11;
export const NTS_COUNTER_COUNT: u32 = 12;

export class NtsState {
  maxKeys: u32 = 0;
  ids: usize = 0; // maxKeys × { u32 id, u32 in use }
  contexts: usize = 0; // maxKeys × AEAD_CTX_BYTES
  current: i32 = -1; // slot that mints cookies, −1 = none (cookies cannot be issued)
  staging: usize = 0; // MASTER_KEY_BYTES, written by the façade, wiped after import

  pool: usize = 0;
  poolBytes: u32 = 0;
  poolCursor: u32 = 0;

  counters: usize = 0;

  // Per-request scratch (reused; wiped where it held keys).
  c2s: usize = 0; // AEAD context for the client's C2S key
  s2c: usize = 0; // AEAD context for the S2C key
  keys: usize = 0; // cookie plaintext: u16 alg, u16 0, C2S, S2C (≤ 4 + 2 × 64)
  descs: usize = 0; // AD descriptor: one (u32 ptr, u32 len) pair
  keyIdBytes: usize = 0; // 4 bytes: the key id as AD, big-endian
  plain: usize = 0; // MAX_PACKET bytes: request plaintext, then the response plaintext
}

export const KEYS_SCRATCH_BYTES: u32 = 4 + 2 * 64;

export function createNtsState(maxKeys: u32, poolBytes: u32): NtsState {
  const s = new NtsState();
  s.maxKeys = maxKeys;
  s.ids = reserve(<usize>maxKeys * 8);
  s.contexts = reserve(<usize>maxKeys * <usize>AEAD_CTX_BYTES);
  s.staging = reserve(MASTER_KEY_BYTES);
  s.pool = reserve(poolBytes);
  s.poolBytes = poolBytes;
  s.counters = reserve(<usize>NTS_COUNTER_COUNT << 3);
  s.c2s = reserve(AEAD_CTX_BYTES);
  s.s2c = reserve(AEAD_CTX_BYTES);
  s.keys = reserve(KEYS_SCRATCH_BYTES);
  s.descs = reserve(16);
  s.keyIdBytes = reserve(16);
  s.plain = reserve(MAX_PACKET);
  return s;
}

// @ts-ignore: decorator
@inline export function ntsBump(s: NtsState, counter: u32): void {
  const at = s.counters + (<usize>counter << 3);
  store<u64>(at, load<u64>(at) + 1);
}

// @ts-ignore: decorator
@inline export function ntsAdd(s: NtsState, counter: u32, n: u32): void {
  const at = s.counters + (<usize>counter << 3);
  store<u64>(at, load<u64>(at) + n);
}

/** `n` fresh random bytes from the pool, or 0 if fewer than `n` are left (the caller drops). */
export function takeRandom(s: NtsState, n: u32): usize {
  if (s.poolBytes - s.poolCursor < n) return 0;
  const at = s.pool + s.poolCursor;
  s.poolCursor += n;
  return at;
}

/** Bytes left in the pool (to check before starting work that needs them). */
// @ts-ignore: decorator
@inline export function randomLeft(s: NtsState): u32 {
  return s.poolBytes - s.poolCursor;
}

/** The key-table slot holding key `id`, or −1. Linear in the table size (a handful of keys: the
 *  current, the next and `stale-key-count` old ones); the id is public, so the scan may branch. */
export function findKey(s: NtsState, id: u32): i32 {
  for (let i: u32 = 0; i < s.maxKeys; i++) {
    const at = s.ids + (<usize>i << 3);
    if (load<u32>(at, 4) != 0 && load<u32>(at) == id) return <i32>i;
  }
  return -1;
}

// @ts-ignore: decorator
@inline export function keyContext(s: NtsState, slot: i32): usize {
  return s.contexts + <usize>slot * <usize>AEAD_CTX_BYTES;
}

// @ts-ignore: decorator
@inline export function keyId(s: NtsState, slot: i32): u32 {
  return load<u32>(s.ids + (<usize>slot << 3));
}
