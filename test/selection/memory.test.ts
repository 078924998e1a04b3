// The kernel allocates nothing after creation: two reserve() calls around a workload of filter
// updates and selections are as far apart as two back-to-back ones (the stub allocator only bumps).
import { describe, expect, it } from "vitest";
import { newSelection, place, wasm } from "./support.js";

describe("selection memory", () => {
  it("no allocation inside WASM per call", () => {
    const sel = newSelection({ maxSources: 16 });
    const a = wasm.reserve(16);
    const b = wasm.reserve(16);
    const step = b - a;
    const cands = Array.from({ length: 16 }, (_, i) => place(sel, i, 0.001 * (i % 5) - 0.002, 0.01 + 0.001 * i, 100));
    for (let n = 0; n < 2000; n++) {
      const t = 100 + n * 16;
      sel.addSample(n % 16, { offset: 0.001 * ((n * 7) % 5) - 0.002, delay: 0.01 + (n % 3) * 0.001, dispersion: 1e-5, time: t }, t);
      if (n % 50 === 0) sel.expire((n + 3) % 16, t);
      sel.select(t, cands, { minCandidates: 2 });
    }
    sel.resetSource(3);
    sel.resetSystem();
    const c = wasm.reserve(16);
    expect(c - b).toBe(step);
  });
});
