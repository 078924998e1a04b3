// A steering daemon that drops root to its [daemon] user keeps CAP_SYS_TIME, and only that
// (ts/daemon/privileges.ts dropPrivileges with keepCapSysTime, as daemon.ts calls it when it is going
// to steer). Run in a child process that really switches to uid 65534; nothing writes to the clock:
// the child only reads its own capability sets.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hasCapSysTime } from "../../ts/clock/linux-clock.js";
import { ROOT } from "./process-helpers.js";

const PRIVILEGES = join(ROOT, "dist", "ts", "daemon", "privileges.js");
const runnable = existsSync(PRIVILEGES) && process.getuid?.() === 0 && hasCapSysTime() && spawnSync("getent", ["passwd", "65534"]).status === 0;

function dropInChild(keepCapSysTime: boolean): { uid: number; capEff: string; capPrm: string; kept: boolean; error: string } {
  const script = `
    const { dropPrivileges } = await import(${JSON.stringify(PRIVILEGES)});
    const { readFileSync } = await import("node:fs");
    let kept = false, error = "";
    try { kept = dropPrivileges("65534", "65534", { keepCapSysTime: ${keepCapSysTime} }).keptCapSysTime; } catch (e) { error = e.message; }
    const status = readFileSync("/proc/self/status", "utf8");
    const cap = (name) => new RegExp(name + ":\\\\s*(\\\\w+)").exec(status)[1];
    console.log(JSON.stringify({ uid: process.getuid(), capEff: cap("CapEff"), capPrm: cap("CapPrm"), kept, error }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000, env: { ...process.env, TOCK_NO_CLOCK_STEERING: "1" } });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim());
}

describe.skipIf(!runnable)("dropPrivileges for a steering daemon", () => {
  it("keepCapSysTime: the unprivileged process holds CAP_SYS_TIME and nothing else", () => {
    expect(dropInChild(true)).toEqual({ uid: 65534, capEff: "0000000002000000", capPrm: "0000000002000000", kept: true, error: "" });
  });

  it("without it (an observing daemon): every capability is gone", () => {
    expect(dropInChild(false)).toEqual({ uid: 65534, capEff: "0000000000000000", capPrm: "0000000000000000", kept: false, error: "" });
  });
});
