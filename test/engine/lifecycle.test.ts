// Batch engine lifecycle: workers share one port (SO_REUSEPORT), a crashed worker is restarted and
// counted without losing counts, the system state reaches every worker, stop drains what is queued
// and closes every socket.
import dgram from "node:dgram";
import { afterAll, describe, expect, it } from "vitest";
import { LinuxUdpSocket } from "../../ts/daemon/linux-udp.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { MetricsRegistry } from "../../ts/observe/metrics.js";
import { BatchServer } from "../../ts/daemon/batch-engine.js";
import { Client, batchEngineAvailable, fields, request, until } from "./support.js";

const STATE = { leap: 0 as const, stratum: 8, precision: -20, referenceId: 0x7f7f0101, rootDelay: 0, rootDispersion: 0.001, referenceTime: 0n };
const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(workers: number, metrics?: MetricsRegistry) {
  const server = new BatchServer({ logger: silentLogger(), workers, summaryIntervalSeconds: 0, restartInitialMs: 50, ...(metrics ? { metrics } : {}) });
  cleanup.push(() => server.close());
  const [address] = await server.listen([{ address: "127.0.0.1", port: 0, policy: {} }]);
  server.setSystemState(STATE);
  return { server, port: Number(address!.split(":")[1]) };
}

/** `n` requests from `sockets` clients (distinct source ports spread over the workers). */
async function exchange(port: number, n: number, sockets = 8): Promise<Client[]> {
  const clients = await Promise.all(Array.from({ length: sockets }, () => Client.open("127.0.0.1")));
  cleanup.push(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < n; i++) await clients[i % sockets]!.send(request({ transmit: BigInt(i + 1) }), port);
  return clients;
}
const replies = (clients: Client[]) => clients.reduce((n, c) => n + c.replies.length, 0);

describe.skipIf(!batchEngineAvailable)("batch engine lifecycle", () => {
  it("serves from several workers on one port and applies state changes in every worker", async () => {
    const metrics = new MetricsRegistry();
    const { server, port } = await start(2, metrics);
    const clients = await exchange(port, 200);
    expect(await until(() => replies(clients) === 200)).toBe(true);
    for (const c of clients) for (const r of c.replies) expect(fields(r).stratum).toBe(8);

    server.setSystemState({ ...STATE, stratum: 3, referenceId: "GPS" });
    const more = await exchange(port, 200);
    expect(await until(() => replies(more) === 200)).toBe(true);
    for (const c of more) for (const r of c.replies) expect(fields(r).stratum).toBe(3);

    const e = server.engineStats()[0]!;
    expect(e.running).toBe(2);
    await until(() => server.engineStats()[0]!.counters.received === 400, 1000);
    expect(metrics.total("ntp_server_received_packets_total")).toBe(400);
    expect(metrics.total("ntp_server_sent_packets_total")).toBe(400);
    expect(metrics.total("ntp_server_workers")).toBe(2);
    expect(metrics.render()).toContain("ntp_server_worker_restarts_total");
  });

  it("applies a reloaded policy in every worker, and refuses one that needs bigger tables", async () => {
    const { server, port } = await start(2);
    const before = await exchange(port, 40);
    expect(await until(() => replies(before) === 40)).toBe(true);
    for (const c of before) for (const r of c.replies) expect(fields(r).stratum).toBe(8);

    server.configure(0, { denylist: { filter: ["127.0.0.0/8"], action: "deny" } });
    const after = await exchange(port, 40);
    expect(await until(() => replies(after) === 40)).toBe(true);
    for (const c of after) for (const r of c.replies) expect(fields(r).referenceId).toBe(0x44454e59); // KoD DENY
    expect(() => server.configure(0, { rateLimit: { interval: 1, burst: 2, kodOneIn: 0, tableSize: 1 << 22 } })).toThrow(/larger tables/);
  });

  it("sleeps when idle: two workers with no traffic use almost no CPU", async () => {
    await start(2);
    await new Promise((r) => setTimeout(r, 200));
    const before = process.cpuUsage();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    const used = process.cpuUsage(before);
    const share = (used.user + used.system) / 1000 / (Date.now() - t0);
    // Busy-polling workers would show ≈ 2.0 (two cores); waiting in poll() shows ≈ 0.
    expect(share).toBeLessThan(0.2);
  });

  it("serves IPv6 (::1), with kernel timestamps and the IPv6 access list", async () => {
    const server = new BatchServer({ logger: silentLogger(), workers: 1, summaryIntervalSeconds: 0 });
    cleanup.push(() => server.close());
    const [address] = await server.listen([{ address: "::1", port: 0, policy: { denylist: { filter: ["::1/128"], action: "deny" } } }]);
    server.setSystemState(STATE);
    expect(address).toMatch(/^\[::1\]:\d+$/);
    const port = Number(address!.slice(address!.lastIndexOf(":") + 1));
    const socket = dgram.createSocket("udp6");
    cleanup.push(() => socket.close());
    const got: Buffer[] = [];
    socket.on("message", (m) => got.push(m));
    await new Promise<void>((r) => socket.bind(0, "::1", r));
    for (let i = 0; i < 5; i++) socket.send(request({ transmit: BigInt(i + 1) }), port, "::1");
    expect(await until(() => got.length === 5)).toBe(true);
    for (const r of got) expect(fields(r).referenceId).toBe(0x44454e59); // KoD "DENY": the v6 address was parsed
    await until(() => server.engineStats()[0]!.counters.received === 5, 1000);
    const c = server.engineStats()[0]!.counters;
    expect(c.kod_deny).toBe(5);
    expect(c.rx_kernel_timestamps).toBe(5);
  });

  it("restarts a worker that crashed, counts it, and keeps its counts", async () => {
    const { server, port } = await start(2);
    const first = await exchange(port, 100);
    expect(await until(() => replies(first) === 100)).toBe(true);
    expect(await until(() => server.engineStats()[0]!.counters.received === 100, 1000)).toBe(true);

    server.crashWorker(0, 0);
    expect(await until(() => server.engineStats()[0]!.running === 1)).toBe(true);
    expect(server.engineStats()[0]!.counters.received).toBe(100); // nothing lost with the dead worker
    // Sent while worker 0 is down: its share waits in its socket (kept open) for the replacement.
    const second = await exchange(port, 100);
    expect(await until(() => server.engineStats()[0]!.restarts === 1 && server.engineStats()[0]!.running === 2)).toBe(true);
    expect(await until(() => replies(second) === 100)).toBe(true);
    expect(await until(() => server.engineStats()[0]!.counters.received === 200, 1000)).toBe(true);
    expect(server.stats()[0]!.sent).toBe(200);
  });

  it("on a wildcard address answers from the address each client sent to", async () => {
    const server = new BatchServer({ logger: silentLogger(), workers: 1, summaryIntervalSeconds: 0 });
    cleanup.push(() => server.close());
    const [address] = await server.listen([{ address: "0.0.0.0", port: 0, policy: {} }]);
    server.setSystemState(STATE);
    const port = Number(address!.split(":")[1]);
    // A connected UDP socket accepts datagrams only from its peer: a reply from another local
    // address (what routing would pick without IP_PKTINFO) never arrives.
    for (const target of ["127.0.0.2", "127.0.0.3", "127.0.0.1"]) {
      const s = dgram.createSocket("udp4");
      cleanup.push(() => s.close());
      const got: Buffer[] = [];
      s.on("message", (m) => got.push(m));
      await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
      await new Promise<void>((r) => s.connect(port, target, r));
      s.send(request());
      expect(await until(() => got.length === 1, 1000), `reply from ${target}`).toBe(true);
    }
  });

  it("refuses to start on a port another socket holds, and leaves nothing behind", async () => {
    const holder = LinuxUdpSocket.open({ address: "127.0.0.1", port: 0 });
    cleanup.push(() => holder.close());
    const server = new BatchServer({ logger: silentLogger(), workers: 2, summaryIntervalSeconds: 0 });
    await expect(server.listen([{ address: "127.0.0.1", port: holder.localPort(), policy: {} }])).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(server.engineStats()).toEqual([]);
    await server.close();
  });

  it("on stop answers what is queued, then closes every socket", async () => {
    const { server, port } = await start(2);
    const clients = await exchange(port, 400, 16);
    const t0 = Date.now();
    await server.close();
    const stopMs = Date.now() - t0;
    expect(stopMs).toBeLessThan(2000);
    expect(server.engineStats()[0]!.running).toBe(0);
    expect(server.engineStats()[0]!.counters.received).toBe(400);
    expect(await until(() => replies(clients) === 400, 1000)).toBe(true);
    // No socket of the group is left: a plain socket (without SO_REUSEPORT) can take the port.
    const probe = LinuxUdpSocket.open({ address: "127.0.0.1", port });
    probe.close();
  });
});
