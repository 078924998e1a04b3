// The drift file (ts/daemon/drift-file.ts): chrony-compatible format, atomic writes, periodic saving.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DriftSaver, parseDrift, readDriftFile, writeDriftFile, type DriftRecord } from "../../ts/daemon/drift-file.js";

const dir = await mkdtemp(join(tmpdir(), "tock-drift-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("drift file", () => {
  it("round-trips through an atomic write, leaving no temporary file", async () => {
    const path = join(dir, "drift");
    await writeDriftFile(path, { frequencyPpm: -12.345678, uncertaintyPpm: 0.021 });
    expect(await readFile(path, "utf8")).toBe("-12.345678 0.021000\n");
    expect(await readDriftFile(path)).toEqual({ ok: true, record: { frequencyPpm: -12.345678, uncertaintyPpm: 0.021 } });
    await writeDriftFile(path, { frequencyPpm: 3, uncertaintyPpm: null });
    expect((await readDriftFile(path)).ok).toBe(true);
    expect(await readdir(dir)).toEqual(["drift"]);
  });

  it("reads chrony's and ntpd's formats; reports missing and malformed files", async () => {
    expect(parseDrift("7.25 0.5\n")).toEqual({ ok: true, record: { frequencyPpm: 7.25, uncertaintyPpm: 0.5 } });
    expect(parseDrift("-3.5\n")).toEqual({ ok: true, record: { frequencyPpm: -3.5, uncertaintyPpm: null } });
    for (const bad of ["", "abc", "600", "NaN", "1 -2", "Infinity"]) expect(parseDrift(bad).ok).toBe(false);
    const missing = await readDriftFile(join(dir, "nope"));
    expect(missing).toMatchObject({ ok: false, missing: true });
    const path = join(dir, "garbage");
    await writeFile(path, "\u0000\u0001");
    expect(await readDriftFile(path)).toMatchObject({ ok: false, missing: false });
    await rm(path);
  });

  it("a write into a missing directory fails loudly and leaves nothing behind", async () => {
    await expect(writeDriftFile(join(dir, "no", "such", "drift"), { frequencyPpm: 1, uncertaintyPpm: 0 })).rejects.toThrow();
    await expect(writeDriftFile(join(dir, "x"), { frequencyPpm: NaN, uncertaintyPpm: 0 })).rejects.toThrow(RangeError);
  });
});

describe("DriftSaver", () => {
  it("saves at most once per interval, flush() always; errors are reported, not thrown", async () => {
    const written: [number, DriftRecord][] = [];
    let now = 0;
    const saver = new DriftSaver("/x", 3600, async (_p, r) => void written.push([now, r]));
    const rec = { frequencyPpm: 1, uncertaintyPpm: 0.1 };
    for (now = 0; now < 3 * 3600; now += 600) await saver.offer(now, rec);
    expect(written.map(([t]) => t)).toEqual([0, 3600, 7200]);
    await saver.flush(now, rec);
    expect(written).toHaveLength(4);
    const errors: Error[] = [];
    const failing = new DriftSaver("/x", 10, async () => { throw new Error("disk full"); }, (e) => errors.push(e));
    expect(await failing.offer(0, rec)).toBe(false);
    expect(errors.map((e) => e.message)).toEqual(["disk full"]);
  });
});
