// Cluster and combine (asm/select/cluster.ts, system.ts): hand-computed weighted averages, the
// system peer and the system variables passed downstream, pruning, fitness and the use-once rule.
import { describe, expect, it } from "vitest";
import { candidate, feed, newSelection, place } from "./support.js";

const NOW = 5000;
const RHO = 2 ** -20;

describe("combine: hand-computed", () => {
  it("three stratum-1 survivors: Θ = Σθ/λ / Σ1/λ, Ψs weighted to the system peer, Δ, Ε, stratum", () => {
    const sel = newSelection();
    const cands = [
      place(sel, 0, 0.010, 0.01, NOW, { refid: 0xc0000201 }),
      place(sel, 1, 0.012, 0.02, NOW),
      place(sel, 2, 0.016, 0.04, NOW),
    ];
    const r = sel.select(NOW, cands);
    expect(r.status).toBe("ok");
    expect(r.perSource.slice(0, 3)).toEqual(["selected", "candidate", "candidate"]);
    // Weights 1/λ = 100, 50, 25 (Σ 175): Θ = (1 + 0.6 + 0.4) / 175.
    expect(r.offset).toBeCloseTo(2 / 175, 14);
    // Ψs² = (0 · 100 + 0.002² · 50 + 0.006² · 25) / 175; Ψ = sqrt(Ψs² + ψ_p²), ψ_p = ρ.
    const psiS = Math.sqrt((0.002 ** 2 * 50 + 0.006 ** 2 * 25) / 175);
    expect(r.selectionJitter).toBeCloseTo(psiS, 14);
    expect(r.jitter).toBeCloseTo(Math.sqrt(psiS ** 2 + RHO ** 2), 14);
    // System peer = source 0 (lowest merit 1·MAXDIST + λ): stratum 1 + 1, its refid, Δ = Δ_r + δ.
    expect(r).toMatchObject({ systemPeer: 0, stratum: 2, referenceId: 0xc0000201, leap: 0, survivors: 3, truechimers: 3 });
    expect(r.rootDelay).toBeCloseTo(0 + 0.01, 15);
    // Ε = Ε_r + max(MINDISP, ε_p + PHI·0 + ψ_p + |Θ|) with Ε_r = λ − δ/2 − ρ (see place()).
    const rootDispersionOfPeer = 0.01 - 0.005 - RHO;
    expect(r.rootDispersion).toBeCloseTo(rootDispersionOfPeer + (0 + RHO + 2 / 175), 14);
  });

  it("Ε's increment never drops below MINDISP", () => {
    const sel = newSelection();
    const r = sel.select(NOW, [place(sel, 0, 0.0001, 0.01, NOW)]);
    expect(r.rootDispersion).toBeCloseTo(0.01 - 0.005 - RHO + 0.005, 14);
  });

  it("ages the system peer's dispersion into Ε and λ between updates", () => {
    const sel = newSelection();
    const cand = place(sel, 0, 0.02, 0.01, NOW);
    const later = NOW + 100;
    const r = sel.select(later, [cand]);
    const phiDt = 15e-6 * 100;
    expect(r.rootDispersion).toBeCloseTo(0.01 - 0.005 - RHO + (phiDt + RHO + 0.02), 14);
    // λ grew by PHI·100 too: the interval is θ ± (0.01 + PHI·100).
    expect(r.high - r.low).toBeCloseTo(2 * (0.01 + phiDt), 14);
  });

  it("root delay adds the path delay to the server's root delay", () => {
    const sel = newSelection();
    feed(sel, 0, 0.001, 0.03, NOW);
    const r = sel.select(NOW, [candidate(0, { rootDelay: 0.02, rootDispersion: 0.001, stratum: 3 })]);
    expect(r.rootDelay).toBeCloseTo(0.05, 15);
    expect(r.stratum).toBe(4);
  });
});

describe("cluster: ranking and pruning", () => {
  it("stratum dominates the ranking: a stratum-2 source with a shorter distance is not the system peer", () => {
    const sel = newSelection();
    const r = sel.select(NOW, [
      place(sel, 0, 0.001, 0.006, NOW, { stratum: 2 }),
      place(sel, 1, 0.002, 0.05, NOW, { stratum: 1 }),
    ]);
    expect(r.systemPeer).toBe(1);
    expect(r.stratum).toBe(2);
  });

  it("a local reference clock (stratum 0) gives stratum 1", () => {
    const sel = newSelection();
    expect(sel.select(NOW, [place(sel, 0, 0, 0.01, NOW, { stratum: 0 })]).stratum).toBe(1);
  });

  it("prunes the offsets furthest from the mean until NMIN survivors remain", () => {
    const sel = newSelection();
    const r = sel.select(NOW, [
      place(sel, 0, 0, 0.01, NOW),
      place(sel, 1, 0.0001, 0.01, NOW),
      place(sel, 2, -0.0001, 0.01, NOW),
      place(sel, 3, 0.003, 0.01, NOW),
      place(sel, 4, -0.004, 0.01, NOW),
    ]);
    expect(r.status).toBe("ok");
    expect(r.perSource.slice(0, 5)).toEqual(["selected", "candidate", "candidate", "outlier", "outlier"]);
    expect(r).toMatchObject({ truechimers: 5, survivors: 3 });
    expect(r.offset).toBeCloseTo(0, 15); // equal weights: the mean of 0, ±0.0001
  });

  it("minSurvivors (NMIN) is a tunable", () => {
    const sel = newSelection({ minSurvivors: 1 });
    const cands = [place(sel, 0, 0, 0.01, NOW), place(sel, 1, 0.0002, 0.01, NOW), place(sel, 2, 0.003, 0.01, NOW)];
    const r = sel.select(NOW, cands);
    // Round 1: 0.003 is furthest; round 2: of 0 and 0.0002 the tie goes to the lower-ranked (later) one.
    expect(r.survivors).toBe(1);
    expect(r.perSource.slice(0, 3)).toEqual(["selected", "outlier", "outlier"]);
    expect(r.offset).toBe(0);
  });

  it("stops pruning when the selection jitter is below the best peer jitter", () => {
    // ρ = 10 ms makes every peer jitter 10 ms; the offsets differ by ≤ 4 ms, so nothing is pruned.
    const sel = newSelection({ precision: 0.01 });
    const r = sel.select(NOW, [0, 0.001, -0.001, 0.003, -0.004].map((theta, i) => place(sel, i, theta, 0.03, NOW)));
    expect(r.survivors).toBe(5);
    expect(r.perSource.slice(0, 5).filter((s) => s === "outlier")).toEqual([]);
  });

  it("keeps the previous system peer while it survives at the same stratum (no clock hopping)", () => {
    const sel = newSelection();
    const a = place(sel, 0, 0.001, 0.01, NOW);
    const b = place(sel, 1, 0.001, 0.02, NOW);
    expect(sel.select(NOW, [a, b]).systemPeer).toBe(0);
    // Source 1 now ranks first, but 0 is kept.
    const b2 = place(sel, 1, 0.001, 0.006, NOW);
    expect(sel.select(NOW, [a, b2]).systemPeer).toBe(0);
    // Different stratum: the first in rank takes over.
    expect(sel.select(NOW, [{ ...a, stratum: 2 }, b2]).systemPeer).toBe(1);
  });
});

describe("system variables: leap, use-once, loops, fitness", () => {
  it("takes the leap indicator only from a majority of the survivors", () => {
    const sel = newSelection();
    const cands = [0, 1, 2].map((i) => place(sel, i, 0.0001 * i, 0.01, NOW));
    expect(sel.select(NOW, cands.map((c, i) => ({ ...c, leap: i === 0 ? 1 : 0 }))).leap).toBe(0);
    expect(sel.select(NOW, cands.map((c, i) => ({ ...c, leap: i < 2 ? 1 : 0 }))).leap).toBe(1);
    expect(sel.select(NOW, cands.map((c) => ({ ...c, leap: 2 }))).leap).toBe(2);
  });

  it("reports a new update once per new system peer sample", () => {
    const sel = newSelection();
    const cand = place(sel, 0, 0.001, 0.01, NOW);
    expect(sel.select(NOW, [cand]).newUpdate).toBe(true);
    expect(sel.select(NOW + 1, [cand]).newUpdate).toBe(false);
    expect(sel.addSample(0, { offset: 0.001, delay: 0.005, dispersion: 0, time: NOW + 64 }, NOW + 64)).toBe("updated");
    const r = sel.select(NOW + 64, [cand]);
    expect(r.newUpdate).toBe(true);
    expect(r.peerTime).toBe(NOW + 64);
    sel.resetSystem();
    expect(sel.select(NOW + 65, [cand]).newUpdate).toBe(true);
  });

  it("loop check: a server synchronised to us, or to our system peer, is unusable", () => {
    const sel = newSelection();
    const peer = place(sel, 0, 0, 0.01, NOW, { refid: 0x0a000001 });
    const other = place(sel, 1, 0, 0.01, NOW, { stratum: 2, serverRefid: 0x0a000001 });
    // First selection: no system peer yet, so `other` is usable.
    expect(sel.select(NOW, [peer, other]).perSource[1]).toBe("candidate");
    // Now 0x0a000001 is our reference: `other` follows our system peer.
    expect(sel.select(NOW, [peer, other]).perSource[1]).toBe("unusable");
    const loop = place(sel, 2, 0, 0.01, NOW, { stratum: 3, serverRefid: 0x7f000001 });
    expect(sel.select(NOW, [peer, loop], { localRefid: 0x7f000001 }).perSource[2]).toBe("unusable");
    // Stratum 1 servers carry an ASCII code, never an address: no loop check.
    const s1 = place(sel, 3, 0, 0.01, NOW, { stratum: 1, serverRefid: 0x7f000001 });
    expect(sel.select(NOW, [peer, s1], { localRefid: 0x7f000001 }).perSource[3]).toBe("candidate");
  });

  it("fitness: unsynchronised, bad stratum, unreachable, too far, malformed, never sampled", () => {
    const sel = newSelection();
    const good = place(sel, 0, 0, 0.01, NOW);
    feed(sel, 1, 0, 0.01, NOW);
    const cases = [
      { ...good, leap: 3 },
      { ...good, stratum: 16 },
      { ...good, stratum: -1 },
      { ...good, reachable: false },
      { ...good, rootDispersion: 2 },
      { ...good, rootDelay: NaN },
      { ...good, rootDispersion: -1 },
      { ...good, rootDelay: Infinity },
    ];
    for (const c of cases) {
      const r = sel.select(NOW, [c]);
      expect(r.status, JSON.stringify(c)).toBe("no-candidates");
      expect(r.perSource[0]).toBe("unusable");
    }
    expect(sel.select(NOW, [candidate(5)]).status).toBe("no-candidates"); // no sample yet
    expect(sel.select(NOW, []).status).toBe("no-candidates");
    expect(sel.select(NOW, [candidate(1, { stratum: 2 })]).status).toBe("ok");
  });

  it("distance threshold: MAXDIST + PHI · poll", () => {
    const sel = newSelection();
    const cand = place(sel, 0, 0, 1.0005, NOW);
    expect(sel.select(NOW, [cand], { pollInterval: 64 }).status).toBe("ok"); // 1 + 15e-6·64 = 1.00096
    expect(sel.select(NOW, [cand], { pollInterval: 16 }).status).toBe("no-candidates"); // 1.00024
    sel.configure({ maxDistance: 2 });
    expect(sel.select(NOW, [cand], { pollInterval: 16 }).status).toBe("ok");
  });

  it("a duplicate candidate index counts once", () => {
    const sel = newSelection();
    const a = place(sel, 0, 0, 0.01, NOW);
    const r = sel.select(NOW, [a, a, a]);
    expect(r).toMatchObject({ status: "ok", usable: 1, truechimers: 1 });
  });

  it("rejects bad tunables and caller bugs with RangeError", () => {
    const sel = newSelection();
    expect(() => sel.configure({ maxDistance: 0 })).toThrow(RangeError);
    expect(() => sel.configure({ minSurvivors: 0.5 })).toThrow(RangeError);
    expect(() => sel.configure({ frequencyTolerance: NaN })).toThrow(RangeError);
    expect(sel.tunables.maxDistance).toBe(1); // unchanged after a refused configure
    expect(() => newSelection({ maxSources: 0 })).toThrow(RangeError);
    expect(() => newSelection({ maxSources: 257 })).toThrow(RangeError);
    expect(() => sel.select(NOW, [candidate(8)])).toThrow(RangeError);
    expect(() => sel.select(NOW, [], { minCandidates: 0 })).toThrow(RangeError);
  });
});
