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
});
