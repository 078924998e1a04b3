// `tock query --nts` in-process over simulated NTS-KE, transport, resolver and clock: the KE answer
// is honoured (server/port negotiation, AEAD), every request is checked by a scripted NTS server
// (cookie → keys, authenticator under c2s), and the rules hold: no fallback to unauthenticated
// time, forged responses ignored, one fresh KE after a NAK, a new KE when cookies run out, and the
// documented exit codes.
import { hkdfSync } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Aead } from "../../ts/core/aead.js";
import type { TockCore } from "../../ts/core/api.js";
import { ExitCode, runQuery } from "../../ts/cli/query.js";
import { SimClock } from "../../ts/clock/sim-clock.js";
import { SimTransport, type Endpoint, type SimReply } from "../../ts/daemon/udp.js";
import { StaticResolver } from "../../ts/daemon/resolver.js";
import { KeFailure, SimKeDialer, type KeTarget } from "../../ts/daemon/nts-ke-client.js";
import { buildKeErrorResponse, buildKeResponse, decodeKeMessage, interpretKeRequest, REQUEST_LIMITS } from "../../ts/protocol/nts-ke-records.js";
import { EF_NTS_AUTHENTICATOR, EF_NTS_COOKIE, EF_NTS_COOKIE_PLACEHOLDER, EF_UNIQUE_IDENTIFIER, aeadKeyLength } from "../../ts/protocol/nts-client.js";
import { concat, ef, fields, loadCoreAndAead, ntsResponse } from "./support.js";

let core: TockCore;
let aead: Aead;
beforeAll(async () => ({ core, aead } = await loadCoreAndAead()));

const RESOLVER = new StaticResolver({
  "ke.example": [{ address: "192.0.2.1", family: 4 }],
  "time.example": [{ address: "192.0.2.2", family: 4 }],
});

type NtpBehaviour = "honest" | "nak" | "wrong-key" | "forged-first" | "plain" | "silent" | ((honest: Uint8Array) => Uint8Array);

interface World {
  run(...argv: string[]): Promise<number>;
  out: string[];
  err: string[];
  dialer: SimKeDialer;
  transport: SimTransport;
  /** Requests whose authenticator did NOT verify under c2s at the scripted server. */
  badRequests: number;
}

/**
 * A KE server that hands out cookies naming a key set (cookie = 4-byte session number + filler),
 * and an NTP server that looks the cookie up, verifies the request and answers per `behaviour(i)`.
 */
function world(options: {
  ke?: (target: KeTarget, session: number) => "ok" | "error-record" | KeFailure;
  negotiate?: { server?: string; port?: number };
  behaviour?: (requestIndex: number) => NtpBehaviour;
  serverAhead?: number;
} = {}): World {
  const clock = new SimClock(BigInt(1767225600 + 2208988800) << 32n);
  const sessions: Array<{ aead: number; c2s: Uint8Array; s2c: Uint8Array }> = [];
  const state = { badRequests: 0 };
  let cookieSerial = 0;
  const newCookie = (session: number) => {
    const cookie = new Uint8Array(64).fill(++cookieSerial & 0xff);
    new DataView(cookie.buffer).setUint32(0, session);
    return cookie;
  };

  const dialer = new SimKeDialer((target) => {
    const session = sessions.length;
    const verdict = options.ke?.(target, session) ?? "ok";
    if (verdict instanceof KeFailure) return verdict;
    const secret = Buffer.from(`tls-session-${session}`);
    const exporter = (length: number, label: string, context: Uint8Array) =>
      new Uint8Array(hkdfSync("sha256", secret, Buffer.alloc(0), Buffer.concat([Buffer.from(label), Buffer.from(context)]), length));
    return {
      exportKeyingMaterial: exporter,
      respond(request) {
        if (verdict === "error-record") return [buildKeErrorResponse(2)];
        const decoded = decodeKeMessage(request, REQUEST_LIMITS);
        if (decoded.state !== "done") throw new Error("client sent a bad KE request");
        const req = interpretKeRequest(decoded.records);
        if (!req.ok) throw new Error(req.reason);
        const chosen = req.value.aeadAlgorithms[0]!;
        const ctx = (d: number) => Uint8Array.from([0, 0, chosen >> 8, chosen & 0xff, d]);
        sessions.push({ aead: chosen, c2s: exporter(aeadKeyLength(chosen), "EXPORTER-network-time-security", ctx(0)), s2c: exporter(aeadKeyLength(chosen), "EXPORTER-network-time-security", ctx(1)) });
        const bytes = buildKeResponse({ protocols: [0], aead: chosen, cookies: Array.from({ length: 8 }, () => newCookie(session)), ...options.negotiate });
        // Deliver in two chunks, splitting a record, as TLS records may.
        return [bytes.subarray(0, 7), bytes.subarray(7)];
      },
    };
  });

  let requestIndex = 0;
  const transport = new SimTransport(clock, (request: Uint8Array, _to: Endpoint): SimReply[] => {
    const i = requestIndex++;
    const efs = fields(request);
    const cookie = efs.find((f) => f.type === EF_NTS_COOKIE)!.body;
    const session = sessions[new DataView(cookie.buffer, cookie.byteOffset).getUint32(0)]!;
    const auth = efs.find((f) => f.type === EF_NTS_AUTHENTICATOR)!;
    const nonceLength = (auth.body[0]! << 8) | auth.body[1]!;
    const ctLength = (auth.body[2]! << 8) | auth.body[3]!;
    const nonce = auth.body.subarray(4, 4 + nonceLength);
    const ct = auth.body.subarray(4 + ((nonceLength + 3) & ~3), 4 + ((nonceLength + 3) & ~3) + ctLength);
    if (aead.open(session.aead, session.c2s, nonce, [request.subarray(0, auth.offset)], ct) === null) state.badRequests++;
    const placeholders = efs.filter((f) => f.type === EF_NTS_COOKIE_PLACEHOLDER).length;
    const d = 0.01;
    const t2 = clock.now() + BigInt(Math.round((d + (options.serverAhead ?? 0.5)) * 2 ** 32));
    const header = { receiveTime: t2, transmitTime: t2 + 429497n };
    const fresh = Array.from({ length: placeholders + 1 }, () => newCookie(sessions.indexOf(session)));
    const honest = () => ntsResponse(core, request, { aead, algorithm: session.aead, s2c: session.s2c, cookies: fresh, header });
    const behaviour = options.behaviour?.(i) ?? "honest";
    if (typeof behaviour === "function") return [{ bytes: behaviour(honest()), after: 2 * d }];
    switch (behaviour) {
      case "honest":
        return [{ bytes: honest(), after: 2 * d }];
      case "silent":
        return [];
      case "wrong-key":
        return [{ bytes: ntsResponse(core, request, { aead, algorithm: session.aead, s2c: session.c2s, cookies: fresh, header }), after: 2 * d }];
      case "forged-first": {
        // An attacker's answer (ahead by 1000 s, wrong key) arrives before the genuine one.
        const forgedHeader = { receiveTime: t2 + (1000n << 32n), transmitTime: t2 + (1000n << 32n) };
        const forged = ntsResponse(core, request, { aead, algorithm: session.aead, s2c: new Uint8Array(session.s2c.length), cookies: fresh, header: forgedHeader });
        return [{ bytes: forged, after: d }, { bytes: honest(), after: 2 * d }];
      }
      case "plain": {
        const h = core.parsePacket(request).header!;
        const plain = core.buildHeader({ leap: 0, version: 4, mode: 4, stratum: 2, poll: 4, precision: -20, rootDelay: 0, rootDispersion: 0, referenceId: 1, referenceTime: t2, originTime: h.transmitTime, ...header });
        return [{ bytes: plain, after: 2 * d }];
      }
      case "nak": {
        const h = core.parsePacket(request).header!;
        const kod = core.buildHeader({ leap: 3, version: 4, mode: 4, stratum: 0, poll: 4, precision: -20, rootDelay: 0, rootDispersion: 0, referenceId: 0x4e54534e, referenceTime: 0n, originTime: h.transmitTime, receiveTime: 0n, transmitTime: 0n });
        const uid = efs.find((f) => f.type === EF_UNIQUE_IDENTIFIER)!.body;
        return [{ bytes: concat(kod, ef(EF_UNIQUE_IDENTIFIER, uid)), after: 2 * d }];
      }
    }
  });

  const out: string[] = [];
  const err: string[] = [];
  let counter = 0n;
  let randomCounter = 0;
  return {
    out,
    err,
    dialer,
    transport,
    get badRequests() {
      return state.badRequests;
    },
    run: (...argv) =>
      runQuery(argv, {
        core,
        clock,
        transport,
        resolver: RESOLVER,
        random64: () => 0x5eed0000_00000000n + ++counter,
        sleep: async (ms) => clock.advance(ms / 1000),
        stdout: (t) => out.push(t),
        stderr: (t) => err.push(t),
        nts: { dialer, aead, randomBytes: (n) => new Uint8Array(n).fill(++randomCounter & 0xff) },
      }),
  };
}

const json = (w: World) => JSON.parse(w.out.join("")) as Record<string, any>;

describe("tock query --nts (simulated)", () => {
  it("KE on port 4460 by default, NTP to the KE host on 123, authenticated sample printed", async () => {
    const w = world();
    expect(await w.run("--nts", "ke.example")).toBe(ExitCode.Ok);
    expect(w.dialer.dialed[0]).toMatchObject({ address: "192.0.2.1", port: 4460, host: "ke.example" });
    expect(w.transport.sent[0]!.to).toMatchObject({ address: "192.0.2.1", port: 123 });
    const text = w.out.join("");
    expect(text).toMatch(/^offset +\+0\.5/m);
    expect(text).toMatch(/^NTS +authenticated \(AEAD AES-SIV-CMAC-512, cookies 8, KE ke\.example:4460\)$/m);
    expect(w.badRequests).toBe(0);
  });

  it("Server and Port Negotiation are honoured; placeholders keep the jar at 8 over many samples", async () => {
    const w = world({ negotiate: { server: "time.example", port: 10123 } });
    expect(await w.run("--nts", "ke.example:14460", "--samples", "5", "--interval", "10", "--json")).toBe(ExitCode.Ok);
    expect(w.dialer.dialed[0]!.port).toBe(14460);
    expect(w.transport.sent.every((s) => s.to.address === "192.0.2.2" && s.to.port === 10123)).toBe(true);
    expect(json(w)).toMatchObject({ status: "ok", samplesValid: 5, address: "192.0.2.2", port: 10123, nts: { authenticated: true, cookies: 8, keyExchanges: 1 } });
    // Placeholders: 0 for the first (7 left), and 0 again after each reply refills to 8.
    expect(w.transport.sent.map((s) => fields(s.bytes).filter((f) => f.type === EF_NTS_COOKIE_PLACEHOLDER).length)).toEqual([0, 0, 0, 0, 0]);
    expect(w.badRequests).toBe(0);
  });

  it("a NAK triggers exactly one fresh KE and a retry", async () => {
    const w = world({ behaviour: (i) => (i === 0 ? "nak" : "honest") });
    expect(await w.run("--nts", "ke.example", "--json")).toBe(ExitCode.Ok);
    expect(json(w)).toMatchObject({ status: "ok", nts: { keyExchanges: 2, cookies: 8 } });
    expect(w.dialer.dialed).toHaveLength(2);
  });

  it("NAKs even after a fresh KE: NTS authentication failure (exit 10)", async () => {
    const w = world({ behaviour: () => "nak" });
    expect(await w.run("--nts", "ke.example", "--json")).toBe(ExitCode.NtsAuthFailure);
    expect(json(w)).toMatchObject({ status: "nts-auth-failure", nts: { keyExchanges: 2 } });
    expect(json(w).offset).toBeUndefined();
  });

  it("responses under the wrong key are never used: exit 10, no time", async () => {
    const w = world({ behaviour: () => "wrong-key" });
    expect(await w.run("--nts", "ke.example", "--samples", "2", "--json")).toBe(ExitCode.NtsAuthFailure);
    expect(json(w).offset).toBeUndefined();
    expect(json(w).error).toMatch(/authentication-failed/);
  });

  it("an unprotected NTP answer is not a fallback: exit 10", async () => {
    const w = world({ behaviour: () => "plain" });
    expect(await w.run("--nts", "ke.example", "--json")).toBe(ExitCode.NtsAuthFailure);
    expect(json(w).error).toMatch(/no-authenticator/);
  });

  it("a forged response arriving first is ignored; the genuine one is used", async () => {
    const w = world({ behaviour: () => "forged-first", serverAhead: 0.25 });
    expect(await w.run("--nts", "ke.example", "--json")).toBe(ExitCode.Ok);
    expect(json(w).offset).toBeCloseTo(0.25, 3);
  });

  it("cookies running out (every request lost) trigger a new KE", async () => {
    const w = world({ behaviour: () => "silent" });
    expect(await w.run("--nts", "ke.example", "--samples", "10", "--interval", "0", "--timeout", "100", "--json")).toBe(ExitCode.Timeout);
    expect(json(w)).toMatchObject({ status: "timeout", nts: { keyExchanges: 2 } });
    expect(w.transport.sent).toHaveLength(10);
    // Each cookie is sent once (§5.7 unlinkability).
    const cookies = w.transport.sent.map((s) => Buffer.from(fields(s.bytes).find((f) => f.type === EF_NTS_COOKIE)!.body).toString("hex"));
    expect(new Set(cookies).size).toBe(10);
  });

  it("KE Error record, refused connection and bad certificate: exit 9 with the reason", async () => {
    const errorRecord = world({ ke: () => "error-record" });
    expect(await errorRecord.run("--nts", "ke.example", "--json")).toBe(ExitCode.NtsKeFailure);
    expect(json(errorRecord).error).toMatch(/Error 2 \(internal server error\)/);
    const refused = world({ ke: () => new KeFailure("network", "connect ECONNREFUSED") });
    expect(await refused.run("--nts", "ke.example")).toBe(ExitCode.NtsKeFailure);
    expect(refused.err.join("")).toMatch(/ECONNREFUSED/);
    const cert = world({ ke: () => new KeFailure("certificate", "certificate not trusted") });
    expect(await cert.run("--nts", "ke.example", "--json")).toBe(ExitCode.NtsKeFailure);
    expect(json(cert)).toMatchObject({ status: "nts-ke-failure", address: "192.0.2.1", port: 4460 });
    expect(cert.transport.sent).toHaveLength(0);
  });

  it("mangled responses never yield time other than the server's (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(2000), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(400), async (edits, cut) => {
        const w = world({
          serverAhead: 0.125,
          behaviour: () => (honest: Uint8Array) => {
            const bad = honest.slice(0, Math.max(48, honest.length - cut));
            for (const [at, value] of edits) if (at < bad.length) bad[at] = value;
            return bad;
          },
        });
        const code = await w.run("--nts", "ke.example", "--json", "--timeout", "100");
        expect([ExitCode.Ok, ExitCode.NtsAuthFailure, ExitCode.Timeout]).toContain(code);
        // A packet that still authenticates is byte-identical where it matters: same time.
        if (code === ExitCode.Ok) expect(json(w).offset).toBeCloseTo(0.125, 3);
      }),
      { numRuns: 150 },
    );
  });

  it("an unresolvable KE host is a DNS failure; --certificate-authority needs --nts", async () => {
    const w = world();
    expect(await w.run("--nts", "nowhere.example")).toBe(ExitCode.DnsFailure);
    expect(await w.run("--certificate-authority", "/tmp/ca.crt", "ke.example")).toBe(ExitCode.Usage);
    expect(w.err.join("")).toMatch(/--certificate-authority needs --nts/);
  });
});
