// Where the batch engine can run and what it needs from the platform: the compiled worker script,
// the Linux UDP bindings, and a free port for listeners configured with port 0.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "./load-core.js";
import { LinuxUdpSocket, linuxUdpAvailable } from "./linux-udp.js";

/** A port no socket holds right now on `address` (a plain bind to port 0, closed again). */
export function reserveFreePort(address: string): number {
  const probe = LinuxUdpSocket.open({ address, port: 0 });
  try {
    return probe.localPort();
  } finally {
    probe.close();
  }
}

/** True where the batch engine can run: Linux on x64/arm64 (koffi's ABI and the constants used),
 *  with the compiled worker script present. `engine = "auto"` picks it then. */
export function batchEngineSupported(): boolean {
  if (!linuxUdpAvailable()) return false;
  try {
    workerScript();
    return true;
  } catch {
    return false;
  }
}

/** The compiled worker script: next to this file when running from dist/, else dist/ under the package root. */
export function workerScript(): string {
  const sibling = fileURLToPath(new URL("./batch-worker.js", import.meta.url));
  if (existsSync(sibling)) return sibling;
  const built = join(packageRoot(), "dist", "ts", "daemon", "batch-worker.js");
  if (existsSync(built)) return built;
  throw new Error(`batch engine: worker script not found (${sibling}); run \`npm run build\``);
}
