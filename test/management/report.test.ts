// The report provider: what follows from the served state, the decoder that guards the renderers.
import { describe, expect, it } from "vitest";
import { clockPart, systemFromServed } from "../../ts/observe/report.js";
import { ObserveClock } from "../../ts/clock/observe-clock.js";
import { SimClock } from "../../ts/clock/sim-clock.js";
import { decodeReport, SOURCE_STATES, type SourceStateWord } from "../../ts/protocol/status.js";
import type { SourceStatusWord } from "../../ts/protocol/system.js";
import { daemonLikeProvider } from "./fixtures.js";

const ntpToUnix = (ts: bigint) => ({ seconds: Number(ts >> 32n) - 2_208_988_800, nanos: 0 });

describe("systemFromServed", () => {
  it("unsynchronised: leap 3, stratum 16, no reference time", () => {
    const s = systemFromServed({ leap: 3, stratum: 16, precision: -20, referenceId: "INIT", rootDelay: 0, rootDispersion: 0, referenceTime: 0n }, ntpToUnix);
    expect(s).toMatchObject({ synchronised: false, leap: "unsynchronised", stratum: 16, referenceId: 0x494e4954, referenceTime: null, frequencyPpm: null });
  });

  it("local stratum: served as normal, but not synchronised to any source", () => {
    const ref = (BigInt(1_795_381_200 + 2_208_988_800) << 32n) | 0n;
    const s = systemFromServed({ leap: 0, stratum: 10, precision: -20, referenceId: 0x7f7f0101, rootDelay: 0, rootDispersion: 1e-6, referenceTime: ref }, ntpToUnix);
    expect(s).toMatchObject({ synchronised: false, leap: "normal", stratum: 10, referenceName: "local", referenceTime: { seconds: 1_795_381_200, nanos: 0 } });
  });

  it("a leap second announced by the served state", () => {
    const s = systemFromServed({ leap: 1, stratum: 2, precision: -20, referenceId: 0x7f000001, rootDelay: 0.001, rootDispersion: 0.002, referenceTime: 1n << 32n }, ntpToUnix);
    expect(s).toMatchObject({ synchronised: true, leap: "insert", rootDelay: 0.001 });
  });
});

describe("clockPart", () => {
  it("maps the opened clock to the report's mode", () => {
    const base = Object.assign(new SimClock(0n), { nowUnix: () => ({ seconds: 0, nanos: 0 }) });
    const { clock, provide } = { clock: new ObserveClock({ base }), provide: daemonLikeProvider().clock };
    expect(clockPart({ clock, why: "observe mode (no CAP_SYS_TIME)" })).toEqual({ mode: "observe", why: "observe mode (no CAP_SYS_TIME)", clock });
    expect(clockPart({ clock: provide, why: "simulated" }).mode).toBe("sim");
  });
});

describe("decodeReport", () => {
  const good = JSON.parse(JSON.stringify(daemonLikeProvider().provide()));

  it("accepts a daemon's report (after a JSON round trip)", () => {
    expect(typeof decodeReport(good)).toBe("object");
  });

  it("names what is wrong in a malformed report", () => {
    const cases: [unknown, RegExp][] = [
      [null, /report: not an object/],
      [{ ...good, version: 2 }, /version 2/],
      [{ ...good, sources: {} }, /sources: not an array/],
      [{ ...good, sources: [{ ...good.sources[0], state: "happy" }] }, /sources\[0\]\.state: unknown state "happy"/],
      [{ ...good, sources: [{ ...good.sources[0], reach: "377" }] }, /sources\[0\]\.reach: expected number, found string/],
      [{ ...good, system: { ...good.system, stratum: null } }, /system\.stratum: expected number, found null/],
      [{ ...good, system: { ...good.system, referenceTime: { seconds: "x" } } }, /system\.referenceTime\.seconds/],
      [{ ...good, servers: [{ listenAddress: "x", counters: { a: "1" } }] }, /servers\[0\]\.counters: non-numeric/],
      [{ ...good, sources: [{ ...good.sources[0], lastSample: { offset: 1 } }] }, /sources\[0\]\.lastSample\.delay/],
    ];
    for (const [value, message] of cases) expect(decodeReport(value)).toMatch(message);
  });

  it("covers every state word the source machine and selection can produce", () => {
    // Type-level: SourceStatusWord (ts/protocol/system.ts) must be a SourceStateWord.
    const words: SourceStatusWord[] = ["selected", "candidate", "falseticker", "outlier", "unusable", "initialising", "unreachable", "unsynchronised", "denied"];
    const asReport: SourceStateWord[] = words;
    expect(asReport.every((w) => Object.hasOwn(SOURCE_STATES, w))).toBe(true);
  });
});
