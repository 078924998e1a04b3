// Counter mode with the two counter conventions used here, four blocks per AES call.
// Constant time: the counter and lengths are public; the key stream comes from the bitsliced AES.
import { aesEncrypt4 } from "./aes";
import { copy16, wipe } from "./ct";

const KEYSTREAM: usize = memory.data(64, 16);

/**
 * dst = src xor AES-CTR key stream, `len` bytes. Counter block i is the 16 bytes at `iv` with one
 * 32-bit word replaced by (its value + i) mod 2^32:
 *  - `littleEndian` false: the last word, big-endian (SIV, RFC 5297 §2.5/2.6; the cleared bits of Q
 *    guarantee the 128-bit increment never carries out of that word for messages below 2^31 blocks);
 *  - `littleEndian` true: the first word, little-endian (AES-GCM-SIV, RFC 8452 §4).
 * dst may equal src (in place) or lie wholly before it; it may not overlap it otherwise.
 */
export function ctrXor(ks: usize, iv: usize, src: usize, dst: usize, len: i32, littleEndian: bool): void {
  const base: u32 = littleEndian ? load<u32>(iv) : bswap<u32>(load<u32>(iv, 12));
  for (let off = 0, blk: u32 = 0; off < len; off += 64, blk += 4) {
    const rem = len - off;
    const n = rem >= 64 ? 4 : (rem + 15) >> 4;
    for (let l = 0; l < n; l++) {
      const cb = KEYSTREAM + (<usize>l << 4);
      copy16(cb, iv);
      const c = base + blk + <u32>l;
      if (littleEndian) store<u32>(cb, c);
      else store<u32>(cb, bswap<u32>(c), 12);
    }
    aesEncrypt4(ks, KEYSTREAM, KEYSTREAM, n);
    const take = rem >= 64 ? 64 : rem;
    let i = 0;
    for (; i + 8 <= take; i += 8) {
      store<u64>(dst + off + i, load<u64>(src + off + i) ^ load<u64>(KEYSTREAM + i));
    }
    for (; i < take; i++) store<u8>(dst + off + i, load<u8>(src + off + i) ^ load<u8>(KEYSTREAM + i));
  }
  wipe(KEYSTREAM, 64);
}
