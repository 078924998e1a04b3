// The daemon's clock steering (ts/daemon/steering.ts wired into ts/daemon/daemon.ts): the real
// startDaemon with a simulated adjustable clock injected (steeringClock), virtual timers and a
// virtual network (test/source/virtual-net.ts) — clock actions reach the clock, a panic stops the
// daemon with exit code 3 and touches nothing, the drift file is read at start and written at
// shutdown, observe mode never adjusts. And the safety net: under vitest no path can steer the real
// clock (openSystemClock / openSteeringClock / steeringIntended / a daemon with clock = "steer"), and
// a real `tock daemon` process started by a test reports `observe` on its management socket.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { SimAdjustableClock } from "../../ts/clock/sim-adjustable-clock.js";
import { openSystemClock } from "../../ts/clock/select-clock.js";
import { SystemClock } from "../../ts/clock/system-clock.js";
import { parseConfig } from "../../ts/config/index.js";
import { startDaemon, type DaemonOptions, type RunningDaemon } from "../../ts/daemon/daemon.js";
import { parseDrift } from "../../ts/daemon/drift-file.js";
import type { Resolver } from "../../ts/daemon/resolver.js";
import { carryOutClockActions, ClockSteering, openSteeringClock, steeringIntended, type ClockPanic } from "../../ts/daemon/steering.js";
import { ClockDiscipline, PANIC_EXIT_CODE } from "../../ts/protocol/discipline.js";
import type { ClockAction } from "../../ts/protocol/system.js";
import { silentLogger } from "../../ts/observe/logger.js";
import { core } from "../source/support.js";
import { VirtualNet, VirtualScheduler, type VirtualServer } from "../source/virtual-net.js";
import { built, runCli, freeUdpPort, startDaemon as startDaemonProcess, stopAll, until } from "./process-helpers.js";

const toNtp = (t: { seconds: number; nanos: number }) => core.unixToNtp(t);
const SERVERS = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
/** IP literals resolve to themselves (the virtual network answers at those addresses). */
const literalResolver: Resolver = { resolve: async (host) => [{ address: host, family: 4 }] };

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tock-steering-test-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  stopAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function capture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as (typeof lines)[number]);
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

function configText(sync: string): string {
  return [
    "[synchronization]",
    "minimum-agreeing-sources = 3",
    sync,
    "[source-defaults]",
    "poll-interval-limits = { min = 4, max = 6 }",
    "initial-poll-interval = 4",
    ...SERVERS.map((a) => `[[source]]\nmode = "server"\naddress = "${a}"`),
  ].join("\n");
}

interface Rig {
  daemon: RunningDaemon;
  clock: SimAdjustableClock;
  servers: VirtualServer[];
  scheduler: VirtualScheduler;
  lines: ReturnType<typeof capture>["lines"];
  panics: ClockPanic[];
}

/**
 * The real daemon start-up over a simulated clock `offset` s BEHIND true time, virtual timers and
 * three virtual servers on true time. The loop is closed: each virtual second the servers' offset
 * is set to −(clock − true), so what the client measures follows what the steering did.
 */
async function rig(sync: string, offset: number, extra: Partial<DaemonOptions> = {}, oscillatorPpm = 0): Promise<Rig> {
  const scheduler = new VirtualScheduler();
  const net = new VirtualNet(scheduler);
  const servers = SERVERS.map((a) => {
    const server: VirtualServer = { offset, delay: 0.002 };
    net.add(a, 123, server);
    return server;
  });
  const clock = new SimAdjustableClock({ toNtp, start: { seconds: Math.floor(Date.UTC(2026, 4, 10) / 1000), nanos: 0 }, initialOffsetSeconds: -offset, frequencyErrorPpm: oscillatorPpm });
  const { logger, lines } = capture();
  const panics: ClockPanic[] = [];
  const daemon = await startDaemon(parseConfig(configText(sync), "steering.toml"), {
    logger,
    summaryIntervalSeconds: 0,
    observationPath: false,
    clientTransport: net,
    resolver: literalResolver,
    clientScheduler: scheduler,
    steeringClock: { clock, why: "simulated clock (test)" },
    onClockPanic: (p) => panics.push(p),
    ...extra,
  });
  return { daemon, clock, servers, scheduler, lines, panics };
}

/** Advances the virtual clock and the virtual time together (the client's `now` and the clock's true time). */
async function runFor(r: Rig, seconds: number): Promise<void> {
  const end = r.scheduler.now() + seconds;
  for (let t = r.scheduler.now(); t < end; t += 1) {
    for (const s of r.servers) s.offset = -r.clock.offsetFromTrue();
    await r.scheduler.run(t + 1);
    r.clock.advance(1);
  }
}

describe("the daemon steers an injected clock", () => {
  it("clock actions reach the clock: an offset above the step threshold is stepped once (logged at warn), the frequency is set", async () => {
    const r = await rig('clock = "auto"', 0.5);
    try {
      expect(r.daemon.clockMode.mode).toBe("sim");
      expect(r.daemon.steering).toBeDefined();
      await runFor(r, 120);
      const steering = r.daemon.steering!;
      expect(steering.counters.steps).toBe(1);
      // The sim clock started 0.5 s behind: the step (+0.5 s) put it right, and it stays within 1 ms.
      expect(steering.counters.steps).toBe(1);
      expect(Math.abs(r.clock.offsetFromTrue())).toBeLessThan(1e-3);
      expect(steering.counters.applied).toBeGreaterThan(1); // take-over, frequency, step, estimates
      const stepLines = r.lines.filter((l) => /^clock stepped by/.test(l.msg));
      expect(stepLines).toHaveLength(1);
      expect(stepLines[0]!.level).toBe(40); // warn
      expect(r.lines.some((l) => l.msg === "client started: steering the clock")).toBe(true);
      // Nothing per sample at info: info lines stay few (start-up only).
      expect(r.lines.filter((l) => l.level === 30).length).toBeLessThan(10);
      expect(r.panics).toEqual([]);
      expect(r.daemon.clientReport()?.observeOnly).toBe(false);
    } finally {
      await r.daemon.stop();
    }
  });

  it("a small offset is slewed through the frequency, never stepped", async () => {
    const r = await rig('clock = "steer"', 0.02);
    try {
      await runFor(r, 120);
      expect(r.daemon.steering!.counters.steps).toBe(0);
      expect(r.lines.some((l) => /^clock stepped/.test(l.msg))).toBe(false);
      // 20 ms behind at the start; slewed (through the frequency) to within 1 ms in two minutes.
      expect(Math.abs(r.clock.offsetFromTrue())).toBeLessThan(1e-3);
    } finally {
      await r.daemon.stop();
    }
  });

  it(`a panic stops the daemon with exit code ${PANIC_EXIT_CODE} and the discipline's message, and leaves the clock untouched`, async () => {
    const r = await rig("startup-step-panic-threshold = 10", 20);
    const before = r.clock.readState();
    try {
      await runFor(r, 120);
      expect(r.panics).toHaveLength(1);
      const panic = r.panics[0]!;
      expect(panic.exitCode).toBe(PANIC_EXIT_CODE);
      expect(panic.offset).toBeCloseTo(20, 2);
      expect(panic.message).toMatch(/^clock panic: a forward step of 20\.\d+ s exceeds the startup-step-panic-threshold of 10\.0000 s; the clock was not changed/);
      const errorLine = r.lines.find((l) => l.level === 50);
      expect(errorLine?.msg).toBe(panic.message);
      // Nothing but the take-over ever reached the clock: no step, no frequency.
      expect(r.daemon.steering!.counters).toMatchObject({ steps: 0, applied: 1 });
      expect(r.clock.offsetFromTrue()).toBe(-20);
      expect(r.clock.readState().frequencyPpm).toBe(before.frequencyPpm);
      // The daemon stopped: the client polls no more.
      const polled = r.daemon.clientReport()!.sources.map((s) => s.reach);
      await runFor(r, 200);
      expect(r.daemon.clientReport()!.sources.map((s) => s.reach)).toEqual(polled);
      expect(r.panics).toHaveLength(1);
    } finally {
      await r.daemon.stop();
    }
  });

  it('clock = "observe" never adjusts the clock, even when one is handed over', async () => {
    const r = await rig('clock = "observe"', 0.5);
    try {
      await runFor(r, 120);
      expect(r.daemon.steering).toBeUndefined();
      expect(r.daemon.clockMode.mode).toBe("observe");
      expect(r.clock.offsetFromTrue()).toBe(-0.5);
      expect(r.clock.readState().frequencyPpm).toBe(0);
      const report = r.daemon.clientReport()!;
      expect(report.observeOnly).toBe(true);
      expect(report.status).toBe("ok"); // the sources were polled and selected all the same
    } finally {
      await r.daemon.stop();
    }
  });

  it("the drift file: written when the frequency is known and again at shutdown; read at the next start", async () => {
    const dir = tempDir();
    const drift = join(dir, "tock.drift");
    // Offset 0: the virtual servers do not follow the sim clock, so a constant non-zero offset would
    // look like a drifting oscillator to the filter (test/sim covers the closed loop).
    const first = await rig(`drift-file = "${drift}"`, 0);
    try {
      await runFor(first, 300);
      expect(await until(() => existsSync(drift), 5000)).toBe(true); // the first trustworthy estimate is saved at once (async write)
      rmSync(drift);
    } finally {
      await first.daemon.stop(); // SIGTERM's path: the drift file is flushed
    }
    const saved = parseDrift(readFileSync(drift, "utf8"));
    expect(saved.ok).toBe(true);
    if (!saved.ok) return;
    expect(saved.record.uncertaintyPpm).toBeLessThanOrEqual(1);

    // A different frequency in the file is what the next run starts from: an oscillator 12.5 ppm
    // slow, whose correction the file knows, is held within microseconds from the first update on.
    writeFileSync(drift, "12.5 0.2\n");
    const second = await rig(`drift-file = "${drift}"`, 0, {}, -12.5);
    try {
      expect(second.lines.find((l) => l.msg === "frequency restored from the drift file")).toMatchObject({ frequency_ppm: 12.5, uncertainty_ppm: 0.2 });
      await runFor(second, 40);
      expect(second.clock.readState().frequencyPpm).toBeCloseTo(12.5, 1);
      expect(Math.abs(second.clock.offsetFromTrue())).toBeLessThan(50e-6);
    } finally {
      await second.daemon.stop();
    }
  });

  it("SIGHUP cannot change the clock mode, thresholds or files of a running client (restart needed)", async () => {
    const r = await rig('clock = "auto"', 0);
    try {
      const next = parseConfig(configText('clock = "observe"'), "steering.toml");
      expect(r.daemon.reload(next)).toMatch(/\[synchronization\] clock, .* changed; restart tock to apply/);
      expect(r.daemon.reload(parseConfig(configText('clock = "auto"\nlocal-stratum = 10'), "steering.toml"))).toBeUndefined();
    } finally {
      await r.daemon.stop();
    }
  });

  it("a missing or broken drift file is logged and ignored", async () => {
    const dir = tempDir();
    const broken = join(dir, "broken.drift");
    writeFileSync(broken, "not a number\n");
    const r = await rig(`drift-file = "${broken}"`, 0);
    await r.daemon.stop();
    expect(r.lines.find((l) => l.msg === "drift file ignored")?.level).toBe(40);
    const m = await rig(`drift-file = "${join(dir, "missing.drift")}"`, 0);
    await m.daemon.stop();
    expect(m.lines.some((l) => l.msg.startsWith("no drift file yet"))).toBe(true);
  });
});

describe("the composition pieces", () => {
  const sim = () => new SimAdjustableClock({ toNtp, start: { seconds: 1_780_000_000, nanos: 0 } });

  it("carryOutClockActions: a batch holding a panic applies nothing", () => {
    const clock = sim();
    const seen: string[] = [];
    const actions: ClockAction[] = [
      { kind: "frequency", ppm: 30 },
      { kind: "panic", offset: 5000, threshold: 1000, message: "too far" },
      { kind: "step", offset: 5000 },
    ];
    const ok = carryOutClockActions(clock, actions, { before: (a) => seen.push(a.kind), panic: (a) => seen.push(`panic:${a.message}`) });
    expect(ok).toBe(false);
    expect(seen).toEqual(["panic", "panic:too far"]);
    expect(clock.readState().frequencyPpm).toBe(0);
    expect(clock.offsetFromTrue()).toBe(0);
  });

  it("the served leap indicator is the discipline's, not the sources' raw majority", () => {
    const discipline = new ClockDiscipline();
    const steering = new ClockSteering({ clock: sim(), discipline, logger: silentLogger(), now: () => 0, onPanic: () => undefined });
    const state = { leap: 1 as const, stratum: 2, precision: -20, referenceId: 1, rootDelay: 0, rootDispersion: 0, referenceTime: 0n };
    expect(steering.served(state).leap).toBe(0); // not the last day of a month: not armed
    expect(steering.served({ ...state, leap: 3 }).leap).toBe(3);
  });
});

describe("tests can never steer the real clock", () => {
  it("runs under vitest: VITEST is set in this process and inherited by child processes", () => {
    expect(process.env.VITEST).toBeTruthy();
    const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.env.VITEST))"], { encoding: "utf8", timeout: 20_000 });
    expect(r.stdout).toBe(process.env.VITEST);
  });

  it("openSystemClock is observe under vitest even for a process that may steer (root with CAP_SYS_TIME); steer refuses", () => {
    const base = new SystemClock(toNtp);
    const auto = openSystemClock(toNtp, { mode: "auto", base, canSteer: () => true });
    expect(auto.clock.capabilities).toMatchObject({ kind: "observe", canAdjust: false });
    expect(() => openSystemClock(toNtp, { mode: "steer", base, canSteer: () => true })).toThrow(/TOCK_NO_CLOCK_STEERING \(or VITEST\)/);
    // The daemon's opener turns clock = "steer" into observe here instead of failing.
    const steer = openSteeringClock(toNtp, "steer", { base, canSteer: () => true });
    expect(steer.clock.capabilities.kind).toBe("observe");
    expect(steer.why).toMatch(/overriding clock = "steer"/);
    expect(steeringIntended("steer", process.env, () => true)).toBe(false);
    expect(steeringIntended("auto", process.env, () => true)).toBe(false);
    // The same call without the veto would steer (shown on the decision only; nothing is opened).
    expect(steeringIntended("auto", {}, () => true)).toBe(process.platform === "linux");
    expect(steeringIntended("observe", {}, () => true)).toBe(false);
  });

  it('a daemon with clock = "steer" and sources, on the system clock, runs in observe mode under vitest', async () => {
    const scheduler = new VirtualScheduler();
    const net = new VirtualNet(scheduler);
    for (const a of SERVERS) net.add(a, 123, { offset: 0.5 });
    const daemon = await startDaemon(parseConfig(configText('clock = "steer"'), "steer.toml"), {
      logger: silentLogger(), summaryIntervalSeconds: 0, observationPath: false, clientTransport: net, resolver: literalResolver, clientScheduler: scheduler,
    });
    try {
      expect(daemon.clockMode.mode).toBe("observe");
      expect(daemon.clockMode.why).toMatch(/TOCK_NO_CLOCK_STEERING or VITEST/);
      expect(daemon.steering).toBeUndefined();
      await scheduler.run(120);
      expect(daemon.clientReport()!.observeOnly).toBe(true);
    } finally {
      await daemon.stop();
    }
  });
});

describe.skipIf(!built)("a real tock daemon process started by a test", () => {
  it('reports "Clock mode : observe" with clock = "auto" and sources, even as root', async () => {
    const dir = tempDir();
    const socket = join(dir, "observe.sock");
    const silent = await freeUdpPort(); // nothing answers there: the source stays unreachable
    const serve = await freeUdpPort();
    const toml = [
      "[[server]]",
      `listen = "127.0.0.1:${serve}"`,
      'engine = "dgram"',
      "[observability]",
      `observation-path = "${socket}"`,
      "[synchronization]",
      'clock = "auto"',
      `drift-file = "${join(dir, "tock.drift")}"`,
      "[[source]]",
      'mode = "server"',
      `address = "127.0.0.1:${silent}"`,
    ].join("\n");
    const daemon = await startDaemonProcess(toml);
    const config = join(daemon.dir, "tock.toml");
    try {
      await daemon.waitForLine((l) => typeof l.msg === "string" && l.msg.startsWith("management socket ready"));
      await daemon.waitForLine((l) => typeof l.msg === "string" && l.msg.startsWith("client started"));
      expect(daemon.lines.some((l) => l.msg === "client started in observe mode: sources are polled and reported, the clock is not adjusted")).toBe(true);
      const json = await runCli(["status", "-c", config, "--json"]);
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout) as { clock: { mode: string; why: string } };
      expect(report.clock.mode).toBe("observe");
      expect(report.clock.why).toMatch(/TOCK_NO_CLOCK_STEERING or VITEST/);
      const text = await runCli(["status", "-c", config]);
      expect(text.stdout).toMatch(/^Clock mode\s+: observe/m);
    } finally {
      const exit = await daemon.stop();
      expect(exit.code).toBe(0);
    }
    // An observing daemon never writes the drift file.
    expect(existsSync(join(dir, "tock.drift"))).toBe(false);
  });
});
