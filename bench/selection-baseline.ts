// Plain-TypeScript baseline of the selection kernel (asm/select/): the same clock filter,
// intersection, cluster and combine, written the obvious way — arrays of objects, Array.sort,
// closures. It exists to measure the WASM kernel against (bench/selection.ts) and, because it is
// written independently of the memory layout, as a differential oracle in test/selection/.
// The maths and the reasons for each rule are in the asm/select/ headers; this file follows them
// step by step (same operation order, so results agree to the last bit).
import {
  DEFAULT_POLL_INTERVAL, DEFAULT_TUNABLES,
  type Candidate, type FilterOutcome, type FilterSample, type SelectOptions, type SelectionResult,
  type SelectionTunables, type SourceFilterState, type SourceSelectionState,
} from "../ts/core/selection.js";

const NSTAGE = 8;
const MAXSTRAT = 16;

interface Stage { offset: number; delay: number; disp: number; time: number }

class Filter {
  stages: Stage[] = [];
  next = 0;
  offset = 0;
  delay = 0;
  disp: number;
  jitter: number;
  time = 0;
  updated = 0;
  aged = false;
  used = false;
  valid = 0;
  samples = 0;
  spikes = 0;
  invalid = 0;

  constructor(readonly t: Required<SelectionTunables>) {
    for (let i = 0; i < NSTAGE; i++) this.stages.push({ offset: 0, delay: Infinity, disp: t.maxDispersion, time: 0 });
    this.disp = t.maxDispersion;
    this.jitter = t.precision;
  }

  private age(now: number): void {
    if (this.aged) {
      const dt = now - this.updated;
      if (!(dt > 0)) return;
      for (const s of this.stages) {
        if (s.delay === Infinity) continue;
        s.disp = Math.min(s.disp + this.t.frequencyTolerance * dt, this.t.maxDispersion);
      }
    }
    this.updated = now;
    this.aged = true;
  }

  private shiftIn(stage: Stage): void {
    this.stages[this.next] = stage;
    this.next = (this.next + 1) % NSTAGE;
  }

  add(sample: FilterSample, now: number, poll: number): FilterOutcome {
    let { time } = sample;
    const { offset, delay, dispersion } = sample;
    if (![offset, delay, dispersion, time, now, poll].every(Number.isFinite) || delay < 0 || dispersion < 0) {
      this.invalid++;
      return "invalid";
    }
    if (time > now) time = now;
    this.age(now);
    const disp = Math.min(dispersion + this.t.frequencyTolerance * (now - time), this.t.maxDispersion);
    this.shiftIn({ offset, delay, disp, time });
    this.samples++;
    return this.evaluate(now, poll);
  }

  expire(now: number, poll: number): FilterOutcome {
    if (!Number.isFinite(now) || !Number.isFinite(poll)) {
      this.invalid++;
      return "invalid";
    }
    this.age(now);
    this.shiftIn({ offset: 0, delay: Infinity, disp: this.t.maxDispersion, time: 0 });
    return this.evaluate(now, poll);
  }

  private evaluate(now: number, poll: number): FilterOutcome {
    const isValid = (s: Stage): boolean => s.delay < Infinity && s.disp < this.t.maxDispersion;
    const newestFirst: Stage[] = [];
    for (let k = 0; k < NSTAGE; k++) newestFirst.push(this.stages[(this.next + NSTAGE - 1 - k) % NSTAGE]!);
    const sorted = newestFirst
      .map((s) => ({ s, key: isValid(s) ? s.delay : Infinity }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((e) => e.s);
    const valid = sorted.filter(isValid).length;
    this.valid = valid;
    const previousDisp = this.disp;
    let disp = 0;
    let weight = 0.5;
    for (const s of sorted) {
      disp += Math.min(s.disp, this.t.maxDispersion) * weight;
      weight *= 0.5;
    }
    this.disp = disp;
    if (valid === 0) return "empty";
    const best = sorted[0]!;
    let sum = 0;
    for (let k = 1; k < valid; k++) {
      const d = sorted[k]!.offset - best.offset;
      sum += d * d;
    }
    let jitter = valid > 1 ? Math.sqrt(sum / (valid - 1)) : 0;
    if (!(jitter >= this.t.precision)) jitter = this.t.precision;
    if (this.used) {
      if (best.time <= this.time) {
        this.jitter = jitter;
        return "stale";
      }
      if (previousDisp < this.t.maxDistance && Math.abs(best.offset - this.offset) > this.t.spikeGate * this.jitter && now - this.time < 2 * poll) {
        this.spikes++;
        return "spike";
      }
    }
    this.jitter = jitter;
    this.offset = best.offset;
    this.delay = best.delay;
    this.time = best.time;
    this.used = true;
    return "updated";
  }
}

interface Work { index: number; cand: Candidate; offset: number; distance: number; merit: number; jitter: number }

export class BaselineSelection {
  readonly tunables: Required<SelectionTunables>;
  private readonly filters: Filter[] = [];
  private lastPeer = -1;
  private lastRefid = 0;
  private lastTime: number | undefined;

  constructor(readonly maxSources: number, tunables: SelectionTunables = {}) {
    this.tunables = { ...DEFAULT_TUNABLES };
    for (const [k, v] of Object.entries(tunables)) if (v !== undefined && k in DEFAULT_TUNABLES) (this.tunables as Record<string, number>)[k] = v as number;
    for (let i = 0; i < maxSources; i++) this.filters.push(new Filter(this.tunables));
  }

  addSample(index: number, sample: FilterSample, now: number, poll = DEFAULT_POLL_INTERVAL): FilterOutcome {
    return this.filters[index]!.add(sample, now, poll);
  }

  expire(index: number, now: number, poll = DEFAULT_POLL_INTERVAL): FilterOutcome {
    return this.filters[index]!.expire(now, poll);
  }

  sourceState(index: number): SourceFilterState {
    const f = this.filters[index]!;
    return {
      offset: f.offset, delay: f.delay, dispersion: f.disp, jitter: f.jitter, time: f.time, updated: f.updated,
      used: f.used, sampleCount: f.valid, samples: f.samples, spikes: f.spikes, invalid: f.invalid,
    };
  }

  select(now: number, candidates: readonly Candidate[], opts: SelectOptions = {}): SelectionResult {
    const t = this.tunables;
    const poll = opts.pollInterval ?? DEFAULT_POLL_INTERVAL;
    const minCandidates = Math.max(1, opts.minCandidates ?? 1);
    const localRefid = opts.localRefid ?? 0;
    const perSource: SourceSelectionState[] = new Array<SourceSelectionState>(this.maxSources).fill("unusable");
    const threshold = t.maxDistance + t.frequencyTolerance * poll;

    const work: Work[] = [];
    for (const cand of candidates) {
      const f = this.filters[cand.index]!;
      if (perSource[cand.index] !== "unusable") continue;
      if (!f.used) continue;
      if (cand.leap < 0 || cand.leap >= 3 || cand.stratum < 0 || cand.stratum >= MAXSTRAT || !cand.reachable) continue;
      if (!(cand.rootDelay >= 0 && Number.isFinite(cand.rootDelay) && cand.rootDispersion >= 0 && Number.isFinite(cand.rootDispersion))) continue;
      const serverRefid = cand.serverRefid ?? 0;
      if (cand.stratum > 1 && serverRefid !== 0 && (serverRefid === localRefid || (this.lastPeer >= 0 && serverRefid === this.lastRefid))) continue;
      const since = now - f.updated;
      const distance = Math.max(cand.rootDelay + f.delay, t.minDispersion) * 0.5 + cand.rootDispersion + f.disp
        + (since > 0 ? t.frequencyTolerance * since : 0) + f.jitter;
      if (!(distance <= threshold)) continue;
      work.push({ index: cand.index, cand, offset: f.offset, distance, merit: cand.stratum * t.maxDistance + distance, jitter: f.jitter });
      perSource[cand.index] = "candidate";
    }
    const base = { offset: 0, jitter: 0, selectionJitter: 0, rootDelay: 0, rootDispersion: 0, stratum: MAXSTRAT,
      referenceId: 0, leap: 3, newUpdate: false, peerTime: 0, survivors: 0, systemPeer: null, perSource };
    const fail = (status: "no-majority" | "no-candidates", extra: object): SelectionResult => {
      this.lastPeer = -1;
      this.lastRefid = 0;
      return { ...base, status, low: Infinity, high: -Infinity, falsetickers: 0, truechimers: 0, usable: work.length, ...extra };
    };
    if (work.length === 0) return fail("no-candidates", {});

    // Intersection.
    const m = work.length;
    const edges = work.flatMap((w) => [-1, 0, 1].map((type) => ({ value: w.offset + type * w.distance, type })))
      .sort((a, b) => a.value - b.value || a.type - b.type);
    let low = Infinity;
    let high = -Infinity;
    let allowed = 0;
    let found = false;
    for (let f = 0; 2 * f < m; f++) {
      let midpoints = 0;
      let chime = 0;
      low = Infinity;
      for (const e of edges) {
        if (e.type === 0) midpoints++;
        else if ((chime -= e.type) >= m - f) { low = e.value; break; }
      }
      chime = 0;
      high = -Infinity;
      for (let i = edges.length - 1; i >= 0; i--) {
        const e = edges[i]!;
        if (e.type === 0) midpoints++;
        else if ((chime += e.type) >= m - f) { high = e.value; break; }
      }
      allowed = f;
      if (midpoints <= f && low < high) { found = true; break; }
    }
    if (!found) return fail("no-majority", { low, high, falsetickers: allowed });
    const truechimers = work.filter((w) => w.offset >= low && w.offset <= high);
    for (const w of work) if (!truechimers.includes(w)) perSource[w.index] = "falseticker";
    if (truechimers.length < minCandidates) return fail("no-majority", { low, high, falsetickers: allowed, truechimers: truechimers.length });

    // Cluster.
    const survivors = [...truechimers].sort((a, b) => a.merit - b.merit);
    while (survivors.length > t.minSurvivors && survivors.length > 1) {
      const n = survivors.length;
      const mean = survivors.reduce((acc, w) => acc + w.offset, 0) / n;
      const minJitter = Math.min(...survivors.map((w) => w.jitter));
      let spread = 0;
      let worst = 0;
      let worstDev = -1;
      survivors.forEach((w, i) => {
        const dev = Math.abs(w.offset - mean);
        spread += dev * dev;
        if (dev >= worstDev) { worstDev = dev; worst = i; }
      });
      if (Math.sqrt((n * worstDev * worstDev + spread) / (n - 1)) < minJitter) break;
      perSource[survivors[worst]!.index] = "outlier";
      survivors.splice(worst, 1);
    }

    // System peer and combine.
    let peer = survivors[0]!;
    const kept = survivors.find((w, i) => i > 0 && w.index === this.lastPeer && w.cand.stratum === peer.cand.stratum);
    if (this.lastPeer >= 0 && kept) peer = kept;
    perSource[peer.index] = "selected";
    let y = 0, z = 0, w2 = 0;
    for (const w of survivors) {
      const inv = 1 / w.distance;
      const d = w.offset - peer.offset;
      y += inv;
      z += w.offset * inv;
      w2 += d * d * inv;
    }
    const offset = z / y;
    const selectionJitter = Math.sqrt(w2 / y);
    const pf = this.filters[peer.index]!;
    const since = now - pf.updated;
    const increment = Math.max(pf.disp + (since > 0 ? t.frequencyTolerance * since : 0) + peer.jitter + Math.abs(offset), t.minDispersion);
    const leaps = [1, 2].map((l) => survivors.filter((w) => w.cand.leap === l).length);
    const newUpdate = this.lastTime === undefined || pf.time > this.lastTime;
    if (newUpdate) this.lastTime = pf.time;
    this.lastPeer = peer.index;
    this.lastRefid = (peer.cand.refid ?? 0) >>> 0;
    return {
      status: "ok",
      systemPeer: peer.index,
      offset,
      jitter: Math.sqrt(selectionJitter * selectionJitter + peer.jitter * peer.jitter),
      selectionJitter,
      rootDelay: peer.cand.rootDelay + pf.delay,
      rootDispersion: peer.cand.rootDispersion + increment,
      stratum: Math.min(peer.cand.stratum + 1, MAXSTRAT),
      referenceId: this.lastRefid,
      leap: 2 * leaps[0]! > survivors.length ? 1 : 2 * leaps[1]! > survivors.length ? 2 : 0,
      newUpdate,
      peerTime: pf.time,
      low, high, falsetickers: allowed, usable: m, truechimers: truechimers.length, survivors: survivors.length,
      perSource,
    };
  }
}
