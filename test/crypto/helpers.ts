// Shared test setup: one WASM instance and AEAD façade per test file, and Wycheproof loading.
// TOCK_WASM overrides the module path (to test the crypto module compiled alone while developing).
import { readFileSync } from "node:fs";
import { instantiateWasm } from "../../ts/core/instance.js";
import { createAead, type Aead } from "../../ts/core/aead.js";

export const REFERENCE = "/work/shared/reference";

export async function loadAead(): Promise<Aead> {
  const path = process.env.TOCK_WASM ?? new URL("../../build/tock.wasm", import.meta.url).pathname;
  const wasm = await instantiateWasm(readFileSync(path));
  return createAead(wasm); // createAead runs the module's start function if nobody has yet
}

export { hex, toHex } from "../hex.js";

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags?: string[];
  key: string;
  iv?: string;
  aad?: string;
  msg: string;
  ct?: string;
  tag?: string;
  result: "valid" | "invalid" | "acceptable";
}
export interface WycheproofGroup {
  keySize: number;
  ivSize?: number;
  tagSize?: number;
  tests: WycheproofTest[];
}
export interface WycheproofFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: WycheproofGroup[];
}

export function wycheproof(name: string): WycheproofFile {
  return JSON.parse(readFileSync(`${REFERENCE}/vectors/wycheproof/${name}`, "utf8")) as WycheproofFile;
}
