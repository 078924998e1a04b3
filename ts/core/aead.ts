// Typed façade over the WASM AEAD kernels (asm/crypto/): AES-SIV-CMAC (RFC 5297) and AES-GCM-SIV
// (RFC 8452), identified by their IANA AEAD ids, constant time (see asm/crypto/*.ts).
//
// Memory: at creation the façade reserves, once, a pool of key contexts, a descriptor list for
// associated-data components and an in/out buffer; afterwards seal/open only copy bytes into that
// buffer and call the kernel with offsets. For zero-copy users (an NTS server building packets in
// WASM memory) an imported key also offers sealAt/openAt on raw linear-memory offsets.
import type { WasmInstance } from "./instance.js";

/** IANA "AEAD Algorithms" registry ids (RFC 5116 §6, RFC 5297 §6, RFC 8452 §8). */
export const AEAD_AES_SIV_CMAC_256 = 15;
export const AEAD_AES_SIV_CMAC_384 = 16;
export const AEAD_AES_SIV_CMAC_512 = 17;
export const AEAD_AES_128_GCM_SIV = 30;
export const AEAD_AES_256_GCM_SIV = 31;
export const SUPPORTED_AEADS: readonly number[] = [15, 16, 17, 30, 31];

/** Length of the authentication tag that seal adds (all supported algorithms). */
export const AEAD_TAG_BYTES = 16;

interface CryptoExports {
  memory: WebAssembly.Memory;
  aead_ctx_bytes(): number;
  aead_key_length(alg: number): number;
  aead_import_key(alg: number, key: number, keyLen: number, ctx: number): number;
  aead_wipe(ctx: number): void;
  aead_seal(ctx: number, nonce: number, nonceLen: number, descs: number, count: number, pt: number, ptLen: number, out: number): number;
  aead_open(ctx: number, nonce: number, nonceLen: number, descs: number, count: number, ct: number, ctLen: number, out: number): number;
  aes_engine(): number;
  aes_sched_bytes(): number;
  aes_expand_key(key: number, keyLen: number, sched: number): number;
  aes_encrypt_blocks(sched: number, src: number, dst: number, blocks: number): void;
  aes_cmac_ctx_bytes(): number;
  aes_cmac_init(ctx: number, key: number, keyLen: number): number;
  aes_cmac(ctx: number, msg: number, len: number, out: number): void;
}

/** A key whose schedule was expanded once (hot path: many packets under one key). */
export interface AeadKey {
  readonly algorithm: number;
  /** Linear-memory offset of the key context, for WASM modules that call aead_seal/aead_open directly. */
  readonly context: number;
  /** AEAD output: SIV → V ‖ C; GCM-SIV → C ‖ tag. `nonce` null = deterministic SIV (no nonce component). */
  seal(nonce: Uint8Array | null, ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array;
  /** Plaintext, or null if the input does not authenticate (or is malformed). Never throws on bad input. */
  open(nonce: Uint8Array | null, ad: readonly Uint8Array[], ciphertext: Uint8Array): Uint8Array | null;
  /**
   * Zero-copy seal on linear-memory offsets with one AD string (the NTS form). The output
   * (ptLen + 16 bytes) goes to `out`; in place when pt == out + 16 (SIV) or pt == out (GCM-SIV).
   * Returns the output length, or −1.
   */
  sealAt(nonce: number, nonceLen: number, ad: number, adLen: number, pt: number, ptLen: number, out: number): number;
  /** Zero-copy open; returns the plaintext length or −1 (then `out` is zeroed). */
  openAt(nonce: number, nonceLen: number, ad: number, adLen: number, ct: number, ctLen: number, out: number): number;
  /**
   * Replaces the key in this context (same algorithm): the old schedule is wiped first. Takes the
   * key bytes, or the linear-memory offset of a key already in WASM memory (e.g. c2s/s2c keys just
   * decrypted from a cookie), so a server can reuse one context per request without copies.
   */
  replaceKey(key: Uint8Array | number): void;
  /** Wipes the key schedule and returns the context to the pool. */
  dispose(): void;
}

export interface Aead {
  /** AES engine compiled into the module: vector-permute on WASM SIMD, or bitsliced (both constant time). */
  readonly engine: "simd-vperm" | "bitsliced";
  keyLength(alg: number): number;
  seal(alg: number, key: Uint8Array, nonce: Uint8Array | null, ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array;
  open(alg: number, key: Uint8Array, nonce: Uint8Array | null, ad: readonly Uint8Array[], ciphertext: Uint8Array): Uint8Array | null;
  /** Expands a key once (bytes, or the linear-memory offset of a key already in WASM memory). */
  importKey(alg: number, key: Uint8Array | number): AeadKey;
  /** AES-CMAC (RFC 4493; 16-, 24- or 32-byte key). */
  cmac(key: Uint8Array, message: Uint8Array): Uint8Array;
  /** Raw AES-ECB encryption of whole blocks (tests and benchmarks). */
  encryptBlocks(key: Uint8Array, blocks: Uint8Array): Uint8Array;
  /** The façade's in/out buffer: [offset, offset + capacity) of linear memory. */
  readonly io: { readonly offset: number; readonly capacity: number };
}

export interface AeadOptions {
  /** Largest nonce + associated data + message + tag handled by seal/open (bytes). */
  maxMessageBytes?: number;
  /** Keys that may be imported at the same time. */
  maxKeys?: number;
}

const MAX_COMPONENTS = 126; // RFC 5297 §2.4 with the plaintext: at most 127 S2V components

export function createAead(wasm: WasmInstance, options: AeadOptions = {}): Aead {
  const ex = wasm.exports as unknown as CryptoExports;
  const capacity = options.maxMessageBytes ?? 65536;
  const maxKeys = options.maxKeys ?? 64;
  const ctxBytes = ex.aead_ctx_bytes();
  const schedBytes = Math.max(ex.aes_sched_bytes(), ex.aes_cmac_ctx_bytes());

  // All regions reserved once (DESIGN.md principle 2).
  const scratchCtx = wasm.reserve(Math.max(ctxBytes, schedBytes));
  const pool = wasm.reserve(ctxBytes * maxKeys);
  const descs = wasm.reserve(MAX_COMPONENTS * 8);
  const keyBuf = wasm.reserve(64);
  const io = wasm.reserve(capacity + 16);
  const freeSlots: number[] = [];
  for (let i = maxKeys - 1; i >= 0; i--) freeSlots.push(pool + i * ctxBytes);

  let view = wasm.bytes();
  const mem = (): Uint8Array => {
    if (view.buffer !== ex.memory.buffer) view = wasm.bytes();
    return view;
  };
  const dv = (): DataView => new DataView(mem().buffer);

  const keyLength = (alg: number): number => ex.aead_key_length(alg);

  /** Expands `key` (bytes, or an offset in linear memory holding keyLength(alg) bytes) into ctx. */
  function importInto(ctx: number, alg: number, key: Uint8Array | number): void {
    const want = keyLength(alg);
    if (want === 0) throw new RangeError(`unsupported AEAD algorithm ${alg}; supported: ${SUPPORTED_AEADS.join(", ")}`);
    let ok: number;
    if (typeof key === "number") {
      if (!Number.isInteger(key) || key < 0 || key + want > ex.memory.buffer.byteLength) throw new RangeError(`key offset ${key} outside linear memory`);
      ok = ex.aead_import_key(alg, key, want, ctx);
    } else {
      if (key.length !== want) throw new RangeError(`AEAD ${alg} needs a ${want}-byte key, got ${key.length}`);
      mem().set(key, keyBuf);
      ok = ex.aead_import_key(alg, keyBuf, key.length, ctx);
      mem().fill(0, keyBuf, keyBuf + 64);
    }
    if (ok !== 1) throw new RangeError(`AEAD key import failed for algorithm ${alg}`);
  }

  /**
   * Lays out [nonce][ad...][output region] in the io buffer and writes the AD descriptors.
   * Returns the offsets, or null if it does not fit.
   */
  function stage(nonce: Uint8Array | null, ad: readonly Uint8Array[], bodyLen: number, extra: number) {
    if (ad.length > MAX_COMPONENTS) return null;
    let need = (nonce?.length ?? 0) + bodyLen + extra;
    for (const a of ad) need += a.length;
    if (need > capacity) return null;
    const m = mem();
    const d = dv();
    let at = io;
    const noncePtr = at;
    if (nonce) { m.set(nonce, at); at += nonce.length; }
    for (let i = 0; i < ad.length; i++) {
      const a = ad[i]!;
      m.set(a, at);
      d.setUint32(descs + i * 8, at, true);
      d.setUint32(descs + i * 8 + 4, a.length, true);
      at += a.length;
    }
    return { noncePtr, nonceLen: nonce ? nonce.length : -1, out: at };
  }

  function sealWith(ctx: number, alg: number, nonce: Uint8Array | null, ad: readonly Uint8Array[], pt: Uint8Array): Uint8Array {
    const siv = alg <= AEAD_AES_SIV_CMAC_512;
    if (!siv && (nonce === null || ad.length > 1)) throw new RangeError("AES-GCM-SIV needs a 12-byte nonce and at most one AD string");
    const s = stage(nonce, ad, pt.length, AEAD_TAG_BYTES);
    if (!s) throw new RangeError(`message too large for the AEAD buffer (${capacity} bytes) or too many AD components`);
    const ptPtr = siv ? s.out + AEAD_TAG_BYTES : s.out;
    mem().set(pt, ptPtr);
    const n = ex.aead_seal(ctx, s.noncePtr, s.nonceLen, descs, ad.length, ptPtr, pt.length, s.out);
    if (n < 0) throw new RangeError(`AEAD ${alg} seal rejected its arguments (nonce length ${nonce?.length ?? "none"})`);
    const result = mem().slice(s.out, s.out + n);
    mem().fill(0, io, s.out + n);
    return result;
  }

  function openWith(ctx: number, alg: number, nonce: Uint8Array | null, ad: readonly Uint8Array[], ct: Uint8Array): Uint8Array | null {
    if (ct.length < AEAD_TAG_BYTES) return null;
    const siv = alg <= AEAD_AES_SIV_CMAC_512;
    const s = stage(nonce, ad, ct.length, 0);
    if (!s) return null;
    mem().set(ct, s.out);
    const ptPtr = siv ? s.out + AEAD_TAG_BYTES : s.out;
    const n = ex.aead_open(ctx, s.noncePtr, s.nonceLen, descs, ad.length, s.out, ct.length, ptPtr);
    const result = n < 0 ? null : mem().slice(ptPtr, ptPtr + n);
    mem().fill(0, io, s.out + ct.length);
    return result;
  }

  function oneShot<T>(alg: number, key: Uint8Array, f: (ctx: number) => T): T {
    try {
      importInto(scratchCtx, alg, key);
      return f(scratchCtx);
    } finally {
      ex.aead_wipe(scratchCtx);
    }
  }

  function withSingleAd(adPtr: number, adLen: number): number {
    if (adLen < 0) return -1;
    const d = dv();
    d.setUint32(descs, adPtr, true);
    d.setUint32(descs + 4, adLen, true);
    return 1;
  }

  return {
    engine: ex.aes_engine() === 1 ? "simd-vperm" : "bitsliced",
    keyLength,
    io: { offset: io, capacity },
    seal: (alg, key, nonce, ad, pt) => oneShot(alg, key, (ctx) => sealWith(ctx, alg, nonce, ad, pt)),
    open: (alg, key, nonce, ad, ct) => oneShot(alg, key, (ctx) => openWith(ctx, alg, nonce, ad, ct)),
    importKey(alg, key) {
      const ctx = freeSlots.pop();
      if (ctx === undefined) throw new RangeError(`all ${maxKeys} AEAD key slots are in use`);
      try {
        importInto(ctx, alg, key);
      } catch (e) {
        freeSlots.push(ctx);
        throw e;
      }
      let live = true;
      const check = () => { if (!live) throw new Error("AEAD key used after dispose()"); };
      return {
        algorithm: alg,
        context: ctx,
        seal: (nonce, ad, pt) => { check(); return sealWith(ctx, alg, nonce, ad, pt); },
        open: (nonce, ad, ct) => { check(); return openWith(ctx, alg, nonce, ad, ct); },
        sealAt: (nonce, nonceLen, ad, adLen, pt, ptLen, out) => {
          check();
          return withSingleAd(ad, adLen) < 0 ? -1 : ex.aead_seal(ctx, nonce, nonceLen, descs, 1, pt, ptLen, out);
        },
        openAt: (nonce, nonceLen, ad, adLen, ct, ctLen, out) => {
          check();
          return withSingleAd(ad, adLen) < 0 ? -1 : ex.aead_open(ctx, nonce, nonceLen, descs, 1, ct, ctLen, out);
        },
        replaceKey(next) {
          check();
          try {
            importInto(ctx, alg, next);
          } catch (e) {
            // A failed replacement leaves no usable key: wipe the old one too and free the slot.
            live = false;
            ex.aead_wipe(ctx);
            freeSlots.push(ctx);
            throw e;
          }
        },
        dispose() {
          if (!live) return;
          live = false;
          ex.aead_wipe(ctx);
          freeSlots.push(ctx);
        },
      };
    },
    cmac(key, message) {
      if (message.length > capacity) throw new RangeError("message too large for the AEAD buffer");
      mem().set(key, keyBuf);
      const ok = ex.aes_cmac_init(scratchCtx, keyBuf, key.length);
      mem().fill(0, keyBuf, keyBuf + 64);
      try {
        if (ok !== 1) throw new RangeError(`AES-CMAC needs a 16-, 24- or 32-byte key, got ${key.length}`);
        mem().set(message, io);
        ex.aes_cmac(scratchCtx, io, message.length, io + message.length);
        return mem().slice(io + message.length, io + message.length + 16);
      } finally {
        mem().fill(0, scratchCtx, scratchCtx + Math.max(ctxBytes, schedBytes));
        mem().fill(0, io, io + message.length + 16);
      }
    },
    encryptBlocks(key, blocks) {
      if (blocks.length % 16 !== 0 || blocks.length > capacity) throw new RangeError("whole 16-byte blocks within the buffer capacity");
      mem().set(key, keyBuf);
      const rounds = ex.aes_expand_key(keyBuf, key.length, scratchCtx);
      mem().fill(0, keyBuf, keyBuf + 64);
      try {
        if (rounds === 0) throw new RangeError(`AES needs a 16-, 24- or 32-byte key, got ${key.length}`);
        mem().set(blocks, io);
        ex.aes_encrypt_blocks(scratchCtx, io, io, blocks.length / 16);
        return mem().slice(io, io + blocks.length);
      } finally {
        mem().fill(0, scratchCtx, scratchCtx + Math.max(ctxBytes, schedBytes));
        mem().fill(0, io, io + blocks.length);
      }
    },
  };
}
