// Interop harness: loopback ports, private temp dirs, daemon processes (killed by PID), bounded
// command runs, an NTP readiness probe, and a cross-process lock. Re-exported by ./peers.ts.
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

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

/** Starts a daemon, remembers it for stopAllPeers(), and captures its output. */
export function startProcess(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): PeerProcess {
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
