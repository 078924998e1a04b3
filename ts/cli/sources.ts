// `tock sources [-c FILE] [--json] [-v]`: the daemon's time sources, like `chronyc sources -v`.
import { EXIT_CODES_TEXT, runReportCommand } from "./observe-client.js";
import { renderSources, sourcesJson } from "./status-output.js";

const USAGE = `usage: tock sources [-c FILE] [--socket PATH] [--json] [-v]

Lists the running daemon's sources with their state in words (selected, candidate, outlier,
falseticker, unusable, initialising, unreachable, unsynchronised, denied, nts-failed), stratum, poll interval,
reach register, and last sample.

options:
  -c, --config FILE   find the socket from FILE's [observability] observation-path
      --socket PATH   the socket to ask (overrides -c)
      --json          print the sources as JSON
  -v, --verbose       explain the columns and symbols first
  -h, --help          show this help

Without -c or --socket: /run/tock/observe.sock, $XDG_RUNTIME_DIR/tock/observe.sock,
/tmp/tock-UID/observe.sock, the first that answers.
${EXIT_CODES_TEXT}
`;

export function run(argv: string[]): Promise<number> {
  return runReportCommand("sources", argv, USAGE, true, (report, options) => (options.json ? sourcesJson(report) : renderSources(report, options.verbose)));
}
