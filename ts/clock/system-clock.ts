// The system realtime clock, read with nanosecond resolution from Node.
//
// Node offers realtime only as Date.now() (milliseconds) and a monotonic counter with nanoseconds
// (process.hrtime.bigint(), CLOCK_MONOTONIC). DESIGN.md ("Time in TypeScript") reads realtime as
//
//     realtime = monotonic + (realtime − monotonic)
//
// where the offset in brackets is sampled by reading CLOCK_REALTIME through libc's clock_gettime
// (via koffi) between two monotonic readings. The midpoint of the tightest bracket out of a few tries
// is the best estimate of the monotonic instant at which realtime was read: the offset's error is at
// most half that bracket (~0.3 µs measured here).
//
// Why re-sample: on Linux, adjtimex frequency and slew corrections apply to CLOCK_MONOTONIC and
// CLOCK_REALTIME alike, so the offset only changes when realtime is STEPPED (settimeofday,
// clock_settime, ADJ_SETOFFSET). Re-sampling every RESAMPLE_INTERVAL_NS bounds how long a step made
// by someone else goes unseen. A re-sample that disagrees with the previous offset by more than
// STEP_THRESHOLD_NS is counted as a step (observable through `stepsSeen`). Callers that step the clock
// themselves call resample() right after.
//
// Fallback when koffi or libc cannot be loaded (e.g. not Linux/glibc): performance.timeOrigin +
// performance.now(), float milliseconds with microsecond-ish resolution; precision reflects that.
import { createRequire } from "node:module";
import type { NtpTimestamp, UnixTime } from "../core/api.js";
import { unixTimeFromNs, type Clock } from "./clock.js";

/** Converts Unix time to an NTP timestamp: inject the core's `unixToNtp` (one source of truth). */
export type UnixToNtp = (t: UnixTime) => NtpTimestamp;

/** A raw realtime reading in nanoseconds since the Unix epoch. */
type RealtimeReader = () => bigint;

const NS_PER_S = 1_000_000_000n;
/** How often the realtime − monotonic offset is re-sampled (1 s): bounds how long a foreign step goes unseen. */
const RESAMPLE_INTERVAL_NS = 1_000_000_000n;
/** Brackets tried per sample; the tightest wins (a preemption inflates one bracket, rarely all). */
const BRACKET_TRIES = 5;
/** An offset change above this (100 µs) between samples is reported as a clock step, not noise. */
const STEP_THRESHOLD_NS = 100_000n;
/** CLOCK_REALTIME in <time.h> on Linux. */
const CLOCK_REALTIME = 0;

export interface SystemClockOptions {
  /** Force the millisecond-ish fallback even when koffi is available (tests, portability checks). */
  forceFallback?: boolean;
  /** Read realtime (ns since the Unix epoch) from here instead: lets tests simulate a clock step. */
  realtimeSource?: () => bigint;
}

export class SystemClock implements Clock {
  readonly precisionLog2: number;
  /** "clock_gettime" when realtime comes from libc, "performance" for the fallback. */
  readonly source: "clock_gettime" | "performance" | "injected";
  /** Number of re-samples that found the realtime − monotonic offset moved by more than 100 µs. */
  stepsSeen = 0;

  private readonly toNtp: UnixToNtp;
  private readonly readRealtime: RealtimeReader;
  private offsetNs = 0n;
  private sampledAtMonoNs = 0n;

  constructor(toNtp: UnixToNtp, options: SystemClockOptions = {}) {
    this.toNtp = toNtp;
    const libc = options.forceFallback || options.realtimeSource ? undefined : libcRealtime();
    this.source = options.realtimeSource ? "injected" : libc === undefined ? "performance" : "clock_gettime";
    this.readRealtime = options.realtimeSource ?? libc ?? performanceRealtime;
    this.resample();
    this.precisionLog2 = this.measurePrecisionLog2();
  }

  now(): NtpTimestamp {
    return this.toNtp(this.nowUnix());
  }

  /** The current realtime as Unix seconds + nanoseconds. */
  nowUnix(): UnixTime {
    let mono = process.hrtime.bigint();
    if (mono - this.sampledAtMonoNs >= RESAMPLE_INTERVAL_NS) {
      this.resample();
      // Re-read: a send timestamp must be as late as possible, not a few µs stale by the re-sample.
      mono = process.hrtime.bigint();
    }
    return unixTimeFromNs(mono + this.offsetNs);
  }

  /** Re-measures realtime − monotonic now. Call after stepping the clock. */
  resample(): void {
    let bestBracket = -1n;
    let bestOffset = 0n;
    let bestMono = 0n;
    for (let i = 0; i < BRACKET_TRIES; i++) {
      const before = process.hrtime.bigint();
      const realtime = this.readRealtime();
      const after = process.hrtime.bigint();
      const bracket = after - before;
      if (bestBracket < 0n || bracket < bestBracket) {
        bestBracket = bracket;
        bestMono = before + bracket / 2n;
        bestOffset = realtime - bestMono;
      }
    }
    const previousSampleExists = this.sampledAtMonoNs !== 0n;
    const moved = bestOffset - this.offsetNs;
    if (previousSampleExists && (moved > STEP_THRESHOLD_NS || moved < -STEP_THRESHOLD_NS)) this.stepsSeen++;
    this.offsetNs = bestOffset;
    this.sampledAtMonoNs = bestMono === 0n ? 1n : bestMono;
  }

  /**
   * Like ntpd: precision is the larger of the smallest observed step between distinct successive
   * readings (the tick) and the cost of one reading, as log2 seconds rounded up. Bounded: at most
   * 2000 readings (well under a millisecond).
   */
  private measurePrecisionLog2(): number {
    let smallestStepNs = Number.POSITIVE_INFINITY;
    let previous = this.realtimeNs();
    const start = process.hrtime.bigint();
    const readings = 2000;
    for (let i = 0; i < readings; i++) {
      const current = this.realtimeNs();
      const step = Number(current - previous);
      if (step > 0 && step < smallestStepNs) smallestStepNs = step;
      previous = current;
    }
    const costNs = Number(process.hrtime.bigint() - start) / readings;
    const resolutionNs = Math.max(Number.isFinite(smallestStepNs) ? smallestStepNs : 1e6, costNs, 1);
    return Math.ceil(Math.log2(resolutionNs / 1e9));
  }

  private realtimeNs(): bigint {
    return process.hrtime.bigint() + this.offsetNs;
  }
}

/** Fallback realtime: float milliseconds since the epoch (sub-µs digits are noise). */
function performanceRealtime(): bigint {
  const ms = performance.timeOrigin + performance.now();
  const wholeMs = Math.floor(ms);
  return BigInt(wholeMs) * 1_000_000n + BigInt(Math.round((ms - wholeMs) * 1e6));
}

let libcReader: RealtimeReader | null | undefined;

/** CLOCK_REALTIME via libc's clock_gettime (bound once per process), or undefined when unavailable. */
function libcRealtime(): RealtimeReader | undefined {
  if (libcReader === undefined) libcReader = bindLibcRealtime() ?? null;
  return libcReader ?? undefined;
}

function bindLibcRealtime(): RealtimeReader | undefined {
  try {
    // Loaded through require so that a platform without koffi's prebuilt binary falls back cleanly.
    const koffi = requireOptional("koffi") as typeof import("koffi") | undefined;
    if (koffi === undefined) return undefined;
    const libc = koffi.load("libc.so.6");
    const timespec = koffi.struct("tock_timespec", { tv_sec: "int64", tv_nsec: "long" });
    const clockGettime = libc.func("clock_gettime", "int", ["int", koffi.out(koffi.pointer(timespec))]);
    const out: { tv_sec: number | bigint; tv_nsec: number | bigint } = { tv_sec: 0, tv_nsec: 0 };
    const read: RealtimeReader = () => {
      if (clockGettime(CLOCK_REALTIME, out) !== 0) throw new Error("clock_gettime(CLOCK_REALTIME) failed");
      return BigInt(out.tv_sec) * NS_PER_S + BigInt(out.tv_nsec);
    };
    read();
    return read;
  } catch {
    return undefined;
  }
}

const require = createRequire(import.meta.url);
function requireOptional(name: string): unknown {
  try {
    return require(name);
  } catch {
    return undefined;
  }
}
