// `tock validate -c FILE`: checks a config file against the schema without starting anything.
// Exit codes: 0 valid (warnings allowed), 1 invalid or unreadable, 2 usage error.

import { parseArgs } from "node:util";
import { formatIssue, loadConfigReport } from "../config/index.js";

const USAGE = `usage: tock validate -c FILE [-c FILE ...]

Checks tock config files (TOML) and prints every problem as FILE:LINE:COL: message.

options:
  -c, --config FILE   config file to check (repeatable)
  -h, --help          show this help

exit status: 0 valid, 1 invalid, 2 usage error
`;

export interface Output {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const processOutput: Output = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

export async function run(argv: string[], out: Output = processOutput): Promise<number> {
  let files: string[];
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { config: { type: "string", short: "c", multiple: true }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      out.stdout(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new Error(`unexpected argument '${positionals[0]}' (give files with -c)`);
    files = values.config ?? [];
    if (files.length === 0) throw new Error("no config file given (-c FILE)");
  } catch (err) {
    out.stderr(`tock validate: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  let status = 0;
  for (const file of files) {
    const report = loadConfigReport(file);
    for (const w of report.warnings) out.stderr(`${formatIssue(w)}\n`);
    if (report.errors.length === 0) {
      out.stdout(`${file}: ok\n`);
      continue;
    }
    for (const e of report.errors) out.stderr(`${formatIssue(e)}\n`);
    const n = report.errors.length;
    out.stderr(`${file}: ${n} error${n === 1 ? "" : "s"}\n`);
    status = 1;
  }
  return status;
}
