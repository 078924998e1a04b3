// Constant-time helpers shared by the AEAD code.

/** Zeroes `len` bytes (key schedules, subkeys, rejected plaintext). */
export function wipe(ptr: usize, len: i32): void {
  memory.fill(ptr, 0, <usize>len);
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
