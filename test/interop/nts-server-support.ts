// An in-process NTS server for interop tests: NtsService (KE over TLS + keys) and the WASM kernel
// answering over node:dgram on loopback. Not the daemon (see nts-server-daemon.test.ts for that).
import { createSocket, type Socket } from "node:dgram";
import { rmSync } from "node:fs";
import { freePort } from "./peers.js";
import { parseConfig } from "../../ts/config/load.js";
import { loadFreshCore } from "../../ts/daemon/load-core.js";
import { createServerKernel, type ServerKernel } from "../../ts/core/server.js";
import { NtsService } from "../../ts/daemon/nts-service.js";
import { makeCerts, type TestCerts } from "../nts-server/certs.js";

const NTP_EPOCH_OFFSET = 2_208_988_800n;
export const nowNtp = (): bigint => {
  const ns = BigInt(Date.now()) * 1_000_000n;
  const seconds = ns / 1_000_000_000n + NTP_EPOCH_OFFSET;
  const frac = ((ns % 1_000_000_000n) << 32n) / 1_000_000_000n;
  return (seconds << 32n) | frac;
};

export interface InProcessNtsServer {
  certs: TestCerts;
  nts: NtsService;
  kernel: ServerKernel;
  ntpPort: number;
  kePort: number;
  /** Plain (non-NTS) requests answered. */
  plainAnswered(): number;
  stop(): Promise<void>;
}

export async function startInProcessNtsServer(options: { ntpPort?: number; serverName?: string } = {}): Promise<InProcessNtsServer> {
  const certs = makeCerts();
  const ntpPort = options.ntpPort ?? (await freePort());
  const kePort = await freePort({ tcp: true });
  const config = parseConfig(
    `[[nts-ke-server]]\nlisten = "127.0.0.1:${kePort}"\ncertificate-chain-path = "${certs.certPath}"\nprivate-key-path = "${certs.keyPath}"\nntp-port = ${ntpPort}\nntp-server = "${options.serverName ?? "127.0.0.1"}"\n`,
    "nts.toml",
  );
  const { wasm } = await loadFreshCore();
  const kernel = createServerKernel(wasm, { batchSize: 1, maxRequestBytes: 2048 });
  kernel.setSystemState({ leap: 0, stratum: 8, precision: -20, referenceId: "LOCL", rootDelay: 0, rootDispersion: 0.001, referenceTime: nowNtp() });
  const nts = (await NtsService.create(config, wasm))!;
  nts.attach(kernel);
  const udp: Socket = createSocket("udp4");
  udp.on("message", (msg, rinfo) => {
    const rx = nowNtp();
    nts.refillRandom();
    const r = kernel.handleOne(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), rinfo.address, rinfo.port, rx, nowNtp());
    if (r.response) udp.send(r.response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => udp.bind(ntpPort, "127.0.0.1", resolve));
  return {
    certs, nts, kernel, ntpPort, kePort,
    plainAnswered: () => kernel.counters().answered_basic - nts.counters().answered - nts.counters().uid_echoed,
    async stop() {
      udp.close();
      await nts.stop();
      rmSync(certs.dir, { recursive: true, force: true });
    },
  };
}
