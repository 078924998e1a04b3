// The real NTS-KE client (node:tls) against small node:tls servers on loopback that behave well or
// badly: keys must equal what the server's own TLS exporter derives (RFC 8915 §5.1 label and
// context), and every misbehaviour must end as a classified KeFailure within the deadline — no
// ALPN, TLS 1.2, silence, a flood, a truncated response, an Error record, a wrong name, an
// untrusted CA.
import tls from "node:tls";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeFailure, TlsKeDialer, keyExchange, type KeFailureKind } from "../../ts/daemon/nts-ke-client.js";
import { NTS_EXPORTER_LABEL, buildKeErrorResponse, buildKeResponse, encodeKeRecords, ntsExporterContext } from "../../ts/protocol/nts-ke-records.js";
import { peerOrSkip, privateTempDir, stopAllPeers } from "../interop/peers.js";
import { makeTestPki, type TestPki } from "./certs.js";

const openssl = peerOrSkip("openssl");

type Behaviour = (socket: tls.TLSSocket, request: Buffer) => void;

const servers: tls.Server[] = [];

async function serve(pki: TestPki, behaviour: Behaviour, options: tls.TlsOptions = {}): Promise<number> {
  const server = tls.createServer({
    cert: fs.readFileSync(pki.serverCert),
    key: fs.readFileSync(pki.serverKey),
    ALPNProtocols: ["ntske/1"],
    minVersion: "TLSv1.2",
    ...options,
  });
  server.on("secureConnection", (socket) => {
    let request = Buffer.alloc(0);
    let answered = false;
    socket.on("data", (chunk: Buffer) => {
      request = Buffer.concat([request, chunk]);
      // The client's request ends with End of Message (0x8000 0000).
      if (!answered && request.length >= 4 && request.subarray(-4).equals(Buffer.from([0x80, 0, 0, 0]))) {
        answered = true;
        behaviour(socket, request);
      }
    });
    socket.on("error", () => {});
  });
  server.on("tlsClientError", () => {});
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const cookies = Array.from({ length: 8 }, (_, i) => new Uint8Array(100).fill(i));
const goodResponse = buildKeResponse({ protocols: [0], aead: 15, cookies, port: 11123 });

async function failureOf(promise: Promise<unknown>): Promise<KeFailure> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(KeFailure);
    return err as KeFailure;
  }
  throw new Error("expected a KeFailure");
}

describe.skipIf(!openssl)("NTS-KE client over real TLS", () => {
  let pki: TestPki;
  const dialer = new TlsKeDialer();
  const target = (port: number, extra: { host?: string; caFile?: string } = {}) => ({
    address: "127.0.0.1",
    port,
    host: extra.host ?? "127.0.0.1",
    caFile: extra.caFile ?? pki.caCert,
  });

  beforeAll(async () => {
    pki = await makeTestPki(openssl!, privateTempDir("tock-ke-tls-"));
  }, 30_000);

  afterAll(async () => {
    for (const s of servers) s.close();
    await stopAllPeers();
  });

  it("keys equal the server's own exporter output for c2s and s2c (§5.1)", async () => {
    const serverKeys: Buffer[] = [];
    const port = await serve(pki, (socket) => {
      serverKeys.push(socket.exportKeyingMaterial(32, NTS_EXPORTER_LABEL, Buffer.from(ntsExporterContext(15, "c2s"))));
      serverKeys.push(socket.exportKeyingMaterial(32, NTS_EXPORTER_LABEL, Buffer.from(ntsExporterContext(15, "s2c"))));
      socket.end(goodResponse);
    });
    const session = await keyExchange(dialer, target(port), { timeoutMs: 3000 });
    expect(Buffer.from(session.c2s)).toEqual(serverKeys[0]);
    expect(Buffer.from(session.s2c)).toEqual(serverKeys[1]);
    expect(session.c2s).not.toEqual(session.s2c);
    expect(session).toMatchObject({ aead: 15, ntpServer: "127.0.0.1", ntpPort: 11123 });
    expect(session.cookies.size).toBe(8);
  });

  it("by name: SNI carries the name and the certificate's DNS name is checked", async () => {
    let sni: string | false = false;
    const port = await serve(pki, (socket) => {
      sni = (socket as tls.TLSSocket & { servername: string | false }).servername;
      socket.end(goodResponse);
    });
    await keyExchange(dialer, target(port, { host: "localhost" }), { timeoutMs: 3000 });
    expect(sni).toBe("localhost");
  });

  const failures: Array<[string, KeFailureKind, RegExp, Behaviour, tls.TlsOptions?, { host?: string; other?: boolean }?]> = [
    ["no ALPN", "tls", /ALPN/, (s) => s.end(goodResponse), { ALPNProtocols: [] }],
    ["TLS 1.2 only", "tls", /^TLS failed: tlsv1 alert protocol version/, (s) => s.end(goodResponse), { maxVersion: "TLSv1.2" }],
    ["an Error record", "error-record", /Error 1/, (s) => s.end(buildKeErrorResponse(1))],
    ["a truncated response", "protocol", /without End of Message/, (s) => s.end(goodResponse.subarray(0, 50))],
    ["a flood without End of Message", "protocol", /exceeds|limit|reached/, (s) => {
      const junk = encodeKeRecords([{ type: "new-cookie", critical: false, cookie: new Uint8Array(60000) }]);
      s.write(junk);
      s.write(junk);
    }],
    ["an unknown critical record", "protocol", /critical/, (s) => s.end(Buffer.from([0x80 | 0x12, 0x34, 0, 0, 0x80, 0, 0, 0]))],
    ["no NTPv4 / no cookies", "protocol", /cookies/, (s) => s.end(buildKeResponse({ protocols: [0], aead: 15, cookies: [] }))],
    ["only oversized cookies", "protocol", /no usable cookie/, (s) => s.end(buildKeResponse({ protocols: [0], aead: 15, cookies: [new Uint8Array(5000)] }))],
    ["silence", "timeout", /within 400 ms/, () => {}],
    ["a name the certificate does not cover", "certificate", /certificate/, (s) => s.end(goodResponse), {}, { host: "wrong.example" }],
    ["an untrusted CA", "certificate", /certificate/, (s) => s.end(goodResponse), {}, { other: true }],
  ];
  for (const [name, kind, message, behaviour, options, extra] of failures) {
    it(`${name} → ${kind}`, async () => {
      const port = await serve(pki, behaviour, options);
      const started = Date.now();
      const failure = await failureOf(
        keyExchange(dialer, target(port, { ...(extra?.host ? { host: extra.host } : {}), ...(extra?.other ? { caFile: pki.otherCaCert } : {}) }), { timeoutMs: 400 }),
      );
      expect(failure.kind).toBe(kind);
      expect(failure.message).toMatch(message);
      expect(Date.now() - started).toBeLessThan(3000);
    });
  }

  it("a refused connection → network; a missing CA file → configuration", async () => {
    const port = await serve(pki, () => {});
    servers.at(-1)!.close();
    await new Promise((r) => setTimeout(r, 50));
    expect((await failureOf(keyExchange(dialer, target(port), { timeoutMs: 1000 }))).kind).toBe("network");
    expect((await failureOf(keyExchange(dialer, target(port, { caFile: "/nonexistent/ca.crt" }), { timeoutMs: 1000 }))).kind).toBe("configuration");
  });
});
