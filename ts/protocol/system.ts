// The system process (RFC 5905 §11): collects every source's samples into the selection kernel,
// runs selection → cluster → combine after each one, hands a new system-peer update to the clock
// discipline, and derives the system state the server serves downstream.
//
// Sans-IO like everything in ts/protocol: `now` (seconds on the caller's monotonic timeline, the
// same timeline the selection façade uses) comes in as an argument; the clock actions the discipline
// returns go out to the caller, which applies them to its (adjustable or observe-only) clock.
//
// This first part is the contract shared with the discipline (helper L2, ts/protocol/discipline.ts)
// and the clock drivers (helper K, ts/clock/): SystemUpdate, Discipline, ClockAction.
import type { SelectionStatus } from "../core/selection.js";

/**
 * One new system-peer measurement, combined over the surviving sources (RFC 5905 §11.2.3 combine),
 * produced when the selection reports `newUpdate` — the input of the clock discipline (§11.3
 * clock_update → local_clock). Durations in seconds (float64); times on the caller's monotonic
 * timeline in seconds, like `now`.
 */
export interface SystemUpdate {
  /** Θ: combined offset, positive when the servers are AHEAD of our clock (the clock must advance). */
  offset: number;
  /** Ψ: system jitter — the root-sum-square of the peer jitter and the selection jitter (§11.2.3). */
  jitter: number;
  /** Arrival time of the system peer's sample the update is based on (monotonic seconds). */
  time: number;
  /** Δ and Ε of the system peer path: root delay / dispersion we advertise downstream (§11.2.3). */
  rootDelay: number;
  rootDispersion: number;
  /** Our stratum: system peer's stratum + 1. */
  stratum: number;
  /** Reference id we advertise (u32: the peer's IPv4 address, or MD5(IPv6)[0..4]). */
  refid: number;
  /** Leap indicator held by a majority of the survivors (0 none, 1 insert, 2 delete). */
  leap: 0 | 1 | 2;
  /** Always "ok" for an update (kept so consumers can log the same record for every select run). */
  status: SelectionStatus;
  /** Poll interval of the system peer (s): the discipline's loop time constant follows it (§11.3). */
  pollInterval: number;
  /** Peer jitter of the system peer alone, and the selection jitter Ψs (s). */
  peerJitter: number;
  selectionJitter: number;
  /** Survivors of the cluster algorithm that were combined. */
  survivors: number;
}

/**
 * What a discipline asks the clock to do. The caller applies the actions in order to its clock; an
 * observe-only clock records them and changes nothing. Units: seconds, and frequency in parts per
 * million (ppm) as adjtimex reports it (positive: the clock runs faster).
 */
export type ClockAction =
  /** Adds `offset` seconds to the clock at once (ADJ_SETOFFSET). Afterwards every source's filter and
   *  the system's last-update time are reset (RFC 5905 §11.3 step: "clear all associations"). */
  | { kind: "step"; offset: number }
  /** Slews `offset` seconds out gradually (kernel PLL offset / adjtime), never stepping. */
  | { kind: "slew"; offset: number }
  /** Sets the absolute frequency correction (ppm), not a delta. */
  | { kind: "frequency"; ppm: number }
  /** Arms (insert/delete) or disarms (none) the kernel's leap second at the end of the current UTC day. */
  | { kind: "leap"; leap: "none" | "insert" | "delete" }
  /** Error estimates and sync state the kernel publishes (adjtimex maxerror/esterror, STA_UNSYNC). */
  | { kind: "estimate"; maxError: number; estError: number; synchronised: boolean }
  /** The offset exceeds the panic threshold: the daemon logs `message` and exits without touching
   *  the clock (like ntpd's panic gate and ntpd-rs's step panic thresholds). */
  | { kind: "panic"; offset: number; threshold: number; message: string };

/**
 * The clock discipline (RFC 5905 §11.3 clock_update/local_clock and §12 clock_adjust), implemented by
 * ts/protocol/discipline.ts. `now` is the caller's monotonic time in seconds.
 */
export interface Discipline {
  /** A new system-peer update: returns what to do to the clock (possibly nothing). */
  update(u: SystemUpdate, now: number): ClockAction[];
  /** Called about once a second (§12 clock_adjust): returns periodic actions (e.g. slew portions). */
  tick(now: number): ClockAction[];
}
