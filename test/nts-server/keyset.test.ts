// Cookie master keys: rotation on the ratchet schedule, stale expiry, persistence (restart keeps
// accepting cookies), sharing one file between instances, and hostile key files.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NtsKeyset, parseKeyset, ratchet } from "../../ts/protocol/nts-keyset.js";
import { FileKeyStore, KeysetManager, MemoryKeyStore } from "../../ts/daemon/keyset-store.js";
import { createNtsServerCore, type NtsServerCore } from "../../ts/core/nts-server.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";

const DAY = 86400;
const T = 1_800_000_000; // Unix seconds; epochs are floor(t / interval)
const options = { rotationInterval: DAY, staleKeyCount: 2 };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tock-keyset-"));
  dirs.push(d);
  return d;
};

async function coreFor(manager: KeysetManager): Promise<NtsServerCore> {
  const { wasm } = await loadFreshCore();
  const core = createNtsServerCore(wasm, { maxKeys: manager.slots });
  manager.onChange((a) => core.setKeys(a.keys, a.currentId));
  return core;
}

const c2s = new Uint8Array(32).fill(1);
const s2c = new Uint8Array(32).fill(2);

describe("rotation and stale expiry", () => {
  it("mints under the current key, accepts stale-key-count old keys and the next one, then NAKs", async () => {
    let now = T;
    const manager = new KeysetManager({ ...options, store: new MemoryKeyStore(), now: () => now });
    const core = await coreFor(manager);
    const first = core.mintCookie(15, c2s, s2c);
    expect(manager.active().keys.length).toBe(2); // current + next
    for (let day = 1; day <= 2; day++) {
      now += DAY;
      manager.rotate();
      expect(core.openCookie(first)).toMatchObject({ algorithm: 15 });
      // new cookies carry the new key id
      expect(Buffer.from(core.mintCookie(15, c2s, s2c).subarray(0, 4)).readUInt32BE()).toBe(Math.floor(now / DAY));
    }
    expect(manager.active().keys.length).toBe(4); // 2 stale + current + next
    now += DAY;
    manager.rotate();
    expect(core.openCookie(first)).toBe("unknown-key");
  });

  it("a cookie minted under the next epoch's key (a KE server slightly ahead) is accepted", async () => {
    const now = T;
    const shared = new MemoryKeyStore();
    const behind = new KeysetManager({ ...options, store: shared, now: () => now });
    const ahead = new KeysetManager({ ...options, store: shared, now: () => now + DAY });
    const coreBehind = await coreFor(behind);
    const coreAhead = await coreFor(ahead);
    const cookie = coreAhead.mintCookie(15, c2s, s2c);
    expect(Buffer.from(cookie.subarray(0, 4)).readUInt32BE()).toBe(Math.floor(now / DAY) + 1);
    expect(coreBehind.openCookie(cookie)).toMatchObject({ algorithm: 15 });
  });

  it("ratchet: each key is HKDF of its predecessor, and the set never exceeds its slots", () => {
    const k = NtsKeyset.fresh(options, T, new Uint8Array(32).fill(9));
    k.advance(T + 5 * DAY);
    const { keys } = k.active(T + 5 * DAY);
    expect(keys.length).toBe(NtsKeyset.slotsFor(options));
    for (let i = 1; i < keys.length; i++) {
      expect(Buffer.compare(keys[i]!.key, ratchet(keys[i - 1]!.key, keys[i]!.id))).toBe(0);
    }
  });
});

describe("persistence", () => {
  it("restart: cookies issued before are accepted after; the file is mode 0600", async () => {
    const path = join(tempDir(), "nts-keys.json");
    let now = T;
    const before = new KeysetManager({ ...options, store: new FileKeyStore(path), now: () => now });
    const cookie = (await coreFor(before)).mintCookie(17, new Uint8Array(64).fill(3), new Uint8Array(64).fill(4));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    now += DAY; // restart a day later
    const after = new KeysetManager({ ...options, store: new FileKeyStore(path), now: () => now });
    const opened = (await coreFor(after)).openCookie(cookie);
    expect(opened).toMatchObject({ algorithm: 17, c2s: new Uint8Array(64).fill(3), s2c: new Uint8Array(64).fill(4) });
    // the file moved forward with the restart
    expect(JSON.parse(readFileSync(path, "utf8")).keys.at(-1).epoch).toBe(Math.floor(now / DAY));
  });

  it("instances sharing a file compute the same keys without writing to each other", async () => {
    const path = join(tempDir(), "shared.json");
    let now = T;
    const a = new KeysetManager({ ...options, store: new FileKeyStore(path), now: () => now });
    const b = new KeysetManager({ ...options, store: new FileKeyStore(path), now: () => now });
    const coreA = await coreFor(a);
    const coreB = await coreFor(b);
    now += 3 * DAY; // b never rotates explicitly before a's cookie arrives
    a.rotate();
    b.rotate();
    expect(coreB.openCookie(coreA.mintCookie(15, c2s, s2c))).toMatchObject({ algorithm: 15 });
    expect(a.active()).toEqual(b.active());
  });

  it("only one first start wins the file (exclusive create)", () => {
    const path = join(tempDir(), "race.json");
    const s1 = new FileKeyStore(path);
    const s2 = new FileKeyStore(path);
    expect(s1.createExclusive("one")).toBe(true);
    expect(s2.createExclusive("two")).toBe(false);
    expect(s2.read()).toBe("one");
  });

  it("warns when the key file is readable by others", () => {
    const path = join(tempDir(), "open.json");
    writeFileSync(path, "{}", { mode: 0o644 });
    expect(new FileKeyStore(path).warning()).toMatch(/chmod 600/);
  });

  it("hostile or mismatched files start a new chain instead of crashing", async () => {
    const path = join(tempDir(), "bad.json");
    for (const text of ["", "null", "[]", "{\"format\":\"tock-nts-keyset/1\"}", "\u0000\u0001garbage",
      JSON.stringify({ format: "tock-nts-keyset/1", "rotation-interval": 3600, keys: [{ epoch: 1, key: "00".repeat(32) }] }),
      JSON.stringify({ format: "tock-nts-keyset/1", "rotation-interval": DAY, keys: [{ epoch: 1, key: "zz" }] }),
      JSON.stringify({ format: "tock-nts-keyset/1", "rotation-interval": DAY, keys: [{ epoch: 1, key: "00".repeat(32) }, { epoch: 5, key: "00".repeat(32) }] }),
    ]) {
      writeFileSync(path, text);
      const m = new KeysetManager({ ...options, store: new FileKeyStore(path), now: () => T });
      expect(m.active().keys.length).toBe(2);
      expect(parseKeyset(readFileSync(path, "utf8"), DAY).ok).toBe(true);
    }
  });
});
