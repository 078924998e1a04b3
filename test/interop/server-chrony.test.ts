// chronyd as a client of `tock daemon`: a one-shot measurement (-Q) accepts tock's responses with an
// offset near zero, and a running chronyd with `xleave` gets interleaved responses (RFC 9769),
// seen both in chronyd's `ntpdata` and in tock's interleaved counter.
import { afterAll, describe, expect, it } from "vitest";
import path from "node:path";
import fs from "node:fs";
import { findPeer, peerOrSkip, privateTempDir, runChronydClient, runCommand, stopAllPeers } from "./peers.js";
import { ENGINES, built, freeUdpPort, metricSum, startDaemon, stopAll, sleep } from "../daemon/process-helpers.js";

const chronyd = peerOrSkip("chronyd", "chronyc", "setpriv");

afterAll(async () => {
  stopAll();
  await stopAllPeers();
});

describe.skipIf(!chronyd || !built).each(ENGINES)("chronyd as a client of tock (engine %s)", (engine) => {
  it("chronyd -Q accepts tock's responses and measures an offset near zero", { timeout: 60_000 }, async () => {
    const port = await freeUdpPort();
    const d = await startDaemon(`[synchronization]\nlocal-stratum = 8\n\n[[server]]\nlisten = "127.0.0.1:${port}"\nengine = "${engine}"\n`);
    try {
      const r = await runChronydClient({ port, sourceOptions: "iburst maxsamples 4", timeoutS: 10 });
      expect(r.offset, r.output).toBeDefined();
      // Same machine, same clock: only loopback and event-loop noise (bounded by half the delay,
      // which stays far below this even on a loaded machine).
      expect(Math.abs(r.offset!)).toBeLessThan(0.05);
      const m = await d.metrics();
      expect(metricSum(m, "ntp_server_accepted_packets_total")).toBeGreaterThanOrEqual(2);
    } finally {
      expect((await d.stop()).code).toBe(0);
    }
  });

  it("chronyd with xleave gets interleaved responses", { timeout: 60_000 }, async () => {
    const port = await freeUdpPort();
    const d = await startDaemon(`[synchronization]\nlocal-stratum = 8\n\n[[server]]\nlisten = "127.0.0.1:${port}"\nengine = "${engine}"\n`);
    const dir = privateTempDir("tock-chronyd-xleave-");
    const socketPath = path.join(dir, "chronyd.sock");
    const conf = path.join(dir, "chronyd.conf");
    // A running client polling every 0.25 s (minpoll/maxpoll −2), serving nothing itself (port 0),
    // never touching the clock (-x, and no CAP_SYS_TIME), gone after 7 s (-t).
    fs.writeFileSync(
      conf,
      [`server 127.0.0.1 port ${port} iburst xleave minpoll -2 maxpoll -2`, "port 0", "cmdport 0", `bindcmdaddress ${socketPath}`, `pidfile ${path.join(dir, "chronyd.pid")}`].join("\n") + "\n",
    );
    const client = runCommand(findPeer("setpriv")!, ["--bounding-set", "-sys_time", findPeer("chronyd")!, "-u", "root", "-x", "-d", "-t", "7", "-f", conf], { timeoutMs: 30_000 });
    try {
      let ntpdata = "";
      const deadline = Date.now() + 6500;
      while (Date.now() < deadline) {
        await sleep(500);
        const r = await runCommand(findPeer("chronyc")!, ["-h", socketPath, "-n", "ntpdata", "127.0.0.1"], { timeoutMs: 5000 });
        ntpdata = r.stdout;
        if (/Interleaved\s*:\s*Yes/.test(ntpdata) && /Total good RX\s*:\s*([3-9]|\d\d)/.test(ntpdata)) break;
      }
      expect(ntpdata).toMatch(/Interleaved\s*:\s*Yes/);
      expect(ntpdata).toMatch(/Stratum\s*:\s*8/);
      const m = await d.metrics();
      expect(metricSum(m, "ntp_server_interleaved_packets_total")).toBeGreaterThan(0);
    } finally {
      const out = await client;
      expect(out.stdout + out.stderr).not.toMatch(/Could not|Fatal/);
      expect((await d.stop()).code).toBe(0);
    }
  });
});
