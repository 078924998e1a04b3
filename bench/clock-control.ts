// Cost of reading the kernel clock state through the Linux driver (ts/clock/linux-clock.ts), against
// two baselines measured in the same run: the cheapest koffi call into libc (clock_gettime, what the
// driver's FFI overhead cannot go below) and clock_adjtime with koffi marshalling a struct object
// (the alternative to the driver's raw-buffer call). Read-only: modes 0 and ADJ_OFFSET_SS_READ.
//
//   npx tsc -p tsconfig.json && node dist/bench/clock-control.js [--ms 300]
import koffi from "koffi";
import { performance } from "node:perf_hooks";
import { LinuxClock, linuxClockAvailable } from "../ts/clock/linux-clock.js";

function measure(ms: number, fn: () => void): number {
  for (let i = 0; i < 1000; i++) fn(); // warm-up
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 256; i++) fn();
    calls += 256;
    now = performance.now();
  }
  return ((now - start) * 1e6) / calls; // ns per call
}

const msArg = process.argv.indexOf("--ms");
const ms = Math.min(Math.max(Number(process.argv[msArg + 1]) || 300, 10), 10_000);
if (!linuxClockAvailable()) {
  console.log("clock_adjtime is not available here (needs Linux on x64/arm64)");
  process.exit(0);
}
const libc = koffi.load("libc.so.6");
const timespec = koffi.struct("bench_timespec", { tv_sec: "int64", tv_nsec: "long" });
const clockGettime = libc.func("clock_gettime", "int", ["int", koffi.out(koffi.pointer(timespec))]);
const timeval = koffi.struct("bench_timeval", { tv_sec: "long", tv_usec: "long" });
const timex = koffi.struct("bench_timex", {
  modes: "uint", offset: "long", freq: "long", maxerror: "long", esterror: "long", status: "int", constant: "long",
  precision: "long", tolerance: "long", time: timeval, tick: "long", ppsfreq: "long", jitter: "long", shift: "int",
  stabil: "long", jitcnt: "long", calcnt: "long", errcnt: "long", stbcnt: "long", tai: "int", reserved: koffi.array("int", 11),
});
const adjtimeObject = libc.func("int clock_adjtime(int, _Inout_ bench_timex *)");
const ts = { tv_sec: 0, tv_nsec: 0 };
const clock = new LinuxClock((t) => BigInt(t.seconds) << 32n);

const rows: [string, number][] = [
  ["clock_gettime via koffi (FFI floor)", measure(ms, () => clockGettime(0, ts))],
  ["clock_adjtime, koffi struct object", measure(ms, () => adjtimeObject(0, { modes: 0 }))],
  ["LinuxClock.adjtime(0) (raw buffer)", measure(ms, () => clock.adjtime(0))],
  ["LinuxClock.readState() (SS_READ + decode)", measure(ms, () => clock.readState())],
];
const floor = rows[0]![1];
const object = rows[1]![1];
console.log(`${"call".padEnd(44)} ${"ns/call".padStart(9)} ${"÷ floor".padStart(8)} ${"÷ struct".padStart(9)}`);
for (const [name, ns] of rows) console.log(`${name.padEnd(44)} ${ns.toFixed(0).padStart(9)} ${(ns / floor).toFixed(2).padStart(8)} ${(ns / object).toFixed(2).padStart(9)}`);
