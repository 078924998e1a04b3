// Hostile and odd input: every mode, every version, every length, random bytes and mutations.
// The kernel must never trap, never answer with more bytes than the request, and count every
// request in exactly one outcome.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { SECOND, T0, fields, newKernel, outcomeSum, request } from "./support.js";

describe("requests the server does not answer", () => {
  it("answers only mode 3; modes 0–2 and 4–7 are dropped and counted", async () => {
    const { kernel } = await newKernel();
    for (let mode = 0; mode < 8; mode++) {
      const r = kernel.handleOne(request({ mode }), "192.0.2.1", 123, T0, T0 + 1n);
      expect(r.outcome).toBe(mode === 3 ? "answered_basic" : "dropped_wrong_mode");
      if (mode === 3) expect(fields(r.response!).mode).toBe(4);
      else expect(r.response).toBeNull();
    }
    expect(kernel.counters()).toMatchObject({ received: 8, answered_basic: 1, dropped_wrong_mode: 7 });
  });

  it("answers versions 3 and 4 by default, others as configured; 0, 5, 6, 7 never", async () => {
    const byVersion = async (acceptNtpVersions?: number[]) => {
      const { kernel } = await newKernel(acceptNtpVersions ? { acceptNtpVersions } : {});
      return Array.from({ length: 8 }, (_, version) => {
        const r = kernel.handleOne(request({ version }), "192.0.2.1", 123, T0, T0 + 1n);
        if (r.response) expect(fields(r.response).version).toBe(version); // echoed
        return r.outcome === "answered_basic" ? version : -1;
      }).filter((v) => v >= 0);
    };
    expect(await byVersion()).toEqual([3, 4]);
    expect(await byVersion([4])).toEqual([4]);
    expect(await byVersion([1, 2, 3, 4])).toEqual([1, 2, 3, 4]);
    await expect(byVersion([5])).rejects.toThrow(/version/);
  });

  it("drops short, oversize and malformed requests", async () => {
    const { kernel } = await newKernel({ maxRequestBytes: 512 });
    const ask = (b: Uint8Array) => kernel.handleOne(b, "192.0.2.1", 123, T0, T0 + 1n).outcome;
    expect(ask(new Uint8Array(0))).toBe("dropped_too_short");
    expect(ask(request().subarray(0, 47))).toBe("dropped_too_short");
    expect(ask(request({ length: 513 }))).toBe("dropped_oversize");
    expect(ask(request({ length: 1500 }))).toBe("dropped_oversize");
    expect(ask(request({ length: 50 }))).toBe("dropped_malformed"); // not header + whole words
    const badEf = new Uint8Array(28);
    new DataView(badEf.buffer).setUint16(2, 12); // extension field shorter than 16 bytes
    expect(ask(request({ tail: badEf }))).toBe("dropped_malformed");
    const longEf = new Uint8Array(28);
    new DataView(longEf.buffer).setUint16(2, 64); // runs past the end
    expect(ask(request({ tail: longEf }))).toBe("dropped_malformed");
    expect(ask(request({ length: 48 + 20 }))).toBe("answered_basic"); // header + legacy MAC (key id + MD5)
    const c = kernel.counters();
    expect(c).toMatchObject({ dropped_too_short: 2, dropped_oversize: 2, dropped_malformed: 3, answered_basic: 1 });
    expect(outcomeSum(c)).toBe(c.received);
  });

  it("drops a request whose slot carries no valid address family", async () => {
    const { kernel } = await newKernel();
    for (const bad of ["not-an-address", "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.4 ", "::g"]) {
      expect(kernel.handleOne(request(), bad, 123, T0, T0 + 1n).outcome, bad).toBe("dropped_bad_address");
    }
    for (const good of ["0.0.0.0", "255.255.255.255", "::", "fe80::1%eth0", "::ffff:1.2.3.4"]) {
      expect(kernel.handleOne(request(), good, 123, T0, T0 + 1n).outcome, good).toBe("answered_basic");
    }
  });

  it("never traps, never answers longer than the request, counts every packet once (random bytes, 0–2100 long)", async () => {
    const { kernel } = await newKernel({
      maxRequestBytes: 1472,
      rateLimit: { interval: 1, burst: 4, kodOneIn: 3, tableSize: 256 },
      denylist: { filter: ["10.66.0.0/16"], action: "deny" },
      allowlist: { filter: ["10.0.0.0/8", "fd00::/8"], action: "ignore" },
    });
    let sent = 0;
    let t = T0;
    const packet = fc.oneof(
      // Uniform lengths 0..2100 (fast-check's default sizes would favour short arrays).
      fc.integer({ min: 0, max: 2100 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      // Mostly-valid requests with a random first byte, tail and length: reach deeper branches.
      fc.record({ first: fc.integer({ min: 0, max: 255 }), length: fc.integer({ min: 44, max: 200 }), tail: fc.uint8Array({ maxLength: 160 }) })
        .map(({ first, length, tail }) => {
          const b = request({ length, tail });
          b[0] = first;
          return b;
        }),
    );
    const address = fc.oneof(
      fc.integer({ min: 0, max: 255 }).map((n) => `10.66.0.${n}`),
      fc.integer({ min: 0, max: 0xffffff }).map((n) => `10.${n >> 16}.${(n >> 8) & 255}.${n & 255}`),
      fc.integer({ min: 0, max: 0xffff }).map((n) => `fd00::${n.toString(16)}`),
      fc.integer({ min: 0, max: 0xffff }).map((n) => `2001:db8::${n.toString(16)}`),
      fc.constant("192.0.2.1"),
    );
    fc.assert(
      fc.property(packet, address, fc.integer({ min: 0, max: 3000 }), (bytes, from, stepMs) => {
        t += (BigInt(stepMs) * SECOND) / 1000n;
        const r = kernel.handleOne(bytes, from, 123, t, t + 100n);
        sent++;
        if (r.response !== null) {
          expect(r.response.length).toBeLessThanOrEqual(bytes.length);
          expect(r.response.length).toBe(48);
        }
      }),
      { numRuns: 20_000 },
    );
    const c = kernel.counters();
    expect(c.received).toBe(sent);
    expect(outcomeSum(c)).toBe(sent);
    // The generators reach most outcomes (a smoke check that the property explored the chain).
    for (const o of ["answered_basic", "kod_deny", "dropped_too_short", "dropped_oversize", "dropped_wrong_mode", "dropped_bad_version", "dropped_malformed", "dropped_denied"]) {
      expect(c[o as keyof typeof c], o).toBeGreaterThan(0);
    }
  });
});
