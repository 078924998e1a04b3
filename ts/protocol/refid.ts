// The reference id we advertise when a server becomes our system peer (RFC 5905 §7.3 "refid"):
// for an IPv4 server its address; for an IPv6 server the first four octets of the MD5 hash of its
// address (a refid is only 32 bits). Servers use it for loop detection: a server whose refid equals
// ours is synchronised to us. MD5 is used as an identifier here, not for security (the RFC's choice).
import { createHash } from "node:crypto";
import { parseIPv4, parseIPv6 } from "../config/net.js";

/** The refid (u32) for a server address (IP literal, IPv6 zone ignored); 0 when it is no IP literal. */
export function referenceIdForAddress(address: string): number {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return u32(v4, 0);
  const v6 = parseIPv6(address.split("%")[0] ?? "");
  if (v6 === undefined) return 0;
  return u32(createHash("md5").update(v6).digest(), 0);
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}
