// NtsSource alone (sans-IO): what it does with events out of order — the shell may deliver a late
// KE result, a datagram for an old request, or one before any request — none of which may produce
// time or a request without a session.
import { describe, expect, it } from "vitest";
import { buildClientRequest } from "../../ts/protocol/client-exchange.js";
import { CookieJar, type NtsSession } from "../../ts/protocol/nts-client.js";
import { NTS_RANDOM_BYTES_PER_POLL, NtsSource, type NtsSourceAction } from "../../ts/protocol/nts-source.js";
import { aead, core } from "./world.js";
import { ntpAt, randomSource, response } from "../source/support.js";

const random = randomSource(3);
const newSource = () => new NtsSource(core, aead, { keServer: { host: "192.0.2.1", port: 4460 }, pollLimits: { min: 4, max: 6 }, initialPoll: 4, localPrecisionLog2: -20 });
const session = (): NtsSession => ({ aead: 15, c2s: new Uint8Array(32).fill(1), s2c: new Uint8Array(32).fill(2), cookies: new CookieJar([new Uint8Array(64).fill(3)]), ntpServer: "192.0.2.2", ntpPort: 123 });
const kinds = (actions: NtsSourceAction[]) => actions.map((a) => a.kind);

describe("NtsSource (sans-IO)", () => {
  it("the first poll asks for NTS-KE and waits for it; the KE result releases it as an NTS request", () => {
    const s = newSource();
    expect(kinds(s.start(0))).toEqual(["set-timer"]);
    const first = s.handleTimer(0, random(NTS_RANDOM_BYTES_PER_POLL));
    expect(kinds(first)).toEqual(["key-exchange", "set-timer"]);
    expect(s.condition).toBe("initialising");
    expect(s.to).toEqual({ address: "192.0.2.1", port: 4460, family: 4 });
    const released = s.handleKeyExchangeDone(0.1, session(), { address: "192.0.2.2", port: 123, family: 4 });
    expect(kinds(released)).toEqual(["send"]);
    const send = released[0] as Extract<NtsSourceAction, { kind: "send" }>;
    expect(send.to).toEqual({ address: "192.0.2.2", port: 123, family: 4 });
    expect(send.bytes.length).toBeGreaterThan(48 + 36 + 68);
    expect(s.cookies).toBe(0); // the only cookie rides in the request
  });

  it("a KE result nobody asked for, and a second one, are ignored", () => {
    const s = newSource();
    expect(s.handleKeyExchangeDone(0, session(), { address: "192.0.2.2", port: 123, family: 4 })).toEqual([]);
    expect(s.handleKeyExchangeFailed(0, "late")).toEqual([]);
    expect(s.condition).toBe("initialising");
    expect(s.cookies).toBe(0);
  });

  it("datagrams with no NTS request in flight, or for another request, never reach the plain source", () => {
    const s = newSource();
    s.start(0);
    const [ke] = s.handleTimer(0, random(NTS_RANDOM_BYTES_PER_POLL));
    expect(ke?.kind).toBe("key-exchange");
    // The poll is waiting for the KE (request 1 exists in the plain source but was never sent): a
    // plain answer "for" it is stale, not time.
    const fake = response(core, buildClientRequest(core, 1n).bytes, 0);
    expect(s.handleResponse(1, fake, ntpAt(0.01), 0.01)).toEqual([]);
    expect(s.handleResponse(99, fake, ntpAt(0.01), 0.01)).toEqual([]);
    expect(s.counters.stale).toBe(2);
    expect(s.counters.samples).toBe(0);
  });

  it("handleTimer needs its random bytes (a caller mistake, not wire input)", () => {
    const s = newSource();
    s.start(0);
    expect(() => s.handleTimer(0, new Uint8Array(10))).toThrow(RangeError);
  });
});
