// NTS-protected NTP, client side (RFC 8915 §5): the ntpd-rs captured exchange (AES-SIV-CMAC-512,
// keys known) is reproduced byte for byte by the request builder and accepted by the verifier;
// flipped bits, wrong keys, foreign unique ids, unauthenticated fields and forged NAKs are not.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Aead } from "../../ts/core/aead.js";
import type { TockCore } from "../../ts/core/api.js";
import { buildClientRequest } from "../../ts/protocol/client-exchange.js";
import {
  CookieJar,
  EF_NTS_COOKIE,
  EF_NTS_COOKIE_PLACEHOLDER,
  EF_UNIQUE_IDENTIFIER,
  NtsAssociation,
  aeadKeyLength,
  aeadNonceLength,
  buildNtsRequest,
  encryptedCookies,
  keRetryIntervalSeconds,
  verifyNtsResponse,
  type NtsOutstanding,
  type NtsSession,
} from "../../ts/protocol/nts-client.js";
import { ntsExporterContext as exporterContext } from "../../ts/protocol/nts-ke-records.js";
import { concat, ef, fields, hex, loadCoreAndAead, ntsResponse, toHex } from "./support.js";

interface Capture {
  c2s_key_hex: string;
  s2c_key_hex: string;
  request: { packet_hex: string; extension_fields: Array<{ type_hex: string; value_hex: string; nonce_hex?: string }> };
  response: { packet_hex: string; decrypted_plaintext_hex: string };
}
const capture = JSON.parse(
  readFileSync("/work/shared/reference/vectors/nts/ntpd-rs_captured_exchange_aes-siv-cmac-512.json", "utf8"),
) as Capture;
const request = hex(capture.request.packet_hex);
const response = hex(capture.response.packet_hex);
const uid = hex(capture.request.extension_fields.find((f) => f.type_hex === "0x0104")!.value_hex);
const cookie = hex(capture.request.extension_fields.find((f) => f.type_hex === "0x0204")!.value_hex);
const nonce = hex(capture.request.extension_fields.find((f) => f.type_hex === "0x0404")!.nonce_hex!);
const c2s = hex(capture.c2s_key_hex);
const s2c = hex(capture.s2c_key_hex);
const ORIGIN = 0x6287db473ff75f58n;

let core: TockCore;
let aead: Aead;
beforeAll(async () => ({ core, aead } = await loadCoreAndAead()));

function session(algorithm: number, jar: Uint8Array[], keys = { c2s, s2c }): NtsSession {
  return { aead: algorithm, ...keys, cookies: new CookieJar(jar), ntpServer: "127.0.0.1", ntpPort: 123 };
}
const outstanding: NtsOutstanding = { uniqueId: uid, originTime: ORIGIN, placeholders: 0 };

describe("ntpd-rs captured exchange (AEAD 17)", () => {
  it("the verifier accepts the response and extracts its encrypted cookie", () => {
    const s = session(17, []);
    expect(verifyNtsResponse(core, aead, s, outstanding, response)).toEqual({ kind: "authenticated", newCookies: 1 });
    expect(s.cookies.size).toBe(1);
    const expected = encryptedCookies(hex(capture.response.decrypted_plaintext_hex))!;
    expect(expected).toHaveLength(1);
    expect(toHex(s.cookies.take()!)).toBe(toHex(expected[0]!));
    expect(expected[0]!.length).toBe(168);
  });

  it("the request builder reproduces the captured request byte for byte (same UID, cookie, nonce, key)", () => {
    // Seven more cookies in the jar: after taking the captured one, 7 remain, so no placeholders
    // are needed (§5.7) — exactly what the captured request carries.
    const jar = [cookie, ...Array.from({ length: 7 }, () => new Uint8Array(168).fill(1))];
    const header = buildClientRequest(core, ORIGIN, 4);
    const built = buildNtsRequest(aead, session(17, jar), { header: header.bytes, originTime: header.nonce, uniqueId: uid, nonce });
    if (built.kind !== "request") throw new Error(built.reason);
    expect(toHex(built.bytes)).toBe(capture.request.packet_hex);
    expect(built.outstanding.placeholders).toBe(0);
  });

  it("every single flipped bit of the response is rejected, and no cookie is taken", () => {
    for (let bit = 0; bit < response.length * 8; bit++) {
      const bad = response.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const s = session(17, []);
      const outcome = verifyNtsResponse(core, aead, s, outstanding, bad);
      expect(outcome.kind, `bit ${bit}`).toBe("ignored");
      expect(s.cookies.size).toBe(0);
    }
  });

  it("the wrong key, a foreign unique id or another origin are rejected with their reason", () => {
    expect(verifyNtsResponse(core, aead, session(17, [], { c2s, s2c: c2s }), outstanding, response)).toEqual({ kind: "ignored", reason: "authentication-failed" });
    const otherUid = uid.slice();
    otherUid[0]! ^= 1;
    expect(verifyNtsResponse(core, aead, session(17, []), { ...outstanding, uniqueId: otherUid }, response)).toEqual({ kind: "ignored", reason: "unique-id-mismatch" });
    expect(verifyNtsResponse(core, aead, session(17, []), { ...outstanding, originTime: ORIGIN + 1n }, response)).toEqual({ kind: "ignored", reason: "origin-mismatch" });
    expect(verifyNtsResponse(core, aead, session(17, []), outstanding, request)).toEqual({ kind: "ignored", reason: "not-server-mode" });
  });
});

describe("squell/nts null-cipher response (parser only)", () => {
  it("UID, Authenticator and the inner cookie EF are found where squell's breakdown says", () => {
    const bytes = new Uint8Array(readFileSync("/work/shared/reference/vectors/nts/squell_nts-extfield_decrypted.bin"));
    // squell's fuzz build replaces AES-SIV by "tag ‖ plaintext"; a stand-in AEAD does the same, and
    // checks it is handed the nonce and the associated data the RFC prescribes (bytes [0, 84)).
    const seen: { nonce?: string; ad?: string } = {};
    const nullAead = {
      open: (_alg: number, _key: Uint8Array, nonce: Uint8Array | null, ad: readonly Uint8Array[], ct: Uint8Array) => {
        seen.nonce = toHex(nonce!);
        seen.ad = toHex(ad[0]!);
        return ct.slice(16);
      },
    } as unknown as Aead;
    const s = session(15, [], { c2s: new Uint8Array(32), s2c: new Uint8Array(32) });
    const uid = hex("afd675b861c00d639752c985787996047f5396c0cdf5a0f7b01b942e5c934697");
    const out = verifyNtsResponse(core, nullAead, s, { uniqueId: uid, originTime: 0xec0593a3c213c15fn, placeholders: 0 }, bytes);
    expect(out).toEqual({ kind: "authenticated", newCookies: 1 });
    expect(seen).toEqual({ nonce: "719a2345127e2a0932eac20ae6e5defa", ad: toHex(bytes.subarray(0, 84)) });
    const cookie = s.cookies.take()!;
    expect(cookie).toHaveLength(100);
    expect(toHex(cookie).startsWith("0b6585f8db0fea0b")).toBe(true);
  });
});

describe("Go NTS exchange of 2019 (structure only: no keys)", () => {
  it("the response is addressed to the request (origin, UID) and reaches the AEAD, where a guessed key fails", () => {
    const go = JSON.parse(readFileSync("/work/shared/reference/vectors/nts/go_embeded_ntske_tls13_decrypted.json", "utf8"));
    const req = hex(go.ntp_request.packet_hex);
    const res = hex(go.ntp_response.packet_hex);
    const goUid = hex(go.ntp_request.extension_fields[0].value_hex);
    const origin = BigInt(`0x${go.ntp_request.header.transmit_ts_hex}`);
    const s = session(15, [], { c2s: new Uint8Array(32), s2c: new Uint8Array(32) });
    expect(verifyNtsResponse(core, aead, s, { uniqueId: goUid, originTime: origin, placeholders: 0 }, res)).toEqual({ kind: "ignored", reason: "authentication-failed" });
    expect(verifyNtsResponse(core, aead, s, { uniqueId: uid, originTime: origin, placeholders: 0 }, res)).toEqual({ kind: "ignored", reason: "unique-id-mismatch" });
    expect(verifyNtsResponse(core, aead, s, { uniqueId: goUid, originTime: origin, placeholders: 0 }, req)).toEqual({ kind: "ignored", reason: "not-server-mode" });
  });
});

describe("request building and verification with every AEAD", () => {
  for (const algorithm of [15, 16, 17, 30, 31]) {
    it(`AEAD ${algorithm}: placeholders refill the jar to 8; the response's cookies land in it`, () => {
      const keys = { c2s: new Uint8Array(aeadKeyLength(algorithm)).fill(0x11), s2c: new Uint8Array(aeadKeyLength(algorithm)).fill(0x22) };
      const s = session(algorithm, [new Uint8Array(100).fill(0xc0)], keys);
      const header = buildClientRequest(core, 0x1234n, 0);
      const id = new Uint8Array(32).fill(5);
      const built = buildNtsRequest(aead, s, { header: header.bytes, originTime: header.nonce, uniqueId: id, nonce: new Uint8Array(aeadNonceLength(algorithm)).fill(9) });
      if (built.kind !== "request") throw new Error(built.reason);
      expect(s.cookies.size).toBe(0);
      const efs = fields(built.bytes);
      expect(efs.map((f) => f.type)).toEqual([0x0104, 0x0204, ...new Array(7).fill(0x0304), 0x0404]);
      expect(efs.filter((f) => f.type === EF_NTS_COOKIE_PLACEHOLDER).every((f) => f.body.length === 100 && f.body.every((b) => b === 0))).toBe(true);
      expect(core.parsePacket(built.bytes).result).toBe(0);
      // The authenticator opens under c2s (what a server does).
      const auth = efs.at(-1)!;
      const nonceLength = (auth.body[0]! << 8) | auth.body[1]!;
      const ctLength = (auth.body[2]! << 8) | auth.body[3]!;
      const n = auth.body.subarray(4, 4 + nonceLength);
      const ct = auth.body.subarray(4 + ((nonceLength + 3) & ~3), 4 + ((nonceLength + 3) & ~3) + ctLength);
      expect(aead.open(algorithm, keys.c2s, n, [built.bytes.subarray(0, auth.offset)], ct)).toEqual(new Uint8Array(0));

      const fresh = Array.from({ length: 8 }, (_, i) => new Uint8Array(100).fill(i + 1));
      const reply = ntsResponse(core, built.bytes, { aead, algorithm, s2c: keys.s2c, cookies: fresh });
      expect(reply.length).toBeLessThanOrEqual(built.bytes.length);
      expect(verifyNtsResponse(core, aead, s, built.outstanding, reply)).toEqual({ kind: "authenticated", newCookies: 8 });
      expect(s.cookies.size).toBe(8);
      expect(s.cookies.take()).toEqual(fresh[0]);
    });
  }

  it("cookies beyond placeholders + 1 are not taken; EFs after the Authenticator are ignored", () => {
    const jar = Array.from({ length: 8 }, () => new Uint8Array(64).fill(3));
    const s = session(15, jar, { c2s: new Uint8Array(32), s2c: new Uint8Array(32).fill(1) });
    const header = buildClientRequest(core, 99n, 0);
    const built = buildNtsRequest(aead, s, { header: header.bytes, originTime: header.nonce, uniqueId: new Uint8Array(32).fill(1), nonce: new Uint8Array(16) });
    if (built.kind !== "request") throw new Error("no request");
    expect(built.outstanding.placeholders).toBe(0);
    const trailing = ef(EF_NTS_COOKIE, new Uint8Array(64).fill(0xee));
    const reply = ntsResponse(core, built.bytes, { aead, algorithm: 15, s2c: s.s2c, cookies: [new Uint8Array(64).fill(0xaa), new Uint8Array(64).fill(0xbb)], trailing });
    expect(verifyNtsResponse(core, aead, s, built.outstanding, reply)).toEqual({ kind: "authenticated", newCookies: 1 });
    const all: Uint8Array[] = [];
    for (let c = s.cookies.take(); c !== undefined; c = s.cookies.take()) all.push(c);
    expect(all.some((c) => c[0] === 0xee || c[0] === 0xbb)).toBe(false);
  });

  it("large cookies: fewer placeholders so the request stays within 1280 bytes", () => {
    const s = session(15, [new Uint8Array(300).fill(1)], { c2s: new Uint8Array(32), s2c: new Uint8Array(32) });
    const header = buildClientRequest(core, 1n, 0);
    const built = buildNtsRequest(aead, s, { header: header.bytes, originTime: header.nonce, uniqueId: new Uint8Array(32), nonce: new Uint8Array(16) });
    if (built.kind !== "request") throw new Error("no request");
    expect(built.bytes.length).toBeLessThanOrEqual(1280);
    expect(built.outstanding.placeholders).toBe(2);
  });

  it("the jar refuses oversized cookies (from KE or NTP), so requests stay small", () => {
    const jar = new CookieJar([new Uint8Array(1025), new Uint8Array(1024), new Uint8Array(0)]);
    expect(jar.size).toBe(1);
    const s = session(15, [new Uint8Array(64)], { c2s: new Uint8Array(32), s2c: new Uint8Array(32).fill(4) });
    const header = buildClientRequest(core, 3n, 0);
    const built = buildNtsRequest(aead, s, { header: header.bytes, originTime: header.nonce, uniqueId: new Uint8Array(32), nonce: new Uint8Array(16) });
    if (built.kind !== "request") throw new Error("no request");
    const reply = ntsResponse(core, built.bytes, { aead, algorithm: 15, s2c: s.s2c, cookies: [new Uint8Array(1100), new Uint8Array(64)] });
    expect(verifyNtsResponse(core, aead, s, built.outstanding, reply)).toEqual({ kind: "authenticated", newCookies: 1 });
    expect(s.cookies.size).toBe(1);
  });

  it("an empty jar asks for a key exchange", () => {
    const header = buildClientRequest(core, 1n, 0);
    expect(buildNtsRequest(aead, session(15, []), { header: header.bytes, originTime: 1n, uniqueId: new Uint8Array(32), nonce: new Uint8Array(16) }))
      .toEqual({ kind: "need-key-exchange", reason: "no-cookies" });
  });

  it("exporter context is protocol 0 ‖ AEAD id ‖ direction (RFC 8915 §5.1)", () => {
    expect(toHex(exporterContext(15, "c2s"))).toBe("0000000f00");
    expect(toHex(exporterContext(15, "c2s"))).toHaveLength(10);
    expect(toHex(exporterContext(30, "s2c"))).toBe("0000001e01");
  });
});

describe("NTS-KE retry back-off (RFC 8915 §4.2)", () => {
  it("10 s, ×1.5 per retry, capped at 5 days", () => {
    expect([1, 2, 3, 4].map(keRetryIntervalSeconds)).toEqual([10, 15, 22.5, 33.75]);
    expect(keRetryIntervalSeconds(0)).toBe(10);
    expect(keRetryIntervalSeconds(40)).toBe(432_000);
    expect(keRetryIntervalSeconds(1e9)).toBe(432_000);
  });
});

describe("NTS NAK and the association", () => {
  function nak(req: Uint8Array, withUid: Uint8Array | null): Uint8Array {
    const parsedReq = core.parsePacket(req).header!;
    const header = core.buildHeader({
      leap: 3, version: 4, mode: 4, stratum: 0, poll: 4, precision: -20, rootDelay: 0, rootDispersion: 0,
      referenceId: 0x4e54534e, referenceTime: 0n, originTime: parsedReq.transmitTime, receiveTime: 0n, transmitTime: 0n,
    });
    return withUid === null ? header : concat(header, ef(EF_UNIQUE_IDENTIFIER, withUid));
  }

  it("a NAK with our unique id asks for a new KE; without it (or with another) it is ignored", () => {
    const association = new NtsAssociation();
    expect(association.needsKeyExchange).toBe("no-session");
    association.installSession(session(15, [new Uint8Array(64)], { c2s: new Uint8Array(32), s2c: new Uint8Array(32) }));
    expect(association.needsKeyExchange).toBe(null);
    const header = buildClientRequest(core, 77n, 0);
    const id = new Uint8Array(32).fill(0x42);
    const built = association.prepareRequest(aead, { header: header.bytes, originTime: header.nonce, uniqueId: id, nonce: new Uint8Array(16) });
    if (built.kind !== "request") throw new Error("no request");
    expect(association.handleResponse(core, aead, nak(built.bytes, null))).toEqual({ kind: "ignored", reason: "unauthenticated-kod" });
    expect(association.handleResponse(core, aead, nak(built.bytes, new Uint8Array(32)))).toEqual({ kind: "ignored", reason: "unauthenticated-kod" });
    expect(association.needsKeyExchange).toBe(null);
    expect(association.handleResponse(core, aead, nak(built.bytes, id))).toEqual({ kind: "nak" });
    expect(association.needsKeyExchange).toBe("nak");
    expect(association.prepareRequest(aead, { header: header.bytes, originTime: header.nonce, uniqueId: id, nonce: new Uint8Array(16) }))
      .toEqual({ kind: "need-key-exchange", reason: "nak" });
    // A new KE replaces everything (§5.7).
    association.installSession(session(15, [new Uint8Array(64)], { c2s: new Uint8Array(32), s2c: new Uint8Array(32) }));
    expect(association.needsKeyExchange).toBe(null);
  });

  it("a response is accepted once; a replay after that is unmatched; lost requests drain the jar", () => {
    const association = new NtsAssociation();
    const keys = { c2s: new Uint8Array(32).fill(1), s2c: new Uint8Array(32).fill(2) };
    association.installSession(session(15, [new Uint8Array(64)], keys));
    const header = buildClientRequest(core, 5n, 0);
    const built = association.prepareRequest(aead, { header: header.bytes, originTime: header.nonce, uniqueId: new Uint8Array(32).fill(3), nonce: new Uint8Array(16) });
    if (built.kind !== "request") throw new Error("no request");
    const reply = ntsResponse(core, built.bytes, { aead, algorithm: 15, s2c: keys.s2c, cookies: [new Uint8Array(64).fill(8)] });
    expect(association.handleResponse(core, aead, reply).kind).toBe("authenticated");
    expect(association.handleResponse(core, aead, reply).kind).toBe("ignored");
    expect(association.session!.cookies.size).toBe(1);
    const again = association.prepareRequest(aead, { header: header.bytes, originTime: header.nonce, uniqueId: new Uint8Array(32), nonce: new Uint8Array(16) });
    expect(again.kind).toBe("request");
    association.requestLost();
    expect(association.needsKeyExchange).toBe("no-cookies");
  });
});

describe("hostile responses never throw", () => {
  it("random bytes and mutations of a valid response are ignored (or, untouched, accepted)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const s = session(17, []);
        expect(verifyNtsResponse(core, aead, s, outstanding, bytes).kind).not.toBe("authenticated");
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(response.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(response.length), (edits, cut) => {
        const bad = response.slice(0, Math.max(cut, 48));
        for (const [at, value] of edits) if (at < bad.length) bad[at] = value;
        const same = toHex(bad) === toHex(response);
        const outcome = verifyNtsResponse(core, aead, session(17, []), outstanding, bad);
        expect(outcome.kind).toBe(same ? "authenticated" : "ignored");
      }),
      { numRuns: 1000 },
    );
  });

  it("malformed inner EFs in an authentic plaintext are rejected", () => {
    expect(encryptedCookies(Uint8Array.from([0x02, 0x04, 0x00, 0x05, 1]))).toBeNull();
    expect(encryptedCookies(Uint8Array.from([0x02, 0x04, 0x00]))).toBeNull();
    expect(encryptedCookies(Uint8Array.from([0x02, 0x04, 0x00, 0x00]))).toBeNull();
    expect(encryptedCookies(Uint8Array.from([0x09, 0x09, 0x00, 0x04, 0x02, 0x04, 0x00, 0x08, 1, 2, 3, 4]))).toEqual([Uint8Array.from([1, 2, 3, 4])]);
  });
});
