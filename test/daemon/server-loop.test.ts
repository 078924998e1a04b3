// The server loop over the simulated transport and clock, with the real WASM request kernel:
// responses, counters, metrics, interleaved follow-ups, unsynchronised vs local-stratum state.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../ts/config/index.js";
import { SimClock } from "../../ts/clock/sim-clock.js";
import { MetricsRegistry } from "../../ts/observe/metrics.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { NtpServer, splitOutcomes } from "../../ts/daemon/ntp-server.js";
import { SimServerTransport, type Peer } from "../../ts/daemon/server-transport.js";
import { createRequestKernel } from "../../ts/daemon/request-kernel.js";
import { LOCAL_REFERENCE_ID, engineFor, systemStateFor } from "../../ts/daemon/daemon.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { T0, fields } from "../server/support.js";

const client: Peer = { address: "127.0.0.1", port: 40123, family: 4 };

function request(transmit: bigint, opts: { version?: number; mode?: number; origin?: bigint; receive?: bigint; length?: number } = {}): Uint8Array {
  const b = new Uint8Array(opts.length ?? 48);
  const v = new DataView(b.buffer);
  b[0] = ((opts.version ?? 4) << 3) | (opts.mode ?? 3);
  if (b.length >= 48) {
    v.setBigUint64(24, opts.origin ?? 0n);
    v.setBigUint64(32, opts.receive ?? 0n);
    v.setBigUint64(40, transmit);
  }
  return b;
}

async function setup(toml: string) {
  const config = parseConfig(toml, "test.toml");
  const { wasm } = await loadFreshCore();
  const clock = new SimClock(T0);
  // Sends complete 50 µs after the call: the transmit time reported back is later than the one in the packet.
  const transport = new SimServerTransport(clock, 1000, 0.000_05);
  const metrics = new MetricsRegistry();
  const server = new NtpServer({ transport, clock, logger: silentLogger(), metrics, summaryIntervalSeconds: 0 });
  const addresses = await server.listen(config.server.map((s) => ({ address: s.listen.host, port: s.listen.port, kernel: createRequestKernel(s, wasm, clock) })));
  server.setSystemState(systemStateFor(config, clock));
  const settle = () => new Promise((r) => setImmediate(r));
  return { server, transport, clock, metrics, addresses, settle };
}

describe("server loop (simulated transport)", () => {
  it("answers a client request with the local-stratum state and counts it", async () => {
    const { server, transport, clock, metrics, addresses, settle } = await setup('[synchronization]\nlocal-stratum = 8\n[[server]]\nlisten = "127.0.0.1:123"\n');
    expect(addresses).toEqual(["127.0.0.1:123"]);
    clock.advance(1);
    const rx = clock.now();
    expect(transport.deliver("127.0.0.1:123", request(0xabcdef0123456789n, { version: 3 }), client)).toBe(true);
    await settle();
    expect(transport.sent).toHaveLength(1);
    const sent = transport.sent[0]!;
    expect(sent.to).toEqual(client);
    expect(sent.bytes.length).toBe(48);
    const f = fields(sent.bytes);
    // The kernel marks its receive timestamps with the lowest bit set (asm/server/interleave.ts).
    expect(f).toMatchObject({ leap: 0, version: 3, mode: 4, stratum: 8, referenceId: LOCAL_REFERENCE_ID, origin: 0xabcdef0123456789n, receive: rx | 1n });
    expect(f.transmit >= f.receive).toBe(true);
    const [stats] = server.stats();
    expect(stats!.kernel.received).toBe(1);
    expect(stats!.kernel.answered_basic).toBe(1);
    expect(stats!.sent).toBe(1);
    expect(metrics.total("ntp_server_received_packets_total", { listen_address: "127.0.0.1:123" })).toBe(1);
    expect(metrics.total("ntp_server_accepted_packets_total")).toBe(1);
    expect(metrics.render()).toContain('ntp_server_dropped_packets_total{listen_address="127.0.0.1:123",reason="wrong_mode"} 0');
    await server.close();
  });

  it("without local-stratum serves leap 3 (unsynchronised)", async () => {
    const { transport, settle, server } = await setup('[[server]]\nlisten = "127.0.0.1:123"\n');
    transport.deliver("127.0.0.1:123", request(1n << 40n), client);
    await settle();
    const f = fields(transport.sent[0]!.bytes);
    expect(f.leap).toBe(3);
    expect(f.stratum === 16 || f.stratum === 0).toBe(true);
    await server.close();
  });

  it("drops what must not be answered, and every datagram lands in exactly one counter", async () => {
    const { server, transport, settle, metrics } = await setup('[synchronization]\nlocal-stratum = 8\n[[server]]\nlisten = "127.0.0.1:123"\n');
    const bad = [new Uint8Array(0), new Uint8Array(47), request(5n, { mode: 6 }), request(5n, { mode: 7 }), request(5n, { mode: 4 }), request(5n, { version: 2 }), request(5n, { length: 53 })];
    for (const b of bad) transport.deliver("127.0.0.1:123", b, client);
    transport.deliver("127.0.0.1:123", request(7n), client);
    await settle();
    expect(transport.sent).toHaveLength(1);
    const c = server.stats()[0]!.kernel;
    expect(c.received).toBe(bad.length + 1);
    const { answered, kod, dropped } = splitOutcomes(c);
    expect(answered + kod + dropped).toBe(c.received);
    expect(answered).toBe(1);
    expect(c.dropped_wrong_mode).toBe(3);
    expect(c.dropped_too_short).toBe(2);
    expect(metrics.total("ntp_server_dropped_packets_total")).toBe(bad.length);
    await server.close();
  });

  it("serves the measured transmit time of the previous response in an interleaved follow-up (RFC 9769)", async () => {
    const { server, transport, clock, settle } = await setup('[synchronization]\nlocal-stratum = 8\n[[server]]\nlisten = "127.0.0.1:123"\n');
    // Like chrony, the kernel saves pairs only for clients already speaking interleaved (origin =
    // one of our receive timestamps), so the interleaved answer comes on the third request.
    transport.deliver("127.0.0.1:123", request(T0 + 100n), client);
    await settle();
    const first = fields(transport.sent[0]!.bytes);
    clock.advance(2);
    // Interleaved request: origin = the server's receive timestamp of the previous response,
    // receive = when the client got it, transmit = the client's new transmit time.
    transport.deliver("127.0.0.1:123", request(T0 + 200n, { origin: first.receive, receive: T0 + 150n }), client);
    await settle();
    const second = fields(transport.sent[1]!.bytes);
    const secondSentAt = transport.sent[1]!.sentAt;
    expect(secondSentAt > second.transmit).toBe(true);
    clock.advance(2);
    transport.deliver("127.0.0.1:123", request(T0 + 300n, { origin: second.receive, receive: T0 + 250n }), client);
    await settle();
    expect(transport.sent).toHaveLength(3);
    const c = server.stats()[0]!.kernel;
    expect(c.answered_interleaved).toBe(1);
    // The second and third responses were both kept, and both got their measured transmit time.
    expect(c.interleaved_tx_updated).toBe(2);
    const third = fields(transport.sent[2]!.bytes);
    // The interleaved response carries the previous exchange's actual transmit time.
    // (the kernel clears the lowest bit of transmit timestamps: asm/server/interleave.ts)
    expect(third.transmit).toBe(secondSentAt & ~1n);
    await server.close();
  });

  it("binds several listeners, and a second bind of the same address fails cleanly", async () => {
    const { server, transport, addresses, settle } = await setup('[synchronization]\nlocal-stratum = 3\n[[server]]\nlisten = "127.0.0.1:123"\n[[server]]\nlisten = "[::1]:123"\n');
    expect(addresses).toEqual(["127.0.0.1:123", "[::1]:123"]);
    transport.deliver("[::1]:123", request(9n), { address: "::1", port: 5000, family: 6 });
    await settle();
    expect(server.stats().map((s) => s.kernel.received)).toEqual([0, 1]);
    await expect(transport.bind("127.0.0.1", 123, () => undefined)).rejects.toThrow(/EADDRINUSE/);
    await server.close();
  });

  it("a failing kernel call drops that datagram, is counted, and the server keeps serving", async () => {
    const config = parseConfig('[synchronization]\nlocal-stratum = 8\n[[server]]\nlisten = "127.0.0.1:123"\n', "test.toml");
    const { wasm } = await loadFreshCore();
    const clock = new SimClock(T0);
    const transport = new SimServerTransport(clock);
    const metrics = new MetricsRegistry();
    const real = createRequestKernel(config.server[0]!, wasm, clock);
    const faulty = { ...real, handleOne: (b: Uint8Array, ...rest: [Peer, bigint, bigint]) => (b[47] === 0xee ? (() => { throw new Error("trap"); })() : real.handleOne(b, ...rest)) };
    const server = new NtpServer({ transport, clock, logger: silentLogger(), metrics, summaryIntervalSeconds: 0 });
    await server.listen([{ address: "127.0.0.1", port: 123, kernel: faulty }]);
    server.setSystemState(systemStateFor(config, clock));
    transport.deliver("127.0.0.1:123", request(0xeen), client);
    transport.deliver("127.0.0.1:123", request(0x01n), client);
    await new Promise((r) => setImmediate(r));
    expect(transport.sent).toHaveLength(1);
    expect(server.stats()[0]!.internalErrors).toBe(1);
    expect(metrics.total("ntp_server_internal_errors_total")).toBe(1);
    await server.close();
  });

  it("engineFor: batch where asked or where available, dgram otherwise; batch unavailable is an error", () => {
    const cfg = (engine: string) => parseConfig(`[[server]]\nlisten = "127.0.0.1:123"\nengine = "${engine}"\n`, "t.toml").server[0]!;
    expect(engineFor(cfg("auto"), true)).toBe("batch");
    expect(engineFor(cfg("auto"), false)).toBe("dgram");
    expect(engineFor(cfg("dgram"), true)).toBe("dgram");
    expect(engineFor(cfg("batch"), true)).toBe("batch");
    expect(() => engineFor(cfg("batch"), false)).toThrow(/engine = "batch" needs Linux/);
  });
});
