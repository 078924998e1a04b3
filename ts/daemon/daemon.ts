// Starting and stopping the daemon: config → clock, kernels, sockets, metrics; then privileges.
//
// Order of start-up (why): load the WASM core and build every kernel first (fails fast, before any
// socket exists); bind every listener (needs root for port 123); bind the metrics endpoint; only then
// drop to [daemon] user/group, so no privileged operation is needed later. The server clock's state
// (leap, stratum, …) is pushed into the kernels before the first request can arrive.
//
// Everything I/O-ish is injectable (transport, clock, logger, kernel factory) so the same start-up
// runs in tests over the simulated transport.
import type { Clock } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import type { ServerConfig, TockConfig } from "../config/index.js";
import { createLogger, type Logger, type LogLevel } from "../observe/logger.js";
import { MetricsRegistry } from "../observe/metrics.js";
import { serveMetrics, type MetricsServer } from "../observe/metrics-http.js";
import { loadCore } from "./load-core.js";
import { NtpServer, type RequestKernel, type ServerSystemState } from "./ntp-server.js";
import { dropPrivileges } from "./privileges.js";
import { unsynchronisedState } from "../protocol/server-policy.js";
import { createRequestKernel } from "./request-kernel.js";
import { DgramServerTransport, type ServerTransport } from "./server-transport.js";
import type { WasmInstance } from "../core/instance.js";

/** chrony's reference id for `local stratum` (127.127.1.1, the old ntpd LOCAL(1) driver address). */
export const LOCAL_REFERENCE_ID = 0x7f7f0101;
/** How often the local-stratum reference time is refreshed (seconds), like chrony's local reference. */
const LOCAL_REFRESH_SECONDS = 16;

/** What the server says about its own clock, from [synchronization] (no sources exist yet). */
export function systemStateFor(config: TockConfig, clock: Clock): ServerSystemState {
  const stratum = config.synchronization.localStratum;
  if (stratum < 16) {
    // Serving the local clock as if it were synchronised at `stratum` (chrony's `local stratum N`):
    // no upstream, so no root delay; the root dispersion is the clock's own reading error.
    return {
      leap: 0,
      stratum,
      precision: clock.precisionLog2,
      referenceId: LOCAL_REFERENCE_ID,
      rootDelay: 0,
      rootDispersion: 2 ** clock.precisionLog2,
      referenceTime: clock.now(),
    };
  }
  return unsynchronisedState(clock.precisionLog2);
}

export type KernelFactory = (server: ServerConfig, wasm: WasmInstance, clock: Clock) => RequestKernel;

export interface DaemonOptions {
  transport?: ServerTransport;
  clock?: Clock;
  logger?: Logger;
  /** Overrides [observability] log-level. */
  logLevel?: LogLevel;
  createKernel?: KernelFactory;
  /** Serve Prometheus metrics over HTTP here (GET /metrics). */
  metricsListen?: { host: string; port: number };
  /** Seconds between info-level counter summaries (default 60; 0 = none). */
  summaryIntervalSeconds?: number;
}

export interface RunningDaemon {
  readonly server: NtpServer;
  readonly metrics: MetricsRegistry;
  readonly logger: Logger;
  readonly listenAddresses: string[];
  readonly metricsAddress: string | undefined;
  /** Logs the counter summary now (SIGUSR1). */
  logSummary(): void;
  /**
   * Applies a reloaded config (SIGHUP): per-server policy (versions, access lists, rate-limit
   * parameters, interleaved on/off) and [synchronization]. Listen addresses, table sizes and the
   * user cannot change without a restart (sockets are bound and root is gone): then nothing is
   * changed and the reason is returned.
   */
  reload(next: TockConfig): string | undefined;
  /** Closes every socket and timer; logs the final totals. Idempotent. */
  stop(): Promise<void>;
}

export async function startDaemon(config: TockConfig, options: DaemonOptions = {}): Promise<RunningDaemon> {
  const logger = options.logger ?? createLogger({ level: options.logLevel ?? config.observability.logLevel });
  const { core, wasm } = await loadCore();
  const clock = options.clock ?? new SystemClock((t) => core.unixToNtp(t));
  const metrics = new MetricsRegistry();
  const createKernel = options.createKernel ?? createRequestKernel;
  const kernels = config.server.map((s) => createKernel(s, wasm, clock));
  const server = new NtpServer({
    transport: options.transport ?? new DgramServerTransport(clock, { receiveBufferBytes: 4 << 20, sendBufferBytes: 4 << 20 }),
    clock,
    logger,
    metrics,
    summaryIntervalSeconds: options.summaryIntervalSeconds ?? 60,
  });
  let metricsServer: MetricsServer | undefined;
  let refresh: NodeJS.Timeout | undefined;
  const stopAll = async () => {
    clearInterval(refresh);
    await server.close();
    await metricsServer?.close();
  };
  try {
    const addresses = await server.listen(config.server.map((s, i) => ({ address: s.listen.host, port: s.listen.port, kernel: kernels[i]! })));
    let current = config;
    const pushState = () => server.setSystemState(systemStateFor(current, clock));
    pushState();
    if (config.synchronization.localStratum < 16) {
      refresh = setInterval(pushState, LOCAL_REFRESH_SECONDS * 1000);
      refresh.unref();
    }
    if (options.metricsListen) metricsServer = await serveMetrics(metrics, options.metricsListen.host, options.metricsListen.port);
    const state = systemStateFor(config, clock);
    logger.info(
      { listen: addresses, metrics: metricsServer?.address, stratum: state.stratum, leap: state.leap },
      addresses.length === 0 ? "no [[server]] configured: not serving time" : `serving NTP on ${addresses.join(", ")}`,
    );
    dropPrivilegesIfConfigured(config, logger);
    let stopped: Promise<void> | undefined;
    return {
      server,
      metrics,
      logger,
      listenAddresses: addresses,
      metricsAddress: metricsServer?.address,
      logSummary: () => server.logSummary(),
      reload(next) {
        const listens = (c: TockConfig) => c.server.map((s) => `${s.listen.family}/${s.listen.host}/${s.listen.port}`).join(" ");
        if (listens(next) !== listens(current)) return "the [[server]] listen addresses changed; restart tock to apply";
        if (next.daemon.user !== current.daemon.user || next.daemon.group !== current.daemon.group) return "[daemon] user/group changed; restart tock to apply";
        const previous = current;
        try {
          next.server.forEach((s, i) => kernels[i]!.configure(s));
        } catch (err) {
          // Put back what was there, so the servers keep one consistent policy.
          previous.server.forEach((s, i) => kernels[i]!.configure(s));
          return `${err instanceof Error ? err.message : String(err)}; restart tock to apply`;
        }
        current = next;
        pushState();
        clearInterval(refresh);
        if (current.synchronization.localStratum < 16) {
          refresh = setInterval(pushState, LOCAL_REFRESH_SECONDS * 1000);
          refresh.unref();
        }
        return undefined;
      },
      stop: () => {
        stopped ??= (async () => {
          server.logSummary(true);
          await stopAll();
        })();
        return stopped;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function dropPrivilegesIfConfigured(config: TockConfig, logger: Logger): void {
  const { user, group } = config.daemon;
  const isRoot = process.geteuid?.() === 0;
  if (user === undefined) {
    if (isRoot) logger.warn("running as root: set [daemon] user (and group) to drop privileges after binding");
    return;
  }
  if (!isRoot) {
    logger.warn({ user }, "not started as root: [daemon] user ignored, keeping the current user");
    return;
  }
  const dropped = dropPrivileges(user, group);
  logger.info(dropped, `dropped privileges to ${dropped.user} (uid ${dropped.uid}, gid ${dropped.gid})`);
}

