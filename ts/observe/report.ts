// Building the management report (ts/protocol/status.ts) from the daemon's parts. The daemon passes
// what it has: the state it serves, its clock, its metrics; the client pipeline (sources, selection,
// discipline) adds the per-source table and the tracking figures through `sources` and `tracking`
// when it runs. Until then the report says what is true: no sources, the served (unsynchronised or
// local-stratum) state.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { UnixTime } from "../core/api.js";
import type { AdjustableClock } from "../clock/adjustable.js";
import type { OpenedClock } from "../clock/select-clock.js";
import type { ServerSystemState } from "../protocol/server-policy.js";
import { referenceIdValue } from "../protocol/server-policy.js";
import { REPORT_VERSION, type ClockMode, type LeapStatus, type ManagementReport, type SourceReport, type SystemReport } from "../protocol/status.js";
import type { MetricsRegistry } from "./metrics.js";
import { serverReportsFromMetrics } from "./management.js";

/** chrony's reference id for `local stratum` (127.127.1.1); the daemon serves it for local-stratum. */
const LOCAL_REFERENCE_ID = 0x7f7f0101;

export interface ClockPart {
  mode: ClockMode;
  why: string;
  clock?: AdjustableClock;
}

export interface ReportParts {
  /** The state served to clients right now. */
  served: () => ServerSystemState;
  /** NTP timestamp → Unix time (the core's ntpToUnix with a pivot of now). */
  ntpToUnix: (ts: bigint) => UnixTime;
  /** Wall clock for `generatedAt`. */
  nowUnix: () => UnixTime;
  metrics: MetricsRegistry;
  /** The clock part; a function when it is only known later (the daemon opens its clock after the
   *  privilege drop, but binds the management socket before it). */
  clock: ClockPart | (() => ClockPart);
  /** The per-source table (from the client pipeline); none yet → []. */
  sources?: () => SourceReport[];
  /** Tracking figures the discipline knows (offsets, frequency, skew, …), overriding the defaults. */
  tracking?: () => Partial<SystemReport>;
  /** Monotonic ms at start (performance.now()), for the uptime. */
  startedAtMs?: number;
  version?: string;
}

/** Returns the provider the management server calls for each request. */
export function reportProvider(parts: ReportParts): () => ManagementReport {
  const startedAt = parts.startedAtMs ?? performance.now();
  const version = parts.version ?? packageVersion();
  return () => {
    const served = parts.served();
    const clock = typeof parts.clock === "function" ? parts.clock() : parts.clock;
    let kernel = null;
    try {
      kernel = clock.clock?.readState() ?? null;
    } catch {
      kernel = null; // the status must not fail because adjtimex did
    }
    return {
      version: REPORT_VERSION,
      generatedAt: parts.nowUnix(),
      daemon: { pid: process.pid, version, uptimeSeconds: (performance.now() - startedAt) / 1000 },
      clock: { mode: clock.mode, why: clock.why, kernel },
      system: { ...systemFromServed(served, parts.ntpToUnix), ...(parts.tracking?.() ?? {}) },
      sources: parts.sources?.() ?? [],
      servers: serverReportsFromMetrics(parts.metrics),
    };
  };
}

/** The clock part of ReportParts for the clock the discipline steers (openSystemClock's result). */
export function clockPart(opened: OpenedClock): ClockPart {
  const kind = opened.clock.capabilities.kind;
  return { mode: kind === "linux" ? "steer" : kind, why: opened.why, clock: opened.clock };
}

/** The system part that follows from what we serve (the rest stays unknown until the discipline runs). */
export function systemFromServed(s: ServerSystemState, ntpToUnix: (ts: bigint) => UnixTime): SystemReport {
  const referenceId = referenceIdValue(s.referenceId);
  const local = referenceId === LOCAL_REFERENCE_ID;
  const leap: LeapStatus = s.leap === 3 ? "unsynchronised" : s.leap === 1 ? "insert" : s.leap === 2 ? "delete" : "normal";
  return {
    synchronised: s.leap !== 3 && s.stratum < 16 && !local,
    referenceId,
    referenceName: local ? "local" : null,
    stratum: s.stratum,
    referenceTime: s.referenceTime === 0n ? null : ntpToUnix(s.referenceTime),
    systemTimeOffset: null,
    lastOffset: null,
    rmsOffset: null,
    frequencyPpm: null,
    residualFrequencyPpm: null,
    skewPpm: null,
    rootDelay: s.rootDelay,
    rootDispersion: s.rootDispersion,
    updateIntervalSeconds: null,
    leap,
    precisionLog2: s.precision,
  };
}

let cachedVersion: string | undefined;
function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  try {
    // ts/observe → package root is two levels up from dist/ts/observe or ts/observe alike.
    const here = new URL(".", import.meta.url).pathname;
    for (const up of ["../..", "../../.."]) {
      try {
        const pkg = JSON.parse(readFileSync(join(here, up, "package.json"), "utf8")) as { name?: string; version?: string };
        if (pkg.name === "tock" && typeof pkg.version === "string") return (cachedVersion = pkg.version);
      } catch {
        // try the next level
      }
    }
  } catch {
    // fall through
  }
  return (cachedVersion = "unknown");
}
