// The management (observation) socket: a Unix stream socket on which the daemon answers one request
// with one JSON report (ts/protocol/status.ts), for `tock status` and `tock sources`.
//
// Protocol: the client sends one line — `{"request":"report"}` or just `report` — and the daemon
// answers one line of JSON ({"ok":true,"report":…} or {"ok":false,"error":…}) and closes. Anything
// on the socket is treated as hostile: a request longer than MAX_REQUEST_BYTES, a connection that
// says nothing for REQUEST_TIMEOUT_MS, or more than MAX_CONNECTIONS at once, is answered with an
// error (when possible) and closed; none of it can crash the daemon or make it buffer without bound.
//
// Who may connect is decided by the file mode of the socket ([observability]
// observation-permissions, default 0o666: any local user may read the status, as with chronyc's
// read-only commands; the socket offers nothing but reports). The mode is applied through the umask
// at bind time — so there is no moment when the socket is more open than configured — and again with
// chmod after binding.
//
// Where: [observability] observation-path, else a built-in default that `tock status` also knows:
// /run/tock/observe.sock as root, otherwise $XDG_RUNTIME_DIR/tock/observe.sock, otherwise
// /tmp/tock-<uid>/observe.sock (a directory of our own, mode 0700).
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import type { Logger } from "./logger.js";
import type { MetricsRegistry } from "./metrics.js";
import type { ManagementReport, ManagementResponse, ServerReport } from "../protocol/status.js";

/** A request is one short line; anything longer is not a request. */
export const MAX_REQUEST_BYTES = 1024;
/** A client that has not sent its line by then is cut off. */
export const REQUEST_TIMEOUT_MS = 2000;
/** Connections served at once; more are closed at once (a local flood cannot pile up sockets). */
export const MAX_CONNECTIONS = 16;

/** Default socket paths, in the order `tock status` tries them when the config names none. */
export function observationPathCandidates(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? -1): string[] {
  const out = ["/run/tock/observe.sock"];
  if (env.XDG_RUNTIME_DIR) out.push(join(env.XDG_RUNTIME_DIR, "tock", "observe.sock"));
  if (uid >= 0) out.push(`/tmp/tock-${uid}/observe.sock`);
  return [...new Set(out)];
}

/** Where the daemon puts its socket when the config names none: root → /run, else the user's runtime dir. */
export function defaultObservationPath(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? -1): string {
  if (uid === 0) return "/run/tock/observe.sock";
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "tock", "observe.sock");
  return `/tmp/tock-${uid}/observe.sock`;
}

export interface ManagementServerOptions {
  path: string;
  /** File mode of the socket (e.g. 0o666). */
  mode: number;
  /** Builds the report for each request (the daemon's current state). */
  provider: () => ManagementReport | Promise<ManagementReport>;
  logger?: Logger;
  /** Counts requests by result in management_requests_total. */
  metrics?: MetricsRegistry;
  maxRequestBytes?: number;
  requestTimeoutMs?: number;
  maxConnections?: number;
}

export interface ManagementServer {
  readonly path: string;
  /** Stops listening, closes open connections, removes the socket file (if still ours). */
  close(): Promise<void>;
}

type Outcome = "ok" | "bad_request" | "too_large" | "timeout" | "provider_error" | "too_many_connections";

/** Binds the socket and serves reports. Rejects if the path is in use by a live daemon or unusable. */
export async function startManagementServer(options: ManagementServerOptions): Promise<ManagementServer> {
  const { path, mode, provider, logger } = options;
  const maxRequest = options.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  const counter = options.metrics?.counter("management_requests_total", "Requests on the management socket, by result.");
  const count = (outcome: Outcome) => counter?.inc({ result: outcome });

  prepareDirectory(path);
  await removeStaleSocket(path);

  const open = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    if (open.size >= maxConnections) {
      count("too_many_connections");
      socket.destroy();
      return;
    }
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    serveConnection(socket, { maxRequest, timeoutMs, provider, count, logger });
  });
  server.on("error", (err) => logger?.warn({ err: err.message, path }, "management socket error"));

  await listenWithMode(server, path, mode);
  let inode: number | undefined;
  try {
    chmodSync(path, mode);
    inode = lstatSync(path).ino;
  } catch (err) {
    server.close();
    throw err;
  }
  logger?.debug({ path, mode: `0o${mode.toString(8)}` }, "management socket listening");

  let closed: Promise<void> | undefined;
  return {
    path,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => {
          // Remove the file only if it is still the socket we made (not a successor's).
          try {
            if (lstatSync(path).ino === inode) unlinkSync(path);
          } catch {
            // gone already, or not ours to remove (privileges dropped): the next start replaces it
          }
          resolve();
        });
      });
      return closed;
    },
  };
}

interface ConnectionContext {
  maxRequest: number;
  timeoutMs: number;
  provider: () => ManagementReport | Promise<ManagementReport>;
  count: (o: Outcome) => void;
  logger: Logger | undefined;
}

function serveConnection(socket: Socket, ctx: ConnectionContext): void {
  const chunks: Buffer[] = [];
  let length = 0;
  let answered = false;
  const answer = (response: ManagementResponse, outcome: Outcome) => {
    if (answered) return;
    answered = true;
    ctx.count(outcome);
    socket.setTimeout(0);
    socket.removeAllListeners("data");
    if (socket.destroyed || !socket.writable) return;
    socket.end(`${JSON.stringify(response, finiteOrNull)}\n`);
    // A client that never reads must not keep the socket (and its buffer) forever.
    setTimeout(() => socket.destroy(), ctx.timeoutMs).unref();
  };
  socket.setTimeout(ctx.timeoutMs, () => {
    // answer() ends the socket and destroys it a timeout later if the client does not close it.
    if (!answered) answer({ ok: false, error: `no request within ${ctx.timeoutMs} ms` }, "timeout");
    else socket.destroy();
  });
  socket.on("error", () => socket.destroy());
  const handle = (line: string) => {
    if (!isReportRequest(line)) {
      answer({ ok: false, error: 'unknown request; send {"request":"report"}' }, "bad_request");
      return;
    }
    Promise.resolve()
      .then(ctx.provider)
      .then(
        (report) => answer({ ok: true, report }, "ok"),
        (err: unknown) => {
          ctx.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, "management report failed");
          answer({ ok: false, error: "the daemon could not build its report" }, "provider_error");
        },
      );
  };
  socket.on("data", (chunk: Buffer) => {
    if (answered) return;
    const newline = chunk.indexOf(0x0a);
    const take = newline < 0 ? chunk.length : newline;
    length += take;
    if (length > ctx.maxRequest) {
      answer({ ok: false, error: `request longer than ${ctx.maxRequest} bytes` }, "too_large");
      return;
    }
    chunks.push(newline < 0 ? chunk : chunk.subarray(0, newline));
    if (newline >= 0) handle(Buffer.concat(chunks).toString("utf8"));
  });
  // A client may also send its request without a newline and half-close.
  socket.on("end", () => {
    if (!answered) handle(Buffer.concat(chunks).toString("utf8"));
  });
}

function isReportRequest(line: string): boolean {
  const text = line.trim();
  if (text === "report") return true;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && (parsed as { request?: unknown }).request === "report";
  } catch {
    return false;
  }
}

/** JSON cannot carry NaN/Infinity; say "unknown" (null) instead of letting stringify do it silently. */
function finiteOrNull(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? null : value;
}

/** Creates the socket's directory if needed (0755 for /run/tock, 0700 for a private /tmp one). */
function prepareDirectory(path: string): void {
  const dir = dirname(path);
  const isPrivateTmp = /^\/tmp\/tock-\d+$/.test(dir);
  mkdirSync(dir, { recursive: true, mode: isPrivateTmp ? 0o700 : 0o755 });
  if (isPrivateTmp) {
    // /tmp is shared: the directory must be ours and a real directory, not someone's symlink.
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid?.()) throw new Error(`${dir} is not a directory owned by this user; refusing to put the management socket there`);
  }
}

/** A leftover socket from a daemon that died is removed; a live daemon's socket or a non-socket file is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.setTimeout(500);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("timeout", () => {
      probe.destroy();
      resolve(true); // something is there and busy: do not take its socket away
    });
    probe.once("error", () => resolve(false));
  });
  if (live) {
    const err = new Error(`another daemon is already answering on ${path}`) as NodeJS.ErrnoException;
    err.code = "EADDRINUSE";
    throw err;
  }
  unlinkSync(path);
}

/** listen() with the umask set so the socket is created with exactly `mode` (restored right after). */
function listenWithMode(server: Server, path: string, mode: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    // process.umask is per process; the bind happens inside listen() itself, so the window in which
    // another file creation could see this umask is this synchronous call only.
    // (Worker threads may not change the umask: there, the chmod after binding is all we have.)
    let previous: number | undefined;
    try {
      previous = process.umask(0o777 & ~mode);
    } catch {
      previous = undefined;
    }
    try {
      server.listen(path, () => {
        server.off("error", onError);
        resolve();
      });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  });
}

export interface ObservationSocketOptions {
  /** [observability] observation-path (undefined: not set in the config). */
  configured: string | undefined;
  /** DaemonOptions override: a path, or false for no socket (tests). */
  override?: string | false | undefined;
  /** [observability] observation-permissions. */
  permissions: number;
  provider: () => ManagementReport | Promise<ManagementReport>;
  logger: Logger;
  metrics?: MetricsRegistry;
  /** The built-in default (tests); normally defaultObservationPath(). */
  fallback?: string;
}

/**
 * The daemon's entry point: opens the socket where the config (or the built-in default) says.
 * A path the user configured must work, or start-up fails (it throws); the built-in default only
 * warns when it cannot be used (e.g. another tock already answers there, or no /run access), since
 * the daemon's real job — time — does not depend on it.
 */
export async function openObservationSocket(o: ObservationSocketOptions): Promise<ManagementServer | undefined> {
  if (o.override === false) return undefined;
  const explicit = o.override ?? o.configured;
  const path = explicit ?? o.fallback ?? defaultObservationPath();
  try {
    const server = await startManagementServer({ path, mode: o.permissions, provider: o.provider, logger: o.logger, ...(o.metrics ? { metrics: o.metrics } : {}) });
    o.logger.info({ path, mode: `0o${o.permissions.toString(8)}` }, "management socket ready (tock status, tock sources)");
    return server;
  } catch (err) {
    if (explicit !== undefined) throw new Error(`[observability] observation-path ${path}: ${err instanceof Error ? err.message : String(err)}`);
    o.logger.warn({ path, err: err instanceof Error ? err.message : String(err) }, "no management socket (tock status will not reach this daemon); set [observability] observation-path");
    return undefined;
  }
}

/**
 * Per-listener counters from the ntp_server_* metric families (whatever engine serves them): the
 * family name without prefix and `_total` is the counter's name; families split by another label
 * (kod code, drop reason) give the total plus one `name.label` entry per value.
 */
export function serverReportsFromMetrics(metrics: MetricsRegistry): ServerReport[] {
  const byListener = new Map<string, Record<string, number>>();
  for (const [family, samples] of metrics.snapshot()) {
    if (!family.startsWith("ntp_server_")) continue;
    const name = family.slice("ntp_server_".length).replace(/_total$/, "");
    for (const s of samples) {
      const listen = s.labels.listen_address;
      if (listen === undefined) continue;
      let counters = byListener.get(listen);
      if (counters === undefined) byListener.set(listen, (counters = {}));
      counters[name] = (counters[name] ?? 0) + s.value;
      const other = Object.entries(s.labels).filter(([k]) => k !== "listen_address");
      if (other.length > 0) counters[`${name}.${other.map(([, v]) => v).join(".")}`] = s.value;
    }
  }
  return [...byListener].map(([listenAddress, counters]) => ({ listenAddress, counters }));
}
