// Instantiates the WASM core once and gives façades raw access to its exports and linear memory.
// This is the only place that knows how the module is loaded; no Node-only API here, so browsers
// and workers load the same module (they pass bytes from fetch(), Node passes bytes from a file).
import { instantiate } from "@assemblyscript/loader";

/** Raw exports: kernels are plain functions over numbers (offsets, lengths, scalars). */
export type WasmExports = Record<string, unknown> & {
  memory: WebAssembly.Memory;
  reserve(size: number): number;
};

export interface WasmInstance {
  readonly exports: WasmExports;
  /** A fresh byte view of linear memory. Views are detached if memory grows; façades re-take them then. */
  bytes(): Uint8Array;
  /** Reserves a zeroed region for the life of the instance (load time only, never per packet). */
  reserve(size: number): number;
}

export async function instantiateWasm(source: BufferSource | WebAssembly.Module): Promise<WasmInstance> {
  // The loader supplies the `env.abort` import (reports AssemblyScript assertion failures as errors).
  // Instantiation runs the module's start function, which sets the stub allocator's heap base above
  // static data; reserve() is only safe after that (asconfig must not use exportStart).
  const { exports } = await instantiate<Record<string, unknown>>(source);
  const raw = exports as unknown as WasmExports;
  return {
    exports: raw,
    bytes: () => new Uint8Array(raw.memory.buffer),
    reserve: (size: number) => raw.reserve(size) >>> 0,
  };
}
