// sockaddr_in / sockaddr_in6 (Linux layout, as recvmmsg/sendmmsg read and write them) to and from
// textual addresses. Pure byte work over a DataView: no syscalls, so it is testable anywhere.
import { isIPv4, isIPv6 } from "node:net";

const AF_INET = 2;
const AF_INET6 = 10;

/** Encodes an IPv4/IPv6 address and port as a sockaddr_in / sockaddr_in6 into `out` at `at`; returns its length. */
export function encodeSockaddr(out: DataView, at: number, address: string, port: number): number {
  if (isIPv4(address)) {
    out.setUint16(at, AF_INET, true);
    out.setUint16(at + 2, port, false);
    const parts = address.split(".");
    for (let i = 0; i < 4; i++) out.setUint8(at + 4 + i, Number(parts[i]));
    for (let i = 8; i < 16; i++) out.setUint8(at + i, 0);
    return 16;
  }
  if (isIPv6(address)) {
    out.setUint16(at, AF_INET6, true);
    out.setUint16(at + 2, port, false);
    out.setUint32(at + 4, 0, true);
    const words = expandIPv6(address);
    for (let i = 0; i < 8; i++) out.setUint16(at + 8 + 2 * i, words[i] ?? 0, false);
    out.setUint32(at + 24, 0, true);
    return 28;
  }
  throw new Error(`linux-udp: not an IP address: ${address}`);
}

/** IPv6 text (with :: and an optional dotted-quad tail) to eight 16-bit words. */
function expandIPv6(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (last.includes(".")) {
    const q = last.split(".").map(Number);
    tail.push(((q[0] ?? 0) << 8) | (q[1] ?? 0), ((q[2] ?? 0) << 8) | (q[3] ?? 0));
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((w) => parseInt(w, 16)));
  const a = parse(head);
  const b = rest === undefined ? [] : parse(rest);
  const words = rest === undefined ? a : [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  if (tail.length === 2) words.splice(6, 2, tail[0]!, tail[1]!);
  return words;
}

/** Decodes a sockaddr (IPv4 or IPv6) at `at`: address text and port, or undefined for other families. */
export function decodeSockaddr(view: DataView, at: number): { family: 4 | 6; address: string; port: number } | undefined {
  const family = view.getUint16(at, true);
  const port = view.getUint16(at + 2, false);
  if (family === AF_INET) {
    return { family: 4, address: `${view.getUint8(at + 4)}.${view.getUint8(at + 5)}.${view.getUint8(at + 6)}.${view.getUint8(at + 7)}`, port };
  }
  if (family === AF_INET6) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(view.getUint16(at + 8 + 2 * i, false).toString(16));
    return { family: 6, address: compressIPv6(words), port };
  }
  return undefined;
}

function compressIPv6(words: string[]): string {
  // RFC 5952: the longest run (≥ 2) of zero words becomes "::".
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  if (bestAt < 0) return words.join(":");
  return `${words.slice(0, bestAt).join(":")}::${words.slice(bestAt + bestLen).join(":")}`;
}
