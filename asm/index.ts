// Entry point of the WASM core: re-exports every kernel. Each kernel lives in its own file and
// exports plain functions over numbers and linear-memory offsets (see memory.ts).
export { reserve } from "./memory";
