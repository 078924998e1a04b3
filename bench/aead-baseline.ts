// Baseline for bench/aead.ts: the same AEAD compositions in plain JS on top of node:crypto's
// AES (OpenSSL, AES-NI where the CPU has it). Node has no SIV and no GCM-SIV, so this is what a
// server would otherwise write: CMAC as AES-CBC-MAC with the RFC 4493 last-block tweak, CTR from
// OpenSSL's aes-*-ctr, POLYVAL bit-serially in JS (the per-message key of GCM-SIV rules out tables).
// Not constant time in its JS parts (POLYVAL branches on bits); it is a speed yardstick, and the
// tests use it as an independent cross-check of the WASM kernels.
import { createCipheriv } from "node:crypto";

const ZERO16 = Buffer.alloc(16);

function aesEcb(key: Uint8Array, data: Uint8Array): Buffer {
  const c = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
  c.setAutoPadding(false);
  return c.update(data);
}

/** Multiply by x in GF(2^128), big-endian bit order (RFC 4493 / RFC 5297 dbl). */
function dbl(b: Uint8Array): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 15; i++) out[i] = ((b[i]! << 1) | (b[i + 1]! >> 7)) & 0xff;
  out[15] = ((b[15]! << 1) & 0xff) ^ (b[0]! & 0x80 ? 0x87 : 0);
  return out;
}

function xor16(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** AES-CMAC with precomputed subkeys: one OpenSSL CBC call over the tweaked message. */
export class NodeCmac {
  private readonly cbc: string;
  private readonly k1: Buffer;
  private readonly k2: Buffer;
  constructor(private readonly key: Uint8Array) {
    this.cbc = `aes-${key.length * 8}-cbc`;
    this.k1 = dbl(aesEcb(key, ZERO16));
    this.k2 = dbl(this.k1);
  }
  /** CMAC(msg) where the last 16 bytes are first XORed with `tail` (S2V's xorend), if given. */
  mac(msg: Uint8Array, tail?: Uint8Array): Buffer {
    const n = msg.length === 0 ? 1 : Math.ceil(msg.length / 16);
    const full = msg.length > 0 && msg.length % 16 === 0;
    const m = Buffer.alloc(n * 16);
    m.set(msg);
    if (tail) for (let i = 0; i < 16; i++) m[msg.length - 16 + i]! ^= tail[i]!;
    if (!full) m[msg.length] = 0x80;
    const k = full ? this.k1 : this.k2;
    for (let i = 0; i < 16; i++) m[(n - 1) * 16 + i]! ^= k[i]!;
    const c = createCipheriv(this.cbc, this.key, ZERO16);
    c.setAutoPadding(false);
    return c.update(m).subarray(-16);
  }
}

/** AES-SIV (RFC 5297) keyed once; `nonce` null = deterministic form. Output V || C. */
export class NodeSiv {
  private readonly cmac: NodeCmac;
  private readonly ctrKey: Uint8Array;
  private readonly ctrAlg: string;
  private readonly d0: Buffer;
  constructor(key: Uint8Array) {
    const half = key.length / 2;
    this.cmac = new NodeCmac(key.subarray(0, half));
    this.ctrKey = key.subarray(half);
    this.ctrAlg = `aes-${half * 8}-ctr`;
    this.d0 = this.cmac.mac(ZERO16);
  }
  private s2v(components: readonly Uint8Array[], last: Uint8Array): Buffer {
    let d = this.d0;
    for (const c of components) d = xor16(dbl(d), this.cmac.mac(c));
    if (last.length >= 16) return this.cmac.mac(last, d);
    const t = Buffer.alloc(16);
    t.set(last);
    t[last.length] = 0x80;
    return this.cmac.mac(xor16(dbl(d), t));
  }
  private ctr(v: Uint8Array, data: Uint8Array): Buffer {
    const q = Buffer.from(v);
    q[8]! &= 0x7f;
    q[12]! &= 0x7f;
    return createCipheriv(this.ctrAlg, this.ctrKey, q).update(data);
  }
  seal(nonce: Uint8Array | null, ad: readonly Uint8Array[], pt: Uint8Array): Buffer {
    const v = this.s2v(nonce ? [...ad, nonce] : ad, pt);
    return Buffer.concat([v, this.ctr(v, pt)]);
  }
  open(nonce: Uint8Array | null, ad: readonly Uint8Array[], ct: Uint8Array): Buffer | null {
    if (ct.length < 16) return null;
    const v = ct.subarray(0, 16);
    const pt = this.ctr(v, ct.subarray(16));
    const check = this.s2v(nonce ? [...ad, nonce] : ad, pt);
    return Buffer.compare(check, v) === 0 ? pt : null;
  }
}

/** POLYVAL state as four little-endian 32-bit limbs. */
type Limbs = [number, number, number, number];
const limbs = (b: Uint8Array, o = 0): Limbs => {
  const v = new DataView(b.buffer, b.byteOffset + o, 16);
  return [v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)];
};

/** a · b mod (x^128 + x^127 + x^126 + x^121 + 1), shift-and-add. */
function gfMul(a: Limbs, b: Limbs): Limbs {
  let [b0, b1, b2, b3] = b;
  let r0 = 0, r1 = 0, r2 = 0, r3 = 0;
  for (let i = 0; i < 128; i++) {
    if ((a[i >> 5]! >>> (i & 31)) & 1) { r0 ^= b0; r1 ^= b1; r2 ^= b2; r3 ^= b3; }
    const carry = b3 >>> 31;
    b3 = ((b3 << 1) | (b2 >>> 31)) >>> 0;
    b2 = ((b2 << 1) | (b1 >>> 31)) >>> 0;
    b1 = ((b1 << 1) | (b0 >>> 31)) >>> 0;
    b0 = (b0 << 1) >>> 0;
    if (carry) { b0 ^= 1; b3 ^= 0xc2000000; } // x^128 = x^127 + x^126 + x^121 + 1
  }
  return [r0 >>> 0, r1 >>> 0, r2 >>> 0, r3 >>> 0];
}

/** x^-128 mod P, so that dot(a, h) = a · (h · x^-128). x^-128 = x^127 + x^124 + x^121 + x^114 + 1. */
const X_INV128: Limbs = [1, 0, 0, 0x92040000];

/** AES-GCM-SIV (RFC 8452) keyed once. Output C || tag. */
export class NodeGcmSiv {
  private readonly ecb: string;
  private readonly ctrAlg: string;
  constructor(private readonly key: Uint8Array) {
    this.ecb = `aes-${key.length * 8}-ecb`;
    this.ctrAlg = `aes-${key.length * 8}-ctr`;
  }
  private derive(nonce: Uint8Array): { h: Limbs; encKey: Buffer } {
    const blocks = this.key.length === 32 ? 6 : 4;
    const input = Buffer.alloc(blocks * 16);
    for (let i = 0; i < blocks; i++) { input.writeUInt32LE(i, i * 16); input.set(nonce, i * 16 + 4); }
    const c = createCipheriv(this.ecb, this.key, null);
    c.setAutoPadding(false);
    const out = c.update(input);
    const pick = (i: number) => out.subarray(i * 16, i * 16 + 8);
    const auth = Buffer.concat([pick(0), pick(1)]);
    const encKey = Buffer.concat(Array.from({ length: blocks - 2 }, (_, i) => pick(i + 2)));
    return { h: gfMul(limbs(auth), X_INV128), encKey };
  }
  private tag(h: Limbs, encKey: Buffer, nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array): Buffer {
    let s: Limbs = [0, 0, 0, 0];
    const absorb = (data: Uint8Array) => {
      const padded = Buffer.alloc(Math.ceil(data.length / 16) * 16);
      padded.set(data);
      for (let o = 0; o < padded.length; o += 16) {
        const x = limbs(padded, o);
        s = gfMul([s[0] ^ x[0], s[1] ^ x[1], s[2] ^ x[2], s[3] ^ x[3]], h);
      }
    };
    absorb(ad);
    absorb(pt);
    const lengths = Buffer.alloc(16);
    lengths.writeBigUInt64LE(BigInt(ad.length) * 8n, 0);
    lengths.writeBigUInt64LE(BigInt(pt.length) * 8n, 8);
    absorb(lengths);
    const block = Buffer.alloc(16);
    s.forEach((w, i) => block.writeUInt32LE(w >>> 0, i * 4));
    for (let i = 0; i < 12; i++) block[i]! ^= nonce[i]!;
    block[15]! &= 0x7f;
    return aesEcb(encKey, block);
  }
  /** CTR with a 32-bit little-endian counter in the first word (wraps mod 2^32). */
  private ctr(encKey: Buffer, tag: Uint8Array, data: Uint8Array): Buffer {
    const blocks = Math.ceil(data.length / 16);
    const counters = Buffer.alloc(blocks * 16);
    const first = Buffer.from(tag);
    first[15]! |= 0x80;
    const base = first.readUInt32LE(0);
    for (let i = 0; i < blocks; i++) {
      counters.set(first, i * 16);
      counters.writeUInt32LE((base + i) >>> 0, i * 16);
    }
    const ks = aesEcb(encKey, counters);
    const out = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ ks[i]!;
    return out;
  }
  seal(nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array): Buffer {
    const { h, encKey } = this.derive(nonce);
    const tag = this.tag(h, encKey, nonce, ad, pt);
    return Buffer.concat([this.ctr(encKey, tag, pt), tag]);
  }
  open(nonce: Uint8Array, ad: Uint8Array, ct: Uint8Array): Buffer | null {
    if (ct.length < 16 || nonce.length !== 12) return null;
    const { h, encKey } = this.derive(nonce);
    const tag = ct.subarray(ct.length - 16);
    const pt = this.ctr(encKey, tag, ct.subarray(0, ct.length - 16));
    return Buffer.compare(this.tag(h, encKey, nonce, ad, pt), tag) === 0 ? pt : null;
  }
}
