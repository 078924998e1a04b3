// Property test of the source state machine: any interleaving of timer firings, send reports,
// genuine/forged/garbage/KoD answers and filter feedback keeps its invariants and never throws.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_POLL_EXPONENT, RANDOM_BYTES_PER_POLL, type SourceAction } from "../../ts/protocol/source.js";
import { ascii } from "../query/support.js";
import { core, newSource, ntpAt, randomSource, response } from "./support.js";

type Step =
  | { kind: "timer"; early: boolean }
  | { kind: "answer"; what: "good" | "unsync" | "rate" | "deny" | "forged" | "junk" | "late"; poll: number }
  | { kind: "filtered"; offset: number; jitter: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("timer" as const), early: fc.boolean() }),
  fc.record({
    kind: fc.constant("answer" as const),
    what: fc.constantFrom("good", "good", "good", "unsync", "rate", "deny", "forged", "junk", "late") as fc.Arbitrary<"good">,
    poll: fc.integer({ min: -128, max: 127 }),
  }),
  fc.record({ kind: fc.constant("filtered" as const), offset: fc.double({ min: -1, max: 1, noNaN: true }), jitter: fc.double({ min: 0, max: 0.1, noNaN: true }) }),
);

describe("source state machine (property)", () => {
  it("keeps reach 8-bit, poll within its limits or the server's floor, one live request, no throw", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), (steps, a, b) => {
        const limits = { min: Math.min(a, b), max: Math.max(a, b) };
        const s = newSource({ pollLimits: limits, initialPoll: limits.min });
        const random = randomSource(a * 7 + b + 1);
        let now = 0;
        let timerAt: number | undefined;
        let live: { id: number; bytes: Uint8Array } | undefined;
        let denied = false;
        const take = (actions: SourceAction[]) => {
          for (const x of actions) {
            if (x.kind === "set-timer") {
              expect(x.at).toBeGreaterThanOrEqual(now - 1e-9);
              timerAt = x.at;
            }
            if (x.kind === "send") {
              expect(denied).toBe(false);
              live = { id: x.requestId, bytes: x.bytes };
              s.handleSent(x.requestId, ntpAt(now));
            }
            if (x.kind === "close" && live?.id === x.requestId) live = undefined;
            if (x.kind === "demobilize") denied = true;
          }
        };
        take(s.start(0));
        for (const st of steps) {
          if (st.kind === "timer") {
            // Fire when asked, or (early) at the current time: a spurious wake-up must only re-arm.
            if (!st.early && timerAt !== undefined) now = Math.max(now, timerAt);
            take(s.handleTimer(now, random(RANDOM_BYTES_PER_POLL)));
          } else if (st.kind === "filtered") {
            take(s.handleFiltered(st.offset, st.jitter, now));
          } else if (live !== undefined) {
            const t = now + 0.01;
            const good = response(core, live.bytes, now);
            const bytes =
              st.what === "good" ? good
              : st.what === "unsync" ? response(core, live.bytes, now, { leap: 3, stratum: 0, referenceId: 0 })
              : st.what === "rate" ? response(core, live.bytes, now, { stratum: 0, referenceId: ascii("RATE"), poll: st.poll })
              : st.what === "deny" ? response(core, live.bytes, now, { stratum: 0, referenceId: ascii("DENY") })
              : st.what === "forged" ? response(core, live.bytes, now, { originTime: 12345n })
              : st.what === "junk" ? random(48)
              : good;
            const id = st.what === "late" ? live.id - 1 : live.id;
            take(s.handleResponse(id, bytes, ntpAt(t), t));
          }
          expect(s.reach).toBeGreaterThanOrEqual(0);
          expect(s.reach).toBeLessThanOrEqual(0xff);
          expect(s.poll).toBeGreaterThanOrEqual(limits.min);
          expect(s.poll).toBeLessThanOrEqual(Math.max(limits.max, s.serverPollFloor));
          expect(s.poll).toBeLessThanOrEqual(MAX_POLL_EXPONENT);
          expect(s.condition === "denied").toBe(denied);
        }
      }),
      { numRuns: 300 },
    );
  });
});
