// The schema of tock's TOML config: ntpd-rs's vocabulary (kebab-case keys, `[[source]]`, `[[server]]`,
// `[[nts-ke-server]]`, `[synchronization]`, `[observability]`, `[keyset]`) plus `[daemon]` for process
// settings ntpd-rs leaves to systemd. Every key's type, range, default and description lives here
// once; the validator, the `TockConfig` type and the README reference all come from it.
//
// `pending` marks keys that are accepted (so ntpd-rs-style files and the project's sample config
// load) but not used yet; validation warns when a file sets them. Remove the marker when the
// feature lands.

import { Fail, INVALID, bool, int, key, list, num, oneOf, scalarOrTable, table, text, type Out, type Spec } from "./dsl.js";
import {
  CIDR_ALLOWED,
  HOST_ALLOWED,
  formatIP,
  parseIPv4,
  parseIPv6,
  IP_ALLOWED,
  LISTEN_ALLOWED,
  parseCidr,
  parseHostPort,
  parseIPText,
  parseListen,
  type Cidr,
  type HostPort,
  type SocketAddr,
} from "./net.js";

export const listenAddress = (): Spec<SocketAddr> => text(LISTEN_ALLOWED, parseListen);
const cidr = (): Spec<Cidr> => text(CIDR_ALLOWED, parseCidr);
const hostPort = (): Spec<HostPort> => text(HOST_ALLOWED, parseHostPort);
const port = (): Spec<number> => int({ min: 1, max: 65535 });
const path = (): Spec<string> => text("a file path", (s) => (s === "" ? new Fail("the path is empty") : s));
/** A user or group: a name as in /etc/passwd (letters, digits, "_", "-", ".") or a numeric id. */
const account = (): Spec<string> =>
  text('a user/group name or a numeric id, e.g. "ntp" or "123"', (s) =>
    /^([A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10})$/.test(s) ? s : new Fail(`${JSON.stringify(s)} is not a valid user or group name`),
  );

/** log2 of seconds, as in NTP's poll field (RFC 5905 §7.3): 4 = 16 s, 17 = 36.4 h. */
const pollExponent = (): Spec<number> => int({ min: 0, max: 17, unit: "log2 seconds" });

const pollIntervalLimits = table({
  min: key(pollExponent(), { required: true, doc: "Shortest poll interval (log2 seconds)." }),
  max: key(pollExponent(), { required: true, doc: "Longest poll interval (log2 seconds)." }),
}).refine((v, ctx) => {
  if (v.min > v.max) ctx.error(["min"], `min (${v.min}) is larger than max (${v.max})`, "min ≤ max");
});

export const sourceDefaultsSection = table({
  "poll-interval-limits": key(pollIntervalLimits, {
    default: { min: 4, max: 10 },
    doc: "Range of the poll interval as `{ min = …, max = … }` in log2 seconds (4 = 16 s, 10 = 1024 s); both bounds are required when set.",
  }),
  "initial-poll-interval": key(pollExponent(), { default: 4, doc: "Poll interval at start-up (log2 seconds)." }),
}).refine((d, ctx) => {
  const { min, max } = d.pollIntervalLimits;
  if (d.initialPollInterval < min || d.initialPollInterval > max) {
    ctx.error(["initial-poll-interval"], `${d.initialPollInterval} is outside poll-interval-limits ${min}–${max}`, "min ≤ initial-poll-interval ≤ max");
  }
});

const sourceTable = table({
  mode: key(oneOf(["server", "pool", "nts"]), {
    required: true,
    doc: '`"server"`: one NTP server; `"pool"`: several servers from one DNS name; `"nts"`: an NTS-KE server, then NTS-protected NTP.',
  }),
  address: key(hostPort(), {
    required: true,
    doc: "Host name or IP address, optionally `:PORT` (default port 123; 4460 for the NTS-KE server of an `nts` source).",
  }),
  count: key(int({ min: 1, max: 64 }), {
    defaultText: "4 (pool only)",
    doc: "Pool only: how many servers of the pool to use at the same time.",
  }),
  ignore: key(list(text(IP_ALLOWED, parseIPText)), {
    defaultText: "[] (pool only)",
    doc: "Pool only: addresses the pool may return that must not be used.",
  }),
  "certificate-authority": key(path(), {
    doc: "NTS only: a PEM file of the certificate authorities trusted for the NTS-KE server's certificate, used instead of the system's (a private CA). Absent: the system's CA bundle and Node's built-in roots.",
  }),
  "poll-interval-limits": key(pollIntervalLimits, { defaultText: "from [source-defaults]", doc: "Overrides `[source-defaults]` for this source." }),
  "initial-poll-interval": key(pollExponent(), { defaultText: "from [source-defaults]", doc: "Overrides `[source-defaults]` for this source." }),
  "ntp-version": key(oneOf([3, 4]), { default: 4, doc: "NTP version of the requests." }),
}).refine((s, ctx) => {
  const only = (k: string, mode: string): void => {
    if (ctx.has(k) && s.mode !== mode) ctx.error([k], `only allowed on sources with mode = "${mode}" (this one is "${s.mode}")`, undefined, "key");
  };
  only("count", "pool");
  only("ignore", "pool");
  only("certificate-authority", "nts");
});

interface SourceCommon {
  /** Host name or IP literal to resolve/contact. */
  host: string;
  /** Port to contact: as configured, else 123 (4460 for the NTS-KE server of an "nts" source). */
  port: number;
  /** The address exactly as written. */
  address: string;
  pollIntervalLimits: { min: number; max: number };
  initialPollInterval: number;
  ntpVersion: 3 | 4;
}
export type SourceConfig =
  | (SourceCommon & { mode: "server" })
  | (SourceCommon & { mode: "pool"; count: number; ignore: string[] })
  | (SourceCommon & { mode: "nts"; certificateAuthority: string | undefined });

const filterList = table({
  filter: key(list(cidr()), { required: true, doc: "Subnets in CIDR notation (IPv4 and IPv6)." }),
  action: key(oneOf(["deny", "ignore"]), { required: true, doc: '`"deny"`: answer with KoD DENY; `"ignore"`: drop silently.' }),
});

const rateLimit = table({
  interval: key(num({ min: 0, minExclusive: true, max: 3600, unit: "seconds" }), {
    default: 2,
    doc: "A client may send one request per `interval` seconds on average (the token refill period).",
  }),
  burst: key(int({ min: 1, max: 1024 }), { default: 8, doc: "Requests a client may send back to back before the limit applies." }),
  "kod-one-in": key(int({ min: 0, max: 1024 }), {
    default: 4,
    doc: "One in N over-limit requests is answered with KoD RATE, the others are dropped (0: never send KoD).",
  }),
  "table-size": key(int({ min: 16, max: 16_777_216 }), {
    default: 65536,
    doc: "Client addresses tracked (IPv4 /32, IPv6 /64); fixed memory, the least recently seen is replaced.",
  }),
});
export type RateLimitConfig = Out<typeof rateLimit>;

const serverTable = table({
  listen: key(listenAddress(), {
    required: true,
    doc: 'UDP address to serve on, `"IPv4:PORT"` or `"[IPv6]:PORT"`; `"0.0.0.0:123"` and `"[::]:123"` mean all addresses.',
  }),
  "accept-ntp-versions": key(list(oneOf([3, 4]), { minItems: 1, unique: true }), {
    default: [3, 4],
    doc: "Request versions that are answered (the response echoes the version); others are dropped.",
  }),
  allowlist: key(filterList, {
    default: { filter: ["0.0.0.0/0", "::/0"], action: "ignore" },
    doc: "Only clients in `filter` are served; `action` says what happens to the others.",
  }),
  denylist: key(filterList, {
    default: { filter: [], action: "deny" },
    doc: "Clients in `filter` are refused with `action`; checked before the allowlist.",
  }),
  "rate-limit": key(rateLimit, {
    doc: "Per-client token bucket; absent means no rate limiting. `rate-limit = {}` enables it with the defaults below.",
  }),
  "rate-limiting-cutoff-ms": key(int({ min: 0, max: 3_600_000, unit: "milliseconds" }), {
    doc: "ntpd-rs compatibility: minimum time between two requests of a client; same as `rate-limit = { interval = cutoff / 1000, burst = 1 }`.",
  }),
  "rate-limiting-cache-size": key(int({ min: 0, max: 16_777_216 }), {
    doc: "ntpd-rs compatibility: clients tracked by the rate limiter (`rate-limit.table-size`); 0 disables rate limiting.",
  }),
  interleaved: key(bool(), {
    default: true,
    doc: "Answer interleaved requests (RFC 9769) with the precise transmit timestamp of the previous response.",
  }),
  "interleaved-table-size": key(int({ min: 16, max: 16_777_216 }), {
    default: 16384,
    doc: "Clients whose last transmit timestamp is remembered for interleaved mode; fixed memory.",
  }),
  engine: key(oneOf(["auto", "dgram", "batch"]), {
    default: "auto",
    doc: '`"dgram"`: portable node:dgram; `"batch"`: worker threads with recvmmsg/sendmmsg; `"auto"`: batch where available.',
  }),
  workers: key(int({ min: 0, max: 256 }), { default: 0, doc: "Worker threads of the batch engine; 0 = one per CPU core." }),
}).map((s, ctx) => {
  const { rateLimitingCutoffMs, rateLimitingCacheSize, rateLimit: explicit, ...rest } = s;
  let rate: RateLimitConfig | undefined = explicit;
  if (rateLimitingCutoffMs !== undefined || rateLimitingCacheSize !== undefined) {
    if (explicit !== undefined) {
      const k = rateLimitingCutoffMs !== undefined ? "rate-limiting-cutoff-ms" : "rate-limiting-cache-size";
      ctx.error([k], "cannot be combined with rate-limit", "either rate-limit or the ntpd-rs keys rate-limiting-*", "key");
      return INVALID;
    }
    // ntpd-rs limits only when both a cutoff and a cache are configured (either 0 disables it).
    if (rateLimitingCutoffMs && rateLimitingCacheSize) {
      rate = { interval: rateLimitingCutoffMs / 1000, burst: 1, kodOneIn: 1, tableSize: Math.max(16, rateLimitingCacheSize) };
    }
  }
  return { ...rest, rateLimit: rate };
});
export type ServerConfig = Out<typeof serverTable>;

const ntsKeServerTable = table({
  listen: key(listenAddress(), { required: true, doc: 'TCP address of the key exchange server, e.g. `"[::]:4460"`.' }),
  "certificate-chain-path": key(path(), { required: true, doc: "PEM file with the server certificate and its chain." }),
  "private-key-path": key(path(), { required: true, doc: "PEM file with the private key of the certificate." }),
  "key-exchange-timeout-ms": key(int({ min: 1, max: 600_000, unit: "milliseconds" }), {
    default: 1000,
    doc: "Deadline from TCP accept (TLS handshake included) to the end of a key exchange; then Error 1 (Bad Request) and close.",
  }),
  "concurrent-connections": key(int({ min: 1, max: 65535 }), { default: 512, doc: "Connections open at once; one more is closed immediately, before any TLS work." }),
  "ntp-port": key(port(), { doc: "NTP port announced to clients (Port Negotiation) when not 123." }),
  "ntp-server": key(hostPort(), { doc: "NTP server announced to clients (Server Negotiation) when not this host." }),
});

export const keysetSection = table({
  "stale-key-count": key(int({ min: 0, max: 1000 }), { default: 7, doc: "Old cookie keys kept after rotation, so older cookies stay valid." }),
  "key-rotation-interval": key(int({ min: 1, max: 31_536_000, unit: "seconds" }), { default: 86400, doc: "Seconds between cookie key rotations." }),
  "key-storage-path": key(path(), { doc: "File that keeps the cookie keys across restarts (mode 0600); unset: keys live in memory only." }),
});

/** A step/panic threshold: seconds (or "inf") for both directions, or `{ forward, backward }`. */
const seconds = (): Spec<number> => num({ min: 0, unit: "seconds" }, true);
const directional = table({
  forward: key(seconds(), { required: true, doc: "Largest forward step (seconds)." }),
  backward: key(seconds(), { required: true, doc: "Largest backward step (seconds)." }),
});
export interface StepLimit {
  forward: number;
  backward: number;
}
/** A number or "inf" applies to both directions; a table sets each (ntpd-rs's two spellings). */
const stepLimit = (): Spec<StepLimit> => scalarOrTable(seconds(), directional, (v) => ({ forward: v, backward: v }));

export const synchronizationSection = table({
  // Issue 5 (helper N): which clock the discipline steers; ts/daemon/steering.ts reads it.
  clock: key(oneOf(["auto", "steer", "observe"]), {
    default: "auto",
    doc: '"auto": steer the system clock when the process has CAP_SYS_TIME (root, or kept across the [daemon] user switch), else observe; "steer": steer or refuse to start; "observe": poll and report, never adjust. The environment variable TOCK_NO_CLOCK_STEERING=1 (and a test run) forces observe whatever this says.',
  }),
  "local-stratum": key(int({ min: 1, max: 16 }), {
    default: 16,
    doc: "Stratum served while no source is selected: 16 = unsynchronised (leap 3); 1–15 serves the local clock at that stratum, like chrony's `local stratum`.",
  }),
  "minimum-agreeing-sources": key(int({ min: 1, max: 64 }), {
    default: 3,
    doc: "Sources that must agree (truechimers of the selection) before tock counts as synchronised and steers the clock.",
  }),
  "step-threshold": key(seconds(), {
    default: 0.128,
    doc: 'Offsets above this are stepped, below slewed (seconds; "inf": never step). After the first synchronisation an offset above it must persist 900 s before it is stepped (RFC 5905 stepout).',
  }),
  "single-step-panic-threshold": key(stepLimit(), {
    default: 1000,
    doc: "A step larger than this after start-up stops the daemon with exit code 3 and leaves the clock alone (seconds, \"inf\", or `{ forward, backward }`).",
  }),
  "startup-step-panic-threshold": key(stepLimit(), {
    default: { forward: "inf", backward: 86400 },
    doc: "The same limit for the first step after start-up.",
  }),
  "accumulated-step-panic-threshold": key(num({ min: 0, unit: "seconds" }), {
    doc: "Stop when the sum of all steps exceeds this (seconds); unset or 0: no limit.",
  }),
  "max-slew-rate": key(num({ min: 0, minExclusive: true, max: 500, unit: "ppm" }), {
    default: 500,
    doc: "Fastest rate at which an offset is slewed out, on top of the clock's frequency correction (ppm = µs per second; the kernel's limit is 500).",
  }),
  "drift-file": key(path(), {
    doc: "File where the clock's frequency correction is saved hourly (atomically) and read at start-up, so a restart need not re-learn it (chrony's format: `ppm uncertainty`); unset: none.",
  }),
  "leap-seconds-file": key(path(), {
    doc: "An IETF leap-seconds.list (e.g. `/usr/share/zoneinfo/leap-seconds.list`; its SHA-1 line is checked). While it has not expired it decides leap seconds instead of the sources' majority; unset: sources only.",
  }),
});

export const observabilitySection = table({
  "log-level": key(oneOf(["trace", "debug", "info", "warn", "error"]), { default: "info", doc: "Least severe log messages written." }),
  "observation-path": key(path(), {
    defaultText: "`/run/tock/observe.sock` as root, else `$XDG_RUNTIME_DIR/tock/observe.sock` or `/tmp/tock-UID/observe.sock`",
    doc: "Unix socket on which the daemon reports its state to `tock status` / `tock sources` (which find it from the same config file). A path set here must be usable or the daemon does not start; the built-in default only warns.",
  }),
  "observation-permissions": key(int({ min: 0, max: 0o777, unit: "a file mode, 0o000 to 0o777" }), {
    default: 0o666,
    defaultText: "`0o666`",
    doc: "File mode of the observation socket (write it in octal, `0o666`): who may connect. The socket only serves read-only reports.",
  }),
  "metrics-exporter-listen": key(listenAddress(), {
    doc: 'Serve Prometheus metrics over HTTP at this address (ntpd-rs\'s key; e.g. `"127.0.0.1:9975"`); unset: no metrics endpoint.',
  }),
});

export const daemonSection = table({
  user: key(account(), { doc: "Started as root, tock binds its ports and then runs as this user; unset: keep the starting user." }),
  group: key(account(), { doc: "Group to run as after binding; unset: the user's primary group." }),
});

/** The whole file. Sections are optional; absent ones take their defaults. */
export const configSchema = table(
  {
    "source-defaults": key(sourceDefaultsSection, { default: {}, doc: "Defaults for every `[[source]]`." }),
    source: key(list(sourceTable), { default: [], doc: "Time sources to synchronise the clock with. An `nts` source runs NTS-KE, then polls the NTP server it names with NTS-protected requests; it never falls back to unauthenticated time." }),
    server: key(list(serverTable), { default: [], doc: "NTP servers to run; none: tock does not serve time." }),
    "nts-ke-server": key(list(ntsKeServerTable), { default: [], doc: "NTS key exchange servers (TLS 1.3, ALPN `ntske/1`); with any, every `[[server]]` answers NTS requests (either engine)." }),
    keyset: key(keysetSection, { default: {}, doc: "Keys that encrypt NTS cookies (rotated on a fixed schedule; shareable between instances through `key-storage-path`)." }),
    synchronization: key(synchronizationSection, { default: {}, doc: "How sources steer the clock and what the server reports." }),
    observability: key(observabilitySection, { default: {}, doc: "Logging and the management socket." }),
    daemon: key(daemonSection, { default: {}, doc: "Process settings (tock's own section; ntpd-rs leaves these to systemd)." }),
  },
  { sections: true },
).map((c, ctx) => {
  const source: SourceConfig[] = c.source.map((s, i) => {
    const limits = s.pollIntervalLimits ?? c.sourceDefaults.pollIntervalLimits;
    const initial = s.initialPollInterval ?? c.sourceDefaults.initialPollInterval;
    // [source-defaults] checks its own pair; here only a source that overrides one of them.
    const overridden = s.initialPollInterval !== undefined ? "initial-poll-interval" : s.pollIntervalLimits !== undefined ? "poll-interval-limits" : undefined;
    if (overridden !== undefined && (initial < limits.min || initial > limits.max)) {
      ctx.error(["source", i, overridden], `initial-poll-interval ${initial} is outside poll-interval-limits ${limits.min}–${limits.max}`, "min ≤ initial-poll-interval ≤ max");
    }
    const common: SourceCommon = {
      host: s.address.host,
      port: s.address.port ?? (s.mode === "nts" ? 4460 : 123),
      address: s.address.text,
      pollIntervalLimits: limits,
      initialPollInterval: initial,
      ntpVersion: s.ntpVersion,
    };
    if (s.mode === "pool") return { ...common, mode: "pool", count: s.count ?? 4, ignore: s.ignore ?? [] };
    if (s.mode === "nts") return { ...common, mode: "nts", certificateAuthority: s.certificateAuthority };
    return { ...common, mode: "server" };
  });
  const noDuplicateListen = (section: string, list: { listen: SocketAddr }[]): void => {
    const canonical = list.map((s) => canonicalHost(s.listen.host));
    list.forEach((s, i) => {
      for (let j = 0; j < i; j++) {
        const other = list[j]!.listen;
        if (other.port !== s.listen.port || other.family !== s.listen.family) continue;
        // Same socket written twice ("[::0]:123" is "[::]:123"), or a specific address beside the
        // wildcard of its family: Linux refuses the second bind (EADDRINUSE) either way.
        const same = canonical[j] === canonical[i];
        const wildcard = [canonical[i], canonical[j]].find((h) => h === "0.0.0.0" || h === "::");
        if (!same && wildcard === undefined) continue;
        const why = same ? "is already used by" : `overlaps ${wildcard} (all addresses) in`;
        ctx.error([section, i, "listen"], `${JSON.stringify(s.listen.text)} ${why} ${section}[${j}] (${other.text})`, "each address and port once");
        return;
      }
    });
  };
  noDuplicateListen("server", c.server);
  noDuplicateListen("nts-ke-server", c.ntsKeServer);
  const { sourceDefaults: _defaults, ...rest } = c;
  return { ...rest, source };
});

/** Canonical text of a listen host (zone kept), so equal addresses compare equal. */
function canonicalHost(host: string): string {
  const [addr = "", zone] = host.split("%");
  const bytes = parseIPv4(addr) ?? parseIPv6(addr);
  const text = bytes === undefined ? addr : formatIP(bytes);
  return zone === undefined ? text : `${text}%${zone}`;
}

export type TockConfig = Out<typeof configSchema>;
export type NtsKeServerConfig = TockConfig["ntsKeServer"][number];
export type KeysetConfig = TockConfig["keyset"];
export type SynchronizationConfig = TockConfig["synchronization"];
export type ObservabilityConfig = TockConfig["observability"];
export type DaemonConfig = TockConfig["daemon"];
export type FilterListConfig = ServerConfig["allowlist"];
