// Reads `[synchronization] leap-seconds-file` (an IETF leap-seconds.list) for the discipline's leap
// policy: the parsing and the decisions live in ts/protocol/leap.ts (sans-IO); this adds the file
// read and node:crypto's SHA-1 for the file's #h line. Errors come back as values: a missing or bad
// file means "sources only", which the daemon logs, not a reason to refuse to start.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseLeapSecondsList, type LeapTable } from "../protocol/leap.js";

export type LeapFileRead = { ok: true; table: LeapTable; hashChecked: boolean; expired: boolean } | { ok: false; error: string };

/** Reads and checks the file; `nowUtc` (POSIX s) decides whether it has expired. */
export async function readLeapSecondsFile(path: string, nowUtc: number): Promise<LeapFileRead> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    return { ok: false, error: `${path}: ${(err as Error).message}` };
  }
  const parsed = parseLeapSecondsList(text, (data) => createHash("sha1").update(data).digest());
  if (!parsed.ok) return { ok: false, error: `${path}: ${parsed.error}` };
  return { ok: true, table: parsed.table, hashChecked: parsed.hashChecked, expired: nowUtc >= parsed.table.expires };
}
