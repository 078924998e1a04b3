// Helpers for the batch-engine tests: request builders, UDP clients bound to chosen 127.x.y.z
// addresses, a realtime reading through libc, and the in-thread batch loop.
import dgram from "node:dgram";
import { existsSync } from "node:fs";
import { join } from "node:path";
import koffi from "koffi";
import { linuxUdpAvailable, LinuxUdpSocket } from "../../ts/daemon/linux-udp.js";
import { packageRoot } from "../../ts/daemon/load-core.js";

/** The batch engine runs its workers from dist/ (npm run build); without Linux or a build, skip. */
export const batchEngineAvailable = linuxUdpAvailable() && existsSync(join(packageRoot(), "dist", "ts", "daemon", "batch-worker.js"));
export const linuxOnly = linuxUdpAvailable();

export interface RequestOptions {
  version?: number;
  mode?: number;
  origin?: bigint;
  receive?: bigint;
  transmit?: bigint;
  poll?: number;
  length?: number;
}

/** An NTP request (default: a 48-byte v4 client request). */
export function request(o: RequestOptions = {}): Uint8Array {
  const b = new Uint8Array(o.length ?? 48);
  const v = new DataView(b.buffer);
  if (b.length > 0) b[0] = ((o.version ?? 4) << 3) | (o.mode ?? 3);
  if (b.length >= 48) {
    b[2] = o.poll ?? 6;
    v.setBigUint64(24, o.origin ?? 0n);
    v.setBigUint64(32, o.receive ?? 0n);
    v.setBigUint64(40, o.transmit ?? 0x1234_5678_9abc_def0n);
  }
  return b;
}

/** Response fields a test looks at. */
export function fields(r: Uint8Array) {
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  return {
    leap: r[0]! >> 6,
    version: (r[0]! >> 3) & 7,
    mode: r[0]! & 7,
    stratum: r[1]!,
    referenceId: v.getUint32(12),
    origin: v.getBigUint64(24),
    receive: v.getBigUint64(32),
    transmit: v.getBigUint64(40),
  };
}

/** A dgram client bound to `address` (any 127.x.y.z works on Linux loopback) collecting replies. */
export class Client {
  readonly replies: Buffer[] = [];
  private constructor(
    readonly socket: dgram.Socket,
    readonly address: string,
    readonly port: number,
  ) {}

  static async open(address: string): Promise<Client> {
    const s = dgram.createSocket("udp4");
    s.on("error", () => undefined);
    await new Promise<void>((resolve) => s.bind(0, address, resolve));
    const c = new Client(s, address, s.address().port);
    s.on("message", (m) => c.replies.push(m));
    return c;
  }

  send(bytes: Uint8Array, port: number, host = "127.0.0.1"): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, port, host, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.socket.close();
  }
}

/** Resolves once `check` holds (polled every 5 ms), or after `timeoutMs` (then `check` is false). */
export async function until(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

let clockGettime: ((clock: number, out: BigInt64Array) => number) | undefined;
/** CLOCK_REALTIME as nanoseconds since the Unix epoch (the clock SO_TIMESTAMPNS uses). */
export function realtimeNs(): bigint {
  clockGettime ??= koffi.load("libc.so.6").func("int clock_gettime(int, _Out_ int64_t *out)") as never;
  const ts = new BigInt64Array(2);
  clockGettime!(0, ts);
  return ts[0]! * 1_000_000_000n + ts[1]!;
}

/** NTP 32.32 → nanoseconds since the Unix epoch (era 0; fine until 2036). */
export function ntpToUnixNs(t: bigint): bigint {
  return ((t >> 32n) - 2_208_988_800n) * 1_000_000_000n + (((t & 0xffffffffn) * 1_000_000_000n) >> 32n);
}

/** A server socket as a worker opens it (SO_TIMESTAMPNS), for the in-thread loop. Without
 *  SO_REUSEPORT: a port-0 bind with it can land in another test's reuseport group. */
export function serverSocket(address = "127.0.0.1"): LinuxUdpSocket {
  return LinuxUdpSocket.open({ address, port: 0, kernelTimestamps: true, receiveBufferBytes: 1 << 20 });
}
