// NTS for the daemon, assembled from config: the cookie key set ([keyset], keyset-store.ts), the
// WASM NTS state shared by every NTP kernel of the daemon's WASM instance (ts/core/nts-server.ts),
// and one NTS-KE server per [[nts-ke-server]] (nts-ke-server.ts).
//
// When is NTS on? When at least one [[nts-ke-server]] is configured, or [keyset] key-storage-path
// is set (an NTP-only instance serving cookies minted by a separate KE instance that shares the key
// file). Then every [[server]], on either engine, answers NTS requests; plain requests
// are answered exactly as before.
//
// Start-up order (the daemon's): NtsService.create() reads the certificate files and the key file
// and binds the KE listeners before privileges are dropped; the key rotation timer then runs for
// the life of the daemon (the key file must stay writable by the [daemon] user to persist rotations).
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { TockConfig } from "../config/index.js";
import type { WasmInstance } from "../core/instance.js";
import type { ServerKernel } from "../core/server.js";
import { createNtsServerCore, NTS_COUNTERS, NTS_SERVER_AEADS, type NtsCounterName, type NtsServerCore } from "../core/nts-server.js";
import type { Logger } from "../observe/logger.js";
import type { MetricsRegistry, Sample } from "../observe/metrics.js";
import { FileKeyStore, KeysetManager, MemoryKeyStore } from "./keyset-store.js";
import { NtsKeServer, type NtsKeStats } from "./nts-ke-server.js";

/** AEAD key lengths (RFC 5116 registry) of the algorithms the NTS core serves. */
const KEY_LENGTHS: Record<number, number> = { 15: 32, 16: 48, 17: 64, 30: 16, 31: 32 };

/** A PEM file named by a [[nts-ke-server]] key, with the key in the error if it cannot be read. */
function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`[[nts-ke-server]] ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function ntsEnabled(config: TockConfig): boolean {
  return config.ntsKeServer.length > 0 || config.keyset.keyStoragePath !== undefined;
}

export interface NtsServiceOptions {
  logger?: Logger;
  /** Realtime in Unix seconds (key rotation); default Date.now(). */
  now?: () => number;
  /** Largest batch one kernel handles between refills (the pool is sized for it). */
  batchSize?: number;
}

export class NtsService {
  private constructor(
    readonly core: NtsServerCore,
    readonly keyset: KeysetManager,
    readonly keServers: NtsKeServer[],
    /** Bound KE addresses, in config order ("host:port"). */
    readonly keAddresses: string[],
  ) {}

  /** Loads keys and certificates and binds the KE listeners; undefined when NTS is not configured. */
  static async create(config: TockConfig, wasm: WasmInstance, options: NtsServiceOptions = {}): Promise<NtsService | undefined> {
    if (!ntsEnabled(config)) return undefined;
    const logger = options.logger;
    const path = config.keyset.keyStoragePath;
    const keyset = new KeysetManager({
      rotationInterval: config.keyset.keyRotationInterval,
      staleKeyCount: config.keyset.staleKeyCount,
      store: path === undefined ? new MemoryKeyStore() : new FileKeyStore(path),
      now: options.now ?? (() => Math.floor(Date.now() / 1000)),
      ...(logger !== undefined ? { logger } : {}),
    });
    const core = createNtsServerCore(wasm, { maxKeys: keyset.slots, batchSize: options.batchSize ?? 1 });
    keyset.onChange((a) => core.setKeys(a.keys, a.currentId));
    const keServers: NtsKeServer[] = [];
    const keAddresses: string[] = [];
    try {
      for (const ke of config.ntsKeServer) {
        const ntpServer = ke.ntpServer;
        const server = new NtsKeServer({
          host: ke.listen.host,
          port: ke.listen.port,
          certificateChain: readPem(ke.certificateChainPath, "certificate-chain-path"),
          privateKey: readPem(ke.privateKeyPath, "private-key-path"),
          timeoutMs: ke.keyExchangeTimeoutMs,
          concurrentConnections: ke.concurrentConnections,
          policy: {
            aeads: NTS_SERVER_AEADS,
            ...(ntpServer !== undefined ? { ntpServer: ntpServer.host } : {}),
            ...((ntpServer?.port ?? ke.ntpPort) !== undefined ? { ntpPort: (ntpServer?.port ?? ke.ntpPort)! } : {}),
          },
          keyLength: (aead) => KEY_LENGTHS[aead] ?? 0,
          mintCookie: (aead, c2s, s2c) => core.mintCookie(aead, c2s, s2c),
          ...(logger !== undefined ? { logger } : {}),
        });
        keServers.push(server);
        const port = await server.start().catch((err: unknown) => {
          throw new Error(`[[nts-ke-server]] ${ke.listen.text}: ${err instanceof Error ? err.message : String(err)}`);
        });
        keAddresses.push(ke.listen.host.includes(":") ? `[${ke.listen.host}]:${port}` : `${ke.listen.host}:${port}`);
      }
    } catch (err) {
      await Promise.all(keServers.map((s) => s.stop()));
      throw err;
    }
    keyset.start();
    return new NtsService(core, keyset, keServers, keAddresses);
  }

  /**
   * Re-reads every [[nts-ke-server]]'s certificate chain and key (same paths; SIGHUP after a renewal).
   * Returns why not, or undefined. Either all listeners get the new files or none does.
   */
  reloadCertificates(config: TockConfig): string | undefined {
    if (config.ntsKeServer.length !== this.keServers.length) return "the [[nts-ke-server]] list changed; restart tock to apply";
    try {
      const pems = config.ntsKeServer.map((ke) => [readPem(ke.certificateChainPath, "certificate-chain-path"), readPem(ke.privateKeyPath, "private-key-path")] as const);
      // setSecureContext validates before replacing; a failure on a later listener leaves earlier ones
      // renewed, so check all first by building each context once (throws on bad PEM).
      pems.forEach(([cert, key]) => createSecureContext({ cert, key }));
      pems.forEach(([cert, key], i) => this.keServers[i]!.setCertificate(cert, key));
      return undefined;
    } catch (err) {
      return `NTS-KE certificates not reloaded: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Makes a kernel of this WASM instance answer NTS requests. */
  attach(kernel: ServerKernel): void {
    this.core.attach(kernel);
  }

  /** Before every kernel call: refill the random bytes the last one used. */
  refillRandom(): void {
    this.core.refillRandom();
  }

  /** NTS counters of every kernel: this instance's and those added with addCounterSource. */
  counters(): Record<NtsCounterName, number> {
    const total = this.core.counters();
    for (const source of this.counterSources) {
      const c = source();
      for (const name of NTS_COUNTERS) total[name] += c[name];
    }
    return total;
  }

  // ---- For engines that run kernels in other WASM instances (the batch engine's workers) ----
  // A worker builds its own state — createNtsServerCore(wasm, { maxKeys, batchSize }), setKeys,
  // attach, refillRandom() before each handleBatch — from workerSetup() (structured-clone safe),
  // follows rotations through onKeys, and reports its counters through addCounterSource.
  private readonly counterSources: (() => Record<NtsCounterName, number>)[] = [];

  workerSetup(): { maxKeys: number; keys: { id: number; key: Uint8Array }[]; currentId: number } {
    const a = this.keyset.active();
    return { maxKeys: this.keyset.slots, keys: a.keys.map((k) => ({ id: k.id, key: k.key.slice() })), currentId: a.currentId };
  }

  /** Called now and after every rotation with the keys to install. */
  onKeys(listener: (keys: { keys: { id: number; key: Uint8Array }[]; currentId: number }) => void): void {
    this.keyset.onChange((a) => listener({ keys: a.keys.map((k) => ({ id: k.id, key: k.key.slice() })), currentId: a.currentId }));
  }

  addCounterSource(read: () => Record<NtsCounterName, number>): void {
    this.counterSources.push(read);
  }

  keStats(): NtsKeStats[] {
    return this.keServers.map((s) => s.stats);
  }

  /** ntp_server_nts_* (the WASM counters, all [[server]] together) and nts_ke_* (per KE listener). */
  registerMetrics(m: MetricsRegistry): void {
    m.collector("ntp_server_nts_requests_total", "NTS requests by outcome (answered, NTS NAK reasons, drops, KoD with UID).", "counter", () => {
      const c = this.counters();
      return (["answered", "nak_unknown_key", "nak_bad_cookie", "nak_bad_authenticator", "dropped_malformed", "dropped_placeholder",
        "dropped_no_random", "dropped_too_large", "kod", "uid_echoed"] as const).map((k) => ({ labels: { outcome: k }, value: c[k] }));
    });
    m.collector("ntp_server_nts_cookies_issued_total", "Fresh cookies sent in NTS responses.", "counter", () => [{ labels: {}, value: this.counters().cookies_issued }]);
    const per = (read: (s: NtsKeStats) => number) => (): Sample[] =>
      this.keStats().map((s, i) => ({ labels: { listen_address: this.keAddresses[i] ?? "" }, value: read(s) }));
    m.collector("nts_ke_accepted_connections_total", "TCP connections accepted by the NTS-KE server.", "counter", per((s) => s.accepted));
    m.collector("nts_ke_rejected_connections_total", "Connections closed at once because concurrent-connections was reached.", "counter", per((s) => s.rejectedOverCapacity));
    m.collector("nts_ke_active_connections", "NTS-KE connections open now.", "gauge", per((s) => s.active));
    m.collector("nts_ke_timeouts_total", "NTS-KE connections ended by key-exchange-timeout-ms.", "counter", per((s) => s.timedOut));
    m.collector("nts_ke_handshake_failures_total", "TLS handshakes that failed (version, certificate, garbage).", "counter", per((s) => s.handshakeFailed + s.alpnRejected));
    m.collector("nts_ke_responses_total", "NTS-KE responses by outcome.", "counter", () =>
      this.keStats().flatMap((s, i) => Object.entries(s.outcomes).map(([outcome, value]) => ({ labels: { listen_address: this.keAddresses[i] ?? "", outcome }, value }))));
  }

  async stop(): Promise<void> {
    this.keyset.stop();
    await Promise.all(this.keServers.map((s) => s.stop()));
  }
}
