// WASM exports of the NTS server path (prefixed nts_). Memory layout, who writes what, and the
// random pool protocol are documented in nts-state.ts; the cookie format in nts-cookie.ts; request
// handling in nts-request.ts. Offsets are trusted (they come from the façade); everything read
// from a packet or a cookie is not.
import { aeadImportKey, aeadKeyLength, aeadOpen, aeadWipe } from "../crypto/aead";
import { wipe } from "../crypto/ct";
import { Kernel } from "./request";
import {
  NtsState, createNtsState, COOKIE_AEAD, MASTER_KEY_BYTES, NTS_COUNTER_COUNT, NTS_RANDOM_PER_REQUEST,
  KEYS_SCRATCH_BYTES, keyContext,
} from "./nts-state";
import { cookieLength, openCookie, sealCookie, writeCookieKeys } from "./nts-cookie";
import { NTS_REQUEST, ntsParse, parsedAuthenticatorAt } from "./nts-request";
import { loadU16BE } from "../packet";

const MAX_KEY_SLOTS: u32 = 4096;
const MAX_POOL_BYTES: u32 = 16 << 20;

/** Creates an NTS state with `maxKeys` master-key slots and a random pool of `poolBytes`
 *  (at least NTS_RANDOM_PER_REQUEST). Returns its handle, or 0 for out-of-range sizes. Load time only. */
export function nts_create(maxKeys: u32, poolBytes: u32): usize {
  if (maxKeys == 0 || maxKeys > MAX_KEY_SLOTS) return 0;
  if (poolBytes < NTS_RANDOM_PER_REQUEST || poolBytes > MAX_POOL_BYTES) return 0;
  return changetype<usize>(createNtsState(maxKeys, poolBytes));
}

/** Regions: 0 key staging (32 bytes), 1 random pool, 2 counters, 3 key ids (maxKeys × {u32 id, u32 used}). */
export function nts_region(ctx: usize, id: u32): usize {
  const s = changetype<NtsState>(ctx);
  switch (id) {
    case 0: return s.staging;
    case 1: return s.pool;
    case 2: return s.counters;
    case 3: return s.ids;
  }
  return 0;
}

/** Sizes: 0 key slots, 1 pool bytes, 2 counter count, 3 random bytes one request may use, 4 master key bytes. */
export function nts_info(ctx: usize, id: u32): u32 {
  const s = changetype<NtsState>(ctx);
  switch (id) {
    case 0: return s.maxKeys;
    case 1: return s.poolBytes;
    case 2: return NTS_COUNTER_COUNT;
    case 3: return NTS_RANDOM_PER_REQUEST;
    case 4: return MASTER_KEY_BYTES;
  }
  return 0;
}

/** Expands the master key in the staging region into `slot` under key id `id`, then wipes the
 *  staging bytes. 1 = ok, 0 = bad slot. */
export function nts_set_key(ctx: usize, slot: u32, id: u32): i32 {
  const s = changetype<NtsState>(ctx);
  if (slot >= s.maxKeys) { wipe(s.staging, <i32>MASTER_KEY_BYTES); return 0; }
  const at = s.ids + (<usize>slot << 3);
  store<u32>(at, 0, 4);
  const ok = aeadImportKey(COOKIE_AEAD, s.staging, <i32>MASTER_KEY_BYTES, keyContext(s, <i32>slot));
  wipe(s.staging, <i32>MASTER_KEY_BYTES);
  if (ok == 0) return 0;
  store<u32>(at, id);
  store<u32>(at, 1, 4);
  return 1;
}

/** Erases the key in `slot` (its schedule is wiped; cookies under it are NAKed from now on). */
export function nts_clear_key(ctx: usize, slot: u32): void {
  const s = changetype<NtsState>(ctx);
  if (slot >= s.maxKeys) return;
  const at = s.ids + (<usize>slot << 3);
  store<u64>(at, 0);
  aeadWipe(keyContext(s, <i32>slot));
  if (s.current == <i32>slot) s.current = -1;
}

/** The slot whose key mints new cookies (it must hold a key); −1 = none. Returns false if invalid. */
export function nts_set_current(ctx: usize, slot: i32): bool {
  const s = changetype<NtsState>(ctx);
  if (slot < 0) { s.current = -1; return true; }
  if (<u32>slot >= s.maxKeys || load<u32>(s.ids + (<usize>slot << 3), 4) == 0) return false;
  s.current = slot;
  return true;
}

/** Bytes of the pool consumed since the last reset: the façade refills [pool, pool + cursor). */
export function nts_random_cursor(ctx: usize): u32 {
  return changetype<NtsState>(ctx).poolCursor;
}

/** Called by the façade after refilling the consumed prefix of the pool. */
export function nts_random_reset(ctx: usize): void {
  changetype<NtsState>(ctx).poolCursor = 0;
}

/** Attaches an NTS state to a server kernel (0 detaches: the plain chain only). */
export function nts_attach(serverCtx: usize, ntsCtx: usize): void {
  changetype<Kernel>(serverCtx).nts = ntsCtx;
}

/** Cookie length for AEAD `alg` (0 = unsupported). */
export function nts_cookie_length(alg: i32): u32 {
  return cookieLength(alg);
}

/**
 * Mints one cookie for (alg, C2S at c2s, S2C at s2c; key length of alg each) at `out` (room for
 * nts_cookie_length(alg) bytes). Returns its length, or 0 (bad alg, no current key, pool empty).
 */
export function nts_cookie_seal(ctx: usize, alg: i32, c2s: usize, s2c: usize, out: usize): u32 {
  const s = changetype<NtsState>(ctx);
  const ptLength = writeCookieKeys(s, alg, c2s, s2c);
  if (ptLength == 0) return 0;
  const n = sealCookie(s, ptLength, out);
  wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
  return n;
}

/** Opens a cookie; on success copies C2S ‖ S2C (2 × key length) to `keysOut` and returns the AEAD
 *  id; else −1 (unknown key id) or −2 (invalid). */
export function nts_cookie_open(ctx: usize, cookie: usize, len: u32, keysOut: usize): i32 {
  const s = changetype<NtsState>(ctx);
  const alg = openCookie(s, cookie, len);
  if (alg > 0) memory.copy(keysOut, s.keys + 4, 2 * <usize>aeadKeyLength(alg));
  wipe(s.keys, <i32>KEYS_SCRATCH_BYTES);
  return alg;
}

/**
 * Checks the NTS Authenticator of a request with a KNOWN C2S key (bypassing the cookie): the same
 * field walk as the server path, then the AEAD over packet[0, authenticator). For fixtures captured
 * from other implementations (whose cookies we cannot open). Returns the plaintext length written
 * at `plainOut`, −1 not a well-formed NTS request, −2 does not authenticate.
 */
export function nts_verify_request(ctx: usize, packet: usize, len: u32, alg: i32, c2s: usize, plainOut: usize): i32 {
  const s = changetype<NtsState>(ctx);
  if (ntsParse(s, packet, len) != NTS_REQUEST) return -1;
  const at = parsedAuthenticatorAt();
  const nonceLength = loadU16BE(packet + at + 4);
  const ctLength = loadU16BE(packet + at + 6);
  if (aeadImportKey(alg, c2s, aeadKeyLength(alg), s.c2s) == 0) return -2;
  store<u32>(s.descs, <u32>packet);
  store<u32>(s.descs, at, 4);
  const n = aeadOpen(s.c2s, packet + at + 8, <i32>nonceLength, s.descs, 1,
    packet + at + 8 + ((nonceLength + 3) & ~3), <i32>ctLength, plainOut);
  aeadWipe(s.c2s);
  return n < 0 ? -2 : n;
}
