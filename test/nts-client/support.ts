// Test helpers for the NTS client: one WASM instance (core + AEAD façade) per test file, and a
// scripted NTS server response built the RFC 8915 §5.7 way (UID echoed, cookies encrypted under
// s2c in the Authenticator). The real server lives in the WASM server kernel; this scripted one
// only lets client tests choose exactly what comes back (wrong keys, NAKs, trailing EFs).
import { createAead, type Aead } from "../../ts/core/aead.js";
import type { NtpHeader, TockCore } from "../../ts/core/api.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { EF_NTS_AUTHENTICATOR, EF_NTS_COOKIE, EF_UNIQUE_IDENTIFIER } from "../../ts/protocol/nts-client.js";

export async function loadCoreAndAead(): Promise<{ core: TockCore; aead: Aead }> {
  const { core, wasm } = await loadFreshCore();
  return { core, aead: createAead(wasm) };
}

export { hex, toHex } from "../hex.js";
const pad4 = (n: number) => (n + 3) & ~3;

export function ef(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + pad4(body.length));
  out[0] = type >> 8;
  out[1] = type & 0xff;
  out[2] = out.length >> 8;
  out[3] = out.length & 0xff;
  out.set(body, 4);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The extension fields of a packet after the header: [type, body] in order (test-side walk). */
export function fields(packet: Uint8Array): Array<{ type: number; offset: number; body: Uint8Array }> {
  const out = [];
  for (let at = 48; at + 4 <= packet.length;) {
    const type = (packet[at]! << 8) | packet[at + 1]!;
    const length = (packet[at + 2]! << 8) | packet[at + 3]!;
    if (length < 4) break;
    out.push({ type, offset: at, body: packet.subarray(at + 4, at + length) });
    at += length;
  }
  return out;
}

export interface ScriptedResponse {
  aead: Aead;
  algorithm: number;
  s2c: Uint8Array;
  cookies: Uint8Array[];
  header?: Partial<NtpHeader>;
  /** Override the echoed unique identifier. */
  uniqueId?: Uint8Array;
  /** EFs appended after the Authenticator (unauthenticated). */
  trailing?: Uint8Array;
  nonce?: Uint8Array;
}

/** An NTS-protected mode-4 response to `request` (UID echoed, cookies sealed under s2c). */
export function ntsResponse(core: TockCore, request: Uint8Array, r: ScriptedResponse): Uint8Array {
  const req = core.parsePacket(request).header!;
  const uid = r.uniqueId ?? fields(request).find((f) => f.type === EF_UNIQUE_IDENTIFIER)!.body;
  const header = core.buildHeader({
    leap: 0, version: 4, mode: 4, stratum: 2, poll: 4, precision: -20,
    rootDelay: 0.001, rootDispersion: 0.001, referenceId: 0x7f000001,
    referenceTime: req.transmitTime, originTime: req.transmitTime,
    receiveTime: 0xe0000000_00000000n, transmitTime: 0xe0000000_00001000n,
    ...r.header,
  });
  const ad = concat(header, ef(EF_UNIQUE_IDENTIFIER, uid));
  const nonce = r.nonce ?? new Uint8Array(r.algorithm >= 30 ? 12 : 16).fill(7);
  const plaintext = concat(...r.cookies.map((c) => ef(EF_NTS_COOKIE, c)));
  const ciphertext = r.aead.seal(r.algorithm, r.s2c, nonce, [ad], plaintext);
  const body = new Uint8Array(4 + pad4(nonce.length) + pad4(ciphertext.length));
  body[0] = nonce.length >> 8; body[1] = nonce.length & 0xff;
  body[2] = ciphertext.length >> 8; body[3] = ciphertext.length & 0xff;
  body.set(nonce, 4);
  body.set(ciphertext, 4 + pad4(nonce.length));
  return concat(ad, ef(EF_NTS_AUTHENTICATOR, body), r.trailing ?? new Uint8Array(0));
}
