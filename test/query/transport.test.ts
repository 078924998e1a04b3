// The real one-shot transport (node:dgram) and the real resolver, against a tiny responder on
// loopback, plus the system and simulated clocks.
import dgram from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TockCore } from "../../ts/core/api.js";
import { DgramTransport, type Endpoint } from "../../ts/daemon/udp.js";
import { DnsResolver, ResolveError, StaticResolver } from "../../ts/daemon/resolver.js";
import { SystemClock } from "../../ts/clock/system-clock.js";
import { SimClock } from "../../ts/clock/sim-clock.js";
import { runQuery, ExitCode } from "../../ts/cli/query.js";
import { core, seconds, serverResponse } from "./support.js";

let c: TockCore;
let clock: SystemClock;

/** A loopback responder: records each request's source port and answers per `behaviour`. */
interface Responder {
  endpoint: Endpoint;
  sourcePorts: number[];
  behaviour: "answer" | "silent" | "junk-then-answer";
  close(): Promise<void>;
}

async function startResponder(family: 4 | 6): Promise<Responder> {
  const socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
  const address = family === 6 ? "::1" : "127.0.0.1";
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  const responder: Responder = {
    endpoint: { address, port: socket.address().port, family },
    sourcePorts: [],
    behaviour: "answer",
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on("message", (msg, rinfo) => {
    responder.sourcePorts.push(rinfo.port);
    if (responder.behaviour === "silent") return;
    const now = clock.now();
    const reply = serverResponse(c, new Uint8Array(msg), { receiveTime: now, transmitTime: now + seconds(0.00001) });
    if (responder.behaviour === "junk-then-answer") {
      socket.send(new Uint8Array(7), rinfo.port, rinfo.address);
      socket.send(serverResponse(c, new Uint8Array(msg), { originTime: 1n, receiveTime: now, transmitTime: now }), rinfo.port, rinfo.address);
    }
    socket.send(reply, rinfo.port, rinfo.address);
  });
  return responder;
}

function ipv6Available(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp6");
    s.once("error", () => resolve(false));
    s.bind(0, "::1", () => s.close(() => resolve(true)));
  });
}

let v4: Responder;
let v6: Responder | undefined;

beforeAll(async () => {
  c = await core();
  clock = new SystemClock((t) => c.unixToNtp(t));
  v4 = await startResponder(4);
  if (await ipv6Available()) v6 = await startResponder(6);
});

afterAll(async () => {
  await v4.close();
  await v6?.close();
});

function runAgainst(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = runQuery(argv, {
    core: c,
    clock,
    transport: new DgramTransport(clock),
    resolver: new DnsResolver(),
    random64: () => BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 53)) << 11n),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
  });
  return { code, out, err };
}

describe("DgramTransport", () => {
  it("uses a fresh source port per request (RFC 9109) and times T1 before T4", async () => {
    v4.behaviour = "answer";
    v4.sourcePorts.length = 0;
    const transport = new DgramTransport(clock);
    const stamps: bigint[][] = [];
    for (let i = 0; i < 5; i++) {
      const socket = await transport.open(v4.endpoint, 2000);
      const request = new Uint8Array(48);
      request[0] = 0x23;
      const sentAt = await socket.send(request);
      const reply = await socket.receive();
      socket.close();
      expect(reply).not.toBeNull();
      stamps.push([sentAt, reply?.receivedAt ?? 0n]);
    }
    expect(new Set(v4.sourcePorts).size).toBe(5);
    for (const [t1, t4] of stamps) {
      const rtt = c.ntpDiff(t4 ?? 0n, t1 ?? 0n);
      expect(rtt).toBeGreaterThan(0);
      expect(rtt).toBeLessThan(1);
    }
  });

  it("returns null at the deadline when nothing answers, without waiting much longer", async () => {
    v4.behaviour = "silent";
    const transport = new DgramTransport(clock);
    const socket = await transport.open(v4.endpoint, 150);
    await socket.send(new Uint8Array(48));
    const started = performance.now();
    expect(await socket.receive()).toBeNull();
    expect(performance.now() - started).toBeLessThan(2000);
    socket.close();
    expect(await socket.receive()).toBeNull(); // closed: still null, never hangs
  });

  it("`tock query` end to end over loopback: junk and forged replies are skipped", async () => {
    v4.behaviour = "junk-then-answer";
    const run = runAgainst(["--json", "--samples", "2", "--interval", "10", `127.0.0.1:${v4.endpoint.port}`]);
    expect(await run.code).toBe(ExitCode.Ok);
    const json = JSON.parse(run.out[0] ?? "") as { offset: number; delay: number; samplesValid: number };
    expect(json.samplesValid).toBe(2);
    expect(Math.abs(json.offset)).toBeLessThan(0.05); // same clock on both ends
    expect(json.delay).toBeGreaterThanOrEqual(0);
  });

  it("`tock query` times out (exit 3) against a silent server", async () => {
    v4.behaviour = "silent";
    const run = runAgainst(["--timeout", "100", `127.0.0.1:${v4.endpoint.port}`]);
    expect(await run.code).toBe(ExitCode.Timeout);
  });

  it("`tock query` over IPv6 loopback", async (ctx) => {
    if (v6 === undefined) return ctx.skip();
    v6.behaviour = "answer";
    const run = runAgainst(["--json", `[::1]:${v6.endpoint.port}`]);
    expect(await run.code).toBe(ExitCode.Ok);
    expect(JSON.parse(run.out[0] ?? "")).toMatchObject({ address: "::1", family: 6 });
  });
});

describe("resolvers", () => {
  it("DnsResolver: literals resolve to themselves; a family mismatch is a ResolveError", async () => {
    const r = new DnsResolver();
    expect(await r.resolve("127.0.0.1")).toEqual([{ address: "127.0.0.1", family: 4 }]);
    expect(await r.resolve("::1", 6)).toEqual([{ address: "::1", family: 6 }]);
    await expect(r.resolve("127.0.0.1", 6)).rejects.toBeInstanceOf(ResolveError);
  });

  it("DnsResolver: names from /etc/hosts resolve; .invalid names fail with ResolveError", async () => {
    const r = new DnsResolver();
    const local = await r.resolve("localhost", 4);
    expect(local.map((a) => a.address)).toContain("127.0.0.1");
    await expect(r.resolve("no-such-host.invalid")).rejects.toMatchObject({ name: "ResolveError", host: "no-such-host.invalid" });
  });

  it("StaticResolver filters by family and is case-insensitive", async () => {
    const r = new StaticResolver({ "a.example": [{ address: "192.0.2.1", family: 4 }, { address: "2001:db8::1", family: 6 }] });
    expect(await r.resolve("A.example", 6)).toEqual([{ address: "2001:db8::1", family: 6 }]);
    await expect(r.resolve("b.example")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });
});

describe("clocks", () => {
  it("SystemClock reads realtime with sub-ms agreement to Date.now() and a plausible precision", () => {
    for (const forceFallback of [false, true]) {
      const system = new SystemClock((t) => c.unixToNtp(t), { forceFallback });
      const unix = system.nowUnix();
      const diffMs = unix.seconds * 1000 + unix.nanos / 1e6 - Date.now();
      expect(Math.abs(diffMs)).toBeLessThan(5);
      expect(system.precisionLog2).toBeLessThan(-9); // better than a millisecond
      expect(system.precisionLog2).toBeGreaterThan(-31);
      const ntp = system.now();
      const back = c.ntpToUnix(ntp, unix.seconds);
      expect(Math.abs(back.seconds - unix.seconds)).toBeLessThanOrEqual(1);
    }
    expect(new SystemClock((t) => c.unixToNtp(t)).source).toBe("clock_gettime");
  });

  it("SystemClock never goes backwards across re-samples (no foreign steps here)", () => {
    const system = new SystemClock((t) => c.unixToNtp(t));
    let previous = system.now();
    for (let i = 0; i < 2000; i++) {
      if (i % 500 === 0) system.resample();
      const current = system.now();
      // Allow the re-sample's own uncertainty (a few µs) but no real backwards step.
      expect(c.ntpDiff(current, previous)).toBeGreaterThan(-20e-6);
      previous = current;
    }
    expect(system.stepsSeen).toBe(0);
  });

  it("SystemClock notices a realtime step at the next re-sample and follows it", () => {
    let stepNs = 0n;
    // A realtime that ticks with the monotonic counter (like the kernel's) until stepped.
    const epochOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
    const realtime = () => process.hrtime.bigint() + epochOffset + stepNs;
    const system = new SystemClock((t) => c.unixToNtp(t), { realtimeSource: realtime });
    expect(system.source).toBe("injected");
    const before = system.now();
    stepNs = 5_000_000_000n; // someone steps the clock 5 s forward
    system.resample();
    expect(system.stepsSeen).toBe(1);
    expect(c.ntpDiff(system.now(), before)).toBeCloseTo(5, 1);
    system.resample(); // no further step: not counted again
    expect(system.stepsSeen).toBe(1);
  });

  it("SimClock moves only when told", () => {
    const sim = new SimClock(1000n << 32n, -18);
    expect(sim.now()).toBe(1000n << 32n);
    sim.advance(1.5);
    expect(sim.now()).toBe((1001n << 32n) + (1n << 31n));
    sim.advance(-2);
    expect(sim.now()).toBe((999n << 32n) + (1n << 31n));
    sim.set(5n);
    expect(sim.now()).toBe(5n);
    expect(sim.precisionLog2).toBe(-18);
  });
});
