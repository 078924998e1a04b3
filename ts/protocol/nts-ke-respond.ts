// The NTS-KE server's decision (RFC 8915 §4), sans-IO: given the decoder's outcome for a request,
// the response to send. TLS, sockets and timers live in ts/daemon/nts-ke-server.ts; the record
// codec is ts/protocol/nts-ke-records.ts; cookies come from a minting function (the WASM NTS state).
//
//   decode error: unknown critical record          → Error 0 (Unrecognized Critical Record)
//   decode error: malformed / too large / too many / truncated, or a request that breaks §4
//   (no or several Next Protocol records, NTPv4 without AEAD, Error/Warning/New Cookie from a
//   client, duplicates)                            → Error 1 (Bad Request)
//   NTPv4 not offered                              → Next Protocol [] (empty, §4.1.2), no cookies
//   NTPv4 offered, no AEAD we support              → Next Protocol [0], AEAD [] (empty), no cookies
//   otherwise: the client's most preferred AEAD we support, keys from the TLS exporter (§5.1),
//   COOKIES_PER_EXCHANGE cookies, Server/Port Negotiation when configured → the response
//   a failure while exporting keys or minting cookies → Error 2 (Internal Server Error)
import {
  KeErrorCode, NTS_PROTOCOL_NTPV4, buildKeErrorResponse, buildKeResponse, interpretKeRequest, ntsExporterContext,
  type KeDecodeProgress,
} from "./nts-ke-records.js";

/** RFC 8915 §4.1.6: servers SHOULD send eight cookies. */
export const COOKIES_PER_EXCHANGE = 8;

export interface KeServerPolicy {
  /** AEAD ids we can serve (the kernel's). */
  readonly aeads: readonly number[];
  /** Announced with Server Negotiation (§4.1.7) when set. */
  readonly ntpServer?: string;
  /** Announced with Port Negotiation (§4.1.8) when set. */
  readonly ntpPort?: number;
}

export interface KeServerCrypto {
  /** The AEAD key length for `aead` (bytes). */
  keyLength(aead: number): number;
  /** TLS exporter (RFC 5705 / RFC 8446 §7.5) of `length` bytes with the NTS label and `context`. */
  exportKey(length: number, context: Uint8Array): Uint8Array;
  mintCookie(aead: number, c2s: Uint8Array, s2c: Uint8Array): Uint8Array;
}

export type KeServerOutcome =
  | "answered"
  | "no-common-aead"
  | "no-ntpv4"
  | "error-unrecognized-critical"
  | "error-bad-request"
  | "error-internal";

export interface KeServerReply {
  readonly outcome: KeServerOutcome;
  readonly bytes: Uint8Array;
  /** Why, for logs (errors only). */
  readonly detail?: string;
  readonly aead?: number;
}

export function respondToKeRequest(progress: KeDecodeProgress, policy: KeServerPolicy, crypto: KeServerCrypto): KeServerReply {
  if (progress.state === "need-more") {
    return { outcome: "error-bad-request", bytes: buildKeErrorResponse(KeErrorCode.BadRequest), detail: "incomplete request" };
  }
  if (progress.state === "error") {
    if (progress.error.kind === "unknown-critical") {
      return { outcome: "error-unrecognized-critical", bytes: buildKeErrorResponse(KeErrorCode.UnrecognizedCritical), detail: progress.error.detail };
    }
    return { outcome: "error-bad-request", bytes: buildKeErrorResponse(KeErrorCode.BadRequest), detail: progress.error.detail };
  }
  const request = interpretKeRequest(progress.records);
  if (!request.ok) {
    return { outcome: "error-bad-request", bytes: buildKeErrorResponse(request.errorCode), detail: request.reason };
  }
  if (!request.value.protocols.includes(NTS_PROTOCOL_NTPV4)) {
    return { outcome: "no-ntpv4", bytes: buildKeResponse({ protocols: [], aead: null, cookies: [] }) };
  }
  const aead = request.value.aeadAlgorithms.find((id) => policy.aeads.includes(id));
  if (aead === undefined) {
    return { outcome: "no-common-aead", bytes: buildKeResponse({ protocols: [NTS_PROTOCOL_NTPV4], aead: null, cookies: [] }) };
  }
  try {
    const length = crypto.keyLength(aead);
    const c2s = crypto.exportKey(length, ntsExporterContext(aead, "c2s"));
    const s2c = crypto.exportKey(length, ntsExporterContext(aead, "s2c"));
    const cookies = Array.from({ length: COOKIES_PER_EXCHANGE }, () => crypto.mintCookie(aead, c2s, s2c));
    c2s.fill(0);
    s2c.fill(0);
    const bytes = buildKeResponse({
      protocols: [NTS_PROTOCOL_NTPV4],
      aead,
      cookies,
      ...(policy.ntpServer !== undefined ? { server: policy.ntpServer } : {}),
      ...(policy.ntpPort !== undefined ? { port: policy.ntpPort } : {}),
    });
    return { outcome: "answered", bytes, aead };
  } catch (err) {
    return { outcome: "error-internal", bytes: buildKeErrorResponse(KeErrorCode.InternalServerError), detail: String(err) };
  }
}
