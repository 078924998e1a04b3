// `[[source]] mode = "nts"` in the daemon's client loop, in virtual time (world.ts): NTS-KE through
// the real keyExchange() over SimKeDialer, NTS-protected polls to the negotiated server, and the
// rules of RFC 8915 §4.2/§5.7 — one new KE per NAK, a new KE when the cookies run out, the back-off
// between failed KEs, a jar that stays at 8, and never a sample from an unauthenticated answer.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeFailure } from "../../ts/daemon/nts-ke-client.js";
import { COOKIES_WANTED, EF_UNIQUE_IDENTIFIER, keRetryIntervalSeconds } from "../../ts/protocol/nts-client.js";
import { isSourceStateWord } from "../../ts/protocol/status.js";
import { fields } from "../nts-client/support.js";
import { KE_ADDRESS, NTP_ADDRESS, NTP_PORT, ntsWorld } from "./world.js";

describe("nts source (virtual time)", () => {
  it("NTS-KE, then authenticated polls to the negotiated server become samples; the jar stays at 8", async () => {
    const w = ntsWorld({ offset: 0.0015 });
    w.client.start();
    // Sampled every 10 s: after the first answer the jar is full again, except for the one cookie
    // riding in a request still on the wire.
    for (let t = 10; t <= 200; t += 10) {
      await w.scheduler.run(t);
      const s = w.source();
      const last = w.requests.at(-1)!;
      const inFlight = w.scheduler.now() - last.t < 0.01;
      expect(s.nts?.cookies).toBe(inFlight ? COOKIES_WANTED - 1 : COOKIES_WANTED);
    }
    const s = w.source();
    const r = w.client.report();
    expect(w.keAttempts).toHaveLength(1);
    expect(w.dialer.dialed[0]).toMatchObject({ address: KE_ADDRESS, port: 4460, host: "ke.example", caFile: "/test/ca.pem" });
    expect(s).toMatchObject({ mode: "nts", address: NTP_ADDRESS, port: NTP_PORT, state: "selected", reach: 0xff });
    expect(s.nts).toMatchObject({ keServer: "ke.example:4460", aead: 15, cookies: 8, failure: undefined });
    expect(s.nts!.counters).toMatchObject({ keyExchanges: 1, keyExchangeFailures: 0, naks: 0 });
    expect(s.counters.samples).toBe(s.nts!.counters.authenticated);
    expect(s.counters.samples).toBeGreaterThan(10);
    expect(r.status).toBe("ok");
    expect(r.lastUpdate!.offset).toBeCloseTo(0.0015, 6);
    expect(w.actions).toEqual([]); // observe mode
    expect(w.state.badRequests).toBe(0); // every request verified under c2s at the server
    // Every request: to the negotiated server, its own socket, its own 32-byte UID and random origin.
    expect(w.requests.every((q) => q.to.address === NTP_ADDRESS && q.to.port === NTP_PORT)).toBe(true);
    expect(w.state.opened).toBe(w.requests.length);
    expect(s.counters.sent).toBe(w.requests.length);
    const uids = new Set(w.requests.map((q) => Buffer.from(fields(q.bytes).find((f) => f.type === EF_UNIQUE_IDENTIFIER)!.body).toString("hex")));
    expect(uids.size).toBe(w.requests.length);
    const origins = new Set(w.requests.map((q) => Buffer.from(q.bytes.subarray(40, 48)).toString("hex")));
    expect(origins.size).toBe(w.requests.length);
    // Full jar → no placeholders; each request is answered with exactly one cookie.
    expect(w.requests.slice(1).every((q) => q.placeholders === 0)).toBe(true);
    expect(w.requests.every((q) => q.bytes.length <= 1280)).toBe(true);
    // The management table shows the nts kind and a documented word.
    const row = w.client.sourceTable()[0]!;
    expect(row).toMatchObject({ kind: "nts", address: `${NTP_ADDRESS}:${NTP_PORT}`, state: "selected" });
    w.client.stop();
  });

  it("a NAK gets exactly one new NTS-KE, old cookies are dropped, and samples resume", async () => {
    const w = ntsWorld({ behaviour: (i) => (i === 6 ? "nak" : "honest") });
    w.client.start();
    await w.scheduler.run(200);
    const s = w.source();
    expect(s.nts!.counters.naks).toBe(1);
    expect(w.keAttempts).toHaveLength(2);
    // §5.7: after the new KE only its cookies are used.
    const afterNak = w.requests.slice(7);
    expect(afterNak.length).toBeGreaterThan(3);
    expect(afterNak.every((q) => q.cookieSession === 1)).toBe(true);
    expect(s.state).toBe("selected");
    expect(s.nts!.cookies).toBe(8);
    expect(s.counters.samples).toBe(w.requests.length - 1);
    w.client.stop();
  });

  it("cookies running out (eight lost requests) lead to a new NTS-KE, not before", async () => {
    const w = ntsWorld({ behaviour: (i) => (i >= 3 && i < 11 ? "silent" : "honest") });
    w.client.start();
    // Each lost request spends a cookie and asks for more placeholders (the jar shrinks 8 → 0).
    await w.scheduler.run(2000);
    expect(w.keAttempts).toHaveLength(2);
    const lost = w.requests.slice(3, 11);
    expect(lost.map((q) => q.placeholders)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(lost.every((q) => q.cookieSession === 0)).toBe(true);
    // The ninth poll found the jar empty: a KE at that moment, and the poll went out with new cookies.
    expect(w.keAttempts[1]).toBe(w.requests[11]!.t);
    expect(w.requests[11]!.cookieSession).toBe(1);
    const s = w.source();
    expect(s.nts!.cookies).toBe(8);
    expect(["selected", "candidate"]).toContain(s.state);
    w.client.stop();
  });

  it("unauthenticated, wrong-key and forged answers never become samples; the source says nts-failed", async () => {
    for (const behaviour of ["plain", "wrong-key"] as const) {
      const w = ntsWorld({ behaviour: () => behaviour });
      w.client.start();
      await w.scheduler.run(300);
      const s = w.source();
      expect(s.counters.samples).toBe(0);
      expect(s.offset).toBeUndefined();
      expect(s.lastOffset).toBeUndefined();
      expect(w.client.report().lastUpdate).toBeUndefined();
      expect(s.state).toBe("nts-failed");
      expect(isSourceStateWord(s.state)).toBe(true);
      const reason = behaviour === "plain" ? "no-authenticator" : "authentication-failed";
      expect(s.nts!.counters.dropped[reason]).toBe(w.requests.length);
      expect(s.note).toContain(reason);
      expect(w.client.sourceTable()[0]!.reason).toContain(reason);
      w.client.stop();
    }
  });

  it("a forgery arriving before the genuine answer is dropped; only the genuine offset is used", async () => {
    const w = ntsWorld({ offset: 0.002, behaviour: () => "forged-first" });
    w.client.start();
    await w.scheduler.run(200);
    const s = w.source();
    expect(s.counters.samples).toBe(w.requests.length);
    expect(s.nts!.counters.dropped["no-authenticator"]).toBe(w.requests.length);
    expect(s.lastOffset).toBeCloseTo(0.002, 6);
    expect(w.client.report().lastUpdate!.offset).toBeCloseTo(0.002, 6);
    expect(s.state).toBe("selected");
    w.client.stop();
  });

  it("Kiss-o'-Death as for plain sources, but only when authenticated: DENY stops the source, a plain DENY is dropped", async () => {
    const denied = ntsWorld({ behaviour: (i) => (i === 5 ? { kod: "DENY", authenticated: true } : "honest") });
    denied.client.start();
    await denied.scheduler.run(200);
    expect(denied.requests).toHaveLength(6); // no request after the authenticated DENY
    expect(denied.source()).toMatchObject({ state: "denied", note: "server sent KoD DENY" });
    denied.client.stop();

    const spoofed = ntsWorld({ behaviour: (i) => (i === 5 ? { kod: "DENY", authenticated: false } : "honest") });
    spoofed.client.start();
    await spoofed.scheduler.run(200);
    const s = spoofed.source();
    expect(spoofed.requests.length).toBeGreaterThan(10);
    expect(s.counters.kod).toBe(0);
    expect(s.nts!.counters.dropped["no-authenticator"]).toBe(1);
    expect(s.counters.samples).toBe(spoofed.requests.length); // the genuine answer after it still counted
    expect(s.state).toBe("selected");
    spoofed.client.stop();
  });

  it("an authenticated RATE backs the poll interval off as for a plain source", async () => {
    const w = ntsWorld({ behaviour: (i) => (i === 8 ? { kod: "RATE", authenticated: true } : "honest") });
    w.client.start();
    await w.scheduler.run(400);
    const s = w.source();
    expect(s.counters.kod).toBe(1);
    // Before the RATE the source polled every 2^2–2^3 s; RATE at least doubles the interval and never
    // lets it fall below the server's poll field (4 here) again (source.ts rateLimited).
    expect(s.poll).toBe(4);
    const gap = (i: number) => w.requests[i]!.t - w.requests[i - 1]!.t;
    const before = [4, 5, 6, 7, 8].map(gap);
    const after = w.requests.slice(9).map((_, k) => gap(9 + k));
    expect(Math.max(...before)).toBeLessThanOrEqual(8);
    expect(after.length).toBeGreaterThan(5);
    expect(Math.min(...after)).toBeGreaterThanOrEqual(16 * (15 / 16));
    w.client.stop();
  });

  it("a flipped bit anywhere in a response is never a sample (the timestamps' seconds would be ≥ 1 s off)", async () => {
    // Bytes 32–35 and 40–43 are the seconds of the receive and transmit timestamps: accepted, such a
    // flip would show as an offset ≥ 1 s; anywhere else (EFs, tag, cookies) it must be dropped too.
    const position = fc.oneof(fc.integer({ min: 32, max: 35 }), fc.integer({ min: 40, max: 43 }), fc.integer({ min: 0, max: 400 }));
    await fc.assert(
      fc.asyncProperty(position, fc.integer({ min: 0, max: 7 }), async (byte, bit) => {
        const w = ntsWorld({ offset: 0.002, behaviour: (i) => (i === 0 ? "honest" : { byte, bit }) });
        w.client.start();
        await w.scheduler.run(40);
        const s = w.source();
        expect(s.counters.samples).toBe(1); // the honest first answer only
        expect(s.nts!.counters.authenticated).toBe(1);
        expect(Math.abs(s.lastOffset! - 0.002)).toBeLessThan(1e-6);
        w.client.stop();
      }),
      { numRuns: 30 },
    );
  });

  it("NTS-KE failures: nts-failed with the reason, RFC 8915 §4.2 back-off between attempts, no NTP sent; recovery", async () => {
    const w = ntsWorld({ ke: (_attempt, now) => (now < 300 ? new KeFailure("certificate", "certificate not trusted: self signed") : "ok") });
    w.client.start();
    await w.scheduler.run(290);
    let s = w.source();
    expect(s.state).toBe("nts-failed");
    expect(s.note).toMatch(/NTS-KE failed: certificate not trusted/);
    expect(w.requests).toHaveLength(0); // no session, no NTP: never a plain request
    expect(s.counters.sent).toBe(0);
    const gaps = w.keAttempts.slice(1).map((t, i) => t - w.keAttempts[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(keRetryIntervalSeconds(i + 1)));
    expect(s.nts!.counters.keyExchangeFailures).toBe(w.keAttempts.length);
    expect(s.nts!.counters.backedOffPolls).toBeGreaterThan(0);
    // The server is fixed: the next allowed attempt succeeds and samples follow.
    await w.scheduler.run(3000);
    s = w.source();
    expect(s.counters.samples).toBeGreaterThan(0);
    expect(["selected", "candidate"]).toContain(s.state);
    expect(s.note).toBeUndefined();
    w.client.stop();
  });

  it("the back-off is not reset by a KE that is NAKed before any authenticated answer", async () => {
    // Every request is NAKed: each KE is followed by a NAK, never by an authenticated exchange.
    const w = ntsWorld({ behaviour: () => "nak" });
    w.client.start();
    await w.scheduler.run(400);
    const gaps = w.keAttempts.slice(1).map((t, i) => t - w.keAttempts[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(keRetryIntervalSeconds(i + 1)));
    expect(w.source().counters.samples).toBe(0);
    w.client.stop();
  });
});
