// What the daemon's client (ts/daemon/client.ts) reports about its sources and the system process:
// the client report (tests, the simulator), the management socket's source table (`tock sources`,
// ts/protocol/status.ts) and its tracking part (`tock status`). Pure reads of the client's state:
// nothing here acts on a source or the clock.
import type { SelectionResult } from "../core/selection.js";
import type { ServerSystemState } from "../protocol/server-policy.js";
import type { NtpSource, SourceCounters } from "../protocol/source.js";
import { NtsSource, type NtsStatus } from "../protocol/nts-source.js";
import type { SourceStatusWord, SystemProcess, SystemUpdate } from "../protocol/system.js";
import type { SourceReport, SystemReport } from "../protocol/status.js";

/** One row of the source table (`tock sources`). */
export interface ClientSourceReport {
  /** As configured (`host[:port]`), or for pool members "pool-name (address)". */
  name: string;
  mode: "server" | "pool" | "nts";
  address: string;
  port: number;
  state: SourceStatusWord;
  reach: number;
  /** Poll interval (log2 s), stratum and leap of the server, reference id it sends. */
  poll: number;
  stratum: number;
  leap: number;
  serverRefid: number;
  /** Filtered peer offset, delay, dispersion and jitter (s); undefined before the first sample. */
  offset: number | undefined;
  delay: number | undefined;
  dispersion: number | undefined;
  jitter: number | undefined;
  /** Seconds since the last valid sample (undefined: none yet). */
  lastSampleAgo: number | undefined;
  /** Offset of the newest raw sample (s). */
  lastOffset: number | undefined;
  /** Root distance λ (s), the error bound selection uses; undefined before the first sample. */
  rootDistance: number | undefined;
  counters: SourceCounters;
  /** Why it stopped (denied) or why NTS failed, when it did. */
  note?: string;
  /** NTS sources: KE server, AEAD, cookies, NTS counters. */
  nts?: NtsStatus;
}

export interface ClientReport {
  /** Selection status of the last round ("ok", "no-majority", "no-candidates"), or "initialising". */
  status: SelectionResult["status"] | "initialising";
  /** Index into `sources` of the system peer, or null. */
  systemPeer: number | null;
  /** The last update (offset etc.), if any, and seconds since it. */
  lastUpdate: SystemUpdate | undefined;
  lastUpdateAgo: number | undefined;
  /** What the server currently serves. */
  served: ServerSystemState;
  observeOnly: boolean;
  sources: ClientSourceReport[];
}

/** What a report reads of one running source (the client's slot). */
export interface ReportedSlot {
  source: NtpSource | NtsSource;
  /** The source's slot in the selection (SystemProcess.attach). */
  index: number;
  name: string;
  mode: "server" | "pool" | "nts";
  stopped: boolean;
}

/** The client's state a report is built from, read at monotonic time `now`. */
export interface ReportInputs {
  system: SystemProcess;
  slots: readonly ReportedSlot[];
  now: number;
  /** No discipline: the clock is only observed. */
  observeOnly: boolean;
  /** Monotonic times of the last two system updates. */
  lastUpdateAt: number | undefined;
  previousUpdateAt: number | undefined;
}

export function buildClientReport({ system, slots, now, observeOnly, lastUpdateAt }: ReportInputs): ClientReport {
  const result = system.result;
  const live = slots.filter((s) => !s.stopped);
  const sources = live.map((s): ClientSourceReport => {
    const f = system.filterState(s.index);
    const src = s.source;
    return {
      name: s.name, mode: s.mode, address: src.to.address, port: src.to.port,
      state: system.word(s.index), reach: src.reach, poll: Math.log2(src.pollInterval),
      stratum: src.stratum, leap: src.leap, serverRefid: src.serverRefid,
      offset: f.used ? f.offset : undefined, delay: f.used ? f.delay : undefined,
      dispersion: f.used ? f.dispersion : undefined, jitter: f.used ? f.jitter : undefined,
      lastSampleAgo: src.lastSampleAt === undefined ? undefined : now - src.lastSampleAt,
      lastOffset: src.lastOffset, rootDistance: system.rootDistance(s.index, now), counters: src.counters,
      ...noteOf(src),
      ...(src instanceof NtsSource ? { nts: src.status } : {}),
    };
  });
  const peerSlot = result?.systemPeer == null ? -1 : live.findIndex((s) => s.index === result.systemPeer);
  return {
    status: result?.status ?? "initialising",
    systemPeer: peerSlot >= 0 ? peerSlot : null,
    lastUpdate: system.lastUpdate,
    lastUpdateAgo: lastUpdateAt === undefined ? undefined : now - lastUpdateAt,
    served: system.serverState(now),
    observeOnly,
    sources,
  };
}

/** The source table of the management report (ts/protocol/status.ts, `tock sources`). */
export function buildSourceTable({ system, slots, now }: ReportInputs): SourceReport[] {
  return slots.filter((s) => !s.stopped).map((s): SourceReport => {
    const src = s.source;
    const f = system.filterState(s.index);
    const host = src.to.family === 6 ? `[${src.to.address}]` : src.to.address;
    const lastSample = src.lastSampleAt === undefined || src.lastOffset === undefined || src.lastDelay === undefined
      ? null
      : { offset: src.lastOffset, delay: src.lastDelay, agoSeconds: now - src.lastSampleAt };
    return {
      name: s.name, address: `${host}:${src.to.port}`, kind: s.mode, state: system.word(s.index),
      ...(noteOf(src).note === undefined ? {} : { reason: noteOf(src).note }),
      stratum: src.counters.samples + src.counters.unsynchronised > 0 ? src.stratum : null,
      pollLog2: Math.log2(src.pollInterval), reach: src.reach, lastSample,
      offset: f.used ? f.offset : null, delay: f.used ? f.delay : null, jitter: f.used ? f.jitter : null,
      rootDistance: system.rootDistance(s.index, now) ?? null,
    };
  });
}

/**
 * What the client knows of the management report's system part: the reference's name, the last
 * update's offset and the interval between updates. In observe mode the clock is never corrected,
 * so its error now is simply −Θ of the last update (our clock − true time); with a discipline that
 * figure belongs to the discipline and is left out here.
 */
export function buildTracking({ system, slots, observeOnly, lastUpdateAt, previousUpdateAt }: ReportInputs): Partial<SystemReport> {
  const u = system.lastUpdate;
  const result = system.result;
  const peer = result?.systemPeer == null ? undefined : slots.find((s) => !s.stopped && s.index === result.systemPeer);
  const out: Partial<SystemReport> = {};
  if (peer !== undefined && result?.status === "ok") out.referenceName = peer.name;
  if (u !== undefined) {
    out.lastOffset = u.offset;
    if (observeOnly) out.systemTimeOffset = -u.offset;
  }
  if (lastUpdateAt !== undefined && previousUpdateAt !== undefined) out.updateIntervalSeconds = lastUpdateAt - previousUpdateAt;
  return out;
}

/** Why a source stopped (KoD) or why its NTS failed, for reports. */
function noteOf(source: NtpSource | NtsSource): { note?: string } {
  const note = source.denialReason ?? (source instanceof NtsSource ? source.failure : undefined);
  return note === undefined ? {} : { note };
}
