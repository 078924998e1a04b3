// Helpers for tests that run `tock daemon` as a real process on loopback: free ports, start/stop,
// JSON log lines, Prometheus metrics, raw NTP requests. Every process started here is killed by
// stopAll() (call it in afterAll), even when a test fails.
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = join(ROOT, "dist", "ts", "cli", "main.js");
export const built = existsSync(CLI);

/** The server engines a [[server]] can use (`engine = …`); process tests run against each. The
 *  batch engine needs Linux x64/arm64 (ts/daemon/linux-udp.ts). */
export const ENGINES: ("dgram" | "batch")[] =
  process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64") ? ["dgram", "batch"] : ["dgram"];

/** A UDP port that was free a moment ago on `host` (the kernel's choice for port 0). */
export async function freeUdpPort(host = "127.0.0.1"): Promise<number> {
  const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind(0, host, () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A TCP port that was free a moment ago (for the metrics endpoint). */
export async function freeTcpPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  dir: string;
  metricsPort: number;
  lines: LogLine[];
  stderr(): string;
  /** Resolves with the first log line matching `pred` (already seen or future), or rejects on timeout/exit. */
  waitForLine(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** GET /metrics, parsed into "name{labels}" → value. */
  metrics(): Promise<Map<string, number>>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

export function stopAll(): void {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  running.clear();
}

export async function startDaemon(toml: string, extraArgs: string[] = []): Promise<DaemonProcess> {
  const dir = mkdtempSync(join(tmpdir(), "tock-daemon-test-"));
  const config = join(dir, "tock.toml");
  writeFileSync(config, toml);
  const metricsPort = await freeTcpPort();
  // Belt and braces (issue 5, helper N): VITEST is inherited already; TOCK_NO_CLOCK_STEERING=1 keeps a
  // daemon child in observe mode even if a runner ever stopped passing VITEST on.
  const child = spawn(process.execPath, [CLI, "daemon", "-c", config, "--metrics-listen", `127.0.0.1:${metricsPort}`, ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TOCK_NO_CLOCK_STEERING: "1" },
  });
  running.add(child);
  const lines: LogLine[] = [];
  let err = "";
  let partial = "";
  const waiters: (() => void)[] = [];
  child.stdout!.on("data", (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split("\n");
    partial = parts.pop()!;
    for (const p of parts) {
      if (p.trim() === "") continue;
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ msg: `(not JSON) ${p}` });
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.on("data", (d: Buffer) => {
    if (err.length < 100_000) err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      running.delete(child);
      for (const w of waiters.splice(0)) w();
      resolve({ code, signal });
    }),
  );
  const d: DaemonProcess = {
    child,
    pid: child.pid!,
    dir,
    metricsPort,
    lines,
    stderr: () => err,
    waitForLine(pred, timeoutMs = 15_000) {
      return new Promise<LogLine>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`timed out waiting for a log line; stderr: ${err}; lines: ${JSON.stringify(lines.slice(-5))}`)), timeoutMs);
        const check = () => {
          const hit = lines.find(pred);
          if (hit !== undefined) {
            clearTimeout(deadline);
            resolve(hit);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(deadline);
            reject(new Error(`daemon exited (${child.exitCode ?? child.signalCode}): ${err}`));
          } else waiters.push(check);
        };
        check();
      });
    },
    async metrics() {
      const text = await new Promise<string>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port: metricsPort, path: "/metrics", timeout: 5000 }, (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString()));
            res.on("end", () => resolve(body));
          })
          .on("error", reject);
      });
      return parseMetrics(text);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const r = await exited;
      clearTimeout(kill);
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  await d.waitForLine((l) => typeof l.msg === "string" && l.msg.startsWith("serving NTP"));
  return d;
}

/** Prometheus text → "name{labels}" → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Sum of every series of `name` whose label text contains all of `has` (e.g. 'reason="malformed"'). */
export function metricSum(m: Map<string, number>, name: string, ...has: string[]): number {
  let sum = 0;
  for (const [k, v] of m) if ((k === name || k.startsWith(`${name}{`)) && has.every((h) => k.includes(h))) sum += v;
  return sum;
}

/** A 48-byte NTPv4 client request with the given transmit timestamp. */
export function clientRequest(transmit: bigint, version = 4): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (version << 3) | 3;
  b.writeBigUInt64BE(transmit, 40);
  return b;
}

export function decodeResponse(r: Buffer) {
  return {
    length: r.length,
    leap: r[0]! >> 6,
    version: (r[0]! >> 3) & 7,
    mode: r[0]! & 7,
    stratum: r[1]!,
    referenceId: r.length >= 16 ? r.toString("latin1", 12, 16) : "",
    origin: r.length >= 32 ? r.readBigUInt64BE(24) : 0n,
    receive: r.length >= 40 ? r.readBigUInt64BE(32) : 0n,
    transmit: r.length >= 48 ? r.readBigUInt64BE(40) : 0n,
  };
}

/** A UDP socket bound to `host` that collects every datagram it receives. */
export async function collector(host = "127.0.0.1"): Promise<{ socket: dgram.Socket; received: Buffer[]; port: number; close(): Promise<void> }> {
  const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  const received: Buffer[] = [];
  socket.on("message", (m) => received.push(m));
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, host, () => resolve());
  });
  return { socket, received, port: socket.address().port, close: () => new Promise<void>((r) => socket.close(() => r())) };
}

export function send(socket: dgram.Socket, bytes: Uint8Array, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => socket.send(bytes, port, host, (e) => (e ? reject(e) : resolve())));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ProcessOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node script ...args` to completion (SIGKILL after `timeoutMs`); its exit code and output. */
export function runProcess(script: string, args: string[], timeoutMs = 20_000): Promise<ProcessOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the built `tock` CLI (dist/) with `args`. */
export function runCli(args: string[]): Promise<ProcessOutcome> {
  return runProcess(CLI, args);
}

/** Waits until `cond()` holds or `timeoutMs` passes; returns the final value of cond(). */
export async function until(cond: () => boolean, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await sleep(5);
  return cond();
}
