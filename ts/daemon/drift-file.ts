// The drift (frequency) file: the clock's frequency correction, saved periodically and restored at
// start-up so a restarted daemon does not spend its first quarter hour re-learning the oscillator.
//
// Format: one line, "FREQUENCY_PPM UNCERTAINTY_PPM\n" — the same as chronyd's driftfile, whose
// reader takes the first two numbers; a file holding one number (ntpd's format) is also read, with
// the uncertainty unknown. Positive frequency = the clock is made to run faster.
//
// Writes are atomic: the text goes to a temporary file in the same directory, is flushed to disk
// (fsync), then renamed over the old file, so a crash leaves either the old or the new file, never a
// truncated one. A file that is missing, unreadable or malformed is reported and ignored: the
// discipline then measures the frequency from scratch.
import { open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Frequencies beyond this are not a real oscillator (the kernel's limit is ±500 ppm). */
const MAX_PPM = 500;

export interface DriftRecord {
  /** Frequency correction (ppm). */
  frequencyPpm: number;
  /** 1σ uncertainty of it (ppm); null when the file did not say. */
  uncertaintyPpm: number | null;
}

export type DriftReadResult = { ok: true; record: DriftRecord } | { ok: false; missing: boolean; error: string };

/** Parses the file's text. Never throws. */
export function parseDrift(text: string): DriftReadResult {
  const fields = text.trim().split(/\s+/);
  const frequency = Number(fields[0]);
  if (fields[0] === undefined || fields[0] === "" || !Number.isFinite(frequency) || Math.abs(frequency) > MAX_PPM) {
    return { ok: false, missing: false, error: `expected a frequency in ppm within ±${MAX_PPM}, got ${JSON.stringify(text.slice(0, 40))}` };
  }
  let uncertainty: number | null = null;
  if (fields[1] !== undefined) {
    uncertainty = Number(fields[1]);
    if (!Number.isFinite(uncertainty) || uncertainty < 0) return { ok: false, missing: false, error: `bad uncertainty ${JSON.stringify(fields[1])}` };
  }
  return { ok: true, record: { frequencyPpm: frequency, uncertaintyPpm: uncertainty } };
}

export function formatDrift(record: DriftRecord): string {
  return `${record.frequencyPpm.toFixed(6)} ${(record.uncertaintyPpm ?? 0).toFixed(6)}\n`;
}

export async function readDriftFile(path: string): Promise<DriftReadResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, missing: code === "ENOENT", error: `${path}: ${(err as Error).message}` };
  }
  const parsed = parseDrift(text);
  return parsed.ok ? parsed : { ...parsed, error: `${path}: ${parsed.error}` };
}

/** Writes the record atomically (temporary file + fsync + rename). Throws on I/O errors. */
export async function writeDriftFile(path: string, record: DriftRecord): Promise<void> {
  if (!Number.isFinite(record.frequencyPpm)) throw new RangeError(`frequency ${record.frequencyPpm} is not finite`);
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const handle = await open(temporary, "w", 0o644);
  try {
    await handle.writeFile(formatDrift(record), "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (err) {
    await unlink(temporary).catch(() => undefined);
    throw err;
  }
}

/**
 * Decides when to save: at most once per `interval` seconds (default 3600, as ntpd and chronyd),
 * and only while the discipline has a trustworthy frequency (the caller says so). Time is the
 * caller's monotonic seconds. The write itself is injected so tests and the simulator need no disk.
 */
export class DriftSaver {
  private lastSaved = -Infinity;
  private writing = false;

  constructor(
    private readonly path: string,
    private readonly interval = 3600,
    private readonly write: (path: string, record: DriftRecord) => Promise<void> = writeDriftFile,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** Saves `record` if the interval has passed since the last save; resolves when done (or skipped). */
  async offer(now: number, record: DriftRecord): Promise<boolean> {
    if (this.writing || now - this.lastSaved < this.interval) return false;
    return this.flush(now, record);
  }

  /** Saves now (e.g. at shutdown). */
  async flush(now: number, record: DriftRecord): Promise<boolean> {
    this.writing = true;
    try {
      await this.write(this.path, record);
      this.lastSaved = now;
      return true;
    } catch (err) {
      this.onError(err as Error);
      return false;
    } finally {
      this.writing = false;
    }
  }
}
