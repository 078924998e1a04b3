// The Clock interface: how everything in tock reads the time of day.
//
// This is the READ-ONLY view (enough for queries and for serving time). Steering the clock (slew,
// step, frequency, leap, maxerror) belongs to a separate, wider interface added with the discipline,
// so code that only reads time can never steer it by accident.
import type { NtpTimestamp, UnixTime } from "../core/api.js";

export interface Clock {
  /** The current realtime as a 64-bit NTP timestamp (32.32 fixed point, era folded in). */
  now(): NtpTimestamp;
  /**
   * The clock's precision as log2 seconds (RFC 5905 §7.3 "precision"): the larger of the clock's tick
   * and the cost of reading it, rounded up to a power of two — what ntpd and chronyd advertise.
   */
  readonly precisionLog2: number;
}

/** 2^32, the scale of the NTP fraction field. */
const FRACTION_SCALE = 4294967296;

/**
 * Adds a duration (float64 seconds, may be negative) to an NTP timestamp, modulo 2^64.
 * Durations are float64 seconds in TS (DESIGN.md "Time in TypeScript"); the product with 2^32 stays
 * exact to the nanosecond for durations below ~2^20 s, ample for what callers add.
 */
export function addSeconds(ts: NtpTimestamp, seconds: number): NtpTimestamp {
  return BigInt.asUintN(64, ts + BigInt(Math.round(seconds * FRACTION_SCALE)));
}

const NS_PER_S = 1_000_000_000n;

/** Nanoseconds since the Unix epoch (may be negative) as whole seconds and 0 ≤ nanos < 1e9. */
export function unixTimeFromNs(ns: bigint): UnixTime {
  let seconds = ns / NS_PER_S;
  let nanos = ns % NS_PER_S;
  if (nanos < 0n) {
    nanos += NS_PER_S;
    seconds -= 1n;
  }
  return { seconds: Number(seconds), nanos: Number(nanos) };
}
