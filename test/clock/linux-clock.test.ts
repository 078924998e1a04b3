// The real clock driver. Only reads, plus (as root with CAP_SYS_TIME) writing back the frequency the
// kernel already has. Nothing here steps or slews the real clock: every LinuxClock built here is
// either read-only (no allowSteering) or runs under VITEST, which makes the driver refuse any write
// that would change the kernel (see steeringForbiddenByEnvironment).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ADJ_OFFSET_SS_READ,
  hasCapSysTime,
  LinuxClock,
  linuxClockAvailable,
  steeringForbiddenByEnvironment,
} from "../../ts/clock/linux-clock.js";
import { openSystemClock } from "../../ts/clock/select-clock.js";
import { loadCore } from "../../ts/daemon/load-core.js";
import type { TockCore } from "../../ts/core/api.js";
import { ROOT } from "../daemon/process-helpers.js";

const available = linuxClockAvailable();
const DIST_DRIVER = join(ROOT, "dist", "ts", "clock", "linux-clock.js");
let core: TockCore;
beforeAll(async () => {
  core = (await loadCore()).core;
});
const toNtp = (t: { seconds: number; nanos: number }) => core.unixToNtp(t);

describe("hasCapSysTime", () => {
  it("reads bit 25 of CapEff", () => {
    expect(hasCapSysTime("Name:\tx\nCapEff:\t0000000002000000\n")).toBe(true);
    expect(hasCapSysTime("CapEff:\t000001fffdffffff\n")).toBe(false);
    expect(hasCapSysTime("CapEff:\t000001fffeffffff\n")).toBe(true);
    expect(hasCapSysTime("CapPrm:\t000001ffffffffff\n")).toBe(false);
    expect(hasCapSysTime("CapEff:\tzz\n")).toBe(false);
  });

  it("agrees with this process's status", () => {
    expect(typeof hasCapSysTime()).toBe("boolean");
  });
});

describe("steering guard", () => {
  it("test runs forbid steering through VITEST or TOCK_NO_CLOCK_STEERING", () => {
    expect(steeringForbiddenByEnvironment({ VITEST: "true" })).toBe(true);
    expect(steeringForbiddenByEnvironment({ TOCK_NO_CLOCK_STEERING: "1" })).toBe(true);
    expect(steeringForbiddenByEnvironment({ TOCK_NO_CLOCK_STEERING: "0" })).toBe(false);
    expect(steeringForbiddenByEnvironment({})).toBe(false);
    expect(steeringForbiddenByEnvironment()).toBe(true); // this very run
  });
});

describe.skipIf(!available)("LinuxClock (real kernel, reads only)", () => {
  it("reads the kernel state with modes 0 and ADJ_OFFSET_SS_READ", () => {
    const clock = new LinuxClock(toNtp);
    const raw = clock.adjtime(0);
    expect(raw.result).toBeGreaterThanOrEqual(0);
    expect(raw.result).toBeLessThanOrEqual(5);
    expect(raw.tick).toBeGreaterThan(0);
    const ss = clock.adjtime(ADJ_OFFSET_SS_READ);
    expect(ss.freq).toBe(raw.freq);
    const state = clock.readState();
    expect(Math.abs(state.frequencyPpm)).toBeLessThanOrEqual(500);
    expect(state.maxErrorSeconds).toBeGreaterThanOrEqual(0);
    expect(state.maxErrorSeconds).toBeLessThanOrEqual(16);
    expect(["ok", "insert", "delete", "oop", "wait", "error"]).toContain(state.timeState);
    expect(["none", "insert", "delete"]).toContain(state.leap);
    expect(clock.capabilities).toMatchObject({ kind: "linux", canAdjust: false, maxFrequencyPpm: 500, slewRatePpm: 500 });
  });

  it("the kernel's timestamp of the call agrees with the clock reading", () => {
    const clock = new LinuxClock(toNtp);
    const raw = clock.adjtime(0);
    const ns = raw.status & 0x2000 ? raw.timeFraction : raw.timeFraction * 1000;
    const now = clock.nowUnix();
    const diff = now.seconds - raw.timeSec + (now.nanos - ns) / 1e9;
    expect(diff).toBeGreaterThanOrEqual(-0.001);
    expect(diff).toBeLessThan(0.5);
  });

  it("a read-only driver refuses every write before any syscall, and the kernel is unchanged", () => {
    // Values chosen so that even a broken guard could not move the clock: steps and slews of zero,
    // the leap and frequency the kernel already has, the current error bounds.
    const clock = new LinuxClock(toNtp);
    const before = clock.readState();
    const writes = [
      () => clock.step(0),
      () => clock.slew(0),
      () => clock.setLeap(before.leap),
      () => clock.setFrequency(before.frequencyPpm),
      () => clock.takeOver(),
      () => clock.setSyncStatus({ maxError: before.maxErrorSeconds, estError: before.estErrorSeconds, synchronised: before.synchronised }),
    ];
    for (const write of writes) {
      expect(write).toThrow(/read-only/);
    }
    const after = clock.readState();
    expect(after.frequencyPpm).toBe(before.frequencyPpm);
    expect(after.status).toBe(before.status);
    expect(after.slewRemainingSeconds).toBe(before.slewRemainingSeconds);
  });

  it.skipIf(!hasCapSysTime())("as root: writing back the kernel's own frequency succeeds and changes nothing", () => {
    // allowSteering is needed for any write; under VITEST the driver still refuses every write that
    // would change the kernel, so only this write-back can reach clock_adjtime.
    const clock = new LinuxClock(toNtp, { allowSteering: true });
    const before = clock.adjtime(0);
    const result = clock.setFrequency(before.freq / 65536);
    expect(result.applied).toBe(true);
    expect(result.value).toBe(before.freq / 65536);
    const after = clock.adjtime(0);
    expect(after.freq).toBe(before.freq);
    expect(after.status).toBe(before.status);
    // Any other frequency is refused in a test run.
    expect(() => clock.setFrequency(before.freq / 65536 + 1)).toThrow(/refused/);
    expect(clock.adjtime(0).freq).toBe(before.freq);
  });

  it.skipIf(!existsSync(DIST_DRIVER) || process.getuid?.() !== 0)("as an unprivileged user (nobody): reads work, a write fails with a CAP_SYS_TIME message", () => {
    // The compiled driver in a child process that has dropped to uid/gid 65534 with no capabilities.
    // Its one write is the frequency write-back (the environment guard allows nothing else), which
    // the kernel refuses with EPERM.
    const script = `
      const { LinuxClock, ClockControlError, hasCapSysTime } = await import(${JSON.stringify(DIST_DRIVER)});
      const clock = new LinuxClock((t) => BigInt(t.seconds + 2208988800) << 32n, { allowSteering: true });
      const state = clock.readState();
      let error = "";
      try { clock.setFrequency(state.frequencyPpm); } catch (e) { error = (e instanceof ClockControlError ? "ClockControlError errno " + e.errno + ": " : "") + e.message; }
      console.log(JSON.stringify({ uid: process.getuid(), cap: hasCapSysTime(), freq: state.frequencyPpm, error }));`;
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", process.execPath, "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 20_000,
      env: { ...process.env, VITEST: "true" },
    });
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout.trim()) as { uid: number; cap: boolean; freq: number; error: string };
    expect(out.uid).toBe(65534);
    expect(out.cap).toBe(false);
    expect(out.freq).toBe(new LinuxClock(toNtp).readState().frequencyPpm);
    expect(out.error).toMatch(/ClockControlError errno 1: .*needs CAP_SYS_TIME/);
  });
});

describe.skipIf(!available)("openSystemClock", () => {
  it("without CAP_SYS_TIME: an observe clock that reads the real kernel state", () => {
    const { clock, why } = openSystemClock(toNtp, { canSteer: () => false });
    expect(clock.capabilities.kind).toBe("observe");
    expect(why).toMatch(/observe mode \(no CAP_SYS_TIME\)/);
    expect(clock.readState().frequencyPpm).toBe(new LinuxClock(toNtp).readState().frequencyPpm);
    expect(clock.slew(0.001).applied).toBe(false);
  });

  it("mode observe wins over the capability; mode steer without it fails", () => {
    expect(openSystemClock(toNtp, { mode: "observe", canSteer: () => true }).clock.capabilities.kind).toBe("observe");
    expect(() => openSystemClock(toNtp, { mode: "steer", canSteer: () => false })).toThrow(/CAP_SYS_TIME/);
  });

  it("with the capability: the Linux driver, allowed to steer (not exercised here)", () => {
    const { clock } = openSystemClock(toNtp, { canSteer: () => true, env: {} });
    expect(clock.capabilities).toMatchObject({ kind: "linux", canAdjust: true });
  });

  it("a test run (VITEST) or TOCK_NO_CLOCK_STEERING=1 means observe mode, even with the capability", () => {
    const here = openSystemClock(toNtp, { canSteer: () => true });
    expect(here.clock.capabilities.kind).toBe("observe");
    expect(here.why).toMatch(/TOCK_NO_CLOCK_STEERING or VITEST/);
    expect(openSystemClock(toNtp, { canSteer: () => true, env: { TOCK_NO_CLOCK_STEERING: "1" } }).clock.capabilities.kind).toBe("observe");
    expect(() => openSystemClock(toNtp, { mode: "steer", canSteer: () => true })).toThrow(/TOCK_NO_CLOCK_STEERING/);
  });
});
