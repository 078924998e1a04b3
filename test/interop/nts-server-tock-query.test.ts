// tock's own NTS client (`tock query --nts`, helper J's) against tock's NTS server (`tock daemon`
// with [[nts-ke-server]]): the two halves agree on the wire (authenticated samples on the negotiated
// port), and a client that cannot verify the KE server's certificate gets no time at all.
import { execFile } from "node:child_process";
import path from "node:path";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { peerOrSkip } from "./peers.js";
import { CLI, built, freeTcpPort, freeUdpPort, metricSum, startDaemon, stopAll } from "../daemon/process-helpers.js";
import { makeCerts, type TestCerts } from "../nts-server/certs.js";

const openssl = peerOrSkip("openssl");

function query(args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, "query", ...args, "--json"], { timeout: 30_000 }, (err, stdout) => {
      const exit = (err as { code?: unknown } | null)?.code;
      const code = err === null ? 0 : typeof exit === "number" ? exit : 1;
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
      } catch {
        json = { unparsable: stdout };
      }
      resolve({ code, json });
    });
  });
}

describe.skipIf(!built || !openssl)("tock query --nts against tock daemon", () => {
  let certs: TestCerts;
  let toml: string;
  let kePort: number;
  let ntpPort: number;
  beforeAll(async () => {
    if (!built || !openssl) return;
    certs = makeCerts();
    ntpPort = await freeUdpPort();
    kePort = await freeTcpPort();
    toml = [
      "[synchronization]", "local-stratum = 8",
      "[[server]]", `listen = "127.0.0.1:${ntpPort}"`,
      "[[nts-ke-server]]", `listen = "127.0.0.1:${kePort}"`, `certificate-chain-path = "${certs.certPath}"`, `private-key-path = "${certs.keyPath}"`, `ntp-port = ${ntpPort}`,
      "[keyset]", `key-storage-path = "${path.join(certs.dir, "keys.json")}"`,
    ].join("\n") + "\n";
  });
  afterAll(() => {
    stopAll();
    if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
  });

  it("gets authenticated samples on the negotiated port, and the server counts them as NTS", { timeout: 60_000 }, async () => {
    const d = await startDaemon(toml);
    try {
      const r = await query(["--nts", `127.0.0.1:${kePort}`, "--certificate-authority", certs.caPath, "--samples", "3"]);
      expect(r.code, JSON.stringify(r.json)).toBe(0);
      expect(r.json.port).toBe(ntpPort);
      expect(r.json.stratum).toBe(8);
      expect(r.json.nts).toMatchObject({ authenticated: true, cookies: 8 });
      expect(Math.abs(r.json.offset as number)).toBeLessThan(0.05);
      const m = await d.metrics();
      expect(metricSum(m, "ntp_server_nts_requests_total", 'outcome="answered"')).toBeGreaterThanOrEqual(3);
      expect(metricSum(m, "ntp_server_nts_requests_total", 'outcome="nak_bad_authenticator"')).toBe(0);
    } finally {
      expect((await d.stop()).code).toBe(0);
    }
  });

  it("is refused without the right CA (no fallback to plain NTP)", { timeout: 60_000 }, async () => {
    const d = await startDaemon(toml);
    try {
      const other = makeCerts();
      const r = await query(["--nts", `127.0.0.1:${kePort}`, "--certificate-authority", other.caPath]);
      fs.rmSync(other.dir, { recursive: true, force: true });
      expect(r.code).not.toBe(0);
      const m = await d.metrics();
      expect(metricSum(m, "ntp_server_nts_requests_total", 'outcome="answered"')).toBe(0);
      expect(metricSum(m, "ntp_server_accepted_packets_total")).toBe(0);
    } finally {
      expect((await d.stop()).code).toBe(0);
    }
  });
});
