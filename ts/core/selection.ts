// Façade of the selection kernel (asm/select/): per-source clock filters and the RFC 5905 system
// process (selection → cluster → combine). The only code that touches its memory.
//
// createSelection() creates one kernel context — all its memory is reserved then, inside WASM —
// and reads the record layouts from sel_layout(). Per call, the façade writes a few numbers (the
// candidate table for select()), calls one export and reads the result region: nothing is
// allocated inside WASM after creation. The maths and the ABI are documented where they live:
// asm/select/filter.ts (clock filter), intersect.ts, cluster.ts, system.ts.
//
// Time: `now` and sample times are seconds on the caller's monotonic timeline (e.g. seconds since
// the daemon started): the kernel only takes differences of them and has no clock of its own.
// Offsets, delays, dispersions and jitters are seconds (float64).
import type { WasmInstance } from "./instance.js";

interface SelectionExports {
  memory: WebAssembly.Memory;
  sel_create(maxSources: number): number;
  sel_region(ctx: number, id: number): number;
  sel_layout(id: number): number;
  sel_configure(ctx: number, frequencyTolerance: number, maxDispersion: number, minDispersion: number,
    maxDistance: number, spikeGate: number, minSurvivors: number, precision: number): number;
  sel_reset_source(ctx: number, index: number): number;
  sel_reset_system(ctx: number): void;
  sel_add_sample(ctx: number, index: number, offset: number, delay: number, dispersion: number, time: number, now: number, poll: number): number;
  sel_expire(ctx: number, index: number, now: number, poll: number): number;
  sel_select(ctx: number, count: number, now: number, poll: number, minCandidates: number, localRefid: number): number;
}

/** Tunables (RFC 5905 name, unit, default). */
export interface SelectionTunables {
  /** PHI, s/s (15e-6): worst-case frequency error; dispersion grows at this rate. */
  frequencyTolerance?: number;
  /** MAXDISP, s (16): dispersion of an empty filter stage; stages that age up to it expire. */
  maxDispersion?: number;
  /** MINDISP, s (0.005): floor of the root distance's delay term and of the dispersion added per hop. */
  minDispersion?: number;
  /** MAXDIST, s (1): root distance above which a source is unusable; also the stratum weight of the
   *  cluster ranking (stratum · MAXDIST + root distance). */
  maxDistance?: number;
  /** SGATE, multiples of the peer jitter (3): offset jumps above this within two poll intervals are
   *  held back as popcorn spikes. Infinity disables the gate. */
  spikeGate?: number;
  /** NMIN, sources (3): the cluster algorithm keeps at least this many survivors. */
  minSurvivors?: number;
  /** ρ, s (2^-20): local clock precision, the floor of every jitter. */
  precision?: number;
}

export interface SelectionOptions extends SelectionTunables {
  /** Source indices run from 0 to maxSources − 1 (1..256). */
  maxSources: number;
}

export const DEFAULT_TUNABLES: Required<SelectionTunables> = {
  frequencyTolerance: 15e-6,
  maxDispersion: 16,
  minDispersion: 0.005,
  maxDistance: 1,
  spikeGate: 3,
  minSurvivors: 3,
  precision: 2 ** -20,
};

/** Default poll interval (s) when the caller gives none: 2^6, RFC 5905's MINPOLL. */
export const DEFAULT_POLL_INTERVAL = 64;

/** One on-wire measurement (asm/onwire.ts) and when it arrived. */
export interface FilterSample {
  offset: number;
  delay: number;
  dispersion: number;
  /** Arrival time (s, caller's timeline); later than `now` is taken as `now`. */
  time: number;
}

/** What the filter did with a sample: `updated` means the source has a new offset (run select()). */
export type FilterOutcome = "updated" | "stale" | "spike" | "empty" | "invalid";
const FILTER_OUTCOMES: readonly FilterOutcome[] = ["updated", "stale", "spike", "empty", "invalid"];

/** The peer variables of one source and its filter counters. */
export interface SourceFilterState {
  /** θ, δ of the sample in use; meaningful when `used`. */
  offset: number;
  delay: number;
  /** ε (as of `updated`) and ψ. */
  dispersion: number;
  jitter: number;
  /** Arrival time of the sample in use, and when the register was last aged (s, caller's timeline). */
  time: number;
  updated: number;
  /** A sample has been used since the last reset. */
  used: boolean;
  /** Valid samples in the 8-stage register. */
  sampleCount: number;
  /** Lifetime counts: samples shifted in, held back as spikes, refused as malformed. */
  samples: number;
  spikes: number;
  invalid: number;
}

/** One stage of the register (offset, delay, dispersion in s; time on the caller's timeline). */
export interface FilterStage {
  offset: number;
  delay: number;
  dispersion: number;
  time: number;
  valid: boolean;
}

export interface Candidate {
  index: number;
  /** Stratum as a peer variable: a packet's stratum 0 must be mapped to 16 (RFC 5905 §7.3); 0 is
   *  for local reference clocks. Usable: 0..15. */
  stratum: number;
  /** The server's root delay and dispersion (s). */
  rootDelay: number;
  rootDispersion: number;
  /** The source's reach register is not zero. */
  reachable: boolean;
  /** The server's leap indicator (3: unsynchronised, unusable). */
  leap: number;
  /** Reference ID we advertise if this source becomes the system peer (u32; default 0). */
  refid?: number;
  /** Reference ID in the server's packets, for the loop check (u32; 0 = unknown, the default). */
  serverRefid?: number;
}

export interface SelectOptions {
  /** CMIN: the fewest truechimers that may set the clock (default 1). */
  minCandidates?: number;
  /** System poll interval (s): widens the distance threshold by PHI · poll (default 64). */
  pollInterval?: number;
  /** Our own reference ID as servers see it (u32; 0 = unknown): a server reporting it is synced to us. */
  localRefid?: number;
}

export type SourceSelectionState = "selected" | "candidate" | "falseticker" | "outlier" | "unusable";
const SOURCE_STATES: readonly SourceSelectionState[] = ["unusable", "falseticker", "outlier", "candidate", "selected"];

export type SelectionStatus = "ok" | "no-majority" | "no-candidates";
const STATUSES: readonly SelectionStatus[] = ["ok", "no-majority", "no-candidates"];

export interface SelectionResult {
  status: SelectionStatus;
  /** Source index of the system peer, or null. */
  systemPeer: number | null;
  /** Θ combined offset, Ψ system jitter, Ψs selection jitter (s); 0 unless ok. */
  offset: number;
  jitter: number;
  selectionJitter: number;
  /** Δ, Ε for downstream (s); 0 unless ok. */
  rootDelay: number;
  rootDispersion: number;
  /** System peer stratum + 1 (16 unless ok). */
  stratum: number;
  referenceId: number;
  /** Leap indicator held by a majority of survivors (0 when none; 3 unless ok). */
  leap: number;
  /** The system peer's sample is newer than the last one reported: feed it to the discipline. */
  newUpdate: boolean;
  /** Arrival time of the system peer's sample. */
  peerTime: number;
  /** The intersection interval [low, high] (s), when one was computed. */
  low: number;
  high: number;
  /** Falsetickers the intersection allowed, and candidate counts at each stage. */
  falsetickers: number;
  usable: number;
  truechimers: number;
  survivors: number;
  /** State of every source index (length maxSources). */
  perSource: SourceSelectionState[];
}

export interface Selection {
  readonly maxSources: number;
  /** The kernel context handle, for benches and diagnostics that call the sel_* exports directly. */
  readonly context: number;
  readonly tunables: Readonly<Required<SelectionTunables>>;
  /** Replaces tunables (unspecified ones keep their value). Throws RangeError on a bad value. */
  configure(tunables: SelectionTunables): void;
  /** Shifts a sample into source `index`'s filter at `now`; `pollInterval` (s) sets the spike window. */
  addSample(index: number, sample: FilterSample, now: number, pollInterval?: number): FilterOutcome;
  /** A poll went unanswered: shift the empty (dummy) sample in. */
  expire(index: number, now: number, pollInterval?: number): FilterOutcome;
  /** Empties source `index` (new server, or after a clock step). */
  resetSource(index: number): void;
  /** Forgets the system peer and last update time (after a clock step). */
  resetSystem(): void;
  sourceState(index: number): SourceFilterState;
  /** The register, newest first. */
  stages(index: number): FilterStage[];
  select(now: number, candidates: readonly Candidate[], options?: SelectOptions): SelectionResult;
}

// The ids of sel_layout (asm/select/system.ts), in order.
const LAYOUT_IDS = [
  "sourceStride", "stageBytes", "stageOffset", "stageDelay", "stageDisp", "stageTime", "srcStages",
  "srcOffset", "srcDelay", "srcDisp", "srcJitter", "srcTime", "srcUpdated", "srcNext", "srcFlags", "srcValid",
  "srcSpikes", "srcInvalid", "srcSamples", "srcFlagUsed",
  "candStride", "candIndex", "candStratum", "candLeap", "candReachable", "candRefid", "candServerRefid",
  "candRootDelay", "candRootDisp",
  "resStatus", "resSystemPeer", "resOffset", "resJitter", "resSelectionJitter", "resRootDelay", "resRootDisp",
  "resStratum", "resRefid", "resLeap", "resUsable", "resLow", "resHigh", "resFalsetickers", "resTruechimers",
  "resSurvivors", "resNewUpdate", "resPeerTime", "nstage", "maxSources",
] as const;
type Layout = Record<(typeof LAYOUT_IDS)[number], number>;

export function createSelection(wasm: WasmInstance, options: SelectionOptions): Selection {
  const x = wasm.exports as unknown as SelectionExports;
  const L = Object.fromEntries(LAYOUT_IDS.map((name, id) => [name, x.sel_layout(id)])) as Layout;
  if (Object.values(L).some((v) => v < 0) || x.sel_layout(LAYOUT_IDS.length) !== -1) {
    throw new Error("selection kernel and ts/core/selection.ts disagree on the layout table");
  }
  const { maxSources } = options;
  if (!Number.isInteger(maxSources) || maxSources < 1 || maxSources > L.maxSources) {
    throw new RangeError(`maxSources must be an integer in [1, ${L.maxSources}], got ${maxSources}`);
  }
  const ctx = x.sel_create(maxSources) >>> 0;
  if (ctx === 0) throw new Error("selection kernel refused to start");
  const sources = x.sel_region(ctx, 0) >>> 0;
  const candidates = x.sel_region(ctx, 1) >>> 0;
  const states = x.sel_region(ctx, 2) >>> 0;
  const result = x.sel_region(ctx, 3) >>> 0;

  let buffer = x.memory.buffer;
  let dv = new DataView(buffer);
  let u8 = new Uint8Array(buffer);
  const fresh = (): void => {
    if (x.memory.buffer !== buffer) {
      buffer = x.memory.buffer;
      dv = new DataView(buffer);
      u8 = new Uint8Array(buffer);
    }
  };

  const tunables: Required<SelectionTunables> = { ...DEFAULT_TUNABLES };
  const configure = (next: SelectionTunables): void => {
    const merged = { ...tunables };
    for (const key of Object.keys(DEFAULT_TUNABLES) as (keyof SelectionTunables)[]) {
      const value = next[key];
      if (value !== undefined) merged[key] = value;
    }
    const ok = x.sel_configure(ctx, merged.frequencyTolerance, merged.maxDispersion, merged.minDispersion,
      merged.maxDistance, merged.spikeGate, Number.isInteger(merged.minSurvivors) ? merged.minSurvivors : -1, merged.precision);
    if (ok !== 1) {
      throw new RangeError("selection tunables out of range: frequencyTolerance in [0, 1e-3] s/s, maxDispersion > 0 s, "
        + "minDispersion in [0, maxDispersion] s, maxDistance > 0 s, spikeGate > 0, minSurvivors an integer in "
        + `[1, ${L.maxSources}], precision in (0, 1] s; got ${JSON.stringify(merged)}`);
    }
    Object.assign(tunables, merged);
  };
  configure(options);

  const checkIndex = (index: number): void => {
    if (!Number.isInteger(index) || index < 0 || index >= maxSources) {
      throw new RangeError(`source index must be an integer in [0, ${maxSources - 1}], got ${index}`);
    }
  };
  const outcome = (code: number): FilterOutcome => {
    const name = FILTER_OUTCOMES[code];
    if (name === undefined) throw new Error(`selection kernel returned filter code ${code}`);
    return name;
  };
  const sourceBase = (index: number): number => sources + index * L.sourceStride;

  return {
    maxSources,
    context: ctx,
    tunables,
    configure,

    addSample(index, sample, now, pollInterval = DEFAULT_POLL_INTERVAL) {
      checkIndex(index);
      return outcome(x.sel_add_sample(ctx, index, sample.offset, sample.delay, sample.dispersion, sample.time, now, pollInterval));
    },

    expire(index, now, pollInterval = DEFAULT_POLL_INTERVAL) {
      checkIndex(index);
      return outcome(x.sel_expire(ctx, index, now, pollInterval));
    },

    resetSource(index) {
      checkIndex(index);
      x.sel_reset_source(ctx, index);
    },

    resetSystem() {
      x.sel_reset_system(ctx);
    },

    sourceState(index) {
      checkIndex(index);
      fresh();
      const b = sourceBase(index);
      const f64 = (off: number): number => dv.getFloat64(b + off, true);
      const u32 = (off: number): number => dv.getUint32(b + off, true);
      return {
        offset: f64(L.srcOffset),
        delay: f64(L.srcDelay),
        dispersion: f64(L.srcDisp),
        jitter: f64(L.srcJitter),
        time: f64(L.srcTime),
        updated: f64(L.srcUpdated),
        used: (u32(L.srcFlags) & L.srcFlagUsed) !== 0,
        sampleCount: u32(L.srcValid),
        samples: u32(L.srcSamples),
        spikes: u32(L.srcSpikes),
        invalid: u32(L.srcInvalid),
      };
    },

    stages(index) {
      checkIndex(index);
      fresh();
      const b = sourceBase(index);
      const next = dv.getUint32(b + L.srcNext, true);
      const out: FilterStage[] = [];
      for (let k = 1; k <= L.nstage; k++) {
        const s = b + L.srcStages + ((next - k + L.nstage) % L.nstage) * L.stageBytes;
        const delay = dv.getFloat64(s + L.stageDelay, true);
        const dispersion = dv.getFloat64(s + L.stageDisp, true);
        out.push({
          offset: dv.getFloat64(s + L.stageOffset, true),
          delay,
          dispersion,
          time: dv.getFloat64(s + L.stageTime, true),
          valid: delay < Infinity && dispersion < tunables.maxDispersion,
        });
      }
      return out;
    },

    select(now, list, opts = {}) {
      if (list.length > maxSources) throw new RangeError(`at most ${maxSources} candidates, got ${list.length}`);
      const minCandidates = opts.minCandidates ?? 1;
      if (!Number.isInteger(minCandidates) || minCandidates < 1) throw new RangeError(`minCandidates must be an integer >= 1, got ${minCandidates}`);
      fresh();
      for (let c = 0; c < list.length; c++) {
        const cand = list[c]!;
        checkIndex(cand.index);
        const p = candidates + c * L.candStride;
        dv.setInt32(p + L.candIndex, cand.index, true);
        dv.setInt32(p + L.candStratum, Number.isInteger(cand.stratum) ? cand.stratum : -1, true);
        dv.setInt32(p + L.candLeap, Number.isInteger(cand.leap) ? cand.leap : -1, true);
        dv.setUint32(p + L.candReachable, cand.reachable ? 1 : 0, true);
        dv.setUint32(p + L.candRefid, (cand.refid ?? 0) >>> 0, true);
        dv.setUint32(p + L.candServerRefid, (cand.serverRefid ?? 0) >>> 0, true);
        dv.setFloat64(p + L.candRootDelay, cand.rootDelay, true);
        dv.setFloat64(p + L.candRootDisp, cand.rootDispersion, true);
      }
      const code = x.sel_select(ctx, list.length, now, opts.pollInterval ?? DEFAULT_POLL_INTERVAL, minCandidates, (opts.localRefid ?? 0) >>> 0);
      fresh();
      const r = (off: number): number => dv.getFloat64(result + off, true);
      const i = (off: number): number => dv.getInt32(result + off, true);
      const perSource = new Array<SourceSelectionState>(maxSources);
      for (let s = 0; s < maxSources; s++) perSource[s] = SOURCE_STATES[u8[states + s]!] ?? "unusable";
      const peer = i(L.resSystemPeer);
      return {
        status: STATUSES[code] ?? "no-candidates",
        systemPeer: peer >= 0 ? peer : null,
        offset: r(L.resOffset),
        jitter: r(L.resJitter),
        selectionJitter: r(L.resSelectionJitter),
        rootDelay: r(L.resRootDelay),
        rootDispersion: r(L.resRootDisp),
        stratum: i(L.resStratum),
        referenceId: dv.getUint32(result + L.resRefid, true),
        leap: i(L.resLeap),
        newUpdate: i(L.resNewUpdate) === 1,
        peerTime: r(L.resPeerTime),
        low: r(L.resLow),
        high: r(L.resHigh),
        falsetickers: i(L.resFalsetickers),
        usable: i(L.resUsable),
        truechimers: i(L.resTruechimers),
        survivors: i(L.resSurvivors),
        perSource,
      };
    },
  };
}
