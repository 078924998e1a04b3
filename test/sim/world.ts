// The deterministic simulator: virtual time, a simulated adjustable clock (ts/clock/sim-adjustable-clock.ts),
// simulated servers behind simulated links, and the REAL client between them: the daemon's own client
// loop (ts/daemon/client.ts NtpClient), with its per-source poll state machines (ts/protocol/source.ts),
// the system process (ts/protocol/system.ts) and its WASM selection kernel (ts/core/selection.ts), and
// the clock discipline (ts/protocol/discipline.ts). Only the I/O is simulated, through the same
// interfaces the daemon injects (Scheduler, ClientTransport, Resolver, random bytes; twins.ts), and
// the clock actions go through the same carryOutClockActions (ts/daemon/steering.ts) the daemon uses.
//
// Time: `now` (the protocol code's monotonic seconds) is true time since the start of the run; the
// sim clock's reading (what T1/T4 and UTC come from) is true time plus the clock's error.
// A seed fixes everything random (links, wander, the sources' random bytes): same seed, same run.
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { SimAdjustableClock } from "../../ts/clock/sim-adjustable-clock.js";
import { carryOutClockActions } from "../../ts/daemon/steering.js";
import { NtpClient, type ClientReport } from "../../ts/daemon/client.js";
import { parseConfig } from "../../ts/config/index.js";
import { silentLogger } from "../../ts/observe/logger.js";
import type { ClockAction, Discipline, SystemUpdate } from "../../ts/protocol/system.js";
import { ClockDiscipline, type DisciplineOptions } from "../../ts/protocol/discipline.js";
import type { NtpTimestamp } from "../../ts/core/api.js";
import { createRng } from "./random.js";
import { Link, type LinkOptions } from "./network.js";
import { SimServer, type SimServerOptions } from "./server.js";
import { EventQueue } from "./queue.js";
import { SimResolver, SimScheduler, SimTransport, type SimHost } from "./twins.js";

export interface SimServerSpec extends SimServerOptions {
  link: LinkOptions;
}

export interface ScenarioOptions {
  seed: number;
  /** Simulated seconds to run. */
  duration: number;
  /** True time at the start, POSIX seconds (default 2026-03-01T00:00:00Z). */
  startUnix?: number;
  clock: {
    /** Clock − true at the start (s). */
    initialOffset: number;
    /** Oscillator frequency error (ppm, positive fast). */
    frequencyPpm: number;
    /** Random-walk wander (ppm/√s; default 1e-4). */
    wander?: number;
    /** Sudden oscillator changes (temperature): at true time `at`, the frequency error becomes `ppm`. */
    frequencyJumps?: { at: number; ppm: number }[];
  };
  servers: SimServerSpec[];
  /** [synchronization] minimum-agreeing-sources (default 3, the daemon's default). */
  minimumAgreeingSources?: number;
  /** Poll limits and initial poll (log2 s; default min 4, max 10, initial 4). */
  poll?: { min: number; max: number; initial: number };
  discipline?: DisciplineOptions;
  /** Replace the discipline (e.g. a baseline for the bench); receives the scenario's UTC mapping. */
  makeDiscipline?: (utc: (now: number) => number) => Discipline;
  /** Observe mode: no discipline at all (the system process computes and reports only). */
  observe?: boolean;
}

export interface ClockEvent {
  /** True seconds since the start. */
  at: number;
  action: ClockAction;
  /** Clock − true just before it (s). */
  errorBefore: number;
}

export interface SimRun {
  /** Clock − true (s), sampled once per simulated second (index = second). */
  error: Float64Array;
  /** Every clock action the discipline asked for, in order. */
  clockEvents: ClockEvent[];
  panic: { at: number; message: string } | null;
  /** Updates handed to the discipline. */
  updates: number;
  /** Seconds spent in each selection status ("ok", "no-majority", "no-candidates", "initialising"). */
  rounds: Record<string, number>;
  /** Each server's state word (`tock sources`) at the end, by name. */
  words: Record<string, string>;
  /** Seconds each server spent marked a falseticker, by name. */
  falsetickerRounds: Record<string, number>;
  /** The client's report (`tock sources` data) at the end of the run. */
  report: ClientReport | undefined;
  sim: { clock: SimAdjustableClock; client: NtpClient; discipline: Discipline | undefined };
}

const DEFAULT_START = Date.UTC(2026, 2, 1) / 1000;

export async function runScenario(o: ScenarioOptions): Promise<SimRun> {
  const { core, wasm } = await loadFreshCore();
  const rng = createRng(o.seed);
  const startUnix = o.startUnix ?? DEFAULT_START;
  const clock = new SimAdjustableClock({
    toNtp: (t) => core.unixToNtp(t),
    start: { seconds: Math.floor(startUnix), nanos: 0 },
    initialOffsetSeconds: o.clock.initialOffset,
    frequencyErrorPpm: o.clock.frequencyPpm,
    wanderPpmPerSqrtSecond: o.clock.wander ?? 1e-4,
    random: rng.fork().next,
  });
  const trueNtp = (t: number): NtpTimestamp => core.unixToNtp({ seconds: Math.floor(startUnix + t), nanos: Math.round(((startUnix + t) % 1) * 1e9) });
  const utc = (): number => {
    const u = clock.nowUnix();
    return u.seconds + u.nanos / 1e9;
  };

  // Virtual time is the event time itself (the clock's true time is kept in whole nanoseconds, and
  // a timer must see exactly the time it asked for).
  let virtualNow = 0;
  const now = (): number => virtualNow;
  const queue = new EventQueue();
  const run: SimRun = {
    error: new Float64Array(Math.floor(o.duration) + 1),
    clockEvents: [],
    panic: null,
    updates: 0,
    rounds: {},
    words: {},
    falsetickerRounds: {},
    report: undefined,
    sim: undefined as unknown as SimRun["sim"],
  };

  // The network: server i answers at 192.0.2.(i+1) behind its own link.
  const hosts = new Map<string, SimHost>();
  const nameOf = new Map<string, string>();
  o.servers.forEach((spec, i) => {
    const address = `192.0.2.${i + 1}`;
    hosts.set(address, { address, server: new SimServer(spec), link: new Link(spec.link, rng.fork()) });
    nameOf.set(address, spec.name);
    run.falsetickerRounds[spec.name] = 0;
  });
  const transport = new SimTransport(core, hosts, queue, now, () => clock.now(), trueNtp);
  const poll = o.poll ?? { min: 4, max: 10, initial: 4 };
  const toml = [
    "[source-defaults]",
    `poll-interval-limits = { min = ${poll.min}, max = ${poll.max} }`,
    `initial-poll-interval = ${poll.initial}`,
    ...[...hosts.keys()].map((address) => `[[source]]\nmode = "server"\naddress = "${address}"`),
  ].join("\n");
  const config = parseConfig(toml, "simulation.toml");

  const inner: Discipline | undefined = o.observe ? undefined : o.makeDiscipline?.(utc) ?? new ClockDiscipline({ ...o.discipline, utc });
  // Counts the updates the system process hands over; otherwise the discipline itself.
  const discipline: Discipline | undefined = inner && {
    update: (u: SystemUpdate, t: number) => {
      run.updates++;
      return inner.update(u, t);
    },
    tick: (t: number) => inner.tick(t),
  };
  const randomRng = rng.fork();
  let client: NtpClient | undefined;
  // The daemon's own composition (ts/daemon/steering.ts carryOutClockActions): a batch with a panic
  // applies nothing.
  const applyClock = (actions: ClockAction[]): void => {
    if (run.panic !== null) return;
    carryOutClockActions(clock, actions, {
      before: (a) => run.clockEvents.push({ at: now(), action: a, errorBefore: clock.offsetFromTrue() }),
      panic: (a) => {
        // The daemon logs the message and exits: nothing runs after it.
        run.panic = { at: now(), message: a.message };
        client?.stop();
        queue.clear();
      },
    });
  };
  client = new NtpClient({
    core,
    wasm,
    sources: config.source,
    minimumAgreeingSources: o.minimumAgreeingSources ?? 3,
    transport,
    resolver: new SimResolver(new Map()),
    precisionLog2: clock.precisionLog2,
    logger: silentLogger(),
    fallback: () => ({ leap: 3, stratum: 16, precision: -20, referenceId: 0, rootDelay: 0, rootDispersion: 0, referenceTime: 0n }),
    discipline,
    onClockActions: applyClock,
    scheduler: new SimScheduler(queue, now),
    random: (n) => randomRng.bytes(n),
    maxSources: Math.max(1, o.servers.length),
  });
  run.sim = { clock, client, discipline: inner };

  for (const jump of o.clock.frequencyJumps ?? []) queue.push(jump.at, () => clock.setOscillatorFrequency(jump.ppm));
  // Once a second: the clock's true error, and what the client reports (status, source words).
  const observe = (second: number): void => {
    run.error[second] = clock.offsetFromTrue();
    const report = client.report();
    run.rounds[report.status] = (run.rounds[report.status] ?? 0) + 1;
    for (const s of report.sources) {
      const name = nameOf.get(s.address) ?? s.name;
      if (s.state === "falseticker") run.falsetickerRounds[name] = (run.falsetickerRounds[name] ?? 0) + 1;
    }
    if (second + 1 <= o.duration) queue.push(second + 1, () => observe(second + 1));
  };
  queue.push(0, () => observe(0));
  client.start();
  transport.dirty = true; // the sources' names resolve asynchronously
  await settle(transport);

  for (;;) {
    const next = queue.pop();
    if (next === undefined || next.at > o.duration) break;
    if (next.at > virtualNow) {
      clock.advance(next.at - virtualNow);
      virtualNow = next.at;
    }
    next.run();
    await settle(transport);
  }
  // Past the end: record the error for the seconds a panic cut short (the clock keeps running free).
  for (let second = Math.floor(virtualNow) + 1; second <= o.duration; second++) {
    if (run.error[second] === 0 && second > 0) {
      clock.advance(second - virtualNow);
      virtualNow = second;
      run.error[second] = clock.offsetFromTrue();
    }
  }
  run.report = client.report();
  for (const s of run.report.sources) run.words[nameOf.get(s.address) ?? s.name] = s.state;
  client.stop();
  return run;
}

/** Lets the client's promise chains (socket sends and receives) run to completion at this instant. */
async function settle(transport: SimTransport): Promise<void> {
  for (let rounds = 0; transport.dirty && rounds < 100; rounds++) {
    transport.dirty = false;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
