// The management socket server: serves the report, applies the socket mode, survives hostile
// clients (garbage, oversized, silent, floods), refuses to take over a live daemon's socket.
import { connect } from "node:net";
import { lstatSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openObservationSocket, startManagementServer, serverReportsFromMetrics, defaultObservationPath, observationPathCandidates, type ManagementServer } from "../../ts/observe/management.js";
import { requestReport } from "../../ts/cli/observe-client.js";
import { decodeReport } from "../../ts/protocol/status.js";
import { MetricsRegistry } from "../../ts/observe/metrics.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { daemonLikeProvider, tempDir, SOURCES } from "./fixtures.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const servers: ManagementServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

let n = 0;
async function start(options: Partial<Parameters<typeof startManagementServer>[0]> = {}) {
  const path = join(tmp.dir, `s${n++}.sock`);
  const server = await startManagementServer({ path, mode: 0o666, provider: daemonLikeProvider().provide, ...options });
  servers.push(server);
  return server;
}

/** Sends raw bytes, returns everything the server sent before closing (or "" on reset). */
function exchange(path: string, bytes: Buffer | string, options: { end?: boolean; waitMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect(path, () => {
      s.write(bytes);
      if (options.end) s.end();
    });
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => resolve(Buffer.concat(chunks).toString()));
    s.on("close", () => resolve(Buffer.concat(chunks).toString()));
    setTimeout(() => s.destroy(), options.waitMs ?? 5000).unref();
  });
}

describe("management server", () => {
  it("answers a report request with the provider's report", async () => {
    const server = await start();
    const r = await requestReport(server.path);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.report.sources).toEqual(SOURCES);
    expect(r.report.system).toMatchObject({ stratum: 3, referenceId: 0x7f000001, synchronised: true, leap: "normal", frequencyPpm: -12.345 });
    expect(r.report.clock.mode).toBe("observe");
    expect(r.report.clock.kernel?.frequencyPpm).toBe(0);
    expect(r.report.servers).toEqual([
      { listenAddress: "127.0.0.1:1123", counters: { received_packets: 10, accepted_packets: 7, kod_packets: 3, "kod_packets.RATE": 2, "kod_packets.DENY": 1 } },
      { listenAddress: "[::1]:1123", counters: { received_packets: 3 } },
    ]);
  });

  it("also accepts a bare 'report' line and a request without newline followed by a half-close", async () => {
    const server = await start();
    const a = JSON.parse(await exchange(server.path, "report\n"));
    expect(a.ok).toBe(true);
    const b = JSON.parse(await exchange(server.path, '{"request":"report"}', { end: true }));
    expect(b.ok).toBe(true);
    expect(typeof decodeReport(b.report)).toBe("object");
  });

  it("applies the configured socket mode", async () => {
    for (const mode of [0o600, 0o660, 0o666]) {
      const server = await start({ mode });
      expect(lstatSync(server.path).mode & 0o777).toBe(mode);
      expect(lstatSync(server.path).isSocket()).toBe(true);
    }
  });

  it("answers unknown requests with an error and keeps serving", async () => {
    const server = await start();
    for (const bad of ['{"request":"shutdown"}\n', "hello\n", "{\n", '"report"\n', "\n", "[1,2]\n", "\u0000\u0001\u00ff\n"]) {
      const answer = JSON.parse(await exchange(server.path, bad));
      expect(answer).toMatchObject({ ok: false });
      expect(answer.error).toMatch(/unknown request/);
    }
    expect((await requestReport(server.path)).ok).toBe(true);
  });

  it("cuts off an oversized request without buffering it", async () => {
    const server = await start({ maxRequestBytes: 64 });
    const answer = await exchange(server.path, Buffer.alloc(4096, 0x41));
    expect(JSON.parse(answer)).toMatchObject({ ok: false, error: "request longer than 64 bytes" });
    // An exact-limit request is still fine.
    const padded = `${" ".repeat(64 - "report".length)}report\n`;
    expect(JSON.parse(await exchange(server.path, padded)).ok).toBe(true);
    expect((await requestReport(server.path)).ok).toBe(true);
  });

  it("times out a silent client", async () => {
    const server = await start({ requestTimeoutMs: 150 });
    const answer = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      const s = connect(server.path);
      s.on("data", (c: Buffer) => chunks.push(c));
      s.on("close", () => resolve(Buffer.concat(chunks).toString()));
    });
    expect(JSON.parse(answer)).toMatchObject({ ok: false, error: "no request within 150 ms" });
  });

  it("survives a flood of connections beyond the limit and random garbage", async () => {
    const metrics = new MetricsRegistry();
    const server = await start({ maxConnections: 4, requestTimeoutMs: 300, metrics });
    // 32 silent connections at once: at most 4 are kept, the rest closed at once.
    const silent = await Promise.all(
      Array.from({ length: 32 }, () => new Promise<import("node:net").Socket>((resolve) => {
        const s = connect(server.path, () => resolve(s));
        s.on("error", () => undefined);
      })),
    );
    await new Promise((r) => setTimeout(r, 400)); // the kept ones time out
    for (const s of silent) s.destroy();
    const samples = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 3000 }), { seed: 5, numRuns: 60 });
    for (const bytes of samples) await exchange(server.path, Buffer.from(bytes), { end: true, waitMs: 1000 });
    expect((await requestReport(server.path)).ok).toBe(true);
    expect(metrics.total("management_requests_total", { result: "too_many_connections" })).toBeGreaterThanOrEqual(28);
    expect(metrics.total("management_requests_total", { result: "timeout" })).toBeGreaterThanOrEqual(1);
    expect(metrics.total("management_requests_total", { result: "bad_request" }) + metrics.total("management_requests_total", { result: "too_large" })).toBeGreaterThan(50);
    expect(metrics.total("management_requests_total", { result: "ok" })).toBe(1);
  });

  it("reports a failing provider as an error, not a crash", async () => {
    const server = await start({
      provider: () => {
        throw new Error("boom");
      },
    });
    const answer = JSON.parse(await exchange(server.path, "report\n"));
    expect(answer).toEqual({ ok: false, error: "the daemon could not build its report" });
    const r = await requestReport(server.path);
    expect(r.ok).toBe(false);
  });

  it("serialises non-finite numbers as null instead of breaking the JSON", async () => {
    const { provide } = daemonLikeProvider();
    const server = await start({ provider: () => ({ ...provide(), system: { ...provide().system, skewPpm: Number.POSITIVE_INFINITY } }) });
    const r = await requestReport(server.path);
    expect(r.ok && r.report.system.skewPpm).toBe(null);
  });

  it("replaces a stale socket, refuses a live one and a non-socket file, and removes its socket on close", async () => {
    const first = await start();
    await expect(startManagementServer({ path: first.path, mode: 0o666, provider: daemonLikeProvider().provide })).rejects.toThrow(/already answering/);
    expect((await requestReport(first.path)).ok).toBe(true); // untouched
    await first.close();
    expect(existsSync(first.path)).toBe(false);

    // A stale socket: left behind by a process killed while listening (nothing answers on it).
    const stalePath = join(tmp.dir, "stale.sock");
    const { spawnSync } = await import("node:child_process");
    spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, "SIGKILL"))`]);
    expect(lstatSync(stalePath).isSocket()).toBe(true);
    const replaced = await startManagementServer({ path: stalePath, mode: 0o666, provider: daemonLikeProvider().provide });
    servers.push(replaced);
    expect((await requestReport(stalePath)).ok).toBe(true);

    const filePath = join(tmp.dir, "not-a-socket");
    writeFileSync(filePath, "keep me");
    await expect(startManagementServer({ path: filePath, mode: 0o666, provider: daemonLikeProvider().provide })).rejects.toThrow(/not a socket/);
  });

  it("creates a missing directory for the socket", async () => {
    const path = join(tmp.dir, "nested", "deeper", "observe.sock");
    const server = await startManagementServer({ path, mode: 0o666, provider: daemonLikeProvider().provide });
    servers.push(server);
    expect((await requestReport(path)).ok).toBe(true);
  });
});

describe("openObservationSocket (the daemon's entry point)", () => {
  const logger = silentLogger();
  const provider = daemonLikeProvider().provide;

  it("false: no socket; a configured path: opened with the configured mode", async () => {
    expect(await openObservationSocket({ configured: join(tmp.dir, "x.sock"), override: false, permissions: 0o666, provider, logger })).toBeUndefined();
    const path = join(tmp.dir, "configured.sock");
    const server = await openObservationSocket({ configured: path, permissions: 0o640, provider, logger });
    servers.push(server!);
    expect(lstatSync(path).mode & 0o777).toBe(0o640);
    expect((await requestReport(path)).ok).toBe(true);
  });

  it("a configured path that cannot be used stops start-up; the default only warns", async () => {
    const file = join(tmp.dir, "plain-file");
    writeFileSync(file, "");
    await expect(openObservationSocket({ configured: file, permissions: 0o666, provider, logger })).rejects.toThrow(/\[observability\] observation-path .*not a socket/);
    expect(await openObservationSocket({ configured: undefined, fallback: file, permissions: 0o666, provider, logger })).toBeUndefined();
  });
});

describe("socket paths and counters", () => {
  it("defaults: /run/tock as root, the runtime dir or /tmp/tock-UID otherwise", () => {
    expect(defaultObservationPath({}, 0)).toBe("/run/tock/observe.sock");
    expect(defaultObservationPath({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000)).toBe("/run/user/1000/tock/observe.sock");
    expect(defaultObservationPath({}, 1000)).toBe("/tmp/tock-1000/observe.sock");
    expect(observationPathCandidates({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000)).toEqual(["/run/tock/observe.sock", "/run/user/1000/tock/observe.sock", "/tmp/tock-1000/observe.sock"]);
  });

  it("groups ntp_server_* samples by listener and ignores other families", () => {
    const { metrics } = daemonLikeProvider();
    metrics.counter("something_else_total", "x").inc({ listen_address: "1.2.3.4:5" });
    expect(serverReportsFromMetrics(metrics).map((s) => s.listenAddress)).toEqual(["127.0.0.1:1123", "[::1]:1123"]);
  });
});
