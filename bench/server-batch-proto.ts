// PROTOTYPE of the batched server engine (issue 4), single thread, for the bench only: recvmmsg a
// batch with kernel receive timestamps (ts/daemon/linux-udp.ts) → one WASM call for the whole batch
// (the same request kernel as `tock daemon`, ts/core/server.ts) → sendmmsg the responses.
// It is here to measure what the koffi path can do before the real engine (worker threads, shared
// system state, shutdown, restarts) is built; it is not part of the daemon.
//
// Copies per packet: the request (≤ capacity bytes) from the batch's native region into the
// kernel's request slot, the response (48 bytes) back. Both regions could be one (iovecs pointing
// into WASM memory) — left for the engine.
//
// usage: node dist/bench/server-batch-proto.js PORT SECONDS
import { LinuxUdpSocket, MessageBatch } from "../ts/daemon/linux-udp.js";
import { loadFreshCore } from "../ts/daemon/load-core.js";
import { createServerKernel } from "../ts/core/server.js";
import { SystemClock } from "../ts/clock/system-clock.js";

const NTP_UNIX_OFFSET = 2_208_988_800;
const BATCH = 64;

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  const seconds = Math.min(3600, Number(process.argv[3] ?? 60));
  if (!(port > 0 && port < 65536)) throw new Error("usage: server-batch-proto PORT SECONDS");
  const { core, wasm } = await loadFreshCore();
  const clock = new SystemClock((t) => core.unixToNtp(t));
  const kernel = createServerKernel(wasm, { batchSize: BATCH, maxRequestBytes: 1024 });
  kernel.setSystemState({ leap: 0, stratum: 8, precision: clock.precisionLog2, referenceId: 0x7f7f0101, rootDelay: 0, rootDispersion: 0, referenceTime: clock.now() });
  const sock = LinuxUdpSocket.open({ address: "127.0.0.1", port, kernelTimestamps: true, receiveBufferBytes: 4 << 20, sendBufferBytes: 4 << 20 });
  const batch = new MessageBatch(BATCH, 1024);
  const ts = new Float64Array(2);
  const deadline = performance.now() + seconds * 1000;
  let stop = false;
  process.on("SIGTERM", () => (stop = true));
  process.stdout.write("ready\n");
  while (!stop && performance.now() < deadline) {
    const n = batch.receive(sock);
    if (n === 0) {
      sock.waitReadable(50);
      continue;
    }
    let mem = kernel.memory();
    for (let i = 0; i < n; i++) {
      const length = batch.length(i);
      const stored = length < kernel.capacity ? length : kernel.capacity;
      mem.set(batch.payload(i).subarray(0, stored), kernel.requestPacketOffset(i));
      const name = batch.peerBytes(i);
      const family = batch.peerFamily(i);
      const port = (name[2]! << 8) | name[3]!;
      let rxHi = 0;
      let rxLo = 0;
      if (batch.kernelTimestamp(i, ts)) {
        rxHi = (ts[0]! + NTP_UNIX_OFFSET) >>> 0;
        rxLo = Math.floor(ts[1]! * 4.294967296) >>> 0;
      }
      kernel.setRequestMeta(i, length, family, family === 6 ? name.subarray(8, 24) : name.subarray(4, 8), port, rxHi, rxLo);
    }
    const now = clock.now();
    kernel.handleBatchAt(n, now);
    mem = kernel.memory();
    for (let i = 0; i < n; i++) {
      const len = kernel.responseLength(i);
      if (len === 0) continue;
      const at = kernel.responseOffset(i);
      batch.payload(i).set(mem.subarray(at, at + len));
      batch.queue(i, len);
    }
    batch.flush(sock);
  }
  batch.free();
  sock.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`server-batch-proto: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
