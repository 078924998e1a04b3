// Packet codec benchmark: the WASM codec (asm/packet.ts) against the obvious plain-TypeScript
// version (DataView), measured in the same run on the same packets (DESIGN.md principle 2: WASM
// earns its place by measurement; if JS wins, we say so).
//
//   npx tsc -p tsconfig.json && node dist/bench/codec.js [--ms 400] [--batch 64]
//
// Rows (ops/s = packets per second; ratio = WASM ÷ JS, above 1 means WASM is faster):
//   objects   parse → ParsedPacket object (header with bigint timestamps, field list), then build a
//             48-byte header from it into a new Uint8Array. Façade (core.parsePacket/buildHeader)
//             vs a JS parser producing the same objects.
//   validate  reason code only. Façade core.validatePacket (copy in + call) vs a JS walk.
//   raw       copy in, parse into the result struct, re-encode the header into the out region,
//             copy 48 bytes out — raw exports, no objects. JS: walk + copy the header fields with
//             DataView get/set into a reused buffer.
//   batch     validate `--batch` packets per call with pkt_validate_batch: once with the packets
//             already in linear memory (as when the receive path writes there directly) and once
//             including the copy in. JS: the validation loop over the same packets.
import { loadFreshCore } from "../ts/daemon/load-core.js";
import { itemsPerSecond } from "./measure.js";
import type { CoreExports } from "../ts/core/layout.js";
import type { ExtensionField, NtpHeader, ParsedPacket } from "../ts/core/api.js";

// ---------------------------------------------------------------------------------------------
// The plain-TypeScript baseline: the same rules as asm/packet.ts, written the obvious way.
// ---------------------------------------------------------------------------------------------
const MAX_PACKET = 2048;
const MAX_EXTENSIONS = 32;

function jsValidate(b: Uint8Array, out?: { ext: ExtensionField[]; mac?: { offset: number; length: number } }): number {
  const len = b.length;
  if (len < 48) return 1;
  if (len > MAX_PACKET) return 2;
  const version = (b[0]! >> 3) & 7;
  if (version < 1 || version > 4) return 3;
  if ((len & 3) !== 0) return 5;
  let pos = 48;
  if (pos === len) return 0;
  if (version < 4) {
    if (out) out.mac = { offset: pos, length: len - pos };
    return 0;
  }
  if (len - pos === 4 && (b[pos]! | b[pos + 1]! | b[pos + 2]! | b[pos + 3]!) === 0) {
    if (out) out.mac = { offset: pos, length: 4 };
    return 0;
  }
  let count = 0;
  while (pos < len) {
    const rem = len - pos;
    if (rem === 20 || rem === 24) {
      if (out) out.mac = { offset: pos, length: rem };
      return 0;
    }
    if (rem < 28) return 5;
    const fieldLength = (b[pos + 2]! << 8) | b[pos + 3]!;
    if (fieldLength < 16 || (fieldLength & 3) !== 0 || fieldLength > rem) return 4;
    if (count === MAX_EXTENSIONS) return 6;
    if (out) out.ext.push({ type: (b[pos]! << 8) | b[pos + 1]!, length: fieldLength, offset: pos });
    count++;
    pos += fieldLength;
  }
  return 0;
}

function jsParse(b: Uint8Array): ParsedPacket {
  const out: { ext: ExtensionField[]; mac?: { offset: number; length: number } } = { ext: [] };
  const result = jsValidate(b, out);
  if (result !== 0) return { result, extensions: [] };
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const first = b[0]!;
  const parsed: ParsedPacket = {
    result,
    header: {
      leap: first >> 6,
      version: (first >> 3) & 7,
      mode: first & 7,
      stratum: b[1]!,
      poll: dv.getInt8(2),
      precision: dv.getInt8(3),
      rootDelay: dv.getUint32(4) / 65536,
      rootDispersion: dv.getUint32(8) / 65536,
      referenceId: dv.getUint32(12),
      referenceTime: dv.getBigUint64(16),
      originTime: dv.getBigUint64(24),
      receiveTime: dv.getBigUint64(32),
      transmitTime: dv.getBigUint64(40),
    },
    extensions: out.ext,
  };
  if (out.mac) parsed.mac = out.mac;
  return parsed;
}

function jsShort(seconds: number): number {
  if (!(seconds > 0)) return 0;
  const scaled = Math.ceil(seconds * 65536);
  return scaled >= 0xffffffff ? 0xffffffff : scaled;
}

function jsBuild(h: NtpHeader): Uint8Array {
  const b = new Uint8Array(48);
  const dv = new DataView(b.buffer);
  b[0] = ((h.leap & 3) << 6) | ((h.version & 7) << 3) | (h.mode & 7);
  b[1] = h.stratum;
  dv.setInt8(2, h.poll);
  dv.setInt8(3, h.precision);
  dv.setUint32(4, jsShort(h.rootDelay));
  dv.setUint32(8, jsShort(h.rootDispersion));
  dv.setUint32(12, h.referenceId);
  dv.setBigUint64(16, h.referenceTime);
  dv.setBigUint64(24, h.originTime);
  dv.setBigUint64(32, h.receiveTime);
  dv.setBigUint64(40, h.transmitTime);
  return b;
}

/** Raw JS: validate, then copy the header field by field (decode + encode) into a reused buffer. */
function jsRaw(b: Uint8Array, out: DataView): number {
  const result = jsValidate(b);
  if (result !== 0) return result;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  out.setUint8(0, dv.getUint8(0));
  out.setUint8(1, dv.getUint8(1));
  out.setInt8(2, dv.getInt8(2));
  out.setInt8(3, dv.getInt8(3));
  for (let off = 4; off < 16; off += 4) out.setUint32(off, dv.getUint32(off));
  for (let off = 16; off < 48; off += 8) out.setBigUint64(off, dv.getBigUint64(off));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Corpus: what a server sees — mostly plain client requests, some NTS, some MAC'd, some junk.
// ---------------------------------------------------------------------------------------------
function corpus(): Uint8Array[] {
  const header = (first: number, stratum = 0): Uint8Array => {
    const b = new Uint8Array(48);
    b[0] = first;
    b[1] = stratum;
    b[2] = 6;
    b[3] = 0xec;
    new DataView(b.buffer).setBigUint64(40, 0xe8a1b2c3_12345678n);
    return b;
  };
  const field = (type: number, length: number): Uint8Array => {
    const b = new Uint8Array(length).fill(0x5a);
    new DataView(b.buffer).setUint32(0, (type << 16) | length);
    return b;
  };
  const cat = (...parts: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const client = header(0x23);
  const server = header(0x24, 2);
  const withMac = cat(header(0x23), new Uint8Array(20).fill(1));
  const nts = cat(header(0x23), field(0x0104, 36), field(0x0204, 172), field(0x0404, 40));
  const bad = cat(header(0x23), field(0x0104, 30));
  // 8 plain client requests for every other kind.
  return [client, client, client, client, client, client, client, client, server, withMac, nts, bad];
}

// ---------------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------------
interface Args {
  ms: number;
  batch: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { ms: 400, batch: 64 };
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    if (argv[i] === "--ms" && value > 0) args.ms = Math.min(value, 60_000);
    else if (argv[i] === "--batch" && value > 0) args.batch = Math.min(Math.floor(value), 1024);
    else continue;
    i++;
  }
  return args;
}

let sink = 0;

/** Packets (rows) per second of `round` over ~ms: the shared loop of bench/measure.ts, 16 rounds per clock read. */
function measure(ms: number, perRound: number, round: () => void): number {
  return itemsPerSecond(ms, perRound, round, 16);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { core, wasm } = await loadFreshCore();
  const x = wasm.exports as unknown as CoreExports;
  const packets = corpus();
  const n = packets.length;

  // Sanity: both codecs agree on the corpus before anything is timed.
  for (const p of packets) {
    const a = core.parsePacket(p);
    const b = jsParse(p);
    if (a.result !== b.result || JSON.stringify(a, bigintJson) !== JSON.stringify(b, bigintJson)) {
      throw new Error(`WASM and JS disagree on a ${p.length}-byte packet`);
    }
  }

  const rows: Array<[string, number, number]> = [];

  rows.push([
    "objects: parse + build",
    measure(args.ms, n, () => {
      for (const p of packets) {
        const r = jsParse(p);
        if (r.header) sink ^= jsBuild(r.header)[0]!;
      }
    }),
    measure(args.ms, n, () => {
      for (const p of packets) {
        const r = core.parsePacket(p);
        if (r.header) sink ^= core.buildHeader(r.header)[0]!;
      }
    }),
  ]);

  rows.push([
    "validate (façade)",
    measure(args.ms, n, () => {
      for (const p of packets) sink ^= jsValidate(p);
    }),
    measure(args.ms, n, () => {
      for (const p of packets) sink ^= core.validatePacket(p);
    }),
  ]);

  // Raw exports: our own regions, reserved once.
  const inPtr = wasm.reserve(MAX_PACKET);
  const outPtr = wasm.reserve(MAX_PACKET);
  const resPtr = wasm.reserve(x.pkt_result_size());
  const jsOut = new DataView(new ArrayBuffer(48));
  const header = new Uint8Array(48);
  rows.push([
    "raw: parse + re-encode header",
    measure(args.ms, n, () => {
      for (const p of packets) sink ^= jsRaw(p, jsOut);
    }),
    measure(args.ms, n, () => {
      const mem = wasm.bytes();
      for (const p of packets) {
        mem.set(p, inPtr);
        if (x.pkt_parse(inPtr, p.length, resPtr) === 0) {
          x.pkt_encode_header(resPtr, outPtr);
          header.set(mem.subarray(outPtr, outPtr + 48));
          sink ^= header[0]!;
        }
      }
    }),
  ]);

  // Batch: `batch` packets per call, in fixed-size slots.
  const stride = 512;
  const slots = wasm.reserve(stride * args.batch);
  const lengths = wasm.reserve(4 * args.batch);
  const reasons = wasm.reserve(args.batch);
  const batch = Array.from({ length: args.batch }, (_, i) => packets[i % n]!);
  const place = (): void => {
    const mem = wasm.bytes();
    const lens = new Uint32Array(mem.buffer, lengths, args.batch);
    batch.forEach((p, i) => {
      mem.set(p, slots + i * stride);
      lens[i] = p.length;
    });
  };
  place();
  const jsBatch = measure(args.ms, args.batch, () => {
    for (const p of batch) sink ^= jsValidate(p);
  });
  rows.push([
    `batch validate ×${args.batch} (in memory)`,
    jsBatch,
    measure(args.ms, args.batch, () => {
      sink ^= x.pkt_validate_batch(slots, stride, lengths, args.batch, reasons);
    }),
  ]);
  rows.push([
    `batch validate ×${args.batch} (+ copy in)`,
    jsBatch,
    measure(args.ms, args.batch, () => {
      place();
      sink ^= x.pkt_validate_batch(slots, stride, lengths, args.batch, reasons);
    }),
  ]);

  const fmt = (v: number): string => `${(v / 1e6).toFixed(2)} M/s`.padStart(11);
  console.log(`codec bench: ${n}-packet corpus (8 plain client requests, server, MAC'd, NTS, malformed), ${args.ms} ms per cell, Node ${process.version}`);
  console.log(`${"case".padEnd(34)}${"JS".padStart(11)}${"WASM".padStart(11)}   WASM/JS`);
  for (const [name, js, w] of rows) {
    console.log(`${name.padEnd(34)}${fmt(js)}${fmt(w)}   ${(w / js).toFixed(2)}×`);
  }
  for (const [name, js, w] of rows) {
    console.log(`  ${name}: ${w >= js ? "WASM" : "plain JS"} wins by ${(Math.max(w, js) / Math.min(w, js)).toFixed(2)}×`);
  }
  if (sink === 0x7fffffff) console.log(""); // keeps the work observable to the optimiser
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

await main();
