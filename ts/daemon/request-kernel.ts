// Adapts one [[server]] entry to the request kernel the server loop drives: config → policy options
// (ts/protocol/server-policy.ts) → a WASM kernel (ts/core/server.ts) with its own tables.
//
// The node:dgram engine hands one datagram at a time, so it uses the kernel's handleOne (slot 0 of
// the same batch path the recvmmsg engine uses: identical inputs give identical bytes).
import type { Clock } from "../clock/clock.js";
import type { ServerConfig } from "../config/index.js";
import type { WasmInstance } from "../core/instance.js";
import { createServerKernel } from "../core/server.js";
import type { ServerPolicyOptions } from "../protocol/server-policy.js";
import type { RequestKernel } from "./ntp-server.js";
import { MAX_REQUEST_BYTES } from "./server-transport.js";
import type { NtsService } from "./nts-service.js";

export function policyOptionsFor(server: ServerConfig): ServerPolicyOptions {
  return {
    acceptNtpVersions: server.acceptNtpVersions,
    allowlist: server.allowlist,
    denylist: server.denylist,
    rateLimit: server.rateLimit ?? null,
    interleaved: server.interleaved,
    interleavedTableSize: server.interleavedTableSize,
    // One slot: node:dgram delivers datagrams one by one.
    batchSize: 1,
    maxRequestBytes: MAX_REQUEST_BYTES,
  };
}

export function createRequestKernel(server: ServerConfig, wasm: WasmInstance, _clock: Clock, nts?: NtsService): RequestKernel {
  const k = createServerKernel(wasm, policyOptionsFor(server));
  // NTS (issue 6, helper I): with an NtsService the kernel also answers NTS requests (RFC 8915 §5),
  // and the random bytes the previous call used are refilled before each call (ts/core/nts-server.ts).
  nts?.attach(k);
  return {
    setSystemState: (s) => k.setSystemState(s),
    configure: (next) => k.configure(policyOptionsFor(next)),
    handleOne(request, from, receivedAt, now) {
      nts?.refillRandom();
      const r = k.handleOne(request, from.address, from.port, receivedAt, now);
      return { response: r.response ?? undefined, saved: r.saved, rxKey: r.receiveTime };
    },
    noteTransmit: (rx, tx) => void k.noteTransmit(rx, tx),
    counters: () => k.counters(),
  };
}
