// Choosing the clock the daemon steers: the Linux driver when this process may change the clock,
// otherwise the read-only observe clock (issue 5: observe is the default without CAP_SYS_TIME).
import type { Logger } from "../observe/logger.js";
import type { AdjustableClock } from "./adjustable.js";
import { hasCapSysTime, LinuxClock, linuxClockAvailable, steeringForbiddenByEnvironment } from "./linux-clock.js";
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
  /** For tests: the environment checked for VITEST / TOCK_NO_CLOCK_STEERING (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Opens the system clock for the discipline. Throws only for mode "steer" when steering is impossible. */
export function openSystemClock(toNtp: UnixToNtp, options: OpenClockOptions = {}): OpenedClock {
  const mode = options.mode ?? "auto";
  const base = options.base ?? new SystemClock(toNtp);
  const available = linuxClockAvailable();
  const capable = available && (options.canSteer ?? hasCapSysTime)();
  // A test run (or an operator's TOCK_NO_CLOCK_STEERING=1) means observe: the driver would refuse
  // every write anyway, and a daemon that knows it observes reports so instead of failing.
  const forbidden = steeringForbiddenByEnvironment(options.env ?? process.env);
  if (mode === "steer" && (!capable || forbidden)) {
    throw new Error(
      !available ? "cannot steer the clock: clock_adjtime is not available on this platform" : !capable ? "cannot steer the clock: the process lacks CAP_SYS_TIME" : "cannot steer the clock: TOCK_NO_CLOCK_STEERING (or VITEST) is set",
    );
  }
  if (mode !== "observe" && capable && !forbidden) {
    return { clock: new LinuxClock(toNtp, { allowSteering: true, base }), why: "CAP_SYS_TIME present: steering the system clock" };
  }
  const reason = mode === "observe" ? "configured" : !available ? "clock_adjtime unavailable" : !capable ? "no CAP_SYS_TIME" : "TOCK_NO_CLOCK_STEERING or VITEST set";
  const reader = available ? new LinuxClock(toNtp, { base }) : undefined;
  const clock = new ObserveClock({
    base,
    reason,
    ...(reader ? { readState: () => reader.readState() } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return { clock, why: `observe mode (${reason}): the clock is read, never adjusted` };
}
