// A pool source (`[[source]] mode = "pool"`): one DNS name standing for many servers, of which
// `count` are used at a time. Sans-IO: it asks for DNS look-ups and for sources to be added or
// removed; the caller resolves (ts/daemon/resolver.ts), runs the sources and reports their words.
//
// Policy (ntpd's and ntpd-rs's pool behaviour, with explicit bounds):
//   - members are distinct addresses (address + port); `ignore` addresses are never used;
//   - a member is replaced when it is unreachable (8 polls unanswered), denied us (KoD DENY/RSTR),
//     or has been a falseticker in every review for `falsetickerHold` seconds (a server that is
//     wrong once in a while is not dropped; one that is persistently wrong is);
//   - a replaced address is not taken again for `dropHold` seconds, even if DNS returns it;
//   - DNS is asked at most once per `resolveInterval` (min…max): the interval doubles after a look-up
//     that failed or brought nothing usable, and falls back to the minimum after one that helped.
//     A pool that cannot be filled therefore costs one look-up per hour at most, not a storm.
import type { SourceAddress } from "./source.js";
import type { SourceStatusWord } from "./system.js";

export interface PoolOptions {
  host: string;
  port: number;
  /** Servers to keep in use. */
  count: number;
  /** Addresses (IP literals) never to use. */
  ignore?: readonly string[];
  /** Bounds of the look-up interval (s): default 60 and 3600. */
  minResolveInterval?: number;
  maxResolveInterval?: number;
  /** Seconds a member must be a falseticker without a break before it is replaced (default 900). */
  falsetickerHold?: number;
  /** Seconds a replaced address stays excluded (default 3600). */
  dropHold?: number;
}

export type PoolAction =
  /** Resolve `host`; answer with handleResolved or handleResolveFailed. */
  | { kind: "resolve"; host: string }
  /** Start a source for this server. */
  | { kind: "add"; to: SourceAddress }
  /** Stop the source for this server. */
  | { kind: "remove"; to: SourceAddress; reason: string }
  /** Call handleTimer at `at` (monotonic s); replaces an earlier pool timer. */
  | { kind: "set-timer"; at: number };

interface Member {
  to: SourceAddress;
  /** Monotonic time since which every review saw it as a falseticker (undefined: not now). */
  falseSince: number | undefined;
}

const key = (a: { address: string; port: number }): string => `${a.address.toLowerCase()}|${a.port}`;

export class Pool {
  private readonly members = new Map<string, Member>();
  private readonly dropped = new Map<string, number>(); // key → excluded until (monotonic s)
  private readonly ignore: Set<string>;
  private readonly minInterval: number;
  private readonly maxInterval: number;
  private readonly falsetickerHold: number;
  private readonly dropHold: number;
  private interval: number;
  private resolving = false;
  private lastResolveAt = -Infinity;
  private timerAt: number | undefined;
  /** Look-ups asked for so far (for reports and the rate-bound tests). */
  resolves = 0;

  constructor(private readonly options: PoolOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) throw new RangeError(`pool count must be a positive integer, got ${options.count}`);
    this.ignore = new Set((options.ignore ?? []).map((a) => a.toLowerCase()));
    this.minInterval = options.minResolveInterval ?? 60;
    this.maxInterval = Math.max(options.maxResolveInterval ?? 3600, this.minInterval);
    this.falsetickerHold = options.falsetickerHold ?? 900;
    this.dropHold = options.dropHold ?? 3600;
    this.interval = this.minInterval;
  }

  get host(): string {
    return this.options.host;
  }

  /** Current members. */
  servers(): SourceAddress[] {
    return [...this.members.values()].map((m) => m.to);
  }

  start(now: number): PoolAction[] {
    return this.resolveIfDue(now);
  }

  handleTimer(now: number): PoolAction[] {
    if (this.timerAt !== undefined && now >= this.timerAt) this.timerAt = undefined;
    return this.resolveIfDue(now);
  }

  /** The look-up answered: add usable new addresses up to `count`. */
  handleResolved(addresses: readonly { address: string; family: 4 | 6 }[], now: number): PoolAction[] {
    this.resolving = false;
    const actions: PoolAction[] = [];
    for (const a of addresses) {
      if (this.members.size >= this.options.count) break;
      const to: SourceAddress = { address: a.address, port: this.options.port, family: a.family };
      const k = key(to);
      if (this.members.has(k) || this.ignore.has(a.address.toLowerCase())) continue;
      const until = this.dropped.get(k);
      if (until !== undefined && now < until) continue;
      this.dropped.delete(k);
      this.members.set(k, { to, falseSince: undefined });
      actions.push({ kind: "add", to });
    }
    // A look-up that helped resets the back-off; one that did not doubles it.
    this.interval = actions.length > 0 ? this.minInterval : Math.min(this.interval * 2, this.maxInterval);
    return [...actions, ...this.resolveIfDue(now)];
  }

  handleResolveFailed(now: number): PoolAction[] {
    this.resolving = false;
    this.interval = Math.min(this.interval * 2, this.maxInterval);
    return this.resolveIfDue(now);
  }

  /**
   * After a selection round: `wordOf` gives each member's state word. Removes members that are
   * unreachable, denied, or persistent falsetickers, and asks for replacements (rate-bounded).
   */
  review(now: number, wordOf: (to: SourceAddress) => SourceStatusWord | undefined): PoolAction[] {
    const actions: PoolAction[] = [];
    for (const [k, m] of this.members) {
      const word = wordOf(m.to);
      let reason: string | undefined;
      if (word === "unreachable" || word === "denied") reason = word;
      if (word === "falseticker") {
        m.falseSince ??= now;
        if (now - m.falseSince >= this.falsetickerHold) reason = `falseticker for ${Math.round(now - m.falseSince)} s`;
      } else {
        m.falseSince = undefined;
      }
      if (reason === undefined) continue;
      this.members.delete(k);
      this.dropped.set(k, now + this.dropHold);
      actions.push({ kind: "remove", to: m.to, reason });
    }
    return [...actions, ...this.resolveIfDue(now)];
  }

  private resolveIfDue(now: number): PoolAction[] {
    if (this.members.size >= this.options.count || this.resolving) return [];
    const due = this.lastResolveAt + this.interval;
    if (now >= due) {
      this.resolving = true;
      this.lastResolveAt = now;
      this.resolves++;
      return [{ kind: "resolve", host: this.options.host }];
    }
    if (this.timerAt === due) return [];
    this.timerAt = due;
    return [{ kind: "set-timer", at: due }];
  }
}
