// Helpers for the server kernel tests: a fresh WASM instance per kernel, request builders, and
// readers for the fields of a response.
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createServerKernel, type ServerKernel } from "../../ts/core/server.js";
import type { ServerPolicyOptions } from "../../ts/protocol/server-policy.js";
import type { WasmInstance } from "../../ts/core/instance.js";

/** One second in NTP 32.32 units. */
export const SECOND = 1n << 32n;
/** 2026-11-22T00:00:00Z as an NTP timestamp: a realistic "now" for virtual time. */
export const T0 = (3_972_844_800n << 32n) | 0x12345678n;

export async function newKernel(options: ServerPolicyOptions = {}): Promise<{ kernel: ServerKernel; wasm: WasmInstance }> {
  const { wasm } = await loadFreshCore();
  return { kernel: createServerKernel(wasm, options), wasm };
}

export interface RequestFields {
  leap?: number;
  version?: number;
  mode?: number;
  stratum?: number;
  poll?: number;
  precision?: number;
  origin?: bigint;
  receive?: bigint;
  transmit?: bigint;
  /** Total length; bytes after the header are zero unless `tail` is given. */
  length?: number;
  tail?: Uint8Array;
}

/** A request packet (default: NTPv4 mode 3, 48 bytes, transmit timestamp T0). */
export function request(f: RequestFields = {}): Uint8Array {
  const length = f.length ?? 48 + (f.tail?.length ?? 0);
  const b = new Uint8Array(length);
  const v = new DataView(b.buffer);
  if (length >= 1) b[0] = ((f.leap ?? 0) << 6) | ((f.version ?? 4) << 3) | (f.mode ?? 3);
  if (length >= 4) {
    b[1] = f.stratum ?? 0;
    v.setInt8(2, f.poll ?? 6);
    v.setInt8(3, f.precision ?? -20);
  }
  if (length >= 48) {
    v.setBigUint64(24, f.origin ?? 0n);
    v.setBigUint64(32, f.receive ?? 0n);
    v.setBigUint64(40, f.transmit ?? T0);
  }
  if (f.tail !== undefined && length > 48) b.set(f.tail.subarray(0, length - 48), 48);
  return b;
}

/** The fields of a response, decoded straight from the bytes (independent of the codec). */
export function fields(r: Uint8Array) {
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  return {
    length: r.length,
    leap: r[0]! >> 6,
    version: (r[0]! >> 3) & 7,
    mode: r[0]! & 7,
    stratum: r[1]!,
    poll: v.getInt8(2),
    precision: v.getInt8(3),
    rootDelay: v.getUint32(4),
    rootDispersion: v.getUint32(8),
    referenceId: v.getUint32(12),
    refIdText: String.fromCharCode(r[12]!, r[13]!, r[14]!, r[15]!),
    reference: v.getBigUint64(16),
    origin: v.getBigUint64(24),
    receive: v.getBigUint64(32),
    transmit: v.getBigUint64(40),
  };
}

/** Sum of all outcome counters, which must equal `received`. */
export function outcomeSum(c: Record<string, number>): number {
  return (
    c.answered_basic! + c.answered_interleaved! + c.kod_rate! + c.kod_deny! + c.dropped_too_short! +
    c.dropped_oversize! + c.dropped_wrong_mode! + c.dropped_bad_version! + c.dropped_malformed! +
    c.dropped_denied! + c.dropped_rate_limited! + c.dropped_bad_address!
  );
}
