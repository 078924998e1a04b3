// Interop harness: NTPsec's ntpd as an orphan-mode server on loopback port 123 (under the port lock),
// ntpq, and ntpdig as a client. Re-exported by ./peers.ts.
import fs from "node:fs";
import path from "node:path";
import { NTPSEC_PYTHONPATH, requirePeer } from "./peer-find.js";
import { ipv6LoopbackAvailable, lockNtpPort, privateTempDir, runCommand, startProcess, waitForNtpServer, type PeerProcess } from "./peer-process.js";

// --- NTPsec ntpd as a server -----------------------------------------------------------------------

export interface NtpsecServer {
  readonly process: PeerProcess;
  /** Always 123: NTPsec has no option to serve on another port. */
  readonly port: 123;
  readonly dir: string;
  readonly ipv6: boolean;
  /** Runs ntpq (mode 6) against this daemon. */
  ntpq(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** `ntpq -c "rv 0 …"` system variables, parsed (values as strings). */
  systemVariables(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * Starts NTPsec's ntpd serving on 127.0.0.1:123 (and [::1]:123) in orphan mode: with no sources and
 * `tos orphan N orphanwait 0` it becomes its own orphan parent at once — stratum N, refid 127.0.0.1
 * (the loopback address, RFC 5905 orphan convention), leap 0. `disable ntp` / `disable kernel` keep it
 * from disciplining, and without CAP_SYS_TIME its ntp_adjtime calls fail with EPERM (logged, harmless).
 * Holds the machine-wide port-123 lock while it runs.
 */
export async function startNtpsecServer(options: { stratum?: number; ipv6?: boolean; maxLifetimeS?: number } = {}): Promise<NtpsecServer> {
  const ntpd = requirePeer("ntpd");
  const ntpq = requirePeer("ntpq");
  const setpriv = requirePeer("setpriv");
  const timeout = requirePeer("timeout");
  const ipv6 = options.ipv6 ?? (await ipv6LoopbackAvailable());
  const release = await lockNtpPort();
  const dir = privateTempDir("tock-ntpsec-");
  const configFile = path.join(dir, "ntp.conf");
  fs.writeFileSync(
    configFile,
    [
      "interface ignore wildcard",
      "interface listen 127.0.0.1",
      ...(ipv6 ? ["interface listen ::1"] : []),
      `tos orphan ${options.stratum ?? 8} orphanwait 0`,
      "disable ntp",
      "disable kernel",
      `statsdir ${dir}/`,
      "restrict default ignore",
      "restrict 127.0.0.1",
      ...(ipv6 ? ["restrict ::1"] : []),
    ].join("\n") + "\n",
  );
  const proc = startProcess(
    "ntpd",
    timeout,
    [
      "--kill-after=5", String(options.maxLifetimeS ?? 600),
      setpriv, "--bounding-set", "-sys_time",
      ntpd, "-n", "-c", configFile, "-p", path.join(dir, "ntpd.pid"), "-l", path.join(dir, "ntpd.log"),
    ],
    { PYTHONPATH: NTPSEC_PYTHONPATH },
  );
  try {
    await waitForNtpServer("127.0.0.1", 123, 15_000, proc.exited);
  } catch (err) {
    const log = fs.existsSync(path.join(dir, "ntpd.log")) ? fs.readFileSync(path.join(dir, "ntpd.log"), "utf8") : "";
    await proc.stop();
    release();
    throw new Error(`${(err as Error).message}\nntpd output:\n${proc.output()}\n${log}`);
  }
  void proc.exited.then(release);
  const runNtpq = (...args: string[]) =>
    runCommand(ntpq, args, { timeoutMs: 10_000, env: { PYTHONPATH: NTPSEC_PYTHONPATH } });
  const systemVariables = async () => {
    const result = await runNtpq("-c", "rv 0 leap,stratum,refid,precision,rootdelay,rootdisp", "127.0.0.1");
    if (result.code !== 0) throw new Error(`ntpq failed: ${result.stderr}${result.stdout}`);
    return parseNtpqVariables(result.stdout);
  };
  // It answers at once (stratum 16, "INIT"); orphan parenthood begins at its next 1 s timer tick.
  const stratum = String(options.stratum ?? 8);
  const orphanDeadline = Date.now() + 15_000;
  for (;;) {
    const vars = await systemVariables().catch(() => ({}) as Record<string, string>);
    if (vars.stratum === stratum) break;
    if (Date.now() > orphanDeadline) {
      await proc.stop();
      throw new Error(`ntpd did not become an orphan parent at stratum ${stratum}: ${JSON.stringify(vars)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    process: proc,
    port: 123,
    dir,
    ipv6,
    ntpq: runNtpq,
    systemVariables,
    async stop() {
      await proc.stop();
      release();
    },
  };
}

/** Parses ntpq's `name=value, name=value` lines (values may be quoted). */
export function parseNtpqVariables(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const m of text.matchAll(/([A-Za-z_][\w.]*)=("[^"]*"|[^,\s]*)/g)) {
    vars[m[1] ?? ""] = (m[2] ?? "").replace(/^"|"$/g, "");
  }
  return vars;
}

// --- ntpdig as a client ----------------------------------------------------------------------------

/** Runs NTPsec's ntpdig with --json against host (port 123 only) and parses its report. */
export async function runNtpdig(host: string, args: string[] = [], timeoutS = 5): Promise<{ code: number | null; json: Record<string, unknown> | undefined; output: string }> {
  const ntpdig = requirePeer("ntpdig");
  const result = await runCommand(ntpdig, ["-j", "-t", String(timeoutS), ...args, host], { timeoutMs: (timeoutS + 10) * 1000 });
  let json: Record<string, unknown> | undefined;
  const line = result.stdout.split("\n").find((l) => l.trim().startsWith("{"));
  if (line !== undefined) {
    try {
      json = JSON.parse(line) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
  }
  return { code: result.code, json, output: result.stdout + result.stderr };
}
