// Shared state between the batch engine's threads: the system state round-trips exactly, and the
// seqlock never hands out a torn set of counters while another thread keeps publishing.
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { SharedServerState, WORKER_COUNTERS, mergeCounters, WORKER_COUNTER_INDEX } from "../../ts/daemon/shared-state.js";
import { packageRoot } from "../../ts/daemon/load-core.js";
import { batchEngineAvailable } from "./support.js";

describe("shared server state", () => {
  it("round-trips the system state exactly and versions every write", () => {
    const s = SharedServerState.create(2);
    expect(s.readSystemState()).toBeUndefined();
    const state = { leap: 1 as const, stratum: 2, precision: -23, referenceId: 0x47505300, rootDelay: 0.000_123_456_789, rootDispersion: 1 / 3, referenceTime: 0xe8a1_b2c3_d4e5_f607n };
    s.writeSystemState(state, state.referenceId);
    const first = s.readSystemState()!;
    expect(first.state).toEqual(state);
    const other = SharedServerState.attach(s.buffer); // the worker's view of the same memory
    s.writeSystemState({ ...state, stratum: 3 }, state.referenceId);
    expect(other.systemVersion()).not.toBe(first.version);
    expect(other.readSystemState()!.state.stratum).toBe(3);
  });

  it("merges counters by sum, and `_max` ones by max", () => {
    const a = new Float64Array(WORKER_COUNTERS.length);
    a[WORKER_COUNTER_INDEX.received] = 5;
    a[WORKER_COUNTER_INDEX.rx_lag_ns_max] = 70;
    const b = new Float64Array(WORKER_COUNTERS.length);
    b[WORKER_COUNTER_INDEX.received] = 2 ** 40; // beyond 32 bits survives the two-word store
    b[WORKER_COUNTER_INDEX.rx_lag_ns_max] = 30;
    const s = SharedServerState.create(1);
    s.publishCounters(0, b);
    const read = new Float64Array(WORKER_COUNTERS.length);
    expect(s.readCounters(0, read)).toBe(true);
    mergeCounters(a, read);
    expect(a[WORKER_COUNTER_INDEX.received]).toBe(2 ** 40 + 5);
    expect(a[WORKER_COUNTER_INDEX.rx_lag_ns_max]).toBe(70);
  });

  it.skipIf(!batchEngineAvailable)("never returns a torn set of counters while a worker thread publishes", async () => {
    const s = SharedServerState.create(1);
    const module = pathToFileURL(join(packageRoot(), "dist", "ts", "daemon", "shared-state.js")).href;
    // The writer publishes rounds in which every counter holds the same value k, back to back with
    // only a short pause (the engine publishes every 20 ms; this is far more hostile).
    const writer = new Worker(
      `const { workerData } = require("node:worker_threads");
       import(workerData.module).then(({ SharedServerState, WORKER_COUNTERS }) => {
         const s = SharedServerState.attach(workerData.buffer);
         const values = new Float64Array(WORKER_COUNTERS.length);
         for (let k = 1; !s.stopRequested(); k++) {
           values.fill(k * 4097);
           s.publishCounters(0, values);
           for (let i = 0; i < 100; i++) s.stopRequested();
         }
       });`,
      { eval: true, workerData: { module, buffer: s.buffer } },
    );
    const out = new Float64Array(WORKER_COUNTERS.length);
    let torn = 0;
    let gaveUp = 0;
    let changes = 0;
    let last = 0;
    const deadline = Date.now() + 2000;
    while (changes < 2000 && Date.now() < deadline) {
      // A read that reports a consistent set must be one (when the writer sat mid-publication for
      // too long — preempted — the read says so, and the engine keeps its previous copy).
      if (!s.readCounters(0, out)) {
        gaveUp++;
        continue;
      }
      if (!out.every((v) => v === out[0])) torn++;
      if (out[0] !== last) {
        changes++;
        last = out[0]!;
      }
    }
    s.requestStop();
    await writer.terminate();
    expect(changes).toBeGreaterThan(10); // the reads really raced the writer
    expect(torn).toBe(0);
    expect(gaveUp).toBeLessThan(changes);
  });
});
