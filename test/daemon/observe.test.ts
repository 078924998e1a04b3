// Logging and metrics: the rate-limited warning helper and the Prometheus rendering.
import { describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { pino } from "pino";
import { RateLimitedWarnings } from "../../ts/observe/logger.js";
import { MetricsRegistry, sumArrays } from "../../ts/observe/metrics.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

describe("RateLimitedWarnings", () => {
  it("logs the first warning per key and interval, then summarises the suppressed ones", async () => {
    const { logger, lines } = capture();
    let now = 0;
    const w = new RateLimitedWarnings(logger, 1000, () => now);
    for (let i = 0; i < 100; i++) w.warn("send-failed", `send failed ${i}`);
    w.warn("other", "another kind");
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.msg)).toEqual(["send failed 0", "another kind"]);
    now = 1500;
    w.warn("send-failed", "send failed again");
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.msg).slice(2)).toEqual(["99 more like this suppressed (last: send failed 99)", "send failed again"]);
    expect(lines[2]!.suppressed).toBe(99);
  });

  it("flush() reports pending counts and the key table stays bounded", async () => {
    const { logger, lines } = capture();
    const w = new RateLimitedWarnings(logger, 60_000, () => 0, 4);
    for (let k = 0; k < 10; k++) for (let i = 0; i < 3; i++) w.warn(`k${k}`, `m${k}`);
    w.flush();
    await new Promise((r) => setImmediate(r));
    const summaries = lines.filter((l) => typeof l.suppressed === "number");
    // Every key's 2 extra lines are summarised exactly once (evicted keys at eviction, the rest at flush).
    expect(summaries.length).toBe(10);
    expect(summaries.every((l) => l.suppressed === 2)).toBe(true);
  });
});

describe("MetricsRegistry", () => {
  it("renders counters, gauges and pulled families in Prometheus text format", () => {
    const r = new MetricsRegistry();
    const c = r.counter("ntp_server_received_packets_total", "Requests received.");
    c.inc({ listen_address: "127.0.0.1:123" }, 5);
    c.inc({ listen_address: '[::1]:123"\\' });
    r.gauge("ntp_server_up", "1 while serving.").set({}, 1);
    r.collector("ntp_server_answered_packets_total", "Answered.", "counter", () => [{ labels: { listen_address: "a" }, value: 7 }]);
    expect(r.render()).toBe(
      [
        "# HELP ntp_server_received_packets_total Requests received.",
        "# TYPE ntp_server_received_packets_total counter",
        'ntp_server_received_packets_total{listen_address="127.0.0.1:123"} 5',
        'ntp_server_received_packets_total{listen_address="[::1]:123\\"\\\\"} 1',
        "# HELP ntp_server_up 1 while serving.",
        "# TYPE ntp_server_up gauge",
        "ntp_server_up 1",
        "# HELP ntp_server_answered_packets_total Answered.",
        "# TYPE ntp_server_answered_packets_total counter",
        'ntp_server_answered_packets_total{listen_address="a"} 7',
        "",
      ].join("\n"),
    );
    expect(r.total("ntp_server_received_packets_total")).toBe(6);
    expect(r.total("ntp_server_received_packets_total", { listen_address: "127.0.0.1:123" })).toBe(5);
  });

  it("refuses bad names, duplicate families and decreasing counters", () => {
    const r = new MetricsRegistry();
    expect(() => r.counter("bad name_total", "x")).toThrow();
    expect(() => r.counter("ntp_requests", "x")).toThrow(/_total/);
    const c = r.counter("a_total", "x");
    expect(() => r.counter("a_total", "x")).toThrow(/twice/);
    expect(() => c.inc({}, -1)).toThrow();
  });

  it("sums per-worker counter arrays element-wise", () => {
    const shared = new BigUint64Array(new SharedArrayBuffer(24));
    const a = new Float64Array([1, 2, 3]);
    const b = new Uint32Array([10, 20, 30]);
    expect(Array.from(sumArrays([a, b, Array.from(shared, Number)], 3))).toEqual([11, 22, 33]);
    expect(Array.from(sumArrays([], 2))).toEqual([0, 0]);
  });
});

describe("metrics HTTP endpoint", () => {
  it("serves GET /metrics, refuses other paths and methods", async () => {
    const { serveMetrics } = await import("../../ts/observe/metrics-http.js");
    const r = new MetricsRegistry();
    r.counter("x_total", "X.").inc({}, 3);
    const server = await serveMetrics(r, "127.0.0.1", 0);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const ok = await fetch(`${base}/metrics`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      expect(await ok.text()).toContain("x_total 3");
      expect((await fetch(`${base}/other`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: "POST", body: "x" })).status).toBe(405);
    } finally {
      await server.close();
    }
  });
});
