// establishNtsSession (ts/daemon/nts-establish.ts): the KE server's addresses are tried in order only
// while failures are the network's; a certificate failure is final; the NTP server named by the KE
// response is resolved (Server/Port Negotiation), else the KE server's address and port 123.
import { hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { establishNtsSession } from "../../ts/daemon/nts-establish.js";
import { KeFailure, SimKeDialer, type KeTarget, type SimKeConnection } from "../../ts/daemon/nts-ke-client.js";
import { StaticResolver } from "../../ts/daemon/resolver.js";
import { buildKeResponse } from "../../ts/protocol/nts-ke-records.js";

const resolver = new StaticResolver({
  "ke.example": [{ address: "192.0.2.1", family: 4 }, { address: "192.0.2.3", family: 4 }],
  "time.example": [{ address: "192.0.2.2", family: 4 }],
});

function connection(negotiate: { server?: string; port?: number }): SimKeConnection {
  return {
    respond: () => [buildKeResponse({ protocols: [0], aead: 15, cookies: [new Uint8Array(64).fill(1)], ...negotiate })],
    exportKeyingMaterial: (length, label, context) =>
      new Uint8Array(hkdfSync("sha256", Buffer.from("s"), Buffer.alloc(0), Buffer.concat([Buffer.from(label), Buffer.from(context)]), length)),
  };
}

const server = { host: "ke.example", port: 4460, caFile: "/ca.pem" };

describe("establishNtsSession", () => {
  it("a refused first address: the second is tried; the negotiated server and port are resolved", async () => {
    const dialer = new SimKeDialer((t: KeTarget) => (t.address === "192.0.2.1" ? new KeFailure("network", "ECONNREFUSED") : connection({ server: "time.example", port: 1123 })));
    const { session, to } = await establishNtsSession(server, { resolver, dialer, timeoutMs: 1000 });
    expect(dialer.dialed.map((t) => [t.address, t.port, t.host, t.caFile])).toEqual([
      ["192.0.2.1", 4460, "ke.example", "/ca.pem"],
      ["192.0.2.3", 4460, "ke.example", "/ca.pem"],
    ]);
    expect(session.aead).toBe(15);
    expect(to).toEqual({ address: "192.0.2.2", port: 1123, family: 4 });
  });

  it("a certificate failure is final (no second address), and its message is kept", async () => {
    const dialer = new SimKeDialer(() => new KeFailure("certificate", "certificate not trusted: self signed"));
    await expect(establishNtsSession(server, { resolver, dialer, timeoutMs: 1000 })).rejects.toThrow(/certificate not trusted/);
    expect(dialer.dialed).toHaveLength(1);
  });

  it("no negotiation: the KE server's address (the one that answered) and port 123", async () => {
    const dialer = new SimKeDialer(() => connection({}));
    const { to } = await establishNtsSession(server, { resolver, dialer, timeoutMs: 1000 });
    expect(to).toEqual({ address: "192.0.2.1", port: 123, family: 4 });
  });

  it("an unresolvable KE server or negotiated server rejects with the resolver's message", async () => {
    const dialer = new SimKeDialer(() => connection({ server: "nowhere.example" }));
    await expect(establishNtsSession({ ...server, host: "missing.example" }, { resolver, dialer, timeoutMs: 1000 })).rejects.toThrow(/cannot resolve missing.example/);
    await expect(establishNtsSession(server, { resolver, dialer, timeoutMs: 1000 })).rejects.toThrow(/cannot resolve nowhere.example/);
  });
});
