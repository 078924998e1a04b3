// Interleaved mode (RFC 9769 §2) as chrony's `xleave` client drives it: basic first, then requests
// whose origin is our previous receive timestamp get the previous response's real transmit time.
import { describe, expect, it } from "vitest";
import { SECOND, T0, fields, newKernel, request } from "./support.js";

type Kernel = Awaited<ReturnType<typeof newKernel>>["kernel"];

/** A client that behaves like chrony's xleave client: it copies our last receive timestamp into
 *  its origin field and its own receive time of our last response into its receive field. */
function xleaveClient(kernel: Kernel, address: string) {
  let serverRx = 0n; // receive timestamp of our last response (their next origin)
  let clientRx = 0n; // when they received our last response
  let clientTx = 0n; // their previous transmit timestamp
  return {
    send(rx: bigint, now: bigint, version = 4) {
      const tx = rx - 1000n; // their transmit time, just before we received it
      const req = serverRx === 0n
        ? request({ version, origin: 0n, receive: 0n, transmit: tx })
        : request({ version, origin: serverRx, receive: clientRx, transmit: clientTx || tx });
      const r = kernel.handleOne(req, address, 123, rx, now);
      const f = fields(r.response!);
      serverRx = f.receive;
      clientRx = now + 2000n;
      clientTx = tx;
      return { ...r, f, req: fields(req) };
    },
  };
}

describe("interleaved mode", () => {
  it("follows chrony's xleave sequence: basic, basic (saved), then interleaved with the real transmit time", async () => {
    const { kernel } = await newKernel();
    const client = xleaveClient(kernel, "192.0.2.1");

    const r1 = client.send(T0, T0 + 100n);
    expect(r1.outcome).toBe("answered_basic");
    expect(r1.saved).toBe(false); // origin 0: nothing to save yet (as chrony)

    const r2 = client.send(T0 + 16n * SECOND, T0 + 16n * SECOND + 100n);
    expect(r2.outcome).toBe("answered_basic"); // its origin (our receive time) was not saved
    expect(r2.saved).toBe(true);
    expect(r2.f.origin).toBe(r2.req.transmit); // basic: origin = their transmit
    // The I/O layer reports when response 2 really left.
    const sent2 = r2.f.transmit + 5000n;
    expect(kernel.noteTransmit(r2.receiveTime, sent2)).toBe(1);

    const r3 = client.send(T0 + 32n * SECOND, T0 + 32n * SECOND + 100n);
    expect(r3.outcome).toBe("answered_interleaved");
    expect(r3.f.origin).toBe(r3.req.receive); // interleaved: origin = their receive field
    expect(r3.f.transmit).toBe(sent2); // the previous response's real transmit time
    expect(r3.f.receive).toBe(r3.receiveTime);
    expect(r3.f.receive & 1n).toBe(1n);

    // And so on: each response carries the previous one's transmit time.
    const r4 = client.send(T0 + 48n * SECOND, T0 + 48n * SECOND + 100n);
    expect(r4.outcome).toBe("answered_interleaved");
    expect(r4.f.transmit).toBe((T0 + 32n * SECOND + 100n) & ~1n); // provisional: nothing was noted for 3
    expect(kernel.counters()).toMatchObject({ answered_basic: 2, answered_interleaved: 2, interleaved_saved: 3, interleaved_tx_updated: 1 });
  });

  it("serves a saved pair only once: a repeated origin gets a basic response", async () => {
    const { kernel } = await newKernel();
    const client = xleaveClient(kernel, "192.0.2.1");
    client.send(T0, T0 + 1n);
    const r2 = client.send(T0 + SECOND, T0 + SECOND + 1n);
    const replay = request({ origin: r2.f.receive, receive: T0 + 5n, transmit: T0 + 3n });
    expect(kernel.handleOne(replay, "192.0.2.1", 123, T0 + 2n * SECOND, T0 + 2n * SECOND + 1n).outcome).toBe("answered_interleaved");
    expect(kernel.handleOne(replay, "192.0.2.1", 123, T0 + 3n * SECOND, T0 + 3n * SECOND + 1n).outcome).toBe("answered_basic");
  });

  it("does not give one client the timestamps saved for another", async () => {
    const { kernel } = await newKernel();
    const victim = xleaveClient(kernel, "192.0.2.1");
    victim.send(T0, T0 + 1n);
    const r2 = victim.send(T0 + SECOND, T0 + SECOND + 1n);
    const stolen = request({ origin: r2.f.receive, receive: T0 + 5n, transmit: T0 + 3n });
    expect(kernel.handleOne(stolen, "198.51.100.1", 123, T0 + 2n * SECOND, T0 + 3n * SECOND).outcome).toBe("answered_basic");
    // The victim still gets its interleaved response.
    expect(victim.send(T0 + 4n * SECOND, T0 + 4n * SECOND + 1n).outcome).toBe("answered_interleaved");
  });

  it("answers NTPv3, requests with receive = transmit, and everything when disabled, in basic mode", async () => {
    const { kernel } = await newKernel();
    const v3 = xleaveClient(kernel, "192.0.2.3");
    for (let i = 0; i < 4; i++) expect(v3.send(T0 + BigInt(i) * SECOND, T0 + BigInt(i) * SECOND + 1n, 3).outcome).toBe("answered_basic");

    const c = xleaveClient(kernel, "192.0.2.4");
    c.send(T0, T0 + 1n);
    const r2 = c.send(T0 + SECOND, T0 + SECOND + 1n);
    const same = request({ origin: r2.f.receive, receive: T0 + 7n, transmit: T0 + 7n });
    expect(kernel.handleOne(same, "192.0.2.4", 123, T0 + 2n * SECOND, T0 + 2n * SECOND + 1n).outcome).toBe("answered_basic");

    const off = (await newKernel({ interleaved: false })).kernel;
    const d = xleaveClient(off, "192.0.2.5");
    for (let i = 0; i < 4; i++) {
      const r = d.send(T0 + BigInt(i) * SECOND, T0 + BigInt(i) * SECOND + 1n);
      expect(r.outcome).toBe("answered_basic");
      expect(r.saved).toBe(false);
    }
  });

  it("refuses implausible transmit reports", async () => {
    const { kernel } = await newKernel();
    const c = xleaveClient(kernel, "192.0.2.1");
    c.send(T0, T0 + 1n);
    const r2 = c.send(T0 + SECOND, T0 + SECOND + 100n);
    expect(kernel.noteTransmit(r2.receiveTime, r2.f.transmit - 10n)).toBe(-1); // before the provisional one
    expect(kernel.noteTransmit(r2.receiveTime, r2.f.transmit + 2n * SECOND)).toBe(-1); // > 1 s later
    expect(kernel.noteTransmit(r2.receiveTime + 2n, r2.f.transmit)).toBe(0); // nothing saved there
    expect(kernel.counters().interleaved_tx_rejected).toBe(2);
    expect(c.send(T0 + 2n * SECOND, T0 + 2n * SECOND + 1n).f.transmit).toBe(r2.f.transmit); // unchanged
  });

  it("takes measured transmit times for a whole batch through the slots", async () => {
    const { kernel } = await newKernel();
    const clients = Array.from({ length: 8 }, (_, i) => xleaveClient(kernel, `10.0.0.${i + 1}`));
    for (const c of clients) c.send(T0, T0 + 1n);
    const rxs: bigint[] = [];
    const round2 = clients.map((c, i) => c.send(T0 + SECOND + BigInt(i), T0 + 2n * SECOND));
    for (const r of round2) rxs.push(r.receiveTime);
    // Batch of 8 xleave requests (origin = the receive timestamps just sent): interleaved for all.
    clients.forEach((_, i) => {
      kernel.setRequest(i, request({ origin: rxs[i]!, receive: T0 + 9n, transmit: T0 + 8n }), { family: 4, bytes: Uint8Array.of(10, 0, 0, i + 1) }, 123, T0 + 3n * SECOND);
    });
    expect(kernel.handleBatchAt(8, T0 + 3n * SECOND + 500n)).toBe(8);
    for (let i = 0; i < 8; i++) {
      expect(kernel.responseOutcome(i)).toBe(2); // answered_interleaved
      expect(kernel.responseSaved(i)).toBe(true);
      const sent = T0 + 3n * SECOND + 1000n + BigInt(i) * 10n;
      kernel.setTransmitActual(i, Number(sent >> 32n), Number(sent & 0xffffffffn));
    }
    expect(kernel.noteTransmits(8)).toBe(8);
    // Round 4: each gets its own measured transmit time back.
    for (let i = 0; i < 8; i++) {
      const rx = kernel.responseReceiveTime(i);
      const r = kernel.handleOne(request({ origin: rx, receive: T0 + 11n, transmit: T0 + 10n }), `10.0.0.${i + 1}`, 123, T0 + 4n * SECOND, T0 + 4n * SECOND);
      expect(r.outcome).toBe("answered_interleaved");
      expect(fields(r.response!).transmit).toBe(T0 + 3n * SECOND + 1000n + BigInt(i) * 10n);
    }
  });

  it("keeps its table bounded: old pairs are dropped when it is full", async () => {
    const { kernel } = await newKernel({ interleavedTableSize: 8 });
    expect(kernel.interleavedTablePairs).toBe(8);
    // 100 clients in interleaved mode; only the most recent pairs can stay.
    const clients = Array.from({ length: 100 }, (_, i) => xleaveClient(kernel, `10.1.0.${i}`));
    for (const c of clients) c.send(T0, T0 + 1n);
    for (const [i, c] of clients.entries()) c.send(T0 + SECOND + BigInt(i) * 1000n, T0 + 2n * SECOND);
    const c = kernel.counters();
    expect(c.interleaved_saved).toBe(100);
    expect(c.interleaved_evicted).toBe(92);
    // The last client's pair is still there; the first one's is gone.
    expect(clients[99]!.send(T0 + 3n * SECOND, T0 + 3n * SECOND).outcome).toBe("answered_interleaved");
    expect(clients[0]!.send(T0 + 3n * SECOND, T0 + 3n * SECOND).outcome).toBe("answered_basic");
  });

  it("never reuses a saved receive timestamp, even when the clock is stepped back onto it", async () => {
    const { kernel } = await newKernel();
    const a = xleaveClient(kernel, "192.0.2.1");
    a.send(T0, T0 + 1n);
    const ra = a.send(T0 + SECOND, T0 + SECOND + 1n); // saved with receive ≈ T0 + 1 s
    kernel.handleOne(request(), "192.0.2.9", 123, T0 + 100n * SECOND, T0 + 100n * SECOND); // time moves on
    // The clock steps back: client B's interleaved-looking request arrives at the very same instant.
    const b = xleaveClient(kernel, "192.0.2.2");
    b.send(T0 + 50n * SECOND, T0 + 50n * SECOND);
    const rb = kernel.handleOne(request({ origin: T0 + 5n | 1n, receive: 7n, transmit: 9n }), "192.0.2.2", 123, T0 + SECOND, T0 + SECOND + 1n);
    expect(rb.saved).toBe(true);
    expect(rb.receiveTime).not.toBe(ra.receiveTime);
    // A's pair is intact: its next request is answered in interleaved mode with its own timestamps.
    const next = a.send(T0 + 200n * SECOND, T0 + 200n * SECOND);
    expect(next.outcome).toBe("answered_interleaved");
    expect(next.f.transmit).toBe(ra.f.transmit);
  });
});

