// Kernel receive timestamps are present and used by the batch engine.
//  1. In-thread loop: a request waits 30 ms in the socket before the loop reads it. Its response's
//     receive timestamp (T2) is the kernel's — ~30 ms before the transmit timestamp (T3, read when
//     the loop ran) — and never later than the userspace reading taken after receipt.
//  2. Worker threads: 300 requests; every one stamped by the kernel (counter), none later than the
//     userspace reading after receipt, and client-side T1 ≤ T2 < T3 ≤ T4 for each exchange. The
//     difference (userspace reading − kernel timestamp) is printed.
import { afterAll, describe, expect, it } from "vitest";
import { createServerKernel } from "../../ts/core/server.js";
import { referenceIdValue } from "../../ts/protocol/server-policy.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { BatchSocketIo } from "../../ts/daemon/batch-io.js";
import { BatchLoop, slotLayout } from "../../ts/daemon/batch-worker.js";
import { BatchServer } from "../../ts/daemon/batch-engine.js";
import { SharedServerState, WORKER_COUNTERS, WORKER_COUNTER_INDEX as names } from "../../ts/daemon/shared-state.js";
import { Client, batchEngineAvailable, fields, linuxOnly, ntpToUnixNs, realtimeNs, request, serverSocket, until } from "./support.js";

const STATE = { leap: 0 as const, stratum: 8, precision: -20, referenceId: 0x7f7f0101, rootDelay: 0, rootDispersion: 0.001, referenceTime: 0n };
const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe.skipIf(!linuxOnly)("kernel receive timestamps (in-thread loop)", () => {
  it("stamps a request when it reached the socket, not when the loop read it", async () => {
    const { wasm } = await loadFreshCore();
    const kernel = createServerKernel(wasm, { batchSize: 16 });
    const socket = serverSocket();
    const io = new BatchSocketIo(socket, slotLayout(wasm, kernel));
    cleanup.push(() => io.free(), () => socket.close());
    const shared = SharedServerState.create(1);
    shared.writeSystemState(STATE, referenceIdValue(STATE.referenceId));
    const loop = new BatchLoop({ kernel, io, shared, index: 0, idleWaitMs: 0 });
    const client = await Client.open("127.0.0.1");
    cleanup.push(() => client.close());

    // Linux stamps datagrams on arrival only once its timestamping switch is on: the first socket
    // asking for SO_TIMESTAMPNS turns it on through deferred work, and until then a datagram is
    // stamped when it is read. Give that a moment, so this measures arrival stamps.
    await new Promise((r) => setTimeout(r, 100));
    const t1 = realtimeNs();
    await client.send(request(), socket.localPort());
    await new Promise((r) => setTimeout(r, 30)); // the request sits in the socket buffer
    expect(await until(() => loop.step(0) > 0, 1000), "the loop read the request").toBe(true);
    expect(await until(() => client.replies.length === 1, 1000), "the client got its reply").toBe(true);
    const t4 = realtimeNs();
    loop.publish();
    const c = new Float64Array(WORKER_COUNTERS.length);
    expect(shared.readCounters(0, c)).toBe(true);
    const r = fields(client.replies[0]!);
    const t2 = ntpToUnixNs(r.receive);
    const t3 = ntpToUnixNs(r.transmit);
    const seen = `T1 ${t1} T2 ${t2} T3 ${t3} T4 ${t4}; kernel stamps ${c[names.rx_kernel_timestamps]}, missing ${c[names.rx_timestamp_missing]}, lag max ${c[names.rx_lag_ns_max]} ns`;
    expect(c[names.rx_kernel_timestamps], seen).toBe(1);
    expect(c[names.rx_after_userspace], seen).toBe(0);
    expect(t2 >= t1 - 1n, seen).toBe(true); // −1 ns: the 32.32 fraction is rounded
    expect(t3 - t2 > 25_000_000n, seen).toBe(true); // the 30 ms wait is between T2 and T3
    expect(t3 <= t4, seen).toBe(true);
    expect(c[names.rx_lag_ns_max], seen).toBeGreaterThan(25_000_000);
  });
});

describe.skipIf(!batchEngineAvailable)("kernel receive timestamps (worker threads)", () => {
  it("stamps every request in the kernel, never after the userspace reading, T1 ≤ T2 < T3 ≤ T4", async () => {
    const server = new BatchServer({ logger: silentLogger(), workers: 1, summaryIntervalSeconds: 0 });
    cleanup.push(() => server.close());
    const [address] = await server.listen([{ address: "127.0.0.1", port: 0, policy: {} }]);
    server.setSystemState(STATE);
    const port = Number(address!.split(":")[1]);
    const client = await Client.open("127.0.0.1");
    cleanup.push(() => client.close());

    const N = 300;
    const t1 = new Map<bigint, bigint>();
    const t4: bigint[] = [];
    client.socket.on("message", () => t4.push(realtimeNs()));
    for (let i = 0; i < N; i++) {
      const transmit = 0xabcd_0000_0000_0000n + BigInt(i);
      t1.set(transmit, realtimeNs());
      await client.send(request({ transmit }), port);
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5)); // some batches of one, some larger
    }
    expect(await until(() => client.replies.length === N)).toBe(true);
    let worstSlackNs = 0n;
    client.replies.forEach((reply, i) => {
      const f = fields(reply);
      const sentAt = t1.get(f.origin)!;
      const t2 = ntpToUnixNs(f.receive);
      const t3 = ntpToUnixNs(f.transmit);
      expect(t2).toBeGreaterThanOrEqual(sentAt - 1n);
      expect(t3).toBeGreaterThan(t2);
      expect(t3).toBeLessThanOrEqual(t4[i]!);
      if (t2 - sentAt > worstSlackNs) worstSlackNs = t2 - sentAt;
    });

    await until(() => server.engineStats()[0]!.counters.received === N, 1000);
    const c = server.engineStats()[0]!.counters;
    expect(c.received).toBe(N);
    expect(c.rx_kernel_timestamps).toBe(N);
    expect(c.rx_timestamp_missing).toBe(0);
    expect(c.rx_after_userspace).toBe(0);
    const meanLagUs = c.rx_lag_ns_total / c.rx_kernel_timestamps / 1000;
    const meanLeadUs = c.tx_lead_ns_total / c.batches / 1000;
    console.log(
      `kernel rx timestamp vs userspace reading after recvmmsg: mean ${meanLagUs.toFixed(1)} µs, max ${(c.rx_lag_ns_max / 1000).toFixed(1)} µs earlier; ` +
        `transmit timestamp precedes the end of sendmmsg by mean ${meanLeadUs.toFixed(1)} µs, max ${(c.tx_lead_ns_max / 1000).toFixed(1)} µs (${c.batches} batches); ` +
        `client send → kernel rx at most ${Number(worstSlackNs) / 1000} µs`,
    );
  });
});
