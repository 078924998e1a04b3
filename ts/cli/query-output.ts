// `tock query` output: renders a query's result as aligned text or one JSON object. Pure: returns
// the text for stdout and stderr, so the formats are testable without I/O.
import type { NtpHeader, NtpTimestamp, TockCore } from "../core/api.js";
import { formatReferenceId, referenceIdHex, type ClientSample } from "../protocol/client-exchange.js";
import type { Endpoint } from "../daemon/udp.js";

export type QueryStatus =
  | "ok"
  | "timeout"
  | "dns-failure"
  | "kod"
  | "unsynchronised"
  | "bad-response"
  | "network-error"
  | "nts-ke-failure"
  | "nts-auth-failure";

/** What an NTS query reports beside the sample (`tock query --nts`). */
export interface NtsInfo {
  /** Negotiated AEAD (IANA id) and its name. */
  aead: number;
  aeadName: string;
  /** Unused cookies held after the last response. */
  cookies: number;
  /** NTS-KE server as host:port, as given. */
  keServer: string;
  /** NTS-KE exchanges run (1, or more after a NAK or running out of cookies). */
  keyExchanges: number;
}

/** What a query ended with, ready to print. */
export interface QueryResult {
  status: QueryStatus;
  exitCode: number;
  message?: string;
  server?: Endpoint;
  sample?: ClientSample;
  samplesSent?: number;
  samplesValid?: number;
  kod?: string;
  header?: NtpHeader;
  /** Present for --nts queries that got through NTS-KE. */
  nts?: NtsInfo;
}

export function where(server: Endpoint): string {
  return `${server.address} port ${server.port}`;
}

export const KOD_MEANINGS: Record<string, string> = {
  ACST: "the association belongs to a unicast server",
  AUTH: "server authentication failed",
  AUTO: "autokey sequence failed",
  BCST: "the association belongs to a broadcast server",
  CRYP: "cryptographic authentication or identification failed",
  DENY: "access denied by remote server",
  DROP: "lost peer in symmetric mode",
  RSTR: "access denied due to local policy",
  INIT: "the association has not yet synchronized for the first time",
  MCST: "the association belongs to a dynamically discovered server",
  NKEY: "no key found",
  NTSN: "NTS negative acknowledgment (cookie rejected)",
  RATE: "rate exceeded: the server asks to poll less often",
  RMOT: "alteration of association from a remote host running ntpdc",
  STEP: "a step change in system time has occurred",
};

export const LEAP_NAMES = ["none", "insert second", "delete second", "unsynchronised"];

/** The text for stdout and stderr: JSON (one object) when `json`, else aligned text. */
export function renderResult(core: TockCore, host: string, json: boolean, result: QueryResult): { stdout: string; stderr: string } {
  if (json) return { stdout: `${JSON.stringify(toJson(core, host, result))}\n`, stderr: "" };
  if (result.status === "ok" && result.sample && result.server) {
    return { stdout: formatText(core, result.server, result.sample, result), stderr: "" };
  }
  const header = result.header && result.server ? formatHeaderLines(core, result.server, result.header).join("\n") + "\n" : "";
  return { stdout: header, stderr: `tock query: ${result.message ?? result.status}\n` };
}

function toJson(core: TockCore, host: string, r: QueryResult): Record<string, unknown> {
  const json: Record<string, unknown> = { status: r.status, exitCode: r.exitCode, host };
  if (r.server) Object.assign(json, { address: r.server.address, port: r.server.port, family: r.server.family });
  if (r.message !== undefined && r.status !== "ok") json.error = r.message;
  if (r.kod !== undefined) json.kod = r.kod;
  if (r.nts !== undefined) json.nts = { authenticated: r.status === "ok", ...r.nts };
  const h = r.sample?.header ?? r.header;
  if (r.sample) {
    Object.assign(json, {
      offset: r.sample.offset,
      delay: r.sample.delay,
      dispersion: r.sample.dispersion,
      rootDistance: r.sample.rootDistance,
      samplesSent: r.samplesSent,
      samplesValid: r.samplesValid,
    });
  }
  if (h) {
    Object.assign(json, {
      stratum: h.stratum,
      referenceId: formatReferenceId(h.referenceId, h.stratum),
      referenceIdHex: referenceIdHex(h.referenceId),
      leap: h.leap,
      leapName: LEAP_NAMES[h.leap] ?? String(h.leap),
      rootDelay: h.rootDelay,
      rootDispersion: h.rootDispersion,
      precision: h.precision,
      poll: h.poll,
      version: h.version,
      referenceTime: isoTime(core, h.referenceTime),
    });
  }
  return json;
}

function formatText(core: TockCore, server: Endpoint, sample: ClientSample, r: QueryResult): string {
  const lines = [
    row("server", where(server)),
    row("offset", `${signed(sample.offset)} s`),
    row("delay", `${fixed(sample.delay)} s`),
    row("dispersion", `${fixed(sample.dispersion)} s`),
    ...formatHeaderLines(core, server, sample.header).slice(1),
    row("root distance", `${fixed(sample.rootDistance)} s`),
    row("samples", `${r.samplesValid ?? 1} valid of ${r.samplesSent ?? 1} sent, lowest delay kept`),
    ...(r.nts ? [row("NTS", `authenticated (AEAD ${r.nts.aeadName}, cookies ${r.nts.cookies}, KE ${r.nts.keServer})`)] : []),
  ];
  return lines.join("\n") + "\n";
}

function formatHeaderLines(core: TockCore, server: Endpoint, h: NtpHeader): string[] {
  return [
    row("server", where(server)),
    row("stratum", String(h.stratum)),
    row("reference id", `${formatReferenceId(h.referenceId, h.stratum) || "-"} (0x${referenceIdHex(h.referenceId)})`),
    row("leap", `${LEAP_NAMES[h.leap] ?? h.leap} (${h.leap})`),
    row("root delay", `${fixed(h.rootDelay)} s`),
    row("root dispersion", `${fixed(h.rootDispersion)} s`),
    row("precision", `2^${h.precision} s (${humanSeconds(2 ** h.precision)})`),
    row("poll", `2^${h.poll} s (${humanSeconds(2 ** h.poll)})`),
    row("version", String(h.version)),
    row("reference time", isoTime(core, h.referenceTime) ?? "never (0)"),
  ];
}

function row(label: string, value: string): string {
  return `${label.padEnd(16)}${value}`;
}

function fixed(seconds: number): string {
  return seconds.toFixed(9);
}

function signed(seconds: number): string {
  return `${seconds < 0 ? "-" : "+"}${Math.abs(seconds).toFixed(9)}`;
}

function humanSeconds(s: number): string {
  if (s >= 1) return `${s} s`;
  if (s >= 1e-3) return `${(s * 1e3).toPrecision(3)} ms`;
  if (s >= 1e-6) return `${(s * 1e6).toPrecision(3)} µs`;
  return `${(s * 1e9).toPrecision(3)} ns`;
}

/** An NTP timestamp as ISO 8601 UTC with nanoseconds (era chosen near the present), or null for 0. */
function isoTime(core: TockCore, ts: NtpTimestamp): string | null {
  if (ts === 0n) return null;
  const unix = core.ntpToUnix(ts, Math.floor(Date.now() / 1000));
  const date = new Date(unix.seconds * 1000);
  if (Number.isNaN(date.getTime())) return null;
  return `${date.toISOString().slice(0, 19)}.${String(unix.nanos).padStart(9, "0")}Z`;
}
