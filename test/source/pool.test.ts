// Pool membership (ts/protocol/pool.ts): distinct members, ignore list, replacement of unreachable,
// denied and persistently false servers, and the bounded DNS look-up rate.
import { describe, expect, it } from "vitest";
import { Pool, type PoolAction } from "../../ts/protocol/pool.js";
import type { SourceStatusWord } from "../../ts/protocol/system.js";

const v4 = (...last: number[]) => last.map((n) => ({ address: `192.0.2.${n}`, family: 4 as const }));
const added = (a: PoolAction[]) => a.flatMap((x) => (x.kind === "add" ? [x.to.address] : []));
const removed = (a: PoolAction[]) => a.flatMap((x) => (x.kind === "remove" ? [`${x.to.address} ${x.reason}`] : []));

describe("pool", () => {
  it("resolves at start and keeps `count` distinct, non-ignored servers", () => {
    const pool = new Pool({ host: "pool.example", port: 123, count: 3, ignore: ["192.0.2.2"] });
    expect(pool.start(0)).toEqual([{ kind: "resolve", host: "pool.example" }]);
    const a = pool.handleResolved([...v4(1, 1, 2, 3), ...v4(4, 5)], 0.1);
    expect(added(a)).toEqual(["192.0.2.1", "192.0.2.3", "192.0.2.4"]);
    expect(pool.servers().map((s) => s.port)).toEqual([123, 123, 123]);
    expect(a.some((x) => x.kind === "resolve")).toBe(false); // full: no more look-ups
  });

  it("replaces unreachable and denied members, never re-taking them while held", () => {
    const pool = new Pool({ host: "p", port: 123, count: 2, minResolveInterval: 60 });
    pool.start(0);
    pool.handleResolved(v4(1, 2), 0);
    const words: Record<string, SourceStatusWord> = { "192.0.2.1": "unreachable", "192.0.2.2": "selected" };
    const r = pool.review(100, (to) => words[to.address]);
    expect(removed(r)).toEqual(["192.0.2.1 unreachable"]);
    expect(r.at(-1)).toEqual({ kind: "resolve", host: "p" }); // last look-up was at 0, > 60 s ago
    // DNS returns the bad one again first: it is skipped for dropHold.
    expect(added(pool.handleResolved(v4(1, 3), 101))).toEqual(["192.0.2.3"]);
    words["192.0.2.3"] = "denied";
    expect(removed(pool.review(102, (to) => words[to.address]))).toEqual(["192.0.2.3 denied"]);
  });

  it("replaces a falseticker only after it has been false for falsetickerHold without a break", () => {
    const pool = new Pool({ host: "p", port: 123, count: 1, falsetickerHold: 900 });
    pool.start(0);
    pool.handleResolved(v4(7), 0);
    let word: SourceStatusWord = "falseticker";
    expect(removed(pool.review(0, () => word))).toEqual([]);
    expect(removed(pool.review(800, () => word))).toEqual([]);
    word = "candidate"; // a break resets the clock
    pool.review(850, () => word);
    word = "falseticker";
    expect(removed(pool.review(900, () => word))).toEqual([]);
    expect(removed(pool.review(1799, () => word))).toEqual([]);
    expect(removed(pool.review(1800, () => word))).toEqual(["192.0.2.7 falseticker for 900 s"]);
  });

  it("bounds DNS look-ups: the interval doubles while they fail or bring nothing new, up to the maximum", () => {
    const pool = new Pool({ host: "p", port: 123, count: 4, minResolveInterval: 60, maxResolveInterval: 480 });
    let now = 0;
    let actions = pool.start(now);
    const lookups: number[] = [];
    // Drive for 2 hours of virtual time: every resolve fails; timers fire exactly when asked.
    let timer: number | undefined;
    for (let guard = 0; guard < 1000 && now < 7200; guard++) {
      for (const a of actions) {
        if (a.kind === "resolve") lookups.push(now);
        if (a.kind === "set-timer") timer = a.at;
      }
      if (actions.some((a) => a.kind === "resolve")) {
        actions = pool.handleResolveFailed(now);
        continue;
      }
      if (timer === undefined) break;
      now = timer;
      timer = undefined;
      actions = pool.handleTimer(now);
    }
    const gaps = lookups.slice(1).map((t, i) => t - lookups[i]!);
    expect(gaps.slice(0, 4)).toEqual([120, 240, 480, 480]);
    expect(Math.max(...gaps)).toBe(480);
    const expected = [0, 120, 360];
    for (let t = 840; t <= 7200; t += 480) expected.push(t);
    expect(lookups.filter((t) => t <= 7200)).toEqual(expected);
    expect(pool.resolves).toBe(lookups.length + actions.filter((a) => a.kind === "resolve").length);
  });

  it("a review asks for no look-up while one is running or the pool is full", () => {
    const pool = new Pool({ host: "p", port: 123, count: 2 });
    pool.start(0);
    expect(pool.review(1, () => undefined)).toEqual([]); // resolving
    pool.handleResolved(v4(1), 2); // one short: next look-up after minResolveInterval
    expect(pool.review(3, () => "candidate")).toEqual([]);
    expect(pool.handleTimer(62)).toEqual([{ kind: "resolve", host: "p" }]);
  });
});
