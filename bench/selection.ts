// Selection benchmark: the WASM clock filter + selection/cluster/combine kernel (asm/select/, through
// its façade ts/core/selection.ts) against the plain-TypeScript baseline of the same algorithm
// (bench/selection-baseline.ts), on the same pre-generated inputs, in the same run (DESIGN.md
// principle 2: WASM earns its place by measurement; if JS wins, we say so).
//
//   npx tsc -p tsconfig.json && node dist/bench/selection.js [--ms 400] [--sources 5,16,64]
//
// Rows, per source count N (ops/s; ratio = WASM ÷ TS, above 1 means WASM is faster):
//   round    one poll round: N filter updates (one new sample per source) + one select → ops = rounds
//   filter   filter updates alone (addSample) → ops = samples
//   select   select alone over N fitted candidates → ops = selections
//   select (raw)  the select export with the candidate table already in linear memory and only the
//            status read back: the kernel's own cost, without the façade writing the table and building
//            the result object (the TS column repeats the baseline select for the ratio).
// Inputs: N servers, true offsets 0 ± 1 ms except every fifth at +150 ms (a falseticker), delays
// 10–30 ms, samples 64 s apart; 4096 rounds pre-generated so both sides see identical numbers.
// Before timing, the two implementations are checked to give identical results on the whole stream.
import { isDeepStrictEqual } from "node:util";
import { loadFreshCore } from "../ts/daemon/load-core.js";
import { itemsPerSecond } from "./measure.js";
import { createSelection, type Candidate, type FilterSample } from "../ts/core/selection.js";
import { BaselineSelection } from "./selection-baseline.js";

interface Args { ms: number; sources: number[] }

function parseArgs(argv: string[]): Args {
  const args: Args = { ms: 400, sources: [5, 16, 64] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--ms" && Number(argv[i + 1]) > 0) args.ms = Math.min(Number(argv[i + 1]), 60_000);
    if (argv[i] === "--sources" && argv[i + 1]) {
      const list = argv[i + 1]!.split(",").map(Number).filter((n) => Number.isInteger(n) && n >= 1 && n <= 256);
      if (list.length > 0) args.sources = list;
    }
  }
  return args;
}

/** Packets (rows) per second of `round` over ~ms: the shared loop of bench/measure.ts, 8 rounds per clock read. */
function measure(ms: number, perRound: number, round: () => void): number {
  return itemsPerSecond(ms, perRound, round, 8);
}

/** Deterministic inputs: ROUNDS × N samples and the N candidates. */
function inputs(n: number, rounds: number): { samples: FilterSample[][]; candidates: Candidate[] } {
  let seed = 12345;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const samples: FilterSample[][] = [];
  for (let r = 0; r < rounds; r++) {
    const row: FilterSample[] = [];
    for (let i = 0; i < n; i++) {
      const truth = i % 5 === 4 ? 0.15 : (i - n / 2) * 1e-4;
      const delay = 0.01 + rand() * 0.02;
      row.push({ offset: truth + (rand() - 0.5) * 2e-3 + (delay - 0.01) * 0.1, delay, dispersion: 2e-5, time: r * 64 });
    }
    samples.push(row);
  }
  const candidates = Array.from({ length: n }, (_, index) => ({
    index, stratum: 1 + (index % 3), rootDelay: 0.001 * (index % 4), rootDispersion: 0.002, reachable: true, leap: 0, refid: index + 1,
  }));
  return { samples, candidates };
}

const fmt = (v: number): string => v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(0);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { wasm } = await loadFreshCore();
  const ROUNDS = 4096;
  const rows: { n: number; row: string; wasm: number; ts: number }[] = [];

  for (const n of args.sources) {
    const { samples, candidates } = inputs(n, ROUNDS);
    const sel = createSelection(wasm, { maxSources: n });
    const base = new BaselineSelection(n);

    // Agreement on the whole stream before anything is timed.
    let oks = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const now = r * 64;
      for (let i = 0; i < n; i++) {
        if (sel.addSample(i, samples[r]![i]!, now) !== base.addSample(i, samples[r]![i]!, now)) throw new Error(`filter outcomes differ (N=${n}, round ${r}, source ${i})`);
      }
      const a = sel.select(now, candidates);
      const b = base.select(now, candidates);
      if (!isDeepStrictEqual(a, b)) throw new Error(`selection results differ (N=${n}, round ${r})`);
      if (a.status === "ok") oks++;
    }
    if (oks < ROUNDS / 2) throw new Error(`inputs select too rarely (${oks}/${ROUNDS})`);

    // Both continue on the stream, wrapping around with time moving on so samples stay "newer".
    const roundOf = (impl: { addSample(i: number, s: FilterSample, now: number): unknown; select(now: number, c: readonly Candidate[]): unknown }) => {
      let r = 0;
      let epoch = ROUNDS * 64;
      return () => {
        const row = samples[r]!;
        const now = epoch + r * 64;
        for (let i = 0; i < n; i++) impl.addSample(i, { ...row[i]!, time: now }, now);
        impl.select(now, candidates);
        if (++r === ROUNDS) { r = 0; epoch += ROUNDS * 64; }
      };
    };
    rows.push({ n, row: "round", wasm: measure(args.ms, 1, roundOf(sel)), ts: measure(args.ms, 1, roundOf(base)) });

    const filterOf = (impl: { addSample(i: number, s: FilterSample, now: number): unknown }) => {
      let r = 0;
      let epoch = 1e7;
      return () => {
        const row = samples[r]!;
        const now = epoch + r * 64;
        for (let i = 0; i < n; i++) impl.addSample(i, { ...row[i]!, time: now }, now);
        if (++r === ROUNDS) { r = 0; epoch += ROUNDS * 64; }
      };
    };
    rows.push({ n, row: "filter", wasm: measure(args.ms, n, filterOf(sel)), ts: measure(args.ms, n, filterOf(base)) });

    // Select alone, at a fixed state: eight fresh rounds, then select at the time of the last one.
    // Fresh instances on both sides: the timed loops above ran different numbers of rounds on each
    // side, so their "previous system peer" (kept to avoid clock hopping) would differ.
    const fixedSel = createSelection(wasm, { maxSources: n });
    const fixedBase = new BaselineSelection(n);
    const freshStart = 1e9;
    for (let r = 0; r < 8; r++) {
      const now = freshStart + r * 64;
      for (let i = 0; i < n; i++) {
        fixedSel.addSample(i, { ...samples[r]![i]!, time: now }, now);
        fixedBase.addSample(i, { ...samples[r]![i]!, time: now }, now);
      }
    }
    const selectNow = freshStart + 7 * 64;
    const check = fixedSel.select(selectNow, candidates);
    const baseCheck = fixedBase.select(selectNow, candidates);
    if (check.status !== "ok" || !isDeepStrictEqual(check, baseCheck)) throw new Error(`select state is not a selecting one (N=${n})`);
    const selectTs = measure(args.ms, 1, () => fixedBase.select(selectNow, candidates));
    rows.push({ n, row: "select", wasm: measure(args.ms, 1, () => fixedSel.select(selectNow, candidates)), ts: selectTs });
    // Raw: the candidate table is already in memory from the façade's last call.
    fixedSel.select(selectNow, candidates);
    const x = wasm.exports as unknown as { sel_select(ctx: number, count: number, now: number, poll: number, cmin: number, refid: number): number };
    const ctx = fixedSel.context;
    rows.push({ n, row: "select (raw)", wasm: measure(args.ms, 1, () => x.sel_select(ctx, n, selectNow, 64, 1, 0)), ts: selectTs });
  }

  console.log(`selection kernel: WASM vs TypeScript baseline (${args.ms} ms per cell, Node ${process.version})`);
  console.log("N    row            WASM ops/s     TS ops/s      ratio");
  for (const r of rows) {
    console.log(`${String(r.n).padEnd(4)} ${r.row.padEnd(14)} ${fmt(r.wasm).padStart(10)}  ${fmt(r.ts).padStart(11)}   ${(r.wasm / r.ts).toFixed(2)}×`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
