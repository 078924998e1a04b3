// Hostile input never throws or traps: random byte strings (the brief's 100k cases) and random
// packets that are well-formed up to a point, so the extension walk is exercised deep, not just
// the version check. Every Ok result must also satisfy the codec's structural invariants.
import { expect, test } from "vitest";
import fc from "fast-check";
import { ParseResult, type ParsedPacket } from "../../ts/core/index.js";
import { core } from "./support.js";

const REASONS = new Set<number>([0, 1, 2, 3, 4, 5, 6]);

/** What an Ok parse promises: fields tile the packet from byte 48, then an optional MAC to the end. */
function checkInvariants(bytes: Uint8Array, parsed: ParsedPacket): void {
  expect(REASONS.has(parsed.result)).toBe(true);
  expect(core.validatePacket(bytes)).toBe(parsed.result);
  if (parsed.result !== ParseResult.Ok) {
    expect(parsed.header).toBeUndefined();
    expect(parsed.extensions).toEqual([]);
    return;
  }
  const h = parsed.header!;
  expect(h.version).toBeGreaterThanOrEqual(1);
  expect(h.version).toBeLessThanOrEqual(4);
  expect(h.version === 4 || parsed.extensions.length === 0).toBe(true);
  expect(parsed.extensions.length).toBeLessThanOrEqual(core.maxExtensions);
  let at = 48;
  for (const f of parsed.extensions) {
    expect(f.offset).toBe(at);
    expect(f.length % 4).toBe(0);
    expect(f.length).toBeGreaterThanOrEqual(16);
    expect(f.type).toBe((bytes[at]! << 8) | bytes[at + 1]!);
    expect(f.length).toBe((bytes[at + 2]! << 8) | bytes[at + 3]!);
    at += f.length;
  }
  if (parsed.mac) {
    expect(parsed.mac.offset).toBe(at);
    at += parsed.mac.length;
  } else if (parsed.extensions.length > 0) {
    expect(parsed.extensions.at(-1)!.length).toBeGreaterThanOrEqual(28); // RFC 7822 §7.5.1.4
  }
  expect(at).toBe(bytes.length);
}

test("100k random byte strings of length 0..1500 never throw and respect the invariants", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 1500 }), (bytes) => {
      checkInvariants(bytes, core.parsePacket(bytes));
    }),
    { numRuns: 100_000 },
  );
});

/** A valid NTPv1..4 header followed by a chain of extension fields whose lengths are mostly right. */
const nearlyValidPacket = fc
  .record({
    header: fc.uint8Array({ minLength: 48, maxLength: 48 }),
    version: fc.integer({ min: 1, max: 4 }),
    fields: fc.array(
      fc.record({
        type: fc.integer({ min: 0, max: 0xffff }),
        // Mostly legal lengths (multiples of 4 ≥ 16), sometimes anything.
        length: fc.oneof(
          fc.integer({ min: 4, max: 80 }).map((w) => w * 4),
          fc.integer({ min: 0, max: 0xffff }),
        ),
      }),
      { maxLength: 40 },
    ),
    tail: fc.oneof(fc.constant(0), fc.constantFrom(4, 20, 24), fc.integer({ min: 0, max: 40 })),
    cut: fc.option(fc.integer({ min: 0, max: 3000 })),
  })
  .map(({ header, version, fields, tail, cut }) => {
    header[0] = (header[0]! & 0b1100_0111) | (version << 3);
    const parts: number[] = Array.from(header);
    for (const f of fields) {
      const body = Math.max(0, Math.min(f.length, 400) - 4);
      parts.push(f.type >> 8, f.type & 0xff, f.length >> 8, f.length & 0xff, ...new Array<number>(body).fill(0x5a));
    }
    parts.push(...new Array<number>(tail).fill(0));
    const bytes = Uint8Array.from(parts);
    return cut === null ? bytes : bytes.subarray(0, cut);
  });

test("30k nearly valid packets (random field chains, MAC-sized tails, truncations) keep the invariants", () => {
  let ok = 0;
  fc.assert(
    fc.property(nearlyValidPacket, (bytes) => {
      const parsed = core.parsePacket(bytes);
      checkInvariants(bytes, parsed);
      if (parsed.result === ParseResult.Ok) ok++;
    }),
    { numRuns: 30_000 },
  );
  // The generator must actually reach the deep paths, or this test proves little.
  expect(ok).toBeGreaterThan(1_000);
});
