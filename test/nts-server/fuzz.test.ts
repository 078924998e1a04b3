// Structure-level fuzz of the kernel's NTS path: random sequences of extension fields (NTS types and
// others, random bodies and lengths, sometimes a real cookie, sometimes a trailer) through the batch
// kernel. Never traps; exactly one outcome per request; a response is never longer than its request;
// a KoD/NAK never carries an Authenticator; an answer with an Authenticator only comes from a request
// whose authenticator verified (impossible here without the C2S key, so: never).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { CLIENT, EF_AUTH, EF_COOKIE, EF_PLACEHOLDER, EF_UID, T0, concat, fieldsOf, newNtsKernel, session } from "./support.js";
import { request } from "../server/support.js";

const efArb = (cookie: Uint8Array) =>
  fc.oneof(
    fc.record({ type: fc.constantFrom(EF_UID, EF_COOKIE, EF_PLACEHOLDER, EF_AUTH, 0x0002, 0x7777), body: fc.uint8Array({ maxLength: 200 }) }),
    fc.constant({ type: EF_COOKIE, body: cookie }),
    fc.constant({ type: EF_PLACEHOLDER, body: new Uint8Array(cookie.length) }),
    fc.record({ type: fc.constant(EF_AUTH), body: fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 200 }), fc.uint8Array({ minLength: 16, maxLength: 120 }))
      .map(([n, c, rest]) => { const b = new Uint8Array(4 + rest.length); new DataView(b.buffer).setUint16(0, n); new DataView(b.buffer).setUint16(2, c); b.set(rest, 4); return b; }) }),
  );

/** Well-formed NTS skeletons (UID, a real/mangled/random cookie, placeholders, a plausible
 *  authenticator): these reach the cookie and authenticator checks. */
const skeletonArb = (cookie: Uint8Array) =>
  fc.tuple(
    fc.uint8Array({ minLength: 32, maxLength: 64 }),
    fc.oneof(fc.constant(cookie), fc.tuple(fc.nat(cookie.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, x]) => { const c = cookie.slice(); c[at] = c[at]! ^ x; return c; }), fc.uint8Array({ minLength: 40, maxLength: 120 })),
    fc.integer({ min: 0, max: 9 }),
    fc.uint8Array({ minLength: 32, maxLength: 64 }),
  ).map(([uid, c, placeholders, authRest]) => {
    const auth = new Uint8Array(4 + authRest.length);
    new DataView(auth.buffer).setUint16(0, 16);
    new DataView(auth.buffer).setUint16(2, 16);
    auth.set(authRest, 4);
    return [
      { type: EF_UID, body: uid }, { type: EF_COOKIE, body: c },
      ...Array.from({ length: placeholders }, () => ({ type: EF_PLACEHOLDER, body: new Uint8Array(c.length) })),
      { type: EF_AUTH, body: auth },
    ];
  });

function encode(fields: { type: number; body: Uint8Array }[], lie: number | null): Uint8Array {
  const parts = fields.map(({ type, body }, i) => {
    // RFC 7822: the last field is at least 28 bytes (else the codec drops the packet before NTS sees it)
    const length = Math.max(i === fields.length - 1 ? 28 : 16, (4 + body.length + 3) & ~3);
    const out = new Uint8Array(length);
    const v = new DataView(out.buffer);
    v.setUint16(0, type);
    v.setUint16(2, lie ?? length);
    out.set(body, 4);
    return out;
  });
  return concat(request(), ...parts);
}

describe("NTS kernel fuzz", () => {
  it("random field structures: no trap, one outcome, never larger, no unauthenticated Authenticator", async () => {
    const { kernel, nts, aead } = await newNtsKernel();
    const s = session(aead);
    const cookie = nts.mintCookie(15, s.c2s, s.s2c);
    fc.assert(
      fc.property(fc.oneof(fc.array(efArb(cookie), { maxLength: 12 }), skeletonArb(cookie)), fc.oneof({ weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
        fc.oneof({ weight: 9, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 30 }) }),
        (fields, lie, trailer) => {
          const packet = concat(encode(fields, lie), trailer);
          nts.refillRandom();
          const before = kernel.counters().received;
          const r = kernel.handleOne(packet.subarray(0, Math.min(packet.length, 2048)), CLIENT, 123, T0, T0);
          expect(kernel.counters().received).toBe(before + 1);
          if (r.response !== null) {
            expect(r.response.length).toBeLessThanOrEqual(packet.length);
            const types = r.response.length > 48 ? fieldsOf(r.response).map((f) => f.type) : [];
            expect(types.includes(EF_AUTH)).toBe(false);
            expect(types.includes(EF_COOKIE)).toBe(false);
          }
        }),
      { numRuns: 3000 },
    );
    const c = nts.counters();
    if (process.env.TOCK_TEST_VERBOSE) console.log(kernel.counters(), c);
    expect(c.answered).toBe(0);
    expect(c.dropped_malformed + c.nak_bad_authenticator + c.nak_bad_cookie + c.nak_unknown_key + c.uid_echoed).toBeGreaterThan(300);
    expect(c.dropped_malformed).toBeGreaterThan(0);
    expect(c.nak_bad_authenticator + c.nak_bad_cookie + c.nak_unknown_key).toBeGreaterThan(0);
  });
});
