// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012) specialised to the
// one message shape the server tables hash: exactly 16 bytes, given as two little-endian 64-bit
// words. Why a keyed PRF and not a plain mixer: the client table is indexed by the source address,
// which an attacker chooses (spoofs) freely. With an unkeyed hash they could pick addresses that
// all land in one bucket and keep evicting a victim's entry; with a secret 128-bit key (random bytes
// from the TypeScript side, never derived from time) the bucket of an address is unpredictable.
//
// Cost: 2 compression rounds per 8-byte block (two blocks + the length block) and 4 finalisation
// rounds, about 10 SipRounds of 14 add/xor/rotate each: tens of nanoseconds in WASM, once per packet.

// @ts-ignore: decorator
@inline function sipRound4(): void {
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32);
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32);
}

// The state lives in module globals (single-threaded instance; no re-entrancy), which keeps the
// round a straight line of local operations after inlining.
let v0: u64 = 0;
let v1: u64 = 0;
let v2: u64 = 0;
let v3: u64 = 0;

// @ts-ignore: decorator
@inline function absorb(m: u64): void {
  v3 ^= m;
  sipRound4();
  sipRound4();
  v0 ^= m;
}

/**
 * SipHash-2-4 of the 16-byte message whose bytes are m0 (little-endian, bytes 0..7) followed by m1
 * (bytes 8..15), under the key k0 (key bytes 0..7, little-endian) and k1 (bytes 8..15).
 * Reference vector: key 00..0f, message 00..0f → 0x3f2acc7f57c29bdb (vectors_sip64[16]).
 */
export function siphash16(k0: u64, k1: u64, m0: u64, m1: u64): u64 {
  v0 = k0 ^ 0x736f6d6570736575;
  v1 = k1 ^ 0x646f72616e646f6d;
  v2 = k0 ^ 0x6c7967656e657261;
  v3 = k1 ^ 0x7465646279746573;
  absorb(m0);
  absorb(m1);
  absorb(<u64>16 << 56); // final block: no tail bytes, message length 16 in the top byte
  v2 ^= 0xff;
  sipRound4();
  sipRound4();
  sipRound4();
  sipRound4();
  return v0 ^ v1 ^ v2 ^ v3;
}
