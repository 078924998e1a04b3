// Hostile input against a running daemon: thousands of random and mutated datagrams (every length
// 0–1500, every mode and version, broken extension fields), interleaved with valid requests.
// The daemon must never crash, must keep answering the valid requests, must account for every
// datagram in its counters, and must never answer with more bytes than the request had.
//
// Attribution: hostile datagrams go out in rounds, one per socket of a pool, so each socket has at
// most one request outstanding per round and any response it gets belongs to that request.
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ENGINES, built, clientRequest, collector, decodeResponse, freeUdpPort, metricSum, send, sleep, startDaemon, stopAll, until } from "./process-helpers.js";

afterAll(stopAll);

const POOL = 48;
/** Wait per round for responses (loopback answers take well under a millisecond). */
const ROUND_MS = 15;

function validRequest(seq: number): Buffer {
  return clientRequest((0xe0000000n << 32n) | BigInt(seq));
}

/** The corpus: deterministic (seeded) so a failure can be replayed. */
function hostileCorpus(): Buffer[] {
  const rnd = fc.sample(fc.uint8Array({ minLength: 1500, maxLength: 1500 }), { seed: 4242, numRuns: 1 })[0]!;
  let state = 0x9e3779b9;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const out: Buffer[] = [];
  // 1. Every length 0..1500 of random bytes.
  for (let len = 0; len <= 1500; len++) {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = rnd[(i * 7 + len) % 1500]! ^ (next() & 255);
    out.push(b);
  }
  // 2. Every mode × version × leap on an otherwise valid header.
  for (let mode = 0; mode < 8; mode++) for (let version = 0; version < 8; version++) for (let leap = 0; leap < 4; leap++) {
    const b = clientRequest(BigInt(next()));
    b[0] = (leap << 6) | (version << 3) | mode;
    out.push(b);
  }
  // 3. Extension fields with bad lengths: 0, not a multiple of 4, under 16, past the end, huge.
  for (const extLen of [0, 1, 3, 4, 8, 12, 15, 17, 18, 20, 64, 65532, 65535]) for (const bodyLen of [4, 12, 16, 20, 28, 100, 500]) {
    const b = Buffer.alloc(48 + bodyLen);
    clientRequest(BigInt(next())).copy(b);
    b.writeUInt16BE(0x0104, 48); // a type (unique identifier)
    b.writeUInt16BE(extLen, 50);
    out.push(b);
  }
  // 4. Mutations of a valid request: bit flips, truncations, extensions with garbage.
  for (let k = 0; k < 600; k++) {
    const base = Buffer.alloc(48 + 4 * (next() % 64));
    clientRequest(BigInt(next())).copy(base);
    for (let i = 48; i < base.length; i++) base[i] = next() & 255;
    const flips = 1 + (next() % 4);
    for (let f = 0; f < flips; f++) base[next() % base.length]! ^= 1 << (next() % 8);
    out.push(next() % 3 === 0 ? base.subarray(0, next() % base.length) : base);
  }
  return out;
}

describe.skipIf(!built).each(ENGINES)("hostile input to a running daemon (engine %s)", (engine) => {
  it("never crashes, keeps answering, counts every datagram, never amplifies", { timeout: 120_000 }, async () => {
    const port = await freeUdpPort();
    // No rate limit: every valid request must be answered, whatever the flood around it.
    const d = await startDaemon(`[synchronization]\nlocal-stratum = 8\n\n[[server]]\nlisten = "127.0.0.1:${port}"\nengine = "${engine}"\n`);
    const pool = await Promise.all(Array.from({ length: POOL }, () => collector("127.0.0.1")));
    const valid = await collector("127.0.0.1");
    const corpus = hostileCorpus();
    let sent = 0;
    let validSent = 0;
    let amplified = 0;
    let shortAnswered = 0;
    let responses = 0;
    try {
      for (let start = 0; start < corpus.length; start += POOL) {
        const round = corpus.slice(start, start + POOL);
        for (const s of pool) s.received.length = 0;
        await Promise.all(round.map((b, i) => send(pool[i]!.socket, b, port, "127.0.0.1")));
        sent += round.length;
        // A valid request in every round, matched by its transmit timestamp.
        const seq = validSent++;
        await send(valid.socket, validRequest(seq), port, "127.0.0.1");
        const answered = await until(() => valid.received.some((r) => decodeResponse(r).origin === ((0xe0000000n << 32n) | BigInt(seq))), 2000);
        expect(answered, `valid request ${seq} (round at ${start}) unanswered`).toBe(true);
        await sleep(ROUND_MS);
        round.forEach((req, i) => {
          for (const r of pool[i]!.received) {
            responses++;
            if (r.length > req.length) amplified++;
            if (req.length < 48) shortAnswered++;
          }
        });
      }
      expect(amplified).toBe(0);
      expect(shortAnswered).toBe(0);
      // Some hostile datagrams are valid requests (mutations that left a client header): answered.
      expect(responses).toBeGreaterThan(0);
      expect(valid.received.length).toBe(validSent);

      // Accounting: every datagram the daemon received is in exactly one outcome.
      const total = sent + validSent;
      await sleep(100); // the last round's stragglers
      const m = await d.metrics();
      const received = metricSum(m, "ntp_server_received_packets_total");
      const accepted = metricSum(m, "ntp_server_accepted_packets_total");
      const kod = metricSum(m, "ntp_server_kod_packets_total");
      const dropped = metricSum(m, "ntp_server_dropped_packets_total");
      expect(received).toBe(total);
      expect(accepted + kod + dropped).toBe(received);
      expect(accepted).toBe(responses + validSent);
      expect(metricSum(m, "ntp_server_dropped_packets_total", 'reason="too_short"')).toBeGreaterThanOrEqual(48);
      expect(metricSum(m, "ntp_server_dropped_packets_total", 'reason="wrong_mode"')).toBeGreaterThan(0);
      expect(metricSum(m, "ntp_server_dropped_packets_total", 'reason="malformed"')).toBeGreaterThan(0);
      expect(metricSum(m, "ntp_server_dropped_packets_total", 'reason="bad_version"')).toBeGreaterThan(0);
      expect(d.child.exitCode).toBe(null);
    } finally {
      await Promise.all([...pool, valid].map((c) => c.close()));
    }
    const exit = await d.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    // Nothing was logged per packet at info level: a handful of lines for thousands of datagrams.
    expect(d.lines.length).toBeLessThan(20);
  });
});
