// State shared between the batch engine's main thread and its worker threads, in ONE
// SharedArrayBuffer per listener: no locks and no messages on the workers' hot path.
//
// What lives here and who writes it (every field has exactly one writer):
//   control       main → workers   0 = serve, 1 = drain and stop
//   system state  main → workers   leap, stratum, precision, reference id, root delay/dispersion,
//                                  reference time: a seqlock-versioned record
//   policy version main → workers  bumped after a new policy (SIGHUP reload) was posted to every
//                                  worker's MessagePort; a worker that sees it move takes the message
//                                  synchronously (receiveMessageOnPort) before its next batch
//   NTS keys version main → workers  the same for NTS cookie master keys (a rotation): the version of
//                                  the newest key set posted to every worker's NTS port
//   per worker    worker → main    its counters (kernel outcomes + engine events): seqlock-versioned
//                 main → worker    a command word (test hook: crash), read once per batch
//
// Seqlock (single writer): the writer bumps the version to odd, writes the fields, bumps it to even.
// A reader takes the version (retrying while odd), reads the fields, and accepts them only if the
// version did not move meanwhile. Every access is an Atomics load/store on an Int32Array: Atomics
// are sequentially consistent, so the field reads cannot drift past the second version read (plain
// reads could on weakly ordered CPUs). Workers check the system version with ONE Atomics.load per
// batch and copy the record only when it changed; the main thread reads counters only when metrics
// or a summary ask. Values wider than 32 bits (counters, float64 seconds, the 64-bit reference
// time) are stored as two 32-bit halves.
import { COUNTERS, type ServerSystemState } from "../protocol/server-policy.js";
import { NTS_COUNTERS, type NtsCounterName } from "../core/nts-server.js";

/** Events counted by the worker loop itself (the kernel counts requests and outcomes). */
export const ENGINE_COUNTERS = [
  /** Responses the kernel accepted (sendmmsg). */
  "sent",
  /** Responses dropped because the socket's send buffer was full (EAGAIN). */
  "send_would_block",
  /** Responses sendmmsg refused for another reason (e.g. an unroutable destination). */
  "send_errors",
  /** Requests whose receive timestamp came from the kernel (SO_TIMESTAMPNS). */
  "rx_kernel_timestamps",
  /** Requests that carried no kernel timestamp: stamped with the userspace reading instead. */
  "rx_timestamp_missing",
  /** Kernel receive timestamps LATER than the userspace reading taken after receipt (expected 0:
   *  a non-zero count means the two clocks disagree, e.g. a step between them). */
  "rx_after_userspace",
  /** Σ and max over requests of (userspace reading after recvmmsg − kernel receive time), ns: how
   *  much event-loop and batching latency the kernel timestamp removes. */
  "rx_lag_ns_total",
  "rx_lag_ns_max",
  /** Σ and max over batches of (send done − `now` read before the kernel call), ns: the bound on
   *  how early the transmit timestamp in a response is, compared with the moment it was sent. */
  "tx_lead_ns_total",
  "tx_lead_ns_max",
  /** Waits for traffic (poll) that ended without any. */
  "idle_waits",
  /** Requests in batches whose kernel call threw (a WASM trap: a bug, never expected): dropped
   *  unanswered, and the worker carries on rather than dying on every such batch. */
  "kernel_call_failed",
] as const;
export type EngineCounterName = (typeof ENGINE_COUNTERS)[number];

/** The worker's NTS state's counters (ts/core/nts-server.ts NTS_COUNTERS), prefixed: zero without NTS. */
export type NtsWorkerCounterName = `nts_${NtsCounterName}`;
export const NTS_WORKER_COUNTERS: readonly NtsWorkerCounterName[] = NTS_COUNTERS.map((n) => `nts_${n}` as const);

/** A worker's counters: the kernel's (ts/protocol/server-policy.ts COUNTERS), ENGINE_COUNTERS, then NTS_WORKER_COUNTERS. */
export type WorkerCounterName = (typeof COUNTERS)[number] | EngineCounterName | NtsWorkerCounterName;
export const WORKER_COUNTERS: readonly WorkerCounterName[] = [...COUNTERS, ...ENGINE_COUNTERS, ...NTS_WORKER_COUNTERS];
/** Where the NTS counters start in a worker's counters. */
export const NTS_COUNTER_BASE = COUNTERS.length + ENGINE_COUNTERS.length;
export const WORKER_COUNTER_INDEX: Readonly<Record<WorkerCounterName, number>> = Object.fromEntries(
  WORKER_COUNTERS.map((name, i) => [name, i]),
) as Record<WorkerCounterName, number>;

/** How counters from several workers (and from dead ones) combine: `_max` ones by max, the rest by sum. */
export function isMaxCounter(index: number): boolean {
  return WORKER_COUNTERS[index]!.endsWith("_max");
}

/** Worker command word values. */
export const COMMAND_NONE = 0;
/** Test hook: the worker throws from its loop, as a bug would (exercises restart and counting). */
export const COMMAND_CRASH = 1;

// ---- Layout, in Int32 words ----
const CONTROL = 0;
const SYSTEM_VERSION = 1;
const POLICY_VERSION = 2;
const NTS_KEYS_VERSION = 3;
const SYSTEM = 4; // 14 words: leap, stratum, precision, referenceId, rootDelay(2), rootDispersion(2), refHi, refLo, spare(4)
const SYSTEM_WORDS = 14;
const WORKERS = SYSTEM + SYSTEM_WORDS;
/** Per worker: version, command, 2 spare, then 2 words per counter. */
const WORKER_HEADER = 4;
const W_VERSION = 0;
const W_COMMAND = 1;
const WORKER_WORDS = WORKER_HEADER + 2 * WORKER_COUNTERS.length;
const TWO_32 = 4294967296;
/** Seqlock read attempts before giving up on a consistent copy (a publication takes < 1 µs and
 *  comes every 20 ms; this bound only matters for a worker killed while publishing). */
const READ_TRIES = 1_000_000;

export class SharedServerState {
  readonly workers: number;
  private readonly words: Int32Array;
  /** Scratch to move float64 bits through two 32-bit words. */
  private readonly f64 = new Float64Array(1);
  private readonly f64Words = new Int32Array(this.f64.buffer);

  private constructor(
    readonly buffer: SharedArrayBuffer,
    workers: number,
  ) {
    this.workers = workers;
    this.words = new Int32Array(buffer);
  }

  /** Main thread: a fresh state for `workers` workers (no system state yet: version 0). */
  static create(workers: number): SharedServerState {
    if (!Number.isInteger(workers) || workers < 1 || workers > 1024) throw new RangeError(`workers must be 1..1024, got ${workers}`);
    return new SharedServerState(new SharedArrayBuffer((WORKERS + workers * WORKER_WORDS) * 4), workers);
  }

  /** Worker thread: the same state, from the buffer the main thread posted. */
  static attach(buffer: SharedArrayBuffer): SharedServerState {
    const workers = (buffer.byteLength / 4 - WORKERS) / WORKER_WORDS;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError("shared state buffer has the wrong size");
    return new SharedServerState(buffer, workers);
  }

  // ---- control ----
  requestStop(): void {
    Atomics.store(this.words, CONTROL, 1);
  }
  stopRequested(): boolean {
    return Atomics.load(this.words, CONTROL) !== 0;
  }

  // ---- policy (writer: main thread) ----
  /** Main thread, after posting a new policy to every worker. */
  bumpPolicyVersion(): void {
    Atomics.add(this.words, POLICY_VERSION, 1);
  }
  policyVersion(): number {
    return Atomics.load(this.words, POLICY_VERSION);
  }

  // ---- NTS keys (writer: main thread) ----
  /** Main thread, after posting key set `version` to every worker's NTS port. */
  setNtsKeysVersion(version: number): void {
    Atomics.store(this.words, NTS_KEYS_VERSION, version);
  }
  ntsKeysVersion(): number {
    return Atomics.load(this.words, NTS_KEYS_VERSION);
  }

  // ---- system state (writer: main thread) ----
  /** Publishes a new system state; workers apply it before their next batch. */
  writeSystemState(s: ServerSystemState, referenceIdValue: number): void {
    const w = this.words;
    Atomics.add(w, SYSTEM_VERSION, 1); // odd: writing
    Atomics.store(w, SYSTEM, s.leap);
    Atomics.store(w, SYSTEM + 1, s.stratum);
    Atomics.store(w, SYSTEM + 2, s.precision);
    Atomics.store(w, SYSTEM + 3, referenceIdValue | 0);
    this.storeFloat(SYSTEM + 4, s.rootDelay);
    this.storeFloat(SYSTEM + 6, s.rootDispersion);
    Atomics.store(w, SYSTEM + 8, Number((s.referenceTime >> 32n) & 0xffffffffn) | 0);
    Atomics.store(w, SYSTEM + 9, Number(s.referenceTime & 0xffffffffn) | 0);
    Atomics.add(w, SYSTEM_VERSION, 1); // even: done
  }

  /** The system state's version: 0 = never written; changes on every write. One Atomics.load. */
  systemVersion(): number {
    return Atomics.load(this.words, SYSTEM_VERSION);
  }

  /** A consistent copy of the system state and its version, or undefined if none was written yet. */
  readSystemState(): { state: ServerSystemState; version: number } | undefined {
    const w = this.words;
    for (;;) {
      const before = Atomics.load(w, SYSTEM_VERSION);
      if (before === 0) return undefined;
      if ((before & 1) !== 0) continue; // the writer is mid-update (a few stores): retry
      const state: ServerSystemState = {
        leap: (Atomics.load(w, SYSTEM) & 3) as 0 | 1 | 2 | 3,
        stratum: Atomics.load(w, SYSTEM + 1),
        precision: Atomics.load(w, SYSTEM + 2),
        referenceId: Atomics.load(w, SYSTEM + 3) >>> 0,
        rootDelay: this.loadFloat(SYSTEM + 4),
        rootDispersion: this.loadFloat(SYSTEM + 6),
        referenceTime: (BigInt(Atomics.load(w, SYSTEM + 8) >>> 0) << 32n) | BigInt(Atomics.load(w, SYSTEM + 9) >>> 0),
      };
      if (Atomics.load(w, SYSTEM_VERSION) === before) return { state, version: before };
    }
  }

  // ---- per worker ----
  private base(worker: number): number {
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.workers) throw new RangeError(`worker ${worker} outside 0..${this.workers - 1}`);
    return WORKERS + worker * WORKER_WORDS;
  }

  /** Worker: publishes its counters (a Float64Array in WORKER_COUNTERS order, integers < 2^53). */
  publishCounters(worker: number, values: Float64Array): void {
    const w = this.words;
    const b = this.base(worker);
    Atomics.add(w, b + W_VERSION, 1);
    for (let i = 0; i < WORKER_COUNTERS.length; i++) {
      const v = values[i]!;
      Atomics.store(w, b + WORKER_HEADER + 2 * i, v % TWO_32 | 0);
      Atomics.store(w, b + WORKER_HEADER + 2 * i + 1, Math.floor(v / TWO_32) | 0);
    }
    Atomics.add(w, b + W_VERSION, 1);
  }

  /**
   * Main thread: a copy of a worker's last published counters into `out`; true when it is a
   * consistent set. Bounded (READ_TRIES): a worker preempted or terminated in the middle of
   * publishing keeps the version odd; then the values are left as read (each 32-bit half whole,
   * the set possibly mixing two publications) and false is returned — the caller keeps its last
   * consistent copy of a live worker, and takes what a dead one left.
   */
  readCounters(worker: number, out: Float64Array = new Float64Array(WORKER_COUNTERS.length)): boolean {
    const w = this.words;
    const b = this.base(worker);
    for (let tries = 0; ; tries++) {
      const before = Atomics.load(w, b + W_VERSION);
      if ((before & 1) !== 0 && tries < READ_TRIES) continue;
      for (let i = 0; i < WORKER_COUNTERS.length; i++) {
        out[i] = (Atomics.load(w, b + WORKER_HEADER + 2 * i) >>> 0) + (Atomics.load(w, b + WORKER_HEADER + 2 * i + 1) >>> 0) * TWO_32;
      }
      const consistent = (before & 1) === 0 && Atomics.load(w, b + W_VERSION) === before;
      if (consistent || tries >= READ_TRIES) return consistent;
    }
  }

  /** Main thread, before (re)starting a worker: counters and command back to zero. Only while no
   *  thread owns the slot (the previous worker has exited). */
  resetWorker(worker: number): void {
    const b = this.base(worker);
    for (let i = 0; i < WORKER_WORDS; i++) Atomics.store(this.words, b + i, 0);
  }

  setCommand(worker: number, command: number): void {
    Atomics.store(this.words, this.base(worker) + W_COMMAND, command);
  }
  command(worker: number): number {
    return Atomics.load(this.words, this.base(worker) + W_COMMAND);
  }


  private storeFloat(at: number, value: number): void {
    this.f64[0] = value;
    Atomics.store(this.words, at, this.f64Words[0]!);
    Atomics.store(this.words, at + 1, this.f64Words[1]!);
  }
  private loadFloat(at: number): number {
    this.f64Words[0] = Atomics.load(this.words, at);
    this.f64Words[1] = Atomics.load(this.words, at + 1);
    return this.f64[0]!;
  }
}

/** Adds `from` into `into` counter by counter (max for `_max` counters). */
export function mergeCounters(into: Float64Array, from: ArrayLike<number>): Float64Array {
  for (let i = 0; i < WORKER_COUNTERS.length; i++) {
    const v = from[i] ?? 0;
    into[i] = isMaxCounter(i) ? Math.max(into[i]!, v) : into[i]! + v;
  }
  return into;
}
