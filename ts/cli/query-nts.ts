// `tock query --nts HOST[:KE-PORT]`: NTS-KE (RFC 8915 §4) to HOST, then NTS-protected NTP (§5) to
// the server and port it names, sampled like a plain `tock query`.
//
// Never a fallback to unauthenticated time: a response that does not authenticate is dropped and
// the exchange keeps waiting (a forgery must neither end it nor count as a sample); when the wait
// ends with only such responses, the exit code says "authentication failed", not "timeout". An NTS
// NAK (KoD NTSN with our unique id) gets exactly one fresh NTS-KE and a retry (§5.7: discard all
// old cookies and keys); a second NAK ends the query. Running out of cookies (every request lost)
// also triggers a new KE, up to MAX_KEY_EXCHANGES in all.
import { webcrypto } from "node:crypto";
import type { NtpTimestamp } from "../core/api.js";
import type { Aead } from "../core/aead.js";
import { buildClientRequest, matchResponse, type ClientSample } from "../protocol/client-exchange.js";
import { AEAD_NAMES, NtsAssociation, aeadNonceLength, UNIQUE_ID_BYTES, type NtsSession } from "../protocol/nts-client.js";
import type { KeDialer } from "../daemon/nts-ke-client.js";
import { keyExchangeFirstAnswering } from "../daemon/nts-establish.js";
import { ResolveError, type ResolvedAddress } from "../daemon/resolver.js";
import type { Endpoint } from "../daemon/udp.js";
import { where, type NtsInfo, type QueryResult } from "./query-output.js";
import {
  ExitCode,
  MAX_IGNORED_PER_EXCHANGE,
  describeError,
  failureResult,
  finalFor,
  finish,
  type Attempt,
  type QueryDeps,
  type QueryOptions,
} from "./query.js";

/** What --nts needs beyond a plain query. */
export interface NtsDeps {
  dialer: KeDialer;
  aead: Aead;
  /** Bytes from a CSPRNG (unique identifiers, AEAD nonces). */
  randomBytes(length: number): Uint8Array;
}

/** NTS-KE runs per query: the first, one after a NAK, and refills after lost requests. */
const MAX_KEY_EXCHANGES = 4;

let sharedAead: Aead | undefined;

/** The production wiring: TLS dialer, the WASM AEAD of the shared core, node's CSPRNG. */
export async function realNtsDeps(): Promise<NtsDeps> {
  const { TlsKeDialer } = await import("../daemon/nts-ke-client.js");
  if (sharedAead === undefined) {
    const { loadCore } = await import("../daemon/load-core.js");
    const { createAead } = await import("../core/aead.js");
    // One façade per process: it reserves its WASM memory regions once (DESIGN.md principle 2).
    sharedAead = createAead((await loadCore()).wasm, { maxMessageBytes: 4096, maxKeys: 4 });
  }
  return {
    dialer: new TlsKeDialer(),
    aead: sharedAead,
    randomBytes: (length) => webcrypto.getRandomValues(new Uint8Array(length)),
  };
}

type NtsAttempt =
  | Attempt
  | { kind: "nak" }
  /** Matching responses came back but none authenticated (wrong key, foreign UID, no authenticator). */
  | { kind: "auth-failure"; detail: string };

export async function queryNts(options: QueryOptions, deps: QueryDeps): Promise<number> {
  const nts = deps.nts;
  if (nts === undefined) throw new Error("tock query --nts needs NTS dependencies (QueryDeps.nts)");
  const keServer = `${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}`;
  let keyExchanges = 0;
  let keAddresses: ResolvedAddress[];
  try {
    keAddresses = await deps.resolver.resolve(options.host, options.family);
  } catch (err) {
    const message = err instanceof ResolveError ? err.message : `cannot resolve ${options.host}: ${String(err)}`;
    return finish(deps, options, { status: "dns-failure", exitCode: ExitCode.DnsFailure, message });
  }

  /** One NTS-KE, trying the KE server's addresses in order while the failure is only the network. */
  async function establish(): Promise<NtsSession | QueryResult> {
    keyExchanges++;
    const attempt = await keyExchangeFirstAnswering(
      keAddresses,
      { host: options.host, port: options.port, caFile: options.caFile },
      { dialer: nts!.dialer, timeoutMs: options.timeoutMs },
    );
    if (attempt.ok) return attempt.session;
    const last = attempt.lastTried;
    return {
      status: "nts-ke-failure",
      exitCode: ExitCode.NtsKeFailure,
      ...(last ? { server: { address: last.address, port: options.port, family: last.family } } : {}),
      message: `NTS-KE with ${keServer} failed: ${attempt.failure?.message ?? "no address"}`,
    };
  }

  const association = new NtsAssociation();
  let endpoints: Endpoint[] = [];
  let endpointKey = "";
  let endpointIndex = 0;

  /** (Re)runs NTS-KE and points `endpoints` at the NTP server it names (§4.1.7, §4.1.8). */
  async function rekey(): Promise<QueryResult | undefined> {
    if (keyExchanges >= MAX_KEY_EXCHANGES) {
      return { status: "nts-ke-failure", exitCode: ExitCode.NtsKeFailure, message: `gave up after ${keyExchanges} NTS-KE exchanges with ${keServer}` };
    }
    const established = await establish();
    if ("status" in established) return established;
    association.installSession(established);
    const key = `${established.ntpServer}|${established.ntpPort}`;
    if (key !== endpointKey) {
      try {
        const addresses = await deps.resolver.resolve(established.ntpServer, options.family);
        endpoints = addresses.map(({ address, family }) => ({ address, port: established.ntpPort, family }));
      } catch (err) {
        const message = err instanceof ResolveError ? err.message : `cannot resolve ${established.ntpServer}: ${String(err)}`;
        return { status: "dns-failure", exitCode: ExitCode.DnsFailure, message: `NTP server named by NTS-KE: ${message}` };
      }
      endpointKey = key;
      endpointIndex = 0;
    }
    return undefined;
  }

  const info = (): NtsInfo | undefined => {
    const session = association.session;
    if (session === undefined) return undefined;
    return { aead: session.aead, aeadName: AEAD_NAMES[session.aead] ?? String(session.aead), cookies: session.cookies.size, keServer, keyExchanges };
  };
  const done = (result: QueryResult): number => {
    const nts = info();
    return finish(deps, options, nts ? { ...result, nts } : result);
  };

  const samples: ClientSample[] = [];
  const failures: NtsAttempt[] = [];
  let retriedAfterNak = false;
  let sampleServer: Endpoint | undefined;
  for (let i = 0; i < options.samples; i++) {
    if (association.needsKeyExchange !== null) {
      const failed = await rekey();
      if (failed !== undefined) return done(failed);
    }
    const server = endpoints[endpointIndex];
    if (server === undefined) break;
    if (i > 0 && options.intervalMs > 0) await deps.sleep(options.intervalMs);
    const attempt = await exchangeOnce(deps, nts, association, server, options.timeoutMs);
    switch (attempt.kind) {
      case "sample":
        samples.push(attempt.sample);
        sampleServer = server;
        break;
      case "kod":
      case "unsynchronised":
        return done(finalFor(attempt, server));
      case "nak":
        if (retriedAfterNak) {
          return done({ status: "nts-auth-failure", exitCode: ExitCode.NtsAuthFailure, server, message: `${where(server)} sent NTS NAK even for fresh cookies` });
        }
        retriedAfterNak = true;
        i--; // the NtsAssociation now wants a new KE; retry this sample with it
        break;
      case "network-error":
        failures.push(attempt);
        endpointIndex++; // this address is unusable; the next one gets the remaining samples
        break;
      default:
        failures.push(attempt);
    }
  }
  if (samples.length > 0) {
    const best = samples.reduce((a, b) => (b.delay < a.delay ? b : a));
    return done({ status: "ok", exitCode: ExitCode.Ok, server: sampleServer!, sample: best, samplesSent: options.samples, samplesValid: samples.length });
  }
  const authFailure = failures.find((f) => f.kind === "auth-failure");
  if (authFailure !== undefined && authFailure.kind === "auth-failure") {
    return done({
      status: "nts-auth-failure",
      exitCode: ExitCode.NtsAuthFailure,
      ...(endpoints[0] ? { server: endpoints[0] } : {}),
      message: `no authentic response from ${endpoints[0] ? where(endpoints[0]) : keServer}: ${authFailure.detail}`,
    });
  }
  const plain = failures.filter((f): f is Attempt => f.kind !== "auth-failure" && f.kind !== "nak");
  return done(failureResult(plain, endpoints[Math.min(endpointIndex, endpoints.length - 1)], options));
}

/** One NTS request on a fresh socket; waits for an authentic response, dropping everything else. */
async function exchangeOnce(deps: QueryDeps, nts: NtsDeps, association: NtsAssociation, server: Endpoint, timeoutMs: number): Promise<NtsAttempt> {
  const session = association.session!;
  const header = buildClientRequest(deps.core, BigInt.asUintN(64, deps.random64()));
  const built = association.prepareRequest(nts.aead, {
    header: header.bytes,
    originTime: header.nonce,
    uniqueId: nts.randomBytes(UNIQUE_ID_BYTES),
    nonce: nts.randomBytes(aeadNonceLength(session.aead)),
  });
  if (built.kind !== "request") return { kind: "auth-failure", detail: "no cookie left" }; // unreachable: checked by the caller
  let socket;
  try {
    socket = await deps.transport.open(server, timeoutMs);
  } catch (err) {
    association.requestLost();
    return { kind: "network-error", detail: describeError(err) };
  }
  const rejected = new Map<string, number>();
  try {
    let sentAt: NtpTimestamp;
    try {
      sentAt = await socket.send(built.bytes);
    } catch (err) {
      association.requestLost();
      return { kind: "network-error", detail: describeError(err) };
    }
    for (let ignored = 0; ignored < MAX_IGNORED_PER_EXCHANGE; ignored++) {
      const datagram = await socket.receive();
      if (datagram === null) break;
      const verdict = association.handleResponse(deps.core, nts.aead, datagram.bytes);
      if (verdict.kind === "nak") return { kind: "nak" };
      if (verdict.kind === "ignored") {
        // Noise that is not even addressed to this request does not count as an NTS failure.
        if (!["malformed", "not-server-mode", "origin-mismatch"].includes(verdict.reason)) {
          rejected.set(verdict.reason, (rejected.get(verdict.reason) ?? 0) + 1);
        }
        continue;
      }
      // Authentic: now the ordinary checks and maths of RFC 5905 (KoD, unsynchronised, on-wire).
      const outcome = matchResponse(deps.core, datagram.bytes, {
        request: { bytes: built.bytes, nonce: header.nonce },
        sentAt,
        receivedAt: datagram.receivedAt,
        localPrecisionLog2: deps.clock.precisionLog2,
      });
      if (outcome.kind !== "ignored") return outcome;
    }
    association.requestLost();
    if (rejected.size > 0) {
      const detail = [...rejected].map(([reason, count]) => `${count} × ${reason}`).join(", ");
      return { kind: "auth-failure", detail: `responses failed NTS checks (${detail})` };
    }
    return { kind: "timeout", detail: socket.lastError?.message };
  } finally {
    socket.close();
  }
}
