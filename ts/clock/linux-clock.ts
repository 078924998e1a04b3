// The Linux system clock, steered through clock_adjtime(CLOCK_REALTIME, struct timex *) via koffi.
//
// Why koffi and not a C addon: koffi ships prebuilt binaries (no compiler or node-gyp at install),
// is already the project's FFI (system-clock.ts, linux-udp.ts), and the discipline calls this at most
// a few times per poll interval. Measured on this machine (Node 20, x86_64 VM shared with other
// jobs, so ranges; `npx tsc -p tsconfig.json && node dist/bench/clock-control.js`): one clock_adjtime
// through a raw 208-byte buffer ≈ 2–4 µs, most of it the syscall itself (the cheapest koffi call,
// clock_gettime, costs ≈ 0.6–1.4 µs); marshalling a koffi struct object in and out instead costs
// ≈ 13–28 µs, which is why the struct travels as bytes with explicit offsets (checked against
// koffi's own layout of the C struct at load, below). An addon would save about a microsecond per
// call: not worth a compile step.
//
// struct timex on x86_64 and aarch64 (glibc bits/timex.h, the `# else` branch: 64-bit `long`), 208
// bytes, natural alignment (so 4 padding bytes after each lone int):
//   0 modes (u32) · 8 offset · 16 freq · 24 maxerror · 32 esterror · 40 status (int) · 48 constant ·
//   56 precision · 64 tolerance · 72 time (struct timeval: 72 tv_sec, 80 tv_usec) · 88 tick ·
//   96 ppsfreq · 104 jitter · 112 shift (int) · 120 stabil · 128 jitcnt · 136 calcnt · 144 errcnt ·
//   152 stbcnt · 160 tai (int) · 164 eleven padding ints (reserved by the kernel ABI) → 208.
// Units: offset µs (ns with STA_NANO; a singleshot offset is always µs), freq is ppm × 2^16
// ("scaled ppm"), maxerror/esterror µs, time.tv_usec is ns when STA_NANO is set.
//
// Safety: writing needs `allowSteering: true` at construction. Independently, when the environment
// says this is a test run (VITEST or TOCK_NO_CLOCK_STEERING set), every write that would change the
// kernel is refused — the one write allowed is setting the frequency the kernel already has. So no
// test can step or slew the real clock by accident, whatever it passes to the constructor.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { NtpTimestamp, UnixTime } from "../core/api.js";
import { SystemClock, type UnixToNtp } from "./system-clock.js";
import {
  assertFinite,
  KERNEL_MAX_FREQUENCY_PPM,
  KERNEL_SLEW_RATE_PPM,
  type AdjustableClock,
  type AdjustResult,
  type ClockCapabilities,
  type ClockState,
  type LeapAction,
  type SyncStatus,
  type TimeState,
} from "./adjustable.js";

// --- ABI (Linux uapi/linux/timex.h) ---
const CLOCK_REALTIME = 0;
const TIMEX_BYTES = 208;
const OFF = { modes: 0, offset: 8, freq: 16, maxerror: 24, esterror: 32, status: 40, tolerance: 64, timeSec: 72, timeUsec: 80, tick: 88, tai: 160 } as const;

export const ADJ_OFFSET = 0x0001;
export const ADJ_FREQUENCY = 0x0002;
export const ADJ_MAXERROR = 0x0004;
export const ADJ_ESTERROR = 0x0008;
export const ADJ_STATUS = 0x0010;
export const ADJ_SETOFFSET = 0x0100;
export const ADJ_NANO = 0x2000;
export const ADJ_OFFSET_SINGLESHOT = 0x8001;
export const ADJ_OFFSET_SS_READ = 0xa001;

export const STA_PLL = 0x0001;
export const STA_PPSFREQ = 0x0002;
export const STA_PPSTIME = 0x0004;
export const STA_FLL = 0x0008;
export const STA_INS = 0x0010;
export const STA_DEL = 0x0020;
export const STA_UNSYNC = 0x0040;
export const STA_FREQHOLD = 0x0080;
export const STA_NANO = 0x2000;
const KERNEL_DISCIPLINE_BITS = STA_PLL | STA_FLL | STA_PPSFREQ | STA_PPSTIME | STA_FREQHOLD;

/** 1 << 16: the kernel's "scaled ppm" unit for freq. */
const PPM_SCALE = 65536;
/** The kernel clamps maxerror/esterror to NTP_PHASE_LIMIT (16 s) and sets STA_UNSYNC above it. */
const MAX_ERROR_US = 16_000_000;
const TIME_STATES: readonly TimeState[] = ["ok", "insert", "delete", "oop", "wait", "error"];

const ERRNO_EPERM = 1;
const ERRNO_EINVAL = 22;
const ERRNO_EOPNOTSUPP = 95;

/** CAP_SYS_TIME's bit in the capability sets (include/uapi/linux/capability.h). */
const CAP_SYS_TIME_BIT = 25n;

/**
 * True when this process may steer the clock: CAP_SYS_TIME in its effective capability set (read
 * from /proc/self/status "CapEff:", a hex mask). Root without the capability (a container, or
 * `setpriv --bounding-set -sys_time`) gets false, which is the point: uid 0 is not the test.
 */
export function hasCapSysTime(statusText?: string): boolean {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/status", "utf8");
    } catch {
      return false;
    }
  }
  const match = /^CapEff:\s*([0-9a-fA-F]{1,32})\s*$/m.exec(text);
  if (match === null) return false;
  return ((BigInt(`0x${match[1]!}`) >> CAP_SYS_TIME_BIT) & 1n) === 1n;
}

/** True when the environment forbids changing the real clock (test runs). */
export function steeringForbiddenByEnvironment(env: NodeJS.ProcessEnv = process.env): boolean {
  const set = (v: string | undefined) => v !== undefined && v !== "" && v !== "0";
  return set(env.VITEST) || set(env.TOCK_NO_CLOCK_STEERING);
}

export class ClockControlError extends Error {
  constructor(
    readonly operation: string,
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = "ClockControlError";
  }
}

function describeErrno(operation: string, errno: number): string {
  if (errno === ERRNO_EPERM) {
    return `${operation}: not permitted: steering the system clock needs CAP_SYS_TIME (run as root or grant the capability, e.g. systemd AmbientCapabilities=CAP_SYS_TIME); without it tock runs in observe mode`;
  }
  if (errno === ERRNO_EINVAL) return `${operation}: the kernel rejected the value (EINVAL)`;
  if (errno === ERRNO_EOPNOTSUPP) return `${operation}: not supported by this kernel (EOPNOTSUPP)`;
  return `${operation}: clock_adjtime failed (errno ${errno})`;
}

/** The decoded fields tock uses from a struct timex after a call. */
export interface RawTimex {
  /** clock_adjtime's return value: the time state (TIME_OK … TIME_ERROR). */
  result: number;
  offset: number;
  freq: number;
  maxerror: number;
  esterror: number;
  status: number;
  tolerance: number;
  timeSec: number;
  /** Nanoseconds when STA_NANO is set in status, else microseconds. */
  timeFraction: number;
  tick: number;
  tai: number;
}

interface Binding {
  call(buffer: Buffer): number;
  errno(): number;
}

let binding: Binding | null | undefined;

/** Binds clock_adjtime once per process; undefined when not on Linux x64/arm64 or koffi is missing. */
function bind(): Binding | undefined {
  if (binding !== undefined) return binding ?? undefined;
  binding = null;
  if (process.platform !== "linux" || (process.arch !== "x64" && process.arch !== "arm64")) return undefined;
  try {
    const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
    checkLayout(koffi);
    const libc = koffi.load("libc.so.6");
    const fn = libc.func("int clock_adjtime(int, void *)") as (clock: number, tx: Buffer) => number;
    binding = { call: (buffer) => fn(CLOCK_REALTIME, buffer), errno: () => koffi.errno() };
  } catch {
    binding = null;
  }
  return binding ?? undefined;
}

/** Cross-checks the hand-written offsets against koffi's layout of the C declaration. Throws on mismatch. */
function checkLayout(koffi: typeof import("koffi")): void {
  // Anonymous types: koffi refuses a second type of the same name, and this module may be loaded
  // twice in one process (e.g. from ts/ and dist/ in tests).
  const timeval = koffi.struct({ tv_sec: "long", tv_usec: "long" });
  const timex = koffi.struct({
    modes: "uint", offset: "long", freq: "long", maxerror: "long", esterror: "long", status: "int",
    constant: "long", precision: "long", tolerance: "long", time: timeval, tick: "long", ppsfreq: "long",
    jitter: "long", shift: "int", stabil: "long", jitcnt: "long", calcnt: "long", errcnt: "long",
    stbcnt: "long", tai: "int", reserved: koffi.array("int", 11),
  });
  const ok =
    koffi.sizeof(timex) === TIMEX_BYTES &&
    koffi.offsetof(timex, "status") === OFF.status &&
    koffi.offsetof(timex, "time") === OFF.timeSec &&
    koffi.offsetof(timex, "tick") === OFF.tick &&
    koffi.offsetof(timex, "tai") === OFF.tai;
  if (!ok) throw new Error("struct timex layout differs from the x86_64/aarch64 ABI");
}

/** True when clock_adjtime can be called here (Linux x64/arm64 with koffi). */
export function linuxClockAvailable(): boolean {
  return bind() !== undefined;
}

export interface LinuxClockOptions {
  /** Required for any write. Without it the clock is read-only and writes throw. */
  allowSteering?: boolean;
  /** The realtime reader (re-sampled after each step); default a new SystemClock. */
  base?: SystemClock;
}

export class LinuxClock implements AdjustableClock {
  readonly capabilities: ClockCapabilities;
  private readonly base: SystemClock;
  private readonly toNtp: UnixToNtp;
  private readonly allowSteering: boolean;
  private readonly binding: Binding;
  /** One buffer for every call: no allocation per call. */
  private readonly buffer = Buffer.alloc(TIMEX_BYTES);
  private readonly view = new DataView(this.buffer.buffer, this.buffer.byteOffset, TIMEX_BYTES);

  constructor(toNtp: UnixToNtp, options: LinuxClockOptions = {}) {
    const b = bind();
    if (b === undefined) throw new Error("clock_adjtime is not available (needs Linux on x64/arm64 with koffi)");
    this.binding = b;
    this.toNtp = toNtp;
    this.base = options.base ?? new SystemClock(toNtp);
    this.allowSteering = options.allowSteering === true;
    this.capabilities = {
      kind: "linux",
      canAdjust: this.allowSteering,
      maxFrequencyPpm: KERNEL_MAX_FREQUENCY_PPM,
      slewRatePpm: KERNEL_SLEW_RATE_PPM,
      slewResolutionSeconds: 1e-6,
      stepResolutionSeconds: 1e-9,
    };
  }

  get precisionLog2(): number {
    return this.base.precisionLog2;
  }

  now(): NtpTimestamp {
    return this.base.now();
  }

  nowUnix(): UnixTime {
    return this.base.nowUnix();
  }

  /**
   * One clock_adjtime call with `modes` and the given fields; returns the decoded struct. Modes 0 and
   * ADJ_OFFSET_SS_READ only read and need no privilege. Throws ClockControlError on failure.
   */
  adjtime(modes: number, fields: Partial<Record<"offset" | "freq" | "maxerror" | "esterror" | "status" | "timeSec" | "timeFraction", number>> = {}): RawTimex {
    this.buffer.fill(0);
    const v = this.view;
    v.setUint32(OFF.modes, modes, true);
    if (fields.offset !== undefined) v.setBigInt64(OFF.offset, BigInt(fields.offset), true);
    if (fields.freq !== undefined) v.setBigInt64(OFF.freq, BigInt(fields.freq), true);
    if (fields.maxerror !== undefined) v.setBigInt64(OFF.maxerror, BigInt(fields.maxerror), true);
    if (fields.esterror !== undefined) v.setBigInt64(OFF.esterror, BigInt(fields.esterror), true);
    if (fields.status !== undefined) v.setInt32(OFF.status, fields.status, true);
    if (fields.timeSec !== undefined) v.setBigInt64(OFF.timeSec, BigInt(fields.timeSec), true);
    if (fields.timeFraction !== undefined) v.setBigInt64(OFF.timeUsec, BigInt(fields.timeFraction), true);
    const result = this.binding.call(this.buffer);
    if (result < 0) {
      const errno = this.binding.errno();
      throw new ClockControlError("clock_adjtime", errno, describeErrno(`clock_adjtime(modes 0x${modes.toString(16)})`, errno));
    }
    const long = (at: number) => Number(v.getBigInt64(at, true));
    return {
      result,
      offset: long(OFF.offset),
      freq: long(OFF.freq),
      maxerror: long(OFF.maxerror),
      esterror: long(OFF.esterror),
      status: v.getInt32(OFF.status, true),
      tolerance: long(OFF.tolerance),
      timeSec: long(OFF.timeSec),
      timeFraction: long(OFF.timeUsec),
      tick: long(OFF.tick),
      tai: v.getInt32(OFF.tai, true),
    };
  }

  readState(): ClockState {
    // ADJ_OFFSET_SS_READ: a read that also returns the remaining singleshot slew in `offset` (µs).
    return decodeState(this.adjtime(ADJ_OFFSET_SS_READ));
  }

  setFrequency(ppm: number): AdjustResult {
    assertFinite("frequency", ppm);
    const clamped = Math.max(-KERNEL_MAX_FREQUENCY_PPM, Math.min(KERNEL_MAX_FREQUENCY_PPM, ppm));
    const freq = Math.round(clamped * PPM_SCALE);
    this.checkWrite("setFrequency", () => this.adjtime(0).freq === freq);
    return this.result(this.adjtime(ADJ_FREQUENCY, { freq }), freq / PPM_SCALE);
  }

  slew(offsetSeconds: number): AdjustResult {
    assertFinite("slew offset", offsetSeconds);
    this.checkWrite("slew");
    const us = Math.round(offsetSeconds * 1e6);
    return this.result(this.adjtime(ADJ_OFFSET_SINGLESHOT, { offset: us }), us / 1e6);
  }

  step(offsetSeconds: number): AdjustResult {
    assertFinite("step offset", offsetSeconds);
    this.checkWrite("step");
    // Cancel a pending slew first: it was computed against the offset before the step. (ADJ_ADJTIME
    // cannot be combined with other modes in one call.)
    this.adjtime(ADJ_OFFSET_SINGLESHOT, { offset: 0 });
    // ADJ_SETOFFSET adds `time` to the clock; with ADJ_NANO, tv_usec holds ns and must be in
    // [0, 1e9), so a negative offset is floor seconds plus a positive fraction.
    const ns = BigInt(Math.round(offsetSeconds * 1e9));
    let sec = ns / 1_000_000_000n;
    let frac = ns % 1_000_000_000n;
    if (frac < 0n) {
      frac += 1_000_000_000n;
      sec -= 1n;
    }
    const raw = this.adjtime(ADJ_SETOFFSET | ADJ_NANO, { timeSec: Number(sec), timeFraction: Number(frac) });
    this.base.resample();
    return this.result(raw, Number(ns) / 1e9);
  }

  setLeap(leap: LeapAction): AdjustResult {
    this.checkWrite("setLeap");
    const current = this.adjtime(0).status;
    const bits = leap === "insert" ? STA_INS : leap === "delete" ? STA_DEL : 0;
    return this.result(this.adjtime(ADJ_STATUS, { status: (current & ~(STA_INS | STA_DEL)) | bits }));
  }

  setSyncStatus(status: SyncStatus): AdjustResult {
    assertFinite("maxerror", status.maxError);
    assertFinite("esterror", status.estError);
    this.checkWrite("setSyncStatus");
    const current = this.adjtime(0).status;
    const toUs = (s: number) => Math.max(0, Math.min(MAX_ERROR_US, Math.round(s * 1e6)));
    return this.result(
      this.adjtime(ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR, {
        status: status.synchronised ? current & ~STA_UNSYNC : current | STA_UNSYNC,
        maxerror: toUs(status.maxError),
        esterror: toUs(status.estError),
      }),
    );
  }

  takeOver(): AdjustResult {
    this.checkWrite("takeOver");
    const before = this.adjtime(0).status;
    // As chronyd does at start: zero the kernel PLL's pending offset (only possible while STA_PLL is
    // on — the kernel keeps applying a leftover PLL offset even after STA_PLL is cleared), then turn
    // the kernel's own discipline off, keeping leap and unsync bits. Also cancel a singleshot slew.
    this.adjtime(ADJ_OFFSET | ADJ_STATUS, { status: (before & ~KERNEL_DISCIPLINE_BITS) | STA_PLL, offset: 0 });
    this.adjtime(ADJ_OFFSET_SINGLESHOT, { offset: 0 });
    return this.result(this.adjtime(ADJ_STATUS, { status: before & ~KERNEL_DISCIPLINE_BITS }));
  }

  /**
   * Refuses a write unless steering was allowed and the environment is not a test run. In a test
   * run, `isNoOp` may prove the write leaves the kernel as it is (the frequency write-back).
   */
  private checkWrite(operation: string, isNoOp?: () => boolean): void {
    if (!this.allowSteering) {
      throw new ClockControlError(operation, ERRNO_EPERM, `${operation}: this LinuxClock was opened read-only (allowSteering is false)`);
    }
    if (steeringForbiddenByEnvironment() && !(isNoOp?.() ?? false)) {
      throw new ClockControlError(operation, ERRNO_EPERM, `${operation}: refused: VITEST or TOCK_NO_CLOCK_STEERING is set, and this would change the real clock`);
    }
  }

  private result(raw: RawTimex, value?: number): AdjustResult {
    const out: AdjustResult = { applied: true, at: this.toNtp(kernelTime(raw)) };
    if (value !== undefined) out.value = value;
    return out;
  }
}

/** The kernel's timestamp of the call (struct timex .time), as Unix time. */
function kernelTime(raw: RawTimex): UnixTime {
  const nanos = (raw.status & STA_NANO) !== 0 ? raw.timeFraction : raw.timeFraction * 1000;
  return { seconds: raw.timeSec, nanos: Math.max(0, Math.min(999_999_999, nanos)) };
}

/** Decodes a read done with ADJ_OFFSET_SS_READ (offset = remaining singleshot slew in µs). */
export function decodeState(raw: RawTimex): ClockState {
  const leap: LeapAction = (raw.status & STA_INS) !== 0 ? "insert" : (raw.status & STA_DEL) !== 0 ? "delete" : "none";
  return {
    frequencyPpm: raw.freq / PPM_SCALE,
    slewRemainingSeconds: raw.offset / 1e6,
    leap,
    synchronised: (raw.status & STA_UNSYNC) === 0,
    maxErrorSeconds: raw.maxerror / 1e6,
    estErrorSeconds: raw.esterror / 1e6,
    taiOffsetSeconds: raw.tai,
    kernelDisciplineActive: (raw.status & (STA_PLL | STA_FLL | STA_PPSFREQ | STA_PPSTIME)) !== 0,
    timeState: TIME_STATES[raw.result] ?? "error",
    status: raw.status,
  };
}
