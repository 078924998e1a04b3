// `tock status [-c FILE] [--json]`: the daemon's synchronisation state, like `chronyc tracking`,
// read from the management socket ([observability] observation-path of FILE, else the default).
import { EXIT_CODES_TEXT, runReportCommand } from "./observe-client.js";
import { renderStatus, statusJson } from "./status-output.js";

const USAGE = `usage: tock status [-c FILE] [--socket PATH] [--json]

Shows the running daemon's system state (reference, stratum, offsets, frequency, root delay and
dispersion, leap status), its clock mode (steering or observe) and its servers' counters.

options:
  -c, --config FILE   find the socket from FILE's [observability] observation-path
      --socket PATH   the socket to ask (overrides -c)
      --json          print the report as JSON
  -h, --help          show this help

Without -c or --socket: /run/tock/observe.sock, $XDG_RUNTIME_DIR/tock/observe.sock,
/tmp/tock-UID/observe.sock, the first that answers.
${EXIT_CODES_TEXT}
`;

export function run(argv: string[]): Promise<number> {
  return runReportCommand("status", argv, USAGE, false, (report, options) => (options.json ? statusJson(report) : renderStatus(report)));
}
