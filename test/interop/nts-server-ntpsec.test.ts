// NTPsec's ntpd (1.2.2: AEAD 15, 16, 17) as an NTS client of tock: NTS-KE against tock's KE server
// with the test CA, then NTS-protected NTP on the negotiated port. Evidence: ntpd's association
// becomes reachable (NTPsec counts only authenticated responses for an NTS source) and tock's
// NTS counters show answered requests and no NAKs or drops. Needs port 123 (ntpd always binds it),
// so it runs under the harness's port lock.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NTPSEC_PYTHONPATH, lockNtpPort, parseNtpqVariables, peerOrSkip, privateTempDir, requirePeer, runCommand, startProcess, stopAllPeers } from "./peers.js";
import { startInProcessNtsServer, type InProcessNtsServer } from "./nts-server-support.js";

const ntpd = peerOrSkip("ntpd", "ntpq", "setpriv", "timeout", "openssl");

describe.skipIf(!ntpd)("NTPsec ntpd as an NTS client of tock", () => {
  let server: InProcessNtsServer;
  let release: (() => void) | undefined;
  beforeAll(async () => {
    server = await startInProcessNtsServer();
  });
  afterAll(async () => {
    await stopAllPeers();
    release?.();
    await server?.stop();
  });

  it.each([
    ["default (AES_SIV_CMAC_256)", "", 15],
    ["AES_SIV_CMAC_384", " aead AES_SIV_CMAC_384", 16],
    ["AES_SIV_CMAC_512", " aead AES_SIV_CMAC_512", 17],
  ])("ntpd with AEAD %s negotiates NTS with tock; its association becomes reachable on authenticated responses", { timeout: 90_000 }, async (_name, aeadOption, aeadId) => {
    release ??= await lockNtpPort();
    const before = server.nts.counters().answered;
    const dir = privateTempDir("tock-ntpsec-nts-");
    const conf = path.join(dir, "ntp.conf");
    fs.writeFileSync(conf, [
      "interface ignore wildcard",
      "interface listen 127.0.0.1",
      `server 127.0.0.1:${server.kePort} nts ca ${server.certs.caPath}${aeadOption} iburst minpoll 1 maxpoll 1`,
      "disable ntp",
      "disable kernel",
      `statsdir ${dir}/`,
      "restrict default ignore",
      "restrict 127.0.0.1",
    ].join("\n") + "\n");
    const proc = startProcess("ntpd", requirePeer("timeout"), [
      "--kill-after=5", "60",
      requirePeer("setpriv"), "--bounding-set", "-sys_time",
      requirePeer("ntpd"), "-n", "-c", conf, "-p", path.join(dir, "ntpd.pid"), "-l", path.join(dir, "ntpd.log"), "-D", "1",
    ], { PYTHONPATH: NTPSEC_PYTHONPATH });
    let peers = "";
    let reach = "0";
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      const r = await runCommand(requirePeer("ntpq"), ["-n", "-c", "rv &1 reach,flash,srcadr,srcport", "127.0.0.1"], { timeoutMs: 10_000, env: { PYTHONPATH: NTPSEC_PYTHONPATH } });
      peers = r.stdout + r.stderr;
      reach = parseNtpqVariables(r.stdout).reach ?? "0";
      if (reach !== "0" && reach !== "00" && server.nts.counters().answered - before >= 2) break;
    }
    const log = fs.existsSync(path.join(dir, "ntpd.log")) ? fs.readFileSync(path.join(dir, "ntpd.log"), "utf8") : "";
    await proc.stop();
    const detail = `${peers}\n${log.slice(-3000)}\n${proc.output().slice(-2000)}\ncounters ${JSON.stringify(server.nts.counters())}`;
    if (process.env.TOCK_TEST_VERBOSE) console.log(detail);
    expect(Number.parseInt(reach, 8), detail).toBeGreaterThan(0);
    const c = server.nts.counters();
    expect(c.answered - before, detail).toBeGreaterThanOrEqual(2);
    expect(log, detail).toContain(`aead=${aeadId}`);
    expect(c.nak_bad_authenticator + c.nak_bad_cookie + c.nak_unknown_key + c.dropped_malformed + c.dropped_placeholder, detail).toBe(0);
    expect(server.plainAnswered(), detail).toBe(0);
    expect(log, detail).toMatch(/NTSc: .*(Using|Negotiated|Got) /i);
  });
});
