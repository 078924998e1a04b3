// The clock filter of one source (RFC 5905 §10, Appendix A.5.2 clock_filter()).
//
// State: an 8-stage shift register of samples (θ offset, δ delay, ε dispersion, t arrival time),
// kept as a ring in the source record (layout.ts, SRC_*). An empty stage is the dummy tuple
// (0, ∞, MAXDISP, 0): the RFC writes MAXDISP for its delay; we write +∞ so that a dummy can never
// look valid, whatever MAXDISP is configured to, and sorts after every real sample.
//
// Time. `now` and the sample's arrival time are seconds on the caller's monotonic timeline (e.g.
// since the daemon started): the kernel has no clock. Only differences of them are used.
//
// On each new sample (sel_add_sample) or missed poll (sel_expire: the dummy tuple, RFC §10 "if the
// three low-order bits of the reach register are zero"):
//
// 1. Ageing. Every stored sample's dispersion grows by PHI · (now − u), u the time the register was
//    last aged, and is clamped at MAXDISP: a sample's error bound widens at the worst-case frequency
//    error of the two clocks since it was taken. (The RFC skeleton ages by now − p.t, the time of
//    the last *used* sample, which counts the same interval again on every call; ntpd ages since
//    the last filter update, as here.) A stage whose dispersion reaches MAXDISP (≈ 12 days at
//    15 ppm from 0) is no longer valid. The new sample enters with ε + PHI · (now − t_sample).
//
// 2. Order. The valid stages are sorted by increasing delay (ties: the newer first). The minimum-
//    delay sample is the best: on a path of delay δ, the true offset lies in θ ± δ/2, so the
//    smallest δ bounds the error tightest, and queueing delay — the main cause of offset error —
//    only ever adds to δ.
//
// 3. Peer dispersion, over all 8 stages in that order (invalid ones last, at MAXDISP):
//        ε = Σ_{i=0..7} ε_i / 2^(i+1)
//    An empty register gives MAXDISP · (1 − 2^-8) ≈ 15.94 s; each valid sample shifted in roughly
//    halves it, so after ~4 good samples ε < 1 s = MAXDIST and the source becomes fit.
//
// 4. Peer jitter, the RMS difference of the n valid offsets from the best one:
//        ψ = sqrt( Σ_{j=1..n−1} (θ_j − θ_0)² / (n − 1) ),   ψ ≥ ρ (precision)
//    (The RFC prints 1/(n−1) outside the square root, which is not an RMS and not what its text
//    says; ntpd and this code divide inside.) n = 1 gives ψ = ρ.
//
// 5. Use rules (the RFC's "prime directive" and popcorn spike suppressor):
//    - stale: a sample is used at most once and never one older than the last used, so when the
//      best sample's time is not after the last used time t_p, the peer offset stays as it was;
//    - spike: if ε_prev < MAXDIST, |θ_0 − θ_p| > SGATE · ψ_prev and now − t_p < 2 · poll, the
//      sample is held back. The first condition is ntpd's: the jitter of a register holding fewer
//      than ~4 samples (ε ≥ MAXDIST) is no yardstick, so the gate waits until there is one. Two
//      changes from the RFC, which tests |θ_0 − θ_p| > SGATE · ψ and t_0 − t_p < 2 · poll:
//      ψ_prev is the jitter *before* this sample — the RFC compares against the jitter it has just
//      recomputed with the spike inside, and with the spike as θ_0 that jitter is about the spike's
//      own size, so the gate could never close; and the window runs to `now` — t_0 is the held-back
//      sample's own arrival time, which does not move, so the RFC's window never opens while that
//      sample stays the best one and the source would freeze for up to 8 polls. Here no sample is
//      held back for more than two poll intervals: a jump that is still the best estimate then is
//      a real change and gets through; one displaced by a better (lower-delay) sample never does.
//    The register keeps held-back samples either way; only the published θ, δ, t wait.
//    ε and ψ describe the register and are published on every call (so missed polls raise ε and
//    push an unreachable source out of selection), except that a spike does not publish its ψ
//    (the gate's threshold stays the jitter of the samples that were used).
//
// Cost: O(1) — at most 8 stages, an insertion sort of 8 indices (≤ 28 compares).

import { Tunables } from "./tunables";
import {
  NSTAGE, STAGE_BYTES, STAGE_OFFSET, STAGE_DELAY, STAGE_DISP, STAGE_TIME, SRC_STAGES,
  SRC_OFFSET, SRC_DELAY, SRC_DISP, SRC_JITTER, SRC_TIME, SRC_UPDATED, SRC_NEXT, SRC_FLAGS, SRC_VALID,
  SRC_SPIKES, SRC_INVALID, SRC_SAMPLES, SRC_FLAG_USED, SRC_FLAG_AGED,
  FILTER_UPDATED, FILTER_STALE, FILTER_SPIKE, FILTER_EMPTY, FILTER_INVALID,
} from "./layout";

// @ts-ignore: decorator
@inline
function stage(src: usize, i: i32): usize {
  return src + SRC_STAGES + <usize>i * STAGE_BYTES;
}

/** Empties the register and the peer variables (RFC 5905 clear()): start, step, or a new server. */
export function filterReset(src: usize, t: Tunables): void {
  for (let i = 0; i < NSTAGE; i++) writeStage(stage(src, i), 0.0, Infinity, t.maxDispersion, 0.0);
  store<f64>(src, 0.0, SRC_OFFSET);
  store<f64>(src, 0.0, SRC_DELAY);
  store<f64>(src, t.maxDispersion, SRC_DISP);
  store<f64>(src, t.precision, SRC_JITTER);
  store<f64>(src, 0.0, SRC_TIME);
  store<f64>(src, 0.0, SRC_UPDATED);
  store<u32>(src, 0, SRC_NEXT);
  store<u32>(src, 0, SRC_FLAGS);
  store<u32>(src, 0, SRC_VALID);
  store<u32>(src, 0, SRC_SPIKES);
  store<u32>(src, 0, SRC_INVALID);
  store<u32>(src, 0, SRC_SAMPLES);
}

// @ts-ignore: decorator
@inline
function writeStage(p: usize, offset: f64, delay: f64, disp: f64, time: f64): void {
  store<f64>(p, offset, STAGE_OFFSET);
  store<f64>(p, delay, STAGE_DELAY);
  store<f64>(p, disp, STAGE_DISP);
  store<f64>(p, time, STAGE_TIME);
}

/** Step 1: age every real stage to `now` (a `now` earlier than the last ageing ages nothing). */
function age(src: usize, now: f64, t: Tunables): void {
  const flags = load<u32>(src, SRC_FLAGS);
  if ((flags & SRC_FLAG_AGED) != 0) {
    const dt = now - load<f64>(src, SRC_UPDATED);
    if (!(dt > 0)) return; // not later (or NaN-free but equal): nothing to add, keep the later time
    const growth = t.frequencyTolerance * dt;
    for (let i = 0; i < NSTAGE; i++) {
      const p = stage(src, i);
      if (load<f64>(p, STAGE_DELAY) == Infinity) continue; // dummy
      const d = load<f64>(p, STAGE_DISP) + growth;
      store<f64>(p, d < t.maxDispersion ? d : t.maxDispersion, STAGE_DISP);
    }
  }
  store<f64>(src, now, SRC_UPDATED);
  store<u32>(src, flags | SRC_FLAG_AGED, SRC_FLAGS);
}

/** Shifts one tuple into the ring (the oldest stage is overwritten). */
function shiftIn(src: usize, offset: f64, delay: f64, disp: f64, time: f64): void {
  const next = <i32>load<u32>(src, SRC_NEXT);
  writeStage(stage(src, next), offset, delay, disp, time);
  store<u32>(src, <u32>((next + 1) & (NSTAGE - 1)), SRC_NEXT);
}

// @ts-ignore: decorator
@inline
function isValid(p: usize, t: Tunables): bool {
  return load<f64>(p, STAGE_DELAY) < Infinity && load<f64>(p, STAGE_DISP) < t.maxDispersion;
}

/**
 * Adds a measured sample. `poll` is the current poll interval in seconds (spike window = 2 · poll).
 * Returns FILTER_*. Malformed input (non-finite values, negative delay or dispersion) is counted in
 * SRC_INVALID and changes nothing else.
 */
export function filterAdd(src: usize, offset: f64, delay: f64, disp: f64, time: f64, now: f64, poll: f64, t: Tunables, order: usize): i32 {
  if (!isFinite(offset) || !isFinite(delay) || !isFinite(disp) || !isFinite(time) || !isFinite(now) || !isFinite(poll)
    || delay < 0 || disp < 0) {
    store<u32>(src, load<u32>(src, SRC_INVALID) + 1, SRC_INVALID);
    return FILTER_INVALID;
  }
  if (time > now) time = now; // a sample cannot arrive after now; a future time would block every later one
  age(src, now, t);
  const waited = now - time;
  let d = disp + t.frequencyTolerance * waited;
  if (d > t.maxDispersion) d = t.maxDispersion;
  shiftIn(src, offset, delay, d, time);
  store<u32>(src, load<u32>(src, SRC_SAMPLES) + 1, SRC_SAMPLES);
  return evaluate(src, now, poll, t, order);
}

/** A poll went unanswered: shift in the dummy tuple and re-evaluate (RFC 5905 §10, §13 poll()). */
export function filterExpire(src: usize, now: f64, poll: f64, t: Tunables, order: usize): i32 {
  if (!isFinite(now) || !isFinite(poll)) {
    store<u32>(src, load<u32>(src, SRC_INVALID) + 1, SRC_INVALID);
    return FILTER_INVALID;
  }
  age(src, now, t);
  shiftIn(src, 0.0, Infinity, t.maxDispersion, 0.0);
  return evaluate(src, now, poll, t, order);
}

/** Steps 2–5. `order` is 8 bytes of scratch for the sorted stage indices. */
function evaluate(src: usize, now: f64, poll: f64, t: Tunables, order: usize): i32 {
  // Ring order from newest to oldest, so that the stable insertion sort puts the newer of two
  // equal delays first. Invalid stages sort last (key +∞).
  const newest = <i32>load<u32>(src, SRC_NEXT) + NSTAGE - 1;
  let valid = 0;
  for (let k = 0; k < NSTAGE; k++) {
    const idx = (newest - k) & (NSTAGE - 1);
    const key = isValid(stage(src, idx), t) ? load<f64>(stage(src, idx), STAGE_DELAY) : Infinity;
    if (key < Infinity) valid++;
    let j = k;
    while (j > 0) {
      const prev = <i32>load<u8>(order + <usize>(j - 1));
      const prevKey = isValid(stage(src, prev), t) ? load<f64>(stage(src, prev), STAGE_DELAY) : Infinity;
      if (prevKey <= key) break;
      store<u8>(order + <usize>j, <u8>prev);
      j--;
    }
    store<u8>(order + <usize>j, <u8>idx);
  }
  store<u32>(src, <u32>valid, SRC_VALID);
  const previousDispersion = load<f64>(src, SRC_DISP);

  // Peer dispersion over all 8 stages (weights 1/2, 1/4, …, 1/256).
  let dispersion = 0.0;
  let weight = 0.5;
  for (let k = 0; k < NSTAGE; k++) {
    const e = load<f64>(stage(src, <i32>load<u8>(order + <usize>k)), STAGE_DISP);
    dispersion += (e < t.maxDispersion ? e : t.maxDispersion) * weight;
    weight *= 0.5;
  }
  store<f64>(src, dispersion, SRC_DISP);
  if (valid == 0) return FILTER_EMPTY;

  const best = stage(src, <i32>load<u8>(order));
  const theta0 = load<f64>(best, STAGE_OFFSET);
  let sum = 0.0;
  for (let k = 1; k < valid; k++) {
    const diff = load<f64>(stage(src, <i32>load<u8>(order + <usize>k)), STAGE_OFFSET) - theta0;
    sum += diff * diff;
  }
  let jitter = valid > 1 ? Math.sqrt(sum / <f64>(valid - 1)) : 0.0;
  if (!(jitter >= t.precision)) jitter = t.precision;

  const flags = load<u32>(src, SRC_FLAGS);
  const bestTime = load<f64>(best, STAGE_TIME);
  if ((flags & SRC_FLAG_USED) != 0) {
    const lastTime = load<f64>(src, SRC_TIME);
    if (bestTime <= lastTime) {
      store<f64>(src, jitter, SRC_JITTER);
      return FILTER_STALE;
    }
    const previousJitter = load<f64>(src, SRC_JITTER);
    if (previousDispersion < t.maxDistance && Math.abs(theta0 - load<f64>(src, SRC_OFFSET)) > t.spikeGate * previousJitter
      && now - lastTime < 2.0 * poll) {
      store<u32>(src, load<u32>(src, SRC_SPIKES) + 1, SRC_SPIKES);
      return FILTER_SPIKE;
    }
  }
  store<f64>(src, jitter, SRC_JITTER);
  store<f64>(src, theta0, SRC_OFFSET);
  store<f64>(src, load<f64>(best, STAGE_DELAY), SRC_DELAY);
  store<f64>(src, bestTime, SRC_TIME);
  store<u32>(src, flags | SRC_FLAG_USED, SRC_FLAGS);
  return FILTER_UPDATED;
}
