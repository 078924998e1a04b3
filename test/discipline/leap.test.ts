// Leap-second policy (ts/protocol/leap.ts): the IETF leap-seconds.list parser and its hash, when the
// kernel is armed, what indicator is served, and the smear arithmetic.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LeapPolicy, monthEnd, parseLeapSecondsList, smearCorrection, tableLeapAt, type LeapTable } from "../../ts/protocol/leap.js";

const sha1 = (data: Uint8Array): Uint8Array => createHash("sha1").update(data).digest();
const LIST = readFileSync(new URL("./fixtures/leap-seconds.list", import.meta.url), "utf8");
const utc = (y: number, m: number, d: number, h = 0, min = 0, s = 0): number => Date.UTC(y, m - 1, d, h, min, s) / 1000;

describe("leap-seconds.list", () => {
  it("parses tzdata's file and checks its SHA-1", () => {
    const r = parseLeapSecondsList(LIST, sha1);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.hashChecked).toBe(true);
    expect(r.table.entries[0]).toEqual({ at: utc(1972, 1, 1), taiOffset: 10 });
    expect(r.table.entries.at(-1)).toEqual({ at: utc(2017, 1, 1), taiOffset: 37 });
    expect(r.table.expires).toBeGreaterThan(utc(2025, 1, 1));
    expect(tableLeapAt(r.table, utc(2016, 12, 31, 12))).toBe("insert");
    expect(tableLeapAt(r.table, utc(2016, 11, 30, 12))).toBe("none");
    expect(tableLeapAt(r.table, utc(2015, 6, 30))).toBe("insert");
  });

  it("rejects a file whose data does not match its hash", () => {
    const tampered = LIST.replace(/^3692217600\s+37/m, "3692217600\t38");
    const r = parseLeapSecondsList(tampered, sha1);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/hash mismatch/);
    // Without a hash function the hash line is not checked.
    const unchecked = parseLeapSecondsList(tampered);
    expect(unchecked.ok && !unchecked.hashChecked).toBe(true);
  });

  it("reports malformed files instead of throwing", () => {
    for (const text of ["", "#$ 123\n", "#$ 1\n#@ 2\nnot a line\n", "#$ 1\n#@ 2\n200 10\n100 11\n", "#$ 1\n#@ 2\n#h 1 2 3\n100 10\n", "\u0000".repeat(100)]) {
      const r = parseLeapSecondsList(text, sha1);
      expect(r.ok).toBe(false);
    }
  });
});

describe("LeapPolicy", () => {
  it("arms the kernel only on the last UTC day of the month, on a majority announcement", () => {
    const policy = new LeapPolicy();
    expect(policy.decide(1, utc(2026, 6, 15)).kernel).toBe("none"); // announced early: not yet
    expect(policy.decide(1, utc(2026, 6, 15)).scheduled).toBe("insert");
    expect(policy.decide(1, utc(2026, 6, 29, 23, 59, 59)).kernel).toBe("none");
    expect(policy.decide(1, utc(2026, 6, 30)).kernel).toBe("insert");
    expect(policy.decide(1, utc(2026, 6, 30, 23, 59, 59.5)).kernel).toBe("insert");
    expect(policy.decide(1, utc(2026, 7, 1)).kernel).toBe("none"); // after the event
    expect(policy.decide(2, utc(2026, 2, 28, 12)).kernel).toBe("delete"); // any month end
    expect(policy.decide(2, utc(2028, 2, 28, 12)).kernel).toBe("none"); // leap year: 29 Feb is the last day
    expect(policy.decide(0, utc(2026, 6, 30, 12)).kernel).toBe("none");
    expect(policy.decide(3, utc(2026, 6, 30, 12)).kernel).toBe("none");
  });

  it("serves the indicator on the last day only", () => {
    const policy = new LeapPolicy();
    expect(policy.decide(1, utc(2026, 6, 10)).indicator).toBe(0);
    expect(policy.decide(1, utc(2026, 6, 30, 1)).indicator).toBe(1);
    expect(policy.decide(2, utc(2026, 6, 30, 1)).indicator).toBe(2);
  });

  it("an unexpired table outvotes the sources; an expired one is ignored", () => {
    const table: LeapTable = { entries: [{ at: utc(2017, 1, 1), taiOffset: 37 }, { at: utc(2027, 1, 1), taiOffset: 38 }], expires: utc(2027, 6, 1), updated: utc(2026, 1, 1) };
    const policy = new LeapPolicy(table);
    expect(policy.decide(0, utc(2026, 12, 31, 6))).toMatchObject({ kernel: "insert", origin: "file" });
    expect(policy.decide(1, utc(2026, 6, 30, 6))).toMatchObject({ kernel: "none", origin: "file" }); // sources wrong
    const expired = new LeapPolicy({ ...table, expires: utc(2026, 1, 1) });
    expect(expired.decide(1, utc(2026, 6, 30, 6))).toMatchObject({ kernel: "insert", origin: "sources" });
  });

  it("monthEnd is the next month's first midnight", () => {
    expect(monthEnd(utc(2026, 12, 31, 23, 59, 59))).toBe(utc(2027, 1, 1));
    expect(monthEnd(utc(2026, 1, 1))).toBe(utc(2026, 2, 1));
  });
});

describe("smear", () => {
  const E = utc(2026, 7, 1);
  const W = 86400;
  it("is zero outside the window and continuous across the event", () => {
    expect(Math.abs(smearCorrection("insert", E, W, E - W, false))).toBe(0);
    expect(Math.abs(smearCorrection("insert", E, W, E + W, true))).toBe(0);
    expect(smearCorrection("insert", E, W, E - 1e-6, false)).toBeCloseTo(-0.5, 6);
    // After an insert the kernel reads E − 1 again: the served time continues from the same point.
    expect(smearCorrection("insert", E, W, E - 1, true)).toBeCloseTo(0.5, 6);
    expect(E - 1e-6 + smearCorrection("insert", E, W, E - 1e-6, false)).toBeCloseTo(E - 1 + smearCorrection("insert", E, W, E - 1, true), 5);
    expect(smearCorrection("delete", E, W, E - 1e-6, false)).toBeCloseTo(0.5, 6);
    expect(smearCorrection("none", E, W, E, false)).toBe(0);
  });

  it("runs at 1/window (11.6 ppm for a day) and ends on UTC", () => {
    const rate = (smearCorrection("insert", E, W, E - 1000, false) - smearCorrection("insert", E, W, E - 2000, false)) / 1000;
    expect(rate).toBeCloseTo(-1 / W, 12);
    expect(smearCorrection("insert", E, W, E + W / 2 - 1, true)).toBeCloseTo(0, 9);
  });
});

describe("readLeapSecondsFile", () => {
  it("reads tzdata's file, checks the hash, reports expiry; a missing file is an error value", async () => {
    const { readLeapSecondsFile } = await import("../../ts/daemon/leap-file.js");
    const path = new URL("./fixtures/leap-seconds.list", import.meta.url).pathname;
    const early = await readLeapSecondsFile(path, utc(2020, 1, 1));
    expect(early).toMatchObject({ ok: true, hashChecked: true, expired: false });
    const late = await readLeapSecondsFile(path, utc(2040, 1, 1));
    expect(late).toMatchObject({ ok: true, expired: true });
    expect(await readLeapSecondsFile("/nonexistent/leap-seconds.list", 0)).toMatchObject({ ok: false });
  });
});
