// Bulk import of what Linux's recvmmsg hands over — the sender's sockaddr and the kernel receive
// timestamp (SCM_TIMESTAMPNS, a struct timespec) — into request slots, so the batched engine can
// point its msg_name and control buffers into linear memory and convert a whole batch in one call
// instead of per packet in JavaScript. (Sending needs no conversion: sendmmsg can reuse the very
// sockaddr buffers recvmmsg filled.)
//
// Layouts (Linux, every architecture; multi-byte fields in host order = little-endian here, the
// port and address in network order):
//   sockaddr_in   { u16 family = AF_INET (2);   u16 port; u8 addr[4];  u8 zero[8] }           16 B
//   sockaddr_in6  { u16 family = AF_INET6 (10); u16 port; u32 flowinfo; u8 addr[16]; u32 scope } 28 B
//   timespec      { i64 tv_sec; i64 tv_nsec }                                                   16 B

import { REQ_FAMILY, REQ_PORT, REQ_ADDRESS, REQ_RX_TIME } from "./layout";
import { unixToNtp } from "../timestamp";

const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;

/**
 * For i in 0..count−1: reads the sockaddr at names + i·stride into request slot i (family, port,
 * address). Any other family (or a stride too small to hold the address) sets family 0, which the
 * kernel drops as a bad address. Returns how many were IPv4 or IPv6.
 */
export function importSockaddrs(requests: usize, requestStride: u32, count: u32, names: usize, stride: u32): u32 {
  let ok: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const name = names + <usize>i * stride;
    const slot = requests + <usize>i * requestStride;
    const family = stride >= 16 ? <u32>load<u16>(name) : 0;
    store<u16>(slot + REQ_PORT, bswap<u16>(load<u16>(name, 2)));
    if (family == AF_INET) {
      store<u8>(slot + REQ_FAMILY, 4);
      store<u32>(slot + REQ_ADDRESS, load<u32>(name, 4));
      store<u32>(slot + REQ_ADDRESS + 4, 0);
      store<u64>(slot + REQ_ADDRESS + 8, 0);
      ok++;
    } else if (family == AF_INET6 && stride >= 28) {
      store<u8>(slot + REQ_FAMILY, 6);
      store<u64>(slot + REQ_ADDRESS, load<u64>(name, 8));
      store<u64>(slot + REQ_ADDRESS + 8, load<u64>(name, 16));
      ok++;
    } else {
      store<u8>(slot + REQ_FAMILY, 0);
    }
  }
  return ok;
}

/**
 * For i in 0..count−1: reads the timespec at times + i·stride (Unix time) into request slot i's
 * receive timestamp (NTP). A timespec of zero (no timestamp delivered) leaves `fallback` (NTP
 * 32.32, e.g. the time recvmmsg returned) instead; a nanosecond field outside [0, 1e9) is clamped.
 */
export function importTimespecs(requests: usize, requestStride: u32, count: u32, times: usize, stride: u32, fallback: u64): void {
  for (let i: u32 = 0; i < count; i++) {
    const ts = times + <usize>i * stride;
    const sec = load<i64>(ts);
    let nsec = load<i64>(ts, 8);
    if (nsec < 0) nsec = 0;
    if (nsec > 999_999_999) nsec = 999_999_999;
    const rx = sec == 0 && nsec == 0 ? fallback : unixToNtp(<f64>sec, <u32>nsec);
    store<u64>(requests + <usize>i * requestStride + REQ_RX_TIME, rx);
  }
}
