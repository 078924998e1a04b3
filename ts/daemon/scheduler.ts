// Timers on a monotonic timeline, behind an interface so the client loop runs in virtual time in tests
// (test/source/virtual-net.ts, test/sim/twins.ts) and on real timers in the daemon.
import { performance } from "node:perf_hooks";

/** Timers on a monotonic timeline in seconds. */
export interface Scheduler {
  now(): number;
  /** Calls `fn` at monotonic time `at` (or soon after); returns a handle for cancel(). */
  at(at: number, fn: () => void): unknown;
  cancel(handle: unknown): void;
}

/** Real timers: performance.now() and unref'd setTimeout (they never keep the process alive alone). */
export const realScheduler: Scheduler = {
  now: () => performance.now() / 1000,
  at(at, fn) {
    const t = setTimeout(fn, Math.max(0, (at - performance.now() / 1000) * 1000));
    t.unref();
    return t;
  },
  cancel: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
