// The client side of the management socket, shared by `tock status` and `tock sources`: find the
// socket the way the daemon chose it (same config file, same built-in default), ask for the report,
// check it. Exit codes are shared too.
import { parseArgs } from "node:util";
import { createConnection } from "node:net";
import { formatIssue, loadConfigReport } from "../config/index.js";
import { observationPathCandidates } from "../observe/management.js";
import { decodeReport, type ManagementReport } from "../protocol/status.js";

export const ExitCode = {
  Ok: 0,
  /** The config file is missing or invalid. */
  BadConfig: 1,
  Usage: 2,
  /** No daemon answers on the socket (missing, refused, permission denied, timeout). */
  Unreachable: 3,
  /** The daemon answered, but with an error or something that is not a report. */
  BadResponse: 4,
} as const;

export const EXIT_CODES_TEXT = `exit status: 0 ok, 1 bad config file, 2 usage error, 3 daemon not reachable
(no socket, connection refused, permission denied, timeout), 4 bad answer from the daemon`;

/** A response is one JSON line; a report for hundreds of sources is well under this. */
const MAX_RESPONSE_BYTES = 16 << 20;
const DEFAULT_TIMEOUT_MS = 3000;

export type FetchResult =
  | { ok: true; report: ManagementReport; path: string }
  | { ok: false; code: (typeof ExitCode)[keyof typeof ExitCode]; message: string };

export interface CommonOptions {
  configPath: string | undefined;
  /** Explicit socket path (--socket), overriding the config. */
  socketPath: string | undefined;
  json: boolean;
  verbose: boolean;
  help: boolean;
}

/** Parses the options both commands share; throws with a usage message. */
export function parseCommonArgs(argv: string[], allowVerbose: boolean): CommonOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: "string", short: "c" },
      socket: { type: "string" },
      json: { type: "boolean" },
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new Error(`unexpected argument '${positionals[0]}'`);
  if (values.verbose && !allowVerbose) throw new Error("unknown option '-v'");
  return { configPath: values.config, socketPath: values.socket, json: values.json ?? false, verbose: values.verbose ?? false, help: values.help ?? false };
}

/** The socket paths to try: --socket, else the config's observation-path, else the built-in defaults. */
export function socketPaths(options: CommonOptions): string[] | { error: string } {
  if (options.socketPath !== undefined) return [options.socketPath];
  if (options.configPath !== undefined) {
    const report = loadConfigReport(options.configPath);
    if (report.config === undefined) return { error: report.errors.map(formatIssue).join("\n") };
    const configured = report.config.observability.observationPath;
    if (configured !== undefined) return [configured];
  }
  return observationPathCandidates();
}

/** Tries each path in turn; the first daemon that answers wins. */
export async function fetchReport(paths: string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<FetchResult> {
  const failures: string[] = [];
  for (const path of paths) {
    const r = await requestReport(path, timeoutMs);
    if (r.ok || r.code !== ExitCode.Unreachable) return r;
    failures.push(r.message);
  }
  return { ok: false, code: ExitCode.Unreachable, message: `cannot reach the tock daemon: ${failures.join("; ")}` };
}

/** One request on one socket path. */
export function requestReport(path: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<FetchResult> {
  return new Promise<FetchResult>((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    const finish = (r: FetchResult) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(r);
    };
    const socket = createConnection(path);
    socket.setTimeout(timeoutMs, () => finish({ ok: false, code: ExitCode.Unreachable, message: `${path}: no answer within ${timeoutMs} ms` }));
    socket.on("connect", () => socket.write('{"request":"report"}\n'));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      const why = err.code === "ENOENT" ? "no such socket (is the daemon running?)" : err.code === "ECONNREFUSED" ? "connection refused (daemon not running?)" : err.code === "EACCES" ? "permission denied (see [observability] observation-permissions)" : err.message;
      finish({ ok: false, code: ExitCode.Unreachable, message: `${path}: ${why}` });
    });
    socket.on("data", (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_RESPONSE_BYTES) finish({ ok: false, code: ExitCode.BadResponse, message: `${path}: answer larger than ${MAX_RESPONSE_BYTES} bytes` });
      else chunks.push(chunk);
    });
    socket.on("end", () => finish(decodeResponse(path, Buffer.concat(chunks).toString("utf8"))));
  });
}

function decodeResponse(path: string, text: string): FetchResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, code: ExitCode.BadResponse, message: `${path}: the answer is not JSON (${text.length === 0 ? "empty" : `${text.length} bytes`})` };
  }
  const r = parsed as { ok?: unknown; error?: unknown; report?: unknown };
  if (r?.ok === false) return { ok: false, code: ExitCode.BadResponse, message: `${path}: the daemon says: ${String(r.error)}` };
  if (r?.ok !== true) return { ok: false, code: ExitCode.BadResponse, message: `${path}: not a management response` };
  const report = decodeReport(r.report);
  if (typeof report === "string") return { ok: false, code: ExitCode.BadResponse, message: `${path}: malformed report: ${report}` };
  return { ok: true, report, path };
}

/** The shared body of `tock status` and `tock sources`. */
export async function runReportCommand(
  name: string,
  argv: string[],
  usage: string,
  allowVerbose: boolean,
  render: (report: ManagementReport, options: CommonOptions) => string,
  out: { stdout: (s: string) => void; stderr: (s: string) => void } = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) },
): Promise<number> {
  let options: CommonOptions;
  try {
    options = parseCommonArgs(argv, allowVerbose);
  } catch (err) {
    out.stderr(`tock ${name}: ${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    return ExitCode.Usage;
  }
  if (options.help) {
    out.stdout(usage);
    return ExitCode.Ok;
  }
  const paths = socketPaths(options);
  if (!Array.isArray(paths)) {
    out.stderr(`${paths.error}\ntock ${name}: the config file has errors\n`);
    return ExitCode.BadConfig;
  }
  const result = await fetchReport(paths);
  if (!result.ok) {
    out.stderr(`tock ${name}: ${result.message}\n`);
    return result.code;
  }
  out.stdout(render(result.report, options));
  return ExitCode.Ok;
}
