import { isIPv4, isIPv6 } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Fail } from "../../ts/config/dsl.js";
import { formatIP, parseCidr, parseHostPort, parseIPv4, parseIPv6, parseListen } from "../../ts/config/net.js";

const ok = <T>(v: T | Fail): T => {
  if (v instanceof Fail) throw new Error(`unexpected failure: ${v.what}`);
  return v;
};
const fails = (v: unknown): string => {
  if (!(v instanceof Fail)) throw new Error(`expected a failure, got ${JSON.stringify(v)}`);
  return v.what;
};

describe("IP address parsing", () => {
  it("agrees with node:net on generated and mangled IPv4/IPv6 text (property)", () => {
    const mangled = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string({ maxLength: 12 }), fc.stringMatching(/^[0-9a-f:.]{0,20}$/));
    fc.assert(
      fc.property(mangled, (s) => {
        expect(parseIPv6(s) !== undefined, s).toBe(isIPv6(s) && !s.includes("%"));
        // node accepts leading zeros ("01.2.3.4"); tock refuses them (other tools read them as octal).
        if (!/(^|\.)0\d/.test(s)) expect(parseIPv4(s) !== undefined, s).toBe(isIPv4(s));
      }),
      { numRuns: 2000 },
    );
  });

  it("formats IPv6 in RFC 5952 canonical form and round-trips (property)", () => {
    expect(formatIP(parseIPv6("2001:DB8:0:0:1:0:0:1")!)).toBe("2001:db8::1:0:0:1");
    expect(formatIP(parseIPv6("::")!)).toBe("::");
    expect(formatIP(parseIPv6("1:0:2:3:4:5:6:7")!)).toBe("1:0:2:3:4:5:6:7"); // a single zero group is not compressed
    expect(formatIP(parseIPv6("::ffff:192.0.2.1")!)).toBe("::ffff:c000:201");
    fc.assert(
      fc.property(fc.ipV6(), (s) => {
        const bytes = parseIPv6(s)!;
        expect(parseIPv6(formatIP(bytes))).toEqual(bytes);
      }),
    );
  });

  it("refuses leading zeros in IPv4", () => {
    expect(parseIPv4("010.0.0.1")).toBeUndefined();
    expect(parseIPv4("10.0.0.1")).toEqual(new Uint8Array([10, 0, 0, 1]));
  });
});

describe("listen addresses", () => {
  it("accepts IPv4:PORT and [IPv6]:PORT (with zone)", () => {
    expect(ok(parseListen("0.0.0.0:123"))).toEqual({ text: "0.0.0.0:123", host: "0.0.0.0", port: 123, family: 4 });
    expect(ok(parseListen("[::]:123"))).toMatchObject({ host: "::", port: 123, family: 6 });
    expect(ok(parseListen("[fe80::1%eth0]:1123"))).toMatchObject({ host: "fe80::1%eth0", port: 1123, family: 6 });
  });
  it("says what is wrong", () => {
    expect(fails(parseListen("0.0.0.0"))).toMatch(/has no port/);
    expect(fails(parseListen("::1:123"))).toMatch(/needs brackets, as in "\[::1\]:123"/);
    expect(fails(parseListen("[::1]123"))).toMatch(/no ":PORT"/);
    expect(fails(parseListen("[::1:123"))).toMatch(/no closing/);
    expect(fails(parseListen("localhost:123"))).toMatch(/not a host name/);
    expect(fails(parseListen("1.2.3.4:0"))).toMatch(/port 0 .* out of range/);
    expect(fails(parseListen("1.2.3.4:65536"))).toMatch(/out of range/);
    expect(fails(parseListen("1.2.3.4:12a"))).toMatch(/invalid port/);
    expect(fails(parseListen("[fe80::1%e th]:123"))).toMatch(/zone/);
  });
});

describe("CIDR subnets", () => {
  it("clears host bits and keeps the prefix", () => {
    expect(ok(parseCidr("192.168.1.77/24"))).toMatchObject({ family: 4, prefix: 24, network: "192.168.1.0" });
    expect(ok(parseCidr("2001:db8:ffff::1/33"))).toMatchObject({ family: 6, prefix: 33, network: "2001:db8:8000::" });
    expect(ok(parseCidr("10.1.2.3"))).toMatchObject({ prefix: 32, network: "10.1.2.3" });
    expect(ok(parseCidr("::/0"))).toMatchObject({ prefix: 0, network: "::" });
  });
  it("rejects bad addresses and prefixes", () => {
    expect(fails(parseCidr("10.0.0.0/33"))).toMatch(/\/33 .* out of range for IPv4 \(0 to 32\)/);
    expect(fails(parseCidr("::/129"))).toMatch(/out of range for IPv6 \(0 to 128\)/);
    expect(fails(parseCidr("10.0.0.0/"))).toMatch(/invalid prefix/);
    expect(fails(parseCidr("10.0.0.0/-1"))).toMatch(/invalid prefix/);
    expect(fails(parseCidr("example.com/8"))).toMatch(/not an IPv4 or IPv6 address/);
  });
  it("masks exactly the bits beyond the prefix (property)", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, prefix) => {
        const c = ok(parseCidr(`${ip}/${prefix}`));
        const value = (b: Uint8Array): number => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
        const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
        expect(value(c.bytes)).toBe((value(parseIPv4(ip)!) & mask) >>> 0);
      }),
    );
  });
});

describe("source addresses", () => {
  it("accepts host names, IP literals and ports", () => {
    expect(ok(parseHostPort("ntp11.metas.ch"))).toEqual({ text: "ntp11.metas.ch", host: "ntp11.metas.ch", port: undefined });
    expect(ok(parseHostPort("time.cloudflare.com:4460"))).toMatchObject({ host: "time.cloudflare.com", port: 4460 });
    expect(ok(parseHostPort("192.0.2.1:123"))).toMatchObject({ host: "192.0.2.1", port: 123 });
    expect(ok(parseHostPort("2001:db8::1"))).toMatchObject({ host: "2001:db8::1", port: undefined });
    expect(ok(parseHostPort("[2001:db8::1]:4460"))).toMatchObject({ host: "2001:db8::1", port: 4460 });
    expect(ok(parseHostPort("_ntp.example."))).toMatchObject({ host: "_ntp.example." });
  });
  it("rejects what cannot be a host", () => {
    expect(fails(parseHostPort("192.168.1.300"))).toMatch(/not a valid IPv4 address/);
    expect(fails(parseHostPort("exa mple.com"))).toMatch(/not a valid host name/);
    expect(fails(parseHostPort("-bad.example"))).toMatch(/not a valid host name/);
    expect(fails(parseHostPort(":123"))).toMatch(/not a valid host name/);
    expect(fails(parseHostPort("host:99999"))).toMatch(/out of range/);
    expect(fails(parseHostPort("2001:db8::g"))).toMatch(/not an IPv6 address/);
    expect(fails(parseHostPort("[2001:db8::1]x"))).toMatch(/unexpected text/);
  });
});
