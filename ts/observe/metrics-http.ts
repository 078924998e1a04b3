// Serves the metrics registry over HTTP (GET /metrics, Prometheus text format) — the job ntpd-rs's
// separate ntp-metrics-exporter does. Meant for loopback or a management network: read-only, no
// query parameters, tiny bounded responses, and any other path or method gets 404/405.
import http from "node:http";
import type { MetricsRegistry } from "./metrics.js";

export interface MetricsServer {
  /** "127.0.0.1:9975" as actually bound. */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function serveMetrics(registry: MetricsRegistry, host: string, port: number): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.url !== "/metrics" && req.url !== "/") {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const body = registry.render();
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  // Slow or idle clients must not hold sockets open.
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  server.keepAliveTimeout = 1000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  const boundPort = typeof bound === "object" && bound !== null ? bound.port : port;
  return {
    address: host.includes(":") ? `[${host}]:${boundPort}` : `${host}:${boundPort}`,
    port: boundPort,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
