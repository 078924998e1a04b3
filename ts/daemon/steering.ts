// Steering the clock: the one place where the discipline's ClockActions meet a real (or simulated)
// adjustable clock. The daemon (daemon.ts) and the simulator (test/sim/world.ts) both carry actions
// out through carryOutClockActions, so what the simulator measures is what the daemon does.
//
//   NtpClient ──SystemUpdate/tick──▶ ClockDiscipline ──ClockAction[]──▶ carryOutClockActions ──▶ AdjustableClock
//                                                                        └─ "panic": stop, nothing applied
//
// What the daemon adds around that loop (ClockSteering):
//   - the drift file: read once at start (the discipline's initial frequency), offered to DriftSaver
//     after every update and tick (it writes at most hourly, and only once the frequency is known
//     to ±1 ppm), flushed at shutdown;
//   - the leap-seconds.list table for the discipline's leap policy;
//   - takeOver() once before the first action (turns off a kernel PLL left running by another daemon);
//   - logging: steps at warn (they are rare and visible to every program on the host), a panic at
//     error, everything else at debug — never one info line per sample;
//   - the leap indicator served downstream: the discipline's (armed only on the last UTC day of the
//     month), not the sources' raw majority.
//
// Choosing the clock (openSteeringClock): `[synchronization] clock = "auto" | "steer" | "observe"`.
// The environment has the last word: VITEST or TOCK_NO_CLOCK_STEERING set means observe whatever
// the config says, so no test (and no operator who set it) can ever have the real clock steered.
import type { AdjustableClock, AdjustResult } from "../clock/adjustable.js";
import { applyClockAction } from "../clock/adjustable.js";
import { hasCapSysTime, linuxClockAvailable, steeringForbiddenByEnvironment } from "../clock/linux-clock.js";
import { openSystemClock, type ClockMode, type OpenedClock } from "../clock/select-clock.js";
import type { SystemClock, UnixToNtp } from "../clock/system-clock.js";
import type { SynchronizationConfig } from "../config/index.js";
import type { Logger } from "../observe/logger.js";
import { ClockDiscipline, disciplineOptionsFromConfig, PANIC_EXIT_CODE, type DisciplineOptions } from "../protocol/discipline.js";
import type { LeapTable } from "../protocol/leap.js";
import type { ServerSystemState } from "../protocol/server-policy.js";
import type { SystemReport } from "../protocol/status.js";
import type { ClockAction, Discipline, SystemUpdate } from "../protocol/system.js";
import { DriftSaver, readDriftFile, writeDriftFile, type DriftRecord } from "./drift-file.js";
import { readLeapSecondsFile } from "./leap-file.js";

export type PanicAction = Extract<ClockAction, { kind: "panic" }>;

export interface CarryOutHooks {
  /** Called for every action before anything is done with it (the simulator records it here). */
  before?: (action: ClockAction) => void;
  /** A panic: nothing of it (or after it) is applied; the caller stops. */
  panic: (action: PanicAction) => void;
  /** After an action was handed to the clock (result.applied is false for an observe clock). */
  applied?: (action: Exclude<ClockAction, PanicAction>, result: AdjustResult) => void;
  /** The clock refused with an exception (e.g. EPERM): absent → rethrown. */
  failed?: (action: Exclude<ClockAction, PanicAction>, error: unknown) => void;
}

/**
 * Applies the discipline's actions to `clock` in order. A batch that holds a "panic" applies
 * NOTHING (the discipline may announce a frequency in the same batch before it decides to panic;
 * a panicking daemon leaves the clock exactly as it found it): only `before` and `panic` are called,
 * for the panic. Returns false after a panic.
 */
export function carryOutClockActions(clock: AdjustableClock, actions: readonly ClockAction[], hooks: CarryOutHooks): boolean {
  const panic = actions.find((a): a is PanicAction => a.kind === "panic");
  if (panic !== undefined) {
    hooks.before?.(panic);
    hooks.panic(panic);
    return false;
  }
  for (const action of actions) {
    hooks.before?.(action);
    if (action.kind === "panic") continue; // unreachable: handled above (narrows the type)
    let result: AdjustResult;
    try {
      result = applyClockAction(clock, action);
    } catch (err) {
      if (hooks.failed === undefined) throw err;
      hooks.failed(action, err);
      continue;
    }
    hooks.applied?.(action, result);
  }
  return true;
}

// ── Choosing the clock ─────────────────────────────────────────────────────────────────────────

/**
 * Whether the daemon is going to steer, decided BEFORE the privilege drop (which then keeps
 * CAP_SYS_TIME only when this is true): never with the environment's veto or mode "observe"; with
 * "steer" always (opening fails later if it cannot); with "auto" when the process has CAP_SYS_TIME.
 */
export function steeringIntended(mode: ClockMode, env: NodeJS.ProcessEnv = process.env, canSteer: () => boolean = hasCapSysTime): boolean {
  if (mode === "observe" || steeringForbiddenByEnvironment(env) || !linuxClockAvailable()) return false;
  return mode === "steer" || canSteer();
}

/**
 * Opens the clock the discipline steers, sharing `base` with the server (so served timestamps
 * follow a step at once). The environment's veto turns even `clock = "steer"` into observe mode
 * (openSystemClock would refuse "steer" there): a test run must never fail for want of a clock it
 * must not touch anyway, and never touch it.
 */
export function openSteeringClock(toNtp: UnixToNtp, mode: ClockMode, options: { base: SystemClock; logger?: Logger; env?: NodeJS.ProcessEnv; canSteer?: () => boolean }): OpenedClock {
  const env = options.env ?? process.env;
  const vetoed = mode !== "observe" && steeringForbiddenByEnvironment(env);
  const opened = openSystemClock(toNtp, {
    mode: vetoed ? "observe" : mode,
    base: options.base,
    env,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.canSteer ? { canSteer: options.canSteer } : {}),
  });
  if (!vetoed) return opened;
  return { clock: opened.clock, why: `observe mode (TOCK_NO_CLOCK_STEERING or VITEST set, overriding clock = "${mode}"): the clock is read, never adjusted` };
}

// ── The daemon's steering loop ─────────────────────────────────────────────────────────────────

/** A panic as the daemon reports it: the discipline's message and the process exit code. */
export interface ClockPanic {
  message: string;
  offset: number;
  threshold: number;
  exitCode: typeof PANIC_EXIT_CODE;
}

export interface ClockSteeringOptions {
  clock: AdjustableClock;
  discipline: ClockDiscipline;
  logger: Logger;
  /** The client's monotonic seconds (drift saving interval). */
  now: () => number;
  /** Present when [synchronization] drift-file is set. */
  driftSaver?: DriftSaver | undefined;
  /** Called once, after the panic was logged; the caller stops serving and exits with panic.exitCode. */
  onPanic: (panic: ClockPanic) => void;
}

export class ClockSteering {
  /** What NtpClient gets as its discipline: the ClockDiscipline, plus a drift-file offer after each call. */
  readonly discipline: Discipline;
  private panicked: ClockPanic | undefined;
  /** Counters for tests and the log: actions applied / refused by the clock. */
  readonly counters = { applied: 0, notApplied: 0, failed: 0, steps: 0 };

  constructor(private readonly options: ClockSteeringOptions) {
    const inner = options.discipline;
    this.discipline = {
      update: (u: SystemUpdate, now: number) => this.afterDiscipline(inner.update(u, now), now),
      tick: (now: number) => this.afterDiscipline(inner.tick(now), now),
    };
  }

  get panic(): ClockPanic | undefined {
    return this.panicked;
  }

  /** NtpClient's onClockActions: carries the actions out (nothing at all after a panic). */
  handle(actions: readonly ClockAction[]): void {
    if (this.panicked !== undefined) return;
    const { clock, logger } = this.options;
    carryOutClockActions(clock, actions, {
      panic: (a) => {
        this.panicked = { message: a.message, offset: a.offset, threshold: a.threshold, exitCode: PANIC_EXIT_CODE };
        logger.error({ offset: a.offset, threshold: a.threshold, exit_code: PANIC_EXIT_CODE }, a.message);
        this.options.onPanic(this.panicked);
      },
      applied: (a, result) => {
        if (result.applied) this.counters.applied++;
        else this.counters.notApplied++;
        if (a.kind === "step") {
          this.counters.steps++;
          logger.warn({ offset: a.offset, applied: result.applied, ...(result.reason ? { reason: result.reason } : {}) }, `clock stepped by ${a.offset.toFixed(6)} s`);
        } else if (a.kind === "leap" && a.leap !== "none") {
          logger.warn({ leap: a.leap, applied: result.applied }, `leap second (${a.leap}) armed for the end of this UTC day`);
        } else {
          logger.debug({ action: a, applied: result.applied }, "clock action");
        }
      },
      failed: (a, err) => {
        this.counters.failed++;
        logger.error({ action: a, err: err instanceof Error ? err.message : String(err) }, `clock ${a.kind} failed`);
      },
    });
  }

  /**
   * The state to serve: the system process's, with the discipline's leap indicator instead of the
   * sources' raw majority (armed only on the last UTC day of the month, or from the leap table).
   */
  served(state: ServerSystemState): ServerSystemState {
    if (state.leap === 3) return state; // unsynchronised stays unsynchronised
    const leap = this.options.discipline.leapIndicator();
    return { ...state, leap: leap === 1 || leap === 2 ? leap : 0 };
  }

  /** The management report's figures that only the discipline knows. */
  tracking(): Partial<SystemReport> {
    const s = this.options.discipline.status();
    if (s.state === "unset") return {};
    return { systemTimeOffset: -s.offset, frequencyPpm: s.oscillatorPpm, skewPpm: s.frequencySigmaPpm };
  }

  /** Writes the drift file now (shutdown). Not after a panic: that run's estimate is not trusted. */
  async flushDrift(): Promise<boolean> {
    const record = this.options.discipline.driftRecord();
    if (this.panicked !== undefined || record === null || this.options.driftSaver === undefined) return false;
    return this.options.driftSaver.flush(this.options.now(), record);
  }

  private afterDiscipline(actions: ClockAction[], now: number): ClockAction[] {
    const saver = this.options.driftSaver;
    if (saver !== undefined && this.panicked === undefined) {
      const record = this.options.discipline.driftRecord();
      // offer() writes at most once per interval and reports failures through the saver's onError.
      if (record !== null) void saver.offer(now, record);
    }
    return actions;
  }
}

export interface SteeringSetup {
  clock: AdjustableClock;
  logger: Logger;
  now: () => number;
  onPanic: (panic: ClockPanic) => void;
  /** Drift write (tests inject one; default the atomic writeDriftFile). */
  writeDrift?: (path: string, record: DriftRecord) => Promise<void>;
  /** Seconds between drift saves (default 3600). */
  driftInterval?: number;
  /** Extra discipline options (tests); the config's win where both set a value. */
  discipline?: DisciplineOptions;
}

/**
 * Builds the daemon's steering from [synchronization]: reads the drift file and the leap-seconds
 * file (a missing or bad file is logged and ignored: the discipline then learns from scratch / the
 * sources decide leap seconds), builds the discipline with the clock's UTC, takes the clock over.
 */
export async function createClockSteering(sync: SynchronizationConfig, setup: SteeringSetup): Promise<ClockSteering> {
  const { clock, logger } = setup;
  const utc = (): number => {
    const u = clock.nowUnix();
    return u.seconds + u.nanos / 1e9;
  };
  let initialFrequency: DriftRecord | undefined;
  if (sync.driftFile !== undefined) {
    const read = await readDriftFile(sync.driftFile);
    if (read.ok) {
      initialFrequency = read.record;
      logger.info({ drift_file: sync.driftFile, frequency_ppm: read.record.frequencyPpm, uncertainty_ppm: read.record.uncertaintyPpm }, "frequency restored from the drift file");
    } else if (read.missing) {
      logger.info({ drift_file: sync.driftFile }, "no drift file yet: the frequency is measured from scratch");
    } else {
      logger.warn({ drift_file: sync.driftFile, err: read.error }, "drift file ignored");
    }
  }
  let leapTable: LeapTable | null = null;
  if (sync.leapSecondsFile !== undefined) {
    const read = await readLeapSecondsFile(sync.leapSecondsFile, utc());
    if (read.ok) {
      leapTable = read.table;
      const log = read.expired ? logger.warn.bind(logger) : logger.info.bind(logger);
      log({ leap_seconds_file: sync.leapSecondsFile, hash_checked: read.hashChecked, expired: read.expired }, read.expired ? "leap-seconds file has expired: the sources decide leap seconds" : "leap-seconds file read");
    } else {
      logger.warn({ leap_seconds_file: sync.leapSecondsFile, err: read.error }, "leap-seconds file ignored: the sources decide leap seconds");
    }
  }
  const discipline = new ClockDiscipline({
    ...setup.discipline,
    ...disciplineOptionsFromConfig(sync, { ...(initialFrequency ? { initialFrequency } : {}), leapTable, utc }),
  });
  const driftSaver =
    sync.driftFile === undefined
      ? undefined
      : new DriftSaver(sync.driftFile, setup.driftInterval ?? 3600, setup.writeDrift ?? writeDriftFile, (err) =>
          logger.warn({ drift_file: sync.driftFile, err: err.message }, "cannot write the drift file"),
        );
  // Once, before the first adjustment: tock alone steers (a kernel PLL left on would fight us).
  const takeOver = applyClockAction(clock, { kind: "take-over" });
  if (!takeOver.applied) logger.warn({ reason: takeOver.reason }, "could not take the clock over");
  return new ClockSteering({ clock, discipline, logger, now: setup.now, driftSaver, onPanic: setup.onPanic });
}
