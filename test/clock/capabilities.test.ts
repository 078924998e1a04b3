// Keeping CAP_SYS_TIME across the switch to an unprivileged user (in a child process that really
// switches to uid 65534). The only clock write is the frequency write-back, which the driver allows
// under VITEST because it changes nothing.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hasCapSysTime } from "../../ts/clock/linux-clock.js";
import { ROOT } from "../daemon/process-helpers.js";

const DIST = join(ROOT, "dist", "ts", "clock");
const runnable = existsSync(join(DIST, "capabilities.js")) && process.getuid?.() === 0 && hasCapSysTime();

function child(keep: boolean): { uid: number; capEff: string; hasCap: boolean; writeBack: string; error: string } {
  const script = `
    const { keepCapabilitiesAcrossSetuid, retainOnlyCapSysTime } = await import(${JSON.stringify(join(DIST, "capabilities.js"))});
    const { hasCapSysTime, LinuxClock } = await import(${JSON.stringify(join(DIST, "linux-clock.js"))});
    const { readFileSync } = await import("node:fs");
    let error = "";
    if (${keep}) keepCapabilitiesAcrossSetuid();
    process.setgroups([65534]); process.setgid(65534); process.setuid(65534);
    try { retainOnlyCapSysTime(); } catch (e) { error = e.message; }
    const capEff = /CapEff:\\s*(\\w+)/.exec(readFileSync("/proc/self/status", "utf8"))[1];
    const clock = new LinuxClock(() => 0n, { allowSteering: true });
    let writeBack;
    try { writeBack = String(clock.setFrequency(clock.readState().frequencyPpm).applied); } catch (e) { writeBack = e.message; }
    console.log(JSON.stringify({ uid: process.getuid(), capEff, hasCap: hasCapSysTime(), writeBack, error }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000, env: { ...process.env, VITEST: "true" } });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim());
}

describe.skipIf(!runnable)("CAP_SYS_TIME across setuid", () => {
  it("kept: the unprivileged process holds CAP_SYS_TIME and nothing else, and may write to the clock", () => {
    const r = child(true);
    expect(r).toMatchObject({ uid: 65534, capEff: "0000000002000000", hasCap: true, writeBack: "true", error: "" });
  });

  it("not kept: setuid loses it, retainOnlyCapSysTime says so, and writes fail with the CAP_SYS_TIME message", () => {
    const r = child(false);
    expect(r.uid).toBe(65534);
    expect(r.capEff).toBe("0000000000000000");
    expect(r.hasCap).toBe(false);
    expect(r.error).toMatch(/was not kept/);
    expect(r.writeBack).toMatch(/needs CAP_SYS_TIME/);
  });
});
