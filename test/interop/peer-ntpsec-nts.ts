// NTPsec ntpd as an NTS server (1.2.2: AEAD 15, 16, 17) for tock's NTS client tests
// (nts-query-ntpsec.test.ts, client-nts-ntpsec.test.ts).
//
// NTPsec 1.2.2 binds its NTS-KE listener to 0.0.0.0:4460 and [::]:4460 with no option to narrow
// it, so ntpd runs in a private network namespace (`unshare -n`, only its own loopback) and the
// tock under test joins that namespace (`nsenter --net=/proc/PID/ns/net`): nothing is exposed
// beyond the test, and neither port 123 nor 4460 of the machine is touched. Otherwise ntpd runs as
// in peer-ntpsec.ts: orphan mode, `disable ntp`/`disable kernel`, no CAP_SYS_TIME, lifetime cap.
import fs from "node:fs";
import path from "node:path";
import type { TestPki } from "../nts-client/certs.js";
import { NTPSEC_PYTHONPATH, REQUIRE_INTEROP, requirePeer } from "./peer-find.js";
import { privateTempDir, runCommand, startProcess, type PeerProcess } from "./peer-process.js";

/** Whether `unshare -n` works here (it needs root or user namespaces); with REQUIRE_INTEROP=1 it must. */
export async function namespacesWork(): Promise<boolean> {
  const result = await runCommand("unshare", ["-n", "true"], { timeoutMs: 5000 });
  if (result.code !== 0 && REQUIRE_INTEROP) throw new Error(`unshare -n fails (REQUIRE_INTEROP=1): ${result.stderr}`);
  return result.code === 0;
}

/**
 * Starts ntpd with NTS (the PKI's server certificate) in a new network namespace, 127.0.0.1 only;
 * returns at once (the caller waits for it to answer). `dir` holds its config, log and cookie keys.
 */
export function startNtpsecNtsServer(pki: TestPki, dirPrefix: string): { proc: PeerProcess; dir: string } {
  const dir = privateTempDir(dirPrefix);
  const configFile = path.join(dir, "ntp.conf");
  fs.writeFileSync(
    configFile,
    [
      "interface ignore wildcard",
      "interface listen 127.0.0.1",
      "tos orphan 8 orphanwait 0",
      "disable ntp",
      "disable kernel",
      `statsdir ${dir}/`,
      "restrict default ignore",
      "restrict 127.0.0.1",
      `nts cert ${pki.serverCert}`,
      `nts key ${pki.serverKey}`,
      `nts cookie ${path.join(dir, "nts-keys")}`,
      "nts enable",
    ].join("\n") + "\n",
  );
  const ntpd = [
    requirePeer("timeout"), "--kill-after=5", "300",
    requirePeer("setpriv"), "--bounding-set", "-sys_time",
    requirePeer("ntpd"), "-n", "-c", configFile, "-p", path.join(dir, "ntpd.pid"), "-l", path.join(dir, "ntpd.log"),
  ];
  // unshare and sh exec in turn, so the PID the harness stops is `timeout`, which passes TERM on.
  // The new namespace's loopback starts down: `ip` (iproute2) raises it, or, where iproute2 is not
  // installed, python3 (which NTPsec's tools need anyway) does the same SIOCSIFFLAGS ioctl.
  const loUp =
    "ip link set lo up 2>/dev/null || python3 -c \"import socket,fcntl,struct; " +
    "fcntl.ioctl(socket.socket(), 0x8914, struct.pack('16sH14x', b'lo', 0x1|0x8|0x40))\"";
  const proc = startProcess("ntpd", "unshare", ["-n", "sh", "-c", `(${loUp}) && exec "$@"`, "sh", ...ntpd], { PYTHONPATH: NTPSEC_PYTHONPATH });
  return { proc, dir };
}
