// NTPsec's SNTP clients (ntpdig, and `sntp` where it is installed) accept tock's responses.
// Both only query port 123, so tock binds port 123 on a loopback address of its own (needs root).
import { afterAll, describe, expect, it } from "vitest";
import { REQUIRE_INTEROP, findPeer, peerOrSkip, runCommand, runNtpdig, stopAllPeers } from "./peers.js";
import { built, startDaemon, stopAll } from "../daemon/process-helpers.js";

const ntpdig = peerOrSkip("ntpdig");
const isRoot = process.getuid?.() === 0;
if (REQUIRE_INTEROP && !isRoot) throw new Error("server-ntpsec interop needs root to bind port 123 (REQUIRE_INTEROP=1)");

afterAll(async () => {
  stopAll();
  await stopAllPeers();
});

/** A loopback address nobody else uses, so port 123 there is ours. */
function privateLoopback(): string {
  return `127.${100 + (process.pid % 100)}.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
}

describe.skipIf(!ntpdig || !built || !isRoot)("NTPsec SNTP clients against tock", () => {
  it("ntpdig accepts tock's responses: stratum, leap and a near-zero offset", { timeout: 60_000 }, async () => {
    const host = privateLoopback();
    const d = await startDaemon(`[synchronization]\nlocal-stratum = 6\n\n[[server]]\nlisten = "${host}:123"\n`);
    try {
      const r = await runNtpdig(host, ["-p", "3"]);
      expect(r.code, r.output).toBe(0);
      expect(r.json, r.output).toBeDefined();
      expect(r.json!.stratum).toBe(6);
      expect(r.json!.leap).toBe("no-leap");
      // Same machine, same clock: the true offset is 0, so the measured one must lie within the
      // error bound ntpdig reports (its "precision" field, printed as "+/-"; ≥ delay/2). A server
      // serving a wrong time, or swapping T2/T3, would fall outside it.
      expect(Math.abs(Number(r.json!.offset))).toBeLessThanOrEqual(Number(r.json!.precision) + 1e-4);
      expect(Number(r.json!.precision)).toBeLessThan(0.05);
    } finally {
      expect((await d.stop()).code).toBe(0);
    }
  });

  it.skipIf(!findPeer("sntp"))("sntp accepts tock's responses", { timeout: 60_000 }, async () => {
    const host = privateLoopback();
    const d = await startDaemon(`[synchronization]\nlocal-stratum = 9\n\n[[server]]\nlisten = "${host}:123"\n`);
    try {
      const r = await runCommand(findPeer("sntp")!, ["-t", "5", host], { timeoutMs: 20_000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // "2026-… (+0000) -0.000027 +/- 0.000280 127.x.y.z s9 no-leap"
      const m = /([-+]\d+\.\d+) \+\/- (\d+\.\d+) \S+ s(\d+) (\S+)/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      // True offset 0 (same clock): the measurement must lie within its own error bound.
      expect(Math.abs(Number(m![1]))).toBeLessThanOrEqual(Number(m![2]) + 1e-4);
      expect(m![3]).toBe("9");
      expect(m![4]).toBe("no-leap");
    } finally {
      expect((await d.stop()).code).toBe(0);
    }
  });
});
