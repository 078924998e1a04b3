// Numbers shared by the selection kernel (asm/select/) and its TypeScript façade
// (ts/core/selection.ts): record layouts, result codes and per-source states. The façade reads every
// one of them through `sel_layout(id)` at start-up, so this file is their single definition.
//
// All fields are native little-endian; f64 fields are 8-byte aligned.

// ---- Per-source record (clock filter register + the peer variables it produces) ----
// RFC 5905 §10 Figure 19 names: θ offset, δ delay, ε dispersion, ψ jitter, t time.

/** Stages of the clock filter shift register (RFC 5905 NSTAGE). */
export const NSTAGE: i32 = 8;
/** One stage: f64 offset, f64 delay, f64 dispersion, f64 time (seconds, caller's timeline). */
export const STAGE_BYTES: u32 = 32;
export const STAGE_OFFSET: u32 = 0;
export const STAGE_DELAY: u32 = 8;
export const STAGE_DISP: u32 = 16;
export const STAGE_TIME: u32 = 24;
/** The stages, a ring: the newest stage is at index (SRC_NEXT − 1) mod 8. */
export const SRC_STAGES: u32 = 0;
/** f64 θ: offset of the sample last used (s). */
export const SRC_OFFSET: u32 = 256;
/** f64 δ: delay of the sample last used (s). */
export const SRC_DELAY: u32 = 264;
/** f64 ε: peer dispersion, the weighted sum over the register, as of SRC_UPDATED (s). */
export const SRC_DISP: u32 = 272;
/** f64 ψ: peer jitter (s), never below the precision tunable. */
export const SRC_JITTER: u32 = 280;
/** f64 t: arrival time of the sample last used (s, caller's timeline). */
export const SRC_TIME: u32 = 288;
/** f64: when the register was last aged (s, caller's timeline); SRC_DISP is valid at this time. */
export const SRC_UPDATED: u32 = 296;
/** u32: ring index the next sample is written to. */
export const SRC_NEXT: u32 = 304;
/** u32: SRC_FLAG_* bits. */
export const SRC_FLAGS: u32 = 308;
/** u32: valid samples in the register (0..8). */
export const SRC_VALID: u32 = 312;
/** u32: samples suppressed by the popcorn spike gate (lifetime count). */
export const SRC_SPIKES: u32 = 316;
/** u32: samples refused as malformed (non-finite, negative delay or dispersion). */
export const SRC_INVALID: u32 = 320;
/** u32: samples shifted into the register (lifetime count). */
export const SRC_SAMPLES: u32 = 324;
export const SOURCE_STRIDE: u32 = 336;

/** A sample has been used: SRC_OFFSET / SRC_DELAY / SRC_TIME hold it. */
export const SRC_FLAG_USED: u32 = 1;
/** SRC_UPDATED holds a time (the register has been aged at least once). */
export const SRC_FLAG_AGED: u32 = 2;

// ---- Candidate table (input of sel_select, written by the façade) ----
/** u32: source index (0 ≤ index < maxSources). */
export const CAND_INDEX: u32 = 0;
/** u32: the server's stratum as received (1..15 usable; 0 and ≥ 16 are not). */
export const CAND_STRATUM: u32 = 4;
/** u32: the server's leap indicator (3 = unsynchronised: not usable). */
export const CAND_LEAP: u32 = 8;
/** u32: 1 when the source is reachable (its reach register is not zero). */
export const CAND_REACHABLE: u32 = 12;
/** u32: the reference ID we advertise when this source is the system peer (RFC 5905 §7.3: its
 *  IPv4 address, the hash of its IPv6 address, or a refclock's ASCII code). */
export const CAND_REFID: u32 = 16;
/** u32: the reference ID in the server's own packets (0 = unknown), for the loop check. */
export const CAND_SERVER_REFID: u32 = 20;
/** f64: the server's root delay (s). */
export const CAND_ROOT_DELAY: u32 = 24;
/** f64: the server's root dispersion (s). */
export const CAND_ROOT_DISP: u32 = 32;
export const CAND_STRIDE: u32 = 40;

// ---- Result of sel_select ----
export const RES_STATUS: u32 = 0; // i32 SELECT_*
export const RES_SYSTEM_PEER: u32 = 4; // i32 source index, −1 none
export const RES_OFFSET: u32 = 8; // f64 Θ combined offset (s)
export const RES_JITTER: u32 = 16; // f64 Ψ system jitter (s)
export const RES_SELECTION_JITTER: u32 = 24; // f64 Ψs (s)
export const RES_ROOT_DELAY: u32 = 32; // f64 Δ (s)
export const RES_ROOT_DISP: u32 = 40; // f64 Ε (s)
export const RES_STRATUM: u32 = 48; // i32 system peer stratum + 1 (16 when not synchronised)
export const RES_REFID: u32 = 52; // u32
export const RES_LEAP: u32 = 56; // i32 leap agreed by a majority of the survivors (0 otherwise; 3 unsynchronised)
export const RES_USABLE: u32 = 60; // i32 candidates that passed the fitness checks
export const RES_LOW: u32 = 64; // f64 l: intersection interval low end (s)
export const RES_HIGH: u32 = 72; // f64 u: intersection interval high end (s)
export const RES_FALSETICKERS: u32 = 80; // i32 f: falsetickers the intersection had to allow
export const RES_TRUECHIMERS: u32 = 84; // i32 candidates whose offset lies in [l, u]
export const RES_SURVIVORS: u32 = 88; // i32 survivors of the cluster algorithm
export const RES_NEW_UPDATE: u32 = 92; // i32 1 when the system peer's sample is newer than the last one reported
export const RES_PEER_TIME: u32 = 96; // f64 arrival time of the system peer's sample (s)
export const RESULT_BYTES: u32 = 104;

export const SELECT_OK: i32 = 0;
export const SELECT_NO_MAJORITY: i32 = 1;
export const SELECT_NO_CANDIDATES: i32 = 2;

// ---- Per-source state after sel_select (u8 per source index) ----
export const STATE_UNUSABLE: u8 = 0; // not a candidate, or failed the fitness checks
export const STATE_FALSETICKER: u8 = 1; // offset outside the intersection interval
export const STATE_OUTLIER: u8 = 2; // truechimer discarded by the cluster algorithm
export const STATE_CANDIDATE: u8 = 3; // survivor combined into the system offset (or, without a majority, usable)
export const STATE_SELECTED: u8 = 4; // the system peer

// ---- sel_add_sample / sel_expire results ----
export const FILTER_UPDATED: i32 = 0; // a new sample is in use: call sel_select
export const FILTER_STALE: i32 = 1; // the best sample is not newer than the one already used
export const FILTER_SPIKE: i32 = 2; // the best sample was held back by the popcorn spike gate
export const FILTER_EMPTY: i32 = 3; // no valid sample in the register
export const FILTER_INVALID: i32 = 4; // malformed input, counted and dropped
export const FILTER_BAD_INDEX: i32 = 5; // source index out of range

/** Largest maxSources accepted (selection is O(m²) in the worst case; see intersect.ts, cluster.ts). */
export const MAX_SOURCES: i32 = 256;

// ---- Internal scratch of sel_select (not read by the façade) ----
/** Work entry, one per usable candidate. */
export const WORK_SOURCE: u32 = 0; // i32 source index
export const WORK_CANDIDATE: u32 = 4; // i32 position in the candidate table
export const WORK_OFFSET: u32 = 8; // f64 θ (s)
export const WORK_DISTANCE: u32 = 16; // f64 λ root distance (s)
export const WORK_MERIT: u32 = 24; // f64 stratum · MAXDIST + λ (s)
export const WORK_JITTER: u32 = 32; // f64 ψ peer jitter (s)
export const WORK_STRATUM: u32 = 40; // i32
export const WORK_LEAP: u32 = 44; // i32
export const WORK_STRIDE: u32 = 48;
/** Intersection endpoint: f64 edge, i32 type (−1 low, 0 midpoint, +1 high), 4 bytes padding. */
export const EDGE_VALUE: u32 = 0;
export const EDGE_TYPE: u32 = 8;
export const EDGE_STRIDE: u32 = 16;
