// `tock query --json …` run in-process with the production wiring (real clock, sockets, DNS, WASM;
// NTS dependencies when asked), for the interop tests that query a real peer.
import { realDeps, runQuery } from "../../ts/cli/query.js";

export interface TockQueryRun<J> {
  code: number;
  json: J;
  stderr: string;
}

export async function runTockQuery<J = Record<string, unknown>>(argv: string[], options: { nts?: boolean } = {}): Promise<TockQueryRun<J>> {
  const out: string[] = [];
  const err: string[] = [];
  const deps = { ...(await realDeps(options)), stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) };
  const code = await runQuery(["--json", ...argv], deps);
  return { code, json: JSON.parse(out.join("")) as J, stderr: err.join("") };
}
