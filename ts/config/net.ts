// Parsers for the network values a config holds: IP addresses, "ADDR:PORT" listen addresses,
// CIDR subnets and "host[:port]" source addresses. Strict, so that a typo is an error at load
// time instead of a surprise at bind time. Pure string code (no node:net), usable anywhere.

import { Fail } from "./dsl.js";

export type Family = 4 | 6;

/** A socket address to bind: `text` as written, `host` without brackets (zone kept). */
export interface SocketAddr {
  text: string;
  host: string;
  port: number;
  family: Family;
}

/** A subnet. `bytes` holds the network address (host bits cleared); `network` prints it. */
export interface Cidr {
  text: string;
  family: Family;
  bytes: Uint8Array;
  prefix: number;
  network: string;
}

/** A remote endpoint as configured: a DNS name or an IP literal, port if one was given. */
export interface HostPort {
  text: string;
  host: string;
  port: number | undefined;
}

/** Strict dotted quad: four decimal parts 0–255, no leading zeros (they read as octal elsewhere). */
export function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** RFC 4291 §2.2 text forms: eight groups, one "::" run, optional dotted-quad tail. No zone. */
export function parseIPv6(s: string): Uint8Array | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (text: string): number[] | undefined => {
    if (text === "") return [];
    const out: number[] = [];
    const parts = text.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIPv4(p);
        if (v4 === undefined) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Canonical text (RFC 5952 for IPv6: lower case, longest zero run of ≥ 2 groups as "::"). */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

function parseIP(s: string): { bytes: Uint8Array; family: Family } | undefined {
  const v4 = parseIPv4(s);
  if (v4 !== undefined) return { bytes: v4, family: 4 };
  const v6 = parseIPv6(s);
  return v6 === undefined ? undefined : { bytes: v6, family: 6 };
}

/** Splits an IPv6 zone ("fe80::1%eth0"); zones name an interface, so keep them to safe characters. */
function splitZone(s: string): { addr: string; zone: string | undefined } | Fail {
  const at = s.indexOf("%");
  if (at < 0) return { addr: s, zone: undefined };
  const zone = s.slice(at + 1);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(zone)) return new Fail(`${JSON.stringify(zone)} is not a valid IPv6 zone (interface name)`);
  return { addr: s.slice(0, at), zone };
}

function parsePort(s: string, whole: string): number | Fail {
  if (!/^[0-9]{1,5}$/.test(s)) return new Fail(`${JSON.stringify(whole)} has an invalid port ${JSON.stringify(s)}`);
  const port = Number(s);
  if (port < 1 || port > 65535) return new Fail(`port ${port} in ${JSON.stringify(whole)} is out of range (1 to 65535)`);
  return port;
}

export const LISTEN_ALLOWED = '"IPv4:PORT" or "[IPv6]:PORT" with a port from 1 to 65535, e.g. "0.0.0.0:123" or "[::]:123"';

/** "a.b.c.d:port" or "[v6addr(%zone)]:port". Host names are refused: a socket binds to an address. */
export function parseListen(text: string): SocketAddr | Fail {
  let hostPart: string;
  let portPart: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return new Fail(`${JSON.stringify(text)} has no closing "]"`);
    hostPart = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (!rest.startsWith(":")) return new Fail(`${JSON.stringify(text)} has no ":PORT" after the address`);
    portPart = rest.slice(1);
    const z = splitZone(hostPart);
    if (z instanceof Fail) return z;
    if (parseIPv6(z.addr) === undefined) return new Fail(`${JSON.stringify(hostPart)} is not an IPv6 address`);
    const port = parsePort(portPart, text);
    return port instanceof Fail ? port : { text, host: hostPart, port, family: 6 };
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) return new Fail(`${JSON.stringify(text)} has no port`);
  hostPart = text.slice(0, colon);
  portPart = text.slice(colon + 1);
  if (hostPart.includes(":")) {
    return new Fail(`${JSON.stringify(text)}: an IPv6 address needs brackets, as in "[${hostPart}]:${portPart}"`);
  }
  if (parseIPv4(hostPart) === undefined) {
    return new Fail(`${JSON.stringify(hostPart)} is not an IP address (listen needs an address, not a host name)`);
  }
  const port = parsePort(portPart, text);
  return port instanceof Fail ? port : { text, host: hostPart, port, family: 4 };
}

export const CIDR_ALLOWED = 'a subnet in CIDR notation, "ADDR/PREFIX" (IPv4 prefix 0–32, IPv6 prefix 0–128), or a single address';

/**
 * "ADDR/PREFIX"; a bare address means that one host. Host bits may be set, as ntpd-rs allows
 * ("192.168.1.1/24" is the subnet 192.168.1.0/24); they are cleared in `bytes`.
 */
export function parseCidr(text: string): Cidr | Fail {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIP(addrText);
  if (ip === undefined) return new Fail(`${JSON.stringify(addrText)} is not an IPv4 or IPv6 address`);
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p)) return new Fail(`${JSON.stringify(text)} has an invalid prefix length ${JSON.stringify(p)}`);
    prefix = Number(p);
    if (prefix > max) return new Fail(`prefix /${prefix} in ${JSON.stringify(text)} is out of range for IPv${ip.family} (0 to ${max})`);
  }
  const bytes = ip.bytes.slice();
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { text, family: ip.family, bytes, prefix, network: formatIP(bytes) };
}

export const HOST_ALLOWED = 'a host name or IP address, optionally with ":PORT" (IPv6 with a port: "[ADDR]:PORT")';

/** RFC 1123 host name: dot-separated labels of letters, digits, "-" (and "_", seen in practice). */
function isHostName(s: string): boolean {
  const name = s.endsWith(".") ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((l) => /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
}

function checkHost(host: string, whole: string): Fail | undefined {
  if (parseIPv4(host) !== undefined) return undefined;
  // All digits and dots but not a valid dotted quad: a mistyped IPv4 address, not a host name.
  if (/^[0-9.]+$/.test(host)) return new Fail(`${JSON.stringify(host)} is not a valid IPv4 address`);
  if (!isHostName(host)) return new Fail(`${JSON.stringify(whole)} is not a valid host name or address`);
  return undefined;
}

/** "host", "host:port", "a.b.c.d[:port]", "v6addr", "[v6addr]:port" (also "[v6addr]"). */
export function parseHostPort(text: string): HostPort | Fail {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return new Fail(`${JSON.stringify(text)} has no closing "]"`);
    const host = text.slice(1, close);
    if (parseIPv6(host) === undefined) return new Fail(`${JSON.stringify(host)} is not an IPv6 address`);
    const rest = text.slice(close + 1);
    if (rest === "") return { text, host, port: undefined };
    if (!rest.startsWith(":")) return new Fail(`${JSON.stringify(text)} has unexpected text after "]"`);
    const port = parsePort(rest.slice(1), text);
    return port instanceof Fail ? port : { text, host, port };
  }
  const colons = text.split(":").length - 1;
  if (colons > 1) {
    if (parseIPv6(text) !== undefined) return { text, host: text, port: undefined };
    return new Fail(`${JSON.stringify(text)} is not an IPv6 address`);
  }
  const [host, portText] = colons === 1 ? [text.slice(0, text.indexOf(":")), text.slice(text.indexOf(":") + 1)] : [text, undefined];
  const bad = checkHost(host, text);
  if (bad) return bad;
  if (portText === undefined) return { text, host, port: undefined };
  const port = parsePort(portText, text);
  return port instanceof Fail ? port : { text, host, port };
}

export const IP_ALLOWED = "an IPv4 or IPv6 address";

export function parseIPText(text: string): string | Fail {
  return parseIP(text) === undefined ? new Fail(`${JSON.stringify(text)} is not an IPv4 or IPv6 address`) : text;
}
