// Runs tock's batch engine (ts/daemon/batch-engine.ts: worker threads, recvmmsg/sendmmsg straight
// into WASM slots, kernel receive timestamps) on its own, with local-stratum-8 state and no rate
// limit, for bench/server.ts — the engine as the daemon will run it, minus config and privileges.
// usage: node dist/bench/server-batch-engine.js PORT SECONDS [WORKERS]
import { BatchServer } from "../ts/daemon/batch-engine.js";
import { silentLogger } from "../ts/observe/logger.js";
import { SystemClock } from "../ts/clock/system-clock.js";
import { loadCore } from "../ts/daemon/load-core.js";

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  const seconds = Math.min(3600, Number(process.argv[3] ?? 60));
  const workers = Math.max(1, Math.min(64, Number(process.argv[4] ?? 1)));
  if (!(port > 0 && port < 65536)) throw new Error("usage: server-batch-engine PORT SECONDS [WORKERS]");
  const { core } = await loadCore();
  const clock = new SystemClock((t) => core.unixToNtp(t));
  const server = new BatchServer({ logger: silentLogger(), workers, summaryIntervalSeconds: 0 });
  await server.listen([{ address: "127.0.0.1", port, policy: {} }]);
  server.setSystemState({ leap: 0, stratum: 8, precision: clock.precisionLog2, referenceId: 0x7f7f0101, rootDelay: 0, rootDispersion: 0, referenceTime: clock.now() });
  process.stdout.write("ready\n");
  const stop = () => void server.close();
  setTimeout(stop, seconds * 1000).unref();
  process.on("SIGTERM", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`server-batch-engine: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
