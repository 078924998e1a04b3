// `tock query HOST[:PORT]`: a one-shot NTP query, like `ntpdate -q` or `sntp`. With --nts, the
// query is NTS-protected (RFC 8915): query-nts.ts runs NTS-KE and then the same sampling loop.
//
// The decisions live in protocol/client-exchange.ts (request with a random transmit timestamp,
// response matching, KoD, on-wire maths in WASM); this file parses options, resolves the name, runs
// one exchange per sample over a fresh socket each, keeps the lowest-delay sample (the one least
// disturbed by queueing, as ntpd's clock filter argues, RFC 5905 §10) and prints it.
//
// Every I/O dependency comes in through QueryDeps, so tests run the whole command in-process
// against a simulated transport, resolver and clock.
import { parseArgs } from "node:util";
import { webcrypto } from "node:crypto";
import type { NtpTimestamp, TockCore } from "../core/api.js";
import type { Clock } from "../clock/clock.js";
import {
  buildClientRequest,
  matchResponse,
  type ClientSample,
  type ExchangeOutcome,
} from "../protocol/client-exchange.js";
import { TransportError, type ClientTransport, type Endpoint } from "../daemon/udp.js";
import { KOD_MEANINGS, renderResult, where, type QueryResult } from "./query-output.js";
import { ResolveError, type AddressFamily, type Resolver } from "../daemon/resolver.js";
import { NTS_KE_PORT } from "../daemon/nts-ke-client.js";
import { queryNts, type NtsDeps } from "./query-nts.js";

/** Exit codes: documented in --help and the README; stable for scripts. */
export const ExitCode = {
  Ok: 0,
  /** Bad arguments. */
  Usage: 2,
  /** No response within --timeout for any sample at any address. */
  Timeout: 3,
  /** The name did not resolve, or has no address of the family asked for with -4/-6. */
  DnsFailure: 4,
  /** The server answered with a Kiss-o'-Death (stratum 0); its code is printed. */
  KissOfDeath: 5,
  /** The server answered but is unsynchronised (leap 3 or stratum 16). */
  Unsynchronised: 6,
  /** Matching responses came back but were unusable (zero receive/transmit timestamp). */
  BadResponse: 7,
  /** The request could not be sent (network unreachable, no route, address not available, …). */
  NetworkError: 8,
  /** --nts: NTS-KE failed (connection, TLS, untrusted certificate, Error record, bad response). */
  NtsKeFailure: 9,
  /** --nts: responses came back but none authenticated, or the server NAKed even fresh cookies. */
  NtsAuthFailure: 10,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const DEFAULT_PORT = 123;
const DEFAULT_NTS_KE_PORT = NTS_KE_PORT;
const DEFAULT_TIMEOUT_MS = 3000;
const DEFAULT_INTERVAL_MS = 1000;
const MAX_SAMPLES = 64;
const MAX_TIMEOUT_MS = 60_000;
const MAX_INTERVAL_MS = 60_000;
/** Datagrams ignored per exchange before giving up on it (the deadline bounds it too). */
export const MAX_IGNORED_PER_EXCHANGE = 256;

const HELP = `usage: tock query HOST[:PORT] [options]
       tock query --nts HOST[:KE-PORT] [--certificate-authority FILE] [options]

Asks an NTP server for the time once (or --samples times) and prints how far
this machine's clock is from it. Nothing is adjusted.

HOST is a name, an IPv4 address, or an IPv6 address ([::1]:123 with a port).
PORT defaults to 123.

With --nts, HOST is an NTS-KE server (KE-PORT defaults to ${DEFAULT_NTS_KE_PORT}): tock runs
NTS key establishment over TLS 1.3 (certificate checked against the system CAs
or FILE), then sends NTS-protected requests to the NTP server and port the KE
server names (default: the KE server's address, port 123). Only responses that
authenticate are used; there is never a fallback to unauthenticated time.

options:
  --nts           use Network Time Security (RFC 8915)
  --certificate-authority FILE
                  trust only the CA certificate(s) in this PEM file for NTS-KE
  --samples N     send N requests (each from a fresh random port) and keep the
                  one with the lowest delay (default 1, at most ${MAX_SAMPLES})
  --interval MS   pause between samples (default ${DEFAULT_INTERVAL_MS})
  --timeout MS    how long to wait for each response (default ${DEFAULT_TIMEOUT_MS}); with --nts
                  also the limit for each NTS-KE (connect, TLS, request, response)
  -4, -6          use only IPv4 / only IPv6 addresses of HOST
  --json          print one JSON object instead of text
  -h, --help      show this help

exit codes:
  0  ok                    5  Kiss-o'-Death received (code printed)
  2  bad arguments         6  server unsynchronised (leap 3 / stratum 16)
  3  timeout               7  bad response (zero receive/transmit timestamp)
  4  DNS failure           8  network error (could not send)
  9  NTS-KE failed (TLS, certificate, KE error record, bad KE response)
 10  NTS authentication failed (responses did not authenticate, or NTS NAK
     even after a fresh key exchange)
`;

export interface QueryDeps {
  core: TockCore;
  clock: Clock;
  transport: ClientTransport;
  resolver: Resolver;
  /** 64 bits from a CSPRNG, for the request's transmit timestamp. */
  random64(): bigint;
  sleep(ms: number): Promise<void>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** NTS-KE dialer, AEAD and random bytes; needed only with --nts. */
  nts?: NtsDeps;
}

export interface QueryOptions {
  host: string;
  port: number;
  samples: number;
  intervalMs: number;
  timeoutMs: number;
  family: AddressFamily | undefined;
  json: boolean;
  /** --nts: host/port name the NTS-KE server. */
  nts?: boolean;
  /** --certificate-authority: PEM file of trusted CAs for NTS-KE (else the system CAs). */
  caFile?: string | undefined;
}

/** Entry point for `tock query`: wires the real clock, sockets and DNS. */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseQueryArgs(argv);
  if (parsed.kind !== "options") return reportParse(parsed, realConsole);
  // Loaded only after the arguments are known good: --help and usage errors need no WASM.
  return query(parsed.options, await realDeps({ nts: parsed.options.nts === true }));
}

/**
 * The production wiring: WASM core, system clock, node:dgram, getaddrinfo, CSPRNG, process stdio;
 * with `nts`, also the TLS NTS-KE dialer and the WASM AEAD.
 */
export async function realDeps(options: { nts?: boolean } = {}): Promise<QueryDeps> {
  const { loadCore } = await import("../daemon/load-core.js");
  const { SystemClock } = await import("../clock/system-clock.js");
  const { DgramTransport } = await import("../daemon/udp.js");
  const { DnsResolver } = await import("../daemon/resolver.js");
  const { core } = await loadCore();
  const clock = new SystemClock((t) => core.unixToNtp(t));
  return {
    core,
    clock,
    transport: new DgramTransport(clock),
    resolver: new DnsResolver(),
    random64: () => webcrypto.getRandomValues(new BigUint64Array(1))[0] ?? 0n,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    ...realConsole,
    ...(options.nts === true ? { nts: await (await import("./query-nts.js")).realNtsDeps() } : {}),
  };
}

const realConsole = {
  stdout: (text: string) => void process.stdout.write(text),
  stderr: (text: string) => void process.stderr.write(text),
};

/** The whole command with injected I/O (what tests call). */
export async function runQuery(argv: string[], deps: QueryDeps): Promise<number> {
  const parsed = parseQueryArgs(argv);
  if (parsed.kind !== "options") return reportParse(parsed, deps);
  return query(parsed.options, deps);
}

// --- argument parsing ----------------------------------------------------------------------------

export type ParseOutcome = { kind: "options"; options: QueryOptions } | { kind: "help" } | { kind: "error"; message: string };

function reportParse(parsed: Exclude<ParseOutcome, { kind: "options" }>, out: Pick<QueryDeps, "stdout" | "stderr">): number {
  if (parsed.kind === "help") {
    out.stdout(HELP);
    return ExitCode.Ok;
  }
  out.stderr(`tock query: ${parsed.message}\n\n${HELP}`);
  return ExitCode.Usage;
}

export function parseQueryArgs(argv: string[]): ParseOutcome {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        samples: { type: "string" },
        interval: { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean" },
        ipv4: { type: "boolean", short: "4" },
        ipv6: { type: "boolean", short: "6" },
        nts: { type: "boolean" },
        "certificate-authority": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return { kind: "error", message: err instanceof Error ? err.message : String(err) };
  }
  if (values.help === true) return { kind: "help" };
  if (positionals.length !== 1) {
    return { kind: "error", message: positionals.length === 0 ? "missing HOST" : `expected one HOST, got ${positionals.length}` };
  }
  if (values.ipv4 === true && values.ipv6 === true) return { kind: "error", message: "-4 and -6 exclude each other" };
  const nts = values.nts === true;
  const caFile = values["certificate-authority"];
  if (caFile !== undefined && !nts) return { kind: "error", message: "--certificate-authority needs --nts" };
  if (caFile === "") return { kind: "error", message: "--certificate-authority needs a file name" };
  const target = parseHostPort(positionals[0] ?? "", nts ? DEFAULT_NTS_KE_PORT : DEFAULT_PORT);
  if (typeof target === "string") return { kind: "error", message: target };
  const samples = parseInteger(values.samples, "--samples", 1, 1, MAX_SAMPLES);
  const intervalMs = parseInteger(values.interval, "--interval", DEFAULT_INTERVAL_MS, 0, MAX_INTERVAL_MS);
  const timeoutMs = parseInteger(values.timeout, "--timeout", DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS);
  for (const v of [samples, intervalMs, timeoutMs]) if (typeof v === "string") return { kind: "error", message: v };
  return {
    kind: "options",
    options: {
      host: target.host,
      port: target.port,
      samples: samples as number,
      intervalMs: intervalMs as number,
      timeoutMs: timeoutMs as number,
      family: values.ipv4 === true ? 4 : values.ipv6 === true ? 6 : undefined,
      json: values.json === true,
      // Only present with --nts, so a plain query's options read exactly as before.
      ...(nts ? { nts: true, caFile: typeof caFile === "string" ? caFile : undefined } : {}),
    },
  };
}

/** An integer option within [min, max], its default when absent, or an error message. */
function parseInteger(raw: string | boolean | undefined, name: string, fallback: number, min: number, max: number): number | string {
  if (raw === undefined) return fallback;
  if (typeof raw !== "string" || !/^\d+$/.test(raw)) return `${name} needs a whole number, got '${String(raw)}'`;
  const value = Number(raw);
  if (value < min || value > max) return `${name} must be between ${min} and ${max}, got ${value}`;
  return value;
}

/**
 * HOST[:PORT] → host and port, or an error message. Forms: name, name:port, 1.2.3.4, 1.2.3.4:port,
 * [v6], [v6]:port, and a bare IPv6 literal (more than one colon, no brackets: no port possible).
 */
export function parseHostPort(text: string, defaultPort: number = DEFAULT_PORT): { host: string; port: number } | string {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return `unterminated '[' in '${text}'`;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return `unexpected '${rest}' after ']' in '${text}'`;
      portText = rest.slice(1);
    }
    if (!host.includes(":")) return `'[${host}]' is not an IPv6 address`;
  } else {
    const colons = text.split(":").length - 1;
    if (colons === 1) {
      const at = text.indexOf(":");
      host = text.slice(0, at);
      portText = text.slice(at + 1);
    }
  }
  if (host === "") return `missing host in '${text}'`;
  if (/[\s/]/.test(host)) return `'${host}' is not a host name or address`;
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return `port must be 1..65535, got '${portText}'`;
    }
    port = Number(portText);
  }
  return { host, port };
}

// --- the query -----------------------------------------------------------------------------------

/** One exchange's result as the command sees it. */
export type Attempt =
  | Exclude<ExchangeOutcome, { kind: "ignored" }>
  | { kind: "timeout"; detail: string | undefined }
  | { kind: "network-error"; detail: string };

async function query(options: QueryOptions, deps: QueryDeps): Promise<number> {
  if (options.nts === true) return queryNts(options, deps);
  let addresses;
  try {
    addresses = await deps.resolver.resolve(options.host, options.family);
  } catch (err) {
    const message = err instanceof ResolveError ? err.message : `cannot resolve ${options.host}: ${String(err)}`;
    return finish(deps, options, { status: "dns-failure", exitCode: ExitCode.DnsFailure, message });
  }

  // Try the addresses in order until one answers (ntpdate -q style: a dead address is not fatal).
  const failures: Attempt[] = [];
  let last: Endpoint | undefined;
  for (const { address, family } of addresses) {
    const server: Endpoint = { address, port: options.port, family };
    last = server;
    const samples: ClientSample[] = [];
    for (let i = 0; i < options.samples; i++) {
      if (i > 0 && options.intervalMs > 0) await deps.sleep(options.intervalMs);
      const attempt = await exchangeOnce(deps, server, options.timeoutMs);
      if (attempt.kind === "sample") {
        samples.push(attempt.sample);
        continue;
      }
      if (attempt.kind === "kod" || attempt.kind === "unsynchronised") {
        return finish(deps, options, finalFor(attempt, server));
      }
      failures.push(attempt);
      if (attempt.kind === "network-error") break; // this address is unusable; try the next one
    }
    if (samples.length > 0) {
      const best = samples.reduce((a, b) => (b.delay < a.delay ? b : a));
      return finish(deps, options, {
        status: "ok",
        exitCode: ExitCode.Ok,
        server,
        sample: best,
        samplesSent: options.samples,
        samplesValid: samples.length,
      });
    }
  }
  return finish(deps, options, failureResult(failures, last, options));
}

/** One request on a fresh socket; waits for the matching response, ignoring the rest. */
async function exchangeOnce(deps: QueryDeps, server: Endpoint, timeoutMs: number): Promise<Attempt> {
  const request = buildClientRequest(deps.core, BigInt.asUintN(64, deps.random64()));
  let socket;
  try {
    socket = await deps.transport.open(server, timeoutMs);
  } catch (err) {
    return { kind: "network-error", detail: describeError(err) };
  }
  try {
    let sentAt: NtpTimestamp;
    try {
      sentAt = await socket.send(request.bytes);
    } catch (err) {
      return { kind: "network-error", detail: describeError(err) };
    }
    for (let ignored = 0; ignored < MAX_IGNORED_PER_EXCHANGE; ignored++) {
      const datagram = await socket.receive();
      if (datagram === null) break;
      const outcome = matchResponse(deps.core, datagram.bytes, {
        request,
        sentAt,
        receivedAt: datagram.receivedAt,
        localPrecisionLog2: deps.clock.precisionLog2,
      });
      if (outcome.kind !== "ignored") return outcome;
    }
    return { kind: "timeout", detail: socket.lastError?.message };
  } finally {
    socket.close();
  }
}

export function describeError(err: unknown): string {
  if (err instanceof TransportError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

// --- results ------------------------------------------------------------------------------------

export function finalFor(attempt: Extract<Attempt, { kind: "kod" | "unsynchronised" }>, server: Endpoint): QueryResult {
  if (attempt.kind === "kod") {
    const meaning = KOD_MEANINGS[attempt.code];
    return {
      status: "kod",
      exitCode: ExitCode.KissOfDeath,
      server,
      kod: attempt.code,
      header: attempt.header,
      message: `${where(server)} sent Kiss-o'-Death ${attempt.code || "(empty code)"}${meaning ? `: ${meaning}` : ""}`,
    };
  }
  const h = attempt.header;
  return {
    status: "unsynchronised",
    exitCode: ExitCode.Unsynchronised,
    server,
    header: h,
    message: `${where(server)} is unsynchronised (leap ${h.leap}, stratum ${h.stratum})`,
  };
}

export function failureResult(failures: Attempt[], server: Endpoint | undefined, options: QueryOptions): QueryResult {
  const invalid = failures.find((f) => f.kind === "invalid");
  if (invalid !== undefined && invalid.kind === "invalid") {
    return {
      status: "bad-response",
      exitCode: ExitCode.BadResponse,
      ...(server ? { server } : {}),
      header: invalid.header,
      message: `unusable response from ${server ? where(server) : options.host}: ${invalid.reason}`,
    };
  }
  const timeouts = failures.filter((f) => f.kind === "timeout");
  if (timeouts.length === 0) {
    const net = failures.find((f) => f.kind === "network-error");
    const detail = net?.kind === "network-error" ? net.detail : "no address to try";
    return { status: "network-error", exitCode: ExitCode.NetworkError, ...(server ? { server } : {}), message: `cannot query ${options.host}: ${detail}` };
  }
  const hint = timeouts.map((t) => (t.kind === "timeout" ? t.detail : undefined)).find((d) => d !== undefined);
  return {
    status: "timeout",
    exitCode: ExitCode.Timeout,
    ...(server ? { server } : {}),
    message: `no response from ${options.host} within ${options.timeoutMs} ms${hint ? ` (${hint})` : ""}`,
  };
}

export function finish(deps: QueryDeps, options: QueryOptions, result: QueryResult): number {
  const text = renderResult(deps.core, options.host, options.json, result);
  if (text.stdout !== "") deps.stdout(text.stdout);
  if (text.stderr !== "") deps.stderr(text.stderr);
  return result.exitCode;
}
