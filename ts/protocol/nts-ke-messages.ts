/**
 * NTS-KE messages (RFC 8915 §4, §5.1), sans-IO: builders for the client request and the server
 * response, the §4 rules a request or response must satisfy (interpretKeRequest for servers,
 * interpretKeResponse for clients), and the TLS exporter label and context that turn a finished
 * exchange into the NTPv4 keys. Records themselves are encoded and decoded by nts-ke-codec.ts.
 */
import { KeErrorCode, NTS_PROTOCOL_NTPV4, encodeKeRecords, type KeRecord } from "./nts-ke-codec.js";

/** The RFC 8915 §4.3/§5.1 exporter label. */
export const NTS_EXPORTER_LABEL = "EXPORTER-network-time-security";

/**
 * The RFC 8915 §5.1 per-association exporter context (five octets): Protocol ID 0 (NTPv4) ‖ the
 * negotiated AEAD id (network order) ‖ 0x00 for the C2S key or 0x01 for the S2C key.
 */
export function ntsExporterContext(aead: number, direction: "c2s" | "s2c"): Uint8Array {
  return Uint8Array.from([0, 0, (aead >> 8) & 0xff, aead & 0xff, direction === "c2s" ? 0 : 1]);
}

export interface KeRequestOptions {
  /** AEAD ids in decreasing preference (§4.1.5: at least one). */
  readonly aeadAlgorithms: readonly number[];
  /** Protocols wanted (§4.1.2: at least one); default NTPv4 only. */
  readonly protocols?: readonly number[];
  /** Optional Server/Port Negotiation wishes (§4.1.7, §4.1.8; clients SHOULD NOT set C). */
  readonly server?: string;
  readonly port?: number;
}

/** Build a client request: Next Protocol, AEAD Algorithm, [Server], [Port], End of Message. */
export function buildKeRequest(options: KeRequestOptions): Uint8Array {
  const protocols = options.protocols ?? [NTS_PROTOCOL_NTPV4];
  if (protocols.length === 0) throw new RangeError('an NTS-KE request must list at least one protocol');
  if (options.aeadAlgorithms.length === 0) throw new RangeError('an NTS-KE request must list at least one AEAD algorithm');
  const records: KeRecord[] = [
    { type: 'next-protocol', critical: true, protocols },
    { type: 'aead-algorithm', critical: true, algorithms: options.aeadAlgorithms },
  ];
  if (options.server !== undefined) records.push({ type: 'server', critical: false, host: options.server });
  if (options.port !== undefined) records.push({ type: 'port', critical: false, port: options.port });
  records.push({ type: 'end-of-message', critical: true });
  return encodeKeRecords(records);
}

export interface KeResponseOptions {
  /** Protocols the server accepts (a subset of the request's; may be empty, §4.1.2). */
  readonly protocols: readonly number[];
  /** The chosen AEAD id, or null when none of the offered ones is supported (empty record). */
  readonly aead: number | null;
  readonly cookies: readonly Uint8Array[];
  readonly server?: string;
  readonly port?: number;
  /** Warning codes to send (none are defined by RFC 8915). */
  readonly warnings?: readonly number[];
}

/** Build a server response: Next Protocol, AEAD, [Server], [Port], cookies…, End of Message. */
export function buildKeResponse(options: KeResponseOptions): Uint8Array {
  const records: KeRecord[] = [
    { type: 'next-protocol', critical: true, protocols: options.protocols },
    { type: 'aead-algorithm', critical: true, algorithms: options.aead === null ? [] : [options.aead] },
  ];
  for (const code of options.warnings ?? []) records.push({ type: 'warning', critical: true, code });
  if (options.server !== undefined) records.push({ type: 'server', critical: true, host: options.server });
  if (options.port !== undefined) records.push({ type: 'port', critical: true, port: options.port });
  for (const cookie of options.cookies) records.push({ type: 'new-cookie', critical: false, cookie });
  records.push({ type: 'end-of-message', critical: true });
  return encodeKeRecords(records);
}

/** Build an error response: Error(code), End of Message (§4.1.3). */
export function buildKeErrorResponse(code: number): Uint8Array {
  return encodeKeRecords([
    { type: 'error', critical: true, code },
    { type: 'end-of-message', critical: true },
  ]);
}

/** What a server needs from a request (§4.1.2–§4.1.8). */
export interface KeRequest {
  readonly protocols: readonly number[];
  /** Empty when the request offers no NTPv4 (then AEAD is optional, §4.1.5). */
  readonly aeadAlgorithms: readonly number[];
  readonly server?: string;
  readonly port?: number;
}

export type KeInterpretation<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string; /** Error code a server answers with. */ readonly errorCode: number };

/**
 * Check a decoded request against RFC 8915 §4: exactly one Next Protocol listing at least one
 * protocol; exactly one non-empty AEAD record if NTPv4 is offered; at most one Server and Port; no
 * Error, Warning or New Cookie (clients MUST NOT send them). Failures map to Bad Request (1).
 */
export function interpretKeRequest(records: readonly KeRecord[]): KeInterpretation<KeRequest> {
  const bad = (reason: string): KeInterpretation<KeRequest> => ({ ok: false, reason, errorCode: KeErrorCode.BadRequest });
  let protocols: readonly number[] | undefined;
  let aeadAlgorithms: readonly number[] | undefined;
  let server: string | undefined;
  let port: number | undefined;
  for (const record of records) {
    switch (record.type) {
      case 'next-protocol':
        if (protocols !== undefined) return bad('more than one Next Protocol record');
        protocols = record.protocols;
        break;
      case 'aead-algorithm':
        if (aeadAlgorithms !== undefined) return bad('more than one AEAD Algorithm record');
        aeadAlgorithms = record.algorithms;
        break;
      case 'server':
        if (server !== undefined) return bad('more than one Server Negotiation record');
        server = record.host;
        break;
      case 'port':
        if (port !== undefined) return bad('more than one Port Negotiation record');
        port = record.port;
        break;
      case 'error':
      case 'warning':
      case 'new-cookie':
        return bad(`a client must not send a ${record.type} record`);
      case 'end-of-message':
      case 'unknown':
        break;
    }
  }
  if (protocols === undefined || protocols.length === 0) return bad('no protocol offered');
  if (protocols.includes(NTS_PROTOCOL_NTPV4) && (aeadAlgorithms === undefined || aeadAlgorithms.length === 0)) {
    return bad('NTPv4 offered without AEAD algorithms');
  }
  const value: KeRequest = {
    protocols,
    aeadAlgorithms: aeadAlgorithms ?? [],
    ...(server !== undefined ? { server } : {}),
    ...(port !== undefined ? { port } : {}),
  };
  return { ok: true, value };
}

/** What a client keeps from a successful NTPv4 response. */
export interface KeResponse {
  readonly aead: number;
  readonly cookies: readonly Uint8Array[];
  /** Negotiated NTP server (absent: the KE server's address, §4.1.7). */
  readonly server?: string;
  /** Negotiated NTP port (absent: 123, §4.1.8). */
  readonly port?: number;
}

export type KeResponseFailure =
  /** The server sent Error(code) (§4.1.3): discard the keys, do not proceed. */
  | { readonly kind: 'error-record'; readonly code: number }
  /** The server sent a Warning (§4.1.4: none are defined, so unrecognised codes are errors). */
  | { readonly kind: 'warning-record'; readonly code: number }
  /** The response breaks §4 (missing/duplicate records, NTPv4 or our AEAD refused, no cookies). */
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Check a decoded response for an NTPv4 client that offered `offeredAeads` (§4.1.2–§4.1.8): no
 * Error or Warning; exactly one Next Protocol containing NTPv4; exactly one AEAD record naming
 * one algorithm we offered; at most one Server and Port; at least one cookie.
 */
export function interpretKeResponse(
  records: readonly KeRecord[],
  offeredAeads: readonly number[],
): { ok: true; value: KeResponse } | { ok: false; failure: KeResponseFailure } {
  const invalid = (reason: string) => ({ ok: false as const, failure: { kind: 'invalid' as const, reason } });
  let protocols: readonly number[] | undefined;
  let algorithms: readonly number[] | undefined;
  let server: string | undefined;
  let port: number | undefined;
  const cookies: Uint8Array[] = [];
  for (const record of records) {
    switch (record.type) {
      case 'error':
        return { ok: false, failure: { kind: 'error-record', code: record.code } };
      case 'warning':
        return { ok: false, failure: { kind: 'warning-record', code: record.code } };
      case 'next-protocol':
        if (protocols !== undefined) return invalid('more than one Next Protocol record');
        protocols = record.protocols;
        break;
      case 'aead-algorithm':
        if (algorithms !== undefined) return invalid('more than one AEAD Algorithm record');
        algorithms = record.algorithms;
        break;
      case 'server':
        if (server !== undefined) return invalid('more than one Server Negotiation record');
        server = record.host;
        break;
      case 'port':
        if (port !== undefined) return invalid('more than one Port Negotiation record');
        port = record.port;
        break;
      case 'new-cookie':
        cookies.push(record.cookie);
        break;
      case 'end-of-message':
      case 'unknown':
        break;
    }
  }
  if (protocols === undefined) return invalid('no Next Protocol record');
  if (!protocols.includes(NTS_PROTOCOL_NTPV4)) return invalid('the server does not offer NTPv4');
  if (algorithms === undefined) return invalid('no AEAD Algorithm record');
  if (algorithms.length !== 1) {
    return invalid(algorithms.length === 0 ? 'the server supports none of our AEAD algorithms' : 'more than one AEAD algorithm chosen');
  }
  const aead = algorithms[0]!;
  if (!offeredAeads.includes(aead)) return invalid(`the server chose AEAD ${aead}, which we did not offer`);
  if (cookies.length === 0) return invalid('no cookies');
  if (port === 0) return invalid('Port Negotiation names port 0');
  return {
    ok: true,
    value: {
      aead,
      cookies,
      ...(server !== undefined ? { server } : {}),
      ...(port !== undefined ? { port } : {}),
    },
  };
}
