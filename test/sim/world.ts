// The deterministic simulator: virtual time, a simulated adjustable clock (ts/clock/sim-adjustable-clock.ts),
// simulated servers behind simulated links, and the REAL client code between them — the per-source
// poll state machines (ts/protocol/source.ts), the system process (ts/protocol/system.ts) with the
// WASM selection kernel (ts/core/selection.ts), and the clock discipline (ts/protocol/discipline.ts).
// The loop below is the daemon's loop with sockets and timers replaced by an event queue: it carries
// out the same actions (send, set-timer, sample, missed, clock actions) in the same way.
//
// Time: `now` (the protocol code's monotonic seconds) is true time since the start of the run; the
// sim clock's reading (what T1/T4 and UTC come from) is true time plus the clock's error.
// A seed fixes everything random (links, wander, the sources' random bytes): same seed, same run.
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createSelection } from "../../ts/core/selection.js";
import { SimAdjustableClock } from "../../ts/clock/sim-adjustable-clock.js";
import { applyClockAction } from "../../ts/clock/adjustable.js";
import { NtpSource, RANDOM_BYTES_PER_POLL, type SourceAction } from "../../ts/protocol/source.js";
import { SystemProcess, type ClockAction, type Discipline } from "../../ts/protocol/system.js";
import { ClockDiscipline, type DisciplineOptions } from "../../ts/protocol/discipline.js";
import type { NtpTimestamp } from "../../ts/core/api.js";
import { createRng } from "./random.js";
import { Link, type LinkOptions } from "./network.js";
import { SimServer, type SimServerOptions } from "./server.js";
import { EventQueue } from "./queue.js";

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
  /** Updates handed to the discipline, selection rounds run, and per-status counts of rounds. */
  updates: number;
  rounds: Record<string, number>;
  /** Each server's selection word at the end, by name. */
  words: Record<string, string>;
  /** Number of rounds in which each server was a falseticker, by name. */
  falsetickerRounds: Record<string, number>;
  sim: { clock: SimAdjustableClock; system: SystemProcess; discipline: Discipline | undefined };
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

  const selection = createSelection(wasm, { maxSources: Math.max(1, o.servers.length) });
  const discipline: Discipline | undefined = o.observe
    ? undefined
    : o.makeDiscipline?.(utc) ?? new ClockDiscipline({ ...o.discipline, utc });
  const system = new SystemProcess({
    selection,
    minimumAgreeingSources: o.minimumAgreeingSources ?? 3,
    discipline,
    fallback: () => ({ leap: 3, stratum: 16, precision: -20, referenceId: 0, rootDelay: 0, rootDispersion: 0, referenceTime: 0n }),
    precisionLog2: clock.precisionLog2,
  });
  const poll = o.poll ?? { min: 4, max: 10, initial: 4 };

  const queue = new EventQueue();
  const run: SimRun = {
    error: new Float64Array(Math.floor(o.duration) + 1),
    clockEvents: [],
    panic: null,
    updates: 0,
    rounds: {},
    words: {},
    falsetickerRounds: {},
    sim: { clock, system, discipline },
  };

  interface Peer {
    server: SimServer;
    link: Link;
    source: NtpSource;
    index: number;
    rng: ReturnType<typeof createRng>;
    timerGeneration: number;
    open: Map<number, number>; // requestId → deadline (true s)
  }
  const peers: Peer[] = o.servers.map((spec, i) => {
    const source = new NtpSource(core, {
      to: { address: `192.0.2.${i + 1}`, port: 123, family: 4 },
      pollLimits: { min: poll.min, max: poll.max },
      initialPoll: poll.initial,
      localPrecisionLog2: clock.precisionLog2,
    });
    const index = system.attach(source, (0xc0000200 + i + 1) >>> 0);
    return { server: new SimServer(spec), link: new Link(spec.link, rng.fork()), source, index, rng: rng.fork(), timerGeneration: 0, open: new Map() };
  });
  for (const p of peers) run.falsetickerRounds[p.server.name] = 0;

  // Virtual time is the event time itself (the clock's true time is kept in whole nanoseconds, and
  // a timer must see exactly the time it asked for).
  let virtualNow = 0;
  const now = (): number => virtualNow;

  const applyClock = (actions: ClockAction[], stepped: boolean): void => {
    for (const a of actions) {
      run.clockEvents.push({ at: now(), action: a, errorBefore: clock.offsetFromTrue() });
      if (a.kind === "panic") {
        run.panic ??= { at: now(), message: a.message };
        queue.clear();
        return;
      }
      applyClockAction(clock, a);
    }
    if (stepped) for (const p of peers) handleSource(p, p.source.restart(now()));
  };

  const noteRound = (round: ReturnType<SystemProcess["select"]> | undefined): void => {
    if (round === undefined) return;
    run.rounds[round.result.status] = (run.rounds[round.result.status] ?? 0) + 1;
    for (const p of peers) if (round.result.perSource[p.index] === "falseticker") run.falsetickerRounds[p.server.name]!++;
    if (round.update !== undefined) run.updates++;
    applyClock(round.actions, round.stepped);
  };

  const handleSource = (p: Peer, actions: SourceAction[]): void => {
    for (const a of actions) {
      if (run.panic !== null) return;
      switch (a.kind) {
        case "set-timer": {
          const generation = ++p.timerGeneration;
          queue.push(Math.max(a.at, now()), () => {
            if (generation !== p.timerGeneration) return;
            handleSource(p, p.source.handleTimer(now(), p.rng.bytes(RANDOM_BYTES_PER_POLL)));
          });
          break;
        }
        case "send": {
          p.source.handleSent(a.requestId, clock.now());
          const sentAt = now();
          p.open.set(a.requestId, sentAt + a.timeout);
          const out = p.link.transit(sentAt, true);
          if (out === null) break;
          queue.push(sentAt + out, () => {
            const reply = p.server.respond(core, a.bytes, now(), trueNtp);
            if (reply === null) return;
            const leaves = now() + reply.processing;
            const back = p.link.transit(leaves, false);
            if (back === null) return;
            queue.push(leaves + back, () => {
              const deadline = p.open.get(a.requestId);
              if (deadline === undefined || now() > deadline) return; // socket closed: dropped
              handleSource(p, p.source.handleResponse(a.requestId, reply.bytes, clock.now(), now()));
            });
          });
          break;
        }
        case "close":
          p.open.delete(a.requestId);
          break;
        case "sample": {
          const { outcome, round } = system.sample(p.index, a.sample, a.time, now());
          if (outcome === "updated") {
            const f = system.filterState(p.index);
            handleSource(p, p.source.handleFiltered(f.offset, f.jitter, now()));
          }
          noteRound(round);
          break;
        }
        case "missed":
          noteRound(system.missed(p.index, now()));
          break;
        case "demobilize":
          system.detach(p.index);
          break;
      }
    }
  };

  for (const jump of o.clock.frequencyJumps ?? []) queue.push(jump.at, () => clock.setOscillatorFrequency(jump.ppm));
  for (const p of peers) handleSource(p, p.source.start(0));
  // The once-a-second clock_adjust tick, which also records the clock's true error.
  const tick = (second: number): void => {
    run.error[second] = clock.offsetFromTrue();
    const t = system.tick(now());
    applyClock(t.actions, t.stepped);
    if (second + 1 <= o.duration) queue.push(second + 1, () => tick(second + 1));
  };
  queue.push(0, () => tick(0));

  for (;;) {
    const next = queue.pop();
    if (next === undefined || next.at > o.duration) break;
    if (next.at > virtualNow) {
      clock.advance(next.at - virtualNow);
      virtualNow = next.at;
    }
    next.run();
  }
  for (const p of peers) run.words[p.server.name] = p.index !== undefined ? safeWord(system, p.index) : "detached";
  return run;
}

function safeWord(system: SystemProcess, index: number): string {
  try {
    return system.word(index);
  } catch {
    return "detached";
  }
}
