// Keeping the NTS cookie master keys ([keyset]) across restarts and across tock instances: a
// KeyStore (file or memory) and the KeysetManager that loads, rotates, persists and publishes the
// key set (ts/protocol/nts-keyset.ts holds the rules; this file only does I/O and timers).
//
// Sharing: several instances may point `key-storage-path` at one file (one NTS-KE server feeding
// separate NTP servers). The first to start creates the file atomically and exclusively (write a
// private temp file, then link(2) it into place: fails if the file exists, so two first starts
// cannot both win); the others load it. Rotation is a deterministic ratchet, so every instance
// computes the same keys on its own; each re-reads the file at every rotation (the file wins if
// it is valid — e.g. an operator replaced it) and rewrites it by rename(2), so readers always see
// a whole file. Instances writing at the same boundary write identical bytes.
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { Logger } from "../observe/logger.js";
import { NtsKeyset, MASTER_KEY_BYTES, type ActiveKey, type KeysetOptions } from "../protocol/nts-keyset.js";

export interface KeyStore {
  /** The stored text, or undefined if there is none yet. */
  read(): string | undefined;
  /** Stores `text` only if nothing is stored yet; false if something already was. */
  createExclusive(text: string): boolean;
  /** Replaces what is stored, atomically. */
  replace(text: string): void;
  /** Why the stored copy is at risk (e.g. readable by others), or undefined. */
  warning(): string | undefined;
}

/** Keys in a file, mode 0600, written via a temp file and link/rename (never a partial file). */
export class FileKeyStore implements KeyStore {
  constructor(readonly path: string) {}

  read(): string | undefined {
    try {
      return readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  createExclusive(text: string): boolean {
    const temp = this.writeTemp(text);
    try {
      linkSync(temp, this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    } finally {
      unlinkSync(temp);
    }
  }

  replace(text: string): void {
    renameSync(this.writeTemp(text), this.path);
  }

  warning(): string | undefined {
    try {
      const mode = statSync(this.path).mode & 0o777;
      if ((mode & 0o077) !== 0) return `${this.path} is mode ${mode.toString(8)}: others can read the NTS cookie keys (chmod 600)`;
    } catch {
      // no file yet: nothing to warn about
    }
    return undefined;
  }

  private writeTemp(text: string): string {
    const temp = `${this.path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    const fd = openSync(temp, "wx", 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return temp;
  }
}

/** Keys in memory only (no `key-storage-path`; and the simulated twin for tests). */
export class MemoryKeyStore implements KeyStore {
  text: string | undefined;
  read(): string | undefined {
    return this.text;
  }
  createExclusive(text: string): boolean {
    if (this.text !== undefined) return false;
    this.text = text;
    return true;
  }
  replace(text: string): void {
    this.text = text;
  }
  warning(): string | undefined {
    return undefined;
  }
}

export interface ActiveKeys {
  readonly keys: readonly ActiveKey[];
  readonly currentId: number;
}

export interface KeysetManagerOptions extends KeysetOptions {
  store: KeyStore;
  /** Unix seconds (realtime). */
  now: () => number;
  random?: (bytes: number) => Uint8Array;
  logger?: Logger;
}

/** Longest single timer (setTimeout's limit is ~24.8 days); longer waits re-arm. */
const MAX_TIMER_MS = 86_400_000;

export class KeysetManager {
  private keyset: NtsKeyset;
  private readonly listeners: ((keys: ActiveKeys) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly random: (bytes: number) => Uint8Array;

  constructor(private readonly options: KeysetManagerOptions) {
    this.random = options.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.keyset = this.load();
    const warning = options.store.warning();
    if (warning !== undefined) options.logger?.warn(warning);
  }

  /** Key table slots the kernels need. */
  get slots(): number {
    return NtsKeyset.slotsFor(this.options);
  }

  active(): ActiveKeys {
    return this.keyset.active(this.options.now());
  }

  /** Called now and on every change with the keys to install. */
  onChange(listener: (keys: ActiveKeys) => void): void {
    this.listeners.push(listener);
    listener(this.active());
  }

  /** Re-reads the store, ratchets to now, persists if changed, and tells the listeners. */
  rotate(): void {
    const now = this.options.now();
    const stored = this.options.store.read();
    if (stored !== undefined && stored !== this.keyset.serialize()) {
      const restored = NtsKeyset.restore(this.options, stored, now);
      if ("keyset" in restored) this.keyset = restored.keyset;
    }
    const changed = this.keyset.advance(now);
    // Kernels get the new keys first: failing to persist them (e.g. the key file's directory is not
    // writable after the privilege drop) must not stop the rotation in memory.
    const active = this.active();
    for (const l of this.listeners) l(active);
    const text = this.keyset.serialize();
    if (changed || stored !== text) this.options.store.replace(text);
  }

  /** Rotates at every boundary until stop(). Timers are unref'd (they never keep the process alive). */
  start(): void {
    const arm = (): void => {
      const seconds = this.keyset.secondsToNextRotation(this.options.now());
      const ms = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(seconds * 1000)));
      this.timer = setTimeout(() => {
        try {
          this.rotate();
        } catch (err) {
          this.options.logger?.error({ err }, "NTS key rotation could not be persisted (the key file and its directory must be writable by the daemon's user)");
        }
        arm();
      }, ms);
      this.timer.unref();
    };
    arm();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private load(): NtsKeyset {
    const { store, logger } = this.options;
    const now = this.options.now();
    for (let attempt = 0; attempt < 3; attempt++) {
      const stored = store.read();
      if (stored !== undefined) {
        const restored = NtsKeyset.restore(this.options, stored, now);
        if ("keyset" in restored) {
          if (restored.keyset.serialize() !== stored) store.replace(restored.keyset.serialize());
          return restored.keyset;
        }
        logger?.warn({ reason: restored.reason }, "NTS key file not usable; starting a new key chain (clients will redo NTS-KE)");
        const fresh = NtsKeyset.fresh(this.options, now, this.random(MASTER_KEY_BYTES));
        store.replace(fresh.serialize());
        return fresh;
      }
      const fresh = NtsKeyset.fresh(this.options, now, this.random(MASTER_KEY_BYTES));
      if (store.createExclusive(fresh.serialize())) return fresh;
      // Another instance created it between our read and our create: load theirs.
    }
    throw new Error("NTS key store keeps changing under us");
  }
}
