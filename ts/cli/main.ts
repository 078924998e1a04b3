#!/usr/bin/env node
// The `tock` command: dispatches to one module per subcommand. Each module exports
// `run(argv): Promise<number>` returning the process exit code, so commands are testable in-process.

interface Command {
  run(argv: string[]): Promise<number>;
}

/** Subcommand name → lazy loader (only the chosen command's dependencies are loaded). */
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  validate: { summary: "check config files (tock validate -c FILE)", load: () => import("./validate.js") },
  daemon: { summary: "serve time (tock daemon [-c FILE])", load: () => import("./daemon.js") },
  query: { summary: "ask an NTP server for the time once (tock query HOST[:PORT])", load: () => import("./query.js") },
  status: { summary: "the running daemon's synchronisation state, like chronyc tracking", load: () => import("./status.js") },
  sources: { summary: "the running daemon's time sources, like chronyc sources (-v explains)", load: () => import("./sources.js") },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: tock <command> [options]\n\ncommands:\n${lines.join("\n")}\n\nRun 'tock <command> --help' for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`tock: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tock: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 70;
  },
);
