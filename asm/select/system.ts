// The system process of RFC 5905 §11.2 over the per-source clock filters: fitness, root distance,
// selection → cluster → combine, the system peer and the system variables passed downstream.
// Exports are prefixed sel_. All memory is reserved once by sel_create; nothing here allocates
// afterwards.
//
// ==================================== ABI ====================================
//   sel_create(maxSources) → ctx (0 when maxSources is out of 1..MAX_SOURCES)
//   sel_region(ctx, id)    → address: 0 source records (maxSources × SOURCE_STRIDE),
//                            1 candidate table (maxSources × CAND_STRIDE, written by the façade),
//                            2 per-source states (maxSources × u8, STATE_*), 3 result (RESULT_BYTES)
//   sel_layout(id)         → the constants of layout.ts (the façade reads them all at start-up)
//   sel_configure(ctx, …tunables) → 1, or 0 (and nothing changed) when a value is out of range
//   sel_add_sample / sel_expire / sel_reset_source: the clock filter of one source (filter.ts)
//   sel_select(ctx, count, now, poll, minCandidates, localRefid) → SELECT_*; the result region and
//                            the per-source states hold the details
// Layouts: layout.ts. Times (now, sample times) are seconds on the caller's monotonic timeline.
//
// ==================================== Maths ====================================
// Root distance (Appendix A.5.5.2 root_dist()), the maximum error of a source relative to the
// primary reference, in seconds:
//     λ = max(MINDISP, Δ_r + δ) / 2 + Ε_r + ε + PHI · (now − u) + ψ
// Δ_r, Ε_r the server's root delay and dispersion (what it says about its own distance from the
// root), δ, ε, ψ our peer delay, dispersion and jitter of it (filter.ts), u the time ε was computed
// (the RFC writes the time of the last used sample; ε is aged up to the last filter update, so
// ageing from there does not count an interval twice). Half the round-trip delay bounds the
// one-way asymmetry error, dispersion bounds the clock-reading and frequency errors, jitter the
// noise.
//
// Fitness (A.5.5.3 accept()), a candidate is unusable when:
//   leap = 3 (server unsynchronised) · stratum ≥ 16 · not reachable · no sample used yet ·
//   root delay or dispersion not finite and ≥ 0 · λ > MAXDIST + PHI · poll (the threshold grows by
//   what one poll interval adds, so a source is not dropped between two polls) · loop: a server at
//   stratum > 1 whose reference ID is ours (localRefid: it synchronises to us) or that of our
//   current system peer (it shares our only upstream; counting it again would fake a majority).
//   Stratum is the peer variable: the caller maps a packet's stratum 0 (unspecified, KoD) to 16
//   (RFC 5905 §7.3); 0 is left for local reference clocks.
//
// System peer (A.5.5.1, end): the first survivor in merit order, except that the previous system
// peer is kept while it survives at the same stratum as the first (no clock hopping between equals).
//
// System variables (§11.2.3 Figure 25), p the system peer:
//     stratum  = stratum_p + 1
//     Δ        = Δ_r,p + δ_p
//     Ε        = Ε_r,p + max(MINDISP, ε_p + PHI · (now − u_p) + ψ_p + |Θ|)
//     Ψ        = sqrt(Ψ_s² + ψ_p²)                   (selection jitter and peer jitter)
//     refid    = the reference ID of the system peer (CAND_REFID)
//     leap     = the leap indicator held by more than half of the survivors, else 0
// MINDISP bounds Ε's growth per hop from below, so two servers at the same stratum cannot feed each
// other ever smaller distances. The leap rule is issue 5's: a single server cannot schedule a leap.
// "New update" (A.5.5.4 clock_update()): the discipline must not use the same sample twice, so
// RES_NEW_UPDATE is 1 only when the system peer's sample is newer than the last one reported.

import { reserve } from "../memory";
import { Tunables } from "./tunables";
import { filterAdd, filterExpire, filterReset } from "./filter";
import { Intersection, intersect } from "./intersect";
import { Combined, cluster, combine, sortByMerit } from "./cluster";
import {
  MAX_SOURCES, SOURCE_STRIDE, CAND_STRIDE, RESULT_BYTES, WORK_STRIDE, EDGE_STRIDE, NSTAGE,
  SRC_OFFSET, SRC_DELAY, SRC_DISP, SRC_JITTER, SRC_TIME, SRC_UPDATED, SRC_FLAGS, SRC_FLAG_USED, SRC_SAMPLES, SRC_INVALID,
  CAND_INDEX, CAND_STRATUM, CAND_LEAP, CAND_REACHABLE, CAND_REFID, CAND_SERVER_REFID, CAND_ROOT_DELAY, CAND_ROOT_DISP,
  WORK_SOURCE, WORK_CANDIDATE, WORK_OFFSET, WORK_DISTANCE, WORK_MERIT, WORK_JITTER, WORK_STRATUM, WORK_LEAP,
  RES_STATUS, RES_SYSTEM_PEER, RES_OFFSET, RES_JITTER, RES_SELECTION_JITTER, RES_ROOT_DELAY, RES_ROOT_DISP,
  RES_STRATUM, RES_REFID, RES_LEAP, RES_USABLE, RES_LOW, RES_HIGH, RES_FALSETICKERS, RES_TRUECHIMERS,
  RES_SURVIVORS, RES_NEW_UPDATE, RES_PEER_TIME,
  SELECT_OK, SELECT_NO_MAJORITY, SELECT_NO_CANDIDATES,
  STATE_UNUSABLE, STATE_FALSETICKER, STATE_OUTLIER, STATE_CANDIDATE, STATE_SELECTED,
  FILTER_BAD_INDEX,
} from "./layout";
import * as L from "./layout";

const MAXSTRAT: i32 = 16;
const LEAP_UNSYNCHRONISED: i32 = 3;

class Selection {
  maxSources: i32 = 0;
  sources: usize = 0;
  candidates: usize = 0;
  states: usize = 0;
  result: usize = 0;
  work: usize = 0;
  list: usize = 0;
  edges: usize = 0;
  order: usize = 0;
  tunables: Tunables = new Tunables();
  intersection: Intersection = new Intersection();
  combined: Combined = new Combined();
  /** The system peer of the last successful selection (−1: none) and the reference ID we took from it. */
  lastPeer: i32 = -1;
  lastRefid: u32 = 0;
  /** Arrival time of the last sample reported as a new update (valid when hasLastTime). */
  lastTime: f64 = 0;
  hasLastTime: bool = false;
}

// @ts-ignore: decorator
@inline
function sourceAt(k: Selection, index: i32): usize {
  return k.sources + <usize>index * SOURCE_STRIDE;
}

/** Creates a context for `maxSources` sources (1..MAX_SOURCES) and reserves all its memory. */
export function sel_create(maxSources: i32): usize {
  if (maxSources < 1 || maxSources > MAX_SOURCES) return 0;
  const k = new Selection();
  k.maxSources = maxSources;
  k.sources = reserve(<usize>maxSources * SOURCE_STRIDE);
  k.candidates = reserve(<usize>maxSources * CAND_STRIDE);
  k.states = reserve(<usize>maxSources);
  k.result = reserve(RESULT_BYTES);
  k.work = reserve(<usize>maxSources * WORK_STRIDE);
  k.list = reserve(<usize>maxSources << 2);
  k.edges = reserve(<usize>maxSources * 3 * EDGE_STRIDE);
  k.order = reserve(<usize>NSTAGE);
  for (let i = 0; i < maxSources; i++) filterReset(sourceAt(k, i), k.tunables);
  writeUnsynchronised(k, SELECT_NO_CANDIDATES, 0);
  return changetype<usize>(k);
}

export function sel_region(ctx: usize, id: i32): usize {
  const k = changetype<Selection>(ctx);
  switch (id) {
    case 0: return k.sources;
    case 1: return k.candidates;
    case 2: return k.states;
    case 3: return k.result;
    default: return 0;
  }
}

/** The constants of layout.ts, by id (the order of the façade's LAYOUT table). */
export function sel_layout(id: i32): i32 {
  switch (id) {
    case 0: return <i32>L.SOURCE_STRIDE;
    case 1: return <i32>L.STAGE_BYTES;
    case 2: return <i32>L.STAGE_OFFSET;
    case 3: return <i32>L.STAGE_DELAY;
    case 4: return <i32>L.STAGE_DISP;
    case 5: return <i32>L.STAGE_TIME;
    case 6: return <i32>L.SRC_STAGES;
    case 7: return <i32>L.SRC_OFFSET;
    case 8: return <i32>L.SRC_DELAY;
    case 9: return <i32>L.SRC_DISP;
    case 10: return <i32>L.SRC_JITTER;
    case 11: return <i32>L.SRC_TIME;
    case 12: return <i32>L.SRC_UPDATED;
    case 13: return <i32>L.SRC_NEXT;
    case 14: return <i32>L.SRC_FLAGS;
    case 15: return <i32>L.SRC_VALID;
    case 16: return <i32>L.SRC_SPIKES;
    case 17: return <i32>L.SRC_INVALID;
    case 18: return <i32>L.SRC_SAMPLES;
    case 19: return <i32>L.SRC_FLAG_USED;
    case 20: return <i32>L.CAND_STRIDE;
    case 21: return <i32>L.CAND_INDEX;
    case 22: return <i32>L.CAND_STRATUM;
    case 23: return <i32>L.CAND_LEAP;
    case 24: return <i32>L.CAND_REACHABLE;
    case 25: return <i32>L.CAND_REFID;
    case 26: return <i32>L.CAND_SERVER_REFID;
    case 27: return <i32>L.CAND_ROOT_DELAY;
    case 28: return <i32>L.CAND_ROOT_DISP;
    case 29: return <i32>L.RES_STATUS;
    case 30: return <i32>L.RES_SYSTEM_PEER;
    case 31: return <i32>L.RES_OFFSET;
    case 32: return <i32>L.RES_JITTER;
    case 33: return <i32>L.RES_SELECTION_JITTER;
    case 34: return <i32>L.RES_ROOT_DELAY;
    case 35: return <i32>L.RES_ROOT_DISP;
    case 36: return <i32>L.RES_STRATUM;
    case 37: return <i32>L.RES_REFID;
    case 38: return <i32>L.RES_LEAP;
    case 39: return <i32>L.RES_USABLE;
    case 40: return <i32>L.RES_LOW;
    case 41: return <i32>L.RES_HIGH;
    case 42: return <i32>L.RES_FALSETICKERS;
    case 43: return <i32>L.RES_TRUECHIMERS;
    case 44: return <i32>L.RES_SURVIVORS;
    case 45: return <i32>L.RES_NEW_UPDATE;
    case 46: return <i32>L.RES_PEER_TIME;
    case 47: return L.NSTAGE;
    case 48: return L.MAX_SOURCES;
    default: return -1;
  }
}

/** Replaces the tunables (units in tunables.ts). Returns 0 and changes nothing if one is out of range. */
export function sel_configure(ctx: usize, frequencyTolerance: f64, maxDispersion: f64, minDispersion: f64,
  maxDistance: f64, spikeGate: f64, minSurvivors: i32, precision: f64): i32 {
  if (!(frequencyTolerance >= 0 && frequencyTolerance <= 1e-3)) return 0;
  if (!(maxDispersion > 0 && isFinite(maxDispersion))) return 0;
  if (!(minDispersion >= 0 && minDispersion <= maxDispersion)) return 0;
  if (!(maxDistance > 0 && isFinite(maxDistance))) return 0;
  if (!(spikeGate > 0)) return 0; // +∞ disables the gate
  if (minSurvivors < 1 || minSurvivors > MAX_SOURCES) return 0;
  if (!(precision > 0 && precision <= 1)) return 0;
  const k = changetype<Selection>(ctx);
  const t = k.tunables;
  t.frequencyTolerance = frequencyTolerance;
  t.maxDispersion = maxDispersion;
  t.minDispersion = minDispersion;
  t.maxDistance = maxDistance;
  t.spikeGate = spikeGate;
  t.minSurvivors = minSurvivors;
  t.precision = precision;
  // Sources never touched since their reset start from the new values (MAXDISP, ρ) too.
  for (let i = 0; i < k.maxSources; i++) {
    const src = sourceAt(k, i);
    if (load<u32>(src, SRC_FLAGS) == 0 && load<u32>(src, SRC_SAMPLES) == 0 && load<u32>(src, SRC_INVALID) == 0) filterReset(src, t);
  }
  return 1;
}

export function sel_reset_source(ctx: usize, index: i32): i32 {
  const k = changetype<Selection>(ctx);
  if (index < 0 || index >= k.maxSources) return FILTER_BAD_INDEX;
  filterReset(sourceAt(k, index), k.tunables);
  if (k.lastPeer == index) k.lastPeer = -1;
  return 0;
}

/** Forgets the system peer and the last update time (after a clock step, with every source reset). */
export function sel_reset_system(ctx: usize): void {
  const k = changetype<Selection>(ctx);
  k.lastPeer = -1;
  k.lastRefid = 0;
  k.hasLastTime = false;
  writeUnsynchronised(k, SELECT_NO_CANDIDATES, 0);
}

export function sel_add_sample(ctx: usize, index: i32, offset: f64, delay: f64, dispersion: f64, time: f64, now: f64, poll: f64): i32 {
  const k = changetype<Selection>(ctx);
  if (index < 0 || index >= k.maxSources) return FILTER_BAD_INDEX;
  return filterAdd(sourceAt(k, index), offset, delay, dispersion, time, now, poll, k.tunables, k.order);
}

export function sel_expire(ctx: usize, index: i32, now: f64, poll: f64): i32 {
  const k = changetype<Selection>(ctx);
  if (index < 0 || index >= k.maxSources) return FILTER_BAD_INDEX;
  return filterExpire(sourceAt(k, index), now, poll, k.tunables, k.order);
}

/** λ of a source record with the server's root delay and dispersion, at `now`. */
function rootDistance(src: usize, rootDelay: f64, rootDisp: f64, now: f64, t: Tunables): f64 {
  const delay = rootDelay + load<f64>(src, SRC_DELAY);
  const since = now - load<f64>(src, SRC_UPDATED);
  return (delay > t.minDispersion ? delay : t.minDispersion) * 0.5 + rootDisp + load<f64>(src, SRC_DISP)
    + (since > 0 ? t.frequencyTolerance * since : 0.0) + load<f64>(src, SRC_JITTER);
}

/**
 * Runs selection, cluster and combine over the first `count` entries of the candidate table.
 * `poll`: the system poll interval (s); `minCandidates`: CMIN, the fewest truechimers that may set
 * the clock (values below 1 count as 1); `localRefid`: our own reference ID as servers would see
 * it (0: unknown).
 */
export function sel_select(ctx: usize, count: i32, now: f64, poll: f64, minCandidates: i32, localRefid: u32): i32 {
  const k = changetype<Selection>(ctx);
  const t = k.tunables;
  memory.fill(k.states, STATE_UNUSABLE, <usize>k.maxSources);
  if (count < 0) count = 0;
  if (count > k.maxSources) count = k.maxSources;
  if (!isFinite(now)) now = 0;
  if (!(poll >= 0 && isFinite(poll))) poll = 0;
  if (minCandidates < 1) minCandidates = 1;
  const threshold = t.maxDistance + t.frequencyTolerance * poll;

  // Fitness: build one work entry per usable candidate.
  let m = 0;
  for (let c = 0; c < count; c++) {
    const cand = k.candidates + <usize>c * CAND_STRIDE;
    const index = load<i32>(cand, CAND_INDEX);
    if (index < 0 || index >= k.maxSources) continue;
    if (load<u8>(k.states + <usize>index) != STATE_UNUSABLE) continue; // duplicate
    const src = sourceAt(k, index);
    const stratum = load<i32>(cand, CAND_STRATUM);
    const leap = load<i32>(cand, CAND_LEAP);
    const rootDelay = load<f64>(cand, CAND_ROOT_DELAY);
    const rootDisp = load<f64>(cand, CAND_ROOT_DISP);
    if ((load<u32>(src, SRC_FLAGS) & SRC_FLAG_USED) == 0) continue;
    if (leap < 0 || leap >= LEAP_UNSYNCHRONISED || stratum < 0 || stratum >= MAXSTRAT) continue;
    if (load<u32>(cand, CAND_REACHABLE) == 0) continue;
    if (!(rootDelay >= 0 && isFinite(rootDelay) && rootDisp >= 0 && isFinite(rootDisp))) continue;
    const serverRefid = load<u32>(cand, CAND_SERVER_REFID);
    if (stratum > 1 && serverRefid != 0 && (serverRefid == localRefid || (k.lastPeer >= 0 && serverRefid == k.lastRefid))) continue;
    const lambda = rootDistance(src, rootDelay, rootDisp, now, t);
    if (!(lambda <= threshold)) continue;
    const w = k.work + <usize>m * WORK_STRIDE;
    store<i32>(w, index, WORK_SOURCE);
    store<i32>(w, c, WORK_CANDIDATE);
    store<f64>(w, load<f64>(src, SRC_OFFSET), WORK_OFFSET);
    store<f64>(w, lambda, WORK_DISTANCE);
    store<f64>(w, <f64>stratum * t.maxDistance + lambda, WORK_MERIT);
    store<f64>(w, load<f64>(src, SRC_JITTER), WORK_JITTER);
    store<i32>(w, stratum, WORK_STRATUM);
    store<i32>(w, leap, WORK_LEAP);
    store<u8>(k.states + <usize>index, STATE_CANDIDATE);
    m++;
  }
  if (m == 0) return fail(k, SELECT_NO_CANDIDATES, 0);

  // Selection: the intersection interval and the truechimers.
  const x = k.intersection;
  intersect(k.work, m, k.edges, x);
  store<f64>(k.result, x.low, RES_LOW);
  store<f64>(k.result, x.high, RES_HIGH);
  store<i32>(k.result, x.allowed, RES_FALSETICKERS);
  if (!x.found) {
    store<i32>(k.result, 0, RES_TRUECHIMERS);
    return fail(k, SELECT_NO_MAJORITY, m);
  }
  let n = 0;
  for (let w = 0; w < m; w++) {
    const e = k.work + <usize>w * WORK_STRIDE;
    const theta = load<f64>(e, WORK_OFFSET);
    if (theta >= x.low && theta <= x.high) {
      store<i32>(k.list + (<usize>n << 2), w);
      n++;
    } else {
      store<u8>(k.states + <usize>load<i32>(e, WORK_SOURCE), STATE_FALSETICKER);
    }
  }
  store<i32>(k.result, n, RES_TRUECHIMERS);
  if (n < minCandidates) return fail(k, SELECT_NO_MAJORITY, m);

  // Cluster.
  sortByMerit(k.work, k.list, n);
  const s = cluster(k.work, k.list, n, t.minSurvivors);
  for (let i = s; i < n; i++) {
    store<u8>(k.states + <usize>load<i32>(workAt(k, i), WORK_SOURCE), STATE_OUTLIER);
  }

  // System peer: the first survivor, or the previous system peer if it survives at the same stratum.
  let peer = workAt(k, 0);
  if (k.lastPeer >= 0) {
    for (let i = 1; i < s; i++) {
      const e = workAt(k, i);
      if (load<i32>(e, WORK_SOURCE) == k.lastPeer && load<i32>(e, WORK_STRATUM) == load<i32>(peer, WORK_STRATUM)) {
        peer = e;
        break;
      }
    }
  }
  const peerIndex = load<i32>(peer, WORK_SOURCE);
  const peerSrc = sourceAt(k, peerIndex);
  const peerCand = k.candidates + <usize>load<i32>(peer, WORK_CANDIDATE) * CAND_STRIDE;
  store<u8>(k.states + <usize>peerIndex, STATE_SELECTED);

  // Combine and the system variables.
  const cmb = k.combined;
  combine(k.work, k.list, s, load<f64>(peer, WORK_OFFSET), cmb);
  const peerJitter = load<f64>(peer, WORK_JITTER);
  const since = now - load<f64>(peerSrc, SRC_UPDATED);
  let increment = load<f64>(peerSrc, SRC_DISP) + (since > 0 ? t.frequencyTolerance * since : 0.0) + peerJitter + Math.abs(cmb.offset);
  if (increment < t.minDispersion) increment = t.minDispersion;
  let leap1 = 0;
  let leap2 = 0;
  for (let i = 0; i < s; i++) {
    const l = load<i32>(workAt(k, i), WORK_LEAP);
    if (l == 1) leap1++;
    else if (l == 2) leap2++;
  }
  const peerTime = load<f64>(peerSrc, SRC_TIME);
  const isNew = !k.hasLastTime || peerTime > k.lastTime;
  if (isNew) {
    k.lastTime = peerTime;
    k.hasLastTime = true;
  }
  const refid = load<u32>(peerCand, CAND_REFID);
  k.lastPeer = peerIndex;
  k.lastRefid = refid;

  const r = k.result;
  store<i32>(r, SELECT_OK, RES_STATUS);
  store<i32>(r, peerIndex, RES_SYSTEM_PEER);
  store<f64>(r, cmb.offset, RES_OFFSET);
  store<f64>(r, Math.sqrt(cmb.selectionJitter * cmb.selectionJitter + peerJitter * peerJitter), RES_JITTER);
  store<f64>(r, cmb.selectionJitter, RES_SELECTION_JITTER);
  store<f64>(r, load<f64>(peerCand, CAND_ROOT_DELAY) + load<f64>(peerSrc, SRC_DELAY), RES_ROOT_DELAY);
  store<f64>(r, load<f64>(peerCand, CAND_ROOT_DISP) + increment, RES_ROOT_DISP);
  const stratum = load<i32>(peer, WORK_STRATUM) + 1;
  store<i32>(r, stratum < MAXSTRAT ? stratum : MAXSTRAT, RES_STRATUM);
  store<u32>(r, refid, RES_REFID);
  store<i32>(r, 2 * leap1 > s ? 1 : 2 * leap2 > s ? 2 : 0, RES_LEAP);
  store<i32>(r, m, RES_USABLE);
  store<i32>(r, s, RES_SURVIVORS);
  store<i32>(r, isNew ? 1 : 0, RES_NEW_UPDATE);
  store<f64>(r, peerTime, RES_PEER_TIME);
  return SELECT_OK;
}

// @ts-ignore: decorator
@inline
function workAt(k: Selection, i: i32): usize {
  return k.work + <usize>load<i32>(k.list + (<usize>i << 2)) * WORK_STRIDE;
}

/** Writes the unsynchronised system variables (no system peer) with `status`. */
function writeUnsynchronised(k: Selection, status: i32, usable: i32): void {
  const r = k.result;
  store<i32>(r, status, RES_STATUS);
  store<i32>(r, -1, RES_SYSTEM_PEER);
  store<f64>(r, 0.0, RES_OFFSET);
  store<f64>(r, 0.0, RES_JITTER);
  store<f64>(r, 0.0, RES_SELECTION_JITTER);
  store<f64>(r, 0.0, RES_ROOT_DELAY);
  store<f64>(r, 0.0, RES_ROOT_DISP);
  store<i32>(r, MAXSTRAT, RES_STRATUM);
  store<u32>(r, 0, RES_REFID);
  store<i32>(r, LEAP_UNSYNCHRONISED, RES_LEAP);
  store<i32>(r, usable, RES_USABLE);
  store<i32>(r, 0, RES_SURVIVORS);
  store<i32>(r, 0, RES_NEW_UPDATE);
  store<f64>(r, 0.0, RES_PEER_TIME);
  if (status == SELECT_NO_CANDIDATES) {
    store<f64>(r, Infinity, RES_LOW);
    store<f64>(r, -Infinity, RES_HIGH);
    store<i32>(r, 0, RES_FALSETICKERS);
    store<i32>(r, 0, RES_TRUECHIMERS);
  }
}

/** A selection that cannot set the clock: no system peer until one is found again. */
function fail(k: Selection, status: i32, usable: i32): i32 {
  k.lastPeer = -1;
  k.lastRefid = 0;
  writeUnsynchronised(k, status, usable);
  return status;
}
