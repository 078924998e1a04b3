// Helpers for the NTS server tests: a kernel with an attached NTS state on a fresh WASM instance, and
// an independent client-side builder/reader of NTS packets (RFC 8915 §5.6) over the AEAD façade.
import { randomBytes } from "node:crypto";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createServerKernel, type ServerKernel } from "../../ts/core/server.js";
import { createAead, type Aead } from "../../ts/core/aead.js";
import { createNtsServerCore, type MasterKey, type NtsServerCore } from "../../ts/core/nts-server.js";
import type { ServerPolicyOptions } from "../../ts/protocol/server-policy.js";
import type { WasmInstance } from "../../ts/core/instance.js";
import { request, SECOND, T0 } from "../server/support.js";

export { SECOND, T0 };

export const EF_UID = 0x0104;
export const EF_COOKIE = 0x0204;
export const EF_PLACEHOLDER = 0x0304;
export const EF_AUTH = 0x0404;

export interface Setup {
  wasm: WasmInstance;
  kernel: ServerKernel;
  nts: NtsServerCore;
  aead: Aead;
  keys: MasterKey[];
}

export function masterKey(id: number): MasterKey {
  return { id, key: new Uint8Array(randomBytes(32)) };
}

export async function newNtsKernel(options: ServerPolicyOptions = {}, keys: MasterKey[] = [masterKey(7)], maxKeys = 8, poolBatch?: number): Promise<Setup> {
  const { wasm } = await loadFreshCore();
  const kernel = createServerKernel(wasm, options);
  const nts = createNtsServerCore(wasm, { maxKeys, batchSize: poolBatch ?? kernel.slots });
  nts.setKeys(keys, keys[keys.length - 1]!.id);
  nts.attach(kernel);
  const aead = createAead(wasm);
  return { wasm, kernel, nts, aead, keys };
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** One extension field: type, length (header + body padded to 4 bytes, at least `min`). */
export function ef(type: number, body: Uint8Array, min = 16): Uint8Array {
  const length = Math.max(min, 4 + pad4(body.length));
  const out = new Uint8Array(length);
  const v = new DataView(out.buffer);
  v.setUint16(0, type);
  v.setUint16(2, length);
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

export interface ClientSession {
  algorithm: number;
  c2s: Uint8Array;
  s2c: Uint8Array;
}

export function session(aead: Aead, algorithm = 15): ClientSession {
  const k = aead.keyLength(algorithm);
  return { algorithm, c2s: new Uint8Array(randomBytes(k)), s2c: new Uint8Array(randomBytes(k)) };
}

export interface NtsRequestOptions {
  uid?: Uint8Array;
  placeholders?: number;
  /** Placeholders inside the encrypted part. */
  encryptedPlaceholders?: number;
  placeholderLength?: number;
  nonceLength?: number;
  /** Extra bytes appended after the authenticator. */
  trailer?: Uint8Array;
  /** Fields before the cookie (authenticated, not encrypted). */
  extra?: Uint8Array[];
  transmit?: bigint;
  key?: Uint8Array;
}

/** An NTS request as a client builds it (RFC 8915 §5.7): UID, cookie, placeholders, authenticator last. */
export function ntsRequest(aead: Aead, s: ClientSession, cookie: Uint8Array, o: NtsRequestOptions = {}): { packet: Uint8Array; uid: Uint8Array } {
  const uid = o.uid ?? new Uint8Array(randomBytes(32));
  const header = request({ transmit: o.transmit ?? T0 });
  const cookieEf = ef(EF_COOKIE, cookie);
  const placeholderBody = new Uint8Array(o.placeholderLength ?? cookie.length);
  const placeholders = Array.from({ length: o.placeholders ?? 0 }, () => ef(EF_PLACEHOLDER, placeholderBody));
  const ad = concat(header, ef(EF_UID, uid), ...(o.extra ?? []), cookieEf, ...placeholders);
  const plain = concat(...Array.from({ length: o.encryptedPlaceholders ?? 0 }, () => ef(EF_PLACEHOLDER, placeholderBody, 4)));
  const nonceLength = o.nonceLength ?? (s.algorithm >= 30 ? 12 : 16);
  const nonce = new Uint8Array(randomBytes(nonceLength));
  const ct = aead.seal(s.algorithm, o.key ?? s.c2s, nonce, [ad], plain);
  const body = new Uint8Array(4 + pad4(nonceLength) + pad4(ct.length) + Math.max(0, 16 - pad4(nonceLength)));
  const v = new DataView(body.buffer);
  v.setUint16(0, nonceLength);
  v.setUint16(2, ct.length);
  body.set(nonce, 4);
  body.set(ct, 4 + pad4(nonceLength));
  const auth = ef(EF_AUTH, body, 28);
  return { packet: concat(ad, auth, o.trailer ?? new Uint8Array(0)), uid };
}

export interface ParsedField { type: number; at: number; length: number; body: Uint8Array }

/** Walks extension fields after the 48-byte header (lengths checked). */
export function fieldsOf(packet: Uint8Array, from = 48, minLength = 16): ParsedField[] {
  const out: ParsedField[] = [];
  const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  for (let at = from; at + 4 <= packet.length;) {
    const type = v.getUint16(at), length = v.getUint16(at + 2);
    if (length < minLength || length % 4 !== 0 || at + length > packet.length) throw new Error(`bad field at ${at}`);
    out.push({ type, at, length, body: packet.subarray(at + 4, at + length) });
    at += length;
  }
  return out;
}

/** Verifies and decrypts a server response as a client would: the cookies it carries, or null. */
export function openResponse(aead: Aead, s: ClientSession, response: Uint8Array, uid: Uint8Array): Uint8Array[] | null {
  const fields = fieldsOf(response);
  const uidField = fields.find((f) => f.type === EF_UID);
  if (!uidField || Buffer.compare(uidField.body, uid) !== 0) return null;
  const auth = fields[fields.length - 1]!;
  if (auth.type !== EF_AUTH) return null;
  const v = new DataView(auth.body.buffer, auth.body.byteOffset, auth.body.byteLength);
  const nonceLength = v.getUint16(0), ctLength = v.getUint16(2);
  const nonce = auth.body.subarray(4, 4 + nonceLength);
  const ct = auth.body.subarray(4 + pad4(nonceLength), 4 + pad4(nonceLength) + ctLength);
  const plain = aead.open(s.algorithm, s.s2c, nonce, [response.subarray(0, auth.at)], ct);
  if (plain === null) return null;
  return fieldsOf(plain, 0, 4).filter((f) => f.type === EF_COOKIE).map((f) => f.body.slice());
}

export function kissCode(response: Uint8Array): string {
  return String.fromCharCode(...response.subarray(12, 16));
}

export const CLIENT = "192.0.2.10";
