// Zero-copy batched UDP for the server kernel: recvmmsg writes datagrams STRAIGHT INTO the WASM
// kernel's request slots and sendmmsg sends STRAIGHT FROM its response slots (Linux, via koffi).
//
// How: koffi hands a TypedArray to C as a pointer to its bytes, so one call to an identity-like libc
// function (memcpy of 0 bytes returns its destination) yields the address of WebAssembly linear
// memory. The iovecs of the recvmmsg/sendmmsg headers point at `base + slot offset`. The addresses
// stay valid because (1) V8 reserves a wasm memory's whole address range up front, so even grow()
// keeps the base, and (2) this code checks the base again whenever the memory's ArrayBuffer changes
// and rebuilds the iovecs if it ever moved. The headers, peer addresses and control messages live in
// one native block (calloc) next to them.
//
// Per received datagram the JS work is a few typed-array stores into the request slot's header:
// length (recvmmsg with MSG_TRUNC reports the FULL length, so an oversize datagram is dropped by the
// kernel as oversize, exactly as node:dgram's full-length delivery is), address family, port, the
// 4 or 16 address bytes, and the receive timestamp. That timestamp is the kernel's (SO_TIMESTAMPNS,
// CLOCK_REALTIME at the socket's receive path), converted here to NTP 32.32 with the core's rounding
// (asm/timestamp.ts unixToNtp: fraction = round(ns · 2^32 / 10^9)). Caveat: Linux stamps on arrival
// only once its global timestamping switch is on, which the first SO_TIMESTAMPNS socket turns on
// through deferred work; a datagram arriving before that is stamped when it is read (never later
// than the userspace reading, just less early). Seen once in ~20 test runs, for a datagram sent
// right after the socket was created; the engine's sockets exist well before traffic.
//
// Layout of the native block (x86_64/aarch64 Linux ABI, as ts/daemon/linux-udp.ts):
//   recv mmsghdr × N (64 B) | send mmsghdr × N | send iovec × N (16 B) | recv iovec × N |
//   names × N (32 B, sockaddr_in6 fits) | recv controls × N (128 B) | send controls × N (64 B) |
//   scratch (timespec, pollfd)
//
// Replies from the address the client asked (wildcard listeners): with IP_PKTINFO /
// IPV6_RECVPKTINFO on (batch-sockopts.ts enableReplyFromDestination), each request's control data says which local
// address it was sent to, and its reply carries that address back as the source (a send-side
// IP_PKTINFO / IPV6_PKTINFO message), as chrony does. Without it, a server bound to 0.0.0.0 on a
// host with several addresses answers from whatever address the route picks, and clients behind
// NAT or with a connected socket drop the reply.
import koffi from "koffi";
import { LinuxUdpError, linuxUdpAvailable } from "./linux-udp.js";

/** A bound UDP socket by its fd (sockets belong to the process, so a worker thread can use one the
 *  main thread opened — ts/daemon/linux-udp.ts LinuxUdpSocket has this shape). */
export interface BoundSocket {
  readonly fd: number;
  readonly family: 4 | 6;
}

const AF_INET = 2;
const AF_INET6 = 10;
const SOL_SOCKET = 1;
const SCM_TIMESTAMPNS = 35;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const POLLIN = 0x1;
const EAGAIN = 11;
const EINTR = 4;
const CLOCK_REALTIME = 0;

const MMSGHDR = 64;
const IOVEC = 16;
const NAME = 32;
const CONTROL = 128;
const SEND_CONTROL = 64;
const IPPROTO_IP = 0;
const IP_PKTINFO = 8;
const IPPROTO_IPV6 = 41;
const IPV6_PKTINFO = 50;
const H_NAME = 0;
const H_NAMELEN = 8;
const H_IOV = 16;
const H_IOVLEN = 24;
const H_CONTROL = 32;
const H_CONTROLLEN = 40;
const H_MSGLEN = 56;
const SCRATCH = 64;

/** Seconds from 1900 (NTP era 0) to 1970 (Unix epoch). */
const UNIX_EPOCH_IN_NTP = 2_208_988_800;
const TWO_32 = 4294967296;

interface Libc {
  recvmmsg(fd: number, vec: number, vlen: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, vec: number, vlen: number, flags: number): number;
  poll(fds: number, nfds: number, timeoutMs: number): number;
  clock_gettime(clock: number, ts: number): number;
  calloc(n: number, size: number): unknown;
  free(ptr: unknown): void;
  addressOf(dst: Uint8Array, src: Uint8Array, n: number): number;
}

let libc: Libc | undefined;
function lib(): Libc {
  if (libc !== undefined) return libc;
  if (!linuxUdpAvailable()) throw new Error(`batch engine: needs Linux on x64/arm64 (this is ${process.platform}/${process.arch})`);
  const c = koffi.load("libc.so.6");
  // Pointers travel as uintptr_t numbers (addresses fit in 53 bits on these ABIs): the cheapest
  // argument koffi converts.
  libc = {
    recvmmsg: c.func("int recvmmsg(int, uintptr_t, unsigned int, int, void *)"),
    sendmmsg: c.func("int sendmmsg(int, uintptr_t, unsigned int, int)"),
    poll: c.func("int poll(uintptr_t, unsigned long, int)"),
    clock_gettime: c.func("int clock_gettime(int, uintptr_t)"),
    calloc: c.func("void *calloc(size_t, size_t)"),
    free: c.func("void free(void *)"),
    addressOf: c.func("uintptr_t memcpy(void *, const void *, size_t)"),
  } as unknown as Libc;
  return libc;
}

/** The address of a TypedArray's first byte (koffi passes TypedArrays to C without copying). */
export function addressOf(bytes: Uint8Array): number {
  return lib().addressOf(bytes, bytes, 0);
}

/** Where the kernel's slots are in linear memory (from ts/core/server.ts and server_layout). */
export interface SlotLayout {
  memory: WebAssembly.Memory;
  slots: number;
  capacity: number;
  /** Byte offsets of slot 0 and strides. */
  requestBase: number;
  requestStride: number;
  responseBase: number;
  responseStride: number;
  /** Field offsets inside a slot (asm/server/layout.ts). */
  reqLength: number;
  reqFamily: number;
  reqPort: number;
  reqAddress: number;
  reqRxTime: number;
  reqPacket: number;
  repLength: number;
  repFlags: number;
  repTxActual: number;
  repPacket: number;
  repFlagSaved: number;
}

/** What one send() did. */
export interface SendResult {
  queued: number;
  sent: number;
  wouldBlock: number;
  errors: number;
  /** Some sent response asked for its transmit time (interleaved mode). */
  anySaved: boolean;
}

export class BatchSocketIo {
  readonly slots: number;
  private readonly c = lib();
  private readonly region: unknown;
  private readonly base: number;
  private readonly w: Uint32Array;
  private readonly b: Uint8Array;
  private readonly sendHeaders: number;
  private readonly sendIovecs: number;
  private readonly recvIovecs: number;
  private readonly names: number;
  private readonly controls: number;
  private readonly sendControls: number;
  private readonly scratch: number;
  /** Per request slot: bytes of its reply's source-address control message (0: none). */
  private readonly replyControl: Uint8Array;
  /** Which request slot send header j points at (−1: none yet). */
  private readonly sendSlot: Int32Array;
  /** Linear memory views and base address (re-taken if the memory's buffer changes). */
  private buffer: ArrayBuffer;
  private m8: Uint8Array;
  private m16: Uint16Array;
  private m32: Uint32Array;
  private wasmBase: number;
  /** Slots whose recv headers the kernel overwrote in the last receive (reset before the next one). */
  private dirty: number;

  constructor(
    readonly socket: BoundSocket,
    private readonly L: SlotLayout,
  ) {
    this.slots = L.slots;
    const n = L.slots;
    this.sendHeaders = n * MMSGHDR;
    this.sendIovecs = this.sendHeaders + n * MMSGHDR;
    this.recvIovecs = this.sendIovecs + n * IOVEC;
    this.names = this.recvIovecs + n * IOVEC;
    this.controls = this.names + n * NAME;
    this.sendControls = this.controls + n * CONTROL;
    this.scratch = this.sendControls + n * SEND_CONTROL;
    this.replyControl = new Uint8Array(n);
    const total = this.scratch + SCRATCH;
    const region = this.c.calloc(1, total);
    if (region === null) throw new Error("batch engine: out of memory");
    this.region = region;
    this.base = Number(koffi.address(region));
    const view = koffi.view(region, total);
    this.w = new Uint32Array(view);
    this.b = new Uint8Array(view);
    this.sendSlot = new Int32Array(n).fill(-1);
    this.buffer = L.memory.buffer as ArrayBuffer;
    this.m8 = new Uint8Array(this.buffer);
    this.m16 = new Uint16Array(this.buffer);
    this.m32 = new Uint32Array(this.buffer);
    this.wasmBase = addressOf(this.m8);
    for (let i = 0; i < n; i++) {
      const h = i * MMSGHDR;
      this.setPointer(h + H_NAME, this.base + this.names + i * NAME);
      this.setPointer(h + H_IOV, this.base + this.recvIovecs + i * IOVEC);
      this.w[(h + H_IOVLEN) >> 2] = 1;
      this.setPointer(h + H_CONTROL, this.base + this.controls + i * CONTROL);
      const s = this.sendHeaders + i * MMSGHDR;
      this.setPointer(s + H_IOV, this.base + this.sendIovecs + i * IOVEC);
      this.w[(s + H_IOVLEN) >> 2] = 1;
    }
    this.pointRecvIovecs();
    this.dirty = n;
  }

  private setPointer(at: number, address: number): void {
    this.w[at >> 2] = address % TWO_32;
    this.w[(at >> 2) + 1] = Math.floor(address / TWO_32);
  }

  /** Receive iovec i → request slot i's packet bytes, `capacity` long. */
  private pointRecvIovecs(): void {
    const L = this.L;
    for (let i = 0; i < this.slots; i++) {
      const v = this.recvIovecs + i * IOVEC;
      this.setPointer(v, this.wasmBase + L.requestBase + i * L.requestStride + L.reqPacket);
      this.w[(v + 8) >> 2] = L.capacity;
    }
    this.sendSlot.fill(-1);
  }

  /** Re-takes the memory views if linear memory was replaced (grown); re-points every iovec if its
   *  base address changed. One comparison per batch when nothing happened. */
  private fresh(): void {
    if (this.L.memory.buffer === this.buffer) return;
    this.buffer = this.L.memory.buffer as ArrayBuffer;
    this.m8 = new Uint8Array(this.buffer);
    this.m16 = new Uint16Array(this.buffer);
    this.m32 = new Uint32Array(this.buffer);
    const base = addressOf(this.m8);
    if (base !== this.wasmBase) {
      this.wasmBase = base;
      this.pointRecvIovecs();
    }
  }

  /** The current realtime as NTP 32.32 into out[0] (seconds) and out[1] (fraction). */
  readRealtime(out: Uint32Array): void {
    this.c.clock_gettime(CLOCK_REALTIME, this.base + this.scratch);
    const at = this.scratch >> 2;
    out[0] = (this.w[at]! + UNIX_EPOCH_IN_NTP) >>> 0;
    out[1] = fraction(this.w[at + 2]!);
  }

  /**
   * Non-blocking recvmmsg into request slots 0..n−1 with every slot header written (length,
   * family, port, address, kernel receive timestamp). Slots without a kernel timestamp get
   * `fallbackRx` and are flagged in `missing` (1) — the caller counts them. Returns n (0: nothing
   * waiting). Throws only on a socket error other than EAGAIN/EINTR.
   */
  receive(missing: Uint8Array): number {
    this.fresh();
    const w = this.w;
    for (let i = 0; i < this.dirty; i++) {
      const h = (i * MMSGHDR) >> 2;
      w[h + (H_NAMELEN >> 2)] = NAME;
      w[h + (H_CONTROLLEN >> 2)] = CONTROL;
    }
    const got = this.c.recvmmsg(this.socket.fd, this.base, this.slots, MSG_DONTWAIT | MSG_TRUNC, null);
    if (got < 0) {
      this.dirty = 0;
      const e = koffi.errno();
      if (e === EAGAIN || e === EINTR) return 0;
      throw new LinuxUdpError("recvmmsg", e);
    }
    this.dirty = got;
    const L = this.L;
    const b = this.b;
    const m8 = this.m8;
    const m16 = this.m16;
    const m32 = this.m32;
    for (let i = 0; i < got; i++) {
      const h = (i * MMSGHDR) >> 2;
      const slot = L.requestBase + i * L.requestStride;
      m32[(slot + L.reqLength) >> 2] = w[h + (H_MSGLEN >> 2)]!;
      const name = this.names + i * NAME;
      const family = b[name]! | (b[name + 1]! << 8);
      const addressWord = (slot + L.reqAddress) >> 2;
      const nameWord = name >> 2;
      if (family === AF_INET && w[h + (H_NAMELEN >> 2)]! >= 16) {
        m8[slot + L.reqFamily] = 4;
        m32[addressWord] = w[nameWord + 1]!; // sin_addr: bytes stay in network order
      } else if (family === AF_INET6 && w[h + (H_NAMELEN >> 2)]! >= 24) {
        m8[slot + L.reqFamily] = 6;
        m32[addressWord] = w[nameWord + 2]!; // sin6_addr at +8
        m32[addressWord + 1] = w[nameWord + 3]!;
        m32[addressWord + 2] = w[nameWord + 4]!;
        m32[addressWord + 3] = w[nameWord + 5]!;
      } else {
        m8[slot + L.reqFamily] = 0; // the kernel drops it as a bad address
      }
      m16[(slot + L.reqPort) >> 1] = (b[name + 2]! << 8) | b[name + 3]!;
      missing[i] = this.kernelTimestamp(i, h, (slot + L.reqRxTime) >> 2) ? 0 : 1;
    }
    return got;
  }

  /**
   * Walks slot i's control messages (every length checked against the buffer): writes the
   * SCM_TIMESTAMPNS as NTP 32.32 into the request slot (lo word at m32[rx], hi at m32[rx+1]) and
   * prepares the reply's source-address message from IP_PKTINFO / IPV6_PKTINFO. Returns whether a
   * timestamp was found.
   */
  private kernelTimestamp(i: number, h: number, rx: number): boolean {
    const w = this.w;
    const b = this.b;
    const controlLength = w[h + (H_CONTROLLEN >> 2)]!;
    const start = this.controls + i * CONTROL;
    const end = start + (controlLength < CONTROL ? controlLength : CONTROL);
    let stamped = false;
    this.replyControl[i] = 0;
    // cmsghdr: u64 len, i32 level, i32 type, then the data.
    for (let p = start; p + 16 <= end; ) {
      const q = p >> 2;
      const length = w[q]!;
      if (w[q + 1] !== 0 || length < 16 || p + length > end) break;
      const level = w[q + 2]!;
      const type = w[q + 3]!;
      if (level === SOL_SOCKET && type === SCM_TIMESTAMPNS && length >= 32) {
        // struct timespec { i64 sec; i64 nsec } (seconds fit 32 bits until 2106)
        const nanos = w[q + 6]!;
        if (nanos < 1e9) {
          this.m32[rx + 1] = (w[q + 4]! + UNIX_EPOCH_IN_NTP) >>> 0;
          this.m32[rx] = fraction(nanos);
          stamped = true;
        }
      } else if (level === IPPROTO_IP && type === IP_PKTINFO && length >= 28) {
        // struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr } — addr: where the
        // request was sent. Not for multicast/broadcast destinations (not a valid source).
        if (b[p + 24]! < 224) {
          const out = this.sendControls + i * SEND_CONTROL;
          const o = out >> 2;
          w[o] = 28; // cmsg_len = CMSG_LEN(12)
          w[o + 1] = 0;
          w[o + 2] = IPPROTO_IP;
          w[o + 3] = IP_PKTINFO;
          w[o + 4] = 0; // ifindex 0: routing picks the interface
          w[o + 5] = w[q + 6]!; // spec_dst = the address the client used
          w[o + 6] = 0;
          this.replyControl[i] = 32; // CMSG_SPACE(12)
        }
      } else if (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && length >= 36) {
        // struct in6_pktinfo { in6_addr addr; int ifindex } — echoed as the reply's source (with
        // the interface, which a link-local address needs). Not for multicast (ff00::/8).
        if (b[p + 16] !== 0xff) {
          const out = this.sendControls + i * SEND_CONTROL;
          const o = out >> 2;
          w[o] = 36; // CMSG_LEN(20)
          w[o + 1] = 0;
          w[o + 2] = IPPROTO_IPV6;
          w[o + 3] = IPV6_PKTINFO;
          for (let k = 0; k < 5; k++) w[o + 4 + k] = w[q + 4 + k]!;
          this.replyControl[i] = 40; // CMSG_SPACE(20)
        }
      }
      p += (length + 7) & ~7; // CMSG_ALIGN
    }
    return stamped;
  }

  /** Stores a receive time (NTP hi/lo) into request slot i (for slots without a kernel timestamp). */
  setReceiveTime(i: number, hi: number, lo: number): void {
    const at = (this.L.requestBase + i * this.L.requestStride + this.L.reqRxTime) >> 2;
    this.m32[at] = lo;
    this.m32[at + 1] = hi;
  }

  /** The receive time in request slot i as hi/lo into out. */
  receiveTime(i: number, out: Uint32Array): void {
    const at = (this.L.requestBase + i * this.L.requestStride + this.L.reqRxTime) >> 2;
    out[0] = this.m32[at + 1]!;
    out[1] = this.m32[at]!;
  }

  /** sendmmsg of every response slot among 0..count−1 whose length is not 0, each to the sender of
   *  the request in the same slot. */
  send(count: number, result: SendResult): SendResult {
    this.fresh();
    const L = this.L;
    const w = this.w;
    const m32 = this.m32;
    const m16 = this.m16;
    let queued = 0;
    let anySaved = false;
    for (let i = 0; i < count; i++) {
      const response = L.responseBase + i * L.responseStride;
      const length = m32[(response + L.repLength) >> 2]!;
      if (length === 0) continue;
      if ((m16[(response + L.repFlags) >> 1]! & L.repFlagSaved) !== 0) anySaved = true;
      const s = this.sendHeaders + queued * MMSGHDR;
      const v = this.sendIovecs + queued * IOVEC;
      if (this.sendSlot[queued] !== i) {
        // Point send header `queued` at slot i's peer and response (skipped in the common case of
        // answering every request of a batch, where header j already points at slot j).
        this.sendSlot[queued] = i;
        this.setPointer(s + H_NAME, this.base + this.names + i * NAME);
        this.setPointer(s + H_CONTROL, this.base + this.sendControls + i * SEND_CONTROL);
        this.setPointer(v, this.wasmBase + response + L.repPacket);
      }
      w[(s + H_NAMELEN) >> 2] = w[(i * MMSGHDR + H_NAMELEN) >> 2]!;
      w[(s + H_CONTROLLEN) >> 2] = this.replyControl[i]!;
      w[(v + 8) >> 2] = length;
      queued++;
    }
    let sent = 0;
    let wouldBlock = 0;
    let errors = 0;
    while (sent + wouldBlock + errors < queued) {
      const done = sent + wouldBlock + errors;
      const n = this.c.sendmmsg(this.socket.fd, this.base + this.sendHeaders + done * MMSGHDR, queued - done, MSG_DONTWAIT);
      if (n > 0) {
        sent += n;
        continue;
      }
      const e = n < 0 ? koffi.errno() : EAGAIN;
      if (e === EINTR) continue;
      if (e === EAGAIN) {
        wouldBlock = queued - sent - errors; // the send buffer is full: drop the rest of this batch
        break;
      }
      errors++; // a per-destination error stops sendmmsg at that message: skip it, send the rest
    }
    result.queued = queued;
    result.sent = sent;
    result.wouldBlock = wouldBlock;
    result.errors = errors;
    result.anySaved = anySaved;
    return result;
  }

  /** Writes the measured transmit time into every response slot among 0..count−1 that asked for it. */
  setTransmitActual(count: number, hi: number, lo: number): void {
    const L = this.L;
    for (let i = 0; i < count; i++) {
      const response = L.responseBase + i * L.responseStride;
      if (this.m32[(response + L.repLength) >> 2] === 0) continue;
      if ((this.m16[(response + L.repFlags) >> 1]! & L.repFlagSaved) === 0) continue;
      const at = (response + L.repTxActual) >> 2;
      this.m32[at] = lo;
      this.m32[at + 1] = hi;
    }
  }

  /** Blocks this thread until the socket is readable or `timeoutMs` passes; true if readable. */
  waitReadable(timeoutMs: number): boolean {
    const at = this.scratch + 16;
    this.w[at >> 2] = this.socket.fd;
    this.w[(at >> 2) + 1] = POLLIN; // events = POLLIN, revents = 0
    const n = this.c.poll(this.base + at, 1, timeoutMs);
    if (n < 0) {
      const e = koffi.errno();
      if (e === EINTR) return false;
      throw new LinuxUdpError("poll", e);
    }
    return n > 0;
  }

  /** Frees the native block (the socket is closed by its owner). */
  free(): void {
    this.c.free(this.region);
  }
}

/** Nanoseconds (0 ≤ ns < 10^9) to the NTP fraction, rounded to nearest (asm/timestamp.ts unixToNtp).
 *  ns · 2^32 is exact in float64 (a power-of-two scaling), and the division is correctly rounded. */
export function fraction(nanos: number): number {
  return Math.round((nanos * TWO_32) / 1e9) >>> 0;
}
