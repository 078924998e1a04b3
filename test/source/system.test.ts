// The system process (ts/protocol/system.ts) over the real selection kernel, and refid.ts.
import { describe, expect, it } from "vitest";
import { referenceIdForAddress } from "../../ts/protocol/refid.js";
import { unsynchronisedState } from "../../ts/protocol/server-policy.js";
import { SystemProcess, type ClockAction, type Discipline, type PeerView, type SystemUpdate } from "../../ts/protocol/system.js";
import type { ClientSample } from "../../ts/protocol/client-exchange.js";
import { core, newSelection, ntpAt } from "./support.js";

function peer(extra: Partial<PeerView> = {}): PeerView {
  return { reach: 0xff, stratum: 1, leap: 0, rootDelay: 0, rootDispersion: 0.001, serverRefid: 0x47505300, pollInterval: 16, condition: "reachable", ...extra };
}

function sample(offset: number, t: number, delay = 0.01): ClientSample {
  const header = core.parsePacket(core.buildHeader({
    leap: 0, version: 4, mode: 4, stratum: 1, poll: 4, precision: -20, rootDelay: 0, rootDispersion: 0,
    referenceId: 0, referenceTime: 0n, originTime: 0n, receiveTime: 0n, transmitTime: 0n,
  })).header!;
  return { header, offset, delay, dispersion: 1e-5, rootDistance: delay / 2, sentAt: ntpAt(t - delay), receivedAt: ntpAt(t) };
}

/**
 * Feeds `n` samples of `offset` to source i at t0, t0+1, …. Several are needed: RFC 5905's filter
 * counts empty stages at MAXDISP (16 s), so with one sample ε ≈ 7.9 s and the source is too far
 * away to select; with four ε < 1 s (why sources start with a burst of 4).
 */
function feed(system: SystemProcess, i: number, offset: number, t0: number, n = 5) {
  let last;
  for (let k = 0; k < n; k++) last = system.sample(i, sample(offset, t0 + k), t0 + k, t0 + k);
  return last!;
}

function recorder(reply: (u: SystemUpdate) => ClockAction[] = () => []): Discipline & { updates: SystemUpdate[]; ticks: number } {
  const d = {
    updates: [] as SystemUpdate[],
    ticks: 0,
    update(u: SystemUpdate) {
      d.updates.push(u);
      return reply(u);
    },
    tick() {
      d.ticks++;
      return [];
    },
  };
  return d;
}

describe("system process", () => {
  it("combines, reports words, and serves stratum + 1 with leap by majority of survivors", () => {
    const discipline = recorder();
    const system = new SystemProcess({ selection: newSelection(), minimumAgreeingSources: 2, discipline, fallback: () => unsynchronisedState(), precisionLog2: -20 });
    const a = system.attach(peer({ leap: 1 }), referenceIdForAddress("192.0.2.1"));
    const b = system.attach(peer({ leap: 1 }), referenceIdForAddress("192.0.2.2"));
    const c = system.attach(peer({ leap: 0 }), referenceIdForAddress("192.0.2.3"));
    const f = system.attach(peer(), referenceIdForAddress("192.0.2.4"));
    for (const [i, off] of [[a, 0.001], [b, 0.0012], [c, 0.0011], [f, 1.5]] as const) feed(system, i, off, 10);
    const round = system.select(15);
    expect(round.result.status).toBe("ok");
    expect(system.word(f)).toBe("falseticker");
    expect(discipline.updates.length).toBeGreaterThan(0);
    const u = discipline.updates.at(-1)!;
    expect(u.stratum).toBe(2);
    expect(u.leap).toBe(1); // 2 of 3 survivors announce an insert
    expect(u.offset).toBeGreaterThan(0.00099);
    expect(u.offset).toBeLessThan(0.00121);
    const served = system.serverState(15);
    expect(served).toMatchObject({ stratum: 2, leap: 1, precision: -20 });
    expect([0xc0000201, 0xc0000202, 0xc0000203]).toContain(served.referenceId);
    expect(served.referenceTime).toBe(ntpAt(system.lastUpdate!.time)); // the update's sample time as NTP
  });

  it("start-up settling: no update while an answering source is mid-burst; then at once; a silent one cannot hold it up", () => {
    const discipline = recorder();
    const system = new SystemProcess({ selection: newSelection(), minimumAgreeingSources: 2, discipline, fallback: () => unsynchronisedState(), precisionLog2: -20 });
    const [a, b, c] = [1, 2, 3].map((n) => system.attach(peer(), referenceIdForAddress(`192.0.2.${n}`))) as [number, number, number];
    // a and b complete their burst; c has answered only twice: a selection among a and b alone
    // would already be "ok", but the clock must not move on a partial population.
    feed(system, a, 0.001, 10);
    feed(system, b, 0.001, 10);
    feed(system, c, 0.001, 10, 2);
    expect(discipline.updates).toHaveLength(0);
    // c's burst completes: the owed update goes out in the same round, without waiting a poll.
    system.sample(c, sample(0.001, 12), 12, 12);
    system.sample(c, sample(0.001, 13), 13, 13);
    expect(discipline.updates).toHaveLength(1);

    // Another start: z stops answering mid-burst but still counts as reachable; STARTUP_SETTLE_LIMIT
    // (20 s) after the first round that could have updated (t = 13), the update goes ahead anyway.
    const d2 = recorder();
    const s2 = new SystemProcess({ selection: newSelection(), minimumAgreeingSources: 2, discipline: d2, fallback: () => unsynchronisedState(), precisionLog2: -20 });
    const [x, y, z] = [1, 2, 3].map((n) => s2.attach(peer(), referenceIdForAddress(`192.0.2.${n}`))) as [number, number, number];
    feed(s2, z, 0.001, 10, 1);
    feed(s2, x, 0.001, 10);
    feed(s2, y, 0.001, 10);
    expect(d2.updates).toHaveLength(0);
    feed(s2, x, 0.001, 30, 1);
    expect(d2.updates).toHaveLength(0);
    feed(s2, x, 0.001, 34, 1);
    expect(d2.updates).toHaveLength(1);
  });

  it("words: the source's own condition wins over selection (denied, unreachable, initialising, unsynchronised)", () => {
    const system = new SystemProcess({ selection: newSelection(), minimumAgreeingSources: 1, fallback: () => unsynchronisedState(), precisionLog2: -20 });
    const conditions = ["denied", "unreachable", "initialising", "unsynchronised"] as const;
    for (const condition of conditions) {
      const i = system.attach(peer({ condition }), 0);
      expect(system.word(i)).toBe(condition);
    }
  });

  it("observe mode (no discipline): updates happen, no clock action is ever produced", () => {
    const system = new SystemProcess({ selection: newSelection(), minimumAgreeingSources: 1, fallback: () => unsynchronisedState(), precisionLog2: -20 });
    const i = system.attach(peer(), 0x7f000001);
    feed(system, i, 0.3, 5);
    expect(system.lastUpdate?.offset).toBeCloseTo(0.3, 6);
    expect(system.select(10).actions).toEqual([]);
    expect(system.tick(10)).toEqual({ actions: [], stepped: false });
  });

  it("a step from the discipline empties every filter", () => {
    const discipline = recorder((u) => (Math.abs(u.offset) > 0.128 ? [{ kind: "step", offset: u.offset }] : []));
    const system = new SystemProcess({ selection: newSelection(), minimumAgreeingSources: 1, discipline, fallback: () => unsynchronisedState(), precisionLog2: -20 });
    const i = system.attach(peer(), 0);
    let stepped = false;
    for (let k = 0; k < 5 && !stepped; k++) stepped = system.sample(i, sample(0.5, 5 + k), 5 + k, 5 + k).round?.stepped ?? false;
    expect(stepped).toBe(true);
    expect(discipline.updates.length).toBe(1);
    expect(system.filterState(i).used).toBe(false);
    expect(system.filterState(i).sampleCount).toBe(0);
  });

  it("ages the served root dispersion by PHI and falls back once it passes MAXDIST", () => {
    const system = new SystemProcess({ selection: newSelection(), minimumAgreeingSources: 1, fallback: () => unsynchronisedState(), precisionLog2: -20 });
    expect(system.serverState(0)).toEqual(unsynchronisedState());
    const i = system.attach(peer(), 0);
    feed(system, i, 0.001, 1);
    const fresh = system.serverState(5);
    expect(fresh.stratum).toBe(2);
    expect(system.serverState(1005).rootDispersion).toBeCloseTo(fresh.rootDispersion + 15e-6 * 1000, 9);
    expect(system.serverState(5 + 70_000)).toEqual(unsynchronisedState()); // 15 ppm × 70000 s > 1 s
  });

  it("detached sources leave selection; indices are reused", () => {
    const system = new SystemProcess({ selection: newSelection(2), minimumAgreeingSources: 1, fallback: () => unsynchronisedState(), precisionLog2: -20 });
    const a = system.attach(peer(), 0);
    system.attach(peer(), 0);
    expect(() => system.attach(peer(), 0)).toThrow(RangeError);
    system.detach(a);
    expect(system.attach(peer(), 0)).toBe(a);
  });
});

describe("reference ids (RFC 5905 §7.3)", () => {
  it("IPv4: the address; IPv6: the first 4 bytes of MD5 of the 16 address bytes; names: 0", () => {
    expect(referenceIdForAddress("192.0.2.1")).toBe(0xc0000201);
    // MD5(::1) = cf404dc8…, computed independently: printf "\0…\0\1" (16 bytes) | md5sum
    expect(referenceIdForAddress("::1").toString(16)).toBe(MD5_LOOPBACK6_PREFIX);
    expect(referenceIdForAddress("fe80::1%eth0")).toBe(referenceIdForAddress("fe80::1"));
    expect(referenceIdForAddress("time.example")).toBe(0);
  });
});

const MD5_LOOPBACK6_PREFIX = "cf404dc8";
