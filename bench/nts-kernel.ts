// NTS cost in the WASM server kernel: requests/s through server_handle_batch for plain 48-byte
// requests (the baseline, same run, same kernel) and for NTS requests (cookie open, authenticator
// verify, fresh cookies, response seal) with 0 and 7 placeholders, per AEAD; and NTS-KE cookie
// minting (8 per exchange). No sockets: this is the kernel's share of a server's CPU.
//
//   npx tsc -p tsconfig.json && node dist/bench/nts-kernel.js [--ms 300]
//
// ratio = NTS rate ÷ plain rate in this run (1.0 = NTS costs nothing; chronyd's own ratio on this
// kind of machine is ≈ 0.65 for one cookie, ≈ 0.39 for 7 placeholders, PEERS.md, socket-bound).
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { instantiateWasm } from "../ts/core/instance.js";
import { createServerKernel } from "../ts/core/server.js";
import { createAead, type Aead } from "../ts/core/aead.js";
import { createNtsServerCore } from "../ts/core/nts-server.js";
import { wasmPath } from "../ts/daemon/load-core.js";
import { clientHeader, sealedNtsRequest } from "./nts-request.js";

const args = process.argv.slice(2);
const msArg = args.indexOf("--ms");
const BUDGET_MS = msArg >= 0 ? Number(args[msArg + 1]) : 300;
const BATCH = 64;
const NOW = (3_972_844_800n << 32n) | 0x12345678n;

/** A client's NTS request (RFC 8915 §5.7) sealed with c2s. */
function ntsRequest(aead: Aead, alg: number, c2s: Uint8Array, cookie: Uint8Array, placeholders: number): Uint8Array {
  return sealedNtsRequest(aead, alg, c2s, cookie, placeholders, clientHeader());
}

async function main(): Promise<void> {
  const wasm = await instantiateWasm(readFileSync(process.env.TOCK_WASM ?? wasmPath()));
  const kernel = createServerKernel(wasm, { batchSize: BATCH, maxRequestBytes: 2048 });
  const nts = createNtsServerCore(wasm, { maxKeys: 9, batchSize: BATCH });
  nts.setKeys([{ id: 1, key: new Uint8Array(randomBytes(32)) }], 1);
  nts.attach(kernel);
  const aead = createAead(wasm);
  const client = { family: 4 as const, bytes: new Uint8Array([192, 0, 2, 1]) };

  /** requests/s for a batch of copies of `packet` (each slot filled once; the kernel reads in place). */
  const measure = (packet: Uint8Array, expectLength: (n: number) => boolean): number => {
    for (let i = 0; i < BATCH; i++) kernel.setRequest(i, packet, client, 123, NOW);
    nts.refillRandom();
    kernel.handleBatchAt(BATCH, NOW);
    if (!expectLength(kernel.responseLength(0))) throw new Error(`unexpected response length ${kernel.responseLength(0)} (outcome ${kernel.responseOutcome(0)})`);
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < BUDGET_MS) {
      nts.refillRandom();
      kernel.handleBatchAt(BATCH, NOW);
      n += BATCH;
      now = performance.now();
    }
    return (n * 1000) / (now - start);
  };

  const rows: [string, number, number][] = [];
  const plain = new Uint8Array(48);
  plain[0] = (4 << 3) | 3;
  const base = measure(plain, (n) => n === 48);
  rows.push(["plain 48 B (baseline)", 48, base]);
  for (const alg of [15, 17, 30]) {
    const k = aead.keyLength(alg);
    const c2s = new Uint8Array(randomBytes(k));
    const cookie = nts.mintCookie(alg, c2s, new Uint8Array(randomBytes(k)));
    for (const placeholders of [0, 7]) {
      const packet = ntsRequest(aead, alg, c2s, cookie, placeholders);
      rows.push([`NTS AEAD ${alg}, ${placeholders} placeholders`, packet.length, measure(packet, (n) => n > 48 && n <= packet.length)]);
    }
  }
  console.log(`NTS server kernel, batches of ${BATCH}, ${BUDGET_MS} ms per row (one core)`);
  console.log("request".padEnd(34) + "bytes".padStart(7) + "req/s".padStart(12) + "ratio".padStart(8));
  for (const [name, bytes, r] of rows) {
    console.log(name.padEnd(34) + String(bytes).padStart(7) + Math.round(r).toString().padStart(12) + (r / base).toFixed(2).padStart(8));
  }
  const c2s = new Uint8Array(32);
  let minted = 0;
  const start = performance.now();
  while (performance.now() - start < BUDGET_MS) {
    for (let i = 0; i < 8; i++) nts.mintCookie(15, c2s, c2s);
    minted += 8;
  }
  console.log(`NTS-KE cookie minting: ${Math.round((minted * 1000) / (performance.now() - start))} cookies/s (${Math.round((minted * 1000) / 8 / (performance.now() - start))} exchanges/s of 8 cookies, TLS not included)`);
}

void main();
