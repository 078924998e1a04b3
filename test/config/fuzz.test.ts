// Config files are written by people and by tools: whatever the text, checking it must never throw,
// and every error must point inside the file.
import fc from "fast-check";
import { stringify } from "smol-toml";
import { describe, expect, it } from "vitest";
import { checkConfig } from "../../ts/config/index.js";

const VALID = `[[server]]
listen = "0.0.0.0:123"
denylist = { filter = ["10.0.0.0/8", "2001:db8::/32"], action = "deny" }
rate-limit = { interval = 2, burst = 8 }

[[source]]
mode = "pool"
address = "pool.ntp.org"
count = 4
poll-interval-limits = { min = 4, max = 10 }

[synchronization]
local-stratum = 3
startup-step-panic-threshold = { forward = "inf", backward = 86400 }
`;

function checkInvariants(text: string): void {
  const report = checkConfig(text, "fuzz.toml");
  expect(report.config === undefined).toBe(report.errors.length > 0);
  const lines = text.split(/\r\n|\n|\r/).length;
  for (const e of [...report.errors, ...report.warnings]) {
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.line).toBeLessThanOrEqual(lines);
    expect(e.col).toBeGreaterThanOrEqual(1);
    expect(e.message.length).toBeGreaterThan(0);
  }
}

describe("config checking never throws", () => {
  it("on random edits of a valid config (property)", () => {
    const edit = fc.record({ at: fc.nat(VALID.length), del: fc.nat(4), ins: fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('"', "[", "]", "{", "}", "=", "\n", ",", "#", ".", "'''", '"""', "-1", "1e999")) });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = VALID;
        for (const { at, del, ins } of edits) {
          const p = Math.min(at, text.length);
          text = text.slice(0, p) + ins + text.slice(p + del);
        }
        checkInvariants(text);
      }),
      { numRuns: 1500 },
    );
  });

  it("on arbitrary documents with tock's section and key names (property)", () => {
    const name = fc.constantFrom("server", "source", "listen", "mode", "address", "denylist", "filter", "action", "rate-limit", "synchronization", "local-stratum", "count", "nts-ke-server", "x");
    const leaf = fc.oneof(fc.integer({ min: -1e6, max: 1e6 }), fc.boolean(), fc.constantFrom("0.0.0.0:123", "pool", "10.0.0.0/8", "inf", "deny", ""), fc.double({ noNaN: true, min: -10, max: 10 }));
    const { doc } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("value"), { maxLength: 3 }), tie("doc")),
      doc: fc.dictionary(name, tie("value"), { maxKeys: 4 }),
    }));
    fc.assert(fc.property(doc, (d) => checkInvariants(stringify(d))), { numRuns: 1500 });
  });

  it("on arbitrary text (property)", () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), checkInvariants), { numRuns: 1000 });
  });
});
