// Baseline for bench/aead.ts: the same AEAD compositions in plain JS on top of node:crypto's
// AES (OpenSSL, AES-NI where the CPU has it). Node has no SIV and no GCM-SIV, so this is what a
// server would otherwise write: CMAC as AES-CBC-MAC with the RFC 4493 last-block tweak, CTR from
// OpenSSL's aes-*-ctr, POLYVAL in JS with 4-bit tables built per message (GCM-SIV derives a new POLYVAL key each time).
// Not constant time in its JS parts (POLYVAL indexes tables with data); it is a speed yardstick, and the
// tests use it as an independent cross-check of the WASM kernels.
import { createCipheriv } from "node:crypto";

const ZERO16 = Buffer.alloc(16);

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

/**
 * AES-CMAC with precomputed subkeys. Short messages (≤ 3 blocks) chain through a persistent
 * OpenSSL ECB context, one update() per block; longer ones take one AES-CBC call over the tweaked
 * message (a fresh cipher context, since Node cannot reset a CBC IV). Measured as the faster mix.
 */
export class NodeCmac {
  private readonly cbc: string;
  private readonly ecb: ReturnType<typeof createCipheriv>;
  private readonly k1: Buffer;
  private readonly k2: Buffer;
  constructor(private readonly key: Uint8Array) {
    this.cbc = `aes-${key.length * 8}-cbc`;
    this.ecb = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    this.ecb.setAutoPadding(false);
    this.k1 = dbl(this.ecb.update(ZERO16));
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
    if (n <= 3) {
      let x = this.ecb.update(m.subarray(0, 16));
      for (let b = 1; b < n; b++) x = this.ecb.update(xor16(x, m.subarray(b * 16, b * 16 + 16)));
      return x;
    }
    const c = createCipheriv(this.cbc, this.key, ZERO16);
    c.setAutoPadding(false);
    return c.update(m).subarray(-16);
  }
}

/** Encrypts counter blocks built in JS through a persistent ECB context (no per-message key setup). */
function ctrWithEcb(ecb: ReturnType<typeof createCipheriv>, first: Uint8Array, data: Uint8Array, littleEndian: boolean): Buffer {
  const blocks = Math.ceil(data.length / 16);
  const counters = Buffer.alloc(blocks * 16);
  const base = littleEndian ? Buffer.from(first).readUInt32LE(0) : Buffer.from(first).readUInt32BE(12);
  for (let i = 0; i < blocks; i++) {
    counters.set(first, i * 16);
    if (littleEndian) counters.writeUInt32LE((base + i) >>> 0, i * 16);
    else counters.writeUInt32BE((base + i) >>> 0, i * 16 + 12);
  }
  const ks = ecb.update(counters);
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ ks[i]!;
  return out;
}

/** AES-SIV (RFC 5297) keyed once; `nonce` null = deterministic form. Output V || C. */
export class NodeSiv {
  private readonly cmac: NodeCmac;
  private readonly ctrEcb: ReturnType<typeof createCipheriv>;
  private readonly d0: Buffer;
  constructor(key: Uint8Array) {
    const half = key.length / 2;
    this.cmac = new NodeCmac(key.subarray(0, half));
    this.ctrEcb = createCipheriv(`aes-${half * 8}-ecb`, key.subarray(half), null);
    this.ctrEcb.setAutoPadding(false);
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
    // The cleared bits keep the 128-bit increment inside the last 32-bit word (RFC 5297 §2.5).
    return ctrWithEcb(this.ctrEcb, q, data, false);
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

/** b · x mod P, with x^128 ≡ x^127 + x^126 + x^121 + 1. */
function mulX(b: Limbs): Limbs {
  const carry = b[3] >>> 31;
  return [
    ((b[0] << 1) ^ carry) >>> 0,
    ((b[1] << 1) | (b[0] >>> 31)) >>> 0,
    ((b[2] << 1) | (b[1] >>> 31)) >>> 0,
    (((b[3] << 1) | (b[2] >>> 31)) ^ (carry ? 0xc2000000 : 0)) >>> 0,
  ];
}

/** REDUCE4[t] = t(x) · x^128 mod P for the 4 bits shifted out of a nibble step. */
const REDUCE4: Limbs[] = Array.from({ length: 16 }, (_, t) => {
  let r: Limbs = [0, 0, 0, 0];
  let p: Limbs = [0x00000001, 0, 0, 0xc2000000]; // x^128 mod P
  for (let bit = 0; bit < 4; bit++) {
    if ((t >> bit) & 1) r = [r[0] ^ p[0], r[1] ^ p[1], r[2] ^ p[2], r[3] ^ p[3]];
    p = mulX(p);
  }
  return r;
});

/**
 * Multiplier for one key H' (Shoup's 4-bit method): T[n] = n(x) · H'; a · H' by Horner over the
 * 32 nibbles of a, top first: r = r · x^4 + T[nibble]. 16 table entries are cheap to build, which
 * matters because GCM-SIV derives a new POLYVAL key for every message.
 */
class NibbleMultiplier {
  private readonly t: Uint32Array = new Uint32Array(64);
  constructor(h: Limbs) {
    const pow: Limbs[] = [h, mulX(h), mulX(mulX(h)), mulX(mulX(mulX(h)))];
    for (let n = 1; n < 16; n++) {
      for (let bit = 0; bit < 4; bit++) {
        if ((n >> bit) & 1) for (let w = 0; w < 4; w++) this.t[n * 4 + w]! ^= pow[bit]![w]!;
      }
    }
  }
  mul(a: Limbs): Limbs {
    let r0 = 0, r1 = 0, r2 = 0, r3 = 0;
    for (let j = 31; j >= 0; j--) {
      const top = r3 >>> 28;
      r3 = ((r3 << 4) | (r2 >>> 28)) >>> 0;
      r2 = ((r2 << 4) | (r1 >>> 28)) >>> 0;
      r1 = ((r1 << 4) | (r0 >>> 28)) >>> 0;
      r0 = (r0 << 4) >>> 0;
      const red = REDUCE4[top]!;
      const n = ((a[j >> 3]! >>> ((j & 7) * 4)) & 15) * 4;
      r0 ^= red[0] ^ this.t[n]!;
      r1 ^= red[1] ^ this.t[n + 1]!;
      r2 ^= red[2] ^ this.t[n + 2]!;
      r3 ^= red[3] ^ this.t[n + 3]!;
    }
    return [r0 >>> 0, r1 >>> 0, r2 >>> 0, r3 >>> 0];
  }
}

/** Multiplier by x^-128 mod P = x^127 + x^124 + x^121 + x^114 + 1, so that dot(a, h) = a · (h · x^-128). */
const BY_X_INV128 = new NibbleMultiplier([1, 0, 0, 0x92040000]);

/** AES-GCM-SIV (RFC 8452) keyed once. Output C || tag. */
export class NodeGcmSiv {
  private readonly kgk: ReturnType<typeof createCipheriv>;
  constructor(private readonly key: Uint8Array) {
    this.kgk = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    this.kgk.setAutoPadding(false);
  }
  private derive(nonce: Uint8Array): { h: NibbleMultiplier; enc: ReturnType<typeof createCipheriv> } {
    const blocks = this.key.length === 32 ? 6 : 4;
    const input = Buffer.alloc(blocks * 16);
    for (let i = 0; i < blocks; i++) { input.writeUInt32LE(i, i * 16); input.set(nonce, i * 16 + 4); }
    const out = this.kgk.update(input);
    const pick = (i: number) => out.subarray(i * 16, i * 16 + 8);
    const auth = Buffer.concat([pick(0), pick(1)]);
    const encKey = Buffer.concat(Array.from({ length: blocks - 2 }, (_, i) => pick(i + 2)));
    const enc = createCipheriv(`aes-${encKey.length * 8}-ecb`, encKey, null);
    enc.setAutoPadding(false);
    return { h: new NibbleMultiplier(BY_X_INV128.mul(limbs(auth))), enc };
  }
  private tag(h: NibbleMultiplier, enc: ReturnType<typeof createCipheriv>, nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array): Buffer {
    let s: Limbs = [0, 0, 0, 0];
    const absorb = (data: Uint8Array) => {
      const padded = Buffer.alloc(Math.ceil(data.length / 16) * 16);
      padded.set(data);
      for (let o = 0; o < padded.length; o += 16) {
        const x = limbs(padded, o);
        s = h.mul([s[0] ^ x[0], s[1] ^ x[1], s[2] ^ x[2], s[3] ^ x[3]]);
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
    return enc.update(block);
  }
  /** CTR with a 32-bit little-endian counter in the first word (wraps mod 2^32), RFC 8452 §4. */
  private ctr(enc: ReturnType<typeof createCipheriv>, tag: Uint8Array, data: Uint8Array): Buffer {
    const first = Buffer.from(tag);
    first[15]! |= 0x80;
    return ctrWithEcb(enc, first, data, true);
  }
  seal(nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array): Buffer {
    const { h, enc } = this.derive(nonce);
    const tag = this.tag(h, enc, nonce, ad, pt);
    return Buffer.concat([this.ctr(enc, tag, pt), tag]);
  }
  open(nonce: Uint8Array, ad: Uint8Array, ct: Uint8Array): Buffer | null {
    if (ct.length < 16 || nonce.length !== 12) return null;
    const { h, enc } = this.derive(nonce);
    const tag = ct.subarray(ct.length - 16);
    const pt = this.ctr(enc, tag, ct.subarray(0, ct.length - 16));
    return Buffer.compare(this.tag(h, enc, nonce, ad, pt), tag) === 0 ? pt : null;
  }
}
