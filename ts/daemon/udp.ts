// Transport for one-shot client exchanges (tock query, and later each poll of a source).
//
// RFC 9109 §3: a client SHOULD use a fresh, randomised source port per request, so every exchange
// opens its own socket bound to port 0 (the kernel picks a random ephemeral port) and connected to
// the server (the kernel then drops datagrams from any other address/port before we see them).
//
// Timestamps: T1 is read immediately before send() hands the datagram to the kernel, T4 as the very
// first statement of the 'message' handler. node:dgram exposes no kernel timestamps (SO_TIMESTAMPNS);
// the high-throughput Linux path does that elsewhere.
//
// The simulated twin (SimTransport) runs the same caller code against a scripted server and a
// SimClock, with no sockets and no waiting.
import dgram from "node:dgram";
import type { NtpTimestamp } from "../core/api.js";
import type { Clock } from "../clock/clock.js";

export interface Endpoint {
  address: string;
  port: number;
  family: 4 | 6;
}

export interface Datagram {
  bytes: Uint8Array;
  /** T4: local clock when the datagram reached user space. */
  receivedAt: NtpTimestamp;
}

/** One socket for one request: send once, then receive until the deadline. */
export interface ExchangeSocket {
  /** Sends the datagram; resolves with T1, the local clock just before it went to the kernel. */
  send(bytes: Uint8Array): Promise<NtpTimestamp>;
  /** The next datagram from the server, or null once the exchange's deadline has passed. */
  receive(): Promise<Datagram | null>;
  /** Releases the socket. Idempotent. */
  close(): void;
  /** The last asynchronous socket error (e.g. ECONNREFUSED after an ICMP port unreachable), if any. */
  readonly lastError?: TransportError | undefined;
}

export interface ClientTransport {
  /** Opens a fresh socket towards `server`; `timeoutMs` bounds the whole exchange from now. */
  open(server: Endpoint, timeoutMs: number): Promise<ExchangeSocket>;
}

/** Raised for socket-level failures (EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, …), not timeouts. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "TransportError";
  }
}

/** Largest datagram we keep: bigger ones are truncated here and rejected by the codec's length check. */
const MAX_DATAGRAM = 2048;
/** Datagrams queued but not yet received; beyond this a flood is dropped (bounded memory). */
const MAX_QUEUED = 64;

/** The real transport over node:dgram. */
export class DgramTransport implements ClientTransport {
  constructor(private readonly clock: Clock) {}

  async open(server: Endpoint, timeoutMs: number): Promise<ExchangeSocket> {
    const socket = dgram.createSocket({ type: server.family === 6 ? "udp6" : "udp4" });
    const exchange = new DgramExchange(socket, this.clock, timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        // connect() binds to a random ephemeral port first (RFC 9109) and filters by peer address.
        socket.connect(server.port, server.address, () => {
          socket.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      exchange.close();
      throw toTransportError(err);
    }
    exchange.start();
    return exchange;
  }
}

class DgramExchange implements ExchangeSocket {
  private readonly queue: Datagram[] = [];
  private waiter: ((d: Datagram | null) => void) | undefined;
  private failure: TransportError | undefined;
  private expired = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly socket: dgram.Socket,
    private readonly clock: Clock,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.expire(), Math.max(0, timeoutMs));
  }

  start(): void {
    this.socket.on("message", (msg: Buffer) => {
      const receivedAt = this.clock.now(); // first: T4 as close to arrival as user space allows
      if (this.queue.length >= MAX_QUEUED) return;
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, Math.min(msg.length, MAX_DATAGRAM));
      this.deliver({ bytes, receivedAt });
    });
    // ICMP port unreachable on a connected socket surfaces as ECONNREFUSED: keep waiting like ntpd
    // (the deadline decides), but remember it for the error message.
    this.socket.on("error", (err) => {
      this.failure = toTransportError(err);
    });
  }

  async send(bytes: Uint8Array): Promise<NtpTimestamp> {
    const sentAt = this.clock.now();
    await new Promise<void>((resolve, reject) => {
      this.socket.send(bytes, (err) => (err ? reject(toTransportError(err)) : resolve()));
    });
    return sentAt;
  }

  receive(): Promise<Datagram | null> {
    // The deadline wins over queued datagrams, so a flood cannot stretch the exchange past it.
    if (this.expired || this.closed) return Promise.resolve(null);
    const next = this.queue.shift();
    if (next !== undefined) return Promise.resolve(next);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** The last socket error seen (e.g. ECONNREFUSED from an ICMP port unreachable), if any. */
  get lastError(): TransportError | undefined {
    return this.failure;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.wake(null);
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  private deliver(d: Datagram): void {
    if (this.waiter !== undefined) this.wake(d);
    else this.queue.push(d);
  }

  private expire(): void {
    this.expired = true;
    this.wake(null);
  }

  private wake(d: Datagram | null): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(d);
  }
}

function toTransportError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  const e = err as NodeJS.ErrnoException;
  return new TransportError(e?.message ?? String(err), e?.code);
}

// ---------------------------------------------------------------------------------------------
// Simulated twin

/** What a scripted server answers to one request: datagrams and their one-way delays (seconds). */
export interface SimReply {
  bytes: Uint8Array;
  /** Seconds from the request's send to this datagram's arrival. */
  after: number;
}

/** Scripted server: sees the request and where it was sent, returns what comes back. */
export type SimServer = (request: Uint8Array, to: Endpoint) => SimReply[];

/** A clock that SimTransport may move forward (SimClock fits). */
export interface AdvanceableClock extends Clock {
  advance(seconds: number): void;
}

/**
 * In-memory transport over a simulated clock. send() runs the scripted server; receive() advances
 * the clock to each reply's arrival in order, and to the deadline when nothing is left (a timeout
 * costs no real time). `sent` records every request for assertions.
 */
export class SimTransport implements ClientTransport {
  readonly sent: { to: Endpoint; bytes: Uint8Array }[] = [];
  /** Endpoints that fail to open, to simulate e.g. ENETUNREACH for IPv6. */
  readonly unreachable = new Set<string>();

  constructor(
    private readonly clock: AdvanceableClock,
    private readonly server: SimServer,
  ) {}

  async open(to: Endpoint, timeoutMs: number): Promise<ExchangeSocket> {
    if (this.unreachable.has(to.address)) throw new TransportError(`connect ENETUNREACH ${to.address}`, "ENETUNREACH");
    const clock = this.clock;
    const transport = this;
    let elapsed = 0;
    let pending: SimReply[] = [];
    const timeout = timeoutMs / 1000;
    return {
      async send(bytes: Uint8Array): Promise<NtpTimestamp> {
        const sentAt = clock.now();
        transport.sent.push({ to, bytes: bytes.slice() });
        pending = transport.server(bytes.slice(), to).slice().sort((a, b) => a.after - b.after);
        return sentAt;
      },
      async receive(): Promise<Datagram | null> {
        const next = pending[0];
        if (next === undefined || next.after > timeout) {
          clock.advance(Math.max(0, timeout - elapsed));
          elapsed = timeout;
          pending = [];
          return null;
        }
        pending.shift();
        clock.advance(next.after - elapsed);
        elapsed = next.after;
        return { bytes: next.bytes, receivedAt: clock.now() };
      },
      close(): void {
        pending = [];
      },
    };
  }
}
