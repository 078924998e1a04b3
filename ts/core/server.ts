// Façade of the NTP server request kernel (asm/server/): the only code that touches its memory.
//
// createServerKernel() reserves every region once (request/response slots, counters, the rate-limit
// and interleaved tables, the access lists), seeds the table hashes with random bytes and writes the
// policy. Then, per batch, the I/O layer fills request slots (packet bytes, client address, receive
// timestamp), calls handleBatch(count, now) — one WASM call — and sends each response slot whose
// length is not 0 to the request's address. Slot accessors work on offsets into linear memory and
// typed views kept here: no allocation per packet on this path. handleOne() wraps the same path for
// a single datagram (tests, the node:dgram engine).
//
// Slot layout and the batch ABI are documented at the top of asm/server/batch.ts.
import type { NtpTimestamp } from "./api.js";
import type { WasmInstance } from "./instance.js";
import {
  COUNTERS, OUTCOMES, PolicyError, compileServerPolicy, outcomeName, referenceIdValue, secondsToShort,
  type CounterName, type Outcome, type ServerPolicyOptions, type ServerSystemState, type ServerTables,
} from "../protocol/server-policy.js";
import { parseIPv4, parseIPv6 } from "../config/net.js";

interface ServerExports {
  memory: WebAssembly.Memory;
  server_create(slots: number, capacity: number, rateBytes: number, xleaveBytes: number, aclCapacity: number): number;
  server_region(ctx: number, id: number): number;
  server_info(ctx: number, id: number): number;
  server_layout(id: number): number;
  server_set_keys(ctx: number, k0Hi: number, k0Lo: number, k1Hi: number, k1Lo: number, seedHi: number, seedLo: number): void;
  server_configure(ctx: number, versionMask: number, interleaved: number, pollMin: number, pollMax: number,
    intervalHi: number, intervalLo: number, burst: number, kodOneIn: number): number;
  server_set_access(ctx: number, allowEnabled: number, allowAction: number, allowV4: number, allowV6: number,
    denyAction: number, denyV4: number, denyV6: number): number;
  server_set_system(ctx: number, leap: number, stratum: number, precision: number, referenceId: number,
    rootDelay: number, rootDispersion: number, refHi: number, refLo: number): void;
  server_handle_batch(ctx: number, count: number, nowHi: number, nowLo: number): number;
  server_note_transmits(ctx: number, count: number): number;
  server_note_transmit(ctx: number, rxHi: number, rxLo: number, txHi: number, txLo: number): number;
  server_import_sockaddrs(ctx: number, count: number, names: number, stride: number): number;
  server_import_timespecs(ctx: number, count: number, times: number, stride: number, fallbackHi: number, fallbackLo: number): void;
}

/** A client address: family and its 4 (IPv4) or 16 (IPv6) bytes, network order. */
export interface ClientAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface HandledRequest {
  outcome: Outcome;
  /** The response to send (a copy), or null when the request is dropped. */
  response: Uint8Array | null;
  /** The receive timestamp written in the response (0n when dropped). */
  receiveTime: NtpTimestamp;
  /** Timestamps were saved for an interleaved follow-up: report the real transmit time via noteTransmit. */
  saved: boolean;
}

export interface ServerKernel {
  /** The kernel's WASM handle, for modules that attach to it (NTS: ts/core/nts-server.ts). */
  readonly context: number;
  /** Slots (largest batch) and packet bytes per slot (longer requests are dropped as oversize). */
  readonly slots: number;
  readonly capacity: number;
  /** Clients the rate-limit table tracks and the bytes it occupies (fixed at creation). */
  readonly rateTableClients: number;
  readonly rateTableBytes: number;
  /** (receive, transmit) pairs the interleaved table holds and its bytes (fixed at creation). */
  readonly interleavedTablePairs: number;
  readonly interleavedTableBytes: number;

  /** Re-applies policy (versions, access lists, rate-limit parameters, poll range, interleaved on/off).
   *  Sizes fixed at creation (batch size, request size, table sizes, list capacity) cannot grow. */
  configure(options: ServerPolicyOptions): void;
  setSystemState(state: ServerSystemState): void;

  /** The current byte view of linear memory (re-taken here if memory grew); with the offsets below
   *  the I/O layer reads and writes slots in place, e.g. socket.send(memory(), responseOffset(i), len). */
  memory(): Uint8Array;
  /** Where request slot i's packet bytes go (capacity bytes). */
  requestPacketOffset(i: number): number;
  /** Request slot i's metadata: datagram length (as received; > capacity means oversize), the client
   *  (family 4 or 6, address bytes in network order), port, and receive timestamp (hi/lo u32). */
  setRequestMeta(i: number, length: number, family: number, address: Uint8Array, port: number, rxHi: number, rxLo: number): void;
  /** Request slot i's datagram length alone (as received; > capacity means oversize). */
  setRequestLength(i: number, length: number): void;
  /** Copies a datagram into request slot i (at most `capacity` bytes; the true length is kept). */
  setRequest(i: number, bytes: Uint8Array, client: ClientAddress, port: number, rx: NtpTimestamp): void;
  /** Batched engine: fills the client address of slots 0..count−1 from Linux sockaddr_in/in6 structs
   *  that recvmmsg wrote at `offset` + i·stride in linear memory (e.g. a region from wasm.reserve);
   *  returns how many were IPv4/IPv6 (others are dropped by the kernel as bad-address). */
  importSockaddrs(count: number, offset: number, stride: number): number;
  /** Batched engine: fills the receive timestamps of slots 0..count−1 from SCM_TIMESTAMPNS timespecs
   *  at `offset` + i·stride; a zero timespec (none delivered) takes `fallback`. */
  importTimespecs(count: number, offset: number, stride: number, fallback: NtpTimestamp): void;
  /** Runs the kernel over request slots 0..count−1; returns how many responses to send. */
  handleBatch(count: number, nowHi: number, nowLo: number): number;
  handleBatchAt(count: number, now: NtpTimestamp): number;
  responseLength(i: number): number;
  /** Kernel outcome code of slot i (index into OUTCOMES + 1); outcomeName() gives its name. */
  responseOutcome(i: number): number;
  responseOffset(i: number): number;
  responseSaved(i: number): boolean;
  responseReceiveTime(i: number): NtpTimestamp;
  /** After sending slot i: the transmit time measured then (hi/lo); used by noteTransmits. */
  setTransmitActual(i: number, txHi: number, txLo: number): void;
  /** Hands the measured transmit times of slots 0..count−1 to the interleaved table. */
  noteTransmits(count: number): number;
  /** One measured transmit time, for the response whose receive timestamp was `rx`:
   *  1 updated, −1 refused as implausible, 0 nothing saved for it. */
  noteTransmit(rx: NtpTimestamp, tx: NtpTimestamp): number;

  /** Every counter by name (received = sum of the outcome counters). */
  counters(): Record<CounterName, number>;

  /** One datagram through the same path (slot 0): for tests and the node:dgram engine. */
  handleOne(bytes: Uint8Array, client: ClientAddress | string, port: number, rx: NtpTimestamp, now: NtpTimestamp): HandledRequest;
}

const LAYOUT = {
  reqLength: 0, reqFamily: 1, reqPort: 2, reqAddress: 3, reqRxTime: 4, reqPacket: 5,
  repLength: 6, repOutcome: 7, repFlags: 8, repRxTime: 9, repTxActual: 10, repPacket: 11,
  repFlagSaved: 12, slotHeader: 13, counterCount: 14, outcomeFirst: 15, outcomeLast: 16,
  actionDeny: 17, actionIgnore: 18, aclV4Entry: 19, aclV6Entry: 20,
} as const;

const MASK32 = 0xffffffffn;

const hi32 = (t: bigint): number => Number((t >> 32n) & MASK32);
const lo32 = (t: bigint): number => Number(t & MASK32);

/**
 * Writes the IPv4 address `text` (canonical dotted quad, as node:dgram reports it) into `out` without
 * allocating; false if it is not one. The per-datagram path of the dgram engine uses this.
 */
function parseIPv4Into(text: string, out: Uint8Array): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === 46 && digits > 0 && part < 3) {
      out[part++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  if (part !== 3 || digits === 0) return false;
  out[3] = value;
  return true;
}

/** Parses a textual address (as node:dgram reports it; an IPv6 zone is ignored). */
export function parseClientAddress(text: string): ClientAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, bytes: v4 };
  const zone = text.indexOf("%");
  const v6 = parseIPv6(zone < 0 ? text : text.slice(0, zone));
  return v6 === undefined ? undefined : { family: 6, bytes: v6 };
}

export function createServerKernel(
  wasm: WasmInstance,
  options: ServerPolicyOptions = {},
  randomBytes: (into: Uint8Array) => void = (into) => globalThis.crypto.getRandomValues(into),
): ServerKernel {
  const x = wasm.exports as unknown as ServerExports;
  const layout = Object.fromEntries(Object.entries(LAYOUT).map(([k, id]) => [k, x.server_layout(id) >>> 0])) as Record<keyof typeof LAYOUT, number>;
  if (layout.counterCount !== COUNTERS.length || layout.outcomeLast !== OUTCOMES.length) {
    throw new Error("server kernel and ts/protocol/server-policy.ts disagree on the counters");
  }

  const initial = compileServerPolicy(options);
  const ctx = x.server_create(initial.slots, initial.capacity, initial.rateTableBytes, initial.interleavedTableBytes, initial.accessListCapacity) >>> 0;
  if (ctx === 0) throw new PolicyError("server kernel rejected the table sizes");
  const info = (id: number): number => x.server_info(ctx, id) >>> 0;
  const region = (id: number): number => x.server_region(ctx, id) >>> 0;
  const slots = info(0);
  const capacity = info(1);
  const requestStride = info(2);
  const responseStride = info(3);
  const aclCapacity = info(6);
  const requests = region(0);
  const responses = region(1);
  const counterBase = region(2);
  const aclRegions = { allowV4: region(3), denyV4: region(4), allowV6: region(5), denyV6: region(6) };

  const seed = new Uint32Array(6);
  randomBytes(new Uint8Array(seed.buffer));
  x.server_set_keys(ctx, seed[0]!, seed[1]!, seed[2]!, seed[3]!, seed[4]!, seed[5]!);

  // Views over linear memory, re-taken when it grows (another façade reserving later detaches them).
  let buffer: ArrayBuffer = x.memory.buffer;
  let u8 = new Uint8Array(buffer);
  let u16 = new Uint16Array(buffer);
  let u32 = new Uint32Array(buffer);
  const fresh = (): void => {
    if (x.memory.buffer !== buffer) {
      buffer = x.memory.buffer;
      u8 = new Uint8Array(buffer);
      u16 = new Uint16Array(buffer);
      u32 = new Uint32Array(buffer);
    }
  };

  const checkSlot = (i: number): void => {
    if (!Number.isInteger(i) || i < 0 || i >= slots) throw new RangeError(`slot ${i} outside 0..${slots - 1}`);
  };

  function apply(t: ServerTables): void {
    if (t.slots > slots || t.capacity !== capacity) throw new PolicyError("batchSize and maxRequestBytes are fixed when the kernel is created");
    if (t.rateTableBytes > info(7) || t.interleavedTableBytes > info(8)) throw new PolicyError("table sizes are fixed when the kernel is created");
    if (t.accessListCapacity > aclCapacity) throw new PolicyError(`access lists may hold at most ${aclCapacity} ranges per family`);
    const ok = x.server_configure(ctx, t.versionMask, t.interleaved ? 1 : 0, t.pollMin, t.pollMax,
      Number(t.rateInterval >> 32n), Number(t.rateInterval & MASK32), t.burst, t.kodOneIn);
    if (!ok) throw new PolicyError("server kernel rejected the policy");
    fresh();
    const writeList = (v4At: number, v6At: number, list: ServerTables["allow"]): void => {
      u32.set(list.v4, v4At >>> 2);
      new BigUint64Array(buffer, v6At, list.v6.length).set(list.v6);
    };
    writeList(aclRegions.allowV4, aclRegions.allowV6, t.allow);
    writeList(aclRegions.denyV4, aclRegions.denyV6, t.deny);
    const action = (a: "deny" | "ignore"): number => (a === "deny" ? layout.actionDeny : layout.actionIgnore);
    const accepted = x.server_set_access(ctx, t.allow.enabled ? 1 : 0, action(t.allow.action), t.allow.v4.length / 2, t.allow.v6.length / 4,
      t.deny.enabled ? action(t.deny.action) : 0, t.deny.v4.length / 2, t.deny.v6.length / 4);
    if (!accepted) throw new PolicyError("server kernel rejected the access lists");
  }
  apply(initial);

  const requestAt = (i: number): number => requests + i * requestStride;
  const scratchV4: ClientAddress = { family: 4, bytes: new Uint8Array(4) };
  const responseAt = (i: number): number => responses + i * responseStride;

  const kernel: ServerKernel = {
    context: ctx,
    slots,
    capacity,
    rateTableClients: initial.rateInterval === 0n ? 0 : info(4),
    rateTableBytes: info(7),
    interleavedTablePairs: info(5),
    interleavedTableBytes: info(8),

    configure(next) {
      apply(compileServerPolicy({ batchSize: slots, maxRequestBytes: capacity, accessListCapacity: aclCapacity, ...next }));
    },

    setSystemState(s) {
      if (![0, 1, 2, 3].includes(s.leap)) throw new PolicyError(`leap ${s.leap} is not 0..3`);
      if (!Number.isInteger(s.stratum) || s.stratum < 0 || s.stratum > 255) throw new PolicyError(`stratum ${s.stratum} is not 0..255`);
      if (!Number.isInteger(s.precision) || s.precision < -128 || s.precision > 127) throw new PolicyError(`precision ${s.precision} is not −128..127`);
      x.server_set_system(ctx, s.leap, s.stratum, s.precision, referenceIdValue(s.referenceId) | 0,
        secondsToShort(s.rootDelay) | 0, secondsToShort(s.rootDispersion) | 0, hi32(s.referenceTime), lo32(s.referenceTime));
    },

    memory() {
      fresh();
      return u8;
    },
    requestPacketOffset: (i) => requestAt(i) + layout.reqPacket,

    setRequestMeta(i, length, family, address, port, rxHi, rxLo) {
      fresh();
      const at = requestAt(i);
      u32[(at + layout.reqLength) >>> 2] = length;
      u8[at + layout.reqFamily] = family;
      u16[(at + layout.reqPort) >>> 1] = port;
      const a = at + layout.reqAddress;
      const n = address.length < 16 ? address.length : 16;
      for (let b = 0; b < n; b++) u8[a + b] = address[b]!;
      for (let b = n; b < 16; b++) u8[a + b] = 0;
      u32[(at + layout.reqRxTime) >>> 2] = rxLo;
      u32[(at + layout.reqRxTime + 4) >>> 2] = rxHi;
    },

    setRequestLength(i, length) {
      fresh();
      u32[(requestAt(i) + layout.reqLength) >>> 2] = length;
    },

    setRequest(i, bytes, client, port, rx) {
      checkSlot(i);
      fresh();
      const stored = bytes.length < capacity ? bytes.length : capacity;
      u8.set(stored === bytes.length ? bytes : bytes.subarray(0, stored), requestAt(i) + layout.reqPacket);
      kernel.setRequestMeta(i, bytes.length, client.family, client.bytes, port, hi32(rx), lo32(rx));
    },

    importSockaddrs: (count, offset, stride) => x.server_import_sockaddrs(ctx, count, offset, stride) >>> 0,
    importTimespecs: (count, offset, stride, fallback) => x.server_import_timespecs(ctx, count, offset, stride, hi32(fallback), lo32(fallback)),

    handleBatch(count, nowHi, nowLo) {
      return x.server_handle_batch(ctx, count, nowHi, nowLo) >>> 0;
    },
    handleBatchAt(count, now) {
      return x.server_handle_batch(ctx, count, hi32(now), lo32(now)) >>> 0;
    },

    responseLength(i) {
      fresh();
      return u32[(responseAt(i) + layout.repLength) >>> 2]!;
    },
    responseOutcome(i) {
      fresh();
      return u16[(responseAt(i) + layout.repOutcome) >>> 1]!;
    },
    responseOffset: (i) => responseAt(i) + layout.repPacket,
    responseSaved(i) {
      fresh();
      return (u16[(responseAt(i) + layout.repFlags) >>> 1]! & layout.repFlagSaved) !== 0;
    },
    responseReceiveTime(i) {
      fresh();
      const at = (responseAt(i) + layout.repRxTime) >>> 2;
      return (BigInt(u32[at + 1]!) << 32n) | BigInt(u32[at]!);
    },
    setTransmitActual(i, txHi, txLo) {
      fresh();
      const at = (responseAt(i) + layout.repTxActual) >>> 2;
      u32[at] = txLo;
      u32[at + 1] = txHi;
    },
    noteTransmits: (count) => x.server_note_transmits(ctx, count) >>> 0,
    noteTransmit: (rx, tx) => x.server_note_transmit(ctx, hi32(rx), lo32(rx), hi32(tx), lo32(tx)),

    counters() {
      fresh();
      const view = new BigUint64Array(buffer, counterBase, COUNTERS.length);
      const out = {} as Record<CounterName, number>;
      COUNTERS.forEach((name, i) => (out[name] = Number(view[i]!)));
      return out;
    },

    handleOne(bytes, client, port, rx, now) {
      let address: ClientAddress | undefined;
      if (typeof client !== "string") address = client;
      else if (parseIPv4Into(client, scratchV4.bytes)) address = scratchV4;
      else address = parseClientAddress(client);
      // An unparsable address still goes through the kernel (family 0), so it is counted as dropped.
      kernel.setRequest(0, bytes, address ?? { family: 0 as 4, bytes: new Uint8Array(16) }, port, rx);
      kernel.handleBatch(1, hi32(now), lo32(now));
      const code = kernel.responseOutcome(0);
      const length = kernel.responseLength(0);
      const at = responseAt(0) + layout.repPacket;
      return {
        outcome: outcomeName(code) ?? OUTCOMES[OUTCOMES.length - 1]!,
        response: length === 0 ? null : u8.slice(at, at + length),
        receiveTime: length === 0 ? 0n : kernel.responseReceiveTime(0),
        saved: kernel.responseSaved(0),
      };
    },
  };
  return kernel;
}
