// Access lists through the façade: allow/deny, IPv4/IPv6/IPv4-mapped, ignore vs KoD DENY, and the
// range lookup checked against a brute-force model on random lists.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { T0, fields, newKernel, request } from "./support.js";
import { compileRanges } from "../../ts/protocol/server-policy.js";

const ask = (k: Awaited<ReturnType<typeof newKernel>>["kernel"], addr: string) =>
  k.handleOne(request({ transmit: 0x1122334455667788n }), addr, 40000, T0, T0 + 10n);

describe("access lists", () => {
  it("answers everyone when no list is configured", async () => {
    const { kernel } = await newKernel();
    for (const a of ["192.0.2.1", "10.1.2.3", "2001:db8::1", "::ffff:198.51.100.9", "::1"]) {
      expect(ask(kernel, a).outcome).toBe("answered_basic");
    }
  });

  it("deny list with action ignore drops silently; with action deny answers a KoD DENY", async () => {
    const ignore = (await newKernel({ denylist: { filter: ["192.0.2.0/24", "2001:db8:bad::/48"], action: "ignore" } })).kernel;
    expect(ask(ignore, "192.0.2.200")).toMatchObject({ outcome: "dropped_denied", response: null });
    expect(ask(ignore, "2001:db8:bad:1::5")).toMatchObject({ outcome: "dropped_denied", response: null });
    expect(ask(ignore, "192.0.3.1").outcome).toBe("answered_basic");
    expect(ask(ignore, "2001:db8:bad0::1").outcome).toBe("answered_basic");

    const deny = (await newKernel({ denylist: { filter: ["192.0.2.0/24"], action: "deny" } })).kernel;
    const r = ask(deny, "192.0.2.5");
    expect(r.outcome).toBe("kod_deny");
    // KoD: leap 3, stratum 0, "DENY", origin echoed so the client can match it, 48 bytes, nothing more.
    expect(fields(r.response!)).toMatchObject({
      length: 48, leap: 3, version: 4, mode: 4, stratum: 0, refIdText: "DENY", origin: 0x1122334455667788n,
      rootDelay: 0, rootDispersion: 0, reference: 0n,
    });
    expect(deny.counters()).toMatchObject({ received: 1, kod_deny: 1 });
  });

  it("allow list: addresses outside it get the allow list's action", async () => {
    const { kernel } = await newKernel({ allowlist: { filter: ["10.0.0.0/8", "fd00::/8"], action: "deny" } });
    expect(ask(kernel, "10.200.0.1").outcome).toBe("answered_basic");
    expect(ask(kernel, "fd12:3456::1").outcome).toBe("answered_basic");
    expect(ask(kernel, "11.0.0.1").outcome).toBe("kod_deny");
    expect(ask(kernel, "2001:db8::1").outcome).toBe("kod_deny"); // no IPv6 subnet of it matches
    const ignoring = (await newKernel({ allowlist: { filter: ["10.0.0.0/8"], action: "ignore" } })).kernel;
    expect(ask(ignoring, "9.255.255.255").outcome).toBe("dropped_denied");
    expect(ask(ignoring, "10.0.0.0").outcome).toBe("answered_basic");
    expect(ask(ignoring, "10.255.255.255").outcome).toBe("answered_basic");
    expect(ask(ignoring, "11.0.0.0").outcome).toBe("dropped_denied");
  });

  it("checks the deny list before the allow list (ntpd-rs order)", async () => {
    const { kernel } = await newKernel({
      allowlist: { filter: ["10.0.0.0/8"], action: "deny" },
      denylist: { filter: ["10.9.0.0/16", "11.0.0.0/8"], action: "ignore" },
    });
    expect(ask(kernel, "10.9.1.1").outcome).toBe("dropped_denied"); // allowed, but denied first
    expect(ask(kernel, "11.1.1.1").outcome).toBe("dropped_denied"); // in neither's favour: deny action
    expect(ask(kernel, "12.1.1.1").outcome).toBe("kod_deny"); // not allowed: allow list's action
    expect(ask(kernel, "10.8.1.1").outcome).toBe("answered_basic");
  });

  it("treats IPv4-mapped IPv6 clients as IPv4, and mapped-form subnets as IPv4 subnets", async () => {
    const { kernel } = await newKernel({ denylist: { filter: ["198.51.100.0/24", "::ffff:203.0.113.0/120"], action: "ignore" } });
    expect(ask(kernel, "::ffff:198.51.100.77").outcome).toBe("dropped_denied");
    expect(ask(kernel, "198.51.100.77").outcome).toBe("dropped_denied");
    expect(ask(kernel, "203.0.113.9").outcome).toBe("dropped_denied");
    expect(ask(kernel, "::ffff:203.0.113.9").outcome).toBe("dropped_denied");
    expect(ask(kernel, "::ffff:198.51.101.1").outcome).toBe("answered_basic");
    // An IPv6 subnet does not catch IPv4 clients, even ::/0.
    const v6only = (await newKernel({ denylist: { filter: ["::/0"], action: "ignore" } })).kernel;
    expect(ask(v6only, "::ffff:192.0.2.1").outcome).toBe("answered_basic");
    expect(ask(v6only, "192.0.2.1").outcome).toBe("answered_basic");
    expect(ask(v6only, "::1").outcome).toBe("dropped_denied");
  });

  it("denies with a KoD only within the rate limit: a denied flood cannot draw unlimited KoDs", async () => {
    const { kernel } = await newKernel({
      denylist: { filter: ["192.0.2.0/24"], action: "deny" },
      rateLimit: { interval: 2, burst: 4, kodOneIn: 1, tableSize: 1024 },
    });
    const outcomes = Array.from({ length: 20 }, () => ask(kernel, "192.0.2.1").outcome);
    expect(outcomes.filter((o) => o === "kod_deny")).toHaveLength(4);
    expect(outcomes.filter((o) => o === "dropped_rate_limited")).toHaveLength(16);
  });

  it("can be reconfigured in place", async () => {
    const { kernel } = await newKernel();
    expect(ask(kernel, "192.0.2.1").outcome).toBe("answered_basic");
    kernel.configure({ denylist: { filter: ["192.0.2.1"], action: "deny" } });
    expect(ask(kernel, "192.0.2.1").outcome).toBe("kod_deny");
    kernel.configure({});
    expect(ask(kernel, "192.0.2.1").outcome).toBe("answered_basic");
  });

  it("merges overlapping and adjacent subnets", () => {
    const r = compileRanges(["10.0.0.0/9", "10.128.0.0/9", "10.1.0.0/16", "192.0.2.1", "192.0.2.2/31", "::/1", "8000::/1"]);
    expect(Array.from(r.v4)).toEqual([0x0a000000, 0x0affffff, 0xc0000201, 0xc0000203]);
    expect(Array.from(r.v6)).toEqual([0n, 0n, (1n << 64n) - 1n, (1n << 64n) - 1n]);
  });

  it("agrees with a brute-force model on random lists (IPv4 and IPv6)", async () => {
    const { kernel } = await newKernel({ accessListCapacity: 64 });
    const v4 = fc.record({ addr: fc.integer({ min: 0, max: 0xffffffff }), prefix: fc.integer({ min: 0, max: 32 }) });
    const v6 = fc.record({ hi: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), prefix: fc.integer({ min: 0, max: 64 }) });
    const text4 = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join(".");
    const text6 = (hi: bigint) => `${Array.from({ length: 4 }, (_, i) => ((hi >> BigInt(48 - 16 * i)) & 0xffffn).toString(16)).join(":")}::1`;
    fc.assert(
      fc.property(fc.array(v4, { maxLength: 20 }), fc.array(v6, { maxLength: 20 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 20 }),
        fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 20 }), (nets4, nets6, probes4, probes6) => {
          const filter = [...nets4.map((n) => `${text4(n.addr)}/${n.prefix}`), ...nets6.map((n) => `${text6(n.hi)}/${n.prefix}`)];
          kernel.configure({ denylist: { filter, action: "ignore" } });
          // Probe the subnets' own edges too, where an off-by-one would show.
          const edges4 = nets4.flatMap((n) => {
            const size = 2 ** (32 - n.prefix);
            const first = Math.floor(n.addr / size) * size;
            return [first, first + size - 1, first - 1, first + size].filter((a) => a >= 0 && a <= 0xffffffff);
          });
          for (const a of [...probes4, ...edges4]) {
            const inModel = nets4.some((n) => Math.floor(a / 2 ** (32 - n.prefix)) === Math.floor(n.addr / 2 ** (32 - n.prefix)));
            expect(ask(kernel, text4(a)).outcome).toBe(inModel ? "dropped_denied" : "answered_basic");
          }
          for (const hi of probes6) {
            const inModel = nets6.some((n) => hi >> BigInt(64 - n.prefix) === n.hi >> BigInt(64 - n.prefix));
            expect(ask(kernel, text6(hi)).outcome).toBe(inModel ? "dropped_denied" : "answered_basic");
          }
        }),
      { numRuns: 200 },
    );
  });
});
