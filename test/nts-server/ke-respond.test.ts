// The NTS-KE server's decision function (ts/protocol/nts-ke-respond.ts) on arbitrary bytes: it never
// throws, and always answers with either an Error record or a well-formed response (§4).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { KeRecordDecoder, REQUEST_LIMITS, buildKeRequest, decodeKeMessage } from "../../ts/protocol/nts-ke-records.js";
import { respondToKeRequest, type KeServerCrypto } from "../../ts/protocol/nts-ke-respond.js";

const crypto: KeServerCrypto = {
  keyLength: (aead) => ({ 15: 32, 16: 48, 17: 64, 30: 16, 31: 32 } as Record<number, number>)[aead] ?? 0,
  exportKey: (length, context) => new Uint8Array(length).fill(context[4]! + 1),
  mintCookie: (aead, c2s) => new Uint8Array([aead, c2s[0]!, 7, 7]),
};
const policy = { aeads: [15, 16, 17, 30, 31] };

function answer(bytes: Uint8Array, chunks = 1) {
  const d = new KeRecordDecoder(REQUEST_LIMITS);
  const step = Math.max(1, Math.ceil(bytes.length / chunks));
  for (let at = 0; at < bytes.length && d.progress.state === "need-more"; at += step) d.push(bytes.subarray(at, at + step));
  if (d.progress.state === "need-more") d.end();
  return respondToKeRequest(d.progress, policy, crypto);
}

describe("respondToKeRequest", () => {
  it("arbitrary bytes, in any chunking: an Error record or a well-formed response, never a throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 9 }), (bytes, chunks) => {
        const r = answer(bytes, chunks);
        const decoded = decodeKeMessage(r.bytes);
        expect(decoded.state).toBe("done");
        if (r.outcome.startsWith("error")) {
          expect(decoded.state === "done" && decoded.records[0]!.type).toBe("error");
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("mutations of a valid request are answered or refused, never crash", () => {
    const valid = buildKeRequest({ aeadAlgorithms: [17, 15] });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }), fc.nat(valid.length), (flips, cut) => {
        const b = valid.slice(0, Math.max(cut, 1));
        for (const [at, x] of flips) if (at < b.length) b[at] = b[at]! ^ x;
        const r = answer(b);
        expect(decodeKeMessage(r.bytes).state).toBe("done");
      }),
      { numRuns: 2000 },
    );
  });

  it("a valid request: the client's first supported AEAD, 8 cookies made from the c2s/s2c exports", () => {
    const r = answer(buildKeRequest({ aeadAlgorithms: [99, 30, 15] }));
    expect(r.outcome).toBe("answered");
    expect(r.aead).toBe(30);
    const d = decodeKeMessage(r.bytes);
    if (d.state !== "done") throw new Error("no decode");
    const cookies = d.records.filter((x) => x.type === "new-cookie");
    expect(cookies.length).toBe(8);
    // the mint saw the c2s export (context byte 0x00 → filled with 1)
    expect(cookies.every((c) => c.type === "new-cookie" && c.cookie[0] === 30 && c.cookie[1] === 1)).toBe(true);
  });

  it("critical unknown → Error 0; incomplete → Error 1; a failing mint → Error 2", () => {
    const unknownCritical = new Uint8Array([0xc0, 0x01, 0, 0, ...buildKeRequest({ aeadAlgorithms: [15] })]);
    expect(answer(unknownCritical).outcome).toBe("error-unrecognized-critical");
    expect(answer(new Uint8Array([0x80, 1, 0])).outcome).toBe("error-bad-request");
    const failing = respondToKeRequest(decodeKeMessage(buildKeRequest({ aeadAlgorithms: [15] }), REQUEST_LIMITS), policy, {
      ...crypto, mintCookie: () => { throw new Error("no key"); },
    });
    expect(failing.outcome).toBe("error-internal");
    const d = decodeKeMessage(failing.bytes);
    expect(d.state === "done" && d.records[0]).toMatchObject({ type: "error", code: 2 });
  });
});
