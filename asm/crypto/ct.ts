// Constant-time helpers shared by the AEAD code.

/** Zeroes `len` bytes (key schedules, subkeys, rejected plaintext). */
export function wipe(ptr: usize, len: i32): void {
  // Small scratch blocks inline (memory.fill is a runtime call in V8); large regions in bulk.
  if (len <= 128 && (len & 7) == 0) {
    for (let i = 0; i < len; i += 8) store<u64>(ptr + i, 0);
  } else {
    memory.fill(ptr, 0, <usize>len);
  }
}

/** Copies fewer than 16 bytes (a partial last block) byte by byte; the length is public. */
export function copyShort(dst: usize, src: usize, len: i32): void {
  for (let i = 0; i < len; i++) store<u8>(dst + i, load<u8>(src + i));
}

/**
 * Compares two 16-byte tags without an early exit: the OR of the XORs of all bytes is folded to a
 * single word, so the time does not depend on where (or whether) the tags differ.
 * Returns 1 if equal, 0 otherwise.
 */
export function tagsEqual(a: usize, b: usize): i32 {
  const d = (load<u64>(a) ^ load<u64>(b)) | (load<u64>(a, 8) ^ load<u64>(b, 8));
  // (d | -d) has its top bit set exactly when d != 0.
  return <i32>(1 ^ ((d | (0 - d)) >> 63));
}

/** XORs `len` bytes of `src` into `dst`. */
export function xorInto(dst: usize, src: usize, len: i32): void {
  let i = 0;
  for (; i + 8 <= len; i += 8) store<u64>(dst + i, load<u64>(dst + i) ^ load<u64>(src + i));
  for (; i < len; i++) store<u8>(dst + i, load<u8>(dst + i) ^ load<u8>(src + i));
}

/**
 * Copies 16 bytes with two 64-bit moves. (memory.copy is a call into the engine's runtime in V8,
 * far slower than two moves for a block this small.)
 */
@inline export function copy16(dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst, load<u64>(src, 8), 8);
}

/** Zeroes 16 bytes with two 64-bit stores (see copy16). */
@inline export function zero16(dst: usize): void {
  store<u64>(dst, 0);
  store<u64>(dst, 0, 8);
}
