// The client loop (ts/daemon/client.ts) end to end in virtual time: real sources, pool, selection
// kernel and system process over a scripted network (virtual-net.ts).
import { describe, expect, it } from "vitest";
import type { SourceConfig } from "../../ts/config/index.js";
import { NtpClient } from "../../ts/daemon/client.js";
import { StaticResolver } from "../../ts/daemon/resolver.js";
import { KeFailure, SimKeDialer } from "../../ts/daemon/nts-ke-client.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { unsynchronisedState, type ServerSystemState } from "../../ts/protocol/server-policy.js";
import type { ClockAction, Discipline, SystemUpdate } from "../../ts/protocol/system.js";
import { isSourceStateWord } from "../../ts/protocol/status.js";
import { core, randomSource, wasm } from "./support.js";
import { VirtualNet, VirtualScheduler } from "./virtual-net.js";

function server(address: string, port = 123, extra: Partial<SourceConfig> = {}): SourceConfig {
  return {
    mode: "server", host: address, port, address: `${address}:${port}`,
    pollIntervalLimits: { min: 1, max: 3 }, initialPollInterval: 1, ntpVersion: 4, ...extra,
  } as SourceConfig;
}

function setup(sources: SourceConfig[], options: { minimumAgreeingSources?: number; discipline?: Discipline; resolver?: StaticResolver } = {}) {
  const scheduler = new VirtualScheduler();
  const net = new VirtualNet(scheduler);
  const served: ServerSystemState[] = [];
  const actions: ClockAction[] = [];
  const client = new NtpClient({
    core, wasm, sources, minimumAgreeingSources: options.minimumAgreeingSources ?? 2,
    transport: net, resolver: options.resolver ?? new StaticResolver(), precisionLog2: -20, logger: silentLogger(),
    fallback: () => unsynchronisedState(-20), discipline: options.discipline,
    onClockActions: (a) => actions.push(...a), onSystemState: (s) => served.push(s),
    scheduler, random: randomSource(5), maxSources: 8,
  });
  return { scheduler, net, client, served, actions };
}

describe("client loop (virtual time)", () => {
  it("selects agreeing servers, marks a 2 s falseticker, serves stratum + 1 with the peer's address as refid", async () => {
    const { scheduler, net, client, served, actions } = setup([server("192.0.2.1"), server("192.0.2.2"), server("192.0.2.3")]);
    net.add("192.0.2.1", 123, { offset: 0.0010 });
    net.add("192.0.2.2", 123, { offset: 0.0012 });
    net.add("192.0.2.3", 123, { offset: 2 });
    client.start();
    await scheduler.run(60);
    const r = client.report();
    if (process.env.DEBUG_CLIENT) console.log(JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? String(v) : v), 1));
    expect(r.status).toBe("ok");
    expect(r.observeOnly).toBe(true);
    expect(actions).toEqual([]); // observe mode: no clock action, ever
    const words = Object.fromEntries(r.sources.map((s) => [s.address, s.state]));
    expect(words["192.0.2.3"]).toBe("falseticker");
    expect(["selected", "candidate"]).toContain(words["192.0.2.1"]);
    expect(["selected", "candidate"]).toContain(words["192.0.2.2"]);
    expect(r.lastUpdate?.offset).toBeGreaterThan(0.0009);
    expect(r.lastUpdate?.offset).toBeLessThan(0.0013);
    const peer = r.sources[r.systemPeer!]!;
    expect(peer.state).toBe("selected");
    const last = served.at(-1)!;
    expect(last.stratum).toBe(3);
    expect(last.leap).toBe(0);
    const [a, b, c, d] = peer.address.split(".").map(Number) as [number, number, number, number];
    expect(last.referenceId).toBe(((a << 24) | (b << 16) | (c << 8) | d) >>> 0);
    for (const s of r.sources) expect(s.reach).toBe(0xff);
    expect(net.opened).toBe(net.requests); // one fresh socket per request
    // The management report's view (ts/protocol/status.ts): same words, addresses with ports.
    const table = client.sourceTable();
    expect(table.map((s) => [s.address, s.state, s.kind])).toEqual(r.sources.map((s) => [`${s.address}:123`, s.state, "server"]));
    for (const s of table) {
      expect(isSourceStateWord(s.state)).toBe(true);
      expect(s.stratum).toBe(2);
      expect(s.rootDistance).toBeGreaterThan(0);
      expect(s.lastSample?.delay).toBeCloseTo(0.01, 6);
    }
    const tracking = client.tracking();
    expect(tracking.referenceName).toBe(peer.name);
    expect(tracking.systemTimeOffset).toBeCloseTo(-r.lastUpdate!.offset, 12); // observe mode: clock − true = −Θ
    expect(tracking.updateIntervalSeconds).toBeGreaterThan(0);
    client.stop();
  });

  it("hands updates to the discipline, applies a step by restarting every source with a burst", async () => {
    const updates: SystemUpdate[] = [];
    let stepped = false;
    const discipline: Discipline = {
      update(u) {
        updates.push(u);
        if (!stepped && Math.abs(u.offset) > 0.128) {
          stepped = true;
          return [{ kind: "step", offset: u.offset }];
        }
        return [];
      },
      tick: () => [],
    };
    const { scheduler, net, client, actions } = setup([server("192.0.2.1"), server("192.0.2.2")], { discipline });
    net.add("192.0.2.1", 123, { offset: 0.5 });
    net.add("192.0.2.2", 123, { offset: 0.5 });
    client.start();
    await scheduler.run(10);
    expect(actions).toEqual([{ kind: "step", offset: expect.closeTo(0.5, 3) as number }]);
    expect(updates.length).toBeGreaterThan(0);
    expect(updates[0]!.stratum).toBe(3);
    expect(updates[0]!.survivors).toBe(2);
    // After the step the filters were emptied: the sources restart with a burst (2 s apart).
    const before = net.requests;
    await scheduler.run(10 + 6.5);
    expect(net.requests - before).toBeGreaterThanOrEqual(2 * 3);
    client.stop();
  });

  it("reports a denied (KoD DENY) and an unreachable server in words", async () => {
    const { scheduler, net, client } = setup([server("192.0.2.1"), server("192.0.2.2"), server("192.0.2.3")]);
    net.add("192.0.2.1", 123, { offset: 0, kiss: "DENY" });
    net.add("192.0.2.2", 123, { offset: 0, silent: true });
    net.add("192.0.2.3", 123, { offset: 0 });
    client.start();
    await scheduler.run(200);
    const words = Object.fromEntries(client.report().sources.map((s) => [s.address, s.state]));
    expect(words).toEqual({ "192.0.2.1": "denied", "192.0.2.2": "unreachable", "192.0.2.3": "candidate" });
    expect(client.report().status).toBe("no-majority"); // 1 truechimer < minimum-agreeing-sources 2
    client.stop();
  });

  it("pool: keeps `count` members and replaces an unreachable one with a fresh address", async () => {
    const resolver = new StaticResolver({
      "pool.test": ["198.51.100.1", "198.51.100.2", "198.51.100.3"].map((address) => ({ address, family: 4 as const })),
    });
    const pool = { ...server("pool.test"), mode: "pool", count: 2, ignore: [], address: "pool.test" } as SourceConfig;
    const { scheduler, net, client } = setup([pool], { resolver, minimumAgreeingSources: 1 });
    net.add("198.51.100.1", 123, { offset: 0.001 });
    net.add("198.51.100.2", 123, { offset: 0.001, silent: true });
    net.add("198.51.100.3", 123, { offset: 0.001 });
    client.start();
    await scheduler.run(5);
    expect(client.report().sources.map((s) => s.address)).toEqual(["198.51.100.1", "198.51.100.2"]);
    // .2 never answers: unreachable after 8 polls (≤ 8 s apart here), then replaced after the
    // pool's minimum look-up interval (60 s since the first look-up).
    await scheduler.run(200);
    const r = client.report();
    expect(r.sources.map((s) => s.address).sort()).toEqual(["198.51.100.1", "198.51.100.3"]);
    expect(r.sources.every((s) => s.name.startsWith("pool.test ("))).toBe(true);
    client.stop();
  });

  it("an nts source whose NTS-KE fails sends no plain NTP (no fallback) and says nts-failed", async () => {
    // The NTS paths themselves are in test/nts-source; here only: no unauthenticated request, ever.
    const nts = { ...server("192.0.2.9", 4460), mode: "nts", certificateAuthority: undefined } as SourceConfig;
    const scheduler = new VirtualScheduler();
    const net = new VirtualNet(scheduler);
    net.add("192.0.2.9", 4460, { offset: 0 });
    net.add("192.0.2.9", 123, { offset: 0 });
    const client = new NtpClient({
      core, wasm, sources: [nts], minimumAgreeingSources: 1, transport: net, resolver: new StaticResolver(), precisionLog2: -20,
      logger: silentLogger(), fallback: () => unsynchronisedState(-20), scheduler, random: randomSource(5), maxSources: 8,
      nts: { dialer: new SimKeDialer(() => new KeFailure("network", "connection refused")) },
    });
    client.start();
    await scheduler.run(30);
    expect(net.requests).toBe(0);
    expect(client.report().sources.map((s) => [s.mode, s.state, s.counters.samples])).toEqual([["nts", "nts-failed", 0]]);
    client.stop();
  });
});
