// Façade of the NTS server state in WASM (asm/server/nts*.ts): the only code that touches its
// memory. One NtsServerCore holds the cookie master keys and a random pool; it mints and opens
// cookies (for the NTS-KE server) and, attached to a server kernel (ts/core/server.ts), lets that
// kernel answer NTS-protected requests (RFC 8915 §5) in the same WASM call as plain ones.
//
// Randomness (WASM has none, DESIGN.md): the pool is filled at creation; refillRandom() refills
// exactly the bytes the kernel consumed since the last call and must run before every batch
// (handleBatch / handleOne). A request that finds the pool short is dropped and counted
// (dropped_no_random), never served with reused bytes. The pool is sized for a full batch:
// slots × randomPerRequest bytes.
import type { WasmInstance } from "./instance.js";
import type { ServerKernel } from "./server.js";

interface NtsExports {
  memory: WebAssembly.Memory;
  nts_create(maxKeys: number, poolBytes: number): number;
  nts_region(ctx: number, id: number): number;
  nts_info(ctx: number, id: number): number;
  nts_set_key(ctx: number, slot: number, id: number): number;
  nts_clear_key(ctx: number, slot: number): void;
  nts_set_current(ctx: number, slot: number): number;
  nts_random_cursor(ctx: number): number;
  nts_random_reset(ctx: number): void;
  nts_attach(serverCtx: number, ntsCtx: number): void;
  nts_cookie_length(alg: number): number;
  nts_cookie_seal(ctx: number, alg: number, c2s: number, s2c: number, out: number): number;
  nts_cookie_open(ctx: number, cookie: number, len: number, keysOut: number): number;
  nts_verify_request(ctx: number, packet: number, len: number, alg: number, c2s: number, plainOut: number): number;
  aead_key_length(alg: number): number;
}

/** NTS counters, in the kernel's order (asm/server/nts-state.ts). */
export const NTS_COUNTERS = [
  "answered", "nak_unknown_key", "nak_bad_cookie", "nak_bad_authenticator", "dropped_malformed",
  "dropped_placeholder", "dropped_no_random", "dropped_too_large", "kod", "cookies_issued",
  "placeholders_capped", "uid_echoed",
] as const;
export type NtsCounterName = (typeof NTS_COUNTERS)[number];

/** AEAD ids the NTS server path accepts (the AEAD core's: RFC 8915 §4.1.5 requires 15). */
export const NTS_SERVER_AEADS: readonly number[] = [15, 16, 17, 30, 31];

export interface MasterKey {
  /** Key id (u32) written in every cookie sealed with this key. */
  readonly id: number;
  /** 32 bytes (AEAD_AES_SIV_CMAC_256). */
  readonly key: Uint8Array;
}

export interface OpenedCookie {
  readonly algorithm: number;
  readonly c2s: Uint8Array;
  readonly s2c: Uint8Array;
}

export interface NtsServerCore {
  readonly maxKeys: number;
  readonly poolBytes: number;
  /** Replaces the master keys (at most maxKeys) and chooses the one that mints cookies. */
  setKeys(keys: readonly MasterKey[], currentId: number): void;
  /** Makes `kernel` answer NTS requests with these keys (null detaches: plain answers only). */
  attach(kernel: ServerKernel | null): void;
  /** Refills what the kernel consumed of the random pool. Before every batch. */
  refillRandom(): void;
  /** Cookie length for an AEAD id (0 = unsupported). */
  cookieLength(algorithm: number): number;
  /** A new cookie carrying (algorithm, c2s, s2c) under the current key. Throws if there is no key. */
  mintCookie(algorithm: number, c2s: Uint8Array, s2c: Uint8Array): Uint8Array;
  /** Opens a cookie: its contents, or why not. Never throws on bad input. */
  openCookie(cookie: Uint8Array): OpenedCookie | "unknown-key" | "invalid";
  /** Checks the Authenticator of an NTS request with a known C2S key (fixtures from other servers):
   *  the decrypted plaintext, "malformed" or "bad-authenticator". */
  verifyRequest(packet: Uint8Array, algorithm: number, c2s: Uint8Array): Uint8Array | "malformed" | "bad-authenticator";
  counters(): Record<NtsCounterName, number>;
}

export interface NtsServerOptions {
  /** Key slots (current + next + stale ones). */
  maxKeys: number;
  /** Requests one refill must cover (the kernel's batch size). */
  batchSize?: number;
}

const SCRATCH_BYTES = 2048;

export function createNtsServerCore(
  wasm: WasmInstance,
  options: NtsServerOptions,
  randomFill: (into: Uint8Array) => void = fillRandom,
): NtsServerCore {
  const x = wasm.exports as unknown as NtsExports;
  const perRequest = 16 * 9; // NTS_RANDOM_PER_REQUEST, checked below against the kernel's value
  const poolWanted = Math.max(1, options.batchSize ?? 1) * perRequest;
  const ctx = x.nts_create(options.maxKeys, poolWanted) >>> 0;
  if (ctx === 0) throw new RangeError(`NTS state rejected ${options.maxKeys} key slots / ${poolWanted} pool bytes`);
  if (x.nts_info(ctx, 3) !== perRequest) throw new Error("NTS kernel and façade disagree on the random bytes per request");
  if (x.nts_info(ctx, 2) !== NTS_COUNTERS.length) throw new Error("NTS kernel and façade disagree on the counters");
  const maxKeys = x.nts_info(ctx, 0);
  const poolBytes = x.nts_info(ctx, 1);
  const staging = x.nts_region(ctx, 0) >>> 0;
  const pool = x.nts_region(ctx, 1) >>> 0;
  const counterBase = x.nts_region(ctx, 2) >>> 0;
  const keyBytes = x.nts_info(ctx, 4);
  // Scratch for cookies and keys crossing the boundary (KE server, tests): reserved once.
  const scratch = wasm.reserve(SCRATCH_BYTES);
  const mem = (): Uint8Array => new Uint8Array(x.memory.buffer);

  const refill = (from: number, length: number): void => {
    if (length > 0) randomFill(mem().subarray(from, from + length));
  };
  refill(pool, poolBytes);
  x.nts_random_reset(ctx);

  const slotOf = new Map<number, number>();

  const core: NtsServerCore = {
    maxKeys,
    poolBytes,

    setKeys(keys, currentId) {
      if (keys.length > maxKeys) throw new RangeError(`${keys.length} keys exceed the ${maxKeys} key slots`);
      const ids = new Set<number>();
      for (const k of keys) {
        if (!Number.isInteger(k.id) || k.id < 0 || k.id > 0xffffffff) throw new RangeError(`key id ${k.id} is not a u32`);
        if (k.key.length !== keyBytes) throw new RangeError(`master keys are ${keyBytes} bytes, not ${k.key.length}`);
        if (ids.has(k.id)) throw new RangeError(`duplicate key id ${k.id}`);
        ids.add(k.id);
      }
      if (!ids.has(currentId)) throw new RangeError(`current key id ${currentId} is not among the keys`);
      slotOf.clear();
      for (let slot = 0; slot < maxKeys; slot++) x.nts_clear_key(ctx, slot);
      keys.forEach((k, slot) => {
        mem().set(k.key, staging);
        if (x.nts_set_key(ctx, slot, k.id >>> 0) !== 1) throw new Error(`NTS state refused key slot ${slot}`);
        slotOf.set(k.id, slot);
      });
      if (!x.nts_set_current(ctx, slotOf.get(currentId)!)) throw new Error("NTS state refused the current key");
    },

    attach(kernel) {
      if (kernel === null) return;
      x.nts_attach(kernel.context, ctx);
    },

    refillRandom() {
      const used = x.nts_random_cursor(ctx) >>> 0;
      if (used === 0) return;
      refill(pool, used);
      x.nts_random_reset(ctx);
    },

    cookieLength: (alg) => x.nts_cookie_length(alg) >>> 0,

    mintCookie(alg, c2s, s2c) {
      const k = x.aead_key_length(alg);
      if (k === 0 || c2s.length !== k || s2c.length !== k) throw new RangeError(`AEAD ${alg} needs two ${k}-byte keys`);
      core.refillRandom();
      const m = mem();
      m.set(c2s, scratch);
      m.set(s2c, scratch + k);
      const out = scratch + 2 * k;
      const n = x.nts_cookie_seal(ctx, alg, scratch, scratch + k, out) >>> 0;
      const cookie = mem().slice(out, out + n);
      mem().fill(0, scratch, out + n);
      if (n === 0) throw new Error("no current cookie key");
      return cookie;
    },

    openCookie(cookie) {
      if (cookie.length === 0 || cookie.length > SCRATCH_BYTES / 2) return "invalid";
      const m = mem();
      m.set(cookie, scratch);
      const keysOut = scratch + SCRATCH_BYTES / 2;
      const alg = x.nts_cookie_open(ctx, scratch, cookie.length, keysOut);
      if (alg === -1) return "unknown-key";
      if (alg <= 0) return "invalid";
      const k = x.aead_key_length(alg);
      const view = mem();
      const opened = { algorithm: alg, c2s: view.slice(keysOut, keysOut + k), s2c: view.slice(keysOut + k, keysOut + 2 * k) };
      view.fill(0, keysOut, keysOut + 2 * k);
      return opened;
    },

    verifyRequest(packet, alg, c2s) {
      if (packet.length > SCRATCH_BYTES / 2 - 64 || c2s.length > 64) return "malformed";
      const m = mem();
      m.set(packet, scratch);
      const key = scratch + SCRATCH_BYTES / 2 - 64;
      m.set(c2s, key);
      const plainOut = scratch + SCRATCH_BYTES / 2;
      const n = x.nts_verify_request(ctx, scratch, packet.length, alg, key, plainOut);
      if (n === -1) return "malformed";
      if (n < 0) return "bad-authenticator";
      return mem().slice(plainOut, plainOut + n);
    },

    counters() {
      const view = new BigUint64Array(x.memory.buffer, counterBase, NTS_COUNTERS.length);
      const out = {} as Record<NtsCounterName, number>;
      NTS_COUNTERS.forEach((name, i) => (out[name] = Number(view[i]!)));
      return out;
    },
  };
  return core;
}

/** crypto.getRandomValues fills at most 65536 bytes per call. */
function fillRandom(into: Uint8Array): void {
  for (let at = 0; at < into.length; at += 65536) {
    globalThis.crypto.getRandomValues(into.subarray(at, Math.min(into.length, at + 65536)));
  }
}
