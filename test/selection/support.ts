// Shared helpers for the selection tests: one WASM instance per test file, a fresh selection
// context per test, and builders for samples and candidates.
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createSelection, type Candidate, type Selection, type SelectionOptions } from "../../ts/core/selection.js";

const { wasm } = await loadFreshCore();

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
