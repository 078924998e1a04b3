// Node-only loader for the WASM core: finds build/tock.wasm next to package.json and instantiates
// it. Browsers and workers use ts/core directly with bytes they fetched.
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { instantiateCore, type TockCoreExt } from "../core/index.js";
import type { WasmInstance } from "../core/instance.js";

export interface LoadedCore {
  core: TockCoreExt;
  wasm: WasmInstance;
}

/** The package root: the nearest directory above this file that holds package.json. Works from
 *  ts/daemon/ (vitest, tsx) and from dist/ts/daemon/ (compiled). */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

/** Path of the compiled core (built by `npm run build:asm`). */
export function wasmPath(): string {
  return join(packageRoot(), "build", "tock.wasm");
}

let compiled: Promise<WebAssembly.Module> | undefined;
let shared: Promise<LoadedCore> | undefined;

/**
 * Compiles the module once per thread (compilation is the slow part; instances are cheap). The
 * Module can be posted to worker threads, which pass it to instantiateCore from ts/core.
 */
export function compileOnce(): Promise<WebAssembly.Module> {
  compiled ??= readFile(wasmPath()).then(
    (bytes) => WebAssembly.compile(bytes),
    (err: unknown) => {
      compiled = undefined;
      throw new Error(`cannot read the WASM core at ${wasmPath()} (run \`npm run build\`): ${String(err)}`);
    },
  );
  return compiled;
}

/** A new, independent instance with its own memory (for worker threads and tests). */
export async function loadFreshCore(): Promise<LoadedCore> {
  return instantiateCore(await compileOnce());
}

/** The process-wide instance, created on first use. */
export function loadCore(): Promise<LoadedCore> {
  shared ??= loadFreshCore().catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}
