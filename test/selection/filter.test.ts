// The clock filter (asm/select/filter.ts): minimum-delay choice, dispersion and jitter on
// hand-computed registers, ageing, the use-once rule, the popcorn spike gate, missed polls.
import { describe, expect, it } from "vitest";
import { PHI, newSelection } from "./support.js";

const EMPTY_STAGES = 16 * (1 / 16 + 1 / 32 + 1 / 64 + 1 / 128 + 1 / 256); // five dummies after three samples

describe("clock filter", () => {
  it("starts empty: dispersion MAXDISP, no sample in use", () => {
    const sel = newSelection();
    const s = sel.sourceState(0);
    expect(s).toMatchObject({ used: false, sampleCount: 0, dispersion: 16, samples: 0 });
    expect(sel.stages(0).every((st) => !st.valid && st.delay === Infinity && st.dispersion === 16)).toBe(true);
  });

  it("one sample: used at once, ε = ε₀/2 + 16·(1/4 + … + 1/256), ψ = precision", () => {
    const sel = newSelection();
    expect(sel.addSample(0, { offset: 0.01, delay: 0.02, dispersion: 0.004, time: 10 }, 10)).toBe("updated");
    const s = sel.sourceState(0);
    expect(s).toMatchObject({ used: true, offset: 0.01, delay: 0.02, time: 10, sampleCount: 1, samples: 1 });
    expect(s.dispersion).toBeCloseTo(0.004 / 2 + 16 * (0.5 - 1 / 256), 14);
    expect(s.jitter).toBe(2 ** -20);
  });

  it("chooses the minimum-delay sample and never reuses an older one", () => {
    const sel = newSelection();
    const add = (offset: number, delay: number, t: number) => sel.addSample(0, { offset, delay, dispersion: 0.001, time: t }, t);
    expect(add(0.010, 0.020, 0)).toBe("updated");
    expect(sel.sourceState(0).offset).toBe(0.010);
    expect(add(0.012, 0.010, 64)).toBe("updated"); // lower delay: the new best
    expect(sel.sourceState(0)).toMatchObject({ offset: 0.012, delay: 0.010, time: 64 });
    expect(add(0.009, 0.030, 128)).toBe("stale"); // the best is still the sample of t = 64, already used
    expect(sel.sourceState(0)).toMatchObject({ offset: 0.012, delay: 0.010, time: 64 });
    expect(add(0.011, 0.005, 192)).toBe("updated");
    expect(sel.sourceState(0)).toMatchObject({ offset: 0.011, delay: 0.005, time: 192 });
  });

  it("hand-computed dispersion and jitter with ageing (three samples, 64 s apart)", () => {
    const sel = newSelection();
    sel.addSample(0, { offset: 0.010, delay: 0.020, dispersion: 0.001, time: 0 }, 0);
    sel.addSample(0, { offset: 0.012, delay: 0.010, dispersion: 0.001, time: 64 }, 64);
    sel.addSample(0, { offset: 0.009, delay: 0.030, dispersion: 0.002, time: 128 }, 128);
    // Aged dispersions at t = 128: 0.001 + 128·PHI, 0.001 + 64·PHI, 0.002.
    const stages = sel.stages(0); // newest first
    expect(stages[0]!.dispersion).toBeCloseTo(0.002, 15);
    expect(stages[1]!.dispersion).toBeCloseTo(0.001 + 64 * PHI, 15);
    expect(stages[2]!.dispersion).toBeCloseTo(0.001 + 128 * PHI, 15);
    // Sorted by delay: t=64 (δ 0.010), t=0 (0.020), t=128 (0.030), then five dummies.
    const epsilon = (0.001 + 64 * PHI) / 2 + (0.001 + 128 * PHI) / 4 + 0.002 / 8 + EMPTY_STAGES;
    // Jitter relative to θ₀ = 0.012: sqrt(((−0.002)² + (−0.003)²) / 2).
    const psi = Math.sqrt((0.002 ** 2 + 0.003 ** 2) / 2);
    const s = sel.sourceState(0);
    expect(s.dispersion).toBeCloseTo(epsilon, 14);
    expect(s.jitter).toBeCloseTo(psi, 15);
    expect(s.jitter).toBeCloseTo(0.00254951, 8);
    expect(s.sampleCount).toBe(3);
  });

  it("dispersion of a full register of fresh samples: Σ εᵢ/2^(i+1) over the delay order", () => {
    const sel = newSelection();
    // Eight samples at the same instant (no ageing), delays 8..1 ms, dispersions 1..8 ms.
    for (let i = 0; i < 8; i++) sel.addSample(0, { offset: i * 1e-4, delay: (8 - i) * 1e-3, dispersion: (i + 1) * 1e-3, time: 100 }, 100);
    // Delay order: i = 7, 6, …, 0 → dispersions 8, 7, …, 1 ms.
    let expected = 0;
    for (let k = 0; k < 8; k++) expected += (8 - k) * 1e-3 / 2 ** (k + 1);
    expect(sel.sourceState(0).dispersion).toBeCloseTo(expected, 15);
    // Jitter relative to θ₀ = 7e-4 over the other seven offsets.
    let sum = 0;
    for (let i = 0; i < 7; i++) sum += (i * 1e-4 - 7e-4) ** 2;
    expect(sel.sourceState(0).jitter).toBeCloseTo(Math.sqrt(sum / 7), 15);
  });

  it("ages every stored sample by PHI per second between updates, up to MAXDISP", () => {
    const sel = newSelection();
    sel.addSample(0, { offset: 0, delay: 0.01, dispersion: 0, time: 0 }, 0);
    sel.addSample(0, { offset: 0, delay: 0.02, dispersion: 0, time: 1000 }, 1000);
    expect(sel.stages(0)[1]!.dispersion).toBeCloseTo(1000 * PHI, 15);
    // A sample that waited before being added grows from its arrival time.
    sel.addSample(0, { offset: 0, delay: 0.03, dispersion: 0.001, time: 1500 }, 2000);
    const st = sel.stages(0);
    expect(st[0]!.dispersion).toBeCloseTo(0.001 + 500 * PHI, 15);
    expect(st[1]!.dispersion).toBeCloseTo(1000 * PHI, 15);
    expect(st[2]!.dispersion).toBeCloseTo(2000 * PHI, 15);
    // After ~12 days (16 s / 15 ppm ≈ 1.07e6 s) a sample reaches MAXDISP and is no longer valid.
    sel.expire(0, 2000 + 1.1e6);
    expect(sel.stages(0).slice(1).every((x) => !x.valid)).toBe(true);
    expect(sel.sourceState(0).sampleCount).toBe(0);
  });

  it("a `now` earlier than the last update ages nothing", () => {
    const sel = newSelection();
    sel.addSample(0, { offset: 0, delay: 0.01, dispersion: 0, time: 100 }, 100);
    sel.addSample(0, { offset: 0, delay: 0.02, dispersion: 0, time: 50 }, 50);
    expect(sel.stages(0)[1]!.dispersion).toBe(0);
    expect(sel.sourceState(0).updated).toBe(100);
  });

  it("missed polls: each dummy roughly doubles ε until the source is past MAXDIST", () => {
    const sel = newSelection();
    for (let t = 0; t < 8 * 64; t += 64) sel.addSample(0, { offset: 0, delay: 0.01, dispersion: 0.001, time: t }, t);
    const before = sel.sourceState(0).dispersion;
    expect(before).toBeLessThan(0.01);
    let t = 8 * 64;
    const seen: number[] = [];
    for (let k = 0; k < 8; k++, t += 64) {
      expect(sel.expire(0, t)).toBe(k < 7 ? "stale" : "empty");
      seen.push(sel.sourceState(0).dispersion);
    }
    for (let k = 1; k < 8; k++) expect(seen[k]!).toBeGreaterThan(seen[k - 1]!);
    expect(seen[4]!).toBeGreaterThan(1); // > MAXDIST after five missed polls
    expect(seen[7]!).toBeCloseTo(16 * (1 - 2 ** -8), 12);
  });

  it("popcorn spike: held back against the previous jitter, released after two poll intervals", () => {
    const sel = newSelection();
    const poll = 64;
    let t = 0;
    for (let k = 0; k < 8; k++, t += poll) {
      const offset = (k % 2 ? 1 : -1) * 1e-4;
      sel.addSample(0, { offset, delay: 0.02, dispersion: 1e-4, time: t }, t, poll);
    }
    const settled = sel.sourceState(0);
    expect(settled.jitter).toBeGreaterThan(1e-4);
    expect(settled.jitter).toBeLessThan(3e-4);
    // A jump of 50 ms carried by the lowest delay yet: the best sample, but a spike.
    expect(sel.addSample(0, { offset: 0.05, delay: 0.01, dispersion: 1e-4, time: t }, t, poll)).toBe("spike");
    expect(sel.sourceState(0)).toMatchObject({ offset: settled.offset, time: settled.time, spikes: 1, jitter: settled.jitter });
    // Less than two poll intervals after the last used sample: still held back.
    const heldUntil = settled.time + 2 * poll;
    expect(sel.addSample(0, { offset: 1e-4, delay: 0.02, dispersion: 1e-4, time: heldUntil - 1 }, heldUntil - 1, poll)).toBe("spike");
    expect(sel.sourceState(0).spikes).toBe(2);
    // Two poll intervals on it is still the best estimate: a real change, used.
    expect(sel.addSample(0, { offset: 1e-4, delay: 0.02, dispersion: 1e-4, time: heldUntil + 1 }, heldUntil + 1, poll)).toBe("updated");
    expect(sel.sourceState(0).offset).toBe(0.05);
  });

  it("popcorn spike displaced by a better sample is never used", () => {
    const sel = newSelection();
    let t = 0;
    for (let k = 0; k < 8; k++, t += 64) sel.addSample(0, { offset: (k % 2 ? 1 : -1) * 1e-4, delay: 0.02, dispersion: 1e-4, time: t }, t);
    expect(sel.addSample(0, { offset: -0.08, delay: 0.01, dispersion: 1e-4, time: t }, t)).toBe("spike");
    expect(sel.addSample(0, { offset: 2e-4, delay: 0.005, dispersion: 1e-4, time: t + 64 }, t + 64)).toBe("updated");
    expect(sel.sourceState(0).offset).toBe(2e-4);
  });

  it("spikeGate = Infinity disables the gate", () => {
    const sel = newSelection({ spikeGate: Infinity });
    let t = 0;
    for (let k = 0; k < 8; k++, t += 64) sel.addSample(0, { offset: 0, delay: 0.02, dispersion: 1e-4, time: t }, t);
    expect(sel.addSample(0, { offset: 1, delay: 0.01, dispersion: 1e-4, time: t }, t)).toBe("updated");
  });

  it("malformed samples are counted and dropped without touching the register", () => {
    const sel = newSelection();
    sel.addSample(0, { offset: 0.001, delay: 0.01, dispersion: 0, time: 1 }, 1);
    const before = sel.stages(0);
    for (const bad of [
      { offset: NaN, delay: 0.01, dispersion: 0, time: 2 },
      { offset: Infinity, delay: 0.01, dispersion: 0, time: 2 },
      { offset: 0, delay: -0.001, dispersion: 0, time: 2 },
      { offset: 0, delay: 0.01, dispersion: -1, time: 2 },
      { offset: 0, delay: 0.01, dispersion: 0, time: NaN },
    ]) expect(sel.addSample(0, bad, 2)).toBe("invalid");
    expect(sel.addSample(0, { offset: 0, delay: 0.01, dispersion: 0, time: 2 }, NaN)).toBe("invalid");
    expect(sel.expire(0, Infinity)).toBe("invalid");
    expect(sel.stages(0)).toEqual(before);
    expect(sel.sourceState(0)).toMatchObject({ invalid: 7, samples: 1, offset: 0.001 });
  });

  it("a sample stamped after `now` is taken as arriving now", () => {
    const sel = newSelection();
    sel.addSample(0, { offset: 0, delay: 0.01, dispersion: 0, time: 1e9 }, 10);
    expect(sel.sourceState(0).time).toBe(10);
    // So a later sample is not blocked as "older than the last used".
    expect(sel.addSample(0, { offset: 0, delay: 0.005, dispersion: 0, time: 20 }, 20)).toBe("updated");
  });

  it("resetSource empties one source and leaves the others", () => {
    const sel = newSelection();
    sel.addSample(0, { offset: 0.001, delay: 0.01, dispersion: 0, time: 1 }, 1);
    sel.addSample(1, { offset: 0.002, delay: 0.01, dispersion: 0, time: 1 }, 1);
    sel.resetSource(0);
    expect(sel.sourceState(0)).toMatchObject({ used: false, sampleCount: 0, dispersion: 16 });
    expect(sel.sourceState(1)).toMatchObject({ used: true, offset: 0.002 });
  });

  it("rejects source indices out of range (a caller bug) with RangeError", () => {
    const sel = newSelection({ maxSources: 4 });
    expect(() => sel.addSample(4, { offset: 0, delay: 0, dispersion: 0, time: 0 }, 0)).toThrow(RangeError);
    expect(() => sel.sourceState(-1)).toThrow(RangeError);
    expect(() => sel.expire(1.5, 0)).toThrow(RangeError);
  });
});
