// tock ↔ tock over NTS: `tock query --nts` (this client) against tock's own NTS-KE server and
// NTS-capable WASM server kernel, assembled in-process as test/interop/nts-server-chrony.test.ts
// does (NtsService + kernel over node:dgram on loopback). Real peers judge each side separately
// (nts-query-chronyd/ntpsec, nts-server-chrony); this checks the two halves agree with each other,
// every AEAD the server offers included, and that the server's NAK path drives the client's re-KE.
import { createSocket, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../ts/cli/query.js";
import { runTockQuery } from "./tock-query.js";
import { webcrypto } from "node:crypto";
import { createAead, type Aead } from "../../ts/core/aead.js";
import type { TockCore } from "../../ts/core/api.js";
import { TlsKeDialer, keyExchange } from "../../ts/daemon/nts-ke-client.js";
import { buildClientRequest } from "../../ts/protocol/client-exchange.js";
import { NtsAssociation, aeadNonceLength, type NtsResponseOutcome } from "../../ts/protocol/nts-client.js";
import { parseConfig } from "../../ts/config/load.js";
import { createServerKernel, type ServerKernel } from "../../ts/core/server.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { NtsService } from "../../ts/daemon/nts-service.js";
import { makeTestPki, type TestPki } from "../nts-client/certs.js";
import { freePort, peerOrSkip, privateTempDir, stopAllPeers } from "./peers.js";
import { nowNtp } from "./nts-server-support.js";

const openssl = peerOrSkip("openssl");

const tockQuery = (...argv: string[]) => runTockQuery(argv, { nts: true });

describe.skipIf(!openssl)("tock query --nts ↔ tock NTS server", () => {
  let pki: TestPki;
  let nts: NtsService;
  let kernel: ServerKernel;
  let udp: Socket;
  let ntpPort: number;
  let kePort: number;
  /** Responses the NTP side has sent. */
  let answered = 0;

  beforeAll(async () => {
    pki = await makeTestPki(openssl!, privateTempDir("tock-nts-tock-"));
    ntpPort = await freePort();
    kePort = await freePort({ tcp: true });
    const config = parseConfig(
      [
        "[[nts-ke-server]]",
        `listen = "127.0.0.1:${kePort}"`,
        `certificate-chain-path = "${pki.serverCert}"`,
        `private-key-path = "${pki.serverKey}"`,
        `ntp-port = ${ntpPort}`,
        `ntp-server = "127.0.0.1"`,
      ].join("\n") + "\n",
      "nts.toml",
    );
    const { wasm } = await loadFreshCore();
    kernel = createServerKernel(wasm, { batchSize: 1, maxRequestBytes: 2048 });
    kernel.setSystemState({ leap: 0, stratum: 6, precision: -20, referenceId: "LOCL", rootDelay: 0, rootDispersion: 0.001, referenceTime: nowNtp() });
    nts = (await NtsService.create(config, wasm))!;
    nts.attach(kernel);
    udp = createSocket("udp4");
    udp.on("message", (msg, rinfo) => {
      const rx = nowNtp();
      nts.refillRandom();
      const r = kernel.handleOne(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), rinfo.address, rinfo.port, rx, nowNtp());
      if (r.response) {
        answered++;
        udp.send(r.response, rinfo.port, rinfo.address);
      }
    });
    await new Promise<void>((resolve) => udp.bind(ntpPort, "127.0.0.1", resolve));
  }, 60_000);

  afterAll(async () => {
    udp?.close();
    await nts?.stop();
    await stopAllPeers();
  });

  it("authenticated samples, offset near zero, negotiated port honoured, jar kept at 8", async () => {
    const { code, json, stderr } = await tockQuery("--nts", `127.0.0.1:${kePort}`, "--certificate-authority", pki.caCert, "--samples", "4", "--interval", "50");
    expect(stderr).toBe("");
    expect(code).toBe(ExitCode.Ok);
    expect(json).toMatchObject({ status: "ok", port: ntpPort, stratum: 6, samplesValid: 4 });
    expect(Math.abs(json.offset as number)).toBeLessThan(0.01);
    expect(json.nts).toMatchObject({ authenticated: true, cookies: 8, keyExchanges: 1 });
    const c = nts.counters();
    expect(c.nak_bad_authenticator + c.nak_bad_cookie + c.nak_unknown_key, JSON.stringify(c)).toBe(0);
  });

  it("by name, with the wrong CA → exit 9; with no CA file → system CAs do not trust it → exit 9", async () => {
    expect((await tockQuery("--nts", `localhost:${kePort}`, "-4", "--certificate-authority", pki.caCert)).code).toBe(ExitCode.Ok);
    expect((await tockQuery("--nts", `127.0.0.1:${kePort}`, "--certificate-authority", pki.otherCaCert)).code).toBe(ExitCode.NtsKeFailure);
    expect((await tockQuery("--nts", `127.0.0.1:${kePort}`)).code).toBe(ExitCode.NtsKeFailure);
  });

  it("nothing but authentic answers is used: the server's answers all authenticate, none is dropped", async () => {
    const before = answered;
    const { code, json } = await tockQuery("--nts", `127.0.0.1:${kePort}`, "--certificate-authority", pki.caCert, "--samples", "8", "--interval", "0");
    expect(code).toBe(ExitCode.Ok);
    expect(json.samplesValid).toBe(8);
    expect(answered - before).toBe(8);
  });

  describe("the sans-IO association against the server kernel", () => {
    let core: TockCore;
    let aead: Aead;
    beforeAll(async () => {
      const loaded = await loadFreshCore();
      core = loaded.core;
      aead = createAead(loaded.wasm);
    });

    /** One NTS request from `association` over a fresh UDP socket; the first answer's verdict. */
    async function poll(association: NtsAssociation): Promise<NtsResponseOutcome | "no-answer"> {
      const header = buildClientRequest(core, webcrypto.getRandomValues(new BigUint64Array(1))[0]!);
      const built = association.prepareRequest(aead, {
        header: header.bytes,
        originTime: header.nonce,
        uniqueId: webcrypto.getRandomValues(new Uint8Array(32)),
        nonce: webcrypto.getRandomValues(new Uint8Array(aeadNonceLength(association.session!.aead))),
      });
      if (built.kind !== "request") throw new Error(`no request: ${built.reason}`);
      const socket = createSocket("udp4");
      try {
        const reply = new Promise<Buffer | null>((resolve) => {
          socket.once("message", (m) => resolve(m));
          setTimeout(() => resolve(null), 2000);
        });
        socket.send(built.bytes, ntpPort, "127.0.0.1");
        const bytes = await reply;
        return bytes === null ? "no-answer" : association.handleResponse(core, aead, new Uint8Array(bytes));
      } finally {
        socket.close();
      }
    }

    for (const algorithm of [15, 16, 17, 30]) {
      it(`AEAD ${algorithm}: negotiated, requests verify at the server, responses verify here`, async () => {
        const session = await keyExchange(new TlsKeDialer(), { address: "127.0.0.1", port: kePort, host: "127.0.0.1", caFile: pki.caCert }, { timeoutMs: 3000, aeadAlgorithms: [algorithm] });
        expect(session.aead).toBe(algorithm);
        const association = new NtsAssociation();
        association.installSession(session);
        for (let i = 0; i < 3; i++) expect(await poll(association)).toMatchObject({ kind: "authenticated" });
        expect(association.session!.cookies.size).toBe(8);
      });
    }

    it("a mangled cookie gets tock's NTS NAK, which the association turns into a KE request", async () => {
      const dial = () => keyExchange(new TlsKeDialer(), { address: "127.0.0.1", port: kePort, host: "127.0.0.1", caFile: pki.caCert }, { timeoutMs: 3000 });
      const session = await dial();
      const cookies = [];
      for (let c = session.cookies.take(); c !== undefined; c = session.cookies.take()) cookies.push(c);
      cookies[0]![cookies[0]!.length - 1]! ^= 0x01;
      for (const c of cookies) session.cookies.add(c);
      const association = new NtsAssociation();
      association.installSession(session);
      expect(await poll(association)).toEqual({ kind: "nak" });
      expect(association.needsKeyExchange).toBe("nak");
      association.installSession(await dial());
      expect(await poll(association)).toMatchObject({ kind: "authenticated" });
    });
  });
});
