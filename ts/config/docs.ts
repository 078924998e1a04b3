// Generates the README's config reference from the schema, so the docs cannot drift from the code.
//   node dist/ts/config/docs.js            rewrite the section of ./README.md between the markers
//   node dist/ts/config/docs.js --check    exit 1 if ./README.md is out of date
// (`npm run docs:config`.) A test compares the README with `renderConfigReference()` too.

import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { ListSpec, TableSpec, tomlLiteral, unwrap, type Field, type Spec } from "./dsl.js";
import { builtinConfigText } from "./load.js";
import { configSchema } from "./schema.js";

export const START_MARKER = "<!-- config-reference:start -->";
export const END_MARKER = "<!-- config-reference:end -->";

const INTRO = `tock reads one TOML file, given with \`-c FILE\` (\`tock daemon -c FILE\`, \`tock validate -c FILE\`).
Its vocabulary is ntpd-rs's \`ntp.toml\`: kebab-case keys, \`[[source]]\`, \`[[server]]\`, \`[[nts-ke-server]]\`,
\`[synchronization]\`, \`[observability]\`, \`[keyset]\`, plus tock's own \`[daemon]\`. Every section is optional;
absent keys take the defaults below. Unknown keys and tables are errors (with a "did you mean" hint), and
every error is reported as \`FILE:LINE:COL: key: what is wrong; allowed: what is allowed\`. Keys marked
*not yet active* are accepted and checked, but the feature that uses them has not landed yet;
\`tock validate\` prints a warning for each one a file sets. Check a file with \`tock validate -c FILE\`
(exit status 0 valid, 1 invalid, 2 usage error).`;

function escapeCell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function defaultCell(field: Field<unknown>): string {
  const o = field.options;
  if (o.required) return "required";
  if (o.defaultText !== undefined) return o.defaultText;
  if (o.default !== undefined) return `\`${tomlLiteral(o.default)}\``;
  return "unset";
}

function describe(field: Field<unknown>): string {
  const pending = field.options.pending === undefined ? "" : `*Not yet active (${field.options.pending}).* `;
  return pending + field.options.doc;
}

/** Rows for a table's keys; nested tables (not sections) become dotted keys below their parent. */
function rows(spec: TableSpec<Record<string, Field<unknown>>>, prefix: string): string[] {
  const out: string[] = [];
  for (const [name, field] of Object.entries(spec.fields)) {
    const inner = unwrap(field.spec);
    const type = inner instanceof TableSpec ? "table" : field.spec.allowed();
    out.push(`| \`${prefix}${name}\` | ${escapeCell(type)} | ${escapeCell(defaultCell(field))} | ${escapeCell(describe(field))} |`);
    if (inner instanceof TableSpec) out.push(...rows(inner, `${prefix}${name}.`));
  }
  return out;
}

function section(name: string, field: Field<unknown>): string[] {
  const spec = unwrap(field.spec);
  const isArray = spec instanceof ListSpec;
  const tableSpec = unwrap(isArray ? (spec as ListSpec<unknown>).item : spec) as Spec<unknown>;
  if (!(tableSpec instanceof TableSpec)) throw new Error(`config schema: section ${name} is not a table`);
  const heading = isArray ? `[[${name}]]` : `[${name}]`;
  const lines = [`### \`${heading}\``, ""];
  lines.push(describe(field) + (isArray ? " Repeat the section for more than one." : ""), "");
  lines.push("| Key | Type and allowed values | Default | Description |", "|---|---|---|---|");
  lines.push(...rows(tableSpec as TableSpec<Record<string, Field<unknown>>>, ""), "");
  return lines;
}

/** The markdown placed between the README markers. */
export function renderConfigReference(): string {
  const lines = [INTRO, ""];
  lines.push(
    "Without `-c`, tock uses a built-in config. Run unprivileged (e.g. `npm start`), it serves on port 1123 of",
    "the loopback addresses only, so trying tock out exposes nothing; run as root, on port 123 of all addresses:",
    "",
    "```toml",
    builtinConfigText({ root: false }).trimEnd(),
    "```",
    "",
    "A config with no `[[server]]` section serves no time (as in ntpd-rs). The project's sample config loads as is:",
    "",
    "```toml",
    '[[source]]\nmode = "server"\naddress = "ntp11.metas.ch"\n[[source]]\nmode = "nts"\naddress = "time.cloudflare.com"',
    "```",
    "",
  );
  const root = unwrap(configSchema);
  if (!(root instanceof TableSpec)) throw new Error("config schema: the top level is not a table");
  for (const [name, field] of Object.entries(root.fields as Record<string, Field<unknown>>)) lines.push(...section(name, field));
  return lines.join("\n").trimEnd();
}

/** Replaces the text between the markers; throws if they are missing. */
export function replaceReferenceSection(readme: string, reference: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start) throw new Error(`README has no ${START_MARKER} … ${END_MARKER} section`);
  return `${readme.slice(0, start + START_MARKER.length)}\n${reference}\n${readme.slice(end)}`;
}

function main(argv: string[]): number {
  const file = "README.md";
  const readme = readFileSync(file, "utf8");
  const updated = replaceReferenceSection(readme, renderConfigReference());
  if (argv.includes("--check")) {
    if (updated === readme) return 0;
    process.stderr.write(`${file}: config reference is out of date; run npm run docs:config\n`);
    return 1;
  }
  if (updated !== readme) writeFileSync(file, updated);
  process.stdout.write(`${file}: config reference ${updated === readme ? "already up to date" : "updated"}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
