// tock's NTS client against NTPsec ntpd's NTS server (1.2.2: AEAD 15, 16, 17), private CA:
// `tock query --nts` must show authenticated samples with an offset near zero.
//
// ntpd runs in a private network namespace (peer-ntpsec-nts.ts says why) and the `tock` command
// runs inside that namespace too (`nsenter`): nothing is exposed beyond this test.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../ts/cli/query.js";
import { packageRoot } from "../../ts/daemon/load-core.js";
import { makeTestPki, type TestPki } from "../nts-client/certs.js";
import { namespacesWork, peerOrSkip, privateTempDir, runCommand, startNtpsecNtsServer, stopAllPeers, type PeerProcess } from "./peers.js";

const KE_PORT = 4460;
const main = path.join(packageRoot(), "dist", "ts", "cli", "main.js");

const available = peerOrSkip("ntpd", "setpriv", "timeout", "openssl") !== undefined && (await namespacesWork());

interface Run {
  code: number | null;
  json: Record<string, unknown>;
  stderr: string;
}

/** Runs the installed `tock query --json …` inside ntpd's network namespace. */
async function tockQueryIn(ntpd: PeerProcess, ...args: string[]): Promise<Run> {
  const result = await runCommand("nsenter", [`--net=/proc/${ntpd.pid}/ns/net`, process.execPath, main, "query", "--json", ...args], { timeoutMs: 20_000 });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    json = { unparsed: result.stdout };
  }
  return { code: result.code, json, stderr: result.stderr };
}

/** ntpd with NTS in its namespace (peer-ntpsec-nts.ts), once it serves its orphan time. */
async function startNtpsecNtsServerReady(pki: TestPki): Promise<PeerProcess> {
  const { proc, dir } = startNtpsecNtsServer(pki, "tock-ntpsec-nts-");
  // Ready when a plain query sees the orphan parent (stratum 8): it answers stratum 16 before that.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const probe = await tockQueryIn(proc, "--timeout", "500", "127.0.0.1");
    if (probe.code === ExitCode.Ok && probe.json.stratum === 8) return proc;
    if (Date.now() > deadline) {
      const log = fs.existsSync(path.join(dir, "ntpd.log")) ? fs.readFileSync(path.join(dir, "ntpd.log"), "utf8") : "";
      await proc.stop();
      throw new Error(`NTPsec ntpd did not come up: ${JSON.stringify(probe)}\n${proc.output()}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(!available)("tock NTS client ↔ NTPsec ntpd NTS server (private network namespace)", () => {
  let pki: TestPki;
  let ntpd: PeerProcess;

  beforeAll(async () => {
    expect(fs.existsSync(main), "run `npm run build` first (npm test does)").toBe(true);
    pki = await makeTestPki(peerOrSkip("openssl")!, privateTempDir("tock-nts-pki-"));
    ntpd = await startNtpsecNtsServerReady(pki);
  }, 60_000);

  afterAll(stopAllPeers);

  it("tock query --nts: authenticated samples, offset near zero, NTPsec's cookies refill the jar", async () => {
    const { code, json, stderr } = await tockQueryIn(ntpd, "--nts", `127.0.0.1:${KE_PORT}`, "--certificate-authority", pki.caCert, "--samples", "3", "--interval", "100");
    expect(stderr).toBe("");
    expect(code).toBe(ExitCode.Ok);
    expect(json.port).toBe(123);
    expect(json.stratum).toBe(8);
    expect(Math.abs(json.offset as number)).toBeLessThan(0.01);
    expect(json.samplesValid).toBe(3);
    expect(json.nts).toMatchObject({ authenticated: true, cookies: 8, keyExchanges: 1 });
    expect([15, 16, 17]).toContain((json.nts as { aead: number }).aead);
  }, 30_000);

  it("by name (localhost): SNI and the DNS name in the certificate", async () => {
    const { code, json } = await tockQueryIn(ntpd, "--nts", `localhost:${KE_PORT}`, "-4", "--certificate-authority", pki.caCert);
    expect(code).toBe(ExitCode.Ok);
    expect(json.nts).toMatchObject({ authenticated: true });
  }, 30_000);

  it("the wrong CA: NTS-KE failure exit code, no time", async () => {
    const { code, json } = await tockQueryIn(ntpd, "--nts", `127.0.0.1:${KE_PORT}`, "--certificate-authority", pki.otherCaCert);
    expect(code).toBe(ExitCode.NtsKeFailure);
    expect(json.status).toBe("nts-ke-failure");
    expect(String(json.error)).toMatch(/certificate/);
    expect(json.offset).toBeUndefined();
  }, 30_000);
});
