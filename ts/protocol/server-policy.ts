// Server policy as data: turns config-level choices (CIDR lists, rate-limit parameters, versions,
// interleaved on/off, table sizes, the system state) into the tables and numbers the WASM request
// kernel (asm/server/) works from, and names its outcomes and counters. Pure TypeScript: no WASM,
// no I/O; ts/core/server.ts carries the result into linear memory.
//
// Access lists follow ntpd-rs: a request is refused with the deny list's action if its address is
// in the deny list, else with the allow list's action if an allow list is given and the address is
// not in it. IPv4 subnets match IPv4 clients, including those seen as IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) on a dual-stack socket; IPv6 subnets match IPv6 clients; a subnet written in the
// mapped form (::ffff:a.b.c.d/n, n ≥ 96) is the IPv4 subnet a.b.c.d/(n − 96).
import { parseCidr } from "../config/net.js";
import { Fail } from "../config/dsl.js";

export type FilterAction = "deny" | "ignore";

/** A subnet: text ("192.0.2.0/24", "2001:db8::/32", a bare address) or already parsed (ts/config). */
export type SubnetSpec = string | { family: 4 | 6; bytes: Uint8Array; prefix: number };

export interface FilterListOptions {
  filter: readonly SubnetSpec[];
  action: FilterAction;
}

export interface RateLimitOptions {
  /** Mean seconds between requests a client may send (the bucket's refill period), > 0, ≤ 3600. */
  interval: number;
  /** Requests a client may send back to back (bucket size), 1..65535. */
  burst: number;
  /** One in N over-limit requests is answered with KoD RATE, the rest dropped; 0 = never. */
  kodOneIn: number;
  /** Client keys (IPv4 /32, IPv6 /64) tracked; fixed memory (RATE_TABLE_BYTES_PER_CLIENT each). */
  tableSize: number;
}

export interface ServerPolicyOptions {
  /** Request versions answered (the response echoes it). Default [3, 4]. */
  acceptNtpVersions?: readonly number[];
  /** Only clients in the list are served; others get `action`. Absent: everyone is allowed. */
  allowlist?: FilterListOptions;
  /** Clients in the list get `action`; checked first. Absent: no one is denied. */
  denylist?: FilterListOptions;
  /** Per-client token bucket. Absent or null: no rate limiting. */
  rateLimit?: RateLimitOptions | null;
  /** Answer interleaved requests (RFC 9769). Default true. */
  interleaved?: boolean;
  /** Saved (receive, transmit) pairs for the interleaved mode; fixed memory. Default 16384. */
  interleavedTableSize?: number;
  /** Range the client's poll is clamped to in responses (log2 s). Default: min = the rate limit's
   *  interval rounded up to a power of two (a hint to slow down, as chrony does) or −6, max = 17. */
  pollRange?: { min: number; max: number };
  /** Request/response slots, i.e. the largest batch. Default 64. */
  batchSize?: number;
  /** Largest request handled; longer ones are dropped as oversize. 48..2048, default 2048. */
  maxRequestBytes?: number;
  /** Ranges each access list can hold (room for reconfiguration). Default max(1024, largest list). */
  accessListCapacity?: number;
}

// ---- Fixed costs of the kernel's tables (asm/server/ratelimit.ts, interleave.ts) ----
export const TABLE_BUCKET_ENTRIES = 8;
export const RATE_TABLE_BYTES_PER_CLIENT = 24;
export const INTERLEAVED_TABLE_BYTES_PER_PAIR = 24;
/** Clients the rate-limit table tracks per MiB of memory. */
export const RATE_CLIENTS_PER_MIB = Math.floor((1 << 20) / (RATE_TABLE_BYTES_PER_CLIENT * TABLE_BUCKET_ENTRIES)) * TABLE_BUCKET_ENTRIES;

export const DEFAULT_VERSIONS: readonly number[] = [3, 4];
export const DEFAULT_INTERLEAVED_TABLE_SIZE = 16384;
export const DEFAULT_BATCH_SIZE = 64;
export const DEFAULT_MAX_REQUEST_BYTES = 2048;
export const MIN_POLL = -6;
export const MAX_POLL = 17;

/** Final outcome of a request; the index is the kernel's outcome code (asm/server/layout.ts). */
export const OUTCOMES = [
  "answered_basic",
  "answered_interleaved",
  "kod_rate",
  "kod_deny",
  "dropped_too_short",
  "dropped_oversize",
  "dropped_wrong_mode",
  "dropped_bad_version",
  "dropped_malformed",
  "dropped_denied",
  "dropped_rate_limited",
  "dropped_bad_address",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Every counter of the kernel, in its order (index 0 = received; 1..12 = OUTCOMES). */
export const COUNTERS = [
  "received",
  ...OUTCOMES,
  "rate_limit_clients_added",
  "rate_limit_clients_evicted",
  "interleaved_saved",
  "interleaved_evicted",
  "interleaved_tx_updated",
  "interleaved_tx_rejected",
  "batches",
] as const;
export type CounterName = (typeof COUNTERS)[number];

/** outcome name of a kernel outcome code (1..12). */
export function outcomeName(code: number): Outcome | undefined {
  return OUTCOMES[code - 1];
}

export class PolicyError extends Error {
  override name = "PolicyError";
}

/** Inclusive address ranges, sorted, disjoint and non-adjacent. */
export interface RangeList {
  /** IPv4 ranges as [first, last] pairs (u32). */
  v4: Uint32Array;
  /** IPv6 ranges as [firstHi, firstLo, lastHi, lastLo] quadruples (u64). */
  v6: BigUint64Array;
}

export interface CompiledList extends RangeList {
  enabled: boolean;
  action: FilterAction;
}

/** Everything the kernel needs, as numbers. */
export interface ServerTables {
  slots: number;
  capacity: number;
  versionMask: number;
  interleaved: boolean;
  pollMin: number;
  pollMax: number;
  /** Rate-limit interval in NTP 32.32 units (0n: no rate limiting). */
  rateInterval: bigint;
  burst: number;
  kodOneIn: number;
  rateTableBytes: number;
  interleavedTableBytes: number;
  accessListCapacity: number;
  allow: CompiledList;
  deny: CompiledList;
}

/** ::ffff:0:0/96: the 96-bit prefix of IPv4-mapped addresses, i.e. address >> 32. */
const V4_MAPPED_PREFIX = 0xffffn;

function subnetRange(spec: SubnetSpec): { family: 4 | 6; first: bigint; last: bigint } {
  let parsed: { family: 4 | 6; bytes: Uint8Array; prefix: number };
  if (typeof spec === "string") {
    const p = parseCidr(spec);
    if (p instanceof Fail) throw new PolicyError(p.what);
    parsed = p;
  } else {
    parsed = spec;
  }
  const width = parsed.family === 4 ? 32 : 128;
  if (parsed.bytes.length !== width / 8 || !Number.isInteger(parsed.prefix) || parsed.prefix < 0 || parsed.prefix > width) {
    throw new PolicyError(`invalid subnet ${JSON.stringify(spec)}`);
  }
  let value = 0n;
  for (const b of parsed.bytes) value = (value << 8n) | BigInt(b);
  const hostBits = BigInt(width - parsed.prefix);
  const first = (value >> hostBits) << hostBits;
  const last = first | ((1n << hostBits) - 1n);
  // ::ffff:a.b.c.d/n with n ≥ 96 names IPv4 addresses (that is how the kernel sees mapped clients).
  if (parsed.family === 6 && parsed.prefix >= 96 && first >> 32n === V4_MAPPED_PREFIX) {
    return { family: 4, first: first & 0xffffffffn, last: last & 0xffffffffn };
  }
  return { family: parsed.family, first, last };
}

/** Sorts and merges overlapping or adjacent ranges. O(n log n). */
function mergeRanges(ranges: Array<[bigint, bigint]>): Array<[bigint, bigint]> {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Array<[bigint, bigint]> = [];
  for (const [first, last] of ranges) {
    const tail = out[out.length - 1];
    if (tail !== undefined && first <= tail[1] + 1n) {
      if (last > tail[1]) tail[1] = last;
    } else {
      out.push([first, last]);
    }
  }
  return out;
}

/** A subnet list as merged IPv4 and IPv6 ranges. */
export function compileRanges(filter: readonly SubnetSpec[]): RangeList {
  const v4: Array<[bigint, bigint]> = [];
  const v6: Array<[bigint, bigint]> = [];
  for (const spec of filter) {
    const r = subnetRange(spec);
    (r.family === 4 ? v4 : v6).push([r.first, r.last]);
  }
  const m4 = mergeRanges(v4);
  const m6 = mergeRanges(v6);
  const out4 = new Uint32Array(m4.length * 2);
  m4.forEach(([first, last], i) => {
    out4[2 * i] = Number(first);
    out4[2 * i + 1] = Number(last);
  });
  const mask = (1n << 64n) - 1n;
  const out6 = new BigUint64Array(m6.length * 4);
  m6.forEach(([first, last], i) => {
    out6[4 * i] = first >> 64n;
    out6[4 * i + 1] = first & mask;
    out6[4 * i + 2] = last >> 64n;
    out6[4 * i + 3] = last & mask;
  });
  return { v4: out4, v6: out6 };
}

function compileList(list: FilterListOptions | undefined, which: string): CompiledList {
  if (list === undefined) return { enabled: false, action: "ignore", v4: new Uint32Array(0), v6: new BigUint64Array(0) };
  if (list.action !== "deny" && list.action !== "ignore") {
    throw new PolicyError(`${which}.action must be "deny" or "ignore", not ${JSON.stringify(list.action)}`);
  }
  return { enabled: true, action: list.action, ...compileRanges(list.filter) };
}

function integerIn(value: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PolicyError(`${what} must be an integer from ${min} to ${max}, not ${String(value)}`);
  }
  return value;
}

/** Buckets of 8 entries needed for `entries`, in bytes. */
function tableBytes(entries: number, entryBytes: number): number {
  return Math.ceil(entries / TABLE_BUCKET_ENTRIES) * TABLE_BUCKET_ENTRIES * entryBytes;
}

/** Validates the options and turns them into kernel tables. Throws PolicyError on invalid input. */
export function compileServerPolicy(options: ServerPolicyOptions = {}): ServerTables {
  let versionMask = 0;
  const versions = options.acceptNtpVersions ?? DEFAULT_VERSIONS;
  for (const v of versions) versionMask |= 1 << integerIn(v, 1, 4, "an accepted NTP version");

  const allow = compileList(options.allowlist, "allowlist");
  const deny = compileList(options.denylist, "denylist");
  const largestList = Math.max(allow.v4.length / 2, allow.v6.length / 4, deny.v4.length / 2, deny.v6.length / 4);
  const accessListCapacity = integerIn(options.accessListCapacity ?? Math.max(1024, largestList), largestList, 1 << 20, "accessListCapacity");

  const rate = options.rateLimit ?? undefined;
  let rateInterval = 0n;
  let burst = 1;
  let kodOneIn = 0;
  let rateTableBytes = TABLE_BUCKET_ENTRIES * RATE_TABLE_BYTES_PER_CLIENT; // one bucket, unused
  if (rate !== undefined) {
    if (!(rate.interval > 0 && rate.interval <= 3600)) throw new PolicyError(`rateLimit.interval must be > 0 and ≤ 3600 seconds, not ${rate.interval}`);
    rateInterval = BigInt(Math.round(rate.interval * 2 ** 32));
    burst = integerIn(rate.burst, 1, 65535, "rateLimit.burst");
    kodOneIn = integerIn(rate.kodOneIn, 0, 2 ** 31, "rateLimit.kodOneIn");
    rateTableBytes = tableBytes(integerIn(rate.tableSize, 1, 1 << 24, "rateLimit.tableSize"), RATE_TABLE_BYTES_PER_CLIENT);
  }

  const interleaved = options.interleaved ?? true;
  const pairs = integerIn(options.interleavedTableSize ?? DEFAULT_INTERLEAVED_TABLE_SIZE, 1, 1 << 24, "interleavedTableSize");
  const interleavedTableBytes = tableBytes(interleaved ? pairs : 1, INTERLEAVED_TABLE_BYTES_PER_PAIR);

  const defaultMin = rate !== undefined ? Math.min(MAX_POLL, Math.max(MIN_POLL, Math.ceil(Math.log2(rate.interval)))) : MIN_POLL;
  const pollMin = integerIn(options.pollRange?.min ?? defaultMin, -128, 127, "pollRange.min");
  const pollMax = integerIn(options.pollRange?.max ?? MAX_POLL, pollMin, 127, "pollRange.max");

  return {
    slots: integerIn(options.batchSize ?? DEFAULT_BATCH_SIZE, 1, 4096, "batchSize"),
    capacity: integerIn(options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES, 48, 2048, "maxRequestBytes"),
    versionMask,
    interleaved,
    pollMin,
    pollMax,
    rateInterval,
    burst,
    kodOneIn,
    rateTableBytes,
    interleavedTableBytes,
    accessListCapacity,
    allow,
    deny,
  };
}

// ---- System state: what every response says about our clock ----

export interface ServerSystemState {
  /** 0 none, 1 insert, 2 delete, 3 unsynchronised. */
  leap: 0 | 1 | 2 | 3;
  /** 1 primary … 15; 16 unsynchronised (RFC 5905 Figure 11). */
  stratum: number;
  /** log2 seconds, e.g. −20 (≈ 1 µs). */
  precision: number;
  /** Reference id: a u32 (IPv4 address or hash) or four ASCII characters (stratum 1, "GPS", "INIT"). */
  referenceId: number | string;
  /** Seconds, ≥ 0. */
  rootDelay: number;
  /** Seconds, ≥ 0. */
  rootDispersion: number;
  /** NTP timestamp of the last clock update (0n: never). */
  referenceTime: bigint;
}

/**
 * What a server with no synchronised source says (RFC 5905: leap 3 = "alarm", stratum 16 =
 * unsynchronised, reference id "INIT" as ntpd's start-up state). Note chrony and ntpd put stratum
 * 16 on the wire as 0; RFC 5905's packet field defines 16 as "unsynchronized", which we send. Clients
 * reject both as a time source because of leap 3.
 */
export function unsynchronisedState(precision = -20): ServerSystemState {
  return { leap: 3, stratum: 16, precision, referenceId: "INIT", rootDelay: 0, rootDispersion: 0, referenceTime: 0n };
}

/** Reference id as the u32 whose big-endian bytes go on the wire. */
export function referenceIdValue(id: number | string): number {
  if (typeof id === "number") {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new PolicyError(`reference id ${id} is not a u32`);
    return id;
  }
  if (!/^[\x20-\x7e]{0,4}$/.test(id)) throw new PolicyError(`reference id ${JSON.stringify(id)} must be up to 4 ASCII characters`);
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + (i < id.length ? id.charCodeAt(i) : 0);
  return v;
}

/** Seconds to the 16.16 short format, rounded up (an error bound is never understated), saturating;
 *  the same rule as asm/timestamp.ts secondsToShort. */
export function secondsToShort(seconds: number): number {
  if (!(seconds > 0)) return 0;
  const scaled = Math.ceil(seconds * 65536);
  return scaled >= 0xffffffff ? 0xffffffff : scaled;
}
