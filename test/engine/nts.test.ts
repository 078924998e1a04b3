// The batch engine answers NTS (RFC 8915 §5): real worker threads, each with its own WASM instance and
// NTS state built from the daemon's NtsService keys. Responses verify under S2C and are never larger
// than their request, a mangled cookie is NAKed, the workers' NTS counters add up in the service's
// counters, key rotations reach the workers (cookies under the new key work, stale ones still do,
// expired ones are NAKed), and a restarted worker starts from the current keys.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../ts/config/load.js";
import { NtsService } from "../../ts/daemon/nts-service.js";
import { BatchServer } from "../../ts/daemon/batch-engine.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createAead, type Aead } from "../../ts/core/aead.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { MetricsRegistry } from "../../ts/observe/metrics.js";
import { kissCode, ntsRequest, openResponse, session, type ClientSession } from "../nts-server/support.js";
import { Client, batchEngineAvailable, until } from "./support.js";

const STATE = { leap: 0 as const, stratum: 8, precision: -20, referenceId: 0x7f7f0101, rootDelay: 0, rootDispersion: 0.001, referenceTime: 0n };
const ROTATION = 3600;
const cleanup: (() => unknown)[] = [];
const dir = mkdtempSync(join(tmpdir(), "tock-batch-nts-"));
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!batchEngineAvailable)("batch engine with NTS", () => {
  let now = 1_800_000_000;
  let service: NtsService;
  let server: BatchServer;
  let port: number;
  let aead: Aead;
  let s: ClientSession;
  const metrics = new MetricsRegistry();
  /** Clients on 16 loopback addresses: the reuseport program steers by address, so both workers serve. */
  let clients: Client[];
  let sent = 0;

  beforeAll(async () => {
    if (!batchEngineAvailable) return;
    const config = parseConfig(`[keyset]\nkey-storage-path = "${join(dir, "keys.json")}"\nkey-rotation-interval = ${ROTATION}\nstale-key-count = 2\n`, "t.toml");
    const main = await loadFreshCore();
    service = (await NtsService.create(config, main.wasm, { now: () => now }))!;
    cleanup.push(() => service.stop());
    // Wired as daemon.ts does it.
    server = new BatchServer({ logger: silentLogger(), workers: 2, summaryIntervalSeconds: 0, restartInitialMs: 50, nts: service.workerSetup() });
    cleanup.push(() => server.close());
    service.onKeys((k) => server.setNtsKeys(k));
    service.addCounterSource(() => server.ntsCounters());
    service.registerMetrics(metrics);
    const [address] = await server.listen([{ address: "127.0.0.1", port: 0, policy: {} }]);
    server.setSystemState(STATE);
    port = Number(address!.split(":")[1]);
    aead = createAead(main.wasm);
    s = session(aead);
    clients = await Promise.all(Array.from({ length: 16 }, (_, i) => Client.open(`127.0.0.${i + 1}`)));
    cleanup.push(() => clients.forEach((c) => c.close()));
  });

  /** One NTS request per client with `cookie`; the replies, in client order (undefined: none). */
  async function roundTrip(cookie: Uint8Array, placeholders = 0): Promise<{ request: Uint8Array; uid: Uint8Array; reply: Buffer | undefined }[]> {
    const asked = clients.map((c) => {
      const { packet, uid } = ntsRequest(aead, s, cookie, { placeholders, transmit: BigInt(++sent) << 8n });
      c.replies.length = 0;
      return { c, packet, uid };
    });
    for (const a of asked) await a.c.send(a.packet, port);
    await until(() => clients.every((c) => c.replies.length > 0), 3000);
    return asked.map((a) => ({ request: a.packet, uid: a.uid, reply: a.c.replies[0] }));
  }

  function expectAnswered(rounds: { request: Uint8Array; uid: Uint8Array; reply: Buffer | undefined }[], placeholders: number): void {
    for (const r of rounds) {
      expect(r.reply).toBeDefined();
      expect(r.reply!.length).toBeLessThanOrEqual(r.request.length);
      const cookies = openResponse(aead, s, new Uint8Array(r.reply!), r.uid);
      expect(cookies).not.toBeNull();
      expect(cookies!.length).toBe(1 + placeholders);
      // The fresh cookies are real ones: the main thread's state (same keys) opens them.
      for (const c of cookies!) expect(service.core.openCookie(c)).toMatchObject({ algorithm: 15 });
    }
  }

  it("answers NTS requests that verify under S2C, no larger than the request, and sums the workers' counters", async () => {
    const cookie = service.core.mintCookie(15, s.c2s, s.s2c);
    expectAnswered(await roundTrip(cookie), 0);
    // Seven placeholders, as chronyd sends when it wants a full jar: ≈ 1 KB requests fit the slots.
    const full = await roundTrip(cookie, 7);
    expect(full[0]!.request.length).toBeGreaterThan(950);
    expectAnswered(full, 7);
    expect(await until(() => service.counters().answered === 32, 1000)).toBe(true);
    expect(service.counters().cookies_issued).toBe(16 * 1 + 16 * 8);
    expect(server.ntsCounters().answered).toBe(32);
    expect(metrics.render()).toMatch(/ntp_server_nts_requests_total\{outcome="answered"\} 32/);
  });

  it("NAKs a mangled cookie", async () => {
    const cookie = service.core.mintCookie(15, s.c2s, s.s2c);
    cookie[cookie.length - 5]! ^= 0x40;
    for (const r of await roundTrip(cookie)) {
      expect(r.reply).toBeDefined();
      expect(kissCode(r.reply!)).toBe("NTSN");
      expect(r.reply!.length).toBeLessThanOrEqual(r.request.length);
    }
    expect(await until(() => service.counters().nak_bad_cookie === 16, 1000)).toBe(true);
  });

  it("follows key rotations: new cookies work, stale ones still do, expired ones are NAKed", async () => {
    const old = service.core.mintCookie(15, s.c2s, s.s2c);
    // Two rotations: the new current key is one the workers were not started with (they knew the
    // current and the next), and the old cookie's key is now stale (stale-key-count 2).
    for (let i = 0; i < 2; i++) {
      now += ROTATION;
      service.keyset.rotate();
    }
    const fresh = service.core.mintCookie(15, s.c2s, s.s2c);
    expectAnswered(await roundTrip(fresh), 0);
    expectAnswered(await roundTrip(old), 0);
    // Two more: the old key is gone everywhere.
    for (let i = 0; i < 2; i++) {
      now += ROTATION;
      service.keyset.rotate();
    }
    expect(service.core.openCookie(old)).toBe("unknown-key");
    for (const r of await roundTrip(old)) expect(kissCode(r.reply!)).toBe("NTSN");
    expect(await until(() => service.counters().nak_unknown_key === 16, 1000)).toBe(true);
  });

  it("restarts a crashed worker with the current keys, and keeps the counts of the dead one", async () => {
    const before = service.counters().answered;
    // A rotation, then both workers die: their replacements can only know the newest key from the
    // keys they are started with.
    now += ROTATION;
    service.keyset.rotate();
    const restartsBefore = server.engineStats()[0]!.restarts;
    server.crashWorker(0, 0);
    server.crashWorker(0, 1);
    expect(await until(() => server.engineStats()[0]!.restarts === restartsBefore + 2 && server.engineStats()[0]!.running === 2, 5000)).toBe(true);
    expectAnswered(await roundTrip(service.core.mintCookie(15, s.c2s, s.s2c), 2), 2);
    // And a rotation after the restart reaches the new workers.
    now += ROTATION;
    service.keyset.rotate();
    now += ROTATION;
    service.keyset.rotate();
    expectAnswered(await roundTrip(service.core.mintCookie(15, s.c2s, s.s2c)), 0);
    expect(await until(() => service.counters().answered === before + 32, 1000)).toBe(true);
  });
});
