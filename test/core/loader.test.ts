// The Node loader (ts/daemon/load-core.ts) and the façade's handling of linear memory.
import { join } from "node:path";
import { expect, test } from "vitest";
import { loadCore, loadFreshCore, packageRoot, wasmPath } from "../../ts/daemon/load-core.js";
import { ParseResult } from "../../ts/core/index.js";
import { hex } from "./support.js";

const root = packageRoot();

test("finds the package root from ts/daemon/ and from dist/ts/daemon/", () => {
  expect(root).toBe(join(import.meta.dirname, "..", ".."));
  expect(packageRoot(join(root, "dist", "ts", "daemon"))).toBe(root);
  expect(wasmPath()).toBe(join(root, "build", "tock.wasm"));
});

test("loadCore caches one instance per process; loadFreshCore gives independent ones", async () => {
  const a = await loadCore();
  expect(await loadCore()).toBe(a);
  const b = await loadFreshCore();
  expect(b.wasm.exports.memory).not.toBe(a.wasm.exports.memory);
});

test("regions are reserved above static data, and the façade survives memory growth", async () => {
  const { core, wasm } = await loadFreshCore();
  // Static data starts at 1024: the module's start function must have set the allocator above it.
  expect(core.regions.in).toBeGreaterThanOrEqual(1024);
  expect(core.regions.out).toBeGreaterThanOrEqual(core.regions.in + core.maxPacket);
  const packet = hex("2304000000000000000000000000000000000000000000000000000000000000000000000000000000000000e8000001");
  expect(core.parsePacket(packet).header?.transmitTime).toBe(0xe8000001n);
  // Reserve far more than the initial memory: the buffer grows and old views detach.
  const before = wasm.exports.memory.buffer.byteLength;
  wasm.reserve(4 << 20);
  expect(wasm.exports.memory.buffer.byteLength).toBeGreaterThan(before);
  expect(core.parsePacket(packet).header?.transmitTime).toBe(0xe8000001n);
  expect(core.validatePacket(packet)).toBe(ParseResult.Ok);
  expect(core.ntpToUnix(core.unixToNtp({ seconds: 1, nanos: 2 }), 0)).toEqual({ seconds: 1, nanos: 2 });
});
