// The per-source poll state machine (ts/protocol/source.ts) in virtual time with crafted packets.
import { describe, expect, it } from "vitest";
import { BURST_COUNT, LIMIT, type SourceAction } from "../../ts/protocol/source.js";
import { core, newSource, ntpAt, randomSource, response, runSource, SERVER } from "./support.js";
import { ascii } from "../query/support.js";

const kinds = (events: { actions: SourceAction[] }[], kind: SourceAction["kind"]) =>
  events.flatMap((e) => e.actions).filter((a) => a.kind === kind);

describe("reach register", () => {
  it("fills with answered polls and shifts in zeros for lost ones", () => {
    const s = newSource();
    runSource(s, 200, () => ({}));
    expect(s.reach).toBe(0xff);
    expect(s.condition).toBe("reachable");

    const t = newSource();
    // Answer odd polls only: the register alternates (newest poll = bit 0 is answered at the end).
    const { polls } = runSource(t, 200, (_r, _t, n) => (n % 2 === 1 ? {} : undefined));
    // Bit 0 is the newest poll (RFC 5905: shifted when it is sent, set when it is answered).
    expect(t.reach).toBe(polls.length % 2 === 1 ? 0b01010101 : 0b10101010);
    expect(t.counters.missed).toBe(Math.floor((polls.length - 1) / 2)); // the newest may be pending
  });

  it("marks a silent server unreachable after 8 unanswered polls and ages its filter", () => {
    const s = newSource({ burst: 0 });
    const stopAfter = 3;
    const { polls, actions } = runSource(s, 16 * 12.5, (_r, _t, n) => (n <= stopAfter ? {} : undefined));
    expect(polls.length).toBeGreaterThanOrEqual(12);
    expect(s.reach).toBe(0);
    expect(s.condition).toBe("unreachable");
    // "missed" (a dummy filter sample) once the 3 newest reach bits are 0: two polls unanswered and
    // the third going out (RFC 5905 A.5.7.1), then at every poll while the silence lasts.
    const missed = actions.filter((e) => e.actions.some((a) => a.kind === "missed")).map((e) => e.t);
    expect(missed[0]).toBe(polls[stopAfter + 2]);
    expect(missed.length).toBe(polls.length - (stopAfter + 2));

    const fresh = newSource({ burst: 0 });
    runSource(fresh, 16 * 7.5, () => undefined);
    expect(fresh.condition).toBe("initialising"); // 8 polls sent, the 8th not yet overdue
  });

  it("is not unreachable while a server answers only unsynchronised (it is reachable, unusable)", () => {
    const s = newSource();
    runSource(s, 300, () => ({ answer: { leap: 3, stratum: 0, referenceId: 0 } }));
    expect(s.reach).toBe(0xff);
    expect(s.condition).toBe("unsynchronised");
    expect(s.stratum).toBe(16); // stratum 0 on the wire is 16 as a peer variable
    expect(s.counters.samples).toBe(0);
  });
});

describe("start-up burst and poll interval", () => {
  it("sends a burst 2 s apart, then polls at the initial interval (dithered at most 1/16 shorter)", () => {
    const s = newSource({ initialPoll: 5, pollLimits: { min: 4, max: 10 } });
    const { polls } = runSource(s, 400, () => ({}));
    const gaps = polls.slice(1).map((t, i) => t - polls[i]!);
    expect(gaps.slice(0, BURST_COUNT - 1)).toEqual(Array(BURST_COUNT - 1).fill(2));
    for (const g of gaps.slice(BURST_COUNT)) {
      expect(g).toBeGreaterThan(32 * (1 - 1 / 16) - 1e-9);
      expect(g).toBeLessThanOrEqual(32);
    }
  });

  it("sends requests with a random transmit timestamp and the poll exponent", () => {
    const s = newSource();
    const a = s.start(0);
    expect(a).toEqual([{ kind: "set-timer", at: 0 }]);
    const random = randomSource(3);
    const first = s.handleTimer(0, random(10)).find((x) => x.kind === "send");
    const second = s.handleTimer(2, random(10)).find((x) => x.kind === "send");
    if (first?.kind !== "send" || second?.kind !== "send") throw new Error("no send");
    const h1 = core.parsePacket(first.bytes).header!;
    const h2 = core.parsePacket(second.bytes).header!;
    expect(h1.mode).toBe(3);
    expect(h1.transmitTime).not.toBe(h2.transmitTime);
    expect(h1.originTime).toBe(0n);
    expect(h1.receiveTime).toBe(0n);
    expect(h1.poll).toBe(4);
    expect(first.to).toEqual(SERVER);
    expect(first.timeout).toBeLessThanOrEqual(4);
  });

  it("sends NTPv3 requests when asked (ntp-version = 3) and still matches the answers", () => {
    const s = newSource({ version: 3 });
    const { actions } = runSource(s, 20, () => ({ answer: { version: 3 } }));
    const sends = kinds(actions, "send");
    for (const a of sends) if (a.kind === "send") expect(core.parsePacket(a.bytes).header!.version).toBe(3);
    expect(s.counters.samples).toBe(sends.length);
  });

  it("ignores an early timer (re-arms it)", () => {
    const s = newSource();
    s.start(0);
    s.handleTimer(0, randomSource()(10));
    expect(s.handleTimer(1, randomSource()(10))).toEqual([{ kind: "set-timer", at: 2 }]);
  });

  it("lengthens the interval while filtered offsets are stable, shortens it when they jump", () => {
    const s = newSource({ burst: 0, pollLimits: { min: 4, max: 6 } });
    s.start(0);
    s.handleTimer(0, randomSource()(10));
    let now = 0;
    // Stable: offset changes far below PGATE × jitter.
    for (let i = 0; i < 100; i++) s.handleFiltered(0.001 + (i % 2) * 1e-6, 1e-4, (now += 16));
    expect(s.poll).toBe(6); // reached the maximum and stays there
    // Unstable: each offset jumps by 10 ms with 0.1 ms jitter.
    for (let i = 0; i < 100; i++) s.handleFiltered((i % 2) * 0.01, 1e-4, (now += 16));
    expect(s.poll).toBe(4); // back at the minimum
  });

  it("needs LIMIT worth of stable updates before lengthening", () => {
    const s = newSource({ burst: 0 });
    s.start(0);
    s.handleTimer(0, randomSource()(10));
    const updatesNeeded = Math.floor(LIMIT / 4) + 1; // weight = poll exponent (4)
    for (let i = 0; i <= updatesNeeded - 1; i++) s.handleFiltered(0, 1e-3, i);
    expect(s.poll).toBe(4);
    s.handleFiltered(0, 1e-3, 100);
    expect(s.poll).toBe(5);
  });
});

describe("Kiss-o'-Death", () => {
  for (const code of ["DENY", "RSTR"]) {
    it(`${code}: demobilises the source and sends nothing more`, () => {
      const s = newSource();
      const { polls, actions } = runSource(s, 500, (_r, _t, n) => (n === 3 ? { answer: { stratum: 0, referenceId: ascii(code) } } : {}));
      expect(polls.length).toBe(3);
      expect(s.condition).toBe("denied");
      expect(kinds(actions, "demobilize")).toEqual([{ kind: "demobilize", reason: `server sent KoD ${code}` }]);
      expect(s.handleTimer(1000, randomSource()(10))).toEqual([]);
    });
  }

  it("RATE: at least doubles the interval and respects the server's poll", () => {
    const s = newSource({ burst: 0 });
    const { polls } = runSource(s, 2000, (_r, _t, n) =>
      n === 2 ? { answer: { stratum: 0, referenceId: ascii("RATE"), poll: 4 } }
        : n === 4 ? { answer: { stratum: 0, referenceId: ascii("RATE"), poll: 8 } } : {});
    const gaps = polls.slice(1).map((t, i) => t - polls[i]!);
    expect(gaps[0]).toBeLessThanOrEqual(16);
    expect(gaps[1]).toBe(32); // doubled from 16 after the first RATE (timer from the RATE'd poll)
    expect(gaps[3]).toBe(256); // the second RATE asked for 2^8: never faster than the server's poll
    expect(s.poll).toBe(8);
    expect(s.serverPollFloor).toBe(8);
    expect(s.condition).not.toBe("denied");
  });

  it("a forged KoD (wrong origin) is ignored and the genuine answer still counts", () => {
    const s = newSource();
    const forged = (request: Uint8Array) => {
      const r = core.parsePacket(request).header!;
      return core.buildHeader({ ...core.parsePacket(response(core, request, 0)).header!, stratum: 0, referenceId: ascii("DENY"), originTime: r.transmitTime ^ 1n });
    };
    const { actions } = runSource(s, 100, (request) => ({ before: [forged(request)] }));
    expect(s.condition).toBe("reachable");
    expect(s.counters.ignored["origin-mismatch"]).toBeGreaterThan(0);
    expect(kinds(actions, "sample").length).toBe(s.counters.samples);
    expect(s.counters.samples).toBeGreaterThan(4);
  });
});

describe("response matching", () => {
  it("ignores origin mismatches, wrong modes, junk and late answers without ending the exchange", () => {
    const s = newSource();
    s.start(0);
    const send = s.handleTimer(0, randomSource()(10)).find((a) => a.kind === "send");
    if (send?.kind !== "send") throw new Error("no send");
    s.handleSent(send.requestId, ntpAt(0));
    const good = response(core, send.bytes, 0);
    const wrongOrigin = good.slice();
    wrongOrigin[24]! ^= 0x80;
    const clientMode = good.slice();
    clientMode[0] = (good[0]! & 0xf8) | 3;
    expect(s.handleResponse(send.requestId, wrongOrigin, ntpAt(0.01), 0.01)).toEqual([]);
    expect(s.handleResponse(send.requestId, clientMode, ntpAt(0.01), 0.01)).toEqual([]);
    expect(s.handleResponse(send.requestId, new Uint8Array(7), ntpAt(0.01), 0.01)).toEqual([]);
    expect(s.handleResponse(send.requestId + 1, good, ntpAt(0.01), 0.01)).toEqual([]);
    expect(s.counters.ignored).toEqual({ malformed: 1, "not-server-mode": 1, "origin-mismatch": 1 });
    const out = s.handleResponse(send.requestId, good, ntpAt(0.01), 0.01);
    expect(out.map((a) => a.kind)).toEqual(["close", "sample"]);
    const sample = out[1];
    if (sample?.kind !== "sample") throw new Error("no sample");
    expect(sample.sample.offset).toBeCloseTo(0, 6);
    expect(sample.sample.delay).toBeCloseTo(0.01, 6);
    // A duplicate after the exchange ended is stale, not a second sample.
    expect(s.handleResponse(send.requestId, good, ntpAt(0.02), 0.02)).toEqual([]);
    expect(s.counters.stale).toBe(2);
    expect(s.reach).toBe(1);
  });

  it("never throws on random datagrams", () => {
    const s = newSource();
    s.start(0);
    const random = randomSource(9);
    const send = s.handleTimer(0, random(10)).find((a) => a.kind === "send");
    if (send?.kind !== "send") throw new Error("no send");
    s.handleSent(send.requestId, ntpAt(0));
    for (let i = 0; i < 2000; i++) {
      const bytes = random(i % 97);
      if (bytes.length >= 32) bytes.set(send.bytes.subarray(40, 48), 24); // some even echo the nonce
      expect(() => s.handleResponse(send.requestId, bytes, ntpAt(0.01), 0.01)).not.toThrow();
    }
  });
});
