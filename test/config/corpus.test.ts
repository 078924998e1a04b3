// Every file in test/config/broken/ is a config with known mistakes; its .expected sidecar lists the
// exact errors (file:line:col: message) tock must report, all of them, in file order.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkConfig, formatIssue } from "../../ts/config/index.js";

const dir = join(import.meta.dirname, "broken");
const cases = readdirSync(dir)
  .filter((f) => f.endsWith(".toml"))
  .sort();

describe("broken config corpus", () => {
  it("has at least 20 cases, each with an .expected file", () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
    for (const f of cases) expect(readdirSync(dir)).toContain(f.replace(/\.toml$/, ".expected"));
  });

  it.each(cases)("%s is rejected with the expected file:line:col errors", (file) => {
    const text = readFileSync(join(dir, file), "utf8");
    const expected = readFileSync(join(dir, file.replace(/\.toml$/, ".expected")), "utf8").trim().split("\n");
    const report = checkConfig(text, `broken/${file}`);
    expect(report.config).toBeUndefined();
    expect(report.errors.map(formatIssue)).toEqual(expected);
    // The shape the design promises: file:line:col: what is wrong (; allowed: …)
    for (const line of expected) expect(line).toMatch(/^broken\/[\w.-]+\.toml:\d+:\d+: .+/);
  });
});
