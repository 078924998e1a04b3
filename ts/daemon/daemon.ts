// Starting and stopping the daemon: config → clock, kernels, sockets, metrics; then privileges.
//
// Order of start-up (why): load the WASM core and build every kernel first (fails fast, before any
// socket exists); bind every listener (needs root for port 123); bind the metrics endpoint; only then
// drop to [daemon] user/group, so no privileged operation is needed later. The server clock's state
// (leap, stratum, …) is pushed into the kernels before the first request can arrive.
//
// Engines: each [[server]] entry is served by the node:dgram loop (ntp-server.ts) or the batch
// engine (batch-engine.ts: worker threads, recvmmsg/sendmmsg, kernel timestamps), chosen by its
// `engine` key (engineFor). Both feed one set of ntp_server_* metrics, labelled by listen address.
//
// Everything I/O-ish is injectable (transport, clock, logger, kernel factory) so the same start-up
// runs in tests over the simulated transport.
//
// Clock steering (issue 5, helper N; ts/daemon/steering.ts): with [[source]]s and a clock that may
// be adjusted ([synchronization] clock = "auto" with CAP_SYS_TIME, or "steer"), the client gets the
// ClockDiscipline and its actions go to the system clock. Whether to steer is decided before the
// privilege drop (which then keeps CAP_SYS_TIME); the clock is opened, the drift and leap-seconds
// files read and the kernel taken over after it. Otherwise (observe mode, or a test run: VITEST /
// TOCK_NO_CLOCK_STEERING) the client runs without a discipline and nothing is ever adjusted.
import type { Clock } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import type { ServerConfig, TockConfig } from "../config/index.js";
import { createLogger, type Logger, type LogLevel } from "../observe/logger.js";
import { MetricsRegistry } from "../observe/metrics.js";
import { serveMetrics, type MetricsServer } from "../observe/metrics-http.js";
import { loadCore } from "./load-core.js";
import { NtpServer, type ListenerStats, type RequestKernel, type ServerSystemState } from "./ntp-server.js";
import { BatchServer, batchEngineSupported } from "./batch-engine.js";
import { registerServerMetrics } from "./server-metrics.js";
import { dropPrivileges } from "./privileges.js";
import { unsynchronisedState } from "../protocol/server-policy.js";
import { createRequestKernel, policyOptionsFor } from "./request-kernel.js";
import { DgramServerTransport, type ServerTransport } from "./server-transport.js";
import type { WasmInstance } from "../core/instance.js";
// NTS (issue 6, helper I): cookie keys, NTS-KE servers, NTS answers in the node:dgram kernels.
import { NtsService } from "./nts-service.js";
// Client (issue 5, helper L1): [[source]] servers and pools feed the served system state.
import { NtpClient, type ClientReport } from "./client.js";
import { DnsResolver, type Resolver } from "./resolver.js";
import { DgramTransport, type ClientTransport } from "./udp.js";
// Management socket (issue 5, helper K): `tock status` / `tock sources` read the report from it.
import { openObservationSocket, type ManagementServer } from "../observe/management.js";
import { reportProvider } from "../observe/report.js";
import { LinuxClock, linuxClockAvailable } from "../clock/linux-clock.js";
// Clock steering (issue 5, helper N).
import type { OpenedClock } from "../clock/select-clock.js";
import { clockPart, type ClockPart } from "../observe/report.js";
import { realScheduler, type Scheduler } from "./client.js";
import { createClockSteering, openSteeringClock, steeringIntended, type ClockPanic, type ClockSteering } from "./steering.js";

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

export type KernelFactory = (server: ServerConfig, wasm: WasmInstance, clock: Clock, nts?: NtsService) => RequestKernel;

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
  /** Client I/O for [[source]]s (default: a fresh node:dgram socket per request, and DNS). */
  clientTransport?: ClientTransport;
  resolver?: Resolver;
  /** Management socket: a path, or false for none; default [observability] observation-path, else the built-in default. */
  observationPath?: string | false;
  /** Clock steering (helper N). Tests: the client's timers (default real, monotonic). */
  clientScheduler?: Scheduler;
  /**
   * Tests: the clock the discipline steers instead of the system clock (e.g. a SimAdjustableClock);
   * ignored with clock = "observe". Without it the system clock is opened (observe under vitest).
   */
  steeringClock?: OpenedClock;
  /** A discipline panic: called after the daemon has stopped serving; the process should exit with panic.exitCode. */
  onClockPanic?: (panic: ClockPanic) => void;
}

export interface RunningDaemon {
  readonly metrics: MetricsRegistry;
  readonly logger: Logger;
  /** Listen addresses in config order, and which engine serves each. */
  readonly listenAddresses: string[];
  readonly engines: ServerEngineName[];
  readonly metricsAddress: string | undefined;
  /** Where the management socket listens (undefined: none). */
  readonly observationPath: string | undefined;
  /** Counters per listener, in config order. */
  stats(): ListenerStats[];
  /** Logs the counter summary now (SIGUSR1). */
  logSummary(): void;
  /**
   * Applies a reloaded config (SIGHUP): per-server policy (versions, access lists, rate-limit
   * parameters, interleaved on/off) and [synchronization]. Listen addresses, engines, table sizes
   * and the user cannot change without a restart (sockets are bound and root is gone): then
   * nothing is changed and the reason is returned.
   */
  reload(next: TockConfig): string | undefined;
  /** Closes every socket, worker and timer; logs the final totals. Idempotent. */
  stop(): Promise<void>;
  /** The client's sources, selection and last update; undefined when no [[source]] is configured. */
  clientReport(): ClientReport | undefined;
  /** The client itself (management report: sourceTable(), tracking(), servedState()), if any. */
  readonly client: NtpClient | undefined;
  /** The clock steering, when the daemon steers a clock (undefined: observe mode, or no sources). */
  readonly steering: ClockSteering | undefined;
  /** The clock mode as the management report shows it. */
  readonly clockMode: ClockPart;
}

export type ServerEngineName = "dgram" | "batch";

/**
 * Which engine serves a [[server]] entry: `engine = "batch"` needs Linux (x64/arm64) and the built
 * worker script; `"auto"` takes it where available, else node:dgram; `"dgram"` always node:dgram.
 */
export function engineFor(server: ServerConfig, batchAvailable: boolean): ServerEngineName {
  if (server.engine === "dgram") return "dgram";
  if (server.engine === "batch") {
    if (!batchAvailable) throw new Error(`[[server]] ${server.listen.text}: engine = "batch" needs Linux on x64/arm64 and a built dist/ (use "auto" or "dgram")`);
    return "batch";
  }
  return batchAvailable ? "batch" : "dgram";
}

export async function startDaemon(config: TockConfig, options: DaemonOptions = {}): Promise<RunningDaemon> {
  const logger = options.logger ?? createLogger({ level: options.logLevel ?? config.observability.logLevel });
  const { core, wasm } = await loadCore();
  const clock = options.clock ?? new SystemClock((t) => core.unixToNtp(t));
  const metrics = new MetricsRegistry();
  const summaryIntervalSeconds = options.summaryIntervalSeconds ?? 60;
  // A simulated transport only exists for the dgram engine, so tests that inject one get that.
  // Both engines answer NTS: the batch workers build their own NTS state from the service's keys.
  const batchAvailable = options.transport === undefined && options.createKernel === undefined && batchEngineSupported();
  const engines = config.server.map((s) => engineFor(s, batchAvailable));
  // Config index → index within its engine.
  const indexInEngine = engines.map((e, i) => engines.slice(0, i).filter((x) => x === e).length);
  const dgramEntries = config.server.filter((_, i) => engines[i] === "dgram");
  const batchEntries = config.server.filter((_, i) => engines[i] === "batch");

  const createKernel = options.createKernel ?? createRequestKernel;
  // Keys and certificates are read and KE listeners bound here, before privileges are dropped.
  const nts = await NtsService.create(config, wasm, { logger });
  const kernels = dgramEntries.map((s) => createKernel(s, wasm, clock, nts));
  const dgram = new NtpServer({
    transport: options.transport ?? new DgramServerTransport(clock, { receiveBufferBytes: 4 << 20, sendBufferBytes: 4 << 20 }),
    clock,
    logger,
    summaryIntervalSeconds,
  });
  const batch = batchEntries.length > 0
    ? new BatchServer({ logger, summaryIntervalSeconds, receiveBufferBytes: 4 << 20, sendBufferBytes: 4 << 20, ...(nts !== undefined ? { nts: nts.workerSetup() } : {}) })
    : undefined;
  if (batch !== undefined && nts !== undefined) {
    // Rotations reach every worker (and restarted ones start from the newest keys); the workers'
    // NTS counters join ntp_server_nts_* (onKeys also calls back at once with the current keys).
    nts.onKeys((keys) => batch.setNtsKeys(keys));
    nts.addCounterSource(() => batch.ntsCounters());
  }
  const stats = (): ListenerStats[] => {
    const d = dgram.stats();
    const b = batch?.stats() ?? [];
    return engines.map((e, i) => (e === "dgram" ? d[indexInEngine[i]!] : b[indexInEngine[i]!])).filter((x): x is ListenerStats => x !== undefined);
  };
  registerServerMetrics(metrics, stats);
  batch?.registerEngineMetrics(metrics);

  let metricsServer: MetricsServer | undefined;
  let refresh: NodeJS.Timeout | undefined;
  let client: NtpClient | undefined;
  let management: ManagementServer | undefined;
  let steering: ClockSteering | undefined;
  const stopAll = async () => {
    clearInterval(refresh);
    client?.stop();
    await Promise.all([dgram.close(), batch?.close()]);
    await metricsServer?.close();
    await nts?.stop();
    await management?.close();
  };
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      dgram.logSummary(true);
      batch?.logSummary(true);
      // No clock action after this point; then the drift file gets the latest frequency (SIGTERM).
      client?.stop();
      await steering?.flushDrift();
      await stopAll();
    })();
    return stopped;
  };
  // Steering (helper N): the served state carries the discipline's leap indicator when it steers.
  const served = (state: ServerSystemState): ServerSystemState => (steering ? steering.served(state) : state);
  const mode = config.synchronization.clock;
  // The management report's clock part: known for sure only once the clock is opened (after the drop).
  const kernelClock = linuxClockAvailable() ? new LinuxClock((t) => core.unixToNtp(t)) : undefined;
  let clockMode: ClockPart = {
    mode: "observe",
    why: config.source.length === 0 ? "no [[source]] configured: the clock is read, never adjusted" : "starting: the clock is not adjusted yet",
    ...(kernelClock ? { clock: kernelClock } : {}),
  };
  let current = config;
  // The client (with [[source]]s) is created after the privilege drop, below: its discipline needs
  // the clock, which is opened as the final user. Until it starts, the [synchronization] state is served.
  const pushState = () => {
    const state = client ? served(client.servedState()) : systemStateFor(current, clock);
    dgram.setSystemState(state);
    batch?.setSystemState(state);
  };
  try {
    // The served state is in every kernel BEFORE the first socket opens, so the first requests
    // never get the kernel's default (unsynchronised) state when local-stratum says otherwise.
    const initial = systemStateFor(current, clock);
    for (const k of kernels) k.setSystemState(initial);
    batch?.setSystemState(initial);
    const dgramAddresses = await dgram.listen(dgramEntries.map((s, i) => ({ address: s.listen.host, port: s.listen.port, kernel: kernels[i]! })));
    const batchAddresses = batch
      ? await batch.listen(batchEntries.map((s) => ({ address: s.listen.host, port: s.listen.port, policy: policyOptionsFor(s), workers: s.workers })))
      : [];
    const addresses = engines.map((e, i) => (e === "dgram" ? dgramAddresses : batchAddresses)[indexInEngine[i]!]!);
    pushState();
    if (config.synchronization.localStratum < 16) {
      refresh = setInterval(pushState, LOCAL_REFRESH_SECONDS * 1000);
      refresh.unref();
    }
    if (options.metricsListen) metricsServer = await serveMetrics(metrics, options.metricsListen.host, options.metricsListen.port);
    // Management socket: bound before privileges are dropped (/run/tock belongs to root). The clock
    // part follows `clockMode` (set once the clock is opened, after the drop).
    const unixNow = () => Math.floor(Date.now() / 1000);
    management = await openObservationSocket({
      configured: config.observability.observationPath,
      override: options.observationPath,
      permissions: config.observability.observationPermissions,
      logger,
      metrics,
      provider: reportProvider({
        served: () => (client ? served(client.servedState()) : systemStateFor(current, clock)),
        ntpToUnix: (ts) => core.ntpToUnix(ts, unixNow()),
        nowUnix: () => core.ntpToUnix(clock.now(), unixNow()),
        metrics,
        clock: () => clockMode,
        sources: () => client?.sourceTable() ?? [],
        tracking: () => ({ ...(client?.tracking() ?? {}), ...(steering?.tracking() ?? {}) }),
      }),
    });
    const state = systemStateFor(config, clock);
    logger.info(
      { listen: addresses, engines, metrics: metricsServer?.address, stratum: state.stratum, leap: state.leap },
      addresses.length === 0 ? "no [[server]] configured: not serving time" : `serving NTP on ${addresses.join(", ")}`,
    );
    if (nts !== undefined) {
      nts.registerMetrics(metrics);
      logger.info({ nts_ke: nts.keAddresses, key_storage: config.keyset.keyStoragePath ?? null }, nts.keAddresses.length > 0 ? `serving NTS-KE on ${nts.keAddresses.join(", ")}` : "answering NTS requests (no NTS-KE listener here)");
    }
    // Decided before the drop, so the drop keeps CAP_SYS_TIME only for a daemon that will steer.
    const keepCapSysTime = config.source.length > 0 && options.steeringClock === undefined && steeringIntended(mode);
    dropPrivilegesIfConfigured(config, logger, keepCapSysTime);
    if (config.source.length === 0 && mode === "steer") logger.warn('clock = "steer" but no [[source]] is configured: nothing steers the clock');
    if (config.source.length > 0) {
      // With [[source]]s the client decides what is served (falling back to the [synchronization]
      // state while it is not synchronised); the served root dispersion includes the measured offset
      // (RFC 5905 §11.2.3), so an observing daemon whose clock is off says so.
      const base = clock instanceof SystemClock ? clock : new SystemClock((t) => core.unixToNtp(t));
      const opened =
        options.steeringClock !== undefined && mode !== "observe" ? options.steeringClock : openSteeringClock((t) => core.unixToNtp(t), mode, { base, logger });
      clockMode = clockPart(opened);
      const scheduler = options.clientScheduler ?? realScheduler;
      if (opened.clock.capabilities.canAdjust) {
        steering = await createClockSteering(config.synchronization, {
          clock: opened.clock,
          logger,
          now: () => scheduler.now(),
          // Panic: the discipline's message is logged (error) by ClockSteering; stop serving, then exit 3.
          onPanic: (panic) => void stop().then(() => options.onClockPanic?.(panic)),
        });
      }
      const steeringNow = steering;
      client = new NtpClient({
        core, wasm, sources: config.source, minimumAgreeingSources: config.synchronization.minimumAgreeingSources,
        transport: options.clientTransport ?? new DgramTransport(clock), resolver: options.resolver ?? new DnsResolver(),
        precisionLog2: clock.precisionLog2, logger, fallback: () => systemStateFor(current, clock),
        scheduler,
        onSystemState: (state) => {
          const s = served(state);
          dgram.setSystemState(s);
          batch?.setSystemState(s);
        },
        ...(steeringNow ? { discipline: steeringNow.discipline, onClockActions: (actions) => steeringNow.handle(actions) } : {}),
      });
      if (steeringNow) logger.info({ sources: config.source.length, clock: clockMode.mode, why: opened.why }, "client started: steering the clock");
      else logger.info({ sources: config.source.length, why: opened.why }, "client started in observe mode: sources are polled and reported, the clock is not adjusted");
      client.start();
    }
    const applyPolicies = (c: TockConfig) =>
      c.server.forEach((s, i) => {
        if (engines[i] === "dgram") kernels[indexInEngine[i]!]!.configure(s);
        else batch!.configure(indexInEngine[i]!, policyOptionsFor(s));
      });
    return {
      metrics,
      logger,
      listenAddresses: addresses,
      engines,
      metricsAddress: metricsServer?.address,
      observationPath: management?.path,
      stats,
      clientReport: () => client?.report(),
      client,
      steering,
      clockMode,
      logSummary: () => {
        dgram.logSummary();
        batch?.logSummary();
      },
      reload(next) {
        const listens = (c: TockConfig) => c.server.map((s) => `${s.listen.family}/${s.listen.host}/${s.listen.port}`).join(" ");
        if (listens(next) !== listens(current)) return "the [[server]] listen addresses changed; restart tock to apply";
        if (next.server.some((s, i) => engineFor(s, batchAvailable) !== engines[i] || (engines[i] === "batch" && s.workers !== current.server[i]!.workers))) {
          return "a [[server]] engine or workers setting changed; restart tock to apply";
        }
        if (next.daemon.user !== current.daemon.user || next.daemon.group !== current.daemon.group) return "[daemon] user/group changed; restart tock to apply";
        if (JSON.stringify([next.ntsKeServer, next.keyset]) !== JSON.stringify([current.ntsKeServer, current.keyset])) return "[[nts-ke-server]] or [keyset] changed; restart tock to apply";
        // NTS (helper I): SIGHUP re-reads the KE certificates (renewals); a bad file changes nothing.
        const certificates = nts?.reloadCertificates(next);
        if (certificates !== undefined) return certificates;
        if (JSON.stringify([next.source, next.synchronization.minimumAgreeingSources]) !== JSON.stringify([current.source, current.synchronization.minimumAgreeingSources])) {
          return "[[source]] entries or minimum-agreeing-sources changed; restart tock to apply";
        }
        // Steering (helper N): the clock mode, thresholds and files are read once, at start.
        const steeringKeys = (c: TockConfig) => JSON.stringify({ ...c.synchronization, localStratum: 0 });
        if (client !== undefined && steeringKeys(next) !== steeringKeys(current)) {
          return "[synchronization] clock, step/panic thresholds, max-slew-rate, drift-file or leap-seconds-file changed; restart tock to apply";
        }
        const previous = current;
        try {
          applyPolicies(next);
        } catch (err) {
          // Put back what was there, so the servers keep one consistent policy.
          applyPolicies(previous);
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
      stop,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function dropPrivilegesIfConfigured(config: TockConfig, logger: Logger, keepCapSysTime: boolean): void {
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
  const dropped = dropPrivileges(user, group, { keepCapSysTime });
  logger.info(dropped, `dropped privileges to ${dropped.user} (uid ${dropped.uid}, gid ${dropped.gid})`);
}

