// `tock daemon` as a real process on loopback: answers raw clients (IPv4 and IPv6) and `tock query`,
// serves metrics, exits 0 on SIGTERM with its totals logged, refuses a broken config with
// file:line:col, and (as root) drops privileges after binding.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, ENGINES, built, clientRequest, collector, decodeResponse, freeUdpPort, metricSum, send, sleep, startDaemon, stopAll, until, type LogLine } from "./process-helpers.js";

afterAll(stopAll);

const isRoot = process.getuid?.() === 0;
const queryRegistered = built && readFileSync(CLI, "utf8").includes('import("./query.js")');

describe.skipIf(!built)("tock daemon process", () => {
  it.each(ENGINES)("answers IPv4 and IPv6 clients, counts them in /metrics, and exits 0 on SIGTERM (engine %s)", async (engine) => {
    const port = await freeUdpPort();
    const d = await startDaemon(`[synchronization]\nlocal-stratum = 8\n\n[[server]]\nlisten = "127.0.0.1:${port}"\nengine = "${engine}"\n\n[[server]]\nlisten = "[::1]:${port}"\nengine = "${engine}"\n`);
    const v4 = await collector("127.0.0.1");
    const v6 = await collector("::1");
    try {
      await send(v4.socket, clientRequest(0x1111222233334444n), port, "127.0.0.1");
      await send(v4.socket, clientRequest(0x5555666677778888n, 3), port, "127.0.0.1");
      await send(v6.socket, clientRequest(0x9999aaaabbbbccccn), port, "::1");
      expect(await until(() => v4.received.length === 2 && v6.received.length === 1)).toBe(true);
      const byOrigin = new Map([...v4.received, ...v6.received].map((r) => [decodeResponse(r).origin, decodeResponse(r)]));
      expect(byOrigin.get(0x1111222233334444n)).toMatchObject({ length: 48, mode: 4, version: 4, stratum: 8, leap: 0 });
      expect(byOrigin.get(0x5555666677778888n)).toMatchObject({ mode: 4, version: 3 });
      expect(byOrigin.get(0x9999aaaabbbbccccn)).toMatchObject({ mode: 4, stratum: 8 });
      // Server timestamps are close to this machine's clock (the daemon serves the system clock).
      const nowNtp = BigInt(Math.round((Date.now() / 1000 + 2_208_988_800) * 2 ** 32));
      const r = byOrigin.get(0x1111222233334444n)!;
      expect(Number(nowNtp - r.receive) / 2 ** 32).toBeLessThan(5);
      expect(Number(nowNtp - r.receive) / 2 ** 32).toBeGreaterThan(-1);
      expect(r.transmit >= r.receive).toBe(true);

      // The batch engine's workers publish counters every few tens of ms: poll briefly.
      let m = await d.metrics();
      for (let i = 0; i < 40 && metricSum(m, "ntp_server_received_packets_total") < 3; i++) m = await sleep(50).then(() => d.metrics());
      expect(m.get(`ntp_server_received_packets_total{listen_address="127.0.0.1:${port}"}`)).toBe(2);
      expect(m.get(`ntp_server_received_packets_total{listen_address="[::1]:${port}"}`)).toBe(1);
      expect(metricSum(m, "ntp_server_accepted_packets_total")).toBe(3);
    } finally {
      await v4.close();
      await v6.close();
    }
    const exit = await d.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    const totals = d.lines.filter((l) => l.msg === "server totals at shutdown");
    expect(totals.map((l) => (l.totals as Record<string, number>).received).sort()).toEqual([1, 2]);
    expect(d.lines.some((l: LogLine) => l.msg === "stopped")).toBe(true);
    // The sockets are closed: the port can be bound again.
    const again = await collector("127.0.0.1");
    await again.close();
  });

  it.skipIf(!queryRegistered)("answers `tock query`", async () => {
    const port = await freeUdpPort();
    const d = await startDaemon(`[synchronization]\nlocal-stratum = 5\n\n[[server]]\nlisten = "127.0.0.1:${port}"\n`);
    try {
      const r = spawnSync(process.execPath, [CLI, "query", `127.0.0.1:${port}`, "--json"], { encoding: "utf8", timeout: 20_000 });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(out.stratum).toBe(5);
      expect(Math.abs(out.offset as number)).toBeLessThan(0.1);
    } finally {
      expect((await d.stop()).code).toBe(0);
    }
  });

  it("SIGUSR1 logs the counters; SIGHUP reloads what can change and keeps the rest", { timeout: 30_000 }, async () => {
    const port = await freeUdpPort();
    const toml = (extra: string) => `[synchronization]\nlocal-stratum = 5\n\n[[server]]\nlisten = "127.0.0.1:${port}"\n${extra}`;
    const d = await startDaemon(toml(""));
    const c = await collector("127.0.0.1");
    const ask = async (n: number) => {
      await send(c.socket, clientRequest(BigInt(n)), port, "127.0.0.1");
      expect(await until(() => c.received.length === n)).toBe(true);
      return decodeResponse(c.received[n - 1]!);
    };
    try {
      process.kill(d.pid, "SIGUSR1");
      await d.waitForLine((l) => l.msg === "server summary");
      expect((await ask(1)).stratum).toBe(5);

      // Policy change: deny our own subnet → KoD DENY after the reload.
      writeFileSync(join(d.dir, "tock.toml"), toml('denylist = { filter = ["127.0.0.0/8"], action = "deny" }\n'));
      process.kill(d.pid, "SIGHUP");
      await d.waitForLine((l) => l.msg === "SIGHUP: config reloaded");
      const kod = await ask(2);
      expect([kod.stratum, kod.referenceId]).toEqual([0, "DENY"]);

      // A broken file is reported and the running config stays.
      writeFileSync(join(d.dir, "tock.toml"), "[[server]]\nlisten = 5\n");
      process.kill(d.pid, "SIGHUP");
      await d.waitForLine((l) => l.msg === "SIGHUP: config has errors; keeping the running config");
      expect((await ask(3)).referenceId).toBe("DENY");

      // New listen addresses need a restart.
      writeFileSync(join(d.dir, "tock.toml"), `[[server]]\nlisten = "127.0.0.1:${port + 1 === 65536 ? port - 1 : port + 1}"\n`);
      process.kill(d.pid, "SIGHUP");
      await d.waitForLine((l) => l.msg === "SIGHUP: config not reloaded");
      expect((await ask(4)).referenceId).toBe("DENY");
    } finally {
      await c.close();
      expect((await d.stop()).code).toBe(0);
    }
  });

  it("refuses a broken config with file:line:col and exit status 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "tock-bad-config-"));
    const file = join(dir, "bad.toml");
    writeFileSync(file, '[[server]]\nlisten = "127.0.0.1:123"\nlisen = 4\n');
    const r = spawnSync(process.execPath, [CLI, "daemon", "-c", file], { encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file}:3:1:`);
    const usage = spawnSync(process.execPath, [CLI, "daemon", "--bogus"], { encoding: "utf8", timeout: 20_000 });
    expect(usage.status).toBe(2);
  });

  it("fails to start, exit 1, when the address is taken", async () => {
    const holder = await collector("127.0.0.1");
    try {
      const dir = mkdtempSync(join(tmpdir(), "tock-busy-"));
      const file = join(dir, "tock.toml");
      writeFileSync(file, `[[server]]\nlisten = "127.0.0.1:${holder.port}"\n`);
      const r = spawnSync(process.execPath, [CLI, "daemon", "-c", file], { encoding: "utf8", timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/EADDRINUSE/);
    } finally {
      await holder.close();
    }
  });

  it.skipIf(!isRoot)("as root: binds port 123, then runs as [daemon] user and keeps answering", async () => {
    // A loopback address of its own, so port 123 does not collide with other tests or services.
    const host = `127.0.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;
    const d = await startDaemon(`[synchronization]\nlocal-stratum = 8\n\n[[server]]\nlisten = "${host}:123"\n\n[daemon]\nuser = "nobody"\n`);
    const c = await collector("127.0.0.1");
    try {
      await d.waitForLine((l) => typeof l.msg === "string" && l.msg.startsWith("dropped privileges to nobody"));
      const status = readFileSync(`/proc/${d.pid}/status`, "utf8");
      expect(status).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      expect(status).toMatch(/^Gid:\s+65534\s+65534\s+65534\s+65534$/m);
      await send(c.socket, clientRequest(42n), 123, host);
      expect(await until(() => c.received.length === 1)).toBe(true);
      expect(decodeResponse(c.received[0]!).stratum).toBe(8);
    } finally {
      await c.close();
      expect((await d.stop()).code).toBe(0);
    }
  });
});
