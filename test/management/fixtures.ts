// A daemon-like report provider for the management tests: real metrics registry with ntp_server_*
// families, a simulated clock, the served state, and a source table like the client pipeline's.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MetricsRegistry } from "../../ts/observe/metrics.js";
import { reportProvider } from "../../ts/observe/report.js";
import type { ManagementReport, SourceReport } from "../../ts/protocol/status.js";
import { SimAdjustableClock } from "../../ts/clock/sim-adjustable-clock.js";

export const SOURCES: SourceReport[] = [
  { name: "127.0.0.1:11123", address: "127.0.0.1:11123", kind: "server", state: "selected", stratum: 2, pollLog2: 6, reach: 0o377, lastSample: { offset: 0.000123, delay: 0.000245, agoSeconds: 35 }, offset: 0.00012, delay: 0.00025, jitter: 0.0000123, rootDistance: 0.0012 },
  { name: "pool.example", address: "127.0.0.2:123", kind: "pool", state: "falseticker", stratum: 3, pollLog2: 7, reach: 0o17, lastSample: { offset: 2.5, delay: 0.0011, agoSeconds: 1500 }, offset: 2.5, delay: 0.0011, jitter: 0.0002, rootDistance: 0.01 },
  { name: "[::1]:11124", address: null, kind: "server", state: "unreachable", stratum: null, pollLog2: 4, reach: 0, lastSample: null, offset: null, delay: null, jitter: null, rootDistance: null },
];

/** 2026-11-22 21:00:00 UTC as an NTP timestamp. */
export const REF_TIME_UNIX = 1_795_381_200;

export function daemonLikeProvider(options: { sources?: SourceReport[]; synchronised?: boolean } = {}): { provide: () => ManagementReport; metrics: MetricsRegistry; clock: SimAdjustableClock } {
  const metrics = new MetricsRegistry();
  const received = metrics.counter("ntp_server_received_packets_total", "r");
  const accepted = metrics.counter("ntp_server_accepted_packets_total", "a");
  const kod = metrics.counter("ntp_server_kod_packets_total", "k");
  received.inc({ listen_address: "127.0.0.1:1123" }, 10);
  accepted.inc({ listen_address: "127.0.0.1:1123" }, 7);
  kod.inc({ listen_address: "127.0.0.1:1123", code: "RATE" }, 2);
  kod.inc({ listen_address: "127.0.0.1:1123", code: "DENY" }, 1);
  received.inc({ listen_address: "[::1]:1123" }, 3);
  const toNtp = (t: { seconds: number; nanos: number }) => (BigInt(t.seconds + 2_208_988_800) << 32n) | BigInt(Math.round((t.nanos * 2 ** 32) / 1e9));
  const ntpToUnix = (ts: bigint) => ({ seconds: Number(ts >> 32n) - 2_208_988_800, nanos: Math.round((Number(ts & 0xffffffffn) * 1e9) / 2 ** 32) });
  const clock = new SimAdjustableClock({ toNtp, start: { seconds: REF_TIME_UNIX + 60, nanos: 0 }, frequencyErrorPpm: 12 });
  const synced = options.synchronised ?? true;
  const provide = reportProvider({
    served: () =>
      synced
        ? { leap: 0, stratum: 3, precision: -20, referenceId: 0x7f000001, rootDelay: 0.00025, rootDispersion: 0.0012, referenceTime: toNtp({ seconds: REF_TIME_UNIX, nanos: 0 }) }
        : { leap: 3, stratum: 16, precision: -20, referenceId: "INIT", rootDelay: 0, rootDispersion: 0, referenceTime: 0n },
    ntpToUnix,
    nowUnix: () => clock.nowUnix(),
    metrics,
    clock: { mode: "observe", why: "no CAP_SYS_TIME", clock },
    sources: () => options.sources ?? SOURCES,
    tracking: () => (synced ? { systemTimeOffset: -0.0000012, lastOffset: 0.000123, rmsOffset: 0.0000456, frequencyPpm: -12.345, residualFrequencyPpm: 0.001, skewPpm: 0.012, updateIntervalSeconds: 64.2, referenceName: "127.0.0.1:11123" } : {}),
    version: "0.1.0",
  });
  return { provide, metrics, clock };
}

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "tock-mgmt-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
