// NTS-KE for a `[[source]] mode = "nts"` (RFC 8915 §4), as the daemon's client runs it: resolve the KE
// server, try its addresses in order while the failure is only the network (refused, unreachable,
// timeout) — a certificate, TLS or protocol failure is the server's answer and ends the attempt —
// then resolve the NTP server the response named (§4.1.7; absent: the KE server's address) at the
// negotiated port (§4.1.8; absent: 123). The dialer is injected: TLS in production, SimKeDialer in tests.
// `tock query --nts` (ts/cli/query-nts.ts) shares the address-trying step, keyExchangeFirstAnswering().
import { KeFailure, keyExchange, type KeDialer } from "./nts-ke-client.js";
import type { ResolvedAddress, Resolver } from "./resolver.js";
import type { NtsSession } from "../protocol/nts-client.js";
import type { SourceAddress } from "../protocol/source.js";

export interface NtsKeServer {
  host: string;
  port: number;
  /** PEM file of trusted CAs; absent: the system's. */
  caFile: string | undefined;
}

/** The outcome of trying a KE server's addresses: a session, or the last failure and where it happened. */
export type KeAttempt =
  | { ok: true; session: NtsSession; address: ResolvedAddress }
  /** failure and lastTried are undefined only when there was no address to try. */
  | { ok: false; failure: KeFailure | undefined; lastTried: ResolvedAddress | undefined };

/**
 * NTS-KE with the first of `addresses` (the KE server's, in preference order) that answers: the next
 * address is tried only after a network failure or a timeout, since any other failure is the
 * server's own answer.
 */
export async function keyExchangeFirstAnswering(
  addresses: readonly ResolvedAddress[],
  server: NtsKeServer,
  deps: { dialer: KeDialer; timeoutMs: number },
): Promise<KeAttempt> {
  let failure: KeFailure | undefined;
  let lastTried: ResolvedAddress | undefined;
  for (const resolved of addresses) {
    lastTried = resolved;
    const target = { address: resolved.address, port: server.port, host: server.host, caFile: server.caFile };
    try {
      return { ok: true, session: await keyExchange(deps.dialer, target, { timeoutMs: deps.timeoutMs }), address: resolved };
    } catch (err) {
      // keyExchange rejects with KeFailure only; anything else is treated as a TLS failure.
      failure = err instanceof KeFailure ? err : new KeFailure("tls", err instanceof Error ? err.message : String(err));
      if (failure.kind !== "network" && failure.kind !== "timeout") break;
    }
  }
  return { ok: false, failure, lastTried };
}

/** A session and where its NTP goes; rejects with an Error whose message says what failed. */
export async function establishNtsSession(
  server: NtsKeServer,
  deps: { resolver: Resolver; dialer: KeDialer; timeoutMs: number },
): Promise<{ session: NtsSession; to: SourceAddress }> {
  const attempt = await keyExchangeFirstAnswering(await deps.resolver.resolve(server.host), server, deps);
  if (!attempt.ok) throw attempt.failure ?? new Error(`${server.host} has no address`);
  const { session } = attempt;
  const ntp = (await deps.resolver.resolve(session.ntpServer))[0];
  if (ntp === undefined) throw new Error(`NTP server ${session.ntpServer} named by NTS-KE has no address`);
  return { session, to: { address: ntp.address, port: session.ntpPort, family: ntp.family } };
}
