// NtsService (the daemon's NTS assembly) without a KE listener ([keyset] key-storage-path alone
// turns NTS on): kernels in another WASM instance — as the batch engine's workers would run — built
// from workerSetup() answer requests with cookies this instance minted, follow rotations through
// onKeys, and their counters add up.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../ts/config/load.js";
import { NtsService, ntsEnabled } from "../../ts/daemon/nts-service.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createServerKernel } from "../../ts/core/server.js";
import { createNtsServerCore } from "../../ts/core/nts-server.js";
import { createAead } from "../../ts/core/aead.js";
import { CLIENT, T0, ntsRequest, openResponse, session } from "./support.js";
import { connect } from "node:tls";
import { makeCerts } from "./certs.js";
import { freePort, ipv6LoopbackAvailable } from "../interop/peer-process.js";
import { peerOrSkip } from "../interop/peer-find.js";
import { buildKeRequest, decodeKeMessage, interpretKeResponse } from "../../ts/protocol/nts-ke-records.js";

const openssl = peerOrSkip("openssl");

const dir = mkdtempSync(join(tmpdir(), "tock-nts-service-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("NtsService", () => {
  it("is off without [[nts-ke-server]] or key-storage-path", () => {
    expect(ntsEnabled(parseConfig('[[server]]\nlisten = "127.0.0.1:1123"\n', "t.toml"))).toBe(false);
  });

  it("feeds kernels in another WASM instance (worker-style) and sums their counters", async () => {
    let now = 1_800_000_000;
    const config = parseConfig(`[keyset]\nkey-storage-path = "${join(dir, "keys.json")}"\nkey-rotation-interval = 3600\nstale-key-count = 1\n`, "t.toml");
    const main = await loadFreshCore();
    const service = (await NtsService.create(config, main.wasm, { now: () => now }))!;
    expect(service.keAddresses).toEqual([]);
    try {
      // the "worker"
      const worker = await loadFreshCore();
      const kernel = createServerKernel(worker.wasm, { batchSize: 4 });
      const setup = service.workerSetup();
      const workerNts = createNtsServerCore(worker.wasm, { maxKeys: setup.maxKeys, batchSize: 4 });
      service.onKeys((k) => workerNts.setKeys(k.keys, k.currentId));
      workerNts.attach(kernel);
      service.addCounterSource(() => workerNts.counters());

      const aead = createAead(worker.wasm);
      const s = session(aead);
      const cookie = service.core.mintCookie(15, s.c2s, s.s2c);
      const { packet, uid } = ntsRequest(aead, s, cookie, { placeholders: 1 });
      workerNts.refillRandom();
      const r = kernel.handleOne(packet, CLIENT, 123, T0, T0);
      expect(openResponse(aead, s, r.response!, uid)?.length).toBe(2);
      expect(service.counters().answered).toBe(1);

      // two rotations later (stale-key-count 1) the worker NAKs the old cookie, like the main core
      now += 2 * 3600;
      service.keyset.rotate();
      workerNts.refillRandom();
      const again = ntsRequest(aead, s, cookie);
      const nak = kernel.handleOne(again.packet, CLIENT, 123, T0, T0);
      expect(String.fromCharCode(...nak.response!.subarray(12, 16))).toBe("NTSN");
      expect(service.core.openCookie(cookie)).toBe("unknown-key");
      expect(service.counters().nak_unknown_key).toBe(1);
    } finally {
      await service.stop();
    }
  });

  it.skipIf(!openssl)("serves NTS-KE on an IPv6 listener and announces Server/Port Negotiation from ntp-server = HOST:PORT", async () => {
    if (!(await ipv6LoopbackAvailable())) return;
    const certs = makeCerts();
    const kePort = await freePort({ host: "::1", tcp: true });
    const config = parseConfig(
      `[[nts-ke-server]]\nlisten = "[::1]:${kePort}"\ncertificate-chain-path = "${certs.certPath}"\nprivate-key-path = "${certs.keyPath}"\nntp-server = "time.example.net:1123"\n`,
      "t.toml",
    );
    const service = (await NtsService.create(config, (await loadFreshCore()).wasm))!;
    try {
      expect(service.keAddresses[0]).toMatch(/^\[::1\]:\d+$/);
      const port = Number(service.keAddresses[0]!.split("]:")[1]);
      const bytes = await new Promise<Buffer>((resolve, reject) => {
        const socket = connect({ host: "::1", port, ca: certs.ca, servername: "localhost", ALPNProtocols: ["ntske/1"] });
        const chunks: Buffer[] = [];
        socket.on("secureConnect", () => socket.write(buildKeRequest({ aeadAlgorithms: [15] })));
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("error", reject);
        socket.on("close", () => resolve(Buffer.concat(chunks)));
      });
      const decoded = decodeKeMessage(bytes);
      const r = decoded.state === "done" ? interpretKeResponse(decoded.records, [15]) : undefined;
      expect(r?.ok && r.value).toMatchObject({ aead: 15, server: "time.example.net", port: 1123 });
    } finally {
      await service.stop();
      rmSync(certs.dir, { recursive: true, force: true });
    }
  });
});
