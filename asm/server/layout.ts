// Numbers shared by the server kernel and its TypeScript façade: slot layouts, outcome/counter
// indices, access-list actions. The façade reads every one of them through `server_layout(id)` at
// start-up, so this file is the single definition (the TS side holds only the ids below).

// ---- Request slot (written by the I/O layer, read by the kernel) ----
/** u32: datagram length as received. May exceed the slot's packet capacity (the I/O layer then
 *  stored only the first `capacity` bytes): such a request is dropped as oversize, never truncated. */
export const REQ_LENGTH: u32 = 0;
/** u8: 4 = IPv4, 6 = IPv6 (an IPv4-mapped IPv6 address is treated as IPv4). Anything else: dropped. */
export const REQ_FAMILY: u32 = 4;
/** u16 (native order): client port. Not used by policy (RFC 9769 §2: state is per address, not per
 *  port); kept so the I/O layer can address the reply from the slot. */
export const REQ_PORT: u32 = 6;
/** 16 bytes, network order. IPv4: the 4 address bytes first, the other 12 ignored. */
export const REQ_ADDRESS: u32 = 8;
/** u64 (native little-endian): receive timestamp, NTP 32.32, taken as early as the I/O layer can. */
export const REQ_RX_TIME: u32 = 24;
/** Packet bytes, `capacity` of them. */
export const REQ_PACKET: u32 = 32;

// ---- Response slot (written by the kernel; REP_TX_ACTUAL written back by the I/O layer) ----
/** u32: response length, 0 = send nothing. Never larger than the request's length. */
export const REP_LENGTH: u32 = 0;
/** u16: the final outcome of the request (an OUTCOME_* value below). */
export const REP_OUTCOME: u32 = 4;
/** u16: REP_FLAG_* bits. */
export const REP_FLAGS: u32 = 6;
/** u64: the receive timestamp written into the response (the key of its interleaved entry). */
export const REP_RX_TIME: u32 = 8;
/** u64: the transmit time the I/O layer measured after sending (0 = unknown); consumed by
 *  server_note_transmits. */
export const REP_TX_ACTUAL: u32 = 16;
export const REP_PACKET: u32 = 32;
/** The response's timestamps were saved for a later interleaved response: report the real
 *  transmit time (REP_TX_ACTUAL + server_note_transmits) if the I/O layer has one. */
export const REP_FLAG_SAVED: u32 = 1;

/** Header bytes before the packet in both slot kinds; slots are 16-byte aligned. */
export const SLOT_HEADER: u32 = 32;

// ---- Outcomes: every request ends in exactly one; each is also its counter's index ----
export const COUNTER_RECEIVED: u32 = 0;
export const OUTCOME_ANSWERED: u32 = 1;
export const OUTCOME_ANSWERED_INTERLEAVED: u32 = 2;
export const OUTCOME_KOD_RATE: u32 = 3;
export const OUTCOME_KOD_DENY: u32 = 4;
export const OUTCOME_DROP_TOO_SHORT: u32 = 5;
export const OUTCOME_DROP_OVERSIZE: u32 = 6;
export const OUTCOME_DROP_MODE: u32 = 7;
export const OUTCOME_DROP_VERSION: u32 = 8;
export const OUTCOME_DROP_MALFORMED: u32 = 9;
export const OUTCOME_DROP_DENIED: u32 = 10;
export const OUTCOME_DROP_RATE_LIMITED: u32 = 11;
export const OUTCOME_DROP_BAD_ADDRESS: u32 = 12;
export const OUTCOME_FIRST: u32 = 1;
export const OUTCOME_LAST: u32 = 12;
// ---- Counters that are not outcomes (events inside the tables) ----
export const COUNTER_RATE_CLIENTS_ADDED: u32 = 13;
export const COUNTER_RATE_CLIENTS_EVICTED: u32 = 14;
export const COUNTER_XLEAVE_SAVED: u32 = 15;
export const COUNTER_XLEAVE_EVICTED: u32 = 16;
export const COUNTER_XLEAVE_TX_UPDATED: u32 = 17;
export const COUNTER_XLEAVE_TX_REJECTED: u32 = 18;
export const COUNTER_BATCHES: u32 = 19;
export const COUNTER_COUNT: u32 = 20;

// ---- Access-list actions ----
export const ACTION_NONE: u32 = 0;
/** Answer with a KoD DENY (still subject to the rate limit). */
export const ACTION_DENY: u32 = 1;
/** Drop silently. */
export const ACTION_IGNORE: u32 = 2;

/** Bytes of one IPv4 range (u32 first, u32 last; host order) and one IPv6 range (first hi, first lo,
 *  last hi, last lo; u64 each, host order). */
export const ACL_V4_ENTRY: u32 = 8;
export const ACL_V6_ENTRY: u32 = 32;

// ---- server_layout ids (stable; the façade asks for each by number) ----
const LAYOUT_VALUES: StaticArray<u32> = [
  REQ_LENGTH, REQ_FAMILY, REQ_PORT, REQ_ADDRESS, REQ_RX_TIME, REQ_PACKET, // 0..5
  REP_LENGTH, REP_OUTCOME, REP_FLAGS, REP_RX_TIME, REP_TX_ACTUAL, REP_PACKET, // 6..11
  REP_FLAG_SAVED, SLOT_HEADER, COUNTER_COUNT, OUTCOME_FIRST, OUTCOME_LAST, // 12..16
  ACTION_DENY, ACTION_IGNORE, ACL_V4_ENTRY, ACL_V6_ENTRY, // 17..20
];

/** Layout constant number `id` (see LAYOUT_VALUES for the order); 0xffffffff for an unknown id. */
export function server_layout(id: u32): u32 {
  if (id >= <u32>LAYOUT_VALUES.length) return 0xffffffff;
  return unchecked(LAYOUT_VALUES[id]);
}
