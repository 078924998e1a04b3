// Socket options the batch engine sets on its SO_REUSEPORT group (Linux, via koffi): steering
// requests to workers by client address, and learning each request's destination address.
import koffi from "koffi";
import type { BoundSocket } from "./batch-io.js";

const SOL_SOCKET = 1;
const SO_ATTACH_REUSEPORT_CBPF = 51;
/** Classic BPF: negative load offsets from here address the packet's network (IP) header. */
const SKF_NET_OFF = -0x100000;
const IPPROTO_IP = 0;
const IP_PKTINFO = 8;
const IPPROTO_IPV6 = 41;
const IPV6_RECVPKTINFO = 49;

interface Libc {
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  calloc(n: number, size: number): unknown;
  free(ptr: unknown): void;
}
let bound: Libc | undefined;
function libc(): Libc {
  if (bound !== undefined) return bound;
  const c = koffi.load("libc.so.6");
  bound = {
    setsockopt: c.func("int setsockopt(int, int, int, const void *, uint32_t)"),
    calloc: c.func("void *calloc(size_t, size_t)"),
    free: c.func("void free(void *)"),
  } as unknown as Libc;
  return bound;
}

/**
 * Makes the kernel pick the worker by the client's ADDRESS (IPv4, or the IPv6 /64 — the rate
 * limiter's key) instead of its default hash of address and port, so every request of a client
 * reaches the same worker and its rate limit and interleaved state hold across workers exactly as
 * with one. A classic BPF program attached to the SO_REUSEPORT group returns the socket index:
 *   A = source address word(s) → A = (A · 0x9e3779b1) >> 16 (Fibonacci hashing mixes
 *   neighbouring addresses) → A = A mod groupSize → return A.
 * Index i is the i-th socket in the group; while a worker restarts the group is one short and the
 * kernel falls back to its own hash for the indices that do not exist. Returns false if the kernel
 * refuses (before Linux 4.5); the engine then runs on the default hash.
 */
export function steerBySourceAddress(socket: BoundSocket, groupSize: number): boolean {
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError("groupSize must be ≥ 1");
  const LD_W_ABS = 0x20;
  const TAX = 0x07;
  const XOR_X = 0xac;
  const MUL_K = 0x24;
  const RSH_K = 0x74;
  const MOD_K = 0x94;
  const RET_A = 0x16;
  const net = (offset: number) => (SKF_NET_OFF + offset) >>> 0;
  const load = socket.family === 4 ? [[LD_W_ABS, net(12)]] : [[LD_W_ABS, net(8)], [TAX, 0], [LD_W_ABS, net(12)], [XOR_X, 0]];
  const program = [...load, [MUL_K, 0x9e3779b1], [RSH_K, 16], [MOD_K, groupSize], [RET_A, 0]];
  // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } — in native memory: a small TypedArray
  // may live on V8's moving heap, so its address would not be stable across the two calls.
  const c = libc();
  const native = c.calloc(1, program.length * 8);
  if (native === null) return false;
  try {
    const fv = new DataView(koffi.view(native, program.length * 8));
    program.forEach(([code, k], i) => {
      fv.setUint16(i * 8, code!, true);
      fv.setUint32(i * 8 + 4, k!, true);
    });
    // struct sock_fprog { u16 len; (pad); struct sock_filter *filter; }
    const fprog = new Uint8Array(16);
    const pv = new DataView(fprog.buffer);
    pv.setUint16(0, program.length, true);
    pv.setBigUint64(8, BigInt(koffi.address(native)), true);
    return c.setsockopt(socket.fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog, 16) === 0;
  } finally {
    c.free(native);
  }
}

/** Asks the kernel for each request's destination address (IP_PKTINFO / IPV6_RECVPKTINFO), so
 *  replies leave from it (batch-io.ts header). For wildcard listeners; false if refused. */
export function enableReplyFromDestination(socket: BoundSocket): boolean {
  const one = new Uint8Array(new Int32Array([1]).buffer);
  return socket.family === 4
    ? libc().setsockopt(socket.fd, IPPROTO_IP, IP_PKTINFO, one, 4) === 0
    : libc().setsockopt(socket.fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, one, 4) === 0;
}
