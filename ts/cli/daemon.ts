// `tock daemon [-c FILE]`: runs the NTP server and the client (sources, clock discipline) until
// SIGTERM/SIGINT. Exit codes: 0 stopped by a signal, 1 config invalid or start-up failed (e.g. port
// in use, no permission for port 123), 2 usage error, 3 clock panic (PANIC_EXIT_CODE: an offset
// beyond a panic threshold; the clock was left alone).
import { parseArgs } from "node:util";
import { formatIssue, loadConfigReport, parseListen } from "../config/index.js";
import { Fail } from "../config/dsl.js";
import { createLogger, LOG_LEVELS, type LogLevel } from "../observe/logger.js";
import { startDaemon, type RunningDaemon } from "../daemon/daemon.js";
import { PANIC_EXIT_CODE } from "../protocol/discipline.js";
import type { ClockPanic } from "../daemon/steering.js";

const USAGE = `usage: tock daemon [-c FILE] [--metrics-listen ADDR:PORT] [--log-level LEVEL]

Serves NTP as configured in FILE (TOML). Without -c, the built-in config: as root port 123 on all
addresses, otherwise 127.0.0.1:1123 and [::1]:1123.

options:
  -c, --config FILE            config file
      --metrics-listen A:P     serve Prometheus metrics at http://A:P/metrics (e.g. 127.0.0.1:9975)
      --log-level LEVEL        trace, debug, info, warn, error (overrides [observability] log-level)
  -h, --help                   show this help

signals: SIGTERM/SIGINT stop (exit 0, final counters logged); SIGUSR1 logs the counters now;
SIGHUP reloads the config (server policy and local-stratum; listen addresses need a restart).
clock: [synchronization] clock = "auto" (steer with CAP_SYS_TIME, else observe), "steer" or "observe";
TOCK_NO_CLOCK_STEERING=1 in the environment forces observe.
exit status: 0 stopped by a signal, 1 bad config or start-up failure, 2 usage error,
${PANIC_EXIT_CODE} clock panic (offset beyond a panic threshold; the clock was not touched)
`;

export async function run(argv: string[]): Promise<number> {
  let configPath: string | undefined;
  let metricsListen: { host: string; port: number } | undefined;
  let logLevel: LogLevel | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        config: { type: "string", short: "c" },
        "metrics-listen": { type: "string" },
        "log-level": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new Error(`unexpected argument '${positionals[0]}'`);
    configPath = values.config;
    if (values["metrics-listen"] !== undefined) {
      const l = parseListen(values["metrics-listen"]);
      if (l instanceof Fail) throw new Error(`--metrics-listen: ${l.what}`);
      metricsListen = { host: l.host, port: l.port };
    }
    if (values["log-level"] !== undefined) {
      if (!(LOG_LEVELS as readonly string[]).includes(values["log-level"])) throw new Error(`--log-level: one of ${LOG_LEVELS.join(", ")}`);
      logLevel = values["log-level"] as LogLevel;
    }
  } catch (err) {
    process.stderr.write(`tock daemon: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }

  const report = loadConfigReport(configPath);
  for (const w of report.warnings) process.stderr.write(`${formatIssue(w)}\n`);
  if (report.config === undefined) {
    for (const e of report.errors) process.stderr.write(`${formatIssue(e)}\n`);
    process.stderr.write(`tock daemon: the config has ${report.errors.length} error${report.errors.length === 1 ? "" : "s"}; not starting\n`);
    return 1;
  }
  const config = report.config;
  const logger = createLogger({ level: logLevel ?? config.observability.logLevel });

  // Signal handlers go in before anything is bound, so a signal during start-up is not fatal:
  // a stop request is remembered and carried out as soon as start-up finishes.
  let daemon: RunningDaemon | undefined;
  let stopRequested: NodeJS.Signals | "clock panic" | undefined;
  let onStop: ((signal: NodeJS.Signals | "clock panic") => void) | undefined;
  // A clock panic (the daemon already logged the message at error level and stopped serving):
  // exit with PANIC_EXIT_CODE, the clock untouched.
  let panic: ClockPanic | undefined;
  const requestStop = (signal: NodeJS.Signals | "clock panic") => {
    stopRequested ??= signal;
    onStop?.(signal);
  };
  process.on("SIGTERM", requestStop);
  process.on("SIGINT", requestStop);
  process.on("SIGUSR1", () => daemon?.logSummary());
  // SIGHUP: re-read the config and apply what can change without a restart (policy, stratum);
  // a broken file or a change that needs a restart is logged and the running config is kept.
  process.on("SIGHUP", () => {
    if (daemon === undefined) return;
    const next = loadConfigReport(configPath);
    if (next.config === undefined) {
      for (const e of next.errors) logger.error({ issue: formatIssue(e) }, "SIGHUP: config has errors; keeping the running config");
      return;
    }
    const problem = daemon.reload(next.config);
    if (problem === undefined) logger.info({ config: configPath ?? "<built-in>" }, "SIGHUP: config reloaded");
    else logger.warn({ reason: problem }, "SIGHUP: config not reloaded");
  });

  // The command-line flag wins over [observability] metrics-exporter-listen.
  const fromConfig = config.observability.metricsExporterListen;
  metricsListen ??= fromConfig ? { host: fromConfig.host, port: fromConfig.port } : undefined;
  try {
    daemon = await startDaemon(config, {
      logger,
      ...(metricsListen ? { metricsListen } : {}),
      onClockPanic: (p) => {
        panic = p;
        process.stderr.write(`tock daemon: ${p.message}\n`);
        requestStop("clock panic");
      },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === "EACCES" ? " (ports below 1024 need root; use an unprivileged port or run as root)" : e.code === "EADDRINUSE" ? " (another process serves that address)" : "";
    logger.fatal({ err: e.message, code: e.code }, `cannot start${hint}`);
    process.stderr.write(`tock daemon: cannot start: ${e.message}${hint}\n`);
    return 1;
  }
  const running = daemon;

  // Stay alive until a stop signal; then close sockets, log totals and exit 0.
  return new Promise<number>((resolve) => {
    let stopping = false;
    onStop = (signal) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "stopping");
      running.stop().then(
        () => {
          logger.info("stopped");
          resolve(panic !== undefined ? panic.exitCode : 0);
        },
        (err: unknown) => {
          logger.error({ err: String(err) }, "error while stopping");
          resolve(1);
        },
      );
    };
    if (stopRequested !== undefined) onStop(stopRequested);
  });
}
