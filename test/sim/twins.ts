// The simulated twins of the daemon's I/O (DESIGN.md principle 4), for ts/daemon/client.ts's NtpClient:
//   SimScheduler  — its Scheduler: timers on the simulator's event queue, `now` = virtual time;
//   SimTransport  — its ClientTransport: one "socket" per request; datagrams cross a simulated Link to a
//                   SimServer and back; T1 and T4 are read from the simulated clock, as the real
//                   transport reads them from the system clock;
//   SimResolver   — its Resolver: server names map to their addresses.
// The client's code is async (await socket.send / receive): the world drains the microtask queue after
// every event that touched a socket (`settled`), so the promise chains run to completion at the same
// virtual instant, in a deterministic order.
import type { NtpTimestamp, TockCore } from "../../ts/core/api.js";
import type { Scheduler } from "../../ts/daemon/client.js";
import type { ResolvedAddress, Resolver } from "../../ts/daemon/resolver.js";
import type { ClientTransport, Datagram, Endpoint, ExchangeSocket } from "../../ts/daemon/udp.js";
import type { EventQueue } from "./queue.js";
import type { Link } from "./network.js";
import type { SimServer } from "./server.js";

export class SimScheduler implements Scheduler {
  private cancelled = new Set<number>();
  private nextHandle = 1;

  constructor(
    private readonly queue: EventQueue,
    private readonly clockNow: () => number,
  ) {}

  now(): number {
    return this.clockNow();
  }

  at(at: number, fn: () => void): unknown {
    const handle = this.nextHandle++;
    this.queue.push(Math.max(at, this.clockNow()), () => {
      if (this.cancelled.delete(handle)) return;
      fn();
    });
    return handle;
  }

  cancel(handle: unknown): void {
    if (typeof handle === "number") this.cancelled.add(handle);
  }
}

/** A server as the network sees it: where it is, how it is reached, what answers. */
export interface SimHost {
  address: string;
  server: SimServer;
  link: Link;
}

export class SimTransport implements ClientTransport {
  /** Set when a socket resolved a promise: the world must let the microtasks run. */
  dirty = false;

  constructor(
    private readonly core: TockCore,
    private readonly hosts: ReadonlyMap<string, SimHost>,
    private readonly queue: EventQueue,
    private readonly now: () => number,
    private readonly localClock: () => NtpTimestamp,
    private readonly trueNtp: (t: number) => NtpTimestamp,
  ) {}

  async open(server: Endpoint, timeoutMs: number): Promise<ExchangeSocket> {
    this.dirty = true;
    const host = this.hosts.get(server.address);
    if (host === undefined) throw new Error(`no simulated host at ${server.address}`);
    return new SimSocket(this, host, this.now() + timeoutMs / 1000);
  }

  /** Sends `bytes` to `host` now; `deliver` gets the answer (with T4) when it arrives, if it does. */
  send(host: SimHost, bytes: Uint8Array, deliver: (d: Datagram) => void): NtpTimestamp {
    this.dirty = true;
    const sentAt = this.now();
    const t1 = this.localClock();
    const out = host.link.transit(sentAt, true);
    if (out !== null) {
      this.queue.push(sentAt + out, () => {
        const reply = host.server.respond(this.core, bytes, this.now(), this.trueNtp);
        if (reply === null) return;
        const leaves = this.now() + reply.processing;
        const back = host.link.transit(leaves, false);
        if (back === null) return;
        this.queue.push(leaves + back, () => deliver({ bytes: reply.bytes, receivedAt: this.localClock() }));
      });
    }
    return t1;
  }

  schedule(at: number, fn: () => void): void {
    this.queue.push(at, fn);
  }
}

class SimSocket implements ExchangeSocket {
  private readonly inbox: Datagram[] = [];
  private waiting: ((d: Datagram | null) => void) | undefined;
  private closed = false;
  private expired = false;

  constructor(
    private readonly transport: SimTransport,
    private readonly host: SimHost,
    deadline: number,
  ) {
    transport.schedule(deadline, () => {
      this.expired = true;
      this.wake(null);
    });
  }

  async send(bytes: Uint8Array): Promise<NtpTimestamp> {
    if (this.closed) throw new Error("socket closed");
    return this.transport.send(this.host, bytes, (d) => {
      if (this.closed || this.expired) return;
      if (this.waiting !== undefined) this.wake(d);
      else if (this.inbox.length < 64) this.inbox.push(d);
    });
  }

  receive(): Promise<Datagram | null> {
    const next = this.inbox.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.closed || this.expired) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  close(): void {
    this.closed = true;
    this.wake(null);
  }

  private wake(d: Datagram | null): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (w !== undefined) {
      this.transport.dirty = true;
      w(d);
    }
  }
}

export class SimResolver implements Resolver {
  constructor(private readonly names: ReadonlyMap<string, string>) {}

  async resolve(host: string): Promise<ResolvedAddress[]> {
    const address = this.names.get(host) ?? (/^\d+\.\d+\.\d+\.\d+$/.test(host) ? host : undefined);
    if (address === undefined) throw new Error(`${host} does not resolve`);
    return [{ address, family: 4 }];
  }
}
