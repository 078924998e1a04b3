// Typed façade over the WASM core (timestamps, packet codec, on-wire maths), implementing TockCore.
//
// Memory ABI (DESIGN.md principle 2). At creation the façade reserves, once, in linear memory:
//   in      MAX_PACKET bytes (2048)   packet bytes copied in for parsing
//   out     MAX_PACKET bytes (2048)   bytes built by the kernel (headers), copied out
//   result  pkt_result_size() bytes   the parse result struct (layout in asm/packet.ts), also used
//                                     as scratch for the small outputs of ts_to_unix / onwire_compute
// Each call copies its input in, calls one export with offsets and lengths, and reads the answer
// out of `result`. Nothing is allocated inside WASM per call. No Node-only API here: the same code
// runs in browsers and workers (they instantiate the module from fetch() bytes).
import type { ExtensionField, NtpHeader, NtpTimestamp, OnWireSample, ParsedPacket, TockCore, UnixTime } from "./api.js";
import { ParseResult } from "./api.js";
import type { WasmInstance } from "./instance.js";
import { RESULT, type CoreExports } from "./layout.js";

import { instantiateWasm } from "./instance.js";

export * from "./api.js";
export { instantiateWasm, type WasmInstance, type WasmExports } from "./instance.js";

const U64_MAX = (1n << 64n) - 1n;
const HEADER_LENGTH = 48;

/** TockCore plus the lower-level entry points hot paths use to avoid building objects. */
export interface TockCoreExt extends TockCore {
  /** The reason code only: no header object, no extension list. */
  validatePacket(bytes: Uint8Array): ParseResult;
  /** ts + seconds (rounded to 2^-32 s), mod 2^64. */
  ntpAddSeconds(ts: NtpTimestamp, seconds: number): NtpTimestamp;
  /** Largest packet the codec accepts (bytes). */
  readonly maxPacket: number;
  /** Most extension fields tracked per packet. */
  readonly maxExtensions: number;
  /** Where this façade's regions lie in linear memory (byte offsets), for diagnostics and tests. */
  readonly regions: { readonly in: number; readonly out: number; readonly result: number };
}

/**
 * Instantiates the module (bytes from a file or fetch(), or a compiled Module) and returns the
 * façade with the instance it lives on (other façades — server kernel, AEAD — share that instance).
 */
export async function instantiateCore(source: BufferSource | WebAssembly.Module): Promise<{ core: TockCoreExt; wasm: WasmInstance }> {
  const wasm = await instantiateWasm(source);
  return { core: createCore(wasm), wasm };
}

export function createCore(instance: WasmInstance): TockCoreExt {
  const x = instance.exports as unknown as CoreExports;
  const maxPacket = x.pkt_max_packet() >>> 0;
  const maxExtensions = x.pkt_max_extensions() >>> 0;
  const inPtr = instance.reserve(maxPacket);
  const outPtr = instance.reserve(maxPacket);
  const resPtr = instance.reserve(Math.max(x.pkt_result_size() >>> 0, 64));

  // Views over linear memory. If any façade reserves more and memory grows, the old buffer is
  // detached; re-take the views then (a cheap identity check per call).
  let buffer = x.memory.buffer;
  let u8 = new Uint8Array(buffer);
  let dv = new DataView(buffer);
  const fresh = (): void => {
    if (x.memory.buffer !== buffer) {
      buffer = x.memory.buffer;
      u8 = new Uint8Array(buffer);
      dv = new DataView(buffer);
    }
  };

  const readHeader = (): NtpHeader => ({
    leap: dv.getUint8(resPtr + RESULT.leap),
    version: dv.getUint8(resPtr + RESULT.version),
    mode: dv.getUint8(resPtr + RESULT.mode),
    stratum: dv.getUint8(resPtr + RESULT.stratum),
    poll: dv.getInt8(resPtr + RESULT.poll),
    precision: dv.getInt8(resPtr + RESULT.precision),
    rootDelay: dv.getFloat64(resPtr + RESULT.rootDelay, true),
    rootDispersion: dv.getFloat64(resPtr + RESULT.rootDispersion, true),
    referenceId: dv.getUint32(resPtr + RESULT.referenceId, true),
    referenceTime: dv.getBigUint64(resPtr + RESULT.referenceTime, true),
    originTime: dv.getBigUint64(resPtr + RESULT.originTime, true),
    receiveTime: dv.getBigUint64(resPtr + RESULT.receiveTime, true),
    transmitTime: dv.getBigUint64(resPtr + RESULT.transmitTime, true),
  });

  /** Copies the packet in when it fits; returns the length to pass (the kernel rejects the rest). */
  const copyIn = (bytes: Uint8Array): number => {
    fresh();
    if (bytes.length <= maxPacket) u8.set(bytes, inPtr);
    // Larger inputs are not copied: the kernel answers TooLong from the length alone.
    return Math.min(bytes.length, 0x7fffffff);
  };

  return {
    maxPacket,
    maxExtensions,
    regions: { in: inPtr, out: outPtr, result: resPtr },

    ntpDiff: (a, b) => x.ts_diff(a, b),

    unixToNtp(t: UnixTime): NtpTimestamp {
      if (!Number.isSafeInteger(t.seconds)) throw new RangeError(`unix seconds must be a safe integer, got ${t.seconds}`);
      if (!Number.isInteger(t.nanos) || t.nanos < 0 || t.nanos >= 1e9) throw new RangeError(`nanos must be an integer in [0, 1e9), got ${t.nanos}`);
      return BigInt.asUintN(64, x.ts_from_unix(t.seconds, t.nanos));
    },

    ntpToUnix(ts: NtpTimestamp, pivot: number): UnixTime {
      checkTimestamp(ts, "timestamp");
      if (!Number.isFinite(pivot) || Math.abs(pivot) > Number.MAX_SAFE_INTEGER) throw new RangeError(`pivot must be finite Unix seconds, got ${pivot}`);
      x.ts_to_unix(ts, pivot, resPtr);
      fresh();
      return { seconds: dv.getFloat64(resPtr, true), nanos: dv.getUint32(resPtr + 8, true) };
    },

    ntpAddSeconds(ts: NtpTimestamp, seconds: number): NtpTimestamp {
      checkTimestamp(ts, "timestamp");
      return BigInt.asUintN(64, x.ts_add_seconds(ts, seconds));
    },

    parsePacket(bytes: Uint8Array): ParsedPacket {
      const len = copyIn(bytes);
      const result = x.pkt_parse(inPtr, len, resPtr) as ParseResult;
      if (result !== ParseResult.Ok) return { result, extensions: [] };
      fresh();
      const count = dv.getUint32(resPtr + RESULT.extensionCount, true);
      const extensions: ExtensionField[] = new Array<ExtensionField>(count);
      for (let i = 0; i < count; i++) {
        const entry = resPtr + RESULT.extensions + i * RESULT.extensionEntry;
        extensions[i] = {
          type: dv.getUint16(entry, true),
          length: dv.getUint16(entry + 2, true),
          offset: dv.getUint32(entry + 4, true),
        };
      }
      const parsed: ParsedPacket = { result, header: readHeader(), extensions };
      const macLength = dv.getUint32(resPtr + RESULT.macLength, true);
      if (macLength > 0) parsed.mac = { offset: dv.getUint32(resPtr + RESULT.macOffset, true), length: macLength };
      return parsed;
    },

    validatePacket(bytes: Uint8Array): ParseResult {
      return x.pkt_validate(inPtr, copyIn(bytes)) as ParseResult;
    },

    buildHeader(h: NtpHeader): Uint8Array {
      checkHeader(h);
      x.pkt_build_header(outPtr, h.leap, h.version, h.mode, h.stratum, h.poll, h.precision,
        h.rootDelay, h.rootDispersion, h.referenceId,
        h.referenceTime, h.originTime, h.receiveTime, h.transmitTime);
      fresh();
      return u8.slice(outPtr, outPtr + HEADER_LENGTH);
    },

    onWire(t1, t2, t3, t4, localPrecisionLog2, serverPrecisionLog2): OnWireSample {
      checkTimestamp(t1, "t1");
      checkTimestamp(t2, "t2");
      checkTimestamp(t3, "t3");
      checkTimestamp(t4, "t4");
      checkInt(localPrecisionLog2, -128, 127, "localPrecisionLog2");
      checkInt(serverPrecisionLog2, -128, 127, "serverPrecisionLog2");
      x.onwire_compute(t1, t2, t3, t4, localPrecisionLog2, serverPrecisionLog2, resPtr);
      fresh();
      return {
        offset: dv.getFloat64(resPtr, true),
        delay: dv.getFloat64(resPtr + 8, true),
        dispersion: dv.getFloat64(resPtr + 16, true),
      };
    },
  };
}

// Arguments from our own code (not wire input): a wrong one is a bug, so it throws rather than
// being silently masked into range.
function checkTimestamp(ts: NtpTimestamp, name: string): void {
  if (typeof ts !== "bigint" || ts < 0n || ts > U64_MAX) throw new RangeError(`${name} must be a bigint in [0, 2^64), got ${String(ts)}`);
}

function checkInt(v: number, min: number, max: number, name: string): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
}

function checkSeconds(v: number, name: string): void {
  if (!(v >= 0) || v === Infinity) throw new RangeError(`${name} must be finite seconds >= 0, got ${v}`);
}

function checkHeader(h: NtpHeader): void {
  checkInt(h.leap, 0, 3, "leap");
  checkInt(h.version, 0, 7, "version");
  checkInt(h.mode, 0, 7, "mode");
  checkInt(h.stratum, 0, 255, "stratum");
  checkInt(h.poll, -128, 127, "poll");
  checkInt(h.precision, -128, 127, "precision");
  checkSeconds(h.rootDelay, "rootDelay");
  checkSeconds(h.rootDispersion, "rootDispersion");
  checkInt(h.referenceId, 0, 0xffffffff, "referenceId");
  checkTimestamp(h.referenceTime, "referenceTime");
  checkTimestamp(h.originTime, "originTime");
  checkTimestamp(h.receiveTime, "receiveTime");
  checkTimestamp(h.transmitTime, "transmitTime");
}
