// `tock daemon` with the batch engine (two workers) as a real process: a burst of requests sent
// right before SIGTERM (whatever is still queued in the workers' sockets is drained): the daemon answers all of it, logs its
// totals, exits 0, and leaves the port free.
import { afterAll, describe, expect, it } from "vitest";
import { LinuxUdpSocket } from "../../ts/daemon/linux-udp.js";
import { built, clientRequest, collector, freeUdpPort, startDaemon, stopAll } from "../daemon/process-helpers.js";
import { batchEngineAvailable, until } from "./support.js";

afterAll(() => stopAll());

describe.skipIf(!batchEngineAvailable || !built)("tock daemon, batch engine, SIGTERM", () => {
  it("drains what is queued, logs complete totals, exits 0 and frees the port", async () => {
    const port = await freeUdpPort();
    const daemon = await startDaemon(
      ['[observability]', 'log-level = "info"', "[synchronization]", "local-stratum = 8", "[[server]]", `listen = "127.0.0.1:${port}"`, 'engine = "batch"', "workers = 2", ""].join("\n"),
    );
    const clients = await Promise.all(Array.from({ length: 8 }, () => collector()));
    const N = 2000;
    // Fire the burst without waiting for answers, then SIGTERM right behind it.
    await Promise.all(
      Array.from({ length: N }, (_, i) => new Promise<void>((r) => clients[i % 8]!.socket.send(clientRequest(BigInt(i + 1)), port, "127.0.0.1", () => r()))),
    );
    const t0 = Date.now();
    const { code } = await daemon.stop();
    const stopMs = Date.now() - t0;
    expect(code).toBe(0);
    expect(stopMs).toBeLessThan(3000);

    // Every request of the burst was answered, including those still queued at SIGTERM.
    expect(await until(() => clients.reduce((n, c) => n + c.received.length, 0) === N, 2000)).toBe(true);
    // The shutdown totals are logged after the workers drained: they account for every request.
    const totals = daemon.lines.find((l) => l.msg === "server totals at shutdown") as { totals?: Record<string, number> } | undefined;
    expect(totals?.totals?.received).toBe(N);
    expect(totals?.totals?.sent).toBe(N);
    // No socket of the group is left open.
    LinuxUdpSocket.open({ address: "127.0.0.1", port }).close();
    await Promise.all(clients.map((c) => c.close()));
  });
});
