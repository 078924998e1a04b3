// `tock query` run in-process over the simulated transport, resolver and clock: options, output,
// sample selection, and every exit code.
import { beforeAll, describe, expect, it } from "vitest";
import type { TockCore } from "../../ts/core/api.js";
import { ExitCode, parseHostPort, parseQueryArgs, runQuery } from "../../ts/cli/query.js";
import { SimClock } from "../../ts/clock/sim-clock.js";
import { SimTransport, type SimReply, type SimServer } from "../../ts/daemon/udp.js";
import { StaticResolver } from "../../ts/daemon/resolver.js";
import { ascii, core, seconds, serverResponse } from "./support.js";

let c: TockCore;
beforeAll(async () => {
  c = await core();
});

const RESOLVER = new StaticResolver({
  "ntp.example": [
    { address: "192.0.2.10", family: 4 },
    { address: "2001:db8::10", family: 6 },
  ],
  "v6only.example": [{ address: "2001:db8::20", family: 6 }],
  "two.example": [
    { address: "192.0.2.30", family: 4 },
    { address: "192.0.2.31", family: 4 },
  ],
});

interface Harness {
  clock: SimClock;
  transport: SimTransport;
  out: string[];
  err: string[];
  sleeps: number[];
  run(...argv: string[]): Promise<number>;
}

/**
 * A server whose clock is `serverAhead` seconds ahead of the simulated local clock, answering after
 * a one-way delay that may differ per request (delays[i] for the i-th request).
 */
function harness(respond: (request: Uint8Array, index: number, clock: SimClock) => SimReply[]): Harness {
  const clock = new SimClock(BigInt(1767225600 + 2208988800) << 32n);
  let index = 0;
  const server: SimServer = (request) => respond(request, index++, clock);
  const transport = new SimTransport(clock, server);
  const out: string[] = [];
  const err: string[] = [];
  const sleeps: number[] = [];
  let counter = 0n;
  return {
    clock,
    transport,
    out,
    err,
    sleeps,
    run: (...argv) =>
      runQuery(argv, {
        core: c,
        clock,
        transport,
        resolver: RESOLVER,
        random64: () => 0x5eed0000_00000000n + ++counter,
        sleep: async (ms) => {
          sleeps.push(ms);
          clock.advance(ms / 1000);
        },
        stdout: (t) => out.push(t),
        stderr: (t) => err.push(t),
      }),
  };
}

/** Replies once: server `ahead` s ahead of us, `oneWay` s each way, 0.1 ms processing. */
function honest(ahead: number, oneWay: (i: number) => number, fields: Parameters<typeof serverResponse>[2] = {}) {
  return (request: Uint8Array, i: number, clock: SimClock): SimReply[] => {
    const d = oneWay(i);
    const t2 = clock.now() + seconds(ahead + d);
    const t3 = t2 + seconds(0.0001);
    return [{ bytes: serverResponse(c, request, { receiveTime: t2, transmitTime: t3, ...fields }), after: 2 * d + 0.0001 }];
  };
}

describe("argument parsing", () => {
  it("parses HOST[:PORT] forms including bracketed IPv6", () => {
    expect(parseHostPort("ntp.example")).toEqual({ host: "ntp.example", port: 123 });
    expect(parseHostPort("ntp.example:10123")).toEqual({ host: "ntp.example", port: 10123 });
    expect(parseHostPort("192.0.2.1:1")).toEqual({ host: "192.0.2.1", port: 1 });
    expect(parseHostPort("[::1]:123")).toEqual({ host: "::1", port: 123 });
    expect(parseHostPort("[2001:db8::1]")).toEqual({ host: "2001:db8::1", port: 123 });
    expect(parseHostPort("2001:db8::1")).toEqual({ host: "2001:db8::1", port: 123 });
    for (const bad of ["", ":123", "host:0", "host:65536", "host:12a", "[::1", "[::1]x", "[host]:1", "a b"]) {
      expect(typeof parseHostPort(bad), bad).toBe("string");
    }
  });

  it("parses options with defaults and bounds", () => {
    const ok = parseQueryArgs(["--samples", "4", "--timeout", "250", "--interval", "0", "-6", "--json", "[::1]:9"]);
    expect(ok).toEqual({
      kind: "options",
      options: { host: "::1", port: 9, samples: 4, timeoutMs: 250, intervalMs: 0, family: 6, json: true },
    });
    const defaults = parseQueryArgs(["ntp.example"]);
    expect(defaults).toMatchObject({ options: { samples: 1, timeoutMs: 3000, intervalMs: 1000, family: undefined, json: false } });
    expect(parseQueryArgs(["-h"])).toEqual({ kind: "help" });
  });

  it("exits 2 on bad arguments, with the reason and the usage on stderr", async () => {
    const h = harness(honest(0, () => 0.01));
    for (const argv of [
      [],
      ["a", "b"],
      ["--samples", "0", "x"],
      ["--samples", "65", "x"],
      ["--samples", "-1", "x"],
      ["--timeout", "1.5", "x"],
      ["--bogus", "x"],
      ["-4", "-6", "x"],
      ["host:99999"],
    ]) {
      h.err.length = 0;
      expect(await h.run(...argv), argv.join(" ")).toBe(ExitCode.Usage);
      expect(h.err.join("")).toMatch(/^tock query: [\s\S]+\n\nusage: tock query/);
    }
    expect(h.transport.sent).toHaveLength(0);
  });

  it("prints help with the exit-code table and exits 0", async () => {
    const h = harness(honest(0, () => 0.01));
    expect(await h.run("--help")).toBe(ExitCode.Ok);
    expect(h.out.join("")).toContain("exit codes:");
  });
});

describe("a successful query", () => {
  it("prints offset, delay and every header field", async () => {
    const h = harness(honest(0.25, () => 0.01, { stratum: 1, referenceId: ascii("GPS\0"), poll: 4, precision: -20 }));
    expect(await h.run("ntp.example")).toBe(ExitCode.Ok);
    const text = h.out.join("");
    expect(text).toMatch(/^server +192\.0\.2\.10 port 123$/m);
    expect(text).toMatch(/^offset +\+0\.2500\d{5} s$/m);
    expect(text).toMatch(/^delay +0\.0200\d{5} s$/m);
    expect(text).toMatch(/^stratum +1$/m);
    expect(text).toMatch(/^reference id +GPS \(0x47505300\)$/m);
    expect(text).toMatch(/^leap +none \(0\)$/m);
    expect(text).toMatch(/^root delay +0\.0125\d+ s$/m);
    expect(text).toMatch(/^root dispersion +0\.0250\d+ s$/m);
    expect(text).toMatch(/^precision +2\^-20 s/m);
    expect(text).toMatch(/^poll +2\^4 s \(16 s\)$/m);
    expect(text).toMatch(/^version +4$/m);
    expect(text).toMatch(/^reference time +2025-12-31T23:59:30\.\d{9}Z$/m);
    expect(h.err).toEqual([]);
  });

  it("prints one JSON object with --json", async () => {
    const h = harness(honest(-0.125, () => 0.005));
    expect(await h.run("--json", "ntp.example:4123")).toBe(ExitCode.Ok);
    expect(h.out).toHaveLength(1);
    const json = JSON.parse(h.out[0] ?? "") as Record<string, unknown>;
    expect(json).toMatchObject({
      status: "ok",
      exitCode: 0,
      host: "ntp.example",
      address: "192.0.2.10",
      port: 4123,
      family: 4,
      stratum: 2,
      referenceId: "192.0.2.1",
      referenceIdHex: "C0000201",
      leap: 0,
      leapName: "none",
      version: 4,
      poll: 6,
      precision: -23,
      samplesSent: 1,
      samplesValid: 1,
    });
    expect(json.offset as number).toBeCloseTo(-0.125, 6);
    expect(json.delay as number).toBeCloseTo(0.01, 6);
  });

  it("sends N requests with distinct random transmit timestamps and keeps the lowest-delay sample", async () => {
    // Delays 30, 10, 50 ms; the middle sample is the one to keep. Asymmetric path on the slow ones
    // would bias their offsets, which is why the lowest delay wins.
    const oneWay = [0.015, 0.005, 0.025];
    const h = harness(honest(0.1, (i) => oneWay[i] ?? 1));
    expect(await h.run("--json", "--samples", "3", "--interval", "500", "ntp.example")).toBe(ExitCode.Ok);
    expect(h.transport.sent).toHaveLength(3);
    const nonces = h.transport.sent.map((s) => c.parsePacket(s.bytes).header?.transmitTime);
    expect(new Set(nonces).size).toBe(3);
    expect(h.sleeps).toEqual([500, 500]);
    const json = JSON.parse(h.out[0] ?? "") as { delay: number; samplesValid: number };
    expect(json.delay).toBeCloseTo(0.01, 6);
    expect(json.samplesValid).toBe(3);
  });

  it("waits past wrong-mode, unmatched and malformed datagrams for the real response", async () => {
    const h = harness((request, _i, clock) => {
      const t = clock.now() + seconds(0.01);
      return [
        { bytes: serverResponse(c, request, { mode: 3, receiveTime: t, transmitTime: t }), after: 0.001 },
        { bytes: serverResponse(c, request, { originTime: 42n, receiveTime: t, transmitTime: t, stratum: 0 }), after: 0.002 },
        { bytes: new Uint8Array(20), after: 0.003 },
        { bytes: serverResponse(c, request, { receiveTime: t, transmitTime: t, stratum: 3 }), after: 0.02 },
      ];
    });
    expect(await h.run("--json", "ntp.example")).toBe(ExitCode.Ok);
    expect(JSON.parse(h.out[0] ?? "")).toMatchObject({ status: "ok", stratum: 3 });
  });

  it("uses only the address family asked for", async () => {
    const h = harness(honest(0, () => 0.01));
    expect(await h.run("-6", "--json", "ntp.example")).toBe(ExitCode.Ok);
    expect(h.transport.sent.map((s) => s.to)).toEqual([{ address: "2001:db8::10", port: 123, family: 6 }]);
    expect(JSON.parse(h.out[0] ?? "")).toMatchObject({ family: 6, address: "2001:db8::10" });
  });

  it("moves on to the next address when one cannot be reached", async () => {
    const h = harness(honest(0, () => 0.01));
    h.transport.unreachable.add("192.0.2.30");
    expect(await h.run("--json", "two.example")).toBe(ExitCode.Ok);
    expect(JSON.parse(h.out[0] ?? "")).toMatchObject({ address: "192.0.2.31" });
  });
});

describe("failures and their exit codes", () => {
  it("3: timeout when nothing answers, after waiting the timeout for every sample", async () => {
    const h = harness(() => []);
    const before = h.clock.now();
    expect(await h.run("--samples", "2", "--interval", "0", "--timeout", "700", "192.0.2.99")).toBe(ExitCode.Timeout);
    expect(h.err.join("")).toContain("no response from 192.0.2.99 within 700 ms");
    expect(Number(h.clock.now() - before) / 2 ** 32).toBeCloseTo(1.4, 6);
  });

  it("3: a response later than --timeout is a timeout", async () => {
    const h = harness(honest(0, () => 0.3));
    expect(await h.run("--timeout", "500", "ntp.example")).toBe(ExitCode.Timeout);
  });

  it("4: DNS failure, and no address of the requested family", async () => {
    const h = harness(honest(0, () => 0.01));
    expect(await h.run("nowhere.example")).toBe(ExitCode.DnsFailure);
    expect(await h.run("-4", "v6only.example")).toBe(ExitCode.DnsFailure);
    expect(await h.run("-6", "192.0.2.1")).toBe(ExitCode.DnsFailure);
    expect(await h.run("--json", "nowhere.example")).toBe(ExitCode.DnsFailure);
    expect(JSON.parse(h.out.at(-1) ?? "")).toMatchObject({ status: "dns-failure", exitCode: 4 });
    expect(h.transport.sent).toHaveLength(0);
  });

  it("5: Kiss-o'-Death with its code, and no further requests", async () => {
    for (const code of ["RATE", "DENY"]) {
      const h = harness(honest(0, () => 0.01, { stratum: 0, leap: 3, referenceId: ascii(code) }));
      expect(await h.run("--samples", "4", "--interval", "0", "ntp.example")).toBe(ExitCode.KissOfDeath);
      expect(h.err.join("")).toContain(`Kiss-o'-Death ${code}`);
      expect(h.transport.sent).toHaveLength(1);
    }
    const h = harness(honest(0, () => 0.01, { stratum: 0, referenceId: ascii("RATE") }));
    expect(await h.run("--json", "ntp.example")).toBe(ExitCode.KissOfDeath);
    expect(JSON.parse(h.out[0] ?? "")).toMatchObject({ status: "kod", kod: "RATE", stratum: 0 });
  });

  it("6: unsynchronised server (leap 3, or stratum 16)", async () => {
    const leap3 = harness(honest(0, () => 0.01, { leap: 3, stratum: 5 }));
    expect(await leap3.run("ntp.example")).toBe(ExitCode.Unsynchronised);
    expect(leap3.err.join("")).toContain("unsynchronised (leap 3, stratum 5)");
    expect(leap3.out.join("")).toMatch(/^leap +unsynchronised \(3\)$/m);
    const s16 = harness(honest(0, () => 0.01, { stratum: 16 }));
    expect(await s16.run("--json", "ntp.example")).toBe(ExitCode.Unsynchronised);
    expect(JSON.parse(s16.out[0] ?? "")).toMatchObject({ status: "unsynchronised", stratum: 16 });
  });

  it("7: a matching response with a zero transmit timestamp", async () => {
    const h = harness(honest(0, () => 0.01, { transmitTime: 0n }));
    expect(await h.run("ntp.example")).toBe(ExitCode.BadResponse);
    expect(h.err.join("")).toContain("zero-transmit-time");
  });

  it("8: network error when no address can be reached", async () => {
    const h = harness(honest(0, () => 0.01));
    h.transport.unreachable.add("192.0.2.30").add("192.0.2.31");
    expect(await h.run("two.example")).toBe(ExitCode.NetworkError);
    expect(h.err.join("")).toContain("ENETUNREACH");
  });

  it("uses distinct exit codes for distinct failures", () => {
    const codes = Object.values(ExitCode);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
