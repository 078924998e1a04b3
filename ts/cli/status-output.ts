// Text (and JSON) renderings of the management report: `tock status` reads like `chronyc tracking`,
// `tock sources` like `chronyc sources` (with -v, a legend). Pure functions of the report, so the
// formats are tested without a daemon.
import type { ManagementReport, SourceReport } from "../protocol/status.js";
import { SOURCE_STATES } from "../protocol/status.js";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** chronyc's date style: "Sun Nov 22 21:00:00 2026" (UTC). */
export function formatUtc(seconds: number): string {
  const d = new Date(seconds * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** A duration with a unit that keeps it short: "+12ns", "-3.4us", "+1.234ms", "+2.000s". */
export function formatDuration(seconds: number, signed = true): string {
  const sign = signed ? (seconds < 0 ? "-" : "+") : seconds < 0 ? "-" : "";
  const a = Math.abs(seconds);
  if (a < 1e-6) return `${sign}${(a * 1e9).toFixed(0)}ns`;
  if (a < 1e-3) return `${sign}${(a * 1e6).toFixed(1)}us`;
  if (a < 1) return `${sign}${(a * 1e3).toFixed(3)}ms`;
  return `${sign}${a.toFixed(3)}s`;
}

/** A reference id as chronyc prints it: 8 hex digits and, in brackets, what it means. */
export function formatReferenceId(id: number, name: string | null, stratum: number): string {
  const hex = (id >>> 0).toString(16).toUpperCase().padStart(8, "0");
  let meaning = name;
  if (meaning === null) {
    const bytes = [id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff];
    const ascii = bytes.every((b) => b === 0 || (b >= 0x20 && b < 0x7f));
    meaning = (stratum <= 1 || stratum >= 16) && ascii ? String.fromCharCode(...bytes.filter((b) => b !== 0)) : bytes.join(".");
  }
  return meaning === "" ? hex : `${hex} (${meaning})`;
}

const seconds9 = (v: number | null, what = "seconds") => (v === null ? "-" : `${v.toFixed(9)} ${what}`);

/** `tock status`: the system state, like `chronyc tracking`, then the clock mode and the servers. */
export function renderStatus(r: ManagementReport): string {
  const s = r.system;
  const rows: [string, string][] = [
    ["Reference ID", formatReferenceId(s.referenceId, s.referenceName, s.stratum)],
    ["Stratum", String(s.stratum)],
    ["Ref time (UTC)", s.referenceTime === null ? "-" : formatUtc(s.referenceTime.seconds + s.referenceTime.nanos / 1e9)],
    ["System time", s.systemTimeOffset === null ? "-" : `${Math.abs(s.systemTimeOffset).toFixed(9)} seconds ${s.systemTimeOffset > 0 ? "fast" : "slow"} of NTP time`],
    ["Last offset", s.lastOffset === null ? "-" : `${s.lastOffset >= 0 ? "+" : ""}${s.lastOffset.toFixed(9)} seconds`],
    ["RMS offset", seconds9(s.rmsOffset)],
    ["Frequency", s.frequencyPpm === null ? "-" : `${Math.abs(s.frequencyPpm).toFixed(3)} ppm ${s.frequencyPpm > 0 ? "fast" : "slow"}`],
    ["Residual freq", s.residualFrequencyPpm === null ? "-" : `${s.residualFrequencyPpm >= 0 ? "+" : ""}${s.residualFrequencyPpm.toFixed(3)} ppm`],
    ["Skew", s.skewPpm === null ? "-" : `${s.skewPpm.toFixed(3)} ppm`],
    ["Root delay", seconds9(s.rootDelay)],
    ["Root dispersion", seconds9(s.rootDispersion)],
    ["Update interval", s.updateIntervalSeconds === null ? "-" : `${s.updateIntervalSeconds.toFixed(1)} seconds`],
    ["Leap status", { normal: "Normal", insert: "Insert second", delete: "Delete second", unsynchronised: "Not synchronised" }[s.leap] ?? s.leap],
    ["Clock mode", `${r.clock.mode}${r.clock.why === "" ? "" : ` (${r.clock.why})`}`],
  ];
  const k = r.clock.kernel;
  if (k !== null) {
    rows.push([
      "Kernel clock",
      `frequency ${k.frequencyPpm >= 0 ? "+" : ""}${k.frequencyPpm.toFixed(3)} ppm, ${k.synchronised ? "synchronised" : "unsynchronised"}, maxerror ${k.maxErrorSeconds.toFixed(6)} s${k.leap === "none" ? "" : `, leap ${k.leap} armed`}${k.kernelDisciplineActive ? ", kernel PLL on" : ""}`,
    ]);
  }
  for (const srv of r.servers) {
    const c = srv.counters;
    const n = (key: string) => String(c[key] ?? 0);
    rows.push(["Server", `${srv.listenAddress}: received ${n("received_packets")}, answered ${n("accepted_packets")}, KoD ${n("kod_packets")}, dropped ${n("dropped_packets")}`]);
  }
  rows.push(["Daemon", `pid ${r.daemon.pid}, tock ${r.daemon.version}, up ${formatUptime(r.daemon.uptimeSeconds)}`]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)} : ${value}`).join("\n") + "\n";
}

function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

const LEGEND = `  .-- Source mode  '^' = NTP server, '#' = local reference clock.
 / .- Source state '*' = selected (the clock follows it), '+' = candidate (combined),
| /                '-' = outlier (not combined), 'x' = falseticker, '~' = unusable,
||                 '?' = unreachable, initialising, unsynchronised, denied or nts-failed.
||  State   the source state in words (as above)
||  St      stratum of the source
||  Poll    polling interval, log2 seconds (6 = 64 s)
||  Reach   reachability register, octal (377 = the last 8 polls answered)
||  LastRx  time since the last good sample
||  Offset  filtered offset, positive when the source is ahead of this clock,
||          [in brackets] the offset of the last sample itself
||  Delay   round-trip delay of the last sample
||  Jitter  RMS difference of the filter's offsets
||  Error   +/- root distance: the source's total error bound
||
`;

/** Wide enough for "name (address)" of a pool member with an IPv4 address. */
const NAME_WIDTH = 31;

const HEADER = `MS ${"Name/IP address".padEnd(NAME_WIDTH)} ${"State".padEnd(14)} St Poll Reach LastRx ${"Offset".padStart(10)}[${"last".padStart(10)}] ${"Delay".padStart(10)} ${"Jitter".padStart(10)} +/- Error`;

/** `tock sources`: one line per source, like `chronyc sources` (with -v: the legend first). */
export function renderSources(r: ManagementReport, verbose = false): string {
  const lines: string[] = [];
  if (verbose) lines.push(LEGEND.trimEnd());
  lines.push(HEADER, "=".repeat(HEADER.length));
  for (const s of r.sources) lines.push(sourceLine(s));
  if (r.sources.length === 0) lines.push("(no sources configured)");
  return lines.join("\n") + "\n";
}

function sourceLine(s: SourceReport): string {
  const mode = s.kind === "server" || s.kind === "pool" || s.kind === "nts" ? "^" : "#";
  const symbol = SOURCE_STATES[s.state];
  const name = s.address !== null && s.address !== s.name ? `${s.name} (${s.address})` : s.name;
  const dur = (v: number | null | undefined, signed = true) => (v === null || v === undefined ? "-" : formatDuration(v, signed));
  const ago = s.lastSample === null ? "-" : formatAgo(s.lastSample.agoSeconds);
  return [
    `${mode}${symbol}`,
    clip(name, NAME_WIDTH).padEnd(NAME_WIDTH),
    s.state.padEnd(14),
    (s.stratum === null ? "-" : String(s.stratum)).padStart(2),
    String(s.pollLog2).padStart(4),
    (s.reach & 0xff).toString(8).padStart(5),
    ago.padStart(6),
    `${dur(s.offset).padStart(10)}[${dur(s.lastSample?.offset).padStart(10)}]`,
    dur(s.lastSample?.delay ?? s.delay, false).padStart(10),
    dur(s.jitter, false).padStart(10),
    `+/- ${dur(s.rootDistance, false)}`,
  ].join(" ");
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** "35s", "12m", "3h", "2d" — chronyc's LastRx style. */
function formatAgo(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 1000) return `${s}s`;
  if (s < 60 * 600) return `${Math.round(s / 60)}m`;
  if (s < 3600 * 48) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** `--json` of `tock status`: everything but the sources table. */
export function statusJson(r: ManagementReport): string {
  const { sources: _sources, ...rest } = r;
  return `${JSON.stringify(rest, null, 2)}\n`;
}

/** `--json` of `tock sources`: the table with the report's header fields. */
export function sourcesJson(r: ManagementReport): string {
  return `${JSON.stringify({ version: r.version, generatedAt: r.generatedAt, sources: r.sources }, null, 2)}\n`;
}
