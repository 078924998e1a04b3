// The client half of the daemon: runs the `[[source]]` servers and pools of the config over real UDP,
// DNS and timers, feeds their samples to the system process, and hands out what it produces — clock
// actions for the discipline's clock, the system state for the server kernels, and a report for the
// management socket. All decisions live in ts/protocol (source.ts, pool.ts, system.ts); this file only
// carries their actions out. The reports are read out of its state by client-report.ts; timers sit
// behind scheduler.ts.
//
// I/O is injected (Scheduler, ClientTransport, Resolver, random bytes), with the real implementations
// as defaults, so the same loop runs in virtual time in tests:
//   - every request gets its own socket bound to a random ephemeral port (RFC 9109; ts/daemon/udp.ts
//     DgramTransport) that the kernel connects to the server, and lives until its answer or timeout;
//   - `now` for the protocol is monotonic seconds (performance.now), never the wall clock, so a clock
//     step cannot confuse timers or the filter's ages; T1/T4 come from the Clock via the transport;
//   - random bytes come from node:crypto (a CSPRNG: the transmit timestamp is a nonce);
//   - `nts` sources (ts/protocol/nts-source.ts) ask for NTS-KE with a "key-exchange" action: this
//     file resolves the KE server, runs keyExchange() over the injected KeDialer (TLS in production,
//     SimKeDialer in tests), resolves the NTP server the KE named and hands the session back. When
//     that server differs from before, the source is re-attached to selection (new filter, new
//     refid): samples of one server never mix with another's.
import { randomBytes } from "node:crypto";
import type { TockCore } from "../core/api.js";
import { createAead, type Aead } from "../core/aead.js";
import type { WasmInstance } from "../core/instance.js";
import { createSelection, type SelectionTunables } from "../core/selection.js";
import type { SourceConfig } from "../config/index.js";
import type { Logger } from "../observe/logger.js";
import { Pool, type PoolAction } from "../protocol/pool.js";
import { referenceIdForAddress } from "../protocol/refid.js";
import type { ServerSystemState } from "../protocol/server-policy.js";
import { NtpSource, RANDOM_BYTES_PER_POLL, type SourceAddress } from "../protocol/source.js";
import { NTS_RANDOM_BYTES_PER_POLL, NtsSource, type NtsSourceAction } from "../protocol/nts-source.js";
import { TlsKeDialer, type KeDialer } from "./nts-ke-client.js";
import { establishNtsSession } from "./nts-establish.js";
import type { NtsSession } from "../protocol/nts-client.js";
import { SystemProcess, type ClockAction, type Discipline, type SelectRound } from "../protocol/system.js";
import type { SourceReport, SystemReport } from "../protocol/status.js";
import type { Resolver } from "./resolver.js";
import type { ClientTransport, ExchangeSocket } from "./udp.js";
import { realScheduler, type Scheduler } from "./scheduler.js";
import { buildClientReport, buildSourceTable, buildTracking, type ClientReport, type ReportInputs } from "./client-report.js";

// Callers import these from here; they live in files of their own.
export { realScheduler, type Scheduler } from "./scheduler.js";
export type { ClientReport, ClientSourceReport } from "./client-report.js";

/** Seconds between discipline ticks, pool reviews and served-state refreshes (RFC 5905 §12: 1 s). */
const TICK_SECONDS = 1;
/** Re-push the aged served state at least this often (s). */
const SERVED_REFRESH_SECONDS = 16;
/** Bounds of the retry interval for a `server` source whose name does not resolve (s). */
const RESOLVE_RETRY_MIN = 60;
const RESOLVE_RETRY_MAX = 3600;
/** Deadline of one NTS-KE (connect + TLS handshake + exchange), ms. */
const KE_TIMEOUT_MS = 10_000;

export interface NtpClientOptions {
  core: TockCore;
  wasm: WasmInstance;
  sources: readonly SourceConfig[];
  minimumAgreeingSources: number;
  transport: ClientTransport;
  resolver: Resolver;
  /** Our clock's precision (log2 s). */
  precisionLog2: number;
  logger: Logger;
  /** What to serve while not synchronised. */
  fallback: () => ServerSystemState;
  /** Absent: observe mode (report only, never act on the clock). */
  discipline?: Discipline | undefined;
  /** Receives every clock action (in order) with the round that caused it. */
  onClockActions?: (actions: ClockAction[]) => void;
  /** Receives the system state to serve, on every change and every SERVED_REFRESH_SECONDS. */
  onSystemState?: (state: ServerSystemState) => void;
  scheduler?: Scheduler;
  random?: (n: number) => Uint8Array;
  /** Selection tunables (tests shrink nothing by default). */
  selection?: SelectionTunables;
  /** Selection slots (default 64; pools use `count` each). */
  maxSources?: number;
  /** NTS-KE dialer for `nts` sources (default: TLS, TlsKeDialer) and the AEAD (default: one on `wasm`). */
  nts?: { dialer?: KeDialer; aead?: Aead; keTimeoutMs?: number };
}

interface Slot {
  source: NtpSource | NtsSource;
  index: number;
  name: string;
  mode: "server" | "pool" | "nts";
  pool: PoolRunner | undefined;
  /** The source's config (NTS-KE needs its host, port and certificate authority). */
  config: SourceConfig;
  timer: unknown;
  sockets: Map<number, ExchangeSocket>;
  stopped: boolean;
}

interface PoolRunner {
  pool: Pool;
  config: SourceConfig;
  timer: unknown;
}

export class NtpClient {
  private readonly system: SystemProcess;
  private readonly scheduler: Scheduler;
  private readonly random: (n: number) => Uint8Array;
  private readonly slots: Slot[] = [];
  private readonly pools: PoolRunner[] = [];
  private readonly pendingTimers = new Set<unknown>();
  private tickTimer: unknown;
  private lastServedPush = -Infinity;
  private lastUpdateAt: number | undefined;
  private previousUpdateAt: number | undefined;
  private stopped = false;
  private aead: Aead | undefined;

  constructor(private readonly options: NtpClientOptions) {
    this.scheduler = options.scheduler ?? realScheduler;
    this.random = options.random ?? ((n) => new Uint8Array(randomBytes(n)));
    const selection = createSelection(options.wasm, { maxSources: options.maxSources ?? 64, ...options.selection });
    this.system = new SystemProcess({
      selection,
      minimumAgreeingSources: options.minimumAgreeingSources,
      discipline: options.discipline,
      fallback: options.fallback,
      precisionLog2: options.precisionLog2,
    });
  }

  /** Starts every source and pool; returns at once (DNS and polls run in the background). */
  start(): void {
    for (const config of this.options.sources) {
      if (config.mode === "nts") {
        this.addNtsSource(config);
      } else if (config.mode === "pool") {
        const runner: PoolRunner = {
          pool: new Pool({ host: config.host, port: config.port, count: config.count, ignore: config.ignore }),
          config,
          timer: undefined,
        };
        this.pools.push(runner);
        this.poolActions(runner, runner.pool.start(this.scheduler.now()));
      } else {
        this.startServer(config, RESOLVE_RETRY_MIN);
      }
    }
    this.scheduleTick();
    this.pushServed(true);
  }

  /** Stops every timer and socket. Idempotent. */
  stop(): void {
    this.stopped = true;
    this.scheduler.cancel(this.tickTimer);
    for (const t of this.pendingTimers) this.scheduler.cancel(t);
    this.pendingTimers.clear();
    for (const p of this.pools) this.scheduler.cancel(p.timer);
    for (const slot of this.slots) this.stopSlot(slot);
  }

  /** The system state to serve now (the last update's, aged; else the fallback). */
  servedState(): ServerSystemState {
    return this.system.serverState(this.scheduler.now());
  }

  report(): ClientReport {
    return buildClientReport(this.reportInputs());
  }

  /** The source table of the management report (ts/protocol/status.ts, `tock sources`). */
  sourceTable(): SourceReport[] {
    return buildSourceTable(this.reportInputs());
  }

  /** The management report's system part as far as the client knows it (client-report.ts). */
  tracking(): Partial<SystemReport> {
    return buildTracking(this.reportInputs());
  }

  private reportInputs(): ReportInputs {
    return {
      system: this.system,
      slots: this.slots,
      now: this.scheduler.now(),
      observeOnly: this.options.discipline === undefined,
      lastUpdateAt: this.lastUpdateAt,
      previousUpdateAt: this.previousUpdateAt,
    };
  }

  // --- sources -------------------------------------------------------------------------------

  private startServer(config: SourceConfig, retry: number): void {
    this.options.resolver.resolve(config.host).then(
      (addresses) => {
        const first = addresses[0];
        if (this.stopped || first === undefined) return;
        this.addSource({ address: first.address, port: config.port, family: first.family }, config, config.address, "server", undefined);
      },
      (err: unknown) => {
        if (this.stopped) return;
        this.options.logger.warn({ source: config.address, retryIn: retry }, `cannot resolve ${config.host}: ${String((err as Error).message ?? err)}; retrying`);
        this.later(this.scheduler.now() + retry, () => this.startServer(config, Math.min(retry * 2, RESOLVE_RETRY_MAX)));
      },
    );
  }

  private addSource(to: SourceAddress, config: SourceConfig, name: string, mode: "server" | "pool", pool: PoolRunner | undefined): void {
    const source = new NtpSource(this.options.core, {
      to,
      pollLimits: config.pollIntervalLimits,
      initialPoll: config.initialPollInterval,
      localPrecisionLog2: this.options.precisionLog2,
      version: config.ntpVersion,
    });
    this.enrol(source, to.address, { name, mode, pool, config }, { address: to.address, port: to.port }, `source ${name} added`);
  }

  /** An NTS source starts with NTS-KE (its first poll asks for one); attached at once, so reports show it. */
  private addNtsSource(config: SourceConfig & { mode: "nts" }): void {
    this.aead ??= this.options.nts?.aead ?? createAead(this.options.wasm, { maxMessageBytes: 4096, maxKeys: 4 });
    const source = new NtsSource(this.options.core, this.aead, {
      keServer: { host: config.host, port: config.port },
      pollLimits: config.pollIntervalLimits,
      initialPoll: config.initialPollInterval,
      localPrecisionLog2: this.options.precisionLog2,
      version: config.ntpVersion,
    });
    this.enrol(source, config.host, { name: config.address, mode: "nts", pool: undefined, config }, {}, `nts source ${config.address} added`);
  }

  /**
   * Attaches a new source to selection (reference id from `refidAddress`), gives it a slot and starts
   * it. A full selection is logged and the source dropped.
   */
  private enrol(
    source: NtpSource | NtsSource,
    refidAddress: string,
    slotFields: Pick<Slot, "name" | "mode" | "pool" | "config">,
    logFields: Record<string, unknown>,
    message: string,
  ): void {
    let index: number;
    try {
      index = this.system.attach(source, referenceIdForAddress(refidAddress));
    } catch (err) {
      this.options.logger.error({ source: slotFields.name }, `cannot add source: ${(err as Error).message}`);
      return;
    }
    const slot: Slot = { source, index, ...slotFields, timer: undefined, sockets: new Map(), stopped: false };
    this.slots.push(slot);
    this.options.logger.info({ source: slotFields.name, ...logFields }, message);
    this.sourceActions(slot, source.start(this.scheduler.now()));
  }

  /** NTS-KE for an nts source (nts-establish.ts), its outcome handed to the source. */
  private async keyExchange(slot: Slot): Promise<void> {
    const source = slot.source as NtsSource;
    const log = this.options.logger;
    let outcome: { session: NtsSession; to: SourceAddress } | { failure: string };
    try {
      const config = slot.config;
      outcome = await establishNtsSession(
        { host: config.host, port: config.port, caFile: config.mode === "nts" ? config.certificateAuthority : undefined },
        { resolver: this.options.resolver, dialer: this.options.nts?.dialer ?? new TlsKeDialer(), timeoutMs: this.options.nts?.keTimeoutMs ?? KE_TIMEOUT_MS },
      );
    } catch (err) {
      outcome = { failure: err instanceof Error ? err.message : String(err) };
    }
    if (slot.stopped || this.stopped) return;
    const now = this.scheduler.now();
    if ("failure" in outcome) {
      log.warn({ source: slot.name, err: outcome.failure }, `nts source ${slot.name}: NTS-KE failed: ${outcome.failure}`);
      this.sourceActions(slot, source.handleKeyExchangeFailed(now, outcome.failure));
      return;
    }
    const { session, to } = outcome;
    const before = source.to;
    const actions = source.handleKeyExchangeDone(now, session, to);
    log.info({ source: slot.name, aead: session.aead, cookies: session.cookies.size, ntpServer: to.address, ntpPort: to.port }, `nts source ${slot.name}: NTS-KE done`);
    if (before.address !== to.address || before.port !== to.port) {
      // Another NTP server than before (or the first): its samples start a filter of their own.
      this.system.detach(slot.index);
      slot.index = this.system.attach(source, referenceIdForAddress(to.address));
    }
    this.sourceActions(slot, actions);
  }

  private stopSlot(slot: Slot): void {
    slot.stopped = true;
    this.scheduler.cancel(slot.timer);
    for (const s of slot.sockets.values()) s.close();
    slot.sockets.clear();
  }

  private removeSource(slot: Slot, reason: string): void {
    this.stopSlot(slot);
    this.system.detach(slot.index);
    this.slots.splice(this.slots.indexOf(slot), 1);
    this.options.logger.info({ source: slot.name, reason }, `source ${slot.name} removed: ${reason}`);
  }

  private sourceActions(slot: Slot, actions: NtsSourceAction[]): void {
    for (const a of actions) {
      if (slot.stopped || this.stopped) return;
      const now = this.scheduler.now();
      switch (a.kind) {
        case "set-timer":
          this.scheduler.cancel(slot.timer);
          slot.timer = this.scheduler.at(a.at, () => {
            slot.timer = undefined;
            if (slot.stopped) return;
            const randomBytes = this.random(slot.source instanceof NtsSource ? NTS_RANDOM_BYTES_PER_POLL : RANDOM_BYTES_PER_POLL);
            this.sourceActions(slot, slot.source.handleTimer(this.scheduler.now(), randomBytes));
          });
          break;
        case "send":
          void this.exchange(slot, a.requestId, a.bytes, a.to, a.timeout);
          break;
        case "key-exchange":
          void this.keyExchange(slot);
          break;
        case "close":
          slot.sockets.get(a.requestId)?.close();
          slot.sockets.delete(a.requestId);
          break;
        case "sample": {
          const { outcome, round } = this.system.sample(slot.index, a.sample, a.time, now);
          if (outcome === "updated") {
            const f = this.system.filterState(slot.index);
            this.sourceActions(slot, slot.source.handleFiltered(f.offset, f.jitter, now));
          }
          this.afterRound(round);
          break;
        }
        case "missed":
          this.afterRound(this.system.missed(slot.index, now));
          break;
        case "demobilize":
          this.options.logger.warn({ source: slot.name, reason: a.reason }, `source ${slot.name} stopped: ${a.reason}`);
          this.scheduler.cancel(slot.timer);
          break;
      }
    }
  }

  /** One request: fresh socket, send, deliver datagrams until the source closes it or time runs out. */
  private async exchange(slot: Slot, requestId: number, bytes: Uint8Array, to: SourceAddress, timeout: number): Promise<void> {
    let socket: ExchangeSocket;
    try {
      socket = await this.options.transport.open(to, timeout * 1000);
    } catch (err) {
      this.options.logger.debug({ source: slot.name, err: String(err) }, "cannot open a socket for the request");
      this.sourceActions(slot, slot.source.handleSendFailed(requestId));
      return;
    }
    if (slot.stopped) {
      socket.close();
      return;
    }
    slot.sockets.set(requestId, socket);
    try {
      const sentAt = await socket.send(bytes);
      slot.source.handleSent(requestId, sentAt);
      for (;;) {
        const d = await socket.receive();
        if (d === null || slot.stopped || !slot.sockets.has(requestId)) break;
        this.sourceActions(slot, slot.source.handleResponse(requestId, d.bytes, d.receivedAt, this.scheduler.now()));
      }
    } catch (err) {
      this.options.logger.debug({ source: slot.name, err: String(err) }, "request failed");
      this.sourceActions(slot, slot.source.handleSendFailed(requestId));
    } finally {
      socket.close();
      slot.sockets.delete(requestId);
    }
  }

  // --- system --------------------------------------------------------------------------------

  private afterRound(round: SelectRound | undefined): void {
    if (round === undefined) return;
    if (round.update !== undefined) {
      this.previousUpdateAt = this.lastUpdateAt;
      this.lastUpdateAt = this.scheduler.now();
      this.pushServed(true);
    }
    this.clockActions(round.actions, round.stepped);
    this.reviewPools();
  }

  private clockActions(actions: ClockAction[], stepped: boolean): void {
    if (actions.length > 0) this.options.onClockActions?.(actions);
    if (!stepped) return;
    // The filters were emptied by the step: every source re-acquires with a burst.
    const now = this.scheduler.now();
    for (const slot of this.slots) if (!slot.stopped) this.sourceActions(slot, slot.source.restart(now));
  }

  private scheduleTick(): void {
    if (this.stopped) return;
    this.tickTimer = this.scheduler.at(this.scheduler.now() + TICK_SECONDS, () => {
      const { actions, stepped } = this.system.tick(this.scheduler.now());
      this.clockActions(actions, stepped);
      this.reviewPools();
      this.pushServed(false);
      this.scheduleTick();
    });
  }

  private pushServed(force: boolean): void {
    const now = this.scheduler.now();
    if (!force && now - this.lastServedPush < SERVED_REFRESH_SECONDS) return;
    this.lastServedPush = now;
    this.options.onSystemState?.(this.system.serverState(now));
  }

  // --- pools ---------------------------------------------------------------------------------

  private reviewPools(): void {
    const now = this.scheduler.now();
    for (const runner of this.pools) {
      const members = this.slots.filter((s) => s.pool === runner && !s.stopped);
      const wordOf = (to: SourceAddress) => {
        const slot = members.find((s) => s.source.to.address === to.address && s.source.to.port === to.port);
        return slot === undefined ? undefined : this.system.word(slot.index);
      };
      this.poolActions(runner, runner.pool.review(now, wordOf));
    }
  }

  private poolActions(runner: PoolRunner, actions: PoolAction[]): void {
    for (const a of actions) {
      if (this.stopped) return;
      switch (a.kind) {
        case "resolve":
          this.options.resolver.resolve(a.host).then(
            (addresses) => this.poolActions(runner, runner.pool.handleResolved(addresses, this.scheduler.now())),
            (err: unknown) => {
              this.options.logger.warn({ pool: a.host }, `cannot resolve pool ${a.host}: ${String((err as Error).message ?? err)}`);
              this.poolActions(runner, runner.pool.handleResolveFailed(this.scheduler.now()));
            },
          );
          break;
        case "add":
          this.addSource(a.to, runner.config, `${runner.config.address} (${a.to.address})`, "pool", runner);
          break;
        case "remove": {
          const slot = this.slots.find((s) => s.pool === runner && s.source.to.address === a.to.address && s.source.to.port === a.to.port);
          if (slot !== undefined) this.removeSource(slot, a.reason);
          break;
        }
        case "set-timer":
          this.scheduler.cancel(runner.timer);
          runner.timer = this.scheduler.at(a.at, () => this.poolActions(runner, runner.pool.handleTimer(this.scheduler.now())));
          break;
      }
    }
  }

  private later(at: number, fn: () => void): void {
    const handle = this.scheduler.at(at, () => {
      this.pendingTimers.delete(handle);
      fn();
    });
    this.pendingTimers.add(handle);
  }
}
