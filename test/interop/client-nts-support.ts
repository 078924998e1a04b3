// Shared by the client-nts-* interop tests: a `tock daemon` (in-process startDaemon, production I/O:
// TLS NTS-KE, node:dgram, DNS) with one `[[source]] mode = "nts"`, in observe mode — no discipline is
// wired, so nothing can act on the clock — a wait for its source to be selected, and what such a
// source must then show.
import { expect } from "vitest";
import { parseConfig } from "../../ts/config/index.js";
import { startDaemon, type RunningDaemon } from "../../ts/daemon/daemon.js";
import type { ClientReport } from "../../ts/daemon/client.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { freePort } from "./peers.js";

export async function startNtsClientDaemon(keServer: string, caFile: string): Promise<RunningDaemon> {
  const port = await freePort();
  const toml = [
    "[source-defaults]",
    "poll-interval-limits = { min = 0, max = 1 }",
    "initial-poll-interval = 0",
    "",
    "[synchronization]",
    "minimum-agreeing-sources = 1",
    "",
    `[[server]]\nlisten = "127.0.0.1:${port}"\nengine = "dgram"`,
    "",
    "[[source]]",
    'mode = "nts"',
    `address = "${keServer}"`,
    `certificate-authority = "${caFile}"`,
  ].join("\n");
  return startDaemon(parseConfig(toml, "client-nts.toml"), { logger: silentLogger(), summaryIntervalSeconds: 0, observationPath: false });
}

/** Polls the client report until its only source is selected with `samples` authenticated samples. */
export async function waitForSelected(daemon: RunningDaemon, samples: number, timeoutMs: number): Promise<ClientReport | undefined> {
  const end = Date.now() + timeoutMs;
  let report = daemon.clientReport();
  while (Date.now() < end) {
    const source = report?.sources[0];
    if (report?.status === "ok" && source?.state === "selected" && source.counters.samples >= samples) return report;
    await new Promise((r) => setTimeout(r, 250));
    report = daemon.clientReport();
  }
  return report;
}

/**
 * The NTS health of a selected source: one NTS-KE, no NAK, at least 4 samples, every one from an
 * authenticated response, nothing dropped by the NTS checks, the cookie jar refilled, offset near zero.
 */
export function expectAuthenticatedNtsSource(report: ClientReport): void {
  const source = report.sources[0]!;
  const nts = source.nts!.counters;
  expect(nts.keyExchanges).toBe(1);
  expect(nts.naks).toBe(0);
  expect(source.counters.samples).toBeGreaterThanOrEqual(4);
  expect(nts.authenticated).toBeGreaterThanOrEqual(source.counters.samples);
  expect(Object.values(nts.dropped).reduce((a, b) => a + b, 0)).toBe(0);
  expect(source.nts!.cookies).toBeGreaterThanOrEqual(7);
  expect(Math.abs(report.lastUpdate!.offset)).toBeLessThan(0.005);
}
