// The management report: what the daemon tells `tock status` / `tock sources` (and any other local
// tool) over the observation socket. One JSON document, versioned; this file is the contract between
// the daemon's provider (which fills it), the socket server (ts/observe/management.ts) and the CLI
// renderers (ts/cli/status-output.ts). JSON has no bigint, so absolute times travel as UnixTime
// ({ seconds, nanos }) and durations as float64 seconds, as everywhere in TS.
//
// Field meanings follow `chronyc tracking` / `chronyc sources`, so an operator coming from chrony
// reads them the same way; the words for source states are those of the selection (RFC 5905 §11.2)
// and of the source state machine (ts/core/selection.ts, ts/protocol/source.ts).
import type { UnixTime } from "../core/api.js";
import type { ClockState } from "../clock/adjustable.js";

export const REPORT_VERSION = 1;

/** How a source stands, in words (`tock sources` prints them; the symbol is chronyc's). */
export const SOURCE_STATES = {
  /** The system peer: the source the clock follows (chronyc '*'). */
  selected: "*",
  /** A truechimer that survived clustering and is combined into the offset (chronyc '+'). */
  candidate: "+",
  /** A truechimer discarded by the cluster algorithm: not combined (chronyc '-'). */
  outlier: "-",
  /** Outside the intersection of the majority: its time is wrong (chronyc 'x'). */
  falseticker: "x",
  /** Reachable, but its samples cannot be used (root distance too large, loop, bad stratum) (chronyc '~'). */
  unusable: "~",
  /** No sample yet (start-up burst in progress) (chronyc '?'). */
  initialising: "?",
  /** No answer to the last polls: the reach register is empty (chronyc '?'). */
  unreachable: "?",
  /** Answers, but says it is not synchronised itself (leap 3 or stratum 16) (chronyc '?'). */
  unsynchronised: "?",
  /** Refused us (Kiss-o'-Death DENY or RSTR): no longer polled (chronyc '?'). */
  denied: "?",
  /** An NTS source whose NTS-KE or response authentication failed: no unauthenticated fallback (chronyc '?'). */
  "nts-failed": "?",
} as const;
export type SourceStateWord = keyof typeof SOURCE_STATES;

export function isSourceStateWord(s: unknown): s is SourceStateWord {
  return typeof s === "string" && Object.hasOwn(SOURCE_STATES, s);
}

/** Leap status as chronyc prints it. */
export type LeapStatus = "normal" | "insert" | "delete" | "unsynchronised";

/** How the daemon treats the system clock. */
export type ClockMode = "steer" | "observe" | "sim";

export interface SystemReport {
  /** A source is selected and the served time comes from it (not local-stratum, not unsynchronised). */
  synchronised: boolean;
  /** The reference id we serve (u32): system peer's IPv4 address, hash, or 127.127.1.1 for local stratum. */
  referenceId: number;
  /** Human name of the reference: the system peer's name/address, "local" or null. */
  referenceName: string | null;
  stratum: number;
  /** When the clock was last updated from a source (UTC), or null. */
  referenceTime: UnixTime | null;
  /** Estimated clock − true time now (s); positive: our clock is fast. chronyc "System time". */
  systemTimeOffset: number | null;
  /** Offset measured at the last update (s), source − clock as on the wire. chronyc "Last offset". */
  lastOffset: number | null;
  /** Long-term RMS of the update offsets (s). */
  rmsOffset: number | null;
  /**
   * The oscillator's estimated frequency error (ppm, positive: it runs fast without correction).
   * chronyc's "Frequency" is the same quantity printed as "N ppm slow/fast".
   */
  frequencyPpm: number | null;
  /** Frequency difference of the latest update against the estimate (ppm). */
  residualFrequencyPpm: number | null;
  /** Estimated error bound of the frequency (ppm). */
  skewPpm: number | null;
  /** Root delay / dispersion we serve (s). */
  rootDelay: number;
  rootDispersion: number;
  /** Interval between the last two clock updates (s). */
  updateIntervalSeconds: number | null;
  leap: LeapStatus;
  /** Our clock's precision (log2 s). */
  precisionLog2: number;
}

export interface ClockReport {
  mode: ClockMode;
  /** Why this mode (e.g. "no CAP_SYS_TIME"). */
  why: string;
  /** The kernel's view (adjtimex), when known. */
  kernel: ClockState | null;
}

export interface LastSample {
  /** Offset θ (s), positive: the source is ahead of our clock. */
  offset: number;
  /** Round-trip delay δ (s). */
  delay: number;
  /** Seconds since the sample arrived. */
  agoSeconds: number;
}

export interface SourceReport {
  /** As configured (host or host:port), or the reference clock's name. */
  name: string;
  /** The address in use ("ip:port"), or null before resolution. */
  address: string | null;
  /** "server", "pool", "nts", or a reference clock kind. */
  kind: string;
  state: SourceStateWord;
  /** More detail on the state, e.g. the kiss code or why unusable. */
  reason?: string;
  stratum: number | null;
  /** Current poll interval (log2 s). */
  pollLog2: number;
  /** The 8-bit reach register (printed in octal, like ntpq/chronyc). */
  reach: number;
  lastSample: LastSample | null;
  /** Clock-filter output (RFC 5905 §10): offset, delay, jitter (s); null before the first sample. */
  offset: number | null;
  delay: number | null;
  jitter: number | null;
  /** Root distance λ (s): the error bound chronyc prints after "+/-". */
  rootDistance: number | null;
}

/** One [[server]] listener with its counters (names as the ntp_server_* metrics without prefix/suffix). */
export interface ServerReport {
  listenAddress: string;
  counters: Record<string, number>;
}

export interface DaemonReport {
  pid: number;
  /** tock's version (package.json). */
  version: string;
  uptimeSeconds: number;
}

export interface ManagementReport {
  version: typeof REPORT_VERSION;
  /** When the daemon built this report (UTC). */
  generatedAt: UnixTime;
  daemon: DaemonReport;
  clock: ClockReport;
  system: SystemReport;
  sources: SourceReport[];
  servers: ServerReport[];
}

/** What a client asks for (one JSON line on the socket). */
export type ManagementRequest = { request: "report" };

/** What the daemon answers: the report, or an error. */
export type ManagementResponse = { ok: true; report: ManagementReport } | { ok: false; error: string };

// ---------------------------------------------------------------- decoding a response

/**
 * Checks that `value` (parsed JSON from the socket) is a ManagementReport the renderers can print
 * without crashing: every field they read has the right type. Returns the report or what is wrong.
 * Unknown extra fields are allowed (a newer daemon may add some).
 */
export function decodeReport(value: unknown): ManagementReport | string {
  const r = obj(value, "report");
  if (typeof r === "string") return r;
  if (r.version !== REPORT_VERSION) return `report version ${JSON.stringify(r.version)} is not ${REPORT_VERSION} (tock versions differ?)`;
  const checks: (string | undefined)[] = [
    unixTime(r.generatedAt, "generatedAt"),
    fields(r.daemon, "daemon", { pid: "number", version: "string", uptimeSeconds: "number" }),
    fields(r.clock, "clock", { mode: "string", why: "string", kernel: "object|null" }),
    fields(r.system, "system", {
      synchronised: "boolean", referenceId: "number", referenceName: "string|null", stratum: "number",
      systemTimeOffset: "number|null", lastOffset: "number|null", rmsOffset: "number|null", frequencyPpm: "number|null",
      residualFrequencyPpm: "number|null", skewPpm: "number|null", rootDelay: "number", rootDispersion: "number",
      updateIntervalSeconds: "number|null", leap: "string", precisionLog2: "number",
    }),
  ];
  const system = r.system as Record<string, unknown> | undefined;
  if (system && system.referenceTime !== null) checks.push(unixTime(system.referenceTime, "system.referenceTime"));
  if (!Array.isArray(r.sources)) checks.push("sources: not an array");
  else {
    r.sources.forEach((s: unknown, i: number) => {
      const where = `sources[${i}]`;
      checks.push(
        fields(s, where, {
          name: "string", address: "string|null", kind: "string", state: "string", stratum: "number|null", pollLog2: "number",
          reach: "number", lastSample: "object|null", offset: "number|null", delay: "number|null", jitter: "number|null", rootDistance: "number|null",
        }),
      );
      const src = s as Record<string, unknown>;
      if (typeof src === "object" && src !== null) {
        if (!isSourceStateWord(src.state)) checks.push(`${where}.state: unknown state ${JSON.stringify(src.state)}`);
        if (src.lastSample !== null && src.lastSample !== undefined) checks.push(fields(src.lastSample, `${where}.lastSample`, { offset: "number", delay: "number", agoSeconds: "number" }));
      }
    });
  }
  if (!Array.isArray(r.servers)) checks.push("servers: not an array");
  else {
    r.servers.forEach((s: unknown, i: number) => {
      checks.push(fields(s, `servers[${i}]`, { listenAddress: "string", counters: "object" }));
      const counters = (s as { counters?: unknown }).counters;
      if (typeof counters === "object" && counters !== null && Object.values(counters).some((v) => typeof v !== "number")) checks.push(`servers[${i}].counters: non-numeric value`);
    });
  }
  const problem = checks.find((c) => c !== undefined);
  return problem ?? (r as unknown as ManagementReport);
}

type FieldType = "number" | "string" | "boolean" | "object" | "number|null" | "string|null" | "object|null";

function obj(value: unknown, where: string): Record<string, unknown> | string {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : `${where}: not an object`;
}

function fields(value: unknown, where: string, spec: Record<string, FieldType>): string | undefined {
  const o = obj(value, where);
  if (typeof o === "string") return o;
  for (const [key, type] of Object.entries(spec)) {
    const v = o[key];
    const [base, nullable] = type.split("|") as [string, string | undefined];
    if (v === null && nullable === "null") continue;
    const ok = base === "object" ? typeof v === "object" && v !== null : base === "number" ? typeof v === "number" && Number.isFinite(v) : typeof v === base;
    if (!ok) return `${where}.${key}: expected ${type.replace("|", " or ")}, found ${v === null ? "null" : typeof v}`;
  }
  return undefined;
}

function unixTime(value: unknown, where: string): string | undefined {
  return fields(value, where, { seconds: "number", nanos: "number" });
}
