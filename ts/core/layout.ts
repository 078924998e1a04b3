// The WASM core's raw exports used by the façade, and the parse result struct layout.
// The struct is defined in asm/packet.ts (RES_* constants); these offsets mirror it, and the codec
// tests decode known packets through them, so a drift between the two fails a test.

/** Byte offsets inside the parse result struct written by `pkt_parse` (native little-endian). */
export const RESULT = {
  reason: 0, // u32
  extensionCount: 4, // u32
  macOffset: 8, // u32 (0: no MAC)
  macLength: 12, // u32
  leap: 16, // u8
  version: 17, // u8
  mode: 18, // u8
  stratum: 19, // u8
  poll: 20, // i8
  precision: 21, // i8
  referenceId: 24, // u32
  rootDelayRaw: 28, // u32, 16.16 as on the wire
  rootDispersionRaw: 32, // u32, 16.16 as on the wire
  rootDelay: 40, // f64 seconds
  rootDispersion: 48, // f64 seconds
  referenceTime: 56, // u64
  originTime: 64, // u64
  receiveTime: 72, // u64
  transmitTime: 80, // u64
  extensions: 88, // table of { u16 type, u16 length, u32 offset }
  extensionEntry: 8,
} as const;

/** The exports of asm/timestamp.ts, asm/packet.ts and asm/onwire.ts (i64 ⇄ bigint, pointers are numbers). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  // asm/timestamp.ts
  ts_diff(a: bigint, b: bigint): number;
  ts_from_unix(unixSeconds: number, nanos: number): bigint;
  ts_to_unix(ts: bigint, pivotUnixSeconds: number, out: number): void;
  ts_add_seconds(ts: bigint, seconds: number): bigint;
  ts_short_to_seconds(v: number): number;
  ts_seconds_to_short(seconds: number): number;
  // asm/packet.ts
  pkt_parse(ptr: number, len: number, out: number): number;
  pkt_validate(ptr: number, len: number): number;
  pkt_validate_batch(base: number, stride: number, lengths: number, count: number, reasons: number): number;
  pkt_build_header(
    out: number, leap: number, version: number, mode: number, stratum: number, poll: number, precision: number,
    rootDelaySeconds: number, rootDispersionSeconds: number, referenceId: number,
    referenceTime: bigint, originTime: bigint, receiveTime: bigint, transmitTime: bigint,
  ): void;
  pkt_encode_header(result: number, out: number): void;
  pkt_max_packet(): number;
  pkt_max_extensions(): number;
  pkt_result_size(): number;
  // asm/onwire.ts
  onwire_compute(t1: bigint, t2: bigint, t3: bigint, t4: bigint, localPrecision: number, serverPrecision: number, out: number): void;
}
