// The management socket inside the daemon: in-process (startDaemon) and as processes (`tock daemon`
// then `tock status` / `tock sources` finding the socket from the same config file).
import { createSocket } from "node:dgram";
import { existsSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../ts/config/index.js";
import { startDaemon } from "../../ts/daemon/daemon.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { requestReport } from "../../ts/cli/observe-client.js";
import { linuxClockAvailable } from "../../ts/clock/linux-clock.js";
import { built, runCli, clientRequest, freeUdpPort, startDaemon as startDaemonProcess, stopAll } from "../daemon/process-helpers.js";
import { tempDir } from "./fixtures.js";

const tmp = tempDir();
afterAll(() => {
  stopAll();
  tmp.cleanup();
});

function configText(port: number, socket: string, mode = "0o666"): string {
  return `[[server]]\nlisten = "127.0.0.1:${port}"\nengine = "dgram"\n\n[observability]\nobservation-path = ${JSON.stringify(socket)}\nobservation-permissions = ${mode}\n`;
}

async function ntpRequest(port: number): Promise<void> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => {
    s.on("message", () => resolve());
    s.send(clientRequest(0x1234n), port, "127.0.0.1");
    setTimeout(resolve, 2000).unref();
  });
  s.close();
}

describe("daemon with a management socket (in-process)", () => {
  it("serves the report at observation-path with its mode, and removes the socket on stop", async () => {
    const port = await freeUdpPort();
    const socket = join(tmp.dir, "in-process.sock");
    const daemon = await startDaemon(parseConfig(configText(port, socket, "0o640"), "t.toml"), { logger: silentLogger(), summaryIntervalSeconds: 0 });
    try {
      expect(daemon.observationPath).toBe(socket);
      expect(lstatSync(socket).mode & 0o777).toBe(0o640);
      await ntpRequest(port);
      const r = await requestReport(socket);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.report.system).toMatchObject({ stratum: 16, leap: "unsynchronised", synchronised: false });
      expect(r.report.sources).toEqual([]);
      expect(r.report.clock.mode).toBe("observe");
      if (linuxClockAvailable()) expect(r.report.clock.kernel).not.toBeNull();
      expect(r.report.servers).toHaveLength(1);
      expect(r.report.servers[0]!.listenAddress).toBe(`127.0.0.1:${port}`);
      expect(r.report.servers[0]!.counters.received_packets).toBe(1);
      expect(r.report.daemon.pid).toBe(process.pid);
    } finally {
      await daemon.stop();
    }
    expect(existsSync(socket)).toBe(false);
  });

  it("observationPath: false opens no socket", async () => {
    const port = await freeUdpPort();
    const socket = join(tmp.dir, "never.sock");
    const daemon = await startDaemon(parseConfig(configText(port, socket), "t.toml"), { logger: silentLogger(), summaryIntervalSeconds: 0, observationPath: false });
    try {
      expect(daemon.observationPath).toBeUndefined();
      expect(existsSync(socket)).toBe(false);
    } finally {
      await daemon.stop();
    }
  });

  it("a configured path that is in use by a live daemon stops start-up", async () => {
    const port1 = await freeUdpPort();
    const socket = join(tmp.dir, "shared.sock");
    const first = await startDaemon(parseConfig(configText(port1, socket), "t.toml"), { logger: silentLogger(), summaryIntervalSeconds: 0 });
    try {
      const port2 = await freeUdpPort();
      await expect(startDaemon(parseConfig(configText(port2, socket), "t.toml"), { logger: silentLogger(), summaryIntervalSeconds: 0 })).rejects.toThrow(/observation-path .*already answering/);
      expect((await requestReport(socket)).ok).toBe(true);
    } finally {
      await first.stop();
    }
  });
});

describe.skipIf(!built)("tock daemon + tock status / sources as processes", () => {
  it("status and sources find the daemon through -c FILE; after it stops they exit 3", async () => {
    const port = await freeUdpPort();
    const socket = join(tmp.dir, "process.sock");
    const daemon = await startDaemonProcess(configText(port, socket));
    const config = join(daemon.dir, "tock.toml");
    try {
      await daemon.waitForLine((l) => typeof l.msg === "string" && l.msg.startsWith("management socket ready"));
      const status = await runCli(["status", "-c", config]);
      expect(status.stderr).toBe("");
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/^Reference ID\s+: 494E4954 \(INIT\)$/m);
      expect(status.stdout).toMatch(/^Leap status\s+: Not synchronised$/m);
      expect(status.stdout).toContain(`Server          : 127.0.0.1:${port}: received 0`);
      const sources = await runCli(["sources", "-c", config, "-v"]);
      expect(sources.code).toBe(0);
      expect(sources.stdout).toContain("(no sources configured)");
      const json = await runCli(["status", "-c", config, "--json"]);
      expect(JSON.parse(json.stdout).daemon.pid).toBe(daemon.pid);
    } finally {
      await daemon.stop();
    }
    const after = await runCli(["status", "--socket", socket]);
    expect(after.code).toBe(3);
  });
});
