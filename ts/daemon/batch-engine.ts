// The batch engine, main-thread side: per [[server]] listener, N worker threads (batch-worker.ts),
// each serving one socket of an SO_REUSEPORT group on the listen address with its own WASM request kernel.
//
// Same shape as the node:dgram engine (ntp-server.ts NtpServer): listen(specs) → addresses,
// setSystemState(state), stats() (ListenerStats), logSummary(), close(); and, when given a metrics
// registry, the same ntp_server_* metric families. The daemon picks one engine per [[server]].
//
// What the main thread does, and why that way:
//  - opens every socket of the SO_REUSEPORT group itself, before any worker starts (fds belong to
//    the process, so a worker thread serves an fd it is given): start-up runs while the daemon may
//    still be root, and a worker restarted after privileges were dropped needs none to reuse its
//    socket — which also keeps the socket's queued requests for the replacement;
//  - compiles the WASM module once and posts the Module to every worker (instantiation is cheap);
//  - hands state to workers through shared memory (shared-state.ts): the system state as a
//    seqlock-versioned record, the stop flag; workers never wait for the main thread;
//  - sums counters: each worker publishes its own block; the main thread adds the blocks of the
//    live workers to what dead ones left behind, so totals never go backwards across a restart;
//  - supervises: a worker that exits without being asked to (a crash, an uncaught exception) is
//    counted and restarted on the same socket after a backoff (RESTART_INITIAL_MS doubling up to
//    RESTART_MAX_MS; reset after it has run RESTART_RESET_MS), so a worker that dies at once cannot
//    spin; meanwhile its share of the clients waits in its socket's buffer;
//  - NTS: with `nts` set, every worker builds its own NTS state from the keys it is started with
//    (the current ones, also for a restarted worker); setNtsKeys() forwards each rotation to every
//    worker (posted to its NTS port, announced by the shared keys version, applied before its next
//    batch); ntsCounters() sums the workers' NTS counters (for NtsService.addCounterSource);
//  - stops: close() raises the stop flag; each worker answers what is already queued on its socket
//    (bounded), publishes its counters and exits (one that has not after STOP_TIMEOUT_MS is
//    terminated); then the sockets are closed.
//
// Rate limiting and the interleaved table are per worker. With several workers, a classic BPF
// program on the SO_REUSEPORT group (batch-sockopts.ts steerBySourceAddress) sends every request of a
// client address (IPv4, IPv6 /64) to the same worker, so limits hold exactly as with one worker.
// Without it (kernels before 4.5; a warning is logged) the kernel hashes address AND port, and a
// client that changes its source port could draw up to N × its limit.
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { availableParallelism } from "node:os";
import type { Logger } from "../observe/logger.js";
import { RateLimitedWarnings } from "../observe/logger.js";
import type { MetricsRegistry, Sample } from "../observe/metrics.js";
import { COUNTERS, PolicyError, compileServerPolicy, referenceIdValue, type CounterName, type ServerPolicyOptions, type ServerSystemState } from "../protocol/server-policy.js";
import { compileOnce } from "./load-core.js";
import { splitOutcomes, type ListenerStats } from "./ntp-server.js";
import { registerServerMetrics } from "./server-metrics.js";
import { formatListenAddress } from "./server-transport.js";
import { LinuxUdpError, LinuxUdpSocket } from "./linux-udp.js";
import { batchEngineSupported, reserveFreePort, workerScript } from "./batch-platform.js";
import { enableReplyFromDestination, steerBySourceAddress } from "./batch-sockopts.js";
import { COMMAND_CRASH, SharedServerState, WORKER_COUNTERS, mergeCounters, type WorkerCounterName } from "./shared-state.js";
import type { NtsKeySet, WorkerMessage, WorkerSetup } from "./batch-worker.js";
import { NTS_COUNTERS, type MasterKey, type NtsCounterName } from "../core/nts-server.js";

const RESTART_INITIAL_MS = 100;
const RESTART_MAX_MS = 10_000;
const RESTART_RESET_MS = 30_000;
const STOP_TIMEOUT_MS = 3_000;
/**
 * Datagrams per batch. Larger batches spread the fixed cost per batch (two syscalls, two clock
 * reads, the FFI crossings: ≈ 4 µs) over more packets, but every response of a batch carries the
 * same transmit timestamp, read before the batch is built and sent, and sending costs ≈ 3 µs per
 * datagram on loopback: at saturation the last response of a batch of 64 leaves ≈ 200 µs after its
 * T3, of 32 ≈ 100 µs. Throughput measured the same for 16, 32 and 64 within this machine's noise,
 * so 32. (Below saturation batches are small and T3 is within a few µs of the send.)
 */
const DEFAULT_BATCH = 32;

export interface BatchListenerSpec {
  address: string;
  port: number;
  /** The [[server]] entry's policy (request-kernel.ts policyOptionsFor); batch size is the engine's. */
  policy: ServerPolicyOptions;
  /** Worker threads for this listener; 0 or absent = the engine default. */
  workers?: number;
}

export interface BatchServerOptions {
  logger: Logger;
  /** Registers the ntp_server_* families over this engine (as NtpServer does) plus the engine's
   *  own. Leave out when several engines share one registry: then call registerServerMetrics over
   *  all of them and registerEngineMetrics here. */
  metrics?: MetricsRegistry;
  /** Seconds between info-level counter summaries (0: none). Default 60. */
  summaryIntervalSeconds?: number;
  /** Default workers per listener (default: one per CPU core). */
  workers?: number;
  /** Datagrams per recvmmsg/sendmmsg and per kernel call (default DEFAULT_BATCH). */
  batchSize?: number;
  /** Longest a worker sleeps waiting for traffic; bounds how late it sees a stop (default 50 ms). */
  idleWaitMs?: number;
  receiveBufferBytes?: number;
  sendBufferBytes?: number;
  /** Restart backoff (ms): first delay and cap. */
  restartInitialMs?: number;
  restartMaxMs?: number;
  /** Answer NTS requests too (NtsService.workerSetup()); follow rotations with setNtsKeys(). */
  nts?: { maxKeys: number; keys: MasterKey[]; currentId: number };
}

/** The engine's view of one listener, beyond ListenerStats. */
export interface BatchListenerStats {
  listenAddress: string;
  workers: number;
  running: number;
  restarts: number;
  counters: Record<WorkerCounterName, number>;
}

interface WorkerSlot {
  index: number;
  worker: Worker | undefined;
  running: boolean;
  restarts: number;
  failuresInARow: number;
  startedAt: number;
  /** Counters left by this slot's dead workers. */
  retired: Float64Array;
  /** The live worker's last consistent counters (shared-state.ts readCounters). */
  live: Float64Array;
  timer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
  /** Main thread's end of the channel reloaded policies go through. */
  policyPort: MessagePort | undefined;
  /** Main thread's end of the channel NTS key rotations go through. */
  ntsPort: MessagePort | undefined;
  /** The slot's socket: opened before any worker starts, kept across restarts, closed at stop. */
  socket: LinuxUdpSocket | undefined;
}

interface Listener {
  spec: BatchListenerSpec;
  port: number;
  listenAddress: string;
  shared: SharedServerState;
  slots: WorkerSlot[];
}

/** Closes a listener's sockets (only once no worker uses them). */
function closeSockets(l: Listener): void {
  for (const s of l.slots) {
    s.socket?.close();
    s.socket = undefined;
  }
}

export { batchEngineSupported };

export class BatchServer {
  private readonly listeners: Listener[] = [];
  private readonly warnings: RateLimitedWarnings;
  private system: ServerSystemState | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private lastSummary = new Map<string, { received: number; answered: number; kod: number; dropped: number }>();
  private closing = false;
  private closed: Promise<void> | undefined;
  private closedAt: number | undefined;
  private finalSummaryPending = false;
  private readonly batchSize: number;
  private readonly idleWaitMs: number;
  /** The NTS keys workers start with and were last sent (version 1 = the ones given at construction). */
  private ntsKeys: NtsKeySet | undefined;

  constructor(private readonly o: BatchServerOptions) {
    this.warnings = new RateLimitedWarnings(o.logger);
    if (o.nts !== undefined) this.ntsKeys = { version: 1, keys: o.nts.keys, currentId: o.nts.currentId };
    this.batchSize = o.batchSize ?? DEFAULT_BATCH;
    this.idleWaitMs = o.idleWaitMs ?? 50;
    if (o.metrics) {
      registerServerMetrics(o.metrics, () => this.stats());
      this.registerEngineMetrics(o.metrics);
    }
  }

  /** Starts every listener's workers (all or nothing: on failure everything started is stopped). */
  async listen(specs: BatchListenerSpec[]): Promise<string[]> {
    const module = await compileOnce();
    try {
      for (const spec of specs) this.listeners.push(await this.startListener(spec, module));
    } catch (err) {
      await this.close();
      throw err;
    }
    const interval = this.o.summaryIntervalSeconds ?? 60;
    if (interval > 0) {
      this.summaryTimer = setInterval(() => this.logSummary(), interval * 1000);
      this.summaryTimer.unref();
    }
    return this.listenAddresses;
  }

  get listenAddresses(): string[] {
    return this.listeners.map((l) => l.listenAddress);
  }

  /** Publishes the server clock's state to every worker (applied before each one's next batch). */
  setSystemState(state: ServerSystemState): void {
    const id = referenceIdValue(state.referenceId);
    this.system = state;
    for (const l of this.listeners) l.shared.writeSystemState(state, id);
  }

  /**
   * A new set of NTS cookie keys (a rotation; NtsService.onKeys): posted to every worker and taken
   * before its next batch; workers started later start with it. Ignored without `nts`.
   */
  setNtsKeys(keys: { keys: MasterKey[]; currentId: number }): void {
    if (this.ntsKeys === undefined) return;
    const next: NtsKeySet = { version: this.ntsKeys.version + 1, keys: keys.keys, currentId: keys.currentId };
    this.ntsKeys = next;
    for (const l of this.listeners) {
      for (const s of l.slots) s.ntsPort?.postMessage(next);
      l.shared.setNtsKeysVersion(next.version);
    }
  }

  /** The NTS counters of every worker of every listener (dead ones included), summed. */
  ntsCounters(): Record<NtsCounterName, number> {
    const out = {} as Record<NtsCounterName, number>;
    for (const name of NTS_COUNTERS) out[name] = 0;
    for (const e of this.engineStats()) for (const name of NTS_COUNTERS) out[name] += e.counters[`nts_${name}`];
    return out;
  }

  private async startListener(spec: BatchListenerSpec, module: WebAssembly.Module): Promise<Listener> {
    const n = spec.workers && spec.workers > 0 ? spec.workers : this.o.workers && this.o.workers > 0 ? this.o.workers : availableParallelism();
    const shared = SharedServerState.create(n);
    if (this.system) shared.writeSystemState(this.system, referenceIdValue(this.system.referenceId));
    if (this.ntsKeys) shared.setNtsKeysVersion(this.ntsKeys.version);
    const listener: Listener = { spec, port: spec.port, listenAddress: formatListenAddress(spec.address, spec.port), shared, slots: [] };
    for (let i = 0; i < n; i++) {
      listener.slots.push({ index: i, worker: undefined, running: false, restarts: 0, failuresInARow: 0, startedAt: 0, retired: new Float64Array(WORKER_COUNTERS.length), live: new Float64Array(WORKER_COUNTERS.length), timer: undefined, exited: Promise.resolve(), policyPort: undefined, ntsPort: undefined, socket: undefined });
    }
    const stopStarted = async () => {
      shared.requestStop();
      await Promise.all(listener.slots.map((s) => this.stopSlot(s)));
      closeSockets(listener);
    };
    try {
      // Port 0: with SO_REUSEPORT set, the kernel may hand out a port that ANOTHER reuseport group of
      // this user already has (measured here: 145 of 3,000 binds), and the workers would silently
      // share its traffic. So take a free port with a plain socket first, then bind that one.
      if (spec.port === 0) listener.port = reserveFreePort(spec.address);
      listener.listenAddress = formatListenAddress(spec.address, listener.port);
      // Every socket of the group is opened here, now — while the daemon may still be root (port
      // 123) — so restarting a worker later never needs a privilege.
      for (const slot of listener.slots) {
        slot.socket = LinuxUdpSocket.open({
          address: spec.address,
          port: listener.port,
          reusePort: true,
          kernelTimestamps: true,
          receiveBufferBytes: this.o.receiveBufferBytes ?? 4 << 20,
          sendBufferBytes: this.o.sendBufferBytes ?? 4 << 20,
        });
      }
      // A wildcard listener answers from the address each request was sent to (batch-io.ts).
      if (spec.address === "0.0.0.0" || spec.address === "::") {
        for (const slot of listener.slots) {
          if (!enableReplyFromDestination(slot.socket!)) throw new Error(`${listener.listenAddress}: cannot enable IP_PKTINFO`);
        }
      }
      if (n > 1 && !steerBySourceAddress(listener.slots[0]!.socket!, n)) {
        this.o.logger.warn({ listen: listener.listenAddress }, "the kernel refused the reuseport BPF program: requests spread by address AND port, so a client changing ports could draw up to workers × its rate limit");
      }
      await Promise.all(listener.slots.map((s) => this.startWorker(listener, s, module)));
    } catch (err) {
      await stopStarted();
      throw err instanceof LinuxUdpError ? Object.assign(new Error(`${listener.listenAddress}: ${err.message}`), { code: err.code }) : err;
    }
    return listener;
  }

  /** Starts a worker on `slot`'s socket; resolves once it is serving. */
  private startWorker(l: Listener, slot: WorkerSlot, module: WebAssembly.Module): Promise<void> {
    l.shared.resetWorker(slot.index);
    slot.policyPort?.close();
    const channel = new MessageChannel();
    slot.policyPort = channel.port1;
    slot.ntsPort?.close();
    slot.ntsPort = undefined;
    const transferList: MessagePort[] = [channel.port2];
    let nts: WorkerSetup["nts"];
    if (this.o.nts !== undefined && this.ntsKeys !== undefined) {
      // The current keys now, and every later rotation through the port (both from this tick on).
      const keysChannel = new MessageChannel();
      slot.ntsPort = keysChannel.port1;
      transferList.push(keysChannel.port2);
      nts = { maxKeys: this.o.nts.maxKeys, ...this.ntsKeys, port: keysChannel.port2 };
    }
    const setup: WorkerSetup = {
      kind: "tock-batch-worker",
      module,
      shared: l.shared.buffer,
      index: slot.index,
      fd: slot.socket!.fd,
      family: slot.socket!.family,
      policy: l.spec.policy,
      policyPort: channel.port2,
      batchSize: this.batchSize,
      idleWaitMs: this.idleWaitMs,
      ...(nts !== undefined ? { nts } : {}),
    };
    const worker = new Worker(workerScript(), { workerData: setup, transferList });
    slot.worker = worker;
    slot.startedAt = Date.now();
    let resolveExit!: () => void;
    slot.exited = new Promise((r) => (resolveExit = r));
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on("message", (m: WorkerMessage) => {
        if (m.type === "ready") {
          ready = true;
          slot.running = true;
          resolve();
        } else if (m.type === "policy-rejected") {
          this.warnings.warn(`batch-policy ${l.listenAddress}`, "a worker kept its previous policy", { err: m.message });
        } else if (m.type === "failed") {
          const err = new Error(`${l.listenAddress}: batch worker could not start: ${m.message}`);
          if (!ready) reject(err);
          else this.warnings.warn(`batch-worker-failed ${l.listenAddress}`, "batch worker could not start", { err: err.message });
        }
      });
      worker.on("error", (err) => {
        this.warnings.warn(`batch-worker-error ${l.listenAddress}`, "batch worker died", { worker: slot.index, err: err.message });
        if (!ready) reject(err);
      });
      worker.on("exit", (code) => {
        slot.running = false;
        slot.worker = undefined;
        // Whatever it published last (it publishes on the way out, even when crashing) is kept.
        const last = new Float64Array(WORKER_COUNTERS.length);
        l.shared.readCounters(slot.index, last);
        mergeCounters(slot.retired, last);
        slot.live.fill(0);
        l.shared.resetWorker(slot.index);
        resolveExit();
        if (!ready) reject(new Error(`${l.listenAddress}: batch worker exited during start-up (code ${code})`));
        else if (!this.closing && !l.shared.stopRequested()) this.scheduleRestart(l, slot, module, code);
      });
    });
  }

  private scheduleRestart(l: Listener, slot: WorkerSlot, module: WebAssembly.Module, code: number): void {
    slot.restarts++;
    if (Date.now() - slot.startedAt >= RESTART_RESET_MS) slot.failuresInARow = 0;
    const initial = this.o.restartInitialMs ?? RESTART_INITIAL_MS;
    const delay = Math.min(this.o.restartMaxMs ?? RESTART_MAX_MS, initial * 2 ** slot.failuresInARow);
    slot.failuresInARow++;
    this.o.logger.warn({ listen: l.listenAddress, worker: slot.index, code, restarts: slot.restarts, delayMs: delay }, "batch worker exited unexpectedly; restarting");
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.closing) return;
      this.startWorker(l, slot, module).catch(async (err: unknown) => {
        this.warnings.warn(`batch-worker-restart ${l.listenAddress}`, "batch worker restart failed", { err: err instanceof Error ? err.message : String(err) });
        await slot.exited;
        if (!this.closing) this.scheduleRestart(l, slot, module, -1);
      });
    }, delay);
  }

  /** Waits for a slot's worker to exit after the stop flag went up; terminates it after STOP_TIMEOUT_MS. */
  private async stopSlot(slot: WorkerSlot): Promise<void> {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const w = slot.worker;
    slot.policyPort?.close();
    slot.policyPort = undefined;
    slot.ntsPort?.close();
    slot.ntsPort = undefined;
    if (w === undefined) return;
    const timeout = setTimeout(() => void w.terminate(), STOP_TIMEOUT_MS);
    await slot.exited;
    clearTimeout(timeout);
  }

  /**
   * Applies a reloaded [[server]] policy to listener `index` (SIGHUP): checked here first, so a
   * policy that needs larger tables than the workers reserved throws (restart to apply) and nothing
   * changes; otherwise every worker takes it before its next batch, keeping its rate-limit and
   * interleaved tables, and restarted workers start with it.
   */
  configure(index: number, policy: ServerPolicyOptions): void {
    const l = this.listeners[index];
    if (l === undefined) throw new RangeError(`no listener ${index}`);
    const before = compileServerPolicy({ ...l.spec.policy, batchSize: this.batchSize });
    const next = compileServerPolicy({ ...policy, batchSize: this.batchSize });
    if (next.rateTableBytes > before.rateTableBytes || next.interleavedTableBytes > before.interleavedTableBytes || next.accessListCapacity > before.accessListCapacity || next.capacity !== before.capacity) {
      throw new PolicyError("the new policy needs larger tables or another request size than the workers reserved");
    }
    l.spec = { ...l.spec, policy };
    for (const s of l.slots) s.policyPort?.postMessage(policy);
    l.shared.bumpPolicyVersion();
  }

  /** Test hook: makes worker `worker` of listener `listener` throw from its loop, as a bug would. */
  crashWorker(listener: number, worker: number): void {
    this.listeners[listener]!.shared.setCommand(worker, COMMAND_CRASH);
  }

  /** Per listener: every counter summed over live workers and the ones that died before them. */
  engineStats(): BatchListenerStats[] {
    return this.listeners.map((l) => {
      const total = new Float64Array(WORKER_COUNTERS.length);
      const read = new Float64Array(WORKER_COUNTERS.length);
      for (const s of l.slots) {
        mergeCounters(total, s.retired);
        if (s.running) {
          if (l.shared.readCounters(s.index, read)) s.live.set(read);
          mergeCounters(total, s.live);
        }
      }
      const counters = {} as Record<WorkerCounterName, number>;
      WORKER_COUNTERS.forEach((name, i) => (counters[name] = total[i]!));
      return {
        listenAddress: l.listenAddress,
        workers: l.slots.length,
        running: l.slots.filter((s) => s.running).length,
        restarts: l.slots.reduce((n, s) => n + s.restarts, 0),
        counters,
      };
    });
  }

  /** The dgram engine's shape (ntp-server.ts ListenerStats), for the daemon, summaries and tests. */
  stats(): ListenerStats[] {
    return this.engineStats().map((e) => {
      const kernel = {} as Record<CounterName, number>;
      for (const name of COUNTERS) kernel[name] = e.counters[name];
      return { listenAddress: e.listenAddress, kernel, sent: e.counters.sent, sendErrors: e.counters.send_errors, sendQueueFull: e.counters.send_would_block };
    });
  }

  /**
   * One info line per listener with what happened since the previous line. The final one
   * ("server totals at shutdown") waits for close() to finish when a stop is under way or follows
   * (workers still answer what is queued then, so totals logged before would miss it).
   */
  logSummary(final = false): void {
    if (final && this.closedAt === undefined) {
      this.finalSummaryPending = true;
      return;
    }
    for (const e of this.engineStats()) {
      const c = e.counters;
      const { answered, kod, dropped } = splitOutcomes(c);
      const prev = this.lastSummary.get(e.listenAddress) ?? { received: 0, answered: 0, kod: 0, dropped: 0 };
      this.lastSummary.set(e.listenAddress, { received: c.received, answered, kod, dropped });
      this.o.logger.info(
        {
          listen: e.listenAddress,
          engine: "batch",
          workers: e.workers,
          running: e.running,
          restarts: e.restarts,
          received: c.received - prev.received,
          answered: answered - prev.answered,
          kod: kod - prev.kod,
          dropped: dropped - prev.dropped,
          totals: c,
        },
        final ? "server totals at shutdown" : "server summary",
      );
    }
    this.warnings.flush();
  }

  /** Stops every worker (each drains what is queued on its socket first). Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      clearInterval(this.summaryTimer);
      for (const l of this.listeners) l.shared.requestStop();
      await Promise.all(this.listeners.flatMap((l) => l.slots.map((s) => this.stopSlot(s))));
      for (const l of this.listeners) closeSockets(l);
      this.closedAt = Date.now();
      if (this.finalSummaryPending) this.logSummary(true);
    })();
    return this.closed;
  }

  /** The batch engine's own families (workers, restarts, kernel timestamps, batches). The common
   *  ntp_server_* ones come from registerServerMetrics (server-metrics.ts) over stats(). */
  registerEngineMetrics(m: MetricsRegistry): void {
    const engine = (read: (s: BatchListenerStats) => number) => (): Sample[] =>
      this.engineStats().map((s) => ({ labels: { listen_address: s.listenAddress }, value: read(s) }));
    m.collector("ntp_server_worker_restarts_total", "Batch engine workers that died and were restarted.", "counter", engine((s) => s.restarts));
    m.collector("ntp_server_workers", "Batch engine workers currently serving.", "gauge", engine((s) => s.running));
    m.collector("ntp_server_kernel_rx_timestamps_total", "Requests stamped with the kernel's receive time (SO_TIMESTAMPNS).", "counter", engine((s) => s.counters.rx_kernel_timestamps));
    m.collector("ntp_server_batches_total", "Batches handled (one recvmmsg, one WASM call, one sendmmsg each).", "counter", engine((s) => s.counters.batches));
  }
}
