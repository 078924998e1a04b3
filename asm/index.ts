// Entry point of the WASM core: re-exports every kernel. Each kernel lives in its own file and
// exports plain functions over numbers and linear-memory offsets (see memory.ts).
export { reserve } from "./memory";
export { ts_diff, ts_from_unix, ts_to_unix, ts_add_seconds, ts_short_to_seconds, ts_seconds_to_short } from "./timestamp";
export { pkt_parse, pkt_validate, pkt_validate_batch, pkt_build_header, pkt_encode_header, pkt_max_packet, pkt_max_extensions, pkt_result_size } from "./packet";
export { onwire_compute } from "./onwire";
export { server_create, server_region, server_info, server_layout, server_set_keys, server_configure, server_set_access, server_set_system, server_handle_batch, server_note_transmits, server_note_transmit, server_import_sockaddrs, server_import_timespecs, server_siphash } from "./server/batch";
export { aes_engine, aes_sched_bytes, aes_expand_key, aes_encrypt_blocks, aes_cmac_ctx_bytes, aes_cmac_init, aes_cmac, aead_ctx_bytes, aead_key_length, aead_import_key, aead_wipe, aead_seal, aead_open } from "./crypto/index";
export { sel_create, sel_region, sel_layout, sel_configure, sel_reset_source, sel_reset_system, sel_add_sample, sel_expire, sel_select } from "./select/system";
export { nts_create, nts_region, nts_info, nts_set_key, nts_clear_key, nts_set_current, nts_random_cursor, nts_random_reset, nts_attach, nts_cookie_length, nts_cookie_seal, nts_cookie_open, nts_verify_request } from "./server/nts";
