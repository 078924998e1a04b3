// NTS client requests for the NTS benches (bench/nts-kernel.ts, bench/nts-server.ts), built the
// RFC 8915 §5.7 way: header, Unique Identifier, NTS Cookie, `placeholders` Cookie Placeholders, and
// an NTS Authenticator whose SIV seal (c2s) covers all that came before it as associated data.
import { randomBytes } from "node:crypto";
import type { Aead } from "../ts/core/aead.js";

export const pad4 = (n: number): number => (n + 3) & ~3;

/** One extension field (RFC 7822): type, length, body padded to a 4-byte boundary. */
export function extensionField(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + pad4(body.length));
  new DataView(out.buffer).setUint16(0, type);
  new DataView(out.buffer).setUint16(2, out.length);
  out.set(body, 4);
  return out;
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** A 48-byte NTPv4 client header (mode 3), all other fields zero. */
export function clientHeader(): Uint8Array {
  const header = new Uint8Array(48);
  header[0] = (4 << 3) | 3;
  return header;
}

/** The NTS request of `header` sealed with `c2s` under AEAD `alg` (15/16/17: SIV, 30: GCM-SIV). */
export function sealedNtsRequest(aead: Aead, alg: number, c2s: Uint8Array, cookie: Uint8Array, placeholders: number, header: Uint8Array): Uint8Array {
  const ad = concatBytes([
    header,
    extensionField(0x0104, randomBytes(32)),
    extensionField(0x0204, cookie),
    ...Array.from({ length: placeholders }, () => extensionField(0x0304, new Uint8Array(cookie.length))),
  ]);
  const nonce = randomBytes(alg >= 30 ? 12 : 16);
  const ct = aead.seal(alg, c2s, nonce, [ad], new Uint8Array(0));
  // Nonce and ciphertext each padded; the field is at least 16 octets of body beyond its lengths (§5.6).
  const body = new Uint8Array(4 + pad4(nonce.length) + pad4(ct.length) + (16 - pad4(nonce.length)));
  new DataView(body.buffer).setUint16(0, nonce.length);
  new DataView(body.buffer).setUint16(2, ct.length);
  body.set(nonce, 4);
  body.set(ct, 4 + pad4(nonce.length));
  return concatBytes([ad, extensionField(0x0404, body)]);
}
