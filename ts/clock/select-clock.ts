// Choosing the clock the daemon steers: the Linux driver when this process may change the clock,
// otherwise the read-only observe clock (issue 5: observe is the default without CAP_SYS_TIME).
import type { Logger } from "../observe/logger.js";
import type { AdjustableClock } from "./adjustable.js";
import { hasCapSysTime, LinuxClock, linuxClockAvailable } from "./linux-clock.js";
import { ObserveClock } from "./observe-clock.js";
import { SystemClock, type UnixToNtp } from "./system-clock.js";

/** "auto": steer when possible, else observe; "observe": never steer; "steer": steer or fail. */
export type ClockMode = "auto" | "observe" | "steer";

export interface OpenedClock {
  clock: AdjustableClock;
  /** Why this clock was chosen, for the start-up log line. */
  why: string;
}

export interface OpenClockOptions {
  mode?: ClockMode;
  logger?: Logger;
  /** Shared realtime reader (the daemon's server clock), so both read the same re-sampled offset. */
  base?: SystemClock;
  /** For tests: the capability check (default: CapEff of /proc/self/status). */
  canSteer?: () => boolean;
}

/** Opens the system clock for the discipline. Throws only for mode "steer" when steering is impossible. */
export function openSystemClock(toNtp: UnixToNtp, options: OpenClockOptions = {}): OpenedClock {
  const mode = options.mode ?? "auto";
  const base = options.base ?? new SystemClock(toNtp);
  const available = linuxClockAvailable();
  const capable = available && (options.canSteer ?? hasCapSysTime)();
  if (mode === "steer" && !capable) {
    throw new Error(available ? "cannot steer the clock: the process lacks CAP_SYS_TIME" : "cannot steer the clock: clock_adjtime is not available on this platform");
  }
  if (mode !== "observe" && capable) {
    return { clock: new LinuxClock(toNtp, { allowSteering: true, base }), why: "CAP_SYS_TIME present: steering the system clock" };
  }
  const reason = mode === "observe" ? "configured" : available ? "no CAP_SYS_TIME" : "clock_adjtime unavailable";
  const reader = available ? new LinuxClock(toNtp, { base }) : undefined;
  const clock = new ObserveClock({
    base,
    reason,
    ...(reader ? { readState: () => reader.readState() } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return { clock, why: `observe mode (${reason}): the clock is read, never adjusted` };
}
