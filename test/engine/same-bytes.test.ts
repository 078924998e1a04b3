// Both engines, identical inputs and timestamps → byte-identical responses.
//
// The batch engine's loop (BatchLoop, the code a worker runs) serves a real SO_REUSEPORT socket
// in-thread, with its clock readings replaced by a script (test hooks: receive time per request,
// `now` and the after-send time per batch). Clients on several 127.x.y.z addresses send a mix:
// basic and interleaved (RFC 9769) exchanges, v3, a flood that hits the rate limit (drops and KoD
// RATE), a denied client (KoD DENY), one outside the allowlist (ignored), and hostile datagrams
// (empty, short, wrong modes and versions, MAC-sized trailers, junk extensions, oversize).
//
// Then the node:dgram engine's loop (NtpServer with the request kernel the daemon uses, over the
// simulated transport) replays exactly what the batch engine received, in the same order, with the
// same receive/now/sent readings, batch by batch (all of a batch delivered before its transmit
// times are reported back, as the batch engine does). Every response must be the same bytes, every
// counter the same value, and the clients must have received exactly what the batch kernel built.
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../ts/config/index.js";
import { SimClock } from "../../ts/clock/sim-clock.js";
import type { Clock } from "../../ts/clock/clock.js";
import { createServerKernel } from "../../ts/core/server.js";
import { referenceIdValue, COUNTERS } from "../../ts/protocol/server-policy.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { MetricsRegistry } from "../../ts/observe/metrics.js";
import { systemStateFor } from "../../ts/daemon/daemon.js";
import { NtpServer } from "../../ts/daemon/ntp-server.js";
import { SimServerTransport } from "../../ts/daemon/server-transport.js";
import { createRequestKernel, policyOptionsFor } from "../../ts/daemon/request-kernel.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { BatchSocketIo } from "../../ts/daemon/batch-io.js";
import { BatchLoop, slotLayout, type BatchLoopTestHooks } from "../../ts/daemon/batch-worker.js";
import { SharedServerState } from "../../ts/daemon/shared-state.js";
import { Client, fields, linuxOnly, request, serverSocket, until } from "./support.js";

const CONFIG = `
[synchronization]
local-stratum = 8
[[server]]
listen = "127.0.0.1:123"
rate-limit = { interval = 0.05, burst = 3, kod-one-in = 2 }
allowlist = { filter = ["127.0.0.0/24"], action = "ignore" }
denylist = { filter = ["127.0.0.66/32"], action = "deny" }
`;

const T0 = 3_990_000_000n << 32n;
const US = 4295n; // ≈ 1 µs in 32.32 units
// Requests 10 ms apart (so the flood client, 8 back to back per round, hits the 50 ms rate limit
// and the others, one per round, do not); `now` 20 µs after the batch's last request; the send
// completes 30 µs after `now`.
const lastSeqOf: number[] = [];
const script = {
  receiveTime: (seq: number) => T0 + BigInt(seq) * 10_000n * US + 7n,
  now: (batch: number, lastSeq: number) => {
    lastSeqOf[batch] = lastSeq;
    return T0 + BigInt(lastSeq) * 10_000n * US + 20n * US + 3n;
  },
  sentAt: (batch: number) => T0 + BigInt(lastSeqOf[batch]!) * 10_000n * US + 50n * US,
};

interface Received {
  batch: number;
  bytes: Uint8Array;
  from: { address: string; port: number; family: 4 };
  rx: bigint;
  response: Uint8Array | null;
}

/** A clock that reads the values it is given, in order (the dgram loop reads rx, now, sent). */
class ScriptedClock implements Clock {
  readonly precisionLog2 = -20;
  private queue: bigint[] = [];
  private last = T0;
  play(values: bigint[]): void {
    this.queue = [...values];
  }
  now(): bigint {
    this.last = this.queue.shift() ?? this.last;
    return this.last;
  }
}

const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const f of cleanup.splice(0)) f();
});

describe.skipIf(!linuxOnly)("same bytes from both engines", () => {
  it("answers a mixed, hostile request stream byte for byte like the dgram engine", async () => {
    const config = parseConfig(CONFIG, "same-bytes.toml");
    const serverConfig = config.server[0]!;
    const state = systemStateFor(config, new SimClock(T0 - 1000n * US));

    // ---- batch engine, in-thread ----
    const { wasm } = await loadFreshCore();
    const kernel = createServerKernel(wasm, { ...policyOptionsFor(serverConfig), batchSize: 64 });
    const socket = serverSocket();
    const io = new BatchSocketIo(socket, slotLayout(wasm, kernel));
    cleanup.push(() => io.free(), () => socket.close());
    const shared = SharedServerState.create(1);
    shared.writeSystemState(state, referenceIdValue(state.referenceId));
    const L = slotLayout(wasm, kernel);
    const received: Received[] = [];
    const hooks: BatchLoopTestHooks = {
      ...script,
      onBatch(batch, count, k) {
        const m = k.memory();
        const dv = new DataView(m.buffer);
        for (let i = 0; i < count; i++) {
          const slot = L.requestBase + i * L.requestStride;
          const length = dv.getUint32(slot + L.reqLength, true);
          // An oversize datagram is only partly in the slot; the rest never matters (dropped).
          const bytes = new Uint8Array(length);
          bytes.set(m.subarray(slot + L.reqPacket, slot + L.reqPacket + Math.min(length, L.capacity)));
          const a = slot + L.reqAddress;
          const responseLength = k.responseLength(i);
          received.push({
            batch,
            bytes,
            from: { address: `${m[a]}.${m[a + 1]}.${m[a + 2]}.${m[a + 3]}`, port: dv.getUint16(slot + L.reqPort, true), family: 4 },
            rx: dv.getBigUint64(slot + L.reqRxTime, true),
            response: responseLength === 0 ? null : m.slice(k.responseOffset(i), k.responseOffset(i) + responseLength),
          });
        }
      },
    };
    const loop = new BatchLoop({ kernel, io, shared, index: 0, idleWaitMs: 0, test: hooks });
    const port = socket.localPort();

    const clients = {
      a: await Client.open("127.0.0.1"),
      b: await Client.open("127.0.0.2"),
      flood: await Client.open("127.0.0.3"),
      hostile: await Client.open("127.0.0.4"),
      denied: await Client.open("127.0.0.66"),
      outside: await Client.open("127.1.2.3"),
    };
    cleanup.push(() => Object.values(clients).forEach((c) => c.close()));

    let sentCount = 0;
    const send = async (c: Client, bytes: Uint8Array) => {
      await c.send(bytes, port);
      sentCount++;
    };
    const pump = async () => {
      const ok = await until(() => {
        while (loop.step(0) > 0);
        return received.length >= sentCount;
      });
      expect(ok, `the batch loop saw ${received.length} of ${sentCount} datagrams`).toBe(true);
    };
    /** The next request of an interleaved client (RFC 9769 §2): origin = the previous response's
     *  receive timestamp, receive = when that response arrived, transmit = now (client clock). */
    const interleavedFollowUp = (c: Client, t: bigint) => {
      const prev = fields(c.replies[c.replies.length - 1]!);
      return request({ origin: prev.receive, receive: prev.transmit + 5000n * US, transmit: t });
    };

    for (let round = 0; round < 6; round++) {
      const t = T0 + BigInt(round) * 1_000_000n * US;
      if (round === 0) {
        await send(clients.a, request({ transmit: t + 1n }));
        await send(clients.b, request({ transmit: t + 2n }));
        const hostile: Uint8Array[] = [
          new Uint8Array(0),
          new Uint8Array(20).fill(0x23),
          request({ mode: 1 }),
          request({ mode: 6, length: 12 }),
          request({ mode: 7 }),
          request({ version: 1 }),
          request({ version: 5 }),
          request({ length: 68 }), // a 20-byte MAC-sized trailer (key id + MD5)
          request({ length: 72 }), // key id + SHA-1
          Object.assign(request({ length: 100 }), { 48: 0x01, 49: 0x04, 50: 0xff, 51: 0xf0 }), // extension length past the end
          Object.assign(request({ length: 64 }), { 48: 0x01, 49: 0x04, 50: 0x00, 51: 0x10 }), // a 16-byte extension field
          request({ length: 2100 }), // longer than the kernel's 2048-byte slots
        ];
        for (const h of hostile) await send(clients.hostile, h);
      } else {
        await send(clients.a, round === 2 ? request({ version: 3, transmit: t + 1n }) : interleavedFollowUp(clients.a, t + 1n));
        await send(clients.b, interleavedFollowUp(clients.b, t + 2n));
      }
      for (let i = 0; i < 8; i++) await send(clients.flood, request({ transmit: t + BigInt(i) }));
      await send(clients.denied, request({ transmit: t }));
      await send(clients.outside, request({ transmit: t }));
      await pump();
      // Interleaved clients need their reply before the next round.
      expect(await until(() => clients.a.replies.length > round && clients.b.replies.length > round)).toBe(true);
    }
    expect(received.length).toBe(sentCount);
    const batches = received[received.length - 1]!.batch + 1;
    expect(batches).toBeLessThan(received.length); // several requests per batch, not one by one

    // ---- the node:dgram engine's loop, replaying the same inputs ----
    const { wasm: wasm2 } = await loadFreshCore();
    const clock = new ScriptedClock();
    const transport = new SimServerTransport(clock);
    const dgramServer = new NtpServer({ transport, clock, logger: silentLogger(), metrics: new MetricsRegistry(), summaryIntervalSeconds: 0 });
    const dgramKernel = createRequestKernel(serverConfig, wasm2, clock);
    await dgramServer.listen([{ address: "127.0.0.1", port: 123, kernel: dgramKernel }]);
    dgramServer.setSystemState(state);
    const settle = () => new Promise((r) => setImmediate(r));
    let mismatches = 0;
    for (let b = 0; b < batches; b++) {
      for (const r of received.filter((x) => x.batch === b)) {
        const before = transport.sent.length;
        clock.play([r.rx, script.now(b, lastSeqOf[b]!), script.sentAt(b)]);
        transport.deliver("127.0.0.1:123", r.bytes, r.from);
        const answer = transport.sent.length > before ? transport.sent[transport.sent.length - 1]!.bytes : null;
        if (!equalBytes(answer, r.response)) mismatches++;
        expect(answer, `request ${received.indexOf(r)} (batch ${b}, from ${r.from.address})`).toEqual(r.response);
      }
      await settle(); // transmit times reach the interleaved table after the batch, as in the batch engine
    }
    expect(mismatches).toBe(0);

    // Same counters (batches aside: the dgram engine's kernel sees batches of one).
    const batchCounters = kernel.counters();
    const dgramCounters = dgramKernel.counters();
    for (const name of COUNTERS) if (name !== "batches") expect(dgramCounters[name], name).toBe(batchCounters[name]);
    // The stream really exercised the policy chain.
    // b: rounds 2–5; a: rounds 4–5 (its v3 request in round 2 breaks its interleaved chain).
    expect(batchCounters.answered_interleaved).toBe(6);
    expect(batchCounters.kod_rate).toBeGreaterThan(0);
    expect(batchCounters.dropped_rate_limited).toBeGreaterThan(0);
    expect(batchCounters.kod_deny).toBeGreaterThan(0);
    expect(batchCounters.dropped_denied).toBeGreaterThan(0);
    for (const o of ["dropped_too_short", "dropped_oversize", "dropped_wrong_mode", "dropped_bad_version", "dropped_malformed"] as const) {
      expect(batchCounters[o], o).toBeGreaterThan(0);
    }

    // What went over the wire is what the kernel built: each client got exactly its responses.
    await until(() => Object.values(clients).reduce((n, c) => n + c.replies.length, 0) >= received.filter((r) => r.response).length, 1000);
    for (const c of Object.values(clients)) {
      const expected = received.filter((r) => r.response && r.from.address === c.address && r.from.port === c.port).map((r) => hex(r.response!));
      expect(c.replies.map(hex).sort()).toEqual(expected.sort());
    }
  });
});

function equalBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}
