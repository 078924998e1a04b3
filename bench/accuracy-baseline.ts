// The baseline of bench/accuracy.ts: RFC 5905's own clock discipline, the hybrid PLL/FLL of
// Appendix A.5.5.6 local_clock() and A.5.6.1 clock_adjust(), behind the same Discipline interface as
// tock's (ts/protocol/discipline.ts), so both run in the same simulator on the same scenarios.
//
// Transcribed from the RFC with two fixes known from ntpd's ntp_loopfilter.c (the RFC skeleton's
// constants do not match its prose): the PLL gain constant is 16 (CLOCK_PLL), not 65 536, both in
// the frequency update (Δf = θ·min(μ, τ)/(4·16·τ)²) and in the per-second phase adjustment
// (θ/(16·τ) per second, τ = the poll interval); and in the FREQ state the residual offset is not
// slewed, so the direct frequency measurement (θ − θ₀)/μ after WATCH is not spoiled.
// Steering is by frequency, like tock's: each second clock_adjust sets F = freq + θ_r/(16·τ)
// (adjtime's phase adjustment expressed as a rate), so the kernel does nothing behind our back.
// The loop's time constant τ = 2^tc follows A.5.5.6's poll-adjust (the RFC's s.poll): tc grows by
// one when |θ| stays below PGATE times the clock jitter for LIMIT (hysteresis), and shrinks when it
// does not — independently of how often the sources actually poll (tock's sources adapt on their own).
import type { ClockAction, Discipline, SystemUpdate } from "../ts/protocol/system.js";

const STEPT = 0.128; // step threshold (s)
const WATCH = 900; // stepout threshold (s)
const PANICT = 1000; // panic threshold (s)
const PLL = 16; // PLL loop gain (ntpd CLOCK_PLL)
const FLL = 18; // FLL loop gain: MAXPOLL + 1 (log2)
const AVG = 4; // averaging constant
const ALLAN = 1500; // Allan intercept (s)
const MAXFREQ = 500e-6; // frequency tolerance (s/s)
const PGATE = 4; // poll-adjust gate
const LIMIT = 30; // poll-adjust threshold
const MINPOLL = 4; // log2 s (tock's default minimum poll)
const MAXPOLL = 10; // log2 s (tock's default maximum poll)
const PRECISION = 2 ** -20; // s

type State = "NSET" | "FSET" | "FREQ" | "SYNC" | "SPIK";

export class Rfc5905Discipline implements Discipline {
  private state: State;
  /** c.offset: the residual offset still to slew (s); c.freq: the frequency correction (s/s). */
  private offset = 0;
  private freq: number;
  /** s.t: time of the last state reset / update (s). */
  private lastUpdate = 0;
  private poll = 2 ** MINPOLL;
  private tc = MINPOLL;
  private count = 0;
  private jitter = 0;
  private last = 0;
  private started = false;
  private lastTick = NaN;

  constructor(initialFrequencyPpm?: number) {
    this.freq = (initialFrequencyPpm ?? 0) * 1e-6;
    this.state = initialFrequencyPpm === undefined ? "NSET" : "FSET";
  }

  update(u: SystemUpdate, now: number): ClockAction[] {
    const actions: ClockAction[] = [];
    this.start(actions);
    const theta = u.offset;
    const t = Math.min(u.time, now);
    const mu = t - this.lastUpdate;
    if (Math.abs(theta) > PANICT) {
      return [...actions, { kind: "panic", offset: theta, threshold: PANICT, message: `clock panic: offset ${theta} s exceeds PANICT` }];
    }
    let freq = 0;
    if (Math.abs(theta) <= STEPT) {
      // Clock jitter: RMS of exponentially weighted offset differences (A.5.5.6).
      const e2 = this.jitter ** 2;
      this.jitter = Math.sqrt(e2 + (Math.max(Math.abs(theta - this.last), PRECISION) ** 2 - e2) / AVG);
      this.last = theta;
    }
    if (Math.abs(theta) > STEPT) {
      switch (this.state) {
        case "SYNC":
          this.state = "SPIK";
          return actions;
        case "FREQ":
          if (mu < WATCH) return actions;
          freq = (theta - this.offset) / mu;
          break;
        case "SPIK":
          if (mu < WATCH) return actions;
          break;
        default:
          break;
      }
      actions.push({ kind: "step", offset: theta });
      if (this.state === "NSET") {
        this.reset("FREQ", t, 0);
        return actions;
      }
      this.reset("SYNC", t, 0);
    } else {
      switch (this.state) {
        case "NSET":
          this.reset("FREQ", t, theta);
          return actions;
        case "FSET":
          this.reset("SYNC", t, theta);
          break;
        case "FREQ":
          if (mu < WATCH) return actions;
          freq = (theta - this.offset) / mu;
          this.reset("SYNC", t, theta);
          break;
        default: {
          // FLL above half the Allan intercept, PLL always (A.5.5.6).
          if (this.poll > ALLAN / 2) {
            const gain = Math.max(FLL - Math.log2(this.poll), AVG);
            freq += (theta - this.offset) / (Math.max(mu, ALLAN) * gain);
          }
          const span = Math.min(mu, this.poll);
          const scale = 4 * PLL * this.poll;
          freq += (theta * span) / (scale * scale);
          this.reset("SYNC", t, theta);
          break;
        }
      }
    }
    this.freq = Math.max(-MAXFREQ, Math.min(MAXFREQ, this.freq + freq));
    this.adjustPoll(theta);
    actions.push({ kind: "estimate", maxError: u.rootDelay / 2 + u.rootDispersion + Math.abs(theta), estError: u.jitter, synchronised: true });
    return actions;
  }

  /** clock_adjust(): once a second, slew a 1/(PLL·τ) share of the residual offset. */
  tick(now: number): ClockAction[] {
    const actions: ClockAction[] = [];
    this.start(actions);
    const dt = Number.isNaN(this.lastTick) ? 1 : Math.max(0, now - this.lastTick);
    this.lastTick = now;
    let rate = 0;
    if (this.state === "SYNC" || this.state === "SPIK") {
      rate = this.offset / (PLL * Math.min(this.poll, ALLAN));
      this.offset -= rate * dt;
    }
    actions.push({ kind: "frequency", ppm: Math.max(-MAXFREQ, Math.min(MAXFREQ, this.freq + rate)) * 1e6 });
    return actions;
  }

  /** A.5.5.6 poll-adjust: the time constant follows how the offset compares with the jitter. */
  private adjustPoll(theta: number): void {
    if (Math.abs(theta) < PGATE * this.jitter) {
      this.count += this.tc;
      if (this.count > LIMIT) {
        this.count = LIMIT;
        if (this.tc < MAXPOLL) {
          this.count = 0;
          this.tc++;
        }
      }
    } else {
      this.count -= this.tc << 1;
      if (this.count < -LIMIT) {
        this.count = -LIMIT;
        if (this.tc > MINPOLL) {
          this.count = 0;
          this.tc--;
        }
      }
    }
    this.poll = 2 ** this.tc;
  }

  private reset(state: State, t: number, offset: number): void {
    this.state = state;
    this.offset = offset;
    this.lastUpdate = t;
  }

  private start(actions: ClockAction[]): void {
    if (this.started) return;
    this.started = true;
    actions.push({ kind: "frequency", ppm: this.freq * 1e6 });
  }
}
