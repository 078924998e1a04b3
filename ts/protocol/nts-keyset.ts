// The NTS cookie master keys (RFC 8915 §6): which keys exist, which one mints cookies, when they
// rotate, and their file format. Sans-IO: time comes in as Unix seconds, fresh key material as
// bytes; reading and writing the file is ts/daemon/keyset-store.ts's job.
//
// Rotation is a ratchet on a fixed schedule (the construction §6 recommends), so that several tock
// instances sharing one key file agree on every key without talking to each other:
//
//   epoch(t)   = floor(t / key-rotation-interval)         (t = Unix seconds)
//   key id     = epoch mod 2^32                            (public, written in every cookie)
//   K(e + 1)   = HKDF-SHA256(IKM = K(e), salt = be32(e + 1), info = "tock nts cookie key", 32 bytes)
//
// At time t the current epoch E mints cookies; keys of epochs E − stale-key-count … E are accepted
// (older cookies get an NTS NAK), and so is E + 1, derived ahead, so that an NTP server whose clock
// is slightly behind its KE server's still accepts cookies minted just after the boundary. Keys
// older than that are erased from memory and from the file (forward secrecy: HKDF cannot be run
// backwards, so a stolen file does not reveal keys that were already erased).
//
// File format (JSON, one object; written mode 0600 by the store):
//   { "format": "tock-nts-keyset/1", "rotation-interval": 86400,
//     "keys": [ { "epoch": 20414, "key": "<64 hex digits>" }, … ] }     (oldest first)
// A file with another interval, or whose newest key is too far behind to ratchet forward
// (MAX_RATCHET_STEPS), is replaced by a fresh random chain: cookies under it stop working, which
// clients recover from with a new NTS-KE (RFC 8915 §5.7).
import { hkdfSync } from "node:crypto";

export const KEYSET_FORMAT = "tock-nts-keyset/1";
export const MASTER_KEY_BYTES = 32;
/** Beyond this many missed rotations a file is not ratcheted forward but replaced (bounded work). */
export const MAX_RATCHET_STEPS = 100_000;
const HKDF_INFO = Buffer.from("tock nts cookie key");

export interface KeysetOptions {
  /** Seconds between rotations (config `key-rotation-interval`). */
  readonly rotationInterval: number;
  /** Old keys still accepted (config `stale-key-count`). */
  readonly staleKeyCount: number;
}

export interface EpochKey {
  readonly epoch: number;
  readonly key: Uint8Array;
}

/** A key as the WASM key table wants it. */
export interface ActiveKey {
  readonly id: number;
  readonly key: Uint8Array;
}

export type ParsedKeyset = { ok: true; keys: EpochKey[] } | { ok: false; reason: string };

export class NtsKeyset {
  private keys: EpochKey[]; // ascending epochs, contiguous

  private constructor(private readonly options: KeysetOptions, keys: EpochKey[]) {
    this.keys = keys;
  }

  /** A new chain starting at the epoch of `now` from 32 random bytes. */
  static fresh(options: KeysetOptions, now: number, random: Uint8Array): NtsKeyset {
    checkOptions(options);
    if (random.length !== MASTER_KEY_BYTES) throw new RangeError(`a master key is ${MASTER_KEY_BYTES} bytes`);
    return new NtsKeyset(options, [{ epoch: epochOf(now, options.rotationInterval), key: random.slice() }]);
  }

  /**
   * The key set stored in `text`, brought up to `now`; or null when the file cannot be used as it is
   * (unparsable, another interval, too far behind): then the caller starts a fresh chain.
   */
  static restore(options: KeysetOptions, text: string, now: number): { keyset: NtsKeyset } | { reason: string } {
    checkOptions(options);
    const parsed = parseKeyset(text, options.rotationInterval);
    if (!parsed.ok) return { reason: parsed.reason };
    const newest = parsed.keys[parsed.keys.length - 1]!;
    const behind = epochOf(now, options.rotationInterval) - newest.epoch;
    if (behind > MAX_RATCHET_STEPS) return { reason: `the newest key is ${behind} rotations old` };
    const keyset = new NtsKeyset(options, parsed.keys);
    keyset.advance(now);
    return { keyset };
  }

  /** The epoch whose key mints cookies now: the current one if we have it, else our newest. */
  currentEpoch(now: number): number {
    const epoch = epochOf(now, this.options.rotationInterval);
    const newest = this.keys[this.keys.length - 1]!.epoch;
    return Math.min(epoch, newest);
  }

  /**
   * Ratchets forward to the epoch of `now` and erases keys older than stale-key-count behind it.
   * Returns true if the set changed (then persist it and push it to the kernels).
   */
  advance(now: number): boolean {
    const epoch = epochOf(now, this.options.rotationInterval);
    let changed = false;
    let newest = this.keys[this.keys.length - 1]!;
    while (newest.epoch < epoch) {
      newest = { epoch: newest.epoch + 1, key: ratchet(newest.key, newest.epoch + 1) };
      this.keys.push(newest);
      changed = true;
    }
    const oldest = this.currentEpoch(now) - this.options.staleKeyCount;
    const kept = this.keys.filter((k) => k.epoch >= oldest);
    if (kept.length !== this.keys.length) {
      for (const k of this.keys) if (k.epoch < oldest) k.key.fill(0);
      this.keys = kept;
      changed = true;
    }
    return changed;
  }

  /** Keys the server accepts now (stale ones, current, and the next one derived ahead) and the id that mints. */
  active(now: number): { keys: ActiveKey[]; currentId: number } {
    const current = this.currentEpoch(now);
    const newest = this.keys[this.keys.length - 1]!;
    // At most stale + current + next (a file written by an instance whose clock is ahead may hold more).
    const keys: ActiveKey[] = this.keys
      .filter((k) => k.epoch >= current - this.options.staleKeyCount && k.epoch <= current + 1)
      .map((k) => ({ id: idOf(k.epoch), key: k.key }));
    if (newest.epoch === current) keys.push({ id: idOf(current + 1), key: ratchet(newest.key, current + 1) });
    return { keys, currentId: idOf(current) };
  }

  /** Seconds from `now` until the next rotation boundary. */
  secondsToNextRotation(now: number): number {
    const interval = this.options.rotationInterval;
    return (epochOf(now, interval) + 1) * interval - now;
  }

  /** Slots a key table needs: stale + current + next. */
  static slotsFor(options: KeysetOptions): number {
    return options.staleKeyCount + 2;
  }

  serialize(): string {
    return `${JSON.stringify({
      format: KEYSET_FORMAT,
      "rotation-interval": this.options.rotationInterval,
      keys: this.keys.map((k) => ({ epoch: k.epoch, key: Buffer.from(k.key).toString("hex") })),
    }, null, 2)}\n`;
  }

  /** The epochs held (oldest first), for tests and logs. */
  epochs(): number[] {
    return this.keys.map((k) => k.epoch);
  }
}

export function epochOf(unixSeconds: number, interval: number): number {
  return Math.floor(unixSeconds / interval);
}

/** Key id written in cookies for an epoch. */
export function idOf(epoch: number): number {
  return epoch >>> 0;
}

/** K(e) from K(e − 1): HKDF-SHA256 with the new epoch's id as salt (RFC 8915 §6, RFC 5869). */
export function ratchet(previous: Uint8Array, epoch: number): Uint8Array {
  const salt = Buffer.alloc(4);
  salt.writeUInt32BE(idOf(epoch));
  return new Uint8Array(hkdfSync("sha256", previous, salt, HKDF_INFO, MASTER_KEY_BYTES));
}

function checkOptions(o: KeysetOptions): void {
  if (!Number.isInteger(o.rotationInterval) || o.rotationInterval < 1) throw new RangeError("rotation interval must be a positive integer (seconds)");
  if (!Number.isInteger(o.staleKeyCount) || o.staleKeyCount < 0) throw new RangeError("stale key count must be a non-negative integer");
}

/** Parses and checks a key file: format tag, matching interval, 1..N keys of 32 bytes, contiguous epochs. */
export function parseKeyset(text: string, interval: number): ParsedKeyset {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (typeof value !== "object" || value === null) return { ok: false, reason: "not a JSON object" };
  const o = value as Record<string, unknown>;
  if (o.format !== KEYSET_FORMAT) return { ok: false, reason: `format is not ${KEYSET_FORMAT}` };
  if (o["rotation-interval"] !== interval) return { ok: false, reason: `rotation interval ${String(o["rotation-interval"])} s differs from the configured ${interval} s` };
  if (!Array.isArray(o.keys) || o.keys.length === 0 || o.keys.length > MAX_RATCHET_STEPS) return { ok: false, reason: "no keys" };
  const keys: EpochKey[] = [];
  for (const entry of o.keys as unknown[]) {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== "object" || e === null) return { ok: false, reason: "a key entry is not an object" };
    if (!Number.isSafeInteger(e.epoch) || (e.epoch as number) < 0) return { ok: false, reason: "a key has no valid epoch" };
    if (typeof e.key !== "string" || !/^[0-9a-f]{64}$/i.test(e.key)) return { ok: false, reason: "a key is not 64 hex digits" };
    const epoch = e.epoch as number;
    if (keys.length > 0 && epoch !== keys[keys.length - 1]!.epoch + 1) return { ok: false, reason: "key epochs are not consecutive" };
    keys.push({ epoch, key: new Uint8Array(Buffer.from(e.key, "hex")) });
  }
  return { ok: true, keys };
}
