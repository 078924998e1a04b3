import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BUILTIN_NAME,
  ConfigError,
  builtinConfigText,
  checkConfig,
  formatIssue,
  loadConfig,
  loadConfigReport,
  parseConfig,
  type SourceConfig,
} from "../../ts/config/index.js";
import { closest, editDistance } from "../../ts/config/suggest.js";

const SAMPLE = `[[source]]
mode = "server"
address = "ntp11.metas.ch"
[[source]]
mode = "nts"
address = "time.cloudflare.com"
`;

const errorsOf = (text: string): string[] => checkConfig(text, "t.toml").errors.map(formatIssue);

describe("parseConfig", () => {
  it("loads the project's sample config unchanged, with sources typed by mode", () => {
    const c = parseConfig(SAMPLE, "sample.toml");
    expect(c.source).toHaveLength(2);
    expect(c.source[0]).toMatchObject({ mode: "server", host: "ntp11.metas.ch", port: 123, address: "ntp11.metas.ch" });
    expect(c.source[1]).toMatchObject({ mode: "nts", host: "time.cloudflare.com", port: 4460, certificateAuthority: undefined });
    expect(c.server).toEqual([]); // no [[server]]: no serving, as in ntpd-rs
  });

  it("fills every default in an empty file", () => {
    const c = parseConfig("", "empty.toml");
    expect(c).toEqual({
      source: [],
      server: [],
      ntsKeServer: [],
      keyset: { staleKeyCount: 7, keyRotationInterval: 86400, keyStoragePath: undefined },
      synchronization: {
        clock: "auto",
        localStratum: 16,
        minimumAgreeingSources: 3,
        stepThreshold: 0.128,
        singleStepPanicThreshold: { forward: 1000, backward: 1000 },
        startupStepPanicThreshold: { forward: Infinity, backward: 86400 },
        accumulatedStepPanicThreshold: undefined,
        maxSlewRate: 500,
        driftFile: undefined,
        leapSecondsFile: undefined,
      },
      observability: { logLevel: "info", observationPath: undefined, observationPermissions: 0o666, metricsExporterListen: undefined },
      daemon: { user: undefined, group: undefined },
    });
  });

  it("fills server defaults: ntpd-rs allow/deny lists, versions 3 and 4, interleaved on, no rate limit", () => {
    const [s] = parseConfig('[[server]]\nlisten = "[::]:123"\n', "t.toml").server;
    expect(s).toMatchObject({
      listen: { host: "::", port: 123, family: 6, text: "[::]:123" },
      acceptNtpVersions: [3, 4],
      denylist: { filter: [], action: "deny" },
      interleaved: true,
      interleavedTableSize: 16384,
      rateLimit: undefined,
      engine: "auto",
      workers: 0,
    });
    expect(s!.allowlist.action).toBe("ignore");
    expect(s!.allowlist.filter.map((f) => `${f.network}/${f.prefix}`)).toEqual(["0.0.0.0/0", "::/0"]);
  });

  it("enables rate limiting with defaults from an empty table, or from ntpd-rs's keys", () => {
    const [a] = parseConfig('[[server]]\nlisten = "0.0.0.0:123"\nrate-limit = {}\n', "t.toml").server;
    expect(a!.rateLimit).toEqual({ interval: 2, burst: 8, kodOneIn: 4, tableSize: 65536 });
    const [b] = parseConfig('[[server]]\nlisten = "0.0.0.0:123"\nrate-limiting-cutoff-ms = 500\nrate-limiting-cache-size = 1000\n', "t.toml").server;
    expect(b!.rateLimit).toEqual({ interval: 0.5, burst: 1, kodOneIn: 1, tableSize: 1000 });
    expect(b).not.toHaveProperty("rateLimitingCutoffMs");
    const [c] = parseConfig('[[server]]\nlisten = "0.0.0.0:123"\nrate-limiting-cutoff-ms = 500\n', "t.toml").server;
    expect(c!.rateLimit).toBeUndefined(); // ntpd-rs: a cache size of 0 (the default) disables it
  });

  it("normalises filters and accepts ntpd-rs-style sub-tables", () => {
    const c = parseConfig(
      `[[server]]
listen = "0.0.0.0:123"
[server.denylist]
filter = ["192.168.33.34/24", "2001:db8::1/32"]
action = "ignore"
`,
      "t.toml",
    );
    expect(c.server[0]!.denylist.filter.map((f) => `${f.network}/${f.prefix}`)).toEqual(["192.168.33.0/24", "2001:db8::/32"]);
  });

  it("inherits poll settings from [source-defaults] and types pool/nts fields", () => {
    const c = parseConfig(
      `[source-defaults]
poll-interval-limits = { min = 5, max = 9 }
initial-poll-interval = 6
[[source]]
mode = "pool"
address = "pool.ntp.org"
[[source]]
mode = "nts"
address = "nts.example:4461"
certificate-authority = "/etc/tock/ca.pem"
initial-poll-interval = 9
`,
      "t.toml",
    );
    const [pool, nts] = c.source as [SourceConfig, SourceConfig];
    expect(pool).toMatchObject({ mode: "pool", count: 4, ignore: [], pollIntervalLimits: { min: 5, max: 9 }, initialPollInterval: 6 });
    expect(nts).toMatchObject({ mode: "nts", port: 4461, certificateAuthority: "/etc/tock/ca.pem", initialPollInterval: 9 });
    // The union narrows on mode: only a pool has count.
    if (pool.mode === "pool") expect(pool.count).toBe(4);
  });

  it("accepts both spellings of panic thresholds", () => {
    const c = parseConfig('[synchronization]\nsingle-step-panic-threshold = "inf"\nstartup-step-panic-threshold = { forward = 10, backward = "inf" }\n', "t.toml");
    expect(c.synchronization.singleStepPanicThreshold).toEqual({ forward: Infinity, backward: Infinity });
    expect(c.synchronization.startupStepPanicThreshold).toEqual({ forward: 10, backward: Infinity });
  });

  it("loads a full ntpd-rs-style server config (nts-ke-server, keyset, observability)", () => {
    const report = checkConfig(
      `[observability]
log-level = "warn"
observation-path = "/var/run/tock/observe"
observation-permissions = 0o660

[[source]]
mode = "pool"
address = "ntpd-rs.pool.ntp.org"
count = 4

[[server]]
listen = "0.0.0.0:123"
[[server]]
listen = "[::]:123"

[[nts-ke-server]]
listen = "[::]:4460"
certificate-chain-path = "/etc/tock/chain.pem"
private-key-path = "/etc/tock/key.pem"
ntp-port = 1123

[keyset]
key-storage-path = "/var/lib/tock/keys"

[synchronization]
local-stratum = 3

[daemon]
user = "ntp"
group = "ntp"
`,
      "ntpd-rs.toml",
    );
    expect(report.errors).toEqual([]);
    expect(report.config!.ntsKeServer[0]).toMatchObject({ keyExchangeTimeoutMs: 1000, concurrentConnections: 512, ntpPort: 1123, ntpServer: undefined });
    expect(report.config!.observability.observationPermissions).toBe(0o660);
    expect(report.config!.daemon).toEqual({ user: "ntp", group: "ntp" });
    // Every key of this file is active now (the observation socket landed with issue 5): no warnings.
    expect(report.warnings.map(formatIssue)).toEqual([]);
  });

  it("reports every error, not just the first, sorted by position", () => {
    const errors = errorsOf(`[daemon]
usr = "ntp"
[[server]]
listen = "1.2.3.4:0"
[Synchronization]
`);
    expect(errors).toEqual([
      't.toml:2:1: daemon.usr: unknown key (did you mean "user"?); allowed: user, group',
      't.toml:4:10: server[0].listen: port 0 in "1.2.3.4:0" is out of range (1 to 65535); allowed: "IPv4:PORT" or "[IPv6]:PORT" with a port from 1 to 65535, e.g. "0.0.0.0:123" or "[::]:123"',
      't.toml:5:1: Synchronization: unknown table (did you mean "synchronization"?); allowed: [source-defaults], [[source]], [[server]], [[nts-ke-server]], [keyset], [synchronization], [observability], [daemon]',
    ]);
  });

  it("suggests the kebab-case key for snake_case and case slips", () => {
    expect(errorsOf("[synchronization]\nlocal_stratum = 2\n")[0]).toMatch(/did you mean "local-stratum"\?/);
    expect(errorsOf('[[server]]\nlisten = "0.0.0.0:123"\nAccept-NTP-Versions = [4]\n')[0]).toMatch(/did you mean "accept-ntp-versions"\?/);
    expect(errorsOf("[synchronization]\ncompletely-different = 1\n")[0]).not.toMatch(/did you mean/);
  });

  it("rejects duplicate NTS-KE listen addresses and mode-specific keys on other modes", () => {
    expect(errorsOf('[[source]]\nmode = "pool"\naddress = "p.example"\ncertificate-authority = "ca.pem"\n')).toEqual([
      't.toml:4:1: source[0].certificate-authority: only allowed on sources with mode = "nts" (this one is "pool")',
    ]);
    const ke = '[[nts-ke-server]]\nlisten = "0.0.0.0:4460"\ncertificate-chain-path = "c"\nprivate-key-path = "k"\n';
    expect(errorsOf(ke + ke)).toEqual([
      't.toml:6:10: nts-ke-server[1].listen: "0.0.0.0:4460" is already used by nts-ke-server[0] (0.0.0.0:4460); allowed: each address and port once',
    ]);
  });

  it("throws ConfigError carrying every issue", () => {
    try {
      parseConfig('[[source]]\nmode = "servr"\n', "x.toml");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).errors).toHaveLength(2);
      expect((err as ConfigError).message).toContain('x.toml:1:1: source[0]: missing required key "address"');
    }
  });
});

describe("built-in config and loadConfig", () => {
  it("serves loopback:1123 unprivileged and all addresses :123 as root, with no sources", () => {
    const user = parseConfig(builtinConfigText({ root: false }), BUILTIN_NAME);
    expect(user.server.map((s) => s.listen.text)).toEqual(["127.0.0.1:1123", "[::1]:1123"]);
    const root = parseConfig(builtinConfigText({ root: true }), BUILTIN_NAME);
    expect(root.server.map((s) => s.listen.text)).toEqual(["0.0.0.0:123", "[::]:123"]);
    expect(root.source).toEqual([]);
    expect(root.synchronization.localStratum).toBe(16); // unsynchronised until sources exist
    expect(loadConfigReport(undefined, { root: false }).warnings).toEqual([]);
    expect(loadConfig(undefined, { root: false })).toEqual(user);
  });

  it("reads files and reports unreadable ones as a config error", () => {
    const dir = mkdtempSync(join(tmpdir(), "tock-config-"));
    const file = join(dir, "tock.toml");
    writeFileSync(file, SAMPLE);
    expect(loadConfig(file).source).toHaveLength(2);
    const missing = join(dir, "missing.toml");
    expect(() => loadConfig(missing)).toThrow(ConfigError);
    expect(loadConfigReport(missing).errors.map(formatIssue)).toEqual([
      `${missing}:1:1: cannot read the config file (ENOENT); allowed: a readable TOML file`,
    ]);
  });
});

describe("did-you-mean", () => {
  it("measures edits, counting a transposition as one", () => {
    expect(editDistance("adress", "address")).toBe(1);
    expect(editDistance("burts", "burst")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });
  it("suggests only plausible typos", () => {
    expect(closest("servr", ["server", "pool", "nts"])).toBe("server");
    expect(closest("xyz", ["server", "pool", "nts"])).toBeUndefined();
    expect(closest("pol", ["server", "pool", "nts"])).toBe("pool");
  });
});
