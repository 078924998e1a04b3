// The TS façade: keyed contexts, zero-copy sealAt/openAt in place, argument checks, wiping; and a
// differential property test against an independent implementation on node:crypto (bench baseline).
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AEAD_AES_128_GCM_SIV, AEAD_AES_256_GCM_SIV, AEAD_AES_SIV_CMAC_256, AEAD_AES_SIV_CMAC_384,
  AEAD_AES_SIV_CMAC_512, type Aead,
} from "../../ts/core/aead.js";
import { NodeCmac, NodeGcmSiv, NodeSiv } from "../../bench/aead-baseline.js";
import { loadAead, toHex } from "./helpers.js";

let aead: Aead;
beforeAll(async () => { aead = await loadAead(); });

const SIVS = [AEAD_AES_SIV_CMAC_256, AEAD_AES_SIV_CMAC_384, AEAD_AES_SIV_CMAC_512];
const GCM_SIVS = [AEAD_AES_128_GCM_SIV, AEAD_AES_256_GCM_SIV];

describe("differential: WASM kernels vs node:crypto compositions", () => {
  it("SIV seal/open agree for random keys, nonces, AD lists and messages", () => {
    fc.assert(fc.property(
      fc.constantFrom(...SIVS),
      fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 })),
      fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 4 }),
      fc.uint8Array({ maxLength: 300 }),
      (alg, nonce, ad, pt) => {
        const key = randomBytes(aead.keyLength(alg));
        const ref = new NodeSiv(key).seal(nonce, ad, pt);
        const out = aead.seal(alg, key, nonce, ad, pt);
        expect(toHex(out)).toBe(toHex(ref));
        expect(toHex(aead.open(alg, key, nonce, ad, out)!)).toBe(toHex(pt));
      },
    ), { numRuns: 300 });
  });

  it("AES-GCM-SIV seal/open agree for random keys, nonces, AD and messages", () => {
    fc.assert(fc.property(
      fc.constantFrom(...GCM_SIVS),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 90 }),
      fc.uint8Array({ maxLength: 300 }),
      (alg, nonce, ad, pt) => {
        const key = randomBytes(aead.keyLength(alg));
        const ref = new NodeGcmSiv(key).seal(nonce, ad, pt);
        const out = aead.seal(alg, key, nonce, [ad], pt);
        expect(toHex(out)).toBe(toHex(ref));
        expect(toHex(aead.open(alg, key, nonce, [ad], out)!)).toBe(toHex(pt));
      },
    ), { numRuns: 200 });
  });

  it("CMAC agrees for 128/192/256-bit keys and lengths 0..100", () => {
    for (let len = 0; len <= 100; len++) {
      const key = randomBytes([16, 24, 32][len % 3]!);
      const msg = randomBytes(len);
      expect(toHex(aead.cmac(key, msg))).toBe(toHex(new NodeCmac(key).mac(msg)));
    }
  });
});

describe("engine", () => {
  it("reports which constant-time AES engine the module was compiled with", () => {
    expect(["simd-vperm", "bitsliced"]).toContain(aead.engine);
  });
});

describe("keyed contexts", () => {
  it("seal/open through importKey equal the one-shot forms, and dispose wipes the slot", () => {
    for (const alg of [...SIVS, ...GCM_SIVS]) {
      const key = randomBytes(aead.keyLength(alg));
      const nonce = randomBytes(alg >= 30 ? 12 : 16);
      const ad = [randomBytes(48)], pt = randomBytes(100);
      const k = aead.importKey(alg, key);
      const sealed = k.seal(nonce, ad, pt);
      expect(toHex(sealed)).toBe(toHex(aead.seal(alg, key, nonce, ad, pt)));
      expect(toHex(k.open(nonce, ad, sealed)!)).toBe(toHex(pt));
      k.dispose();
      expect(() => k.seal(nonce, ad, pt)).toThrow();
    }
  });

  it("replacing keys wipes the schedule: a reused slot never keeps the old key", () => {
    const k1 = aead.importKey(AEAD_AES_SIV_CMAC_256, randomBytes(32));
    const ctx = k1.context;
    k1.dispose();
    const k2 = aead.importKey(AEAD_AES_SIV_CMAC_256, Buffer.alloc(32));
    expect(k2.context).toBe(ctx); // LIFO pool: same memory, new key
    k2.dispose();
  });

  it("sealAt/openAt work in place on linear-memory offsets (the NTS server path)", async () => {
    const { readFileSync } = await import("node:fs");
    const { instantiateWasm } = await import("../../ts/core/instance.js");
    const { createAead } = await import("../../ts/core/aead.js");
    const path = process.env.TOCK_WASM ?? new URL("../../build/tock.wasm", import.meta.url).pathname;
    const wasm = await instantiateWasm(readFileSync(path));
    const local = createAead(wasm, { maxKeys: 2, maxMessageBytes: 2048 });
    const key = randomBytes(64), nonce = randomBytes(16), ad = randomBytes(84), pt = randomBytes(172);
    const k = local.importKey(AEAD_AES_SIV_CMAC_512, key);
    const base = local.io.offset;
    const mem = () => wasm.bytes();
    // [ad][nonce][V | pt → C]
    mem().set(ad, base); mem().set(nonce, base + 84); mem().set(pt, base + 100 + 16);
    const n = k.sealAt(base + 84, 16, base, 84, base + 116, 172, base + 100);
    expect(n).toBe(188);
    expect(toHex(mem().slice(base + 100, base + 288))).toBe(toHex(new NodeSiv(key).seal(nonce, [ad], pt)));
    expect(k.openAt(base + 84, 16, base, 84, base + 100, 188, base + 116)).toBe(172);
    expect(toHex(mem().slice(base + 116, base + 288))).toBe(toHex(pt));
    // A flipped bit: −1, and the would-be plaintext is zeroed rather than left behind.
    mem().set(new NodeSiv(key).seal(nonce, [ad], pt), base + 100);
    mem()[base + 3]! ^= 1;
    expect(k.openAt(base + 84, 16, base, 84, base + 100, 188, base + 116)).toBe(-1);
    expect(mem().slice(base + 116, base + 288).every((b) => b === 0)).toBe(true);
    // Keys already in linear memory (as decrypted from a cookie): import and replace by offset.
    const key2 = randomBytes(64);
    mem().set(key2, base + 1024);
    k.replaceKey(base + 1024);
    mem().set(ad, base); mem().set(nonce, base + 84); mem().set(pt, base + 116);
    expect(k.sealAt(base + 84, 16, base, 84, base + 116, 172, base + 100)).toBe(188);
    expect(toHex(mem().slice(base + 100, base + 288))).toBe(toHex(new NodeSiv(key2).seal(nonce, [ad], pt)));
    const k2 = local.importKey(AEAD_AES_128_GCM_SIV, base + 1024);
    expect(toHex(k2.seal(Buffer.alloc(12), [], pt))).toBe(toHex(new NodeGcmSiv(key2.subarray(0, 16)).seal(Buffer.alloc(12), Buffer.alloc(0), pt)));
    expect(() => local.importKey(AEAD_AES_128_GCM_SIV, randomBytes(16))).toThrow(/slots/);
    expect(() => k2.replaceKey(randomBytes(5))).toThrow(RangeError); // failed replace frees the slot
    expect(() => k2.seal(Buffer.alloc(12), [], pt)).toThrow(/dispose/);
    const ctxBytes = (wasm.exports as unknown as { aead_ctx_bytes(): number }).aead_ctx_bytes();
    expect(mem().slice(k2.context, k2.context + ctxBytes).every((b) => b === 0)).toBe(true);
    expect(mem().slice(k.context, k.context + ctxBytes).some((b) => b !== 0)).toBe(true);
    k.dispose(); k2.dispose();
    // Disposing wipes the expanded key schedule, not just the handle.
    expect(mem().slice(k.context, k.context + ctxBytes).every((b) => b === 0)).toBe(true);
  });
});

describe("argument checks and hostile input", () => {
  it("refuses unsupported algorithms and wrong key lengths", () => {
    expect(() => aead.seal(99, randomBytes(32), null, [], new Uint8Array(1))).toThrow(RangeError);
    expect(() => aead.importKey(AEAD_AES_SIV_CMAC_256, randomBytes(31))).toThrow(RangeError);
    expect(() => aead.importKey(AEAD_AES_128_GCM_SIV, randomBytes(32))).toThrow(RangeError);
  });

  it("AES-GCM-SIV: seal needs a 12-byte nonce and one AD; open returns null otherwise", () => {
    const key = randomBytes(16);
    expect(() => aead.seal(AEAD_AES_128_GCM_SIV, key, randomBytes(16), [], new Uint8Array(3))).toThrow(RangeError);
    expect(() => aead.seal(AEAD_AES_128_GCM_SIV, key, randomBytes(12), [new Uint8Array(1), new Uint8Array(1)], new Uint8Array(3))).toThrow(RangeError);
    const ok = aead.seal(AEAD_AES_128_GCM_SIV, key, Buffer.alloc(12), [], new Uint8Array(3));
    expect(aead.open(AEAD_AES_128_GCM_SIV, key, Buffer.alloc(11), [], ok)).toBeNull();
    expect(aead.open(AEAD_AES_128_GCM_SIV, key, null, [], ok)).toBeNull();
  });

  it("open never throws on short, oversized or garbage ciphertext", () => {
    for (const alg of [...SIVS, ...GCM_SIVS]) {
      const key = randomBytes(aead.keyLength(alg));
      const nonce = randomBytes(12);
      for (const len of [0, 1, 15, 16, 17, 64, 70000]) {
        expect(aead.open(alg, key, nonce, [randomBytes(5)], randomBytes(len))).toBeNull();
      }
    }
  });

  it("SIV accepts up to 126 AD components, not 127", () => {
    const key = randomBytes(32);
    const many = Array.from({ length: 126 }, () => randomBytes(3));
    const pt = randomBytes(5);
    const sealed = aead.seal(AEAD_AES_SIV_CMAC_256, key, null, many, pt);
    expect(toHex(sealed)).toBe(toHex(new NodeSiv(key).seal(null, many, pt)));
    expect(toHex(aead.open(AEAD_AES_SIV_CMAC_256, key, null, many, sealed)!)).toBe(toHex(pt));
    expect(() => aead.seal(AEAD_AES_SIV_CMAC_256, key, null, [...many, randomBytes(1)], randomBytes(5))).toThrow(RangeError);
  });

  it("a nonce is a component: null nonce and empty nonce give different outputs", () => {
    const key = randomBytes(32), pt = randomBytes(20);
    const a = aead.seal(AEAD_AES_SIV_CMAC_256, key, null, [], pt);
    const b = aead.seal(AEAD_AES_SIV_CMAC_256, key, new Uint8Array(0), [], pt);
    expect(toHex(a)).not.toBe(toHex(b));
  });
});
