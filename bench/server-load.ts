// NTP load generator: sends mode-3 requests to one UDP server on loopback at a bounded offered rate
// and count, and measures responses/s, loss and latency percentiles. Runs as its own process (the
// orchestrator pins it to a core of its own with taskset) and prints one JSON line with its results.
//
// It uses batched syscalls (recvmmsg/sendmmsg through ts/daemon/linux-udp.ts): node:dgram tops out
// near 100k datagrams/s, well below what the servers under test answer.
//
// Matching: every request carries a sequence number in the low 32 bits of its transmit timestamp; a
// server copies that timestamp into the response's origin field (RFC 5905 §8), so the response names
// its request. A response whose origin is not an outstanding sequence number is counted as `unmatched`
// and never as a reply (so a server that answers garbage does not score).
//
// Latency: requests of one sendmmsg call share one send time (taken just before the call) and replies
// of one recvmmsg call share one receive time (taken just after), so figures include up to one batch
// of queueing on each side — the same for every server measured in a run.
//
// usage: node dist/bench/server-load.js --target 127.0.0.1:PORT [--rate N/s] [--count N]
//        [--duration S] [--batch B] [--sockets K] [--gso SEGMENTS] [--drain-ms MS]
import { performance } from "node:perf_hooks";
import { LinuxUdpSocket, MessageBatch } from "../ts/daemon/linux-udp.js";

export interface LoadOptions {
  targetAddress: string;
  targetPort: number;
  /** Offered requests per second (open loop). 0 = as fast as the generator can send. */
  rate: number;
  /** Total requests to send (hard bound). */
  count: number;
  /** Wall-clock bound on the sending phase, seconds. */
  durationSeconds: number;
  /** Datagrams per sendmmsg/recvmmsg call. */
  batch: number;
  /** Source sockets (distinct source ports), used round-robin per batch. */
  sockets: number;
  /** How long to wait for late replies after the last request, ms. */
  drainMs: number;
  /**
   * Requests per send message via UDP GSO (1 = off). Each message of the batch then carries this many
   * 48-byte requests that the kernel splits into datagrams: the send side's per-datagram cost drops,
   * which is what lets one generator core offer well above what one server core can answer.
   */
  segments: number;
  /** Local address to send from. */
  sourceAddress: string;
}

export interface LoadResult {
  sent: number;
  /** Requests the kernel refused (socket buffer full); never counted as sent. */
  sendFailures: number;
  received: number;
  unmatched: number;
  duplicates: number;
  /** Seconds from the first send to the last send. */
  sendSeconds: number;
  /** Seconds from the first send to the last reply. */
  elapsedSeconds: number;
  offeredPerSecond: number;
  responsesPerSecond: number;
  loss: number;
  latencyP50Micros: number;
  latencyP99Micros: number;
}

const NTP_UNIX_OFFSET = 2_208_988_800;

export function runLoad(o: LoadOptions): LoadResult {
  const count = Math.max(1, Math.floor(o.count));
  // Per-request send time (ms since an arbitrary origin), NaN once answered (to spot duplicates).
  const sendTime = new Float64Array(count).fill(NaN);
  const answered = new Uint8Array(count);
  const latencies = new Float32Array(count);
  let received = 0;
  let unmatched = 0;
  let duplicates = 0;

  const segments = Math.max(1, Math.min(64, Math.floor(o.segments)));
  const sockets: LinuxUdpSocket[] = [];
  const sendBatches: MessageBatch[] = [];
  const recvBatch = new MessageBatch(o.batch, 2048);
  try {
    for (let k = 0; k < Math.max(1, o.sockets); k++) {
      sockets.push(
        LinuxUdpSocket.open({
          address: o.sourceAddress,
          port: 0,
          receiveBufferBytes: 8 << 20,
          sendBufferBytes: 8 << 20,
          ...(segments > 1 ? { segmentBytes: 48 } : {}),
        }),
      );
      const b = new MessageBatch(o.batch, 48 * segments);
      for (let i = 0; i < o.batch; i++) {
        b.setPeer(i, o.targetAddress, o.targetPort);
        const p = b.payload(i);
        for (let s = 0; s < segments; s++) {
          const q = s * 48;
          p.fill(0, q, q + 48);
          p[q] = (0 << 6) | (4 << 3) | 3; // LI 0, VN 4, mode 3 (client)
          p[q + 2] = 6; // poll 2^6
          p[q + 3] = 0xec; // precision 2^-20
        }
      }
      sendBatches.push(b);
    }
    const seconds = (Math.floor(Date.now() / 1000) + NTP_UNIX_OFFSET) >>> 0;
    const start = performance.now();
    const sendDeadline = start + o.durationSeconds * 1000;
    let sent = 0;
    let sendFailures = 0;
    let lastSend = start;
    let lastReply = start;
    let round = 0;

    const drain = () => {
      let got = 0;
      for (const sock of sockets) {
        for (;;) {
          const n = recvBatch.receive(sock);
          if (n === 0) break;
          const now = performance.now();
          lastReply = now;
          got += n;
          for (let i = 0; i < n; i++) {
            const p = recvBatch.payload(i);
            if (recvBatch.length(i) < 48 || (p[0]! & 7) !== 4) { unmatched++; continue; }
            // Origin timestamp (bytes 24..31): seconds must be ours, fraction is the sequence number.
            const originSeconds = ((p[24]! << 24) | (p[25]! << 16) | (p[26]! << 8) | p[27]!) >>> 0;
            const seq = ((p[28]! << 24) | (p[29]! << 16) | (p[30]! << 8) | p[31]!) >>> 0;
            if (originSeconds !== seconds || seq >= sent) { unmatched++; continue; }
            if (answered[seq] === 1) { duplicates++; continue; }
            answered[seq] = 1;
            latencies[received++] = now - sendTime[seq]!;
          }
        }
      }
      return got;
    };

    while (sent < count) {
      const now = performance.now();
      if (now > sendDeadline) break;
      const due = o.rate > 0 ? Math.min(count, Math.floor(((now - start) / 1000) * o.rate) + 1) : count;
      if (due > sent) {
        const sock = sockets[round % sockets.length]!;
        const b = sendBatches[round % sendBatches.length]!;
        round++;
        // Fill messages of `segments` requests each until `due` is reached or the batch is full.
        let planned = 0;
        let messages = 0;
        while (messages < o.batch && sent + planned < due) {
          const k = Math.min(segments, due - sent - planned);
          const p = b.payload(messages);
          for (let s = 0; s < k; s++) {
            const seq = sent + planned + s;
            const q = s * 48;
            p[q + 40] = seconds >>> 24; p[q + 41] = (seconds >>> 16) & 255; p[q + 42] = (seconds >>> 8) & 255; p[q + 43] = seconds & 255;
            p[q + 44] = seq >>> 24; p[q + 45] = (seq >>> 16) & 255; p[q + 46] = (seq >>> 8) & 255; p[q + 47] = seq & 255;
          }
          b.queue(messages, k * 48);
          messages++;
          planned += k;
        }
        const t = performance.now();
        const tookMessages = b.flush(sock);
        // Messages are filled in order and all but the last are full, so the requests that left are:
        const took = tookMessages === messages ? planned : tookMessages * segments;
        for (let i = 0; i < took; i++) sendTime[sent + i] = t;
        // Requests the kernel refused are not sent: their sequence numbers are re-used next round.
        sendFailures += planned - took;
        sent += took;
        lastSend = t;
        if (took === 0) sockets[0]!.waitReadable(0);
      }
      const got = drain();
      if (got === 0 && due <= sent && o.rate > 0) {
        // Ahead of schedule and nothing to read: sleep until the next batch is due or a reply arrives.
        const nextDue = start + ((sent + Math.min(o.batch, count - sent)) / o.rate) * 1000;
        const wait = Math.min(2, Math.max(0, nextDue - performance.now()));
        if (wait >= 1) sockets[0]!.waitReadable(Math.floor(wait));
      }
    }
    const drainUntil = performance.now() + o.drainMs;
    while (received < sent && performance.now() < drainUntil) {
      if (drain() === 0) sockets[0]!.waitReadable(1);
    }
    const lat = latencies.subarray(0, received).sort();
    const pct = (q: number) => (received === 0 ? NaN : lat[Math.min(received - 1, Math.floor(q * received))]! * 1000);
    const sendSeconds = (lastSend - start) / 1000;
    const elapsedSeconds = (Math.max(lastReply, lastSend) - start) / 1000;
    return {
      sent,
      sendFailures,
      received,
      unmatched,
      duplicates,
      sendSeconds,
      elapsedSeconds,
      offeredPerSecond: sendSeconds > 0 ? sent / sendSeconds : NaN,
      responsesPerSecond: elapsedSeconds > 0 ? received / elapsedSeconds : NaN,
      loss: sent > 0 ? 1 - received / sent : NaN,
      latencyP50Micros: pct(0.5),
      latencyP99Micros: pct(0.99),
    };
  } finally {
    recvBatch.free();
    for (const b of sendBatches) b.free();
    for (const s of sockets) s.close();
  }
}

function parseArgs(argv: string[]): LoadOptions {
  const o: LoadOptions = {
    targetAddress: "127.0.0.1",
    targetPort: 0,
    rate: 100_000,
    count: 200_000,
    durationSeconds: 10,
    batch: 64,
    sockets: 4,
    segments: 1,
    drainMs: 300,
    sourceAddress: "127.0.0.1",
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag}: missing value`);
    const num = () => {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a number: ${value}`);
      return n;
    };
    switch (flag) {
      case "--target": {
        const at = value.lastIndexOf(":");
        o.targetAddress = value.slice(0, at).replace(/^\[|\]$/g, "");
        o.targetPort = Number(value.slice(at + 1));
        break;
      }
      case "--rate": o.rate = num(); break;
      case "--count": o.count = Math.min(num(), 50_000_000); break;
      case "--duration": o.durationSeconds = Math.min(num(), 120); break;
      case "--batch": o.batch = Math.max(1, Math.min(1024, num())); break;
      case "--sockets": o.sockets = Math.max(1, Math.min(64, num())); break;
      case "--gso": o.segments = Math.max(1, Math.min(64, num())); break;
      case "--drain-ms": o.drainMs = Math.min(num(), 10_000); break;
      case "--source": o.sourceAddress = value; break;
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  if (!(o.targetPort > 0 && o.targetPort < 65536)) throw new Error("--target ADDR:PORT is required");
  return o;
}

// Run as a program (not when imported by the orchestrator or a test).
if (process.argv[1] !== undefined && /server-load\.[jt]s$/.test(process.argv[1])) {
  try {
    const result = runLoad(parseArgs(process.argv.slice(2)));
    process.stdout.write(JSON.stringify(result) + "\n");
  } catch (err) {
    process.stderr.write(`server-load: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
