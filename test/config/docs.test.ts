import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { END_MARKER, START_MARKER, renderConfigReference, replaceReferenceSection } from "../../ts/config/docs.js";
import { parseConfig } from "../../ts/config/index.js";

const README = join(import.meta.dirname, "..", "..", "README.md");

describe("README config reference", () => {
  it("matches the reference generated from the schema (run `npm run docs:config` after changing it)", () => {
    const readme = readFileSync(README, "utf8");
    expect(replaceReferenceSection(readme, renderConfigReference())).toBe(readme);
  });

  it("documents every section and key of the schema", () => {
    const doc = renderConfigReference();
    for (const heading of ["[[source]]", "[source-defaults]", "[[server]]", "[[nts-ke-server]]", "[keyset]", "[synchronization]", "[observability]", "[daemon]"]) {
      expect(doc).toContain(`### \`${heading}\``);
    }
    for (const k of ["`listen`", "`denylist.filter`", "`rate-limit.burst`", "`local-stratum`", "`certificate-chain-path`", "`user`"]) expect(doc).toContain(`| ${k} |`);
  });

  it("shows TOML examples that load", () => {
    const blocks = [...renderConfigReference().matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) expect(() => parseConfig(block, "README.md")).not.toThrow();
  });

  it("replaces only the text between the markers", () => {
    const before = `# head\n${START_MARKER}\nold\n${END_MARKER}\ntail\n`;
    expect(replaceReferenceSection(before, "new")).toBe(`# head\n${START_MARKER}\nnew\n${END_MARKER}\ntail\n`);
    expect(() => replaceReferenceSection("no markers", "x")).toThrow(/config-reference/);
  });
});
