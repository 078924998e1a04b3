// One worker of the batch engine: serves ONE UDP socket of the listener's SO_REUSEPORT group
// (SO_TIMESTAMPNS on; opened by the main thread) with its own WASM request kernel, and loops:
//
//   recvmmsg (non-blocking, straight into the kernel's request slots, kernel receive timestamps)
//     └─ nothing waiting → poll(socket, idle-wait-ms): sleeps, never spins; bounded, so a stop
//        request is seen within idle-wait-ms
//   now ← clock_gettime(CLOCK_REALTIME)         userspace reading after receipt = transmit time T3
//   apply the system state if its version moved (one Atomics.load per batch; shared-state.ts)
//   take new NTS cookie keys if their version moved (a rotation; one Atomics.load per batch)
//   refill the NTS random pool (what the previous batch used: nonces, fresh cookies)
//   server_handle_batch(n, now)                 ONE WASM call: validate, policy, NTS, build every response
//   sendmmsg (straight from the response slots)
//   sent ← clock_gettime; hand it to the interleaved table for the responses that asked (RFC 9769)
//
// Transmit timestamp bound: T3 in a response is `now`, read before the kernel call, so it precedes
// the real transmission by the kernel call for the batch (≈ 70 ns per request) plus the sendmmsg
// up to that datagram (≈ 3 µs per datagram on loopback): measured per batch as `tx_lead_ns` (Σ and
// max in the counters) — a few µs for the small batches of normal load, ≈ 100 µs for a full batch
// of 32 at saturation. Interleaved clients get `sent`, read after sendmmsg returned, instead (late
// by at most the same amount for the first datagram of a batch).
//
// The loop never returns to the event loop (that would cost a macrotask per batch); everything it
// needs from the main thread comes through shared memory (stop flag, system state, a command word,
// the policy version — the policy itself is read from a MessagePort synchronously with
// receiveMessageOnPort), and its counters go back the same way: every PUBLISH_MS while busy, once
// the socket has been quiet for QUIET_PUBLISH_MS after traffic (so metrics read just after a client
// got its answer count it), after each idle wait, and when it stops.
//
// NTS (RFC 8915 §5): with NTS configured, the worker builds its own NTS state in its own WASM
// instance from WorkerSetup.nts (the cookie master keys as the main thread's NtsService holds them
// now: a restarted worker starts from the current keys) and attaches it to its kernel, which then
// answers NTS requests in the same call as plain ones. Rotations arrive on the NTS port, announced by
// the shared keys version. The NTS counters are published with the others (nts_* in WORKER_COUNTERS).
//
// Run as a worker: the main thread (batch-engine.ts) starts this file with workerData of type
// WorkerSetup. BatchLoop is exported so tests can drive the same loop in-thread.
import { isMainThread, parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { instantiateCore } from "../core/index.js";
import type { WasmInstance } from "../core/instance.js";
import { createServerKernel, type ServerKernel } from "../core/server.js";
import { COUNTERS, type ServerPolicyOptions } from "../protocol/server-policy.js";
import { BatchSocketIo, type SendResult, type SlotLayout } from "./batch-io.js";
import { createNtsServerCore, NTS_COUNTERS, type MasterKey, type NtsServerCore } from "../core/nts-server.js";
import { COMMAND_CRASH, NTS_COUNTER_BASE, SharedServerState, WORKER_COUNTERS, WORKER_COUNTER_INDEX as C } from "./shared-state.js";

/** How often a busy worker publishes its counters (ms); an idle one publishes after each empty wait. */
const PUBLISH_MS = 20;
/** After traffic, counters not yet published are published once the socket stays empty this long (ms):
 *  at most one publication per quiet gap, never one per batch under load. */
const QUIET_PUBLISH_MS = 1;
/** On stop: batches still read from the socket and answered before exiting (bounded drain). */
const DRAIN_MAX_BATCHES = 64;

/** What the main thread sends a worker (structured-cloned; the Module is shared, not copied). */
export interface WorkerSetup {
  kind: "tock-batch-worker";
  module: WebAssembly.Module;
  shared: SharedArrayBuffer;
  index: number;
  /** The SO_REUSEPORT socket this worker serves (opened, and closed, by the main thread). */
  fd: number;
  family: 4 | 6;
  policy: ServerPolicyOptions;
  /** Later policies (reload) arrive here, announced by the shared policy version. */
  policyPort: MessagePort;
  batchSize: number;
  idleWaitMs: number;
  /** Present when the daemon serves NTS. */
  nts?: WorkerNtsSetup;
}

/** A set of NTS cookie master keys, numbered by the main thread (1, 2, …: one per rotation). */
export interface NtsKeySet {
  version: number;
  keys: MasterKey[];
  currentId: number;
}

/** What a worker needs to answer NTS requests: key slots, the current keys, where rotations arrive. */
export interface WorkerNtsSetup extends NtsKeySet {
  maxKeys: number;
  /** Later key sets (NtsKeySet) arrive here, announced by the shared NTS keys version. */
  port: MessagePort;
}

export type WorkerMessage =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "stopped" }
  | { type: "policy-rejected"; message: string };

/** Test hook: replaces the clock readings (so two engines can be fed identical timestamps) and sees
 *  every batch. Never set in production. */
export interface BatchLoopTestHooks {
  /** Receive time of the seq-th request (0, 1, …) instead of the kernel's. */
  receiveTime(seq: number): bigint;
  /** `now` for the b-th batch (0, 1, …) whose last request is the lastSeq-th, and the transmit time
   *  reported after sending it. */
  now(batch: number, lastSeq: number): bigint;
  sentAt(batch: number): bigint;
  onBatch?(batch: number, count: number, kernel: ServerKernel, io: BatchSocketIo): void;
}

/** Where the kernel's slots are (façade offsets + server_layout constants). */
export function slotLayout(wasm: WasmInstance, kernel: ServerKernel): SlotLayout {
  const x = wasm.exports as unknown as { memory: WebAssembly.Memory; server_layout(id: number): number };
  const id = (n: number) => x.server_layout(n) >>> 0;
  const reqPacket = id(5);
  const repPacket = id(11);
  const requestBase = kernel.requestPacketOffset(0) - reqPacket;
  const responseBase = kernel.responseOffset(0) - repPacket;
  return {
    memory: x.memory,
    slots: kernel.slots,
    capacity: kernel.capacity,
    requestBase,
    requestStride: kernel.slots > 1 ? kernel.requestPacketOffset(1) - kernel.requestPacketOffset(0) : 0,
    responseBase,
    responseStride: kernel.slots > 1 ? kernel.responseOffset(1) - kernel.responseOffset(0) : 0,
    reqLength: id(0),
    reqFamily: id(1),
    reqPort: id(2),
    reqAddress: id(3),
    reqRxTime: id(4),
    reqPacket,
    repLength: id(6),
    repFlags: id(8),
    repTxActual: id(10),
    repPacket,
    repFlagSaved: id(12),
  };
}

export interface BatchLoopOptions {
  kernel: ServerKernel;
  io: BatchSocketIo;
  shared: SharedServerState;
  index: number;
  idleWaitMs: number;
  /** Where reloaded policies arrive (see WorkerSetup.policyPort); absent in tests. */
  policyPort?: MessagePort;
  /** Told when a reloaded policy does not fit this kernel (it keeps the previous one). */
  onPolicyRejected?: (message: string) => void;
  /** The NTS state attached to `kernel`, the key set version it holds and where newer ones arrive. */
  nts?: { core: NtsServerCore; version: number; port?: MessagePort };
  test?: BatchLoopTestHooks;
}

const TWO_32 = 4294967296;
const NS_PER_FRACTION = 1e9 / TWO_32;

export class BatchLoop {
  /** Counters in WORKER_COUNTERS order; the kernel's part is refreshed before each publish. */
  readonly counters = new Float64Array(WORKER_COUNTERS.length);
  private readonly k: ServerKernel;
  private readonly io: BatchSocketIo;
  private readonly missing: Uint8Array;
  private readonly now = new Uint32Array(2);
  private readonly sent = new Uint32Array(2);
  private readonly rx = new Uint32Array(2);
  private readonly result: SendResult = { queued: 0, sent: 0, wouldBlock: 0, errors: 0, anySaved: false };
  private systemVersion = 0;
  private policyVersion = 0;
  private ntsKeysVersion = 0;
  private lastPublish = 0;
  /** Something was counted since the last publish. */
  private unpublished = false;
  private batches = 0;
  private requests = 0;

  constructor(private readonly o: BatchLoopOptions) {
    this.k = o.kernel;
    this.io = o.io;
    this.missing = new Uint8Array(o.io.slots);
    this.ntsKeysVersion = o.nts?.version ?? 0;
  }

  /** Serves until the main thread asks to stop, then drains what is queued (bounded). */
  run(): void {
    while (!this.o.shared.stopRequested()) this.step(this.o.idleWaitMs);
    for (let i = 0; i < DRAIN_MAX_BATCHES && this.step(0) > 0; i++);
    this.publish();
  }

  /**
   * One batch: receive, handle, send. Returns the number of requests handled; 0 after waiting up
   * to `waitMs` for traffic that did not come (or came: the next step reads it).
   */
  step(waitMs: number): number {
    const o = this.o;
    if (o.shared.command(o.index) === COMMAND_CRASH) throw new Error(`batch worker ${o.index}: crash requested (test hook)`);
    const got = this.io.receive(this.missing);
    if (got === 0) {
      if (waitMs > 0 && this.unpublished) {
        // Traffic just stopped: a short wait first; if nothing comes, publish before the long sleep.
        if (this.io.waitReadable(Math.min(waitMs, QUIET_PUBLISH_MS))) return 0;
        this.publish();
      }
      // Publish when truly idle (a whole wait without traffic), else on the clock: at moderate load
      // the socket runs empty after almost every batch, and publishing costs a few µs.
      if (waitMs > 0 && !this.io.waitReadable(waitMs)) {
        this.counters[C.idle_waits]!++;
        this.maybePublish(true);
      } else this.maybePublish(false);
      return 0;
    }
    const c = this.counters;
    const now = this.now;
    const test = o.test;
    if (test === undefined) this.io.readRealtime(now);
    else setTimestamp(now, test.now(this.batches, this.requests + got - 1));

    // Receive timestamps: kernel ones checked against the userspace reading taken after receipt.
    let lagTotal = 0;
    let lagMax = c[C.rx_lag_ns_max]!;
    for (let i = 0; i < got; i++) {
      if (test !== undefined) {
        setTimestamp(this.rx, test.receiveTime(this.requests + i));
        this.io.setReceiveTime(i, this.rx[0]!, this.rx[1]!);
        continue;
      }
      if (this.missing[i] !== 0) {
        c[C.rx_timestamp_missing]!++;
        this.io.setReceiveTime(i, now[0]!, now[1]!);
        continue;
      }
      c[C.rx_kernel_timestamps]!++;
      this.io.receiveTime(i, this.rx);
      const lag = ((now[0]! - this.rx[0]!) | 0) * 1e9 + (now[1]! - this.rx[1]!) * NS_PER_FRACTION;
      if (lag < 0) c[C.rx_after_userspace]!++;
      else {
        lagTotal += lag;
        if (lag > lagMax) lagMax = lag;
      }
    }
    c[C.rx_lag_ns_total]! += Math.round(lagTotal);
    c[C.rx_lag_ns_max] = Math.round(lagMax);

    const version = o.shared.systemVersion();
    if (version !== this.systemVersion && (version & 1) === 0) {
      const snapshot = o.shared.readSystemState();
      if (snapshot !== undefined) {
        this.k.setSystemState(snapshot.state);
        this.systemVersion = snapshot.version;
      }
    }

    if (o.shared.policyVersion() !== this.policyVersion) this.applyPolicy();
    const nts = o.nts;
    if (nts !== undefined) {
      if (o.shared.ntsKeysVersion() !== this.ntsKeysVersion) this.applyNtsKeys(nts.core, nts.port);
      // Random bytes for this batch's nonces and cookies (WASM has no RNG): what the last one used.
      nts.core.refillRandom();
    }

    try {
      this.k.handleBatch(got, now[0]!, now[1]!);
    } catch {
      // Hostile input must never get here (the kernel checks every length), but if a trap does,
      // dropping the batch keeps the worker serving instead of dying on each such datagram.
      c[C.kernel_call_failed]! += got;
      this.unpublished = true;
      this.batches++;
      this.requests += got;
      return got;
    }
    const r = this.io.send(got, this.result);
    if (test === undefined) this.io.readRealtime(this.sent);
    else setTimestamp(this.sent, test.sentAt(this.batches));
    if (r.anySaved) {
      this.io.setTransmitActual(got, this.sent[0]!, this.sent[1]!);
      this.k.noteTransmits(got);
    }
    const lead = ((this.sent[0]! - now[0]!) | 0) * 1e9 + (this.sent[1]! - now[1]!) * NS_PER_FRACTION;
    if (lead > 0) {
      c[C.tx_lead_ns_total]! += Math.round(lead);
      if (lead > c[C.tx_lead_ns_max]!) c[C.tx_lead_ns_max] = Math.round(lead);
    }
    c[C.sent]! += r.sent;
    c[C.send_would_block]! += r.wouldBlock;
    c[C.send_errors]! += r.errors;
    this.unpublished = true;
    test?.onBatch?.(this.batches, got, this.k, this.io);
    this.batches++;
    this.requests += got;
    this.maybePublish(false);
    return got;
  }

  /** Takes the newest policy posted to this worker (synchronously: this loop never yields). */
  private applyPolicy(): void {
    this.policyVersion = this.o.shared.policyVersion();
    const port = this.o.policyPort;
    if (port === undefined) return;
    let latest: ServerPolicyOptions | undefined;
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) latest = m.message as ServerPolicyOptions;
    if (latest === undefined) return;
    try {
      this.k.configure({ ...latest, batchSize: this.k.slots });
    } catch (err) {
      this.o.onPolicyRejected?.(err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * Takes the newest NTS key set posted to this worker. The version is taken from the message, not
   * from the shared word: if the word moved before the message became readable, the next batch
   * looks again (the keys in use stay valid meanwhile — a rotation keeps the previous key).
   */
  private applyNtsKeys(core: NtsServerCore, port: MessagePort | undefined): void {
    if (port === undefined) return;
    let latest: NtsKeySet | undefined;
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) latest = m.message as NtsKeySet;
    if (latest === undefined || latest.version <= this.ntsKeysVersion) return;
    core.setKeys(latest.keys, latest.currentId);
    this.ntsKeysVersion = latest.version;
  }

  private maybePublish(idle: boolean): void {
    const t = performance.now();
    if (idle || t - this.lastPublish >= PUBLISH_MS) {
      this.lastPublish = t;
      this.publish();
    }
  }

  /** Copies the kernel's counters next to the engine's and publishes them to the main thread. */
  publish(): void {
    const kernelCounters = this.k.counters();
    for (let i = 0; i < COUNTERS.length; i++) this.counters[i] = kernelCounters[COUNTERS[i]!];
    if (this.o.nts !== undefined) {
      const nts = this.o.nts.core.counters();
      for (let i = 0; i < NTS_COUNTERS.length; i++) this.counters[NTS_COUNTER_BASE + i] = nts[NTS_COUNTERS[i]!];
    }
    this.o.shared.publishCounters(this.o.index, this.counters);
    this.unpublished = false;
  }
}

function setTimestamp(out: Uint32Array, t: bigint): void {
  out[0] = Number((t >> 32n) & 0xffffffffn);
  out[1] = Number(t & 0xffffffffn);
}

/** Worker entry: set up the kernel over the socket the main thread opened, report ready (or
 *  failed), loop until stopped. The socket is the main thread's: it outlives a crashed worker (its
 *  queued requests wait for the replacement) and needs no privilege to reuse after a restart. */
async function workerMain(setup: WorkerSetup): Promise<void> {
  const port = parentPort!;
  const shared = SharedServerState.attach(setup.shared);
  let io: BatchSocketIo | undefined;
  let loop: BatchLoop;
  try {
    const { wasm } = await instantiateCore(setup.module);
    const kernel = createServerKernel(wasm, { ...setup.policy, batchSize: setup.batchSize });
    // Before the socket I/O takes its views of linear memory (the NTS state reserves some).
    let nts: BatchLoopOptions["nts"];
    if (setup.nts !== undefined) {
      const core = createNtsServerCore(wasm, { maxKeys: setup.nts.maxKeys, batchSize: setup.batchSize });
      core.setKeys(setup.nts.keys, setup.nts.currentId);
      core.attach(kernel);
      nts = { core, version: setup.nts.version, port: setup.nts.port };
    }
    io = new BatchSocketIo({ fd: setup.fd, family: setup.family }, slotLayout(wasm, kernel));
    loop = new BatchLoop({
      kernel, io, shared, index: setup.index, idleWaitMs: setup.idleWaitMs, policyPort: setup.policyPort,
      onPolicyRejected: (message) => port.postMessage({ type: "policy-rejected", message } satisfies WorkerMessage),
      ...(nts !== undefined ? { nts } : {}),
    });
    port.postMessage({ type: "ready" } satisfies WorkerMessage);
  } catch (err) {
    io?.free();
    port.postMessage({ type: "failed", message: err instanceof Error ? err.message : String(err) } satisfies WorkerMessage);
    return;
  }
  try {
    loop.run();
  } finally {
    // Also on a crash: publish what was counted, so the main thread keeps it.
    try {
      loop.publish();
    } finally {
      io.free();
    }
  }
  port.postMessage({ type: "stopped" } satisfies WorkerMessage);
}

if (!isMainThread && (workerData as WorkerSetup | undefined)?.kind === "tock-batch-worker") {
  workerMain(workerData as WorkerSetup).catch((err: unknown) => {
    // Rethrown outside the promise so the thread dies with an 'error' event the main thread sees.
    setImmediate(() => {
      throw err;
    });
  });
}
