// The bench's load generator (bench/server-load.ts) measures what it claims: against a trivial
// responder every request is matched to its response, and against a silent port nothing is.
import { afterAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT, freeUdpPort, sleep } from "./process-helpers.js";
import { linuxUdpAvailable } from "../../ts/daemon/linux-udp.js";

const LOAD = join(ROOT, "dist", "bench", "server-load.js");
const NAIVE = join(ROOT, "dist", "bench", "server-dgram-naive.js");
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

function load(port: number, extra: string[] = []) {
  const r = spawnSync(process.execPath, [LOAD, "--target", `127.0.0.1:${port}`, "--rate", "5000", "--count", "5000", "--duration", "5", "--drain-ms", "500", ...extra], { encoding: "utf8", timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, number>;
}

describe.skipIf(!linuxUdpAvailable() || !existsSync(LOAD))("bench load generator", () => {
  it("matches every response of a trivial responder, with and without GSO", { timeout: 60_000 }, async () => {
    const port = await freeUdpPort();
    const responder = spawn(process.execPath, [NAIVE, String(port), "60"], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(responder);
    await new Promise<void>((resolve) => responder.stdout!.once("data", () => resolve()));
    for (const gso of ["1", "8"]) {
      const r = load(port, ["--gso", gso]);
      expect(r.sent).toBe(5000);
      expect(r.unmatched).toBe(0);
      expect(r.duplicates).toBe(0);
      // Loopback at 5k/s: nothing should be lost; allow a sliver for a starved shared machine.
      expect(r.received).toBeGreaterThanOrEqual(4950);
      expect(r.offeredPerSecond).toBeGreaterThan(4000);
      expect(r.latencyP50Micros).toBeGreaterThan(0);
      expect(r.latencyP99Micros).toBeGreaterThanOrEqual(r.latencyP50Micros ?? Infinity);
    }
    responder.kill("SIGTERM");
    await sleep(50);
  });

  it("counts nothing as received when nobody answers", { timeout: 30_000 }, async () => {
    const port = await freeUdpPort();
    const r = load(port, ["--count", "500", "--drain-ms", "100"]);
    expect(r.sent).toBe(500);
    expect(r.received).toBe(0);
    expect(r.loss).toBe(1);
  });
});
