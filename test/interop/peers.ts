// Shared harness for interop tests against real NTP implementations (chrony, NTPsec), used by every
// test/interop/*.test.ts. Facts it relies on are in ../shared/PEERS.md.
//
// Safety, because these are real time daemons running as root on a shared machine:
//   - every daemon runs under `setpriv --bounding-set -sys_time`, so it physically cannot step or
//     slew the clock (clock_settime/adjtimex fail with EPERM); chronyd additionally gets -x, NTPsec
//     ntpd gets `disable ntp` + `disable kernel`;
//   - daemons listen on loopback only and have a lifetime cap (chronyd -t, `timeout` for ntpd), so a
//     crashed test run cannot leave them serving forever;
//   - everything started here is remembered and killed BY PID in stopAllPeers() (call it in
//     afterAll), TERM first, KILL after a grace period;
//   - each daemon gets a private temp dir (mode 700: chronyd refuses a command socket otherwise).
//
// Usage:
//   const chronyd = peerOrSkip("chronyd");          // undefined → skip; throws if REQUIRE_INTEROP=1
//   describe.skipIf(!chronyd)("…", () => {
//     let server: ChronydServer;
//     beforeAll(async () => { server = await startChronydServer({ stratum: 8 }); });
//     afterAll(stopAllPeers);
//     …
//   });
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

// --- finding peers ---------------------------------------------------------------------------------

/** True when missing peers must fail the run instead of skipping (set by .ci/run). */
export const REQUIRE_INTEROP = process.env.REQUIRE_INTEROP === "1";

export type PeerName = "chronyd" | "chronyc" | "ntpdig" | "sntp" | "ntpd" | "ntpq" | "faketime" | "openssl" | "setpriv" | "timeout";

/** Where NTPsec is unpacked (PEERS.md: dpkg -x into /opt/ntpsec, since it conflicts with chrony). */
export const NTPSEC_ROOT = process.env.TOCK_NTPSEC_ROOT ?? "/opt/ntpsec";
const NTPSEC_PYTHONPATH = path.join(NTPSEC_ROOT, "usr/lib/python3/dist-packages");

const FIXED_LOCATIONS: Partial<Record<PeerName, string[]>> = {
  ntpd: [path.join(NTPSEC_ROOT, "usr/sbin/ntpd")],
  ntpq: [path.join(NTPSEC_ROOT, "usr/bin/ntpq")],
  faketime: [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
  ],
};

function executableOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Absolute path of a peer binary (or, for "faketime", the preload library), or undefined. */
export function findPeer(name: PeerName): string | undefined {
  const fixed = FIXED_LOCATIONS[name];
  if (fixed !== undefined) return fixed.find((p) => fs.existsSync(p));
  return executableOnPath(name);
}

/**
 * The peer's path, or undefined to skip the tests that need it. With REQUIRE_INTEROP=1 a missing
 * peer throws instead, so CI cannot pass by silently skipping.
 */
export function peerOrSkip(...names: PeerName[]): string | undefined {
  const missing = names.filter((n) => findPeer(n) === undefined);
  if (missing.length > 0) {
    if (REQUIRE_INTEROP) throw new Error(`interop peer(s) missing: ${missing.join(", ")} (REQUIRE_INTEROP=1)`);
    return undefined;
  }
  return findPeer(names[0] ?? "chronyd");
}

function requirePeer(name: PeerName): string {
  const found = findPeer(name);
  if (found === undefined) throw new Error(`interop peer '${name}' not found`);
  return found;
}

// --- ports and directories -----------------------------------------------------------------------

/**
 * A loopback port that is free for UDP (and TCP too, when `tcp`), as the kernel hands it out. Another
 * process may take it before the caller binds; start functions retry on a bind failure.
 */
export async function freePort(options: { host?: string; tcp?: boolean } = {}): Promise<number> {
  const host = options.host ?? "127.0.0.1";
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await bindUdpEphemeral(host);
    if (!options.tcp || (await tcpPortFree(host, port))) return port;
  }
  throw new Error("no free loopback port found in 20 attempts");
}

function bindUdpEphemeral(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    socket.once("error", reject);
    socket.bind(0, host, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

function tcpPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** True if ::1 is configured (IPv6 loopback tests skip otherwise; containers sometimes lack it). */
export async function ipv6LoopbackAvailable(): Promise<boolean> {
  try {
    await bindUdpEphemeral("::1");
    return true;
  } catch {
    return false;
  }
}

const tempDirs: string[] = [];

/** A fresh private directory (mode 700) removed by stopAllPeers(). */
export function privateTempDir(prefix = "tock-peer-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  tempDirs.push(dir);
  return dir;
}

// --- processes -------------------------------------------------------------------------------------

/** A daemon started by this harness. */
export interface PeerProcess {
  readonly name: string;
  readonly pid: number;
  /** Everything it wrote to stdout/stderr so far (bounded to the last 64 KiB). */
  output(): string;
  /** Resolves when it has exited. */
  readonly exited: Promise<number | null>;
  /** TERM, then KILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<PeerProcess>();
const OUTPUT_LIMIT = 64 * 1024;

function startProcess(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): PeerProcess {
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let text = "";
  const append = (chunk: Buffer) => {
    text = (text + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", (err) => {
      append(Buffer.from(`spawn failed: ${err.message}\n`));
      resolve(null);
    });
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = child.pid;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const proc: PeerProcess = {
    name,
    pid,
    output: () => text,
    exited,
    async stop(graceMs = 3000) {
      running.delete(proc);
      if (gone) return;
      signal(pid, "SIGTERM");
      const timer = setTimeout(() => signal(pid, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(proc);
  return proc;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Stops every daemon this harness started (by PID), releases locks, removes temp dirs. For afterAll. */
export async function stopAllPeers(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
  for (const release of [...heldLocks]) release();
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs a command to completion (bounded by timeoutMs) and captures its output. */
export async function runCommand(
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => child.pid !== undefined && signal(child.pid, "SIGKILL"), options.timeoutMs ?? 30_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + err.message });
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// --- readiness -------------------------------------------------------------------------------------

/**
 * Sends minimal NTP client requests to host:port until something answers with a server-mode packet
 * (first byte's low 3 bits = 4), or the deadline passes. A readiness probe only: the answer is not
 * parsed further (the code under test does that).
 */
export async function waitForNtpServer(host: string, port: number, timeoutMs = 10_000, exitedEarly?: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void exitedEarly?.then(() => (dead = true));
  while (Date.now() < deadline && !dead) {
    if (await probeOnce(host, port, 300)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no NTP answer from ${host} port ${port} within ${timeoutMs} ms${dead ? " (process exited)" : ""}`);
}

function probeOnce(host: string, port: number, waitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    const request = Buffer.alloc(48);
    request[0] = 0x23; // LI 0, version 4, mode 3 (client)
    request.writeUInt32BE(0x12345678, 40); // a non-zero transmit timestamp, as servers expect
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on("message", (msg) => done(msg.length >= 48 && ((msg[0] ?? 0) & 7) === 4));
    socket.on("error", () => done(false));
    socket.send(request, port, host);
  });
}

// --- a cross-process lock for fixed ports (NTPsec ntpd and ntpdig only know port 123) ---------------

const heldLocks = new Set<() => void>();

/**
 * Takes a machine-wide lock named `name` (a directory under the temp dir holding the owner's PID),
 * waiting up to timeoutMs. A lock whose owner process is gone is broken. Returns the release function
 * (also called by stopAllPeers()).
 */
export async function acquireLock(name: string, timeoutMs = 60_000): Promise<() => void> {
  const dir = path.join(os.tmpdir(), `tock-interop-${name}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.writeFileSync(path.join(dir, "pid"), String(process.pid));
      const release = () => {
        if (!heldLocks.delete(release)) return;
        fs.rmSync(dir, { recursive: true, force: true });
      };
      heldLocks.add(release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (lockOwnerGone(dir)) {
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${dir}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function lockOwnerGone(dir: string): boolean {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dir, "pid"), "utf8"));
  } catch {
    // Being created right now (mkdir done, pid not yet written): give it a moment unless it is old.
    try {
      return Date.now() - fs.statSync(dir).mtimeMs > 5000;
    } catch {
      return true;
    }
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Port 123 on loopback is shared by every test that needs it (NTPsec ntpd, ntpdig): hold this lock. */
export function lockNtpPort(timeoutMs = 60_000): Promise<() => void> {
  return acquireLock("udp-123", timeoutMs);
}

// --- chronyd as a server ---------------------------------------------------------------------------

export interface ChronydServerOptions {
  /**
   * `local stratum N`: serve time with no sources at this stratum (default 8). null leaves `local`
   * out: chronyd then has no time to serve and answers unsynchronised (leap 3, stratum 0).
   */
  stratum?: number | null;
  /** Also listen on ::1 (default: when available). */
  ipv6?: boolean;
  /** Extra config lines (e.g. NTS: ntsport, ntsserverkey, …; ratelimit). */
  extraConfig?: string[];
  /** Shift the daemon's clock with libfaketime (seconds; use |shift| ≥ 1, see PEERS.md). */
  faketimeShift?: number;
  /** Lifetime cap in seconds (chronyd -t), default 600. */
  maxLifetimeS?: number;
}

export interface ChronydServer {
  readonly process: PeerProcess;
  readonly port: number;
  readonly dir: string;
  readonly ipv6: boolean;
  readonly socketPath: string;
  /** Runs chronyc against this daemon's command socket. */
  chronyc(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** `chronyc -c tracking`, parsed. */
  tracking(): Promise<ChronyTracking>;
  stop(): Promise<void>;
}

export interface ChronyTracking {
  referenceIdHex: string;
  referenceName: string;
  stratum: number;
  /** chronyc's "Leap status": Normal, Insert second, Delete second, Not synchronised. */
  leapStatus: string;
  rootDelay: number;
  rootDispersion: number;
}

export async function startChronydServer(options: ChronydServerOptions = {}): Promise<ChronydServer> {
  const chronyd = requirePeer("chronyd");
  const chronyc = requirePeer("chronyc");
  const setpriv = requirePeer("setpriv");
  const ipv6 = options.ipv6 ?? (await ipv6LoopbackAvailable());
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = privateTempDir("tock-chronyd-");
    const port = await freePort();
    const socketPath = path.join(dir, "chronyd.sock");
    const config = [
      `port ${port}`,
      "bindaddress 127.0.0.1",
      ...(ipv6 ? ["bindaddress ::1", "allow ::1"] : []),
      "allow 127.0.0.0/8",
      ...(options.stratum === null ? [] : [`local stratum ${options.stratum ?? 8}`]),
      "cmdport 0",
      `bindcmdaddress ${socketPath}`,
      `pidfile ${path.join(dir, "chronyd.pid")}`,
      ...(options.extraConfig ?? []),
    ];
    const configFile = path.join(dir, "chronyd.conf");
    fs.writeFileSync(configFile, config.join("\n") + "\n");
    const env: NodeJS.ProcessEnv = {};
    if (options.faketimeShift !== undefined) {
      env.LD_PRELOAD = requirePeer("faketime");
      env.FAKETIME = `${options.faketimeShift >= 0 ? "+" : ""}${options.faketimeShift}`;
    }
    const proc = startProcess(
      "chronyd",
      setpriv,
      ["--bounding-set", "-sys_time", chronyd, "-u", "root", "-x", "-d", "-t", String(options.maxLifetimeS ?? 600), "-f", configFile],
      env,
    );
    try {
      await waitForNtpServer("127.0.0.1", port, 10_000, proc.exited);
    } catch (err) {
      lastError = new Error(`${(err as Error).message}\nchronyd output:\n${proc.output()}`);
      await proc.stop();
      continue; // most likely the port was taken between freePort() and bind: try another
    }
    const runChronyc = (...args: string[]) => runCommand(chronyc, ["-h", socketPath, ...args], { timeoutMs: 10_000 });
    return {
      process: proc,
      port,
      dir,
      ipv6,
      socketPath,
      chronyc: runChronyc,
      async tracking() {
        const result = await runChronyc("-c", "tracking");
        if (result.code !== 0) throw new Error(`chronyc tracking failed: ${result.stderr}${result.stdout}`);
        return parseChronycTracking(result.stdout);
      },
      stop: () => proc.stop(),
    };
  }
  throw lastError instanceof Error ? lastError : new Error("chronyd did not start");
}

/** Parses `chronyc -c tracking` (CSV; field order as chrony 4.x prints it). */
export function parseChronycTracking(csv: string): ChronyTracking {
  const f = csv.trim().split(",");
  if (f.length < 14) throw new Error(`unexpected chronyc -c tracking output: ${csv}`);
  return {
    referenceIdHex: (f[0] ?? "").toUpperCase(),
    referenceName: f[1] ?? "",
    stratum: Number(f[2]),
    rootDelay: Number(f[10]),
    rootDispersion: Number(f[11]),
    leapStatus: f[13] ?? "",
  };
}

// --- chronyd as a one-shot client of a server under test ------------------------------------------

export interface ChronydClientResult {
  code: number | null;
  output: string;
  /** From "System clock wrong by X seconds": positive when the server is AHEAD of us. */
  offset: number | undefined;
}

/**
 * Runs `chronyd -Q` (measure, never set) against host:port and returns the offset it measured.
 * `sourceOptions` is appended to the `server` directive (default "iburst maxsamples 2");
 * `extraDirectives` are more config lines (e.g. 'ntstrustedcerts /path/ca.crt').
 */
export async function runChronydClient(options: {
  host?: string;
  port: number;
  sourceOptions?: string;
  extraDirectives?: string[];
  timeoutS?: number;
}): Promise<ChronydClientResult> {
  const chronyd = requirePeer("chronyd");
  const setpriv = requirePeer("setpriv");
  const dir = privateTempDir("tock-chronyd-client-");
  const timeoutS = options.timeoutS ?? 15;
  const server = `server ${options.host ?? "127.0.0.1"} port ${options.port} ${options.sourceOptions ?? "iburst maxsamples 2"}`;
  const result = await runCommand(
    setpriv,
    [
      "--bounding-set", "-sys_time",
      chronyd, "-u", "root", "-Q", "-t", String(timeoutS),
      server,
      `pidfile ${path.join(dir, "chronyd.pid")}`,
      "cmdport 0",
      ...(options.extraDirectives ?? []),
    ],
    { timeoutMs: (timeoutS + 10) * 1000 },
  );
  const output = result.stdout + result.stderr;
  // chronyd prints "System clock wrong by -0.000012 seconds (ignored)" — wrong by X means our clock
  // must move by X to agree, i.e. X = server − local = the offset as RFC 5905 defines it.
  const match = /System clock wrong by ([-+]?[0-9.]+(?:e[-+]?\d+)?) seconds/.exec(output);
  return { code: result.code, output, offset: match ? Number(match[1]) : undefined };
}

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
