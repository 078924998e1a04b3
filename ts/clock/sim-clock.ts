// A simulated clock for tests and the simulator: it reads whatever it was set to, and moves only when
// told (advance/set). Same interface as the system clock, so protocol code cannot tell them apart.
import type { NtpTimestamp } from "../core/api.js";
import { addSeconds, type Clock } from "./clock.js";

export class SimClock implements Clock {
  readonly precisionLog2: number;
  private current: NtpTimestamp;

  /** start: the initial reading; precisionLog2 defaults to −20 (about 1 µs), a typical Node clock. */
  constructor(start: NtpTimestamp, precisionLog2 = -20) {
    this.current = BigInt.asUintN(64, start);
    this.precisionLog2 = precisionLog2;
  }

  now(): NtpTimestamp {
    return this.current;
  }

  /** Moves the clock by `seconds` (float64, may be negative: a step backwards). */
  advance(seconds: number): void {
    this.current = addSeconds(this.current, seconds);
  }

  set(ts: NtpTimestamp): void {
    this.current = BigInt.asUintN(64, ts);
  }
}
