// `tock daemon` with [[source]]s (in-process startDaemon, production I/O, observe mode): it polls
// three real chronyds on loopback, selects them, and serves the result downstream — stratum 9 (the
// chronyds' local stratum 8 + 1), reference id 127.0.0.1, leap 0 — as `tock query` against the
// daemon's own [[server]] shows. Nothing can touch the clock: no discipline runs, and the chronyds
// run with -x and without CAP_SYS_TIME (peers.ts).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../ts/config/index.js";
import { startDaemon, type RunningDaemon } from "../../ts/daemon/daemon.js";
import { realDeps, runQuery } from "../../ts/cli/query.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { freePort, peerOrSkip, startChronydServer, stopAllPeers, type ChronydServer } from "./peers.js";

const chronyd = peerOrSkip("chronyd", "chronyc", "setpriv");

describe.skipIf(!chronyd)("tock daemon with [[source]]s ↔ three chronyds", () => {
  const servers: ChronydServer[] = [];
  let daemon: RunningDaemon | undefined;
  let port = 0;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startChronydServer({ stratum: 8, ipv6: false }));
    port = await freePort();
    const toml = [
      "[source-defaults]",
      "poll-interval-limits = { min = 0, max = 1 }",
      "initial-poll-interval = 0",
      "",
      "[synchronization]",
      "minimum-agreeing-sources = 3",
      "",
      `[[server]]\nlisten = "127.0.0.1:${port}"\nengine = "dgram"`,
      ...servers.map((s) => `\n[[source]]\nmode = "server"\naddress = "127.0.0.1:${s.port}"`),
    ].join("\n");
    daemon = await startDaemon(parseConfig(toml, "client-daemon.toml"), { logger: silentLogger(), summaryIntervalSeconds: 0 });
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    await stopAllPeers();
  });

  it("selects the chronyds and serves stratum 9 with the system peer's address as reference id", async () => {
    const end = Date.now() + 30_000;
    let report = daemon!.clientReport();
    while (report?.status !== "ok" && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 250));
      report = daemon!.clientReport();
    }
    expect(report?.status).toBe("ok");
    expect(report!.observeOnly).toBe(true);
    expect(Math.abs(report!.lastUpdate!.offset)).toBeLessThan(0.005);

    const out: string[] = [];
    const code = await runQuery(["--json", `127.0.0.1:${port}`], { ...(await realDeps()), stdout: (t: string) => out.push(t), stderr: () => {} });
    const json = JSON.parse(out.join("")) as { stratum: number; referenceIdHex: string; leap: number; offset: number; rootDispersion: number };
    expect(code).toBe(0);
    expect(json.stratum).toBe(9);
    expect(json.referenceIdHex).toBe("7F000001"); // 127.0.0.1
    expect(json.leap).toBe(0);
    expect(Math.abs(json.offset)).toBeLessThan(0.005);
    expect(json.rootDispersion).toBeLessThan(1);
  }, 45_000);
});
