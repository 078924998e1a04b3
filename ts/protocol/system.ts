// The system process (RFC 5905 §11): collects every source's samples into the selection kernel,
// runs selection → cluster → combine after each one, hands a new system-peer update to the clock
// discipline, and derives the system state the server serves downstream.
//
// Sans-IO like everything in ts/protocol: `now` (seconds on the caller's monotonic timeline, the
// same timeline the selection façade uses) comes in as an argument; the clock actions the discipline
// returns go out to the caller, which applies them to its (adjustable or observe-only) clock.
//
// This first part is the contract shared with the discipline (helper L2, ts/protocol/discipline.ts)
// and the clock drivers (helper K, ts/clock/): SystemUpdate, Discipline, ClockAction.
import type { NtpTimestamp } from "../core/api.js";
import type { FilterOutcome, Selection, SelectionResult, SelectionStatus, SourceFilterState, SourceSelectionState } from "../core/selection.js";
import type { ClientSample } from "./client-exchange.js";
import type { ServerSystemState } from "./server-policy.js";
import type { SourceCondition } from "./source.js";

/**
 * One new system-peer measurement, combined over the surviving sources (RFC 5905 §11.2.3 combine),
 * produced when the selection reports `newUpdate` — the input of the clock discipline (§11.3
 * clock_update → local_clock). Durations in seconds (float64); times on the caller's monotonic
 * timeline in seconds, like `now`.
 */
export interface SystemUpdate {
  /** Θ: combined offset, positive when the servers are AHEAD of our clock (the clock must advance). */
  offset: number;
  /** Ψ: system jitter — the root-sum-square of the peer jitter and the selection jitter (§11.2.3). */
  jitter: number;
  /** Arrival time of the system peer's sample the update is based on (monotonic seconds). */
  time: number;
  /** Δ and Ε of the system peer path: root delay / dispersion we advertise downstream (§11.2.3). */
  rootDelay: number;
  rootDispersion: number;
  /** Our stratum: system peer's stratum + 1. */
  stratum: number;
  /** Reference id we advertise (u32: the peer's IPv4 address, or MD5(IPv6)[0..4]). */
  refid: number;
  /** Leap indicator held by a majority of the survivors (0 none, 1 insert, 2 delete). */
  leap: 0 | 1 | 2;
  /** Always "ok" for an update (kept so consumers can log the same record for every select run). */
  status: SelectionStatus;
  /** Poll interval of the system peer (s): the discipline's loop time constant follows it (§11.3). */
  pollInterval: number;
  /** Peer jitter of the system peer alone, and the selection jitter Ψs (s). */
  peerJitter: number;
  selectionJitter: number;
  /** Survivors of the cluster algorithm that were combined. */
  survivors: number;
}

/**
 * What a discipline asks the clock to do. The caller applies the actions in order to its clock; an
 * observe-only clock records them and changes nothing. Units: seconds, and frequency in parts per
 * million (ppm) as adjtimex reports it (positive: the clock runs faster).
 */
export type ClockAction =
  /** Adds `offset` seconds to the clock at once (ADJ_SETOFFSET). Afterwards every source's filter and
   *  the system's last-update time are reset (RFC 5905 §11.3 step: "clear all associations"). */
  | { kind: "step"; offset: number }
  /** Slews `offset` seconds out gradually (kernel PLL offset / adjtime), never stepping. */
  | { kind: "slew"; offset: number }
  /** Sets the absolute frequency correction (ppm), not a delta. */
  | { kind: "frequency"; ppm: number }
  /** Arms (insert/delete) or disarms (none) the kernel's leap second at the end of the current UTC day. */
  | { kind: "leap"; leap: "none" | "insert" | "delete" }
  /** Error estimates and sync state the kernel publishes (adjtimex maxerror/esterror, STA_UNSYNC). */
  | { kind: "estimate"; maxError: number; estError: number; synchronised: boolean }
  /** The offset exceeds the panic threshold: the daemon logs `message` and exits without touching
   *  the clock (like ntpd's panic gate and ntpd-rs's step panic thresholds). */
  | { kind: "panic"; offset: number; threshold: number; message: string };

/**
 * The clock discipline (RFC 5905 §11.3 clock_update/local_clock and §12 clock_adjust), implemented by
 * ts/protocol/discipline.ts. `now` is the caller's monotonic time in seconds.
 */
export interface Discipline {
  /** A new system-peer update: returns what to do to the clock (possibly nothing). */
  update(u: SystemUpdate, now: number): ClockAction[];
  /** Called about once a second (§12 clock_adjust): returns periodic actions (e.g. slew portions). */
  tick(now: number): ClockAction[];
}

// ---------------------------------------------------------------------------------------------
// The system process.
//
// Each source (ts/protocol/source.ts, or later a reference clock) is attached to one index of the
// selection kernel. After every filter update select() runs over ALL attached sources (RFC 5905
// A.5.5.1: the whole population is judged each time, not only the one that changed); its per-source
// words and result are kept for reports. A result with `newUpdate` becomes a SystemUpdate for the
// discipline, and the system state served downstream (§11.2.3 Figure 25):
//   stratum = system peer's + 1 · refid = its address (IPv4) or MD5 hash (IPv6), refid.ts ·
//   root delay Δ and root dispersion Ε from the selection kernel (Ε already includes |Θ|, so an
//   observe-only daemon whose clock is off says so) · leap = the survivors' majority.
// Between updates Ε grows by PHI per second (§11.2.3: the error bound widens as the clock runs
// free); when it passes MAXDIST the server falls back to the unsynchronised (or local-stratum)
// state, since downstream clients would refuse us anyway.
// Without a discipline (observe mode) everything above still runs; only no clock action is made.

/** What selection needs to know about a source besides its filter (implemented by NtpSource). */
/** Samples every answering source must hold before the first update (the start-up burst's 4 polls). */
export const STARTUP_SAMPLES = 4;
/** Longest wait for the burst to complete before the first update goes ahead anyway (seconds). */
export const STARTUP_SETTLE_LIMIT = 20;

export interface PeerView {
  readonly reach: number;
  /** Peer variable: a packet's stratum 0 is already 16 here. */
  readonly stratum: number;
  readonly leap: number;
  readonly rootDelay: number;
  readonly rootDispersion: number;
  /** Reference id in the server's packets (loop detection). */
  readonly serverRefid: number;
  /** Current poll interval (s). */
  readonly pollInterval: number;
  readonly condition: SourceCondition;
}

/** A source's state in words, as `tock sources` prints it. */
export type SourceStatusWord = SourceSelectionState | Exclude<SourceCondition, "reachable">;

export interface SystemOptions {
  selection: Selection;
  /** CMIN: truechimers needed before the clock is steered ([synchronization] minimum-agreeing-sources). */
  minimumAgreeingSources: number;
  /** Absent: observe mode — compute and report, never act on the clock. */
  discipline?: Discipline | undefined;
  /** The state to serve while not synchronised (local stratum or unsynchronised). */
  fallback: () => ServerSystemState;
  /** Our clock's precision (log2 s), advertised downstream. */
  precisionLog2: number;
  /** Our own reference id as servers would see it (0: unknown), for loop detection. */
  localRefid?: number;
}

/** One run of selection and what came of it. */
export interface SelectRound {
  result: SelectionResult;
  /** Present when the system peer had a new sample. */
  update: SystemUpdate | undefined;
  /** Clock actions the discipline asked for (empty in observe mode). */
  actions: ClockAction[];
  /** A step was among the actions: every filter was emptied; the sources must restart (burst). */
  stepped: boolean;
}

/** The served state held since the last update, with what is needed to age it. */
interface Synchronised {
  state: ServerSystemState;
  /** Monotonic time of the update (s). */
  at: number;
}

export class SystemProcess {
  private readonly peers: (PeerView | undefined)[];
  private readonly refids: number[];
  private readonly selection: Selection;
  private readonly options: SystemOptions;
  private lastResult: SelectionResult | undefined;
  private lastUpdateValue: SystemUpdate | undefined;
  private synced: Synchronised | undefined;
  /** Start-up settling (see `settling`): true until the first update after start or a step. */
  private unsettled = true;
  /** Monotonic time of the first selection while unsettled. */
  private settleSince: number | undefined;
  /** An update the selection produced while settling, still owed to the discipline. */
  private deferredUpdate = false;
  /** (monotonic, NTP) pair from the newest sample: converts selection times to NTP timestamps. */
  private anchor: { mono: number; ntp: NtpTimestamp } | undefined;

  constructor(options: SystemOptions) {
    this.options = options;
    this.selection = options.selection;
    this.peers = new Array<PeerView | undefined>(options.selection.maxSources).fill(undefined);
    this.refids = new Array<number>(options.selection.maxSources).fill(0);
  }

  get discipline(): Discipline | undefined {
    return this.options.discipline;
  }

  /** The newest selection result, the newest update. */
  get result(): SelectionResult | undefined {
    return this.lastResult;
  }
  get lastUpdate(): SystemUpdate | undefined {
    return this.lastUpdateValue;
  }

  /** Attaches a source; `refid` is what we advertise if it becomes system peer. Returns its index. */
  attach(peer: PeerView, refid: number): number {
    const index = this.peers.indexOf(undefined);
    if (index < 0) throw new RangeError(`no room for another source (at most ${this.peers.length})`);
    this.peers[index] = peer;
    this.refids[index] = refid >>> 0;
    this.selection.resetSource(index);
    return index;
  }

  /** Detaches source `index` (pool replacement, demobilisation); its filter is emptied. */
  detach(index: number): void {
    if (this.peers[index] === undefined) return;
    this.peers[index] = undefined;
    this.selection.resetSource(index);
  }

  /** Attached source indices. */
  indices(): number[] {
    const out: number[] = [];
    this.peers.forEach((p, i) => p !== undefined && out.push(i));
    return out;
  }

  filterState(index: number): SourceFilterState {
    return this.selection.sourceState(index);
  }

  /**
   * Root distance λ of source `index` at `now` (s), as selection computes it (asm/select/system.ts):
   * max(MINDISP, Δr + δ)/2 + Εr + ε + PHI·(now − u) + ψ; undefined before its first sample.
   */
  rootDistance(index: number, now: number): number | undefined {
    const peer = this.requirePeer(index);
    const f = this.selection.sourceState(index);
    if (!f.used) return undefined;
    const t = this.selection.tunables;
    return Math.max(t.minDispersion, peer.rootDelay + f.delay) / 2 + peer.rootDispersion + f.dispersion
      + t.frequencyTolerance * Math.max(0, now - f.updated) + f.jitter;
  }

  /** A valid sample of source `index` (arrived at monotonic `time`); runs selection when the filter moved. */
  sample(index: number, s: ClientSample, time: number, now: number): { outcome: FilterOutcome; round: SelectRound | undefined } {
    const peer = this.requirePeer(index);
    this.anchor = { mono: time, ntp: s.receivedAt };
    const outcome = this.selection.addSample(index, { offset: s.offset, delay: s.delay, dispersion: s.dispersion, time }, now, peer.pollInterval);
    return { outcome, round: outcome === "updated" ? this.select(now) : undefined };
  }

  /** Source `index` missed polls: age its filter (RFC 5905 A.5.7.1); reselect when that changed it. */
  missed(index: number, now: number): SelectRound | undefined {
    const peer = this.requirePeer(index);
    const outcome = this.selection.expire(index, now, peer.pollInterval);
    return outcome === "updated" ? this.select(now) : undefined;
  }

  /** Runs selection over every attached source; hands a new update to the discipline. */
  select(now: number): SelectRound {
    const candidates = [];
    let poll = Infinity;
    for (let i = 0; i < this.peers.length; i++) {
      const p = this.peers[i];
      if (p === undefined) continue;
      poll = Math.min(poll, p.pollInterval);
      candidates.push({
        index: i, stratum: p.stratum, leap: p.leap, rootDelay: p.rootDelay, rootDispersion: p.rootDispersion,
        reachable: p.reach !== 0 && p.condition !== "denied", refid: this.refids[i]!, serverRefid: p.serverRefid,
      });
    }
    const peerPoll = this.lastResult?.systemPeer != null ? this.peers[this.lastResult.systemPeer]?.pollInterval : undefined;
    const result = this.selection.select(now, candidates, {
      minCandidates: this.options.minimumAgreeingSources,
      pollInterval: peerPoll ?? (poll === Infinity ? undefined : poll),
      localRefid: this.options.localRefid ?? 0,
    });
    this.lastResult = result;
    if (result.status !== "ok" || result.systemPeer === null || !(result.newUpdate || this.deferredUpdate)) {
      return { result, update: undefined, actions: [], stepped: false };
    }
    if (this.settling(now)) {
      // The selection has marked this update as consumed; carry it to the first settled round so
      // the first update is not delayed by a whole poll interval.
      this.deferredUpdate = true;
      return { result, update: undefined, actions: [], stepped: false };
    }
    this.deferredUpdate = false;
    const peer = this.peers[result.systemPeer]!;
    const leap = (result.leap === 1 || result.leap === 2 ? result.leap : 0) as 0 | 1 | 2;
    const filter = this.selection.sourceState(result.systemPeer);
    const update: SystemUpdate = {
      offset: result.offset, jitter: result.jitter, time: result.peerTime,
      rootDelay: result.rootDelay, rootDispersion: result.rootDispersion,
      stratum: result.stratum, refid: result.referenceId, leap, status: result.status,
      pollInterval: peer.pollInterval, peerJitter: filter.jitter, selectionJitter: result.selectionJitter,
      survivors: result.survivors,
    };
    this.lastUpdateValue = update;
    this.synced = {
      at: now,
      state: {
        leap, stratum: result.stratum, precision: this.options.precisionLog2, referenceId: result.referenceId,
        rootDelay: result.rootDelay, rootDispersion: result.rootDispersion, referenceTime: this.ntpTime(result.peerTime),
      },
    };
    const actions = this.options.discipline?.update(update, now) ?? [];
    return { result, update, actions, stepped: this.afterActions(actions) };
  }

  /** About once a second: the discipline's periodic actions (none in observe mode). */
  tick(now: number): { actions: ClockAction[]; stepped: boolean } {
    const actions = this.options.discipline?.tick(now) ?? [];
    return { actions, stepped: this.afterActions(actions) };
  }

  /** Source `index`'s state in words: its own condition first, then what selection made of it. */
  word(index: number): SourceStatusWord {
    const peer = this.requirePeer(index);
    const condition = peer.condition;
    if (condition !== "reachable") return condition;
    return this.lastResult?.perSource[index] ?? "initialising";
  }

  /** The state to serve now: the last update's, its dispersion aged by PHI; else the fallback. */
  serverState(now: number): ServerSystemState {
    const s = this.synced;
    if (s === undefined) return this.options.fallback();
    const grown = s.state.rootDispersion + this.selection.tunables.frequencyTolerance * Math.max(0, now - s.at);
    if (grown > this.selection.tunables.maxDistance) return this.options.fallback();
    return { ...s.state, rootDispersion: grown };
  }

  /**
   * Start-up settling: until the first update after start (or after a step, which empties every
   * filter), the clock is not steered while a reachable source is still in its start-up burst.
   *
   * Why: the selection only considers sources whose filters already hold enough samples to be fit
   * (root distance below MAXDIST). A few seconds into the burst, some sources are fit and others not
   * yet, and with only 3 of 5 fit and their intervals still ~1 s wide, a falseticker among those 3
   * passes as a truechimer: the simulator saw the first update steer the clock 20–27 ms towards two
   * falsetickers 80 ms off. Waiting until every answering source has STARTUP_SAMPLES samples lets
   * the intersection and cluster algorithms see the whole population. A source that stops answering
   * mid-burst cannot hold synchronisation up for more than STARTUP_SETTLE_LIMIT seconds.
   */
  private settling(now: number): boolean {
    if (!this.unsettled) return false;
    this.settleSince ??= now;
    if (now - this.settleSince < STARTUP_SETTLE_LIMIT) {
      for (const i of this.indices()) {
        const p = this.peers[i]!;
        if (p.reach === 0 || p.condition !== "reachable") continue;
        if (this.selection.sourceState(i).sampleCount < STARTUP_SAMPLES) return true;
      }
    }
    this.unsettled = false;
    return false;
  }

  private afterActions(actions: ClockAction[]): boolean {
    if (!actions.some((a) => a.kind === "step")) return false;
    // RFC 5905 §11.3 (step): the clock jumped, so every sample taken before is wrong by the step.
    for (const i of this.indices()) this.selection.resetSource(i);
    this.selection.resetSystem();
    this.anchor = undefined;
    this.unsettled = true;
    this.settleSince = undefined;
    this.deferredUpdate = false;
    return true;
  }

  private ntpTime(mono: number): NtpTimestamp {
    const a = this.anchor;
    if (a === undefined) return 0n;
    return BigInt.asUintN(64, a.ntp + BigInt(Math.round((mono - a.mono) * 4294967296)));
  }

  private requirePeer(index: number): PeerView {
    const p = this.peers[index];
    if (p === undefined) throw new RangeError(`no source attached at index ${index}`);
    return p;
  }
}
