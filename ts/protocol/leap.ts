// Leap seconds, sans-IO: when to arm the kernel, what leap indicator to serve, the IETF
// leap-seconds.list file, and the arithmetic of a leap smear.
//
// A leap second happens only at the end of a UTC month (in practice June or December), at the
// instant the next month starts: an insert makes 23:59:59 be followed by 23:59:60, a delete skips
// 23:59:59. Where a leap comes from, in order of trust:
//   1. a leap-seconds.list file that has not expired: it lists every leap, so it is authoritative
//      (sources that announce a leap the file does not list are outvoted by it, as in ntpd);
//   2. otherwise the leap indicator held by a MAJORITY of the selected sources (the selection kernel
//      counts it, ts/core/selection.ts `leap`): one misconfigured server cannot insert a second.
// The kernel is armed (STA_INS / STA_DEL) only during the last UTC day before the event, because
// Linux applies an armed leap at the NEXT UTC midnight, whatever the month; arming on another day
// would move the clock by a second at the wrong midnight. After the event the kernel is disarmed.
// The leap indicator we serve downstream follows the same day rule (as chrony does), so clients that
// apply a leap at the next midnight cannot be misled either.
//
// Times: `utc` below is POSIX seconds (the kernel's CLOCK_REALTIME reading as seconds since
// 1970-01-01, float64). During an inserted second Linux shows the last second of the day twice, so a
// POSIX reading is below the event instant until the leap is over.

/** Seconds from the NTP era-0 epoch (1900) to the POSIX epoch (1970). */
export const NTP_TO_POSIX = 2_208_988_800;
const DAY = 86_400;

export type LeapKind = "none" | "insert" | "delete";

/** RFC 5905 leap indicator values (Figure 9). */
export const LEAP_NONE = 0;
export const LEAP_INSERT = 1;
export const LEAP_DELETE = 2;
export const LEAP_UNSYNCHRONISED = 3;

/** The POSIX time at which the month containing `utc` ends (00:00:00 UTC of the next month's first day). */
export function monthEnd(utc: number): number {
  const d = new Date(Math.floor(utc) * 1000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000;
}

/** One leap of a leap-seconds table: at POSIX time `at` (a month start), TAI−UTC becomes `taiOffset`. */
export interface LeapEntry {
  at: number;
  taiOffset: number;
}

export interface LeapTable {
  entries: LeapEntry[];
  /** POSIX time after which the table must not be trusted (the "#@" line). */
  expires: number;
  /** POSIX time the table was last updated (the "#$" line). */
  updated: number;
}

export type LeapFileResult = { ok: true; table: LeapTable; hashChecked: boolean } | { ok: false; error: string };

/**
 * Parses an IETF/IERS leap-seconds.list (as shipped in tzdata at /usr/share/zoneinfo/leap-seconds.list).
 * Lines: `#$ NTPSECONDS` (last update), `#@ NTPSECONDS` (expiry), `#h W1 W2 W3 W4 W5` (SHA-1, five
 * 32-bit hex words), data `NTPSECONDS TAI-UTC [# comment]`, other `#` lines are comments.
 * The hash covers the digits of the #$ line, of the #@ line and of the first two fields of every data
 * line, concatenated in file order with all whitespace removed. When the file has a #h line and
 * `sha1` is given, a mismatch rejects the file; `sha1` is a parameter so this module stays free of
 * Node APIs (the daemon passes node:crypto's SHA-1). Never throws.
 */
export function parseLeapSecondsList(text: string, sha1?: (data: Uint8Array) => Uint8Array): LeapFileResult {
  let updated: number | null = null;
  let expires: number | null = null;
  let hash: string | null = null;
  let hashed = "";
  const entries: LeapEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    const where = `line ${n + 1}`;
    if (line.startsWith("#$") || line.startsWith("#@")) {
      const value = line.slice(2).trim();
      if (!/^\d{1,12}$/.test(value)) return { ok: false, error: `${where}: expected NTP seconds after ${line.slice(0, 2)}` };
      hashed += value;
      if (line[1] === "$") updated = Number(value) - NTP_TO_POSIX;
      else expires = Number(value) - NTP_TO_POSIX;
    } else if (line.startsWith("#h")) {
      const words = line.slice(2).trim().split(/\s+/);
      if (words.length !== 5 || !words.every((w) => /^[0-9a-fA-F]{1,8}$/.test(w))) {
        return { ok: false, error: `${where}: expected five hex words after #h` };
      }
      hash = words.map((w) => w.toLowerCase().padStart(8, "0")).join("");
    } else if (line.startsWith("#") || line.trim() === "") {
      continue;
    } else {
      const fields = line.split("#")[0]!.trim().split(/\s+/);
      if (fields.length !== 2 || !/^\d{1,12}$/.test(fields[0]!) || !/^\d{1,3}$/.test(fields[1]!)) {
        return { ok: false, error: `${where}: expected "NTPSECONDS TAI-UTC"` };
      }
      hashed += fields[0]! + fields[1]!;
      const at = Number(fields[0]) - NTP_TO_POSIX;
      const previous = entries[entries.length - 1];
      if (previous !== undefined && at <= previous.at) return { ok: false, error: `${where}: entries are not in increasing time order` };
      entries.push({ at, taiOffset: Number(fields[1]) });
    }
  }
  if (updated === null || expires === null) return { ok: false, error: "missing the #$ (updated) or #@ (expires) line" };
  if (entries.length === 0) return { ok: false, error: "no leap second entries" };
  let hashChecked = false;
  if (hash !== null && sha1 !== undefined) {
    const digest = Array.from(sha1(new TextEncoder().encode(hashed)), (b) => b.toString(16).padStart(2, "0")).join("");
    if (digest !== hash) return { ok: false, error: `hash mismatch: the #h line says ${hash}, the data hashes to ${digest}` };
    hashChecked = true;
  }
  return { ok: true, table: { entries, expires, updated }, hashChecked };
}

/** The leap the table schedules at the end of the month containing `utc`, or "none". */
export function tableLeapAt(table: LeapTable, utc: number): LeapKind {
  const end = monthEnd(utc);
  for (let i = 1; i < table.entries.length; i++) {
    const entry = table.entries[i]!;
    if (entry.at === end) {
      const step = entry.taiOffset - table.entries[i - 1]!.taiOffset;
      return step > 0 ? "insert" : step < 0 ? "delete" : "none";
    }
  }
  return "none";
}

/** The RFC 5905 leap indicator value of a kind. */
export function leapIndicator(kind: LeapKind): number {
  return kind === "insert" ? LEAP_INSERT : kind === "delete" ? LEAP_DELETE : LEAP_NONE;
}

export interface LeapDecision {
  /** What the kernel should be armed with now (STA_INS / STA_DEL / neither). */
  kernel: LeapKind;
  /** Leap indicator to serve downstream (0, 1 or 2; the server uses 3 itself when unsynchronised). */
  indicator: number;
  /** The leap expected at this month's end, whatever the day, and where that belief comes from. */
  scheduled: LeapKind;
  origin: "file" | "sources" | "none";
  /** POSIX time of the event this month (the next month's first midnight). */
  event: number;
}

/**
 * Decides, from the sources' majority leap indicator and the UTC time, the kernel leap state and the
 * indicator to serve. Stateless apart from the optional table, so the caller may call it on every
 * update and every tick; it applies a change only when `kernel` differs from what it last applied.
 */
export class LeapPolicy {
  private table: LeapTable | null;

  constructor(table: LeapTable | null = null) {
    this.table = table;
  }

  setTable(table: LeapTable | null): void {
    this.table = table;
  }

  /**
   * majority: the leap indicator held by a majority of the selected sources (0–3; 3 or anything else
   * counts as "no announcement"); utc: POSIX seconds now.
   */
  decide(majority: number, utc: number): LeapDecision {
    const event = monthEnd(utc);
    let scheduled: LeapKind = "none";
    let origin: LeapDecision["origin"] = "none";
    if (this.table !== null && utc < this.table.expires) {
      scheduled = tableLeapAt(this.table, utc);
      origin = "file";
    } else if (majority === LEAP_INSERT || majority === LEAP_DELETE) {
      scheduled = majority === LEAP_INSERT ? "insert" : "delete";
      origin = "sources";
    }
    const lastDay = utc >= event - DAY && utc < event;
    const kernel: LeapKind = lastDay ? scheduled : "none";
    return { kernel, indicator: leapIndicator(kernel), scheduled, origin, event };
  }
}

/**
 * Leap smear (served time only, and NOT UTC): instead of a 61- or 59-second minute, served time runs
 * slower (insert) or faster (delete) by 1/window for `window` seconds centred on the event, so it is
 * continuous and ends up on UTC again. Google's public smear uses a 86 400 s window (noon to noon):
 * 11.6 ppm. Clients of a smeared server disagree with UTC by up to half a second during the window,
 * and must not mix smeared and unsmeared servers.
 *
 * Maths. Let E be the event (POSIX), σ = +1 for an insert, −1 for a delete, start S = E − window/2,
 * and t the elapsed SI seconds since S. The kernel's POSIX reading is p = S + t before the event and
 * p = S + t − σ after it (the kernel repeats or skips a second). Smeared time is the line
 * s = S + t − σ·clamp(t/window, 0, 1), which equals p before S and after S + window. So the
 * correction to add to the POSIX reading is
 *    before the event: −σ·clamp((p − S)/window, 0, 1)
 *    after the event:  σ − σ·clamp((p + σ − S)/window, 0, 1)
 * Both give −σ/2 at the event: the served time is continuous. `afterEvent` says which side of the
 * event the reading is (the caller knows from the kernel's leap state, since during an inserted
 * second the POSIX readings of both sides are equal).
 */
export function smearCorrection(kind: LeapKind, event: number, window: number, posix: number, afterEvent: boolean): number {
  if (kind === "none" || !(window > 0)) return 0;
  const sigma = kind === "insert" ? 1 : -1;
  const start = event - window / 2;
  const clamp = (x: number): number => Math.min(1, Math.max(0, x));
  return afterEvent ? sigma - sigma * clamp((posix + sigma - start) / window) : -sigma * clamp((posix - start) / window);
}
