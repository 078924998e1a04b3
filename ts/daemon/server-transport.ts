// The server side of UDP: sockets that receive requests from anyone and answer each sender.
//
// Receive timestamp (RFC 5905 §8, T2): the transport reads the clock as the very first statement of
// the datagram handler, before any other work, and hands it in with the bytes. node:dgram offers no
// kernel timestamps, so T2 carries the event loop's latency; the batched Linux engine (issue 4) takes
// SO_TIMESTAMPNS instead.
//
// Transmit: `send` resolves with the clock read in the send completion callback — the earliest point
// after the datagram reached the kernel that node:dgram exposes. Interleaved mode (RFC 9769) serves
// that reading in the next response, which is what makes it more accurate than T3 written in the
// packet (read before the send).
//
// The simulated twin (SimServerTransport) has the same shape: tests push datagrams in and collect the
// responses, with a SimClock and no sockets.
import dgram from "node:dgram";
import { isIPv6 } from "node:net";
import type { NtpTimestamp } from "../core/api.js";
import { addSeconds, type Clock } from "../clock/clock.js";

export interface Peer {
  address: string;
  port: number;
  family: 4 | 6;
}

/** Called once per datagram. `bytes` is only valid during the call (the transport may reuse it). */
export type DatagramHandler = (bytes: Uint8Array, from: Peer, receivedAt: NtpTimestamp) => void;

export interface ServerSocket {
  /** "127.0.0.1:123" / "[::1]:123", for logs and the listen_address metric label. */
  readonly listenAddress: string;
  readonly port: number;
  /** Sends `bytes` to `to`; resolves with the clock just after the kernel took it, or rejects. */
  send(bytes: Uint8Array, to: Peer): Promise<NtpTimestamp>;
  close(): Promise<void>;
}

export interface ServerTransport {
  /** Binds `address:port` (port 0: any free port) and delivers every datagram to `onDatagram`. */
  bind(address: string, port: number, onDatagram: DatagramHandler, onError: (err: Error) => void): Promise<ServerSocket>;
}

export function formatListenAddress(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Largest datagram a server reads in full; anything longer is truncated by the kernel and rejected. */
export const MAX_REQUEST_BYTES = 2048;

/** The real transport over node:dgram. */
export class DgramServerTransport implements ServerTransport {
  constructor(
    private readonly clock: Clock,
    private readonly options: { receiveBufferBytes?: number; sendBufferBytes?: number } = {},
  ) {}

  async bind(address: string, port: number, onDatagram: DatagramHandler, onError: (err: Error) => void): Promise<ServerSocket> {
    const v6 = isIPv6(address);
    // ipv6Only: a "::" listener serves IPv6 only, so "0.0.0.0" can be bound beside it on the same
    // port (two [[server]] entries) and an IPv4 client is counted under the IPv4 listener's label.
    const socket = dgram.createSocket({ type: v6 ? "udp6" : "udp4", ipv6Only: v6, reuseAddr: false });
    const clock = this.clock;
    socket.on("message", (msg, rinfo) => {
      const receivedAt = clock.now(); // T2: first thing
      onDatagram(msg, { address: rinfo.address, port: rinfo.port, family: rinfo.family === "IPv6" ? 6 : 4 }, receivedAt);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    // After bind: runtime socket errors (e.g. ICMP-induced ECONNREFUSED on some platforms) must
    // never crash the daemon; the owner counts and logs them (rate-limited).
    socket.on("error", onError);
    if (this.options.receiveBufferBytes) socket.setRecvBufferSize(this.options.receiveBufferBytes);
    if (this.options.sendBufferBytes) socket.setSendBufferSize(this.options.sendBufferBytes);
    const bound = socket.address();
    let closed = false;
    return {
      listenAddress: formatListenAddress(bound.address, bound.port),
      port: bound.port,
      send(bytes, to) {
        return new Promise<NtpTimestamp>((resolve, reject) => {
          if (closed) {
            reject(new Error("socket closed"));
            return;
          }
          socket.send(bytes, to.port, to.address, (err) => {
            const sentAt = clock.now();
            if (err) reject(err);
            else resolve(sentAt);
          });
        });
      },
      close() {
        if (closed) return Promise.resolve();
        closed = true;
        return new Promise<void>((resolve) => socket.close(() => resolve()));
      },
    };
  }
}

/** One datagram a simulated server socket sent. */
export interface SimSent {
  from: string;
  to: Peer;
  bytes: Uint8Array;
  sentAt: NtpTimestamp;
}

/** In-memory twin: `deliver` plays a datagram arriving; `sent` records every response. */
export class SimServerTransport implements ServerTransport {
  readonly sent: SimSent[] = [];
  private readonly sockets = new Map<string, { onDatagram: DatagramHandler; closed: boolean }>();
  private nextPort = 40000;

  constructor(
    private readonly clock: Clock,
    /** Sent datagrams kept (oldest dropped beyond this), so a long simulation stays bounded. */
    private readonly keep = 100_000,
    /** Seconds between the send call and the reported transmit time (models the kernel's send path). */
    private readonly sendLatencySeconds = 0,
  ) {}

  async bind(address: string, port: number, onDatagram: DatagramHandler): Promise<ServerSocket> {
    const actualPort = port === 0 ? this.nextPort++ : port;
    const listenAddress = formatListenAddress(address, actualPort);
    if (this.sockets.get(listenAddress)?.closed === false) throw Object.assign(new Error(`EADDRINUSE ${listenAddress}`), { code: "EADDRINUSE" });
    const entry = { onDatagram, closed: false };
    this.sockets.set(listenAddress, entry);
    return {
      listenAddress,
      port: actualPort,
      send: async (bytes, to) => {
        if (entry.closed) throw new Error("socket closed");
        const sentAt = addSeconds(this.clock.now(), this.sendLatencySeconds);
        this.sent.push({ from: listenAddress, to, bytes: Uint8Array.from(bytes), sentAt });
        if (this.sent.length > this.keep) this.sent.splice(0, this.sent.length - this.keep);
        return sentAt;
      },
      close: async () => {
        entry.closed = true;
      },
    };
  }

  /** A datagram from `from` arrives at the socket bound to `listenAddress`; false if none is bound. */
  deliver(listenAddress: string, bytes: Uint8Array, from: Peer): boolean {
    const s = this.sockets.get(listenAddress);
    if (s === undefined || s.closed) return false;
    s.onDatagram(bytes, from, this.clock.now());
    return true;
  }
}
