// The batch ABI: a mixed batch in one call gives exactly what the same requests give one at a time
// (so the dgram and batched engines produce identical bytes), slots are independent, and the
// keyed hash is SipHash-2-4.
import { describe, expect, it } from "vitest";
import { SECOND, T0, newKernel, request } from "./support.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createServerKernel, parseClientAddress } from "../../ts/core/server.js";
import { OUTCOMES, type ServerPolicyOptions } from "../../ts/protocol/server-policy.js";

const fixedRandom = (into: Uint8Array) => into.forEach((_, i) => (into[i] = (i * 37 + 11) & 255));

async function twin(options: ServerPolicyOptions) {
  const a = createServerKernel((await loadFreshCore()).wasm, options, fixedRandom);
  const b = createServerKernel((await loadFreshCore()).wasm, options, fixedRandom);
  return [a, b] as const;
}

describe("batch ABI", () => {
  it("one call over a mixed batch equals the same requests one at a time, byte for byte", async () => {
    const options: ServerPolicyOptions = {
      batchSize: 16,
      denylist: { filter: ["10.66.0.0/16"], action: "deny" },
      rateLimit: { interval: 4, burst: 2, kodOneIn: 2, tableSize: 256 },
    };
    const [batched, single] = await twin(options);
    for (const k of [batched, single]) k.setSystemState({ leap: 0, stratum: 3, precision: -22, referenceId: 0x0a000001, rootDelay: 0.01, rootDispersion: 0.02, referenceTime: T0 - SECOND });
    const inputs: Array<[Uint8Array, string]> = [
      [request(), "192.0.2.1"],
      [request({ mode: 6 }), "192.0.2.1"],
      [request({ version: 2 }), "192.0.2.2"],
      [request(), "10.66.1.1"],
      [request(), "192.0.2.1"],
      [request(), "192.0.2.1"], // over the limit: KoD RATE
      [request(), "192.0.2.1"], // dropped
      [new Uint8Array(20), "192.0.2.3"],
      [request({ version: 3, poll: 10 }), "2001:db8::1"],
      [request(), "::ffff:192.0.2.9"],
      [request({ length: 56 }), "192.0.2.4"], // 8 trailing bytes: neither extension field nor MAC
      [request({ transmit: 0n }), "192.0.2.5"],
    ];
    const now = T0 + 1_000_000n;
    inputs.forEach(([bytes, from], i) => batched.setRequest(i, bytes, parseClientAddress(from)!, 1000 + i, T0 + BigInt(i)));
    const toSend = batched.handleBatchAt(inputs.length, now);
    const results = inputs.map(([bytes, from], i) => single.handleOne(bytes, from, 1000 + i, T0 + BigInt(i), now));
    let sendCount = 0;
    results.forEach((r, i) => {
      expect(OUTCOMES[batched.responseOutcome(i) - 1], `slot ${i}`).toBe(r.outcome);
      const length = batched.responseLength(i);
      const bytes = batched.memory().slice(batched.responseOffset(i), batched.responseOffset(i) + length);
      expect(length === 0 ? null : bytes, `slot ${i}`).toEqual(r.response);
      if (length > 0) sendCount++;
    });
    expect(toSend).toBe(sendCount);
    expect(results.map((r) => r.outcome)).toEqual([
      "answered_basic", "dropped_wrong_mode", "dropped_bad_version", "kod_deny", "answered_basic", "kod_rate",
      "dropped_rate_limited", "dropped_too_short", "answered_basic", "answered_basic", "dropped_malformed", "answered_basic",
    ]);
    expect({ ...batched.counters(), batches: 0 }).toEqual({ ...single.counters(), batches: 0 });
    expect([batched.counters().batches, single.counters().batches]).toEqual([1, 12]);
  });

  it("caps a batch at the slot count and clears stale responses", async () => {
    const { kernel } = await newKernel({ batchSize: 4 });
    for (let i = 0; i < 4; i++) kernel.setRequest(i, request(), { family: 4, bytes: Uint8Array.of(192, 0, 2, i) }, 123, T0);
    expect(kernel.handleBatchAt(100, T0 + 1n)).toBe(4);
    expect(kernel.counters().received).toBe(4);
    kernel.setRequest(0, request({ mode: 7 }), { family: 4, bytes: Uint8Array.of(192, 0, 2, 1) }, 123, T0);
    expect(kernel.handleBatchAt(1, T0 + 1n)).toBe(0);
    expect(kernel.responseLength(0)).toBe(0);
    expect(() => kernel.setRequest(4, request(), { family: 4, bytes: Uint8Array.of(1, 2, 3, 4) }, 1, T0)).toThrow(RangeError);
  });

  it("keeps working after linear memory grows (views are re-taken)", async () => {
    const { kernel, wasm } = await newKernel();
    const before = wasm.exports.memory.buffer.byteLength;
    wasm.reserve(8 << 20); // another façade reserving later grows memory and detaches old views
    expect(wasm.exports.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(kernel.handleOne(request(), "192.0.2.1", 123, T0, T0 + 1n).outcome).toBe("answered_basic");
    expect(kernel.counters().answered_basic).toBe(1);
  });

  it("hashes with SipHash-2-4 (reference vector: key 00..0f, message 00..0f)", async () => {
    const { wasm } = await loadFreshCore();
    const siphash = wasm.exports.server_siphash as (k0: bigint, k1: bigint, m0: bigint, m1: bigint) => bigint;
    const h = siphash(0x0706050403020100n, 0x0f0e0d0c0b0a0908n, 0x0706050403020100n, 0x0f0e0d0c0b0a0908n);
    expect(BigInt.asUintN(64, h)).toBe(0x3f2acc7f57c29bdbn);
  });
});

describe("Linux recvmmsg imports", () => {
  it("reads sockaddr_in/sockaddr_in6 and SCM_TIMESTAMPNS timespecs into the slots", async () => {
    // The deny list tells whether each address arrived intact (IPv4-mapped → IPv4 included).
    const { kernel, wasm } = await newKernel({ batchSize: 4, denylist: { filter: ["2001:db8::5", "198.51.100.1"], action: "deny" } });
    const stride = 28; // sizeof(sockaddr_in6); recvmmsg's msg_namelen buffers
    const names = wasm.reserve(4 * stride);
    const times = wasm.reserve(4 * 16);
    const m = new DataView(wasm.exports.memory.buffer);
    // slot 0: 192.0.2.7:40000   slot 1: [2001:db8::5]:123   slot 2: ::ffff:198.51.100.1   slot 3: AF_UNIX (1)
    m.setUint16(names, 2, true); m.setUint16(names + 2, 40000); [192, 0, 2, 7].forEach((b, i) => m.setUint8(names + 4 + i, b));
    m.setUint16(names + stride, 10, true); m.setUint16(names + stride + 2, 123);
    [0x20, 0x01, 0x0d, 0xb8].forEach((b, i) => m.setUint8(names + stride + 8 + i, b)); m.setUint8(names + stride + 23, 5);
    m.setUint16(names + 2 * stride, 10, true); m.setUint16(names + 2 * stride + 18, 0xffff);
    [198, 51, 100, 1].forEach((b, i) => m.setUint8(names + 2 * stride + 20 + i, b));
    m.setUint16(names + 3 * stride, 1, true);
    expect(kernel.importSockaddrs(4, names, stride)).toBe(3);
    // Timestamps: 2026-11-22T00:00:00.5Z for slots 0, 1 and 3, none (zero) for slot 2.
    const unix = 1_795_305_600n;
    for (const i of [0, 1, 3]) {
      m.setBigInt64(times + 16 * i, unix, true);
      m.setBigInt64(times + 16 * i + 8, 500_000_000n, true);
    }
    const fallback = T0 + 12345n;
    kernel.importTimespecs(4, times, 16, fallback);
    for (let i = 0; i < 4; i++) kernel.memory().set(request(), kernel.requestPacketOffset(i));
    for (let i = 0; i < 4; i++) kernel.setRequestLength(i, 48);
    kernel.handleBatchAt(4, T0 + SECOND);
    expect([0, 1, 2, 3].map((i) => OUTCOMES[kernel.responseOutcome(i) - 1])).toEqual(["answered_basic", "kod_deny", "kod_deny", "dropped_bad_address"]);
    const ntp = ((unix + 2_208_988_800n) << 32n) | (1n << 31n); // .5 s
    expect(kernel.responseReceiveTime(0)).toBe(ntp | 1n);
    expect(kernel.responseReceiveTime(1)).toBe((ntp | 1n) + 2n); // same instant: moved to stay unique
    expect(kernel.responseReceiveTime(2)).toBe(fallback | 1n);
  });
});
