// Shared helpers for the core tests: one WASM instance per test file, hex and NTP-time builders.
import { loadFreshCore } from "../../ts/daemon/load-core.js";

export const core = (await loadFreshCore()).core;

/** One second in 32.32 fixed point. */
export const SECOND = 1n << 32n;
export const U64 = 1n << 64n;
/** 2036-02-07T06:28:16Z, the end of NTP era 0, in Unix seconds (2^32 − 2 208 988 800). */
export const ROLLOVER_UNIX = 2 ** 32 - 2_208_988_800;

export { hex, toHex } from "../hex.js";

/** NTP timestamp (mod 2^64) from a signed count of 2^-32 s units. */
export function wrap(units: bigint): bigint {
  return BigInt.asUintN(64, units);
}
