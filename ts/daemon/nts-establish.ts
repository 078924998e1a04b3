// NTS-KE for a `[[source]] mode = "nts"` (RFC 8915 §4), as the daemon's client runs it: resolve the KE
// server, try its addresses in order while the failure is only the network (refused, unreachable,
// timeout) — a certificate, TLS or protocol failure is the server's answer and ends the attempt —
// then resolve the NTP server the response named (§4.1.7; absent: the KE server's address) at the
// negotiated port (§4.1.8; absent: 123). The dialer is injected: TLS in production, SimKeDialer in tests.
import { KeFailure, keyExchange, type KeDialer } from "./nts-ke-client.js";
import type { Resolver } from "./resolver.js";
import type { NtsSession } from "../protocol/nts-client.js";
import type { SourceAddress } from "../protocol/source.js";

export interface NtsKeServer {
  host: string;
  port: number;
  /** PEM file of trusted CAs; absent: the system's. */
  caFile: string | undefined;
}

/** A session and where its NTP goes; rejects with an Error whose message says what failed. */
export async function establishNtsSession(
  server: NtsKeServer,
  deps: { resolver: Resolver; dialer: KeDialer; timeoutMs: number },
): Promise<{ session: NtsSession; to: SourceAddress }> {
  let failure: KeFailure | undefined;
  for (const { address } of await deps.resolver.resolve(server.host)) {
    let session: NtsSession;
    try {
      session = await keyExchange(deps.dialer, { address, port: server.port, host: server.host, caFile: server.caFile }, { timeoutMs: deps.timeoutMs });
    } catch (err) {
      failure = err instanceof KeFailure ? err : new KeFailure("tls", String(err));
      if (failure.kind === "network" || failure.kind === "timeout") continue; // the next address may answer
      break;
    }
    const ntp = (await deps.resolver.resolve(session.ntpServer))[0];
    if (ntp === undefined) throw new Error(`NTP server ${session.ntpServer} named by NTS-KE has no address`);
    return { session, to: { address: ntp.address, port: session.ntpPort, family: ntp.family } };
  }
  throw failure ?? new Error(`${server.host} has no address`);
}
