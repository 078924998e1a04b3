// Virtual time and a virtual network for the client loop (ts/daemon/client.ts): a Scheduler whose
// clock moves only when run() says so, and a ClientTransport whose servers answer with scripted
// offsets and delays. The NtpClient under test is the production class; only its I/O is simulated.
import type { Scheduler } from "../../ts/daemon/client.js";
import type { ClientTransport, Datagram, Endpoint, ExchangeSocket } from "../../ts/daemon/udp.js";
import { core, ntpAt, response } from "./support.js";

export class VirtualScheduler implements Scheduler {
  private t = 0;
  private seq = 0;
  private queue: { at: number; seq: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  at(at: number, fn: () => void): unknown {
    const entry = { at: Math.max(at, this.t), seq: this.seq++, fn };
    this.queue.push(entry);
    return entry;
  }

  cancel(handle: unknown): void {
    const i = this.queue.indexOf(handle as (typeof this.queue)[number]);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** Fires every timer due up to `until` in order, letting promise chains settle between them. */
  async run(until: number): Promise<void> {
    await settle();
    for (let guard = 0; guard < 1_000_000; guard++) {
      this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.queue[0];
      if (next === undefined || next.at > until) break;
      this.queue.shift();
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = Math.max(this.t, until);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/** A scripted server: its clock offset (s) from ours, one-way delay (s), and whether it answers. */
export interface VirtualServer {
  offset: number;
  delay?: number;
  stratum?: number;
  silent?: boolean;
  /** Answer with this kiss code instead of time. */
  kiss?: string;
}

export class VirtualNet implements ClientTransport {
  readonly servers = new Map<string, VirtualServer>();
  requests = 0;
  /** Every source port must be fresh: the transport opens one socket per request. */
  opened = 0;

  constructor(private readonly scheduler: VirtualScheduler) {}

  add(address: string, port: number, server: VirtualServer): void {
    this.servers.set(`${address}|${port}`, server);
  }

  async open(to: Endpoint, timeoutMs: number): Promise<ExchangeSocket> {
    this.opened++;
    return virtualExchangeSocket(this.scheduler, timeoutMs, (bytes, t1, deliver) => {
      this.requests++;
      const server = this.servers.get(`${to.address}|${to.port}`);
      if (server === undefined || server.silent) return;
      const oneWay = server.delay ?? 0.005;
      const fields = server.kiss !== undefined
        ? { stratum: 0, referenceId: ascii(server.kiss), offset: server.offset, delay: 2 * oneWay }
        // Reference id 10.0.0.1: an upstream none of the test's sources is (no loop detection).
        : { stratum: server.stratum ?? 2, offset: server.offset, delay: 2 * oneWay, referenceId: 0x0a000001 };
      deliver(t1 + 2 * oneWay, response(core, bytes, t1, fields));
    });
  }
}

/**
 * One request's socket in virtual time: `onSend` sees each datagram sent (at virtual time t1) and may
 * `deliver` answers at later virtual times; receive() yields them in order and null once the
 * exchange's deadline (timeoutMs from opening) has passed or the socket is closed.
 */
export function virtualExchangeSocket(
  sched: Scheduler,
  timeoutMs: number,
  onSend: (bytes: Uint8Array, t1: number, deliver: (at: number, bytes: Uint8Array) => void) => void,
): ExchangeSocket {
  const queue: Datagram[] = [];
  let waiter: ((d: Datagram | null) => void) | undefined;
  let closed = false;
  let expired = false;
  const wake = (d: Datagram | null) => {
    const w = waiter;
    waiter = undefined;
    w?.(d);
  };
  const deadline = sched.at(sched.now() + timeoutMs / 1000, () => {
    expired = true;
    wake(null);
  });
  const deliver = (at: number, bytes: Uint8Array) => {
    sched.at(at, () => {
      if (closed) return;
      const d = { bytes, receivedAt: ntpAt(sched.now()) };
      if (waiter !== undefined) wake(d);
      else queue.push(d);
    });
  };
  return {
    async send(bytes: Uint8Array) {
      const t1 = sched.now();
      onSend(bytes, t1, deliver);
      return ntpAt(t1);
    },
    receive() {
      if (closed || expired) return Promise.resolve(null);
      const d = queue.shift();
      if (d !== undefined) return Promise.resolve(d);
      return new Promise((r) => (waiter = r));
    },
    close() {
      if (closed) return;
      closed = true;
      sched.cancel(deadline);
      wake(null);
    },
  };
}

function ascii(code: string): number {
  let id = 0;
  for (let i = 0; i < 4; i++) id = (id << 8) | (code.charCodeAt(i) || 0);
  return id >>> 0;
}
