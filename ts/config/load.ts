// Loading a config: TOML text → smol-toml → schema decode → issues with file:line:col.

import { readFileSync } from "node:fs";
import { parse, TomlError } from "smol-toml";
import { decodeDocument } from "./dsl.js";
import { indexPositions } from "./locate.js";
import { findUnterminatedString } from "./syntax.js";
import { configSchema, type TockConfig } from "./schema.js";

export interface ConfigIssue {
  severity: "error" | "warning";
  file: string;
  line: number;
  col: number;
  /** "path: what is wrong; allowed: what is allowed" */
  message: string;
}

/** `file:line:col: message` (warnings say so). */
export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.severity === "warning" ? "warning: " : ""}${i.message}`;
}

export interface ConfigReport {
  /** The validated config with every default filled in; undefined when there are errors. */
  config: TockConfig | undefined;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

export class ConfigError extends Error {
  constructor(
    readonly errors: ConfigIssue[],
    readonly warnings: ConfigIssue[] = [],
  ) {
    super(errors.map(formatIssue).join("\n"));
    this.name = "ConfigError";
  }
}

/** Checks a config text; never throws. `fileName` is only used in messages. */
export function checkConfig(text: string, fileName: string): ConfigReport {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    // smol-toml's message is "Invalid TOML document: <what>\n\n<code block>"; keep <what>.
    let what = err.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
    let { line, column: col } = err;
    const open = findUnterminatedString(text);
    if (open !== undefined) {
      const before = text.slice(0, open).split(/\r\n|\n|\r/);
      if (before.length < line || (before.length === line && before[before.length - 1]!.length + 1 <= col)) {
        what = "unterminated string (a quoted string must close on the same line; use \"\"\" for multi-line strings)";
        [line, col] = [before.length, before[before.length - 1]!.length + 1];
      }
    }
    const error: ConfigIssue = { severity: "error", file: fileName, line, col, message: `TOML syntax error: ${what}; allowed: TOML 1.0 (https://toml.io)` };
    return { config: undefined, errors: [error], warnings: [] };
  }
  const { value, issues } = decodeDocument(configSchema, raw);
  const positions = indexPositions(text);
  const located = issues.map((i): ConfigIssue => {
    const { line, col } = positions.locate(i.path, i.where);
    return { severity: i.severity, file: fileName, line, col, message: i.message };
  });
  const byPosition = (a: ConfigIssue, b: ConfigIssue): number => a.line - b.line || a.col - b.col;
  return {
    config: value,
    errors: located.filter((i) => i.severity === "error").sort(byPosition),
    warnings: located.filter((i) => i.severity === "warning").sort(byPosition),
  };
}

/** Parses and validates a config text; throws ConfigError listing every error. */
export function parseConfig(text: string, fileName: string): TockConfig {
  const report = checkConfig(text, fileName);
  if (report.config === undefined) throw new ConfigError(report.errors, report.warnings);
  return report.config;
}

/** Where the built-in config listens: as root the standard port on all addresses, else loopback:1123. */
export interface BuiltinOptions {
  root?: boolean;
}

/** The name the built-in config has in messages. */
export const BUILTIN_NAME = "<built-in config>";

/**
 * The config used without `-c FILE`. As root: port 123 on all IPv4 and IPv6 addresses (the IPv6
 * socket must be IPv6-only so both can bind). Otherwise 127.0.0.1:1123 and [::1]:1123: a port that
 * needs no privilege, reachable only from this machine, so trying tock out exposes nothing.
 */
export function builtinConfigText(options: BuiltinOptions = {}): string {
  const root = options.root ?? process.getuid?.() === 0;
  const [v4, v6] = root ? ["0.0.0.0:123", "[::]:123"] : ["127.0.0.1:1123", "[::1]:1123"];
  return `# tock's built-in configuration (${root ? "running as root" : "running unprivileged"}).
# No [[source]] yet: the server reports itself unsynchronised (leap 3, stratum 16)
# unless [synchronization] local-stratum is set.
[[server]]
listen = "${v4}"

[[server]]
listen = "${v6}"
`;
}

/** Reads and validates `path`, or the built-in config when `path` is undefined. Throws ConfigError. */
export function loadConfig(path?: string, options: BuiltinOptions = {}): TockConfig {
  const report = loadConfigReport(path, options);
  if (report.config === undefined) throw new ConfigError(report.errors, report.warnings);
  return report.config;
}

/** Like loadConfig, but returns warnings too (the daemon logs them) and never throws. */
export function loadConfigReport(path?: string, options: BuiltinOptions = {}): ConfigReport {
  if (path === undefined) return checkConfig(builtinConfigText(options), BUILTIN_NAME);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const why = err instanceof Error && "code" in err ? String(err.code) : String(err);
    const error: ConfigIssue = { severity: "error", file: path, line: 1, col: 1, message: `cannot read the config file (${why}); allowed: a readable TOML file` };
    return { config: undefined, errors: [error], warnings: [] };
  }
  return checkConfig(text, path);
}
