// Logging: pino, JSON lines on stdout (or a given file descriptor), plus a rate-limited warning helper.
//
// Policy (issue 3): nothing is logged per packet at info level — a flood must not turn into a log flood.
// Per-packet anomalies are counted in metrics; operators see them in the periodic summary line.
// Warnings that can repeat (a socket error per send, a bad config reload per SIGHUP) go through
// RateLimitedWarnings, which logs the first of each kind per interval and then one summary:
// "N more like this suppressed".
import { pino, type Logger, type Level } from "pino";

export type { Logger } from "pino";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level?: LogLevel;
  /** File descriptor to write to (default 1, stdout). */
  fd?: number;
  /** Name in every line (default "tock"). */
  name?: string;
}

/**
 * A pino logger writing synchronously to `fd`. Synchronous so that the last lines before exit (and
 * before a crash) are never lost in a buffer; the volume is low by policy, so this costs nothing.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    { name: options.name ?? "tock", level: options.level ?? "info", base: { pid: process.pid } },
    pino.destination({ dest: options.fd ?? 1, sync: true }),
  );
}

/** A logger that discards everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

interface WarningState {
  /** Monotonic ms when the current interval began. */
  since: number;
  suppressed: number;
  lastMessage: string;
}

/**
 * Logs at most one line per key and interval; counts the rest and reports them as
 * "N more like this suppressed" when the next line of that key is allowed, or on flush().
 * Memory: one small record per distinct key, and keys are chosen by code (never from packet
 * contents), so the table cannot grow with attack traffic; `maxKeys` bounds it anyway.
 */
export class RateLimitedWarnings {
  private readonly states = new Map<string, WarningState>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly maxKeys = 256,
    private readonly level: Level = "warn",
  ) {}

  /** Logs `msg` (with `fields`) unless a line with the same key was logged in this interval. */
  warn(key: string, msg: string, fields: Record<string, unknown> = {}): void {
    const now = this.nowMs();
    const state = this.states.get(key);
    if (state !== undefined && now - state.since < this.intervalMs) {
      state.suppressed++;
      state.lastMessage = msg;
      return;
    }
    if (state !== undefined && state.suppressed > 0) this.summarise(key, state);
    if (state === undefined && this.states.size >= this.maxKeys) {
      // Evict the oldest key (Map keeps insertion order), summarising what it held.
      const [oldKey, oldState] = this.states.entries().next().value as [string, WarningState];
      if (oldState.suppressed > 0) this.summarise(oldKey, oldState);
      this.states.delete(oldKey);
    }
    this.states.set(key, { since: now, suppressed: 0, lastMessage: msg });
    this.logger[this.level]({ ...fields, warning: key }, msg);
  }

  /** Reports every pending suppression count (call periodically and at shutdown). */
  flush(): void {
    const now = this.nowMs();
    for (const [key, state] of this.states) {
      if (state.suppressed > 0) this.summarise(key, state);
      if (now - state.since >= this.intervalMs) this.states.delete(key);
    }
  }

  private summarise(key: string, state: WarningState): void {
    this.logger[this.level]({ warning: key, suppressed: state.suppressed }, `${state.suppressed} more like this suppressed (last: ${state.lastMessage})`);
    state.suppressed = 0;
  }
}
