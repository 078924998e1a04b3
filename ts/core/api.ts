// The typed contract of the WASM core, as seen from TypeScript.
//
// Everything here is plain data: no Node-only types, so the same façade loads in Node, browsers and
// edge workers. Absolute times are 64-bit NTP timestamps held in a bigint (32.32 fixed point,
// era-less, exactly as on the wire); durations are float64 seconds.

/** A 64-bit NTP timestamp (seconds since 1900 in the high 32 bits, fraction in the low 32), mod 2^64. */
export type NtpTimestamp = bigint;

/** Unix time split into whole seconds (may exceed 2^32, may be negative) and nanoseconds [0, 1e9). */
export interface UnixTime {
  seconds: number;
  nanos: number;
}

/** NTP association modes (RFC 5905 §7.3). */
export const enum Mode {
  Reserved = 0,
  SymmetricActive = 1,
  SymmetricPassive = 2,
  Client = 3,
  Server = 4,
  Broadcast = 5,
  Control = 6,
  Private = 7,
}

/** Leap indicator (RFC 5905 §7.3). 3 means the sender's clock is unsynchronised. */
export const enum Leap {
  None = 0,
  InsertSecond = 1,
  DeleteSecond = 2,
  Unsynchronised = 3,
}

/** The 48-byte NTP header, decoded. Short-format fields are converted to seconds. */
export interface NtpHeader {
  leap: number;
  version: number;
  mode: number;
  stratum: number;
  /** log2 seconds, signed 8-bit. */
  poll: number;
  /** log2 seconds, signed 8-bit. */
  precision: number;
  /** Root delay in seconds (from the unsigned 16.16 short format). */
  rootDelay: number;
  /** Root dispersion in seconds (from the unsigned 16.16 short format). */
  rootDispersion: number;
  /** Reference id as an unsigned 32-bit integer (IPv4 address, hash, or 4 ASCII bytes for stratum 0/1). */
  referenceId: number;
  referenceTime: NtpTimestamp;
  originTime: NtpTimestamp;
  receiveTime: NtpTimestamp;
  transmitTime: NtpTimestamp;
}

/** Why a packet was rejected by the codec; `Ok` when it parsed. Stable numbers: they feed counters. */
export const enum ParseResult {
  Ok = 0,
  /** Shorter than the 48-byte header. */
  TooShort = 1,
  /** Longer than the codec accepts (MAX_PACKET = 2048 bytes, asm/packet.ts). */
  TooLong = 2,
  /** Version field outside 1..4. */
  BadVersion = 3,
  /** An extension field whose length is not a multiple of 4, under 16 octets, or runs past the end (RFC 7822 §7.5). */
  BadExtensionLength = 4,
  /**
   * Trailing bytes that are neither a valid extension field nor a legacy MAC (RFC 7822 §7.5): a length
   * that is not a whole number of 4-byte words, or an NTPv4 tail of 4..16 octets (too short for the
   * last extension field, which needs 28, and not a 20/24-octet MAC or a 4-octet crypto-NAK).
   */
  BadTrailer = 5,
  /** More extension fields than the codec tracks (MAX_EXTENSIONS = 32, asm/packet.ts). */
  TooManyExtensions = 6,
}

/** One extension field: type, and where its value lies inside the packet (offsets from packet start). */
export interface ExtensionField {
  type: number;
  /** Offset of the 4-byte field header. */
  offset: number;
  /** Total field length including the 4-byte header and padding, as on the wire. */
  length: number;
}

export interface ParsedPacket {
  result: ParseResult;
  /** Present when result is Ok. */
  header?: NtpHeader;
  /** In wire order; they tile the packet from byte 48 up to the MAC (or the end). Empty unless Ok. */
  extensions: ExtensionField[];
  /** Offset and length of a legacy MAC (key id + digest) after the extension fields, if any. */
  mac?: { offset: number; length: number };
}

/** Result of RFC 5905 §8 on-wire maths for one client/server exchange. */
export interface OnWireSample {
  /** θ = ((T2 − T1) + (T3 − T4)) / 2, seconds; positive when the server is ahead. */
  offset: number;
  /** δ = max((T4 − T1) − (T3 − T2), ρ_local), seconds. */
  delay: number;
  /** ε = ρ_local + ρ_server + PHI·(T4 − T1), seconds. */
  dispersion: number;
}

/** What the WASM core offers. Implemented in ts/core/ over the flat memory ABI. */
export interface TockCore {
  // --- timestamps (asm/timestamp.ts) ---
  /** a − b in seconds, taking the shortest way around the 2^32-second era (|a − b| < 68 years). */
  ntpDiff(a: NtpTimestamp, b: NtpTimestamp): number;
  /** Unix time to NTP timestamp (era folded in: the result is mod 2^64). */
  unixToNtp(t: UnixTime): NtpTimestamp;
  /** NTP timestamp to Unix time, choosing the era that puts the result within 68 years of `pivot` (Unix seconds). */
  ntpToUnix(ts: NtpTimestamp, pivot: number): UnixTime;

  // --- packet codec (asm/packet.ts) ---
  /** Parses and validates a packet of any length; never throws for hostile input. */
  parsePacket(bytes: Uint8Array): ParsedPacket;
  /** Encodes a 48-byte header into a new Uint8Array. */
  buildHeader(h: NtpHeader): Uint8Array;

  // --- on-wire maths (asm/onwire.ts) ---
  /**
   * t1: client transmit (origin), t2: server receive, t3: server transmit, t4: client receive.
   * precision: the local clock's precision as log2 seconds; serverRootDispersion not included (ε only).
   */
  onWire(t1: NtpTimestamp, t2: NtpTimestamp, t3: NtpTimestamp, t4: NtpTimestamp, localPrecisionLog2: number, serverPrecisionLog2: number): OnWireSample;
}
