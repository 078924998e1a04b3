// Byte-exact responses: every header field, for basic responses, KoDs and the unsynchronised state.
import { describe, expect, it } from "vitest";
import { SECOND, T0, fields, newKernel, request } from "./support.js";
import { unsynchronisedState } from "../../ts/protocol/server-policy.js";

const synced = {
  leap: 0 as const,
  stratum: 2,
  precision: -23,
  referenceId: 0xc0000201, // 192.0.2.1
  rootDelay: 0.0123,
  rootDispersion: 0.5,
  referenceTime: T0 - 17n * SECOND,
};

describe("server response fields", () => {
  it("answers mode 3 with mode 4 and the system state, echoing version and origin", async () => {
    const { kernel } = await newKernel();
    kernel.setSystemState(synced);
    const rx = T0 + 1000n;
    const now = T0 + 5000n;
    const clientTx = 0xdeadbeefcafef00dn;
    for (const version of [3, 4]) {
      const r = kernel.handleOne(request({ version, poll: 6, transmit: clientTx, origin: 77n, receive: 99n }), "192.0.2.7", 123, rx, now);
      expect(r.outcome).toBe("answered_basic");
      const f = fields(r.response!);
      expect(f).toMatchObject({
        length: 48, leap: 0, version, mode: 4, stratum: 2, poll: 6, precision: -23,
        rootDelay: Math.ceil(0.0123 * 65536), rootDispersion: 0.5 * 65536, referenceId: 0xc0000201,
        reference: T0 - 17n * SECOND, origin: clientTx,
      });
      // Receive: the packet's receive timestamp with the low bit set (RFC 9769 marker); transmit:
      // "now" with the low bit clear. Both within 1 unit (2^-32 s) of the inputs.
      expect(f.receive & 1n).toBe(1n);
      expect(f.transmit & 1n).toBe(0n);
      expect(f.receive - rx).toBeLessThanOrEqual(3n);
      expect(f.receive >= rx).toBe(true);
      expect(now - f.transmit).toBeLessThanOrEqual(1n);
    }
  });

  it("says leap 3, stratum 16, INIT while unsynchronised (the default before any state is set)", async () => {
    const { kernel } = await newKernel();
    const r = kernel.handleOne(request(), "192.0.2.7", 123, T0, T0 + 1n);
    expect(fields(r.response!)).toMatchObject({ leap: 3, stratum: 16, refIdText: "INIT", rootDelay: 0, rootDispersion: 0, reference: 0n });
    kernel.setSystemState(unsynchronisedState(-18));
    const f = fields(kernel.handleOne(request(), "192.0.2.7", 123, T0, T0 + 1n).response!);
    expect(f).toMatchObject({ leap: 3, stratum: 16, refIdText: "INIT", precision: -18 });
  });

  it("clamps the client's poll into the configured range", async () => {
    const { kernel } = await newKernel({ pollRange: { min: 4, max: 10 } });
    const poll = (p: number) => fields(kernel.handleOne(request({ poll: p }), "192.0.2.7", 123, T0, T0 + 1n).response!).poll;
    expect([poll(-128), poll(0), poll(4), poll(7), poll(10), poll(17), poll(127)]).toEqual([4, 4, 4, 7, 10, 10, 10]);
  });

  it("never sends a transmit timestamp before its receive timestamp", async () => {
    const { kernel } = await newKernel();
    const f = fields(kernel.handleOne(request(), "192.0.2.7", 123, T0 + SECOND, T0).response!);
    expect(f.transmit > f.receive).toBe(true);
    expect(f.transmit - f.receive).toBeLessThanOrEqual(2n);
  });

  it("gives every response a distinct receive timestamp even when the receive clock repeats", async () => {
    const { kernel } = await newKernel();
    const seen = new Set<bigint>();
    for (let i = 0; i < 50; i++) seen.add(kernel.handleOne(request(), "192.0.2.7", 123, T0, T0 + SECOND).receiveTime);
    expect(seen.size).toBe(50);
    for (const r of seen) expect(r - T0).toBeLessThan(200n); // moved by at most 2 units per duplicate
  });

  it("answers with the request's length or less: the response is always the 48-byte header", async () => {
    const { kernel } = await newKernel();
    // A valid NTPv4 request with one 28-byte extension field (RFC 7822) is 76 bytes.
    const ef = new Uint8Array(28);
    new DataView(ef.buffer).setUint16(0, 0x0104);
    new DataView(ef.buffer).setUint16(2, 28);
    const r = kernel.handleOne(request({ tail: ef }), "192.0.2.7", 123, T0, T0 + 1n);
    expect(r.outcome).toBe("answered_basic");
    expect(r.response!.length).toBe(48);
  });
});
