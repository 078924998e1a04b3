// Helpers for the source/pool/system tests: virtual time, a deterministic "CSPRNG", and scripted
// servers built on the real codec (test/query/support.ts), driving the real sans-IO state machines.
import type { NtpHeader, NtpTimestamp, TockCore } from "../../ts/core/api.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createSelection, type Selection } from "../../ts/core/selection.js";
import { NtpSource, RANDOM_BYTES_PER_POLL, type SourceAction, type SourceOptions } from "../../ts/protocol/source.js";
import { START, requestNonce, seconds } from "../query/support.js";

export const { core, wasm } = await loadFreshCore();
export { START, seconds, requestNonce };

export function newSelection(maxSources = 8): Selection {
  return createSelection(wasm, { maxSources });
}

/** Deterministic bytes (xorshift32): tests must be repeatable; production passes crypto bytes. */
export function randomSource(seed = 1): (n: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

/** NTP time of monotonic second `t` for a local clock that reads START at t = 0. */
export function ntpAt(t: number): NtpTimestamp {
  return BigInt.asUintN(64, START + seconds(t));
}

/**
 * What a scripted server does with one request at monotonic time t: undefined = no answer; else the
 * answer's header fields (defaults: a good stratum-2 server whose clock is `offset` s ahead, 10 ms
 * round trip) and extra datagrams to deliver first (e.g. forgeries).
 */
export interface Script {
  answer?: Partial<NtpHeader> & { offset?: number; delay?: number };
  before?: Uint8Array[];
}
export type ServerScript = (request: Uint8Array, t: number, pollNumber: number) => Script | undefined;

export function response(c: TockCore, request: Uint8Array, t: number, fields: Partial<NtpHeader> & { offset?: number; delay?: number } = {}): Uint8Array {
  const { offset = 0, delay = 0.01, ...header } = fields;
  const serverTime = ntpAt(t + delay / 2 + offset);
  return c.buildHeader({
    leap: 0, version: 4, mode: 4, stratum: 2, poll: 4, precision: -23, rootDelay: 0.002, rootDispersion: 0.003,
    referenceId: 0xc0000201, referenceTime: serverTime - seconds(10), originTime: requestNonce(c, request),
    receiveTime: serverTime, transmitTime: serverTime, ...header,
  });
}

export const SERVER = { address: "192.0.2.10", port: 123, family: 4 as const };

export function newSource(options: Partial<SourceOptions> = {}): NtpSource {
  return new NtpSource(core, { to: SERVER, pollLimits: { min: 4, max: 10 }, initialPoll: 4, localPrecisionLog2: -20, ...options });
}

export interface Event {
  t: number;
  actions: SourceAction[];
}

/**
 * Runs one source in virtual time until `until` (s): fires its timer, answers each request through
 * `script` after the scripted delay, and returns every poll time and all actions. `onSample` sees
 * each sample (e.g. to feed a SystemProcess and call handleFiltered).
 */
export function runSource(
  source: NtpSource,
  until: number,
  script: ServerScript,
  onAction: (a: SourceAction, t: number) => SourceAction[] = () => [],
  seed = 7,
): { polls: number[]; actions: Event[] } {
  const random = randomSource(seed);
  const polls: number[] = [];
  const log: Event[] = [];
  let timer: number | undefined;
  const apply = (actions: SourceAction[], t: number): void => {
    log.push({ t, actions });
    for (const a of actions) {
      if (a.kind === "set-timer") timer = a.at;
      if (a.kind === "send") {
        polls.push(t);
        source.handleSent(a.requestId, ntpAt(t));
        const s = script(a.bytes, t, polls.length);
        if (s === undefined) continue;
        const rtt = s.answer?.delay ?? 0.01;
        for (const forged of s.before ?? []) apply(source.handleResponse(a.requestId, forged, ntpAt(t + rtt / 2), t + rtt / 2), t + rtt / 2);
        apply(source.handleResponse(a.requestId, response(core, a.bytes, t, s.answer), ntpAt(t + rtt), t + rtt), t + rtt);
      }
      const more = onAction(a, t);
      if (more.length > 0) apply(more, t);
    }
  };
  apply(source.start(0), 0);
  for (let guard = 0; guard < 100_000 && timer !== undefined && timer <= until; guard++) {
    const t = timer;
    timer = undefined;
    apply(source.handleTimer(t, random(RANDOM_BYTES_PER_POLL)), t);
  }
  return { polls, actions: log };
}
