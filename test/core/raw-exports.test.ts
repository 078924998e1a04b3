// The raw WASM exports other kernels and batch callers use directly (no façade): the parse result
// struct layout (ts/core/layout.ts mirrors asm/packet.ts), pkt_encode_header and pkt_validate_batch.
import { expect, test } from "vitest";
import fc from "fast-check";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { RESULT, type CoreExports } from "../../ts/core/layout.js";
import { ParseResult } from "../../ts/core/index.js";
import { toHex } from "./support.js";

const { core, wasm } = await loadFreshCore();
const x = wasm.exports as unknown as CoreExports;
const inPtr = wasm.reserve(core.maxPacket);
const outPtr = wasm.reserve(64);
const resPtr = wasm.reserve(x.pkt_result_size());

const validHeader = fc.tuple(fc.uint8Array({ minLength: 48, maxLength: 48 }), fc.integer({ min: 1, max: 4 })).map(([b, v]) => {
  b[0] = (b[0]! & 0b1100_0111) | (v << 3);
  return b;
});

test("the struct size covers the extension table the façade reads", () => {
  expect(x.pkt_result_size()).toBe(RESULT.extensions + core.maxExtensions * RESULT.extensionEntry);
});

test("pkt_parse fills the struct at the offsets ts/core/layout.ts names, raw short format included", () => {
  fc.assert(
    fc.property(validHeader, (b) => {
      wasm.bytes().set(b, inPtr);
      expect(x.pkt_parse(inPtr, 48, resPtr)).toBe(ParseResult.Ok);
      const dv = new DataView(wasm.exports.memory.buffer);
      const wire = new DataView(b.buffer, b.byteOffset, 48);
      expect(dv.getUint32(resPtr + RESULT.reason, true)).toBe(0);
      expect(dv.getUint32(resPtr + RESULT.rootDelayRaw, true)).toBe(wire.getUint32(4));
      expect(dv.getUint32(resPtr + RESULT.rootDispersionRaw, true)).toBe(wire.getUint32(8));
      expect(dv.getFloat64(resPtr + RESULT.rootDelay, true)).toBe(wire.getUint32(4) / 65536);
      expect(dv.getBigUint64(resPtr + RESULT.transmitTime, true)).toBe(wire.getBigUint64(40));
    }),
    { numRuns: 2_000 },
  );
});

test("pkt_encode_header(pkt_parse(b)) reproduces the 48 header bytes exactly", () => {
  fc.assert(
    fc.property(validHeader, (b) => {
      const mem = wasm.bytes();
      mem.set(b, inPtr);
      x.pkt_parse(inPtr, 48, resPtr);
      x.pkt_encode_header(resPtr, outPtr);
      expect(toHex(wasm.bytes().slice(outPtr, outPtr + 48))).toBe(toHex(b));
    }),
    { numRuns: 2_000 },
  );
});

test("pkt_validate_batch gives each slot the same reason as the façade, and counts the Ok ones", () => {
  const stride = 256;
  const count = 40;
  const slots = wasm.reserve(stride * count);
  const lengths = wasm.reserve(4 * count);
  const reasons = wasm.reserve(count);
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: count, maxLength: count }), (packets) => {
      const mem = wasm.bytes();
      const lens = new Uint32Array(mem.buffer, lengths, count);
      packets.forEach((p, i) => {
        if (i % 2 === 0 && p.length >= 48) p[0] = (p[0]! & 0b1100_0111) | (4 << 3); // plenty of valid versions
        if (p.length <= stride) mem.set(p, slots + i * stride);
        lens[i] = p.length;
      });
      const ok = x.pkt_validate_batch(slots, stride, lengths, count, reasons);
      // A packet longer than its slot cannot be there: the batch reports it TooLong unread.
      const expected = packets.map((p) => (p.length > stride ? ParseResult.TooLong : core.validatePacket(p)));
      expect(Array.from(wasm.bytes().subarray(reasons, reasons + count))).toEqual(expected);
      expect(ok).toBe(expected.filter((r) => r === ParseResult.Ok).length);
    }),
    { numRuns: 300 },
  );
});
