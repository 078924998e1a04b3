// Shared helpers for the selection tests: one WASM instance per test file, a fresh selection
// context per test, and builders for samples and candidates.
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createSelection, type Candidate, type Selection, type SelectionOptions } from "../../ts/core/selection.js";

export const { wasm } = await loadFreshCore();

/** A new selection context in this file's instance (each reserves its own memory, once). */
export function newSelection(options: Partial<SelectionOptions> = {}): Selection {
  return createSelection(wasm, { maxSources: 8, ...options });
}

export const PHI = 15e-6;

/** A usable stratum-1 candidate with zero root delay and dispersion unless overridden. */
export function candidate(index: number, extra: Partial<Candidate> = {}): Candidate {
  return { index, stratum: 1, rootDelay: 0, rootDispersion: 0, reachable: true, leap: 0, ...extra };
}

/**
 * Gives source `index` peer variables (offset, delay, dispersion 0, jitter = precision): `count`
 * identical samples of dispersion 0 arriving at `now` (no ageing, so ε is exactly 0; the first is
 * used, the others are not newer and leave it in place).
 */
export function feed(sel: Selection, index: number, offset: number, delay: number, now: number, count = 8): void {
  for (let k = 0; k < count; k++) sel.addSample(index, { offset, delay, dispersion: 0, time: now }, now);
}

const DELAY = 0.01;

/**
 * Makes source `index` a candidate with offset θ and root distance λ at `now` exactly (up to
 * rounding): feed() gives ε = 0 and ψ = ρ, the path delay is 10 ms, so
 * λ = max(MINDISP, 0 + 0.01)/2 + Ε_r + 0 + 0 + ρ and Ε_r = λ − 0.005 − ρ. Needs λ > 0.005 + ρ.
 */
export function place(sel: Selection, index: number, theta: number, lambda: number, now: number, extra: Partial<Candidate> = {}): Candidate {
  // (ρ is sel.tunables.precision, which sets ψ here.)
  const rootDispersion = lambda - DELAY / 2 - sel.tunables.precision;
  if (!(rootDispersion >= 0)) throw new Error(`λ = ${lambda} is below what place() can express`);
  sel.resetSource(index);
  feed(sel, index, theta, DELAY, now);
  return candidate(index, { rootDispersion, ...extra });
}
