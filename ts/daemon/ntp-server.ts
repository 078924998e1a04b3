// The portable NTP server loop (node:dgram engine): one socket per [[server]] listen address, one
// request kernel (WASM: validate → policy → build response) per [[server]] entry.
//
// Per datagram, in this order:
//   1. T2 — the transport reads the clock first thing in its 'message' handler;
//   2. T3 — `now` is read right before the kernel call that writes it into the response (the
//      transmit timestamp as late as this engine allows; the send itself follows within
//      microseconds, plus whatever libuv adds);
//   3. the kernel decides (exactly one outcome per request, counted inside the kernel) and maybe
//      writes a response no longer than the request;
//   4. the response is sent; when the kernel kept the exchange for an interleaved follow-up
//      (RFC 9769), the clock read at send completion is reported back (noteTransmit), so the next
//      interleaved response carries the actual transmit time.
//
// Nothing here is per-packet at info level (see ts/observe/logger.ts). Backpressure: at most
// MAX_INFLIGHT_SENDS responses may wait in libuv's send queue; beyond that a response is dropped and
// counted, so a flood cannot grow memory.
import type { NtpTimestamp } from "../core/api.js";
import type { Clock } from "../clock/clock.js";
import type { Logger } from "../observe/logger.js";
import { RateLimitedWarnings } from "../observe/logger.js";
import type { MetricsRegistry } from "../observe/metrics.js";
import { registerServerMetrics } from "./server-metrics.js";
import type { Peer, ServerSocket, ServerTransport } from "./server-transport.js";
import { OUTCOMES, type CounterName, type ServerSystemState } from "../protocol/server-policy.js";
import type { ServerConfig } from "../config/index.js";

export type { ServerSystemState };

/** Kernel counters by name (ts/protocol/server-policy.ts COUNTERS: received, every outcome, table events). */
export type KernelCounters = Readonly<Record<CounterName, number>>;

export interface HandledRequest {
  /** The response to send (owned by the caller from now on), or undefined: send nothing. */
  response: Uint8Array | undefined;
  /** True when the kernel keeps this exchange for interleaved mode: report the send time. */
  saved: boolean;
  /** The receive timestamp written into the response: the key for noteTransmit. */
  rxKey: NtpTimestamp;
}

/** What the loop needs from one request kernel (implemented over ts/core/server.ts). */
export interface RequestKernel {
  setSystemState(state: ServerSystemState): void;
  /** Re-applies policy from a reloaded [[server]] entry (throws if it needs bigger tables: restart). */
  configure(server: ServerConfig): void;
  handleOne(request: Uint8Array, from: Peer, receivedAt: NtpTimestamp, now: NtpTimestamp): HandledRequest;
  noteTransmit(rxKey: NtpTimestamp, sentAt: NtpTimestamp): void;
  counters(): KernelCounters;
}

/** One [[server]] entry as the loop needs it. */
export interface ListenerSpec {
  address: string;
  port: number;
  kernel: RequestKernel;
}

/** Responses allowed to wait in libuv's send queue per listener; more are dropped and counted. */
export const MAX_INFLIGHT_SENDS = 4096;

interface Listener {
  spec: ListenerSpec;
  socket: ServerSocket;
  inflight: number;
  sent: number;
  sendErrors: number;
  sendQueueFull: number;
  socketErrors: number;
  internalErrors: number;
}

export interface ListenerStats {
  listenAddress: string;
  /** The kernel's counters: `received` equals the sum of the outcomes, always. */
  kernel: KernelCounters;
  /** Responses handed to the kernel's socket. */
  sent: number;
  sendErrors: number;
  sendQueueFull: number;
  /** Asynchronous socket errors (reported by the socket, not tied to one send); engines without them omit it. */
  socketErrors?: number;
  /** Datagrams dropped because the request kernel failed (a bug if ever non-zero). */
  internalErrors?: number;
}

/** Requests answered with time, KoD, or dropped: the three-way split of `received`. */
export function splitOutcomes(c: KernelCounters): { answered: number; kod: number; dropped: number } {
  const answered = c.answered_basic + c.answered_interleaved;
  const kod = c.kod_rate + c.kod_deny;
  let dropped = 0;
  for (const o of OUTCOMES) if (o.startsWith("dropped_")) dropped += c[o];
  return { answered, kod, dropped };
}

export interface NtpServerOptions {
  transport: ServerTransport;
  clock: Clock;
  logger: Logger;
  /** Registers the ntp_server_* families over this server's stats. Leave out when several engines
   *  share one registry: then register once over all of them (registerServerMetrics). */
  metrics?: MetricsRegistry;
  /** Seconds between the info-level counter summaries (0: none). */
  summaryIntervalSeconds?: number;
}

export class NtpServer {
  private readonly listeners: Listener[] = [];
  private readonly warnings: RateLimitedWarnings;
  private summaryTimer: NodeJS.Timeout | undefined;
  private lastSummary = new Map<string, { received: number; answered: number; kod: number; dropped: number }>();
  private closed = false;

  constructor(private readonly o: NtpServerOptions) {
    this.warnings = new RateLimitedWarnings(o.logger);
    if (o.metrics !== undefined) registerServerMetrics(o.metrics, () => this.stats());
  }

  /** Binds every listener (all or nothing: on failure the ones already bound are closed). */
  async listen(specs: ListenerSpec[]): Promise<string[]> {
    try {
      for (const spec of specs) {
        const entry: Partial<Listener> & { spec: ListenerSpec } = { spec, inflight: 0, sent: 0, sendErrors: 0, sendQueueFull: 0, socketErrors: 0, internalErrors: 0 };
        entry.socket = await this.o.transport.bind(
          spec.address,
          spec.port,
          (bytes, from, rx) => this.onDatagram(entry as Listener, bytes, from, rx),
          (err) => {
            entry.socketErrors = (entry.socketErrors ?? 0) + 1;
            this.warnings.warn(`socket-error ${entry.socket?.listenAddress ?? spec.address}`, "socket error", { err: err.message });
          },
        );
        this.listeners.push(entry as Listener);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    const interval = this.o.summaryIntervalSeconds ?? 60;
    if (interval > 0) {
      this.summaryTimer = setInterval(() => this.logSummary(), interval * 1000);
      this.summaryTimer.unref();
    }
    return this.listeners.map((l) => l.socket.listenAddress);
  }

  /** Pushes the server clock's state into every kernel (at start and whenever it changes). */
  setSystemState(state: ServerSystemState): void {
    for (const l of this.listeners) l.spec.kernel.setSystemState(state);
  }

  get listenAddresses(): string[] {
    return this.listeners.map((l) => l.socket.listenAddress);
  }

  private onDatagram(l: Listener, bytes: Uint8Array, from: Peer, receivedAt: NtpTimestamp): void {
    const now = this.o.clock.now();
    let r: HandledRequest;
    try {
      r = l.spec.kernel.handleOne(bytes, from, receivedAt, now);
    } catch (err) {
      // A kernel fault (a WASM trap would be a bug: the kernel checks every length) must not take
      // the whole server down with it: count it, say it (rate-limited), drop the datagram.
      l.internalErrors++;
      this.warnings.warn(`internal-error ${l.socket.listenAddress}`, "request kernel failed; datagram dropped", { err: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (r.response === undefined) return;
    if (l.inflight >= MAX_INFLIGHT_SENDS) {
      l.sendQueueFull++;
      return;
    }
    // The response is the kernel's own copy (ts/core/server.ts handleOne), so it survives the
    // asynchronous send without another copy here.
    const out = r.response;
    l.inflight++;
    const saved = r.saved;
    const rxKey = r.rxKey;
    l.socket.send(out, from).then(
      (sentAt) => {
        l.inflight--;
        l.sent++;
        if (saved) l.spec.kernel.noteTransmit(rxKey, sentAt);
      },
      (err: unknown) => {
        l.inflight--;
        l.sendErrors++;
        this.warnings.warn(`send-error ${l.socket.listenAddress}`, "sending a response failed", { err: err instanceof Error ? err.message : String(err) });
      },
    );
  }

  /** Counter totals per listen address (tests, the summary line, the management output). */
  stats(): ListenerStats[] {
    return this.listeners.map((l) => ({
      listenAddress: l.socket.listenAddress,
      kernel: l.spec.kernel.counters(),
      sent: l.sent,
      sendErrors: l.sendErrors,
      sendQueueFull: l.sendQueueFull,
      socketErrors: l.socketErrors,
      internalErrors: l.internalErrors,
    }));
  }

  /** One info line per listener with what happened since the previous line. */
  logSummary(final = false): void {
    for (const s of this.stats()) {
      const { answered, kod, dropped } = splitOutcomes(s.kernel);
      const received = s.kernel.received;
      const prev = this.lastSummary.get(s.listenAddress) ?? { received: 0, answered: 0, kod: 0, dropped: 0 };
      this.lastSummary.set(s.listenAddress, { received, answered, kod, dropped });
      this.o.logger.info(
        {
          listen: s.listenAddress,
          received: received - prev.received,
          answered: answered - prev.answered,
          kod: kod - prev.kod,
          dropped: dropped - prev.dropped,
          totals: { ...s.kernel, sent: s.sent, sendErrors: s.sendErrors, sendQueueFull: s.sendQueueFull, socketErrors: s.socketErrors, internalErrors: s.internalErrors },
        },
        final ? "server totals at shutdown" : "server summary",
      );
    }
    this.warnings.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.summaryTimer);
    await Promise.all(this.listeners.map((l) => l.socket.close()));
  }
}
