// Interop harness: chronyd as a server (local stratum, optional libfaketime shift) with chronyc on
// its private command socket, and chronyd as a one-shot measuring client. Re-exported by ./peers.ts.
import fs from "node:fs";
import path from "node:path";
import { requirePeer } from "./peer-find.js";
import { freePort, ipv6LoopbackAvailable, privateTempDir, runCommand, startProcess, waitForNtpServer, type PeerProcess } from "./peer-process.js";

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
