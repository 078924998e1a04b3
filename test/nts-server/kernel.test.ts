// The NTS path of the WASM server kernel (asm/server/nts-request.ts): valid requests get verifiable
// responses with fresh cookies; bad cookies and authenticators get an NTS NAK; malformed NTS is
// dropped and counted; the response is never larger than the request.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { randomBytes } from "node:crypto";
import {
  CLIENT, EF_AUTH, EF_COOKIE, EF_UID, SECOND, T0, concat, ef, fieldsOf, kissCode, masterKey, newNtsKernel,
  ntsRequest, openResponse, session,
} from "./support.js";
import { request } from "../server/support.js";

describe("NTS request → response", () => {
  for (const alg of [15, 16, 17, 30, 31]) {
    it(`AEAD ${alg}: the response verifies under S2C, echoes the UID and carries 1 + placeholders cookies`, async () => {
      const { kernel, nts, aead } = await newNtsKernel();
      const s = session(aead, alg);
      const cookie = nts.mintCookie(alg, s.c2s, s.s2c);
      expect(cookie.length).toBe(nts.cookieLength(alg));
      for (const placeholders of [0, 1, 3, 7]) {
        const { packet, uid } = ntsRequest(aead, s, cookie, { placeholders });
        nts.refillRandom();
        const r = kernel.handleOne(packet, CLIENT, 123, T0, T0 + SECOND);
        expect(r.outcome).toBe("answered_basic");
        const response = r.response!;
        expect(response.length).toBeLessThanOrEqual(packet.length);
        expect(response[0]! & 7).toBe(4);
        // origin = the request's transmit timestamp
        expect(Buffer.compare(response.subarray(24, 32), packet.subarray(40, 48))).toBe(0);
        const cookies = openResponse(aead, s, response, uid);
        expect(cookies).not.toBeNull();
        expect(cookies!.length).toBe(1 + placeholders);
        for (const c of cookies!) {
          expect(c.length).toBe(cookie.length);
          const opened = nts.openCookie(c);
          expect(opened).toEqual({ algorithm: alg, c2s: s.c2s, s2c: s.s2c });
        }
        // fresh cookies differ from each other and from the one presented (unlinkability)
        expect(new Set([cookie, ...cookies!].map((c) => Buffer.from(c).toString("hex"))).size).toBe(cookies!.length + 1);
      }
      expect(nts.counters().answered).toBe(4);
      expect(nts.counters().cookies_issued).toBe(1 + 2 + 4 + 8);
    });
  }

  it("counts encrypted placeholders too, and caps the cookies at 8", async () => {
    const { kernel, nts, aead } = await newNtsKernel();
    const s = session(aead);
    const cookie = nts.mintCookie(15, s.c2s, s.s2c);
    let { packet, uid } = ntsRequest(aead, s, cookie, { placeholders: 1, encryptedPlaceholders: 2 });
    let r = kernel.handleOne(packet, CLIENT, 123, T0, T0);
    expect(openResponse(aead, s, r.response!, uid)!.length).toBe(4);
    nts.refillRandom();
    ({ packet, uid } = ntsRequest(aead, s, cookie, { placeholders: 12 }));
    r = kernel.handleOne(packet, CLIENT, 123, T0, T0);
    expect(openResponse(aead, s, r.response!, uid)!.length).toBe(8);
    expect(r.response!.length).toBeLessThan(packet.length);
    expect(nts.counters().placeholders_capped).toBe(1);
  });

  it("echoes repeated unique identifiers, each response with its own", async () => {
    const { kernel, nts, aead } = await newNtsKernel();
    const s = session(aead);
    const cookie = nts.mintCookie(15, s.c2s, s.s2c);
    const uid = new Uint8Array(randomBytes(40));
    for (let i = 0; i < 3; i++) {
      nts.refillRandom();
      const { packet } = ntsRequest(aead, s, cookie, { uid });
      const r = kernel.handleOne(packet, CLIENT, 123, T0, T0);
      expect(openResponse(aead, s, r.response!, uid)).not.toBeNull();
    }
    const other = new Uint8Array(randomBytes(32));
    const { packet } = ntsRequest(aead, s, cookie, { uid: other });
    nts.refillRandom();
    const r = kernel.handleOne(packet, CLIENT, 123, T0, T0);
    expect(openResponse(aead, s, r.response!, other)).not.toBeNull();
    expect(openResponse(aead, s, r.response!, uid)).toBeNull();
  });
});

describe("NTS NAK", () => {
  async function nakFor(mangle: (cookie: Uint8Array) => Uint8Array, key?: Uint8Array) {
    const setup = await newNtsKernel();
    const s = session(setup.aead);
    const cookie = mangle(setup.nts.mintCookie(15, s.c2s, s.s2c));
    const { packet, uid } = ntsRequest(setup.aead, s, cookie, key ? { key } : {});
    const r = setup.kernel.handleOne(packet, CLIENT, 123, T0, T0 + SECOND);
    return { ...setup, r, uid, packet };
  }

  const isNak = (response: Uint8Array, uid: Uint8Array) => {
    expect(response[1]).toBe(0); // stratum 0
    expect(response[0]! >> 6).toBe(3);
    expect(kissCode(response)).toBe("NTSN");
    const fields = fieldsOf(response);
    expect(fields.map((f) => f.type)).toEqual([EF_UID]);
    expect(Buffer.compare(fields[0]!.body, uid)).toBe(0);
  };

  it("for a cookie whose key id is unknown", async () => {
    const { r, uid, nts } = await nakFor((c) => { c[0] = c[0]! ^ 0xff; return c; });
    isNak(r.response!, uid);
    expect(nts.counters().nak_unknown_key).toBe(1);
  });

  it("for any flipped bit of the cookie body", async () => {
    for (const byte of [5, 30, 60, 103]) {
      const { r, uid, nts } = await nakFor((c) => { c[byte] = c[byte]! ^ 0x01; return c; });
      isNak(r.response!, uid);
      expect(nts.counters().nak_bad_cookie).toBe(1);
    }
  });

  it("for a truncated or foreign-length cookie", async () => {
    const { r, uid, nts } = await nakFor((c) => c.slice(0, 60));
    isNak(r.response!, uid);
    expect(nts.counters().nak_bad_cookie).toBe(1);
  });

  it("for an authenticator sealed with the wrong key", async () => {
    const { r, uid, nts } = await nakFor((c) => c, new Uint8Array(32));
    isNak(r.response!, uid);
    expect(nts.counters().nak_bad_authenticator).toBe(1);
  });

  it("after the cookie's key is erased (rotation past stale-key-count)", async () => {
    const setup = await newNtsKernel({}, [masterKey(1), masterKey(2)]);
    const s = session(setup.aead);
    setup.nts.setKeys([setup.keys[0]!], 1);
    const old = setup.nts.mintCookie(15, s.c2s, s.s2c);
    setup.nts.setKeys([setup.keys[1]!], 2);
    const { packet, uid } = ntsRequest(setup.aead, s, old);
    const r = setup.kernel.handleOne(packet, CLIENT, 123, T0, T0);
    isNak(r.response!, uid);
  });
});

describe("malformed NTS is dropped and counted", () => {
  async function outcome(build: (aead: any, s: any, cookie: Uint8Array) => Uint8Array) {
    const { kernel, nts, aead } = await newNtsKernel();
    const s = session(aead);
    const cookie = nts.mintCookie(15, s.c2s, s.s2c);
    const r = kernel.handleOne(build(aead, s, cookie), CLIENT, 123, T0, T0);
    return { r, counters: nts.counters() };
  }

  it("UID shorter than 32 bytes", async () => {
    const { r, counters } = await outcome((a, s, c) => ntsRequest(a, s, c, { uid: new Uint8Array(28) }).packet);
    expect(r.response).toBeNull();
    expect(r.outcome).toBe("dropped_malformed");
    expect(counters.dropped_malformed).toBe(1);
  });

  it("missing UID, two cookies, authenticator not last", async () => {
    const header = request();
    const uid = ef(EF_UID, new Uint8Array(32));
    const cookieField = (c: Uint8Array) => ef(EF_COOKIE, c);
    const auth = ef(EF_AUTH, concat(new Uint8Array([0, 16, 0, 16]), new Uint8Array(32)), 28);
    for (const build of [
      (c: Uint8Array) => concat(header, cookieField(c), auth),
      (c: Uint8Array) => concat(header, uid, cookieField(c), cookieField(c), auth),
      (c: Uint8Array) => concat(header, uid, auth, cookieField(c)),
      (c: Uint8Array) => concat(header, uid, cookieField(c)),
      (c: Uint8Array) => concat(header, uid, cookieField(c), auth, new Uint8Array(20)), // MAC after
    ]) {
      const { r, counters } = await outcome((_a, _s, c) => build(c));
      expect(r.response).toBeNull();
      expect(counters.dropped_malformed).toBe(1);
    }
  });

  it("authenticator lengths that do not fit, or too little nonce padding (§5.6)", async () => {
    for (const [nonceLength, ctLength, bodyLength] of [[16, 200, 40], [0, 16, 40], [16, 8, 40], [300, 16, 40], [4, 16, 28]] as const) {
      const { r, counters } = await outcome((_a, _s, c) => {
        const body = new Uint8Array(bodyLength);
        new DataView(body.buffer).setUint16(0, nonceLength);
        new DataView(body.buffer).setUint16(2, ctLength);
        return concat(request(), ef(EF_UID, new Uint8Array(32)), ef(EF_COOKIE, c), ef(EF_AUTH, body, 28));
      });
      expect(r.response).toBeNull();
      expect(counters.dropped_malformed).toBe(1);
    }
  });

  it("placeholder of the wrong size", async () => {
    const { r, counters } = await outcome((a, s, c) => ntsRequest(a, s, c, { placeholders: 2, placeholderLength: c.length - 4 }).packet);
    expect(r.response).toBeNull();
    expect(counters.dropped_placeholder).toBe(1);
  });

  it("an empty random pool drops instead of reusing bytes", async () => {
    const { kernel, nts, aead } = await newNtsKernel({}, undefined, 8, 1);
    const s = session(aead);
    const cookie = nts.mintCookie(15, s.c2s, s.s2c);
    nts.refillRandom();
    // batch size 1: the pool holds one request's worth; without a refill the second is dropped
    let results = [0, 1].map(() => kernel.handleOne(ntsRequest(aead, s, cookie, { placeholders: 7 }).packet, CLIENT, 123, T0, T0));
    expect(results[0]!.outcome).toBe("answered_basic");
    expect(results[1]!.response).toBeNull();
    expect(nts.counters().dropped_no_random).toBe(1);
    nts.refillRandom();
    results = [kernel.handleOne(ntsRequest(aead, s, cookie, { placeholders: 7 }).packet, CLIENT, 123, T0, T0)];
    expect(results[0]!.outcome).toBe("answered_basic");
  });
});

describe("UID and KoD", () => {
  it("a UID alone (no cookie) gets a plain answer with the UID echoed", async () => {
    const { kernel, nts } = await newNtsKernel();
    const uid = new Uint8Array(randomBytes(32));
    const packet = concat(request(), ef(EF_UID, uid, 28));
    const r = kernel.handleOne(packet, CLIENT, 123, T0, T0);
    expect(r.response!.length).toBe(packet.length);
    expect(Buffer.compare(fieldsOf(r.response!)[0]!.body, uid)).toBe(0);
    expect(nts.counters().uid_echoed).toBe(1);
  });

  it("a rate-limit KoD to an NTS client echoes its UID", async () => {
    const { kernel, nts, aead } = await newNtsKernel({ rateLimit: { interval: 8, burst: 1, kodOneIn: 1, tableSize: 64 } });
    const s = session(aead);
    const cookie = nts.mintCookie(15, s.c2s, s.s2c);
    const first = ntsRequest(aead, s, cookie);
    expect(kernel.handleOne(first.packet, CLIENT, 123, T0, T0).outcome).toBe("answered_basic");
    const second = ntsRequest(aead, s, cookie);
    const r = kernel.handleOne(second.packet, CLIENT, 123, T0 + SECOND, T0 + SECOND);
    expect(r.outcome).toBe("kod_rate");
    expect(kissCode(r.response!)).toBe("RATE");
    const fields = fieldsOf(r.response!);
    expect(fields.map((f) => f.type)).toEqual([EF_UID]);
    expect(Buffer.compare(fields[0]!.body, second.uid)).toBe(0);
    expect(fields.some((f) => f.type === EF_AUTH)).toBe(false);
  });

  it("without an attached NTS state NTS requests get the plain 48-byte answer (plain path unchanged)", async () => {
    const setup = await newNtsKernel();
    const s = session(setup.aead);
    const cookie = setup.nts.mintCookie(15, s.c2s, s.s2c);
    const { kernel } = await import("../server/support.js").then((m) => m.newKernel());
    const r = kernel.handleOne(ntsRequest(setup.aead, s, cookie).packet, CLIENT, 123, T0, T0);
    expect(r.response!.length).toBe(48);
  });
});

describe("property: the response is never larger than the request", () => {
  it("for valid requests with any placeholders/nonce lengths, and for random mutations", async () => {
    const { kernel, nts, aead } = await newNtsKernel();
    const sessions = [15, 17, 30].map((alg) => session(aead, alg));
    const cookies = sessions.map((s) => nts.mintCookie(s.algorithm, s.c2s, s.s2c));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 24 }), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }),
        fc.integer({ min: 32, max: 64 }),
        (which, placeholders, encrypted, nonceLength, flips, uidLength) => {
          const s = sessions[which]!;
          const nl = s.algorithm >= 30 ? 12 : nonceLength;
          const { packet } = ntsRequest(aead, s, cookies[which]!, {
            placeholders, encryptedPlaceholders: encrypted, nonceLength: nl, uid: new Uint8Array(uidLength),
          });
          for (const [at, x] of flips) packet[48 + (at % (packet.length - 48))] = packet[48 + (at % (packet.length - 48))]! ^ x;
          nts.refillRandom();
          const r = kernel.handleOne(packet, CLIENT, 123, T0, T0);
          if (r.response !== null) expect(r.response.length).toBeLessThanOrEqual(packet.length);
        },
      ),
      { numRuns: 400 },
    );
  });
});
