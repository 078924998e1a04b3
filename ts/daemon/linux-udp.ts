// Batched UDP I/O on Linux through koffi: socket/bind/setsockopt, recvmmsg/sendmmsg, poll, and the
// kernel receive timestamp (SO_TIMESTAMPNS) from each message's control data.
//
// Why: node:dgram makes one syscall and one JS callback per datagram, which caps a Node responder at
// about half of chronyd's packets/s (see PEERS.md). recvmmsg/sendmmsg move a whole batch per syscall,
// and the payloads live in one native region that JS reads and writes in place through an
// ArrayBuffer view (koffi.view) — no copies, no per-packet allocation on the hot path.
//
// API (blocking calls are for worker threads and separate processes, never the daemon's main loop):
//   linuxUdpAvailable()                     Linux on x64/arm64?
//   LinuxUdpSocket.open({address, port, reusePort?, kernelTimestamps?, v6Only?, receiveBufferBytes?,
//                        sendBufferBytes?, segmentBytes?})   non-blocking socket; throws LinuxUdpError
//   sock.fd · sock.family · sock.localPort() · sock.waitReadable(ms) (poll) · sock.close()
//   new MessageBatch(capacity, maxPayload)  native slots for recvmmsg/sendmmsg
//   batch.receive(sock, max?) → n           recvmmsg, MSG_DONTWAIT (0 when nothing is queued)
//   batch.payload(i) · length(i) · truncated(i) · peer(i) · peerFamily(i) · peerBytes(i)
//   batch.kernelTimestamp(i, out, at?)      SCM_TIMESTAMPNS → out[at] = s, out[at+1] = ns
//   batch.setPeer(i, address, port)         destination for traffic that is not a reply
//   batch.queue(i, length) · batch.flush(sock) → sent   sendmmsg of the queued slots (to their peers)
//   batch.free()                            releases the native region
//   encodeSockaddr / decodeSockaddr         sockaddr_in(6) codec over a DataView
//
// Layout of the native region of a MessageBatch of capacity N (all little-endian, LP64):
//   recvHeaders  N × struct mmsghdr (64 B): msghdr {name*, namelen, iov*, iovlen, control*, controllen,
//                flags} + msg_len
//   sendHeaders  N × struct mmsghdr: built per send, pointing at the slots being sent (so a batch can
//                answer a subset of what it received without moving payloads)
//   recvIovecs   N × struct iovec (16 B)
//   sendIovecs   N × struct iovec
//   names        N × 28 B sockaddr (sockaddr_in6 is the largest we use; sockaddr_in fits)
//   controls     N × CONTROL_BYTES of cmsg space
//   payloads     N × maxPayload bytes
// The struct offsets below are the x86_64/aarch64 Linux ABI; `linuxUdpAvailable()` refuses elsewhere
// (the constants of SOL_SOCKET and friends also differ on mips/sparc/powerpc).
import koffi from "koffi";
import { isIPv6 } from "node:net";
import { decodeSockaddr, encodeSockaddr } from "./sockaddr.js";

// --- ABI constants (Linux, x86_64 and aarch64) ---
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
// (No SO_REUSEADDR: for UDP on Linux it lets a second socket bind the same address:port and steal
// its unicast traffic. Sharing a port is explicit, with SO_REUSEPORT.)
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_REUSEPORT = 15;
/** Same number as SCM_TIMESTAMPNS, the control-message type that carries the timespec. */
const SO_TIMESTAMPNS = 35;
const IPPROTO_IPV6 = 41;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const IPV6_V6ONLY = 26;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;
const EAGAIN = 11;
const EINTR = 4;

const MMSGHDR_BYTES = 64;
const IOVEC_BYTES = 16;
const NAME_BYTES = 28;
/** Room for SCM_TIMESTAMPNS (CMSG_SPACE(16) = 32) plus one more small message. */
const CONTROL_BYTES = 64;
// msghdr field offsets
const H_NAME = 0;
const H_NAMELEN = 8;
const H_IOV = 16;
const H_IOVLEN = 24;
const H_CONTROL = 32;
const H_CONTROLLEN = 40;
const H_FLAGS = 48;
const H_MSGLEN = 56;

export function linuxUdpAvailable(): boolean {
  return process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64");
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Int32Array, len: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint32Array): number;
  close(fd: number): number;
  recvmmsg(fd: number, vec: unknown, vlen: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, vec: unknown, vlen: number, flags: number): number;
  poll(fds: Int32Array, nfds: number, timeoutMs: number): number;
  strerror(errno: number): string;
  calloc(n: number, size: number): unknown;
  free(ptr: unknown): void;
}

let libc: Libc | undefined;

function lib(): Libc {
  if (libc !== undefined) return libc;
  if (!linuxUdpAvailable()) throw new Error(`linux-udp: needs Linux on x64/arm64 (this is ${process.platform}/${process.arch})`);
  const c = koffi.load("libc.so.6");
  libc = {
    socket: c.func("int socket(int, int, int)"),
    bind: c.func("int bind(int, const void *, uint32_t)"),
    setsockopt: c.func("int setsockopt(int, int, int, const void *, uint32_t)"),
    getsockname: c.func("int getsockname(int, void *, _Inout_ uint32_t *)"),
    close: c.func("int close(int)"),
    recvmmsg: c.func("int recvmmsg(int, void *, unsigned int, int, void *)"),
    sendmmsg: c.func("int sendmmsg(int, void *, unsigned int, int)"),
    poll: c.func("int poll(void *, unsigned long, int)"),
    strerror: c.func("const char *strerror(int)"),
    calloc: c.func("void *calloc(size_t, size_t)"),
    free: c.func("void free(void *)"),
  } as unknown as Libc;
  return libc;
}

export class LinuxUdpError extends Error {
  /** The errno's name ("EADDRINUSE", …), as Node's own socket errors carry it. */
  readonly code: string | undefined;
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    const code = Object.entries(koffi.os.errno).find(([, n]) => n === errno)?.[0];
    super(`${call}: ${lib().strerror(errno)} (${code ?? `errno ${errno}`})`);
    this.code = code;
  }
}

// sockaddr_in / sockaddr_in6 encoding lives in sockaddr.ts; re-exported for callers of this module.
export { decodeSockaddr, encodeSockaddr };

export interface UdpSocketOptions {
  /** Local IPv4 or IPv6 address to bind ("0.0.0.0", "::", "127.0.0.1", …). */
  address: string;
  /** Local port; 0 lets the kernel choose (read it back with `localPort()`). */
  port: number;
  /** SO_REUSEPORT, so several workers can each own a socket on the same address:port. */
  reusePort?: boolean;
  /** SO_TIMESTAMPNS: the kernel stamps each datagram on receipt (see MessageBatch.kernelTimestamp). */
  kernelTimestamps?: boolean;
  /** IPV6_V6ONLY for IPv6 sockets (default true: "::" then serves IPv6 only, and IPv4 needs its own socket). */
  v6Only?: boolean;
  receiveBufferBytes?: number;
  sendBufferBytes?: number;
  /**
   * UDP_SEGMENT (generic segmentation offload, Linux ≥ 4.18): a send of k × segmentBytes leaves as k
   * datagrams of segmentBytes each, to the same destination, for one pass through the stack. For load
   * generators (at most 64 segments per send); a server answers distinct peers and cannot use it.
   */
  segmentBytes?: number;
}

/** A non-blocking UDP socket file descriptor owned by this process. */
export class LinuxUdpSocket {
  private closed = false;
  private constructor(
    readonly fd: number,
    readonly family: 4 | 6,
  ) {}

  static open(options: UdpSocketOptions): LinuxUdpSocket {
    const c = lib();
    const family = isIPv6(options.address) ? 6 : 4;
    const fd = c.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new LinuxUdpError("socket", koffi.errno());
    const sock = new LinuxUdpSocket(fd, family);
    try {
      const one = new Int32Array([1]);
      const set = (level: number, name: number, value: number, what: string) => {
        one[0] = value;
        if (c.setsockopt(fd, level, name, one, 4) < 0) throw new LinuxUdpError(`setsockopt(${what})`, koffi.errno());
      };
      if (options.reusePort) set(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
      if (options.kernelTimestamps) set(SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
      if (family === 6) set(IPPROTO_IPV6, IPV6_V6ONLY, options.v6Only === false ? 0 : 1, "IPV6_V6ONLY");
      if (options.receiveBufferBytes) set(SOL_SOCKET, SO_RCVBUF, options.receiveBufferBytes, "SO_RCVBUF");
      if (options.sendBufferBytes) set(SOL_SOCKET, SO_SNDBUF, options.sendBufferBytes, "SO_SNDBUF");
      if (options.segmentBytes) set(SOL_UDP, UDP_SEGMENT, options.segmentBytes, "UDP_SEGMENT");
      const addr = new Uint8Array(NAME_BYTES);
      const len = encodeSockaddr(new DataView(addr.buffer), 0, options.address, options.port);
      if (c.bind(fd, addr, len) < 0) throw new LinuxUdpError(`bind(${options.address}:${options.port})`, koffi.errno());
    } catch (err) {
      sock.close();
      throw err;
    }
    return sock;
  }

  /** The bound port (useful after binding port 0). */
  localPort(): number {
    const addr = new Uint8Array(NAME_BYTES);
    const len = new Uint32Array([NAME_BYTES]);
    if (lib().getsockname(this.fd, addr, len) < 0) throw new LinuxUdpError("getsockname", koffi.errno());
    return new DataView(addr.buffer).getUint16(2, false);
  }

  /**
   * Waits until the socket is readable or `timeoutMs` passes (blocks this thread: use it in a worker or
   * a dedicated process, never on the daemon's main event loop). Returns true if readable.
   */
  waitReadable(timeoutMs: number): boolean {
    const pfd = new Int32Array(2);
    pfd[0] = this.fd;
    pfd[1] = POLLIN; // events (low 16 bits), revents (high 16 bits) = 0
    const n = lib().poll(pfd, 1, Math.max(0, Math.floor(timeoutMs)));
    if (n < 0) {
      const e = koffi.errno();
      if (e === EINTR) return false;
      throw new LinuxUdpError("poll", e);
    }
    return n > 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    lib().close(this.fd);
  }
}

/**
 * A fixed set of message slots in native memory, for recvmmsg and sendmmsg.
 *
 * Receive: `receive(sock)` fills slots 0..n-1 (payload, sender address, kernel timestamp).
 * Answer in place: write the response into `payload(i)` and queue it with `queue(i, length)`; the
 * sender address received in slot i is reused as the destination. `flush(sock)` sends the queue.
 * Send new traffic: `setPeer(i, address, port)` once, write `payload(i)`, `queue(i, length)`, `flush`.
 * Nothing here allocates after construction, except `peer(i)` (strings; not for the hot path).
 */
export class MessageBatch {
  readonly capacity: number;
  readonly maxPayload: number;
  /** The whole native region as bytes (payload views are subarrays of it). */
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly base: bigint;
  private readonly region: unknown;
  private readonly recvHeaders = 0;
  private readonly sendHeaders: number;
  private readonly recvIovecs: number;
  private readonly sendIovecs: number;
  private readonly names: number;
  private readonly controls: number;
  private readonly payloads: number;
  private readonly payloadViews: Uint8Array[] = [];
  /** The region as 32-bit words, for fast stores into the (little-endian) headers. */
  private readonly words: Uint32Array;
  /** Which slot each send header currently points at (-1: none yet). */
  private readonly sendSlot: Int32Array;
  private queued = 0;
  private freed = false;

  constructor(capacity: number, maxPayload = 2048) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096) throw new RangeError("MessageBatch capacity must be 1..4096");
    this.capacity = capacity;
    this.maxPayload = (Math.max(48, maxPayload) + 7) & ~7;
    this.sendHeaders = capacity * MMSGHDR_BYTES;
    this.recvIovecs = this.sendHeaders + capacity * MMSGHDR_BYTES;
    this.sendIovecs = this.recvIovecs + capacity * IOVEC_BYTES;
    this.names = this.sendIovecs + capacity * IOVEC_BYTES;
    this.controls = this.names + ((capacity * NAME_BYTES + 7) & ~7);
    this.payloads = this.controls + capacity * CONTROL_BYTES;
    const total = this.payloads + capacity * this.maxPayload;
    const c = lib();
    const region = c.calloc(1, total);
    if (region === null) throw new Error("linux-udp: out of memory");
    this.region = region;
    this.base = koffi.address(region);
    const buffer = koffi.view(region, total);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.words = new Uint32Array(buffer);
    this.sendSlot = new Int32Array(capacity).fill(-1);
    for (let i = 0; i < capacity; i++) {
      const p = this.payloads + i * this.maxPayload;
      this.payloadViews.push(this.bytes.subarray(p, p + this.maxPayload));
      this.view.setBigUint64(this.recvIovecs + i * IOVEC_BYTES, this.base + BigInt(p), true);
      const h = this.recvHeaders + i * MMSGHDR_BYTES;
      this.view.setBigUint64(h + H_NAME, this.base + BigInt(this.names + i * NAME_BYTES), true);
      this.view.setBigUint64(h + H_IOV, this.base + BigInt(this.recvIovecs + i * IOVEC_BYTES), true);
      this.view.setBigUint64(h + H_IOVLEN, 1n, true);
      this.view.setBigUint64(h + H_CONTROL, this.base + BigInt(this.controls + i * CONTROL_BYTES), true);
      // Send headers: name/iov pointers are filled by queue(); they never carry control data.
      const s = this.sendHeaders + i * MMSGHDR_BYTES;
      this.view.setBigUint64(s + H_IOV, this.base + BigInt(this.sendIovecs + i * IOVEC_BYTES), true);
      this.view.setBigUint64(s + H_IOVLEN, 1n, true);
    }
  }

  /** The payload buffer of slot i (maxPayload bytes; the datagram is its first `length(i)` bytes). */
  payload(i: number): Uint8Array {
    return this.payloadViews[i]!;
  }

  /** Length of the datagram received in slot i. */
  length(i: number): number {
    return this.view.getUint32(this.recvHeaders + i * MMSGHDR_BYTES + H_MSGLEN, true);
  }

  /** True if the datagram in slot i was longer than maxPayload and cut (MSG_TRUNC). */
  truncated(i: number): boolean {
    return (this.view.getInt32(this.recvHeaders + i * MMSGHDR_BYTES + H_FLAGS, true) & 0x20) !== 0;
  }

  /**
   * Non-blocking recvmmsg into slots 0..max-1. Returns the number of datagrams (0 if none waiting).
   * Resets every slot's lengths first, because the kernel overwrites them on each receive.
   */
  receive(sock: LinuxUdpSocket, max = this.capacity): number {
    const n = Math.min(max, this.capacity);
    // 32-bit stores into little-endian 64-bit fields: the high halves stay zero from calloc.
    const w = this.words;
    for (let i = 0; i < n; i++) {
      const h = (this.recvHeaders + i * MMSGHDR_BYTES) >> 2;
      w[h + (H_NAMELEN >> 2)] = NAME_BYTES;
      w[h + (H_CONTROLLEN >> 2)] = CONTROL_BYTES;
      w[h + (H_FLAGS >> 2)] = 0;
      w[((this.recvIovecs + i * IOVEC_BYTES) >> 2) + 2] = this.maxPayload;
    }
    const got = lib().recvmmsg(sock.fd, this.region, n, MSG_DONTWAIT, null);
    if (got < 0) {
      const e = koffi.errno();
      if (e === EAGAIN || e === EINTR) return 0;
      throw new LinuxUdpError("recvmmsg", e);
    }
    return got;
  }

  /**
   * Kernel receive time of slot i (SCM_TIMESTAMPNS), written as Unix seconds and nanoseconds into
   * out[at], out[at+1]. Returns false when the message carried none (option off, or hostile cmsg length).
   */
  kernelTimestamp(i: number, out: Float64Array, at = 0): boolean {
    const h = this.recvHeaders + i * MMSGHDR_BYTES;
    const controlLen = Number(this.view.getBigUint64(h + H_CONTROLLEN, true));
    const start = this.controls + i * CONTROL_BYTES;
    const end = start + Math.min(controlLen, CONTROL_BYTES);
    let p = start;
    while (p + 16 <= end) {
      const len = Number(this.view.getBigUint64(p, true));
      if (len < 16 || p + len > end) return false;
      const level = this.view.getInt32(p + 8, true);
      const type = this.view.getInt32(p + 12, true);
      if (level === SOL_SOCKET && type === SO_TIMESTAMPNS && len >= 32) {
        out[at] = Number(this.view.getBigInt64(p + 16, true));
        out[at + 1] = Number(this.view.getBigInt64(p + 24, true));
        return true;
      }
      p += (len + 7) & ~7; // CMSG_ALIGN
    }
    return false;
  }

  /** The sender of slot i after receive (or the peer set with setPeer). Allocates: not for the hot path. */
  peer(i: number): { family: 4 | 6; address: string; port: number } | undefined {
    return decodeSockaddr(this.view, this.names + i * NAME_BYTES);
  }

  /** Address family of slot i's peer without allocating: 4, 6, or 0 (unknown). */
  peerFamily(i: number): 0 | 4 | 6 {
    const f = this.view.getUint16(this.names + i * NAME_BYTES, true);
    return f === AF_INET ? 4 : f === AF_INET6 ? 6 : 0;
  }

  /** The raw sockaddr bytes of slot i's peer (28-byte view; for hashing/rate-limit keys without strings). */
  peerBytes(i: number): Uint8Array {
    const at = this.names + i * NAME_BYTES;
    return this.bytes.subarray(at, at + NAME_BYTES);
  }

  /** Sets slot i's peer (destination for queue/flush). */
  setPeer(i: number, address: string, port: number): void {
    const len = encodeSockaddr(this.view, this.names + i * NAME_BYTES, address, port);
    this.view.setUint32(this.recvHeaders + i * MMSGHDR_BYTES + H_NAMELEN, len, true);
  }

  /** Number of messages queued for the next flush. */
  get queuedCount(): number {
    return this.queued;
  }

  /** Queues slot i's payload (first `length` bytes) for sending to slot i's peer. */
  queue(i: number, length: number): void {
    if (this.queued >= this.capacity) throw new RangeError("MessageBatch: queue full");
    if (length < 0 || length > this.maxPayload) throw new RangeError("MessageBatch: bad length");
    const j = this.queued++;
    const w = this.words;
    const s = (this.sendHeaders + j * MMSGHDR_BYTES) >> 2;
    const iov = (this.sendIovecs + j * IOVEC_BYTES) >> 2;
    if (this.sendSlot[j] !== i) {
      // Point send header j at slot i's address and payload (skipped when it already does: the
      // common case of answering every slot of a batch in order).
      this.sendSlot[j] = i;
      this.view.setBigUint64(s * 4 + H_NAME, this.base + BigInt(this.names + i * NAME_BYTES), true);
      this.view.setBigUint64(iov * 4, this.base + BigInt(this.payloads + i * this.maxPayload), true);
    }
    w[s + (H_NAMELEN >> 2)] = w[((this.recvHeaders + i * MMSGHDR_BYTES) + H_NAMELEN) >> 2]!;
    w[iov + 2] = length;
  }

  /**
   * sendmmsg of everything queued. Returns how many the kernel took; the rest (socket buffer full)
   * are dropped — the caller counts them — and the queue is emptied either way.
   */
  flush(sock: LinuxUdpSocket): number {
    const total = this.queued;
    this.queued = 0;
    let sent = 0;
    const c = lib();
    while (sent < total) {
      const ptr = this.sendHeaders + sent * MMSGHDR_BYTES;
      // A subarray of the external view is passed to C as a pointer to its first byte (no copy).
      const n = c.sendmmsg(sock.fd, this.bytes.subarray(ptr), total - sent, MSG_DONTWAIT);
      if (n < 0) {
        const e = koffi.errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) break;
        // A per-destination error (e.g. EINVAL for a hostile or unroutable address) stops sendmmsg at
        // that message: skip it and carry on with the rest.
        sent++;
        continue;
      }
      if (n === 0) break;
      sent += n;
    }
    return sent;
  }

  /** Frees the native region. The batch must not be used afterwards. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    lib().free(this.region);
  }
}
