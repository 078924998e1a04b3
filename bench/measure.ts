// The throughput loop the kernel benches share (codec, selection): warm up, then run a round in
// batches until the time is up, reading the clock once per batch so its cost stays out of the figure.
import { performance } from "node:perf_hooks";

/**
 * Runs `round` (which processes `perRound` items) repeatedly for about `ms` milliseconds, after a
 * warm-up of min(ms/4, 200) ms so both sides of a comparison run optimised code; returns items/s.
 * `batch` rounds run between clock reads.
 */
export function itemsPerSecond(ms: number, perRound: number, round: () => void, batch: number): number {
  const warmEnd = performance.now() + Math.min(ms / 4, 200);
  while (performance.now() < warmEnd) round();
  let rounds = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    for (let i = 0; i < batch; i++) round();
    rounds += batch;
    now = performance.now();
  }
  return (rounds * perRound) / ((now - start) / 1000);
}
