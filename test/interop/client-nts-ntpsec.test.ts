// `tock daemon` with `[[source]] mode = "nts"` ↔ NTPsec 1.2.2's NTS server (private CA). NTPsec binds
// its NTS-KE listener to every address with no option to narrow it, so — as nts-query-ntpsec.test.ts
// does — ntpd runs in a private network namespace (`unshare -n`) and the tock daemon joins it
// (`nsenter`); `tock sources --json` reads the daemon's management socket. The daemon runs as a
// separate process (the built dist/), in observe mode (TOCK_NO_CLOCK_STEERING=1) and without
// CAP_SYS_TIME, so it can never touch the clock.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../ts/daemon/load-core.js";
import type { SourceReport } from "../../ts/protocol/status.js";
import { makeTestPki, type TestPki } from "../nts-client/certs.js";
import { namespacesWork, peerOrSkip, privateTempDir, requirePeer, runCommand, startNtpsecNtsServer, startProcess, stopAllPeers, type PeerProcess } from "./peers.js";

const main = path.join(packageRoot(), "dist", "ts", "cli", "main.js");

const available = peerOrSkip("ntpd", "setpriv", "timeout", "openssl") !== undefined && (await namespacesWork());

/** `tock daemon` inside ntpd's namespace, bounded in time, without CAP_SYS_TIME. */
function startTockIn(ntpd: PeerProcess, dir: string, caFile: string): { proc: PeerProcess; socket: string } {
  const socket = path.join(dir, "tock.sock");
  const config = path.join(dir, "tock.toml");
  fs.writeFileSync(config, [
    "[source-defaults]", "poll-interval-limits = { min = 0, max = 1 }", "initial-poll-interval = 0", "",
    "[synchronization]", "minimum-agreeing-sources = 1", "",
    "[observability]", `observation-path = "${socket}"`, "",
    "[[server]]", 'listen = "127.0.0.1:11923"', 'engine = "dgram"', "",
    "[[source]]", 'mode = "nts"', 'address = "127.0.0.1:4460"', `certificate-authority = "${caFile}"`,
  ].join("\n") + "\n");
  const proc = startProcess("tock", "nsenter", [
    `--net=/proc/${ntpd.pid}/ns/net`, requirePeer("timeout"), "--kill-after=5", "120",
    requirePeer("setpriv"), "--bounding-set", "-sys_time", process.execPath, main, "daemon", "-c", config,
  ], { TOCK_NO_CLOCK_STEERING: "1" });
  return { proc, socket };
}

async function sources(socket: string): Promise<SourceReport[] | undefined> {
  const result = await runCommand(process.execPath, [main, "sources", "--json", "--socket", socket], { timeoutMs: 10_000 });
  if (result.code !== 0 && result.code !== 3) return undefined;
  try {
    const parsed = JSON.parse(result.stdout) as { sources?: SourceReport[] } | SourceReport[];
    return Array.isArray(parsed) ? parsed : parsed.sources;
  } catch {
    return undefined;
  }
}

describe.skipIf(!available)("tock daemon nts source ↔ NTPsec ntpd NTS server (private network namespace)", () => {
  let pki: TestPki;
  let ntpd: PeerProcess;

  beforeAll(async () => {
    expect(fs.existsSync(main), "run `npm run build` first (npm test does)").toBe(true);
    pki = await makeTestPki(peerOrSkip("openssl")!, privateTempDir("tock-client-ntpsec-pki-"));
    ntpd = startNtpsecNtsServer(pki, "tock-client-ntpsec-nts-").proc;
  }, 60_000);

  afterAll(stopAllPeers);

  it("selects NTPsec over NTS, offset near zero", async () => {
    const { proc, socket } = startTockIn(ntpd, privateTempDir("tock-client-ntpsec-"), pki.caCert);
    let table: SourceReport[] | undefined;
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      table = await sources(socket);
      if (table?.[0]?.state === "selected") break;
    }
    const source = table?.[0];
    expect(source, proc.output()).toBeDefined();
    expect(source).toMatchObject({ kind: "nts", address: "127.0.0.1:123", state: "selected", stratum: 8 });
    expect(Math.abs(source!.offset!)).toBeLessThan(0.01);
    expect(source!.lastSample).not.toBeNull();
  }, 60_000);
});
