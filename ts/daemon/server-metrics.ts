// The ntp_server_* metric families (ntpd-rs-like names, one label set per listen address), computed
// at render time from engines' ListenerStats: one registration can cover several engines (the
// node:dgram loop and the batch engine serving different [[server]] entries of one daemon).
import type { MetricsRegistry, Sample } from "../observe/metrics.js";
import { OUTCOMES } from "../protocol/server-policy.js";
import type { ListenerStats } from "./ntp-server.js";

export function registerServerMetrics(m: MetricsRegistry, stats: () => ListenerStats[]): void {
  const per = (read: (s: ListenerStats) => number) => (): Sample[] => stats().map((s) => ({ labels: { listen_address: s.listenAddress }, value: read(s) }));
  m.collector("ntp_server_received_packets_total", "Datagrams received by the NTP server.", "counter", per((s) => s.kernel.received));
  m.collector("ntp_server_accepted_packets_total", "Requests answered with time (basic and interleaved).", "counter", per((s) => s.kernel.answered_basic + s.kernel.answered_interleaved));
  m.collector("ntp_server_interleaved_packets_total", "Requests answered in interleaved mode (RFC 9769).", "counter", per((s) => s.kernel.answered_interleaved));
  m.collector("ntp_server_kod_packets_total", "Kiss-o'-Death responses sent, by code.", "counter", () =>
    stats().flatMap((s) => [
      { labels: { listen_address: s.listenAddress, code: "RATE" }, value: s.kernel.kod_rate },
      { labels: { listen_address: s.listenAddress, code: "DENY" }, value: s.kernel.kod_deny },
    ]),
  );
  m.collector("ntp_server_dropped_packets_total", "Datagrams dropped without an answer, by reason.", "counter", () =>
    stats().flatMap((s) =>
      OUTCOMES.filter((o) => o.startsWith("dropped_")).map((o) => ({ labels: { listen_address: s.listenAddress, reason: o.slice("dropped_".length) }, value: s.kernel[o] })),
    ),
  );
  m.collector("ntp_server_rate_limit_clients_evicted_total", "Rate-limit table entries replaced to make room (the table never grows).", "counter", per((s) => s.kernel.rate_limit_clients_evicted));
  m.collector("ntp_server_sent_packets_total", "Responses handed to the kernel.", "counter", per((s) => s.sent));
  m.collector("ntp_server_response_send_errors_total", "Responses the socket refused to send.", "counter", per((s) => s.sendErrors));
  m.collector("ntp_server_send_queue_full_total", "Responses dropped because too many sends were pending.", "counter", per((s) => s.sendQueueFull));
  m.collector("ntp_server_socket_errors_total", "Errors the socket reported outside a send.", "counter", per((s) => s.socketErrors ?? 0));
  m.collector("ntp_server_internal_errors_total", "Datagrams dropped because the request kernel failed (a bug if not 0).", "counter", per((s) => s.internalErrors ?? 0));
}
