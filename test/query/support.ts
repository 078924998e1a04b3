// Helpers for the query tests: a scripted NTP server built on the real core (no second codec).
import type { NtpHeader, NtpTimestamp, TockCore } from "../../ts/core/api.js";
import { loadCore } from "../../ts/daemon/load-core.js";

export async function core(): Promise<TockCore> {
  return (await loadCore()).core;
}

/** 2026-01-01T00:00:00Z as an NTP timestamp: a fixed, realistic "now" for simulated clocks. */
export const START: NtpTimestamp = BigInt(1767225600 + 2208988800) << 32n;

/** Seconds → 32.32 fixed point, for building expected timestamps. */
export function seconds(s: number): bigint {
  return BigInt(Math.round(s * 2 ** 32));
}

/** The transmit timestamp of a request (bytes 40..47), i.e. the nonce a response must echo. */
export function requestNonce(c: TockCore, request: Uint8Array): NtpTimestamp {
  const parsed = c.parsePacket(request);
  if (parsed.header === undefined) throw new Error("test request does not parse");
  return parsed.header.transmitTime;
}

/** A well-formed server response to `request`, with any header fields overridden. */
export function serverResponse(c: TockCore, request: Uint8Array, fields: Partial<NtpHeader> = {}): Uint8Array {
  const header: NtpHeader = {
    leap: 0,
    version: 4,
    mode: 4,
    stratum: 2,
    poll: 6,
    precision: -23,
    rootDelay: 0.0125,
    rootDispersion: 0.0250,
    referenceId: 0xc0000201, // 192.0.2.1
    referenceTime: START - seconds(30),
    originTime: requestNonce(c, request),
    receiveTime: START,
    transmitTime: START,
    ...fields,
  };
  return c.buildHeader(header);
}

/** Packs 4 ASCII characters into a reference id (KoD codes, stratum-1 source names). */
export function ascii(code: string): number {
  let id = 0;
  for (let i = 0; i < 4; i++) id = (id << 8) | (code.charCodeAt(i) || 0);
  return id >>> 0;
}
