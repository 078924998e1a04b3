// The koffi recvmmsg/sendmmsg bindings: batches cross loopback intact, the sender's address comes
// back, kernel receive timestamps are present and not later than a userspace reading after receipt.
import { afterEach, describe, expect, it } from "vitest";
import { LinuxUdpSocket, MessageBatch, decodeSockaddr, encodeSockaddr, linuxUdpAvailable } from "../../ts/daemon/linux-udp.js";

const open: { close(): void }[] = [];
const batches: MessageBatch[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const b of batches.splice(0)) b.free();
});

function socket(address: string, kernelTimestamps = false) {
  const s = LinuxUdpSocket.open({ address, port: 0, kernelTimestamps });
  open.push(s);
  return s;
}
function batch(n: number, size = 2048) {
  const b = new MessageBatch(n, size);
  batches.push(b);
  return b;
}

describe("sockaddr codec", () => {
  it("round-trips IPv4 and IPv6 (RFC 5952 text)", () => {
    const view = new DataView(new ArrayBuffer(28));
    for (const [addr, text] of [
      ["127.0.0.1", "127.0.0.1"],
      ["::1", "::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["fe80::1:2", "fe80::1:2"],
      ["::ffff:10.1.2.3", "::ffff:a01:203"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ] as const) {
      encodeSockaddr(view, 0, addr, 4242);
      expect(decodeSockaddr(view, 0)).toEqual({ family: addr.includes(":") ? 6 : 4, address: text, port: 4242 });
    }
    expect(() => encodeSockaddr(view, 0, "not-an-ip", 1)).toThrow();
  });
});

describe.skipIf(!linuxUdpAvailable())("MessageBatch over loopback", () => {
  it("sends a batch with sendmmsg and receives it with recvmmsg, with kernel timestamps", () => {
    const server = socket("127.0.0.1", true);
    const client = socket("127.0.0.1");
    const out = batch(32, 256);
    for (let i = 0; i < 32; i++) {
      out.setPeer(i, "127.0.0.1", server.localPort());
      out.payload(i).fill(i, 0, 48 + i);
      out.queue(i, 48 + i);
    }
    expect(out.flush(client)).toBe(32);
    const inb = batch(64);
    let got = 0;
    const seen = new Set<number>();
    const ts = new Float64Array(2);
    for (let tries = 0; got < 32 && tries < 100; tries++) {
      server.waitReadable(100);
      const n = inb.receive(server);
      const afterNs = BigInt(Date.now()) * 1_000_000n + 999_999n; // userspace reading, rounded up
      for (let i = 0; i < n; i++) {
        const len = inb.length(i);
        seen.add(len - 48);
        expect(inb.payload(i)[0]).toBe(len - 48);
        expect(inb.peer(i)).toEqual({ family: 4, address: "127.0.0.1", port: client.localPort() });
        expect(inb.kernelTimestamp(i, ts)).toBe(true);
        const kernelNs = BigInt(ts[0]!) * 1_000_000_000n + BigInt(ts[1]!);
        expect(kernelNs <= afterNs).toBe(true);
        expect(afterNs - kernelNs < 5_000_000_000n).toBe(true);
      }
      got += n;
    }
    expect(got).toBe(32);
    expect(seen.size).toBe(32);
  });

  it("answers a subset in place (queue by slot), over IPv6", () => {
    const server = socket("::1");
    const client = socket("::1");
    const out = batch(4, 64);
    for (let i = 0; i < 4; i++) {
      out.setPeer(i, "::1", server.localPort());
      out.payload(i)[0] = i;
      out.queue(i, 48);
    }
    expect(out.flush(client)).toBe(4);
    const srv = batch(8);
    let n = 0;
    for (let tries = 0; n < 4 && tries < 50; tries++) {
      server.waitReadable(100);
      n += srv.receive(server, 8 - n);
    }
    expect(n).toBe(4);
    // No kernel timestamps asked for: none reported.
    expect(srv.kernelTimestamp(0, new Float64Array(2))).toBe(false);
    // Echo only the odd ones back to their senders.
    for (let i = 0; i < n; i++) if (srv.payload(i)[0]! % 2 === 1) srv.queue(i, 48);
    expect(srv.queuedCount).toBe(2);
    expect(srv.flush(server)).toBe(2);
    const back = batch(8);
    let m = 0;
    const firsts: number[] = [];
    for (let tries = 0; m < 2 && tries < 50; tries++) {
      client.waitReadable(100);
      const k = back.receive(client);
      for (let i = 0; i < k; i++) firsts.push(back.payload(i)[0]!);
      m += k;
    }
    expect(firsts.sort()).toEqual([1, 3]);
    expect(back.peerFamily(0)).toBe(6);
  });

  it("receive on an empty non-blocking socket returns 0 and waitReadable times out", () => {
    const s = socket("127.0.0.1");
    const b = batch(4);
    expect(b.receive(s)).toBe(0);
    expect(s.waitReadable(10)).toBe(false);
  });

  it("SO_REUSEPORT lets two sockets share a port", () => {
    const a = LinuxUdpSocket.open({ address: "127.0.0.1", port: 0, reusePort: true });
    open.push(a);
    const b = LinuxUdpSocket.open({ address: "127.0.0.1", port: a.localPort(), reusePort: true });
    open.push(b);
    expect(b.localPort()).toBe(a.localPort());
    expect(() => LinuxUdpSocket.open({ address: "127.0.0.1", port: a.localPort() })).toThrow(/EADDRINUSE|in use/i);
  });
});
