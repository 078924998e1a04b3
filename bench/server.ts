// Server throughput benchmark: tock against chronyd (and a trivial C responder as the ceiling), in
// the same run, on loopback. Each server is pinned to core 0 and the load generator
// (bench/server-load.ts, batched sendmmsg/recvmmsg) to core 1 with taskset where available.
//
// For every server and offered rate: `--repeat` runs of the generator, the median by responses/s is
// reported with its loss, p50/p99 latency and the server's CPU% (from /proc/PID/stat over the run).
// The last lines give tock/chronyd ratios per offered rate.
//
// usage: npm run build && node dist/bench/server.js [--rates 100000,200000,400000] [--duration 3]
//        [--repeat 3] [--servers echo,chronyd,chronyd-noclientlog,dgram-naive,tock-dgram,tock-batch,tock-batch-proto] [--gso 16]
// Servers: echo = C recvmmsg/sendmmsg responder (the ceiling); dgram-naive = the least a node:dgram
// server can do (baseline of the dgram engine); tock-dgram / tock-batch = `tock daemon` with
// engine = "dgram" / engine = "batch" and one worker; tock-batch-proto = a single-thread prototype
// with copies (bench/server-batch-proto.ts), for comparison with the engine.
// Everything is bounded: each generator run by --duration (max 60 s), each server by a kill at the end.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadResult } from "./server-load.js";

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = join(here, "..", "..");

interface Options {
  rates: number[];
  durationSeconds: number;
  repeat: number;
  servers: string[];
  gso: number;
  basePort: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rates: [100_000, 200_000, 400_000], durationSeconds: 3, repeat: 3, servers: ["echo", "chronyd", "chronyd-noclientlog", "dgram-naive", "tock-dgram", "tock-batch"], gso: 16, basePort: 12300 + (process.pid % 500) * 8 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? "";
    switch (argv[i]) {
      case "--rates": o.rates = v.split(",").map(Number).filter((n) => n > 0 && n <= 5_000_000); break;
      case "--duration": o.durationSeconds = Math.min(60, Math.max(0.5, Number(v))); break;
      case "--repeat": o.repeat = Math.min(9, Math.max(1, Math.floor(Number(v)))); break;
      case "--servers": o.servers = v.split(","); break;
      case "--gso": o.gso = Math.min(64, Math.max(1, Math.floor(Number(v)))); break;
      case "--port": o.basePort = Number(v); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

const cores = (() => {
  try {
    return spawnSync("nproc", [], { encoding: "utf8" }).stdout.trim() === "1" ? 1 : 2;
  } catch {
    return 1;
  }
})();
const pin = has("taskset") && cores >= 2;
/** Prefix that pins a command to `core` when taskset and two cores are available. */
function pinned(core: number, cmd: string[]): string[] {
  return pin ? ["taskset", "-c", String(core), ...cmd] : cmd;
}

interface RunningServer {
  name: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

function startProcess(name: string, cmd: string[], port: number, env: NodeJS.ProcessEnv = process.env): RunningServer {
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "ignore", "pipe"], env });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGTERM" && signal !== "SIGKILL") process.stderr.write(`bench: ${name} exited (${code ?? signal}): ${stderr.slice(-2000)}\n`);
  });
  return {
    name,
    port,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** Sends mode-3 requests until one is answered (server ready) or `timeoutMs` passes. */
async function waitReady(port: number, timeoutMs = 10_000): Promise<boolean> {
  const sock = dgram.createSocket("udp4");
  const req = Buffer.alloc(48);
  req[0] = 0x23;
  req.writeUInt32BE(0x12345678, 40);
  const deadline = Date.now() + timeoutMs;
  try {
    return await new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      sock.on("message", () => done(true));
      sock.on("error", () => undefined); // ICMP port unreachable before the server is up
      const tick = () => {
        if (Date.now() > deadline) return done(false);
        sock.send(req, port, "127.0.0.1");
        timer = setTimeout(tick, 200);
      };
      tick();
    });
  } finally {
    sock.close();
  }
}

function cpuTicks(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    // Fields after the ")" of comm: state is field 3; utime and stime are fields 14 and 15.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function runGenerator(port: number, rate: number, o: Options): LoadResult & { serverCpu: number } {
  const count = Math.ceil(rate * o.durationSeconds);
  const cmd = pinned(1, [process.execPath, join(here, "server-load.js"), "--target", `127.0.0.1:${port}`, "--rate", String(rate), "--count", String(count), "--duration", String(o.durationSeconds + 1), "--gso", String(o.gso)]);
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", timeout: (o.durationSeconds + 20) * 1000 });
  if (r.status !== 0) throw new Error(`load generator failed: ${r.stderr || r.error?.message}`);
  return { ...(JSON.parse(r.stdout.trim().split("\n").pop()!) as LoadResult), serverCpu: NaN };
}

async function startServer(name: string, port: number, dir: string): Promise<RunningServer | undefined> {
  switch (name) {
    case "echo": {
      if (!has("cc")) return undefined;
      const bin = join(dir, "server-echo");
      const c = spawnSync("cc", ["-O2", "-o", bin, join(root, "bench", "server-echo.c")], { encoding: "utf8" });
      if (c.status !== 0) throw new Error(`cc failed: ${c.stderr}`);
      return startProcess(name, pinned(0, [bin, String(port), "600"]), port);
    }
    case "chronyd":
    case "chronyd-noclientlog": {
      const chronyd = existsSync("/usr/sbin/chronyd") ? "/usr/sbin/chronyd" : has("chronyd") ? "chronyd" : undefined;
      if (chronyd === undefined || !has("setpriv")) return undefined;
      const sub = join(dir, name);
      spawnSync("mkdir", ["-m", "700", "-p", sub]);
      const conf = join(sub, "chrony.conf");
      // No `ratelimit` directive: chronyd then never drops for rate (the bench floods from one address).
      writeFileSync(
        conf,
        [`port ${port}`, "bindaddress 127.0.0.1", "allow 127.0.0.0/8", "local stratum 8", "cmdport 0", `pidfile ${join(sub, "chronyd.pid")}`, `driftfile ${join(sub, "drift")}`, ...(name === "chronyd-noclientlog" ? ["noclientlog"] : [])].join("\n") + "\n",
      );
      // -x: never touch the clock; no CAP_SYS_TIME in the bounding set either (PEERS.md).
      return startProcess(name, ["setpriv", "--bounding-set", "-sys_time", ...pinned(0, [chronyd, "-u", "root", "-x", "-d", "-f", conf])], port);
    }
    case "dgram-naive": {
      return startProcess(name, pinned(0, [process.execPath, join(here, "server-dgram-naive.js"), String(port), "600"]), port);
    }
    case "tock-batch-proto": {
      // The issue-4 engine prototype (bench/server-batch-proto.ts): recvmmsg/sendmmsg + one WASM call per batch.
      return startProcess(name, pinned(0, [process.execPath, join(here, "server-batch-proto.js"), String(port), "600"]), port);
    }
    case "tock-dgram":
    case "tock-batch": {
      const conf = join(dir, `${name}.toml`);
      writeFileSync(conf, tockBenchConfig(port, name === "tock-batch" ? "batch" : "dgram"));
      return startProcess(name, pinned(0, [process.execPath, join(root, "dist", "ts", "cli", "main.js"), "daemon", "-c", conf]), port);
    }
    default:
      throw new Error(`unknown server ${name}`);
  }
}

/** tock serving its own clock like chronyd's `local stratum 8`; no `rate-limit` table = no limiting.
 *  The batch engine gets one worker: the server side has one core, as chronyd has. */
function tockBenchConfig(port: number, engine: "dgram" | "batch"): string {
  return [
    "[observability]",
    'log-level = "warn"',
    "",
    "[synchronization]",
    "local-stratum = 8",
    "",
    "[[server]]",
    `listen = "127.0.0.1:${port}"`,
    `engine = "${engine}"`,
    ...(engine === "batch" ? ["workers = 1"] : []),
    "",
  ].join("\n");
}

function median<T>(runs: T[], key: (t: T) => number): T {
  const sorted = [...runs].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "tock-bench-"));
  chmodSync(dir, 0o700);
  const rows: { server: string; rate: number; r: LoadResult & { serverCpu: number } }[] = [];
  process.stdout.write(`bench/server: ${o.servers.join(", ")} · rates ${o.rates.join(", ")} req/s · ${o.durationSeconds} s × ${o.repeat} (median) · ${pin ? "server on core 0, generator on core 1" : "NOT pinned (taskset or a second core missing)"}\n`);
  let port = o.basePort;
  for (const name of o.servers) {
    port += 1;
    const server = await startServer(name, port, dir);
    if (server === undefined) {
      process.stdout.write(`  ${name}: not available, skipped\n`);
      continue;
    }
    try {
      if (!(await waitReady(port))) {
        process.stdout.write(`  ${name}: did not answer on 127.0.0.1:${port}, skipped\n`);
        continue;
      }
      for (const rate of o.rates) {
        const runs = [];
        for (let k = 0; k < o.repeat; k++) {
          const c0 = cpuTicks(server.child.pid);
          const t0 = performance.now();
          const r = runGenerator(port, rate, o);
          const seconds = (performance.now() - t0) / 1000;
          r.serverCpu = ((cpuTicks(server.child.pid) - c0) / TICKS_PER_SECOND / Math.max(seconds, r.elapsedSeconds)) * 100;
          runs.push(r);
        }
        rows.push({ server: name, rate, r: median(runs, (x) => x.responsesPerSecond) });
      }
    } finally {
      await server.stop();
    }
  }
  rmSync(dir, { recursive: true, force: true });

  // resp/CPU-s: responses per second of server CPU time — less sensitive than responses/s to other
  // processes competing for the server's core (a shared machine), though not immune (caches).
  const header = ["server", "offered/s", "responses/s", "loss %", "p50 µs", "p99 µs", "server CPU %", "resp/CPU-s"];
  const table = rows.map(({ server, rate, r }) => [
    server,
    fmt(rate),
    fmt(r.responsesPerSecond),
    fmt(r.loss * 100, 2),
    fmt(r.latencyP50Micros),
    fmt(r.latencyP99Micros),
    fmt(r.serverCpu),
    fmt(r.serverCpu > 0 ? r.responsesPerSecond / (r.serverCpu / 100) : NaN),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  process.stdout.write("\n" + line(header) + "\n" + line(widths.map((w) => "-".repeat(w))) + "\n" + table.map(line).join("\n") + "\n\n");
  for (const rate of o.rates) {
    for (const ours of ["tock-dgram", "tock-batch", "tock-batch-proto"]) {
      const tock = rows.find((x) => x.server === ours && x.rate === rate);
      for (const base of ["chronyd", "chronyd-noclientlog", ...(ours === "tock-dgram" ? ["dgram-naive"] : [])]) {
        const b = rows.find((x) => x.server === base && x.rate === rate);
        if (tock && b) process.stdout.write(`${ours}/${base} at ${rate}/s offered: ${(tock.r.responsesPerSecond / b.r.responsesPerSecond).toFixed(2)}×\n`);
      }
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
