// The sans-IO client exchange: request shape, and every way a response is matched or rejected.
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { TockCore } from "../../ts/core/api.js";
import {
  buildClientRequest,
  formatReferenceId,
  isKissCode,
  kissCode,
  matchResponse,
  referenceIdHex,
  type ClientRequest,
} from "../../ts/protocol/client-exchange.js";
import { ascii, core, seconds, serverResponse, START } from "./support.js";

let c: TockCore;
beforeAll(async () => {
  c = await core();
});

const NONCE = 0x0123456789abcdefn;
/** T1 one second before START; the scripted server stamps T2 = T3 = START (see support.ts). */
const SENT = START - seconds(1);

function ctx(request: ClientRequest, receivedAt = START + seconds(1)) {
  return { request, sentAt: SENT, receivedAt, localPrecisionLog2: -20 };
}

describe("client request", () => {
  it("is a 48-byte v4 mode-3 packet whose only non-zero field besides LI/VN/mode is the random transmit timestamp", () => {
    const request = buildClientRequest(c, NONCE);
    expect(request.bytes.length).toBe(48);
    expect(request.nonce).toBe(NONCE);
    expect(request.bytes[0]).toBe((0 << 6) | (4 << 3) | 3);
    expect([...request.bytes.subarray(1, 40)].every((b) => b === 0)).toBe(true);
    const parsed = c.parsePacket(request.bytes);
    expect(parsed.header?.transmitTime).toBe(NONCE);
    expect(parsed.header?.originTime).toBe(0n);
  });

  it("carries the random bits verbatim, reduced to 64 bits", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 70n) - 1n }), (random) => {
        const request = buildClientRequest(c, random);
        expect(c.parsePacket(request.bytes).header?.transmitTime).toBe(BigInt.asUintN(64, random));
      }),
      { numRuns: 500 },
    );
  });
});

describe("response matching", () => {
  const request = () => buildClientRequest(c, NONCE);

  it("accepts a matching mode-4 response and computes offset and delay from the REAL send time", () => {
    const req = request();
    // T1 = START − 1 s, T2 = T3 = START + 0.5 s, T4 = START + 1 s → θ = 0.5 s, δ = 2 s.
    const response = serverResponse(c, req.bytes, { receiveTime: START + seconds(0.5), transmitTime: START + seconds(0.5) });
    const outcome = matchResponse(c, response, ctx(req));
    expect(outcome.kind).toBe("sample");
    if (outcome.kind !== "sample") return;
    expect(outcome.sample.offset).toBeCloseTo(0.5, 9);
    expect(outcome.sample.delay).toBeCloseTo(2, 9);
    expect(outcome.sample.header.stratum).toBe(2);
    // root distance = (rootDelay + δ)/2 + rootDispersion + ε
    expect(outcome.sample.rootDistance).toBeCloseTo((0.0125 + 2) / 2 + 0.025 + outcome.sample.dispersion, 4);
    expect(outcome.sample.sentAt).toBe(SENT);
  });

  it("ignores a response whose origin is not our random transmit timestamp (stale, duplicate or forged)", () => {
    const req = request();
    for (const origin of [0n, NONCE + 1n, SENT, NONCE ^ (1n << 63n)]) {
      const outcome = matchResponse(c, serverResponse(c, req.bytes, { originTime: origin }), ctx(req));
      expect(outcome).toEqual({ kind: "ignored", reason: "origin-mismatch" });
    }
  });

  it("ignores every mode other than 4, even with a matching origin", () => {
    const req = request();
    for (const mode of [0, 1, 2, 3, 5, 6, 7]) {
      const outcome = matchResponse(c, serverResponse(c, req.bytes, { mode }), ctx(req));
      expect(outcome).toEqual({ kind: "ignored", reason: "not-server-mode" });
    }
  });

  it("ignores truncated and malformed datagrams", () => {
    const req = request();
    const good = serverResponse(c, req.bytes);
    for (const length of [0, 1, 12, 47]) {
      const outcome = matchResponse(c, good.subarray(0, length), ctx(req));
      expect(outcome.kind).toBe("ignored");
      if (outcome.kind === "ignored") expect(outcome.reason).toBe("malformed");
    }
    // Version 0 and 7 are outside 1..4.
    for (const version of [0, 7]) {
      const bad = good.slice();
      bad[0] = ((bad[0] ?? 0) & 0xc7) | (version << 3);
      expect(matchResponse(c, bad, ctx(req)).kind).toBe("ignored");
    }
    // 48 bytes plus 5 trailing bytes: neither an extension field nor a MAC.
    const trailer = new Uint8Array(53);
    trailer.set(good);
    expect(matchResponse(c, trailer, ctx(req)).kind).toBe("ignored");
  });

  it("reports a Kiss-o'-Death with its code, but only when the origin matches", () => {
    const req = request();
    for (const code of ["RATE", "DENY", "RSTR", "NTSN"]) {
      const kod = serverResponse(c, req.bytes, { stratum: 0, leap: 3, referenceId: ascii(code) });
      const outcome = matchResponse(c, kod, ctx(req));
      expect(outcome.kind).toBe("kod");
      if (outcome.kind === "kod") expect(outcome.code).toBe(code);
      const spoofed = serverResponse(c, req.bytes, { stratum: 0, referenceId: ascii(code), originTime: NONCE - 1n });
      expect(matchResponse(c, spoofed, ctx(req))).toEqual({ kind: "ignored", reason: "origin-mismatch" });
    }
  });

  it("reports leap 3, stratum 16, and stratum 0 without a kiss code as unsynchronised", () => {
    const req = request();
    // What chronyd answers before it has a source: leap 3, stratum 0, reference id 0.
    expect(matchResponse(c, serverResponse(c, req.bytes, { leap: 3, stratum: 0, referenceId: 0 }), ctx(req)).kind).toBe("unsynchronised");
    expect(matchResponse(c, serverResponse(c, req.bytes, { stratum: 0, referenceId: 0x7f000001 }), ctx(req)).kind).toBe("unsynchronised");
    // What NTPsec ntpd answers before it has synchronised: leap 3, stratum 0, "INIT".
    expect(matchResponse(c, serverResponse(c, req.bytes, { leap: 3, stratum: 0, referenceId: ascii("INIT") }), ctx(req)).kind).toBe("unsynchronised");
    expect(matchResponse(c, serverResponse(c, req.bytes, { leap: 3, stratum: 0, referenceId: ascii("STEP") }), ctx(req)).kind).toBe("unsynchronised");
    expect(matchResponse(c, serverResponse(c, req.bytes, { leap: 3 }), ctx(req)).kind).toBe("unsynchronised");
    expect(matchResponse(c, serverResponse(c, req.bytes, { stratum: 16 }), ctx(req)).kind).toBe("unsynchronised");
    expect(matchResponse(c, serverResponse(c, req.bytes, { stratum: 15 }), ctx(req)).kind).toBe("sample");
    // Leap 1/2 announce a leap second: a synchronised server.
    expect(matchResponse(c, serverResponse(c, req.bytes, { leap: 1 }), ctx(req)).kind).toBe("sample");
  });

  it("rejects zero transmit and zero receive timestamps", () => {
    const req = request();
    expect(matchResponse(c, serverResponse(c, req.bytes, { transmitTime: 0n }), ctx(req))).toMatchObject({
      kind: "invalid",
      reason: "zero-transmit-time",
    });
    expect(matchResponse(c, serverResponse(c, req.bytes, { receiveTime: 0n }), ctx(req))).toMatchObject({
      kind: "invalid",
      reason: "zero-receive-time",
    });
  });

  it("never throws and never accepts random bytes (property test)", () => {
    const req = request();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1500 }), (bytes) => {
        const outcome = matchResponse(c, bytes, ctx(req));
        // Without our 64-bit nonce at bytes 24..31 nothing can be more than ignored.
        expect(outcome.kind).toBe("ignored");
      }),
      { numRuns: 2000 },
    );
  });
});

describe("reference id display", () => {
  it("shows ASCII for stratum 0 and 1, a dotted quad above, and hex on request", () => {
    expect(formatReferenceId(ascii("GPS\0"), 1)).toBe("GPS");
    expect(formatReferenceId(ascii("RATE"), 0)).toBe("RATE");
    expect(formatReferenceId(0x7f7f0101, 8)).toBe("127.127.1.1");
    expect(formatReferenceId(0xc0000201, 2)).toBe("192.0.2.1");
    expect(referenceIdHex(0x7f7f0101)).toBe("7F7F0101");
    expect(referenceIdHex(1)).toBe("00000001");
    expect(kissCode(0x41000a42)).toBe("AB"); // non-printables dropped
    expect(isKissCode(ascii("RATE"))).toBe(true);
    expect(isKissCode(ascii("GPS\0"))).toBe(true);
    expect(isKissCode(0)).toBe(false);
    expect(isKissCode(ascii("rate"))).toBe(false);
    expect(isKissCode(0x41004200)).toBe(false); // a letter after NUL padding
  });
});
