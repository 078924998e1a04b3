// NTS-KE (RFC 8915 §4) for both ends, sans-IO: the record codec (nts-ke-codec.ts: typed records,
// streaming bounded decoder, encoder) and whole messages (nts-ke-messages.ts: builders, §4 checks,
// §5.1 exporter label and context). Import from here; the split only keeps each file to one job.
export * from "./nts-ke-codec.js";
export * from "./nts-ke-messages.js";
