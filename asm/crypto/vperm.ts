// Vector-permute AES on WASM SIMD: the AES engine when the module is compiled with SIMD enabled
// (asconfig "enable": ["simd"]); aes.ts selects it at compile time through ASC_FEATURE_SIMD, and
// without SIMD nothing here is compiled (the constants live inside functions for that reason).
//
// Technique: Mike Hamburg, "Accelerating AES with Vector Permute Instructions", CHES 2009 (his
// public-domain "vpaes"). The state is moved into a basis where GF(2^8) inversion splits into
// GF(2^4) operations on nibbles; every S-box step is then a 16-entry lookup done with
// i8x16.swizzle — a shuffle inside a register (pshufb on x86, tbl on ARM), so no secret value ever
// forms a memory address or a branch. The 16-byte constants below are the basis changes and
// GF(2^4) tables of that construction. One block per step, which suits CMAC's chains far better
// than bitslicing (which always pays for four blocks).
//
// Index semantics: pshufb yields 0 for an index with the top bit set, swizzle for any index >= 16;
// the construction only produces nibbles (0..15) or 0x80-flagged "infinity" values, on which the
// two agree.
//
// Schedule layout at `ks`: u32 round count at +0, then (rounds + 1) round keys of 16 bytes from +16,
// already in the permuted basis ("mangled").

@inline function MC_FORWARD(i: i32): v128 { // i = round index mod 4 (public)
  if (i == 0) return i64x2(0x0407060500030201, 0x0C0F0E0D080B0A09);
  if (i == 1) return i64x2(0x080B0A0904070605, 0x000302010C0F0E0D);
  if (i == 2) return i64x2(0x0C0F0E0D080B0A09, 0x0407060500030201);
  return i64x2(0x000302010C0F0E0D, 0x080B0A0904070605);
}
@inline function MC_BACKWARD(i: i32): v128 {
  if (i == 0) return i64x2(0x0605040702010003, 0x0E0D0C0F0A09080B);
  if (i == 1) return i64x2(0x020100030E0D0C0F, 0x0A09080B06050407);
  if (i == 2) return i64x2(0x0E0D0C0F0A09080B, 0x0605040702010003);
  return i64x2(0x0A09080B06050407, 0x020100030E0D0C0F);
}
/** ShiftRows permutations accumulated over the rounds, indexed by round mod 4. */
@inline function SR(i: i32): v128 {
  if (i == 0) return i64x2(0x0706050403020100, 0x0F0E0D0C0B0A0908);
  if (i == 1) return i64x2(0x030E09040F0A0500, 0x0B06010C07020D08);
  if (i == 2) return i64x2(0x0F060D040B020900, 0x070E050C030A0108);
  return i64x2(0x0B0E0104070A0D00, 0x0306090C0F020508);
}
@inline function IPT_LO(): v128 { return i64x2(0xC2B2E8985A2A7000, 0xCABAE09052227808); }
@inline function IPT_HI(): v128 { return i64x2(0x4C01307D317C4D00, 0xCD80B1FCB0FDCC81); }
@inline function OPT_LO(): v128 { return i64x2(0xFF9F4929D6B66000, 0xF7974121DEBE6808); }
@inline function OPT_HI(): v128 { return i64x2(0x01EDBD5150BCEC00, 0xE10D5DB1B05C0CE0); }
@inline function SB1_U(): v128 { return i64x2(0xB19BE18FCB503E00, 0xA5DF7A6E142AF544); }
@inline function SB1_T(): v128 { return i64x2(0x3618D415FAE22300, 0x3BF7CCC10D2ED9EF); }
@inline function SB2_U(): v128 { return i64x2(0xE27A93C60B712400, 0x5EB7E955BC982FCD); }
@inline function SB2_T(): v128 { return i64x2(0x69EB88400AE12900, 0xC2A163C8AB82234A); }
@inline function SBO_U(): v128 { return i64x2(0xD0D26D176FBDC700, 0x15AABF7AC502A878); }
@inline function SBO_T(): v128 { return i64x2(0xCFE474A55FBB6A00, 0x8E1E90D1412B35FA); }
@inline function RCON(): v128 { return i64x2(0x1F8391B9AF9DEEB6, 0x702A98084D7C7D81); }
@inline function S63(): v128 { return i64x2(0x5B5B5B5B5B5B5B5B, 0x5B5B5B5B5B5B5B5B); }
/** 1/x in GF(2^4) (0 ↦ 0x80, "infinity"), and a/x. */
@inline function INV(): v128 { return i64x2(0x0E05060F0D080180, 0x040703090A0B0C02); }
@inline function INVA(): v128 { return i64x2(0x01040A060F0B0780, 0x030D0E0C02050809); }

@inline function low4(x: v128): v128 { return v128.and(x, i8x16.splat(0x0f)); }
@inline function high4(x: v128): v128 { return i8x16.shr_u(x, 4); }
@inline function lookup(table: v128, index: v128): v128 { return i8x16.swizzle(table, index); }
/** Applies a byte map given as two nibble tables (low nibble, high nibble), XORing the halves. */
@inline function transform(x: v128, lo: v128, hi: v128): v128 {
  return v128.xor(lookup(lo, low4(x)), lookup(hi, high4(x)));
}
/** One branch of the GF(2^4)-tower inversion: 1/(a/k + 1/index). */
@inline function invStep(ak: v128, index: v128): v128 {
  return lookup(INV(), v128.xor(ak, lookup(INV(), index)));
}

/** SubBytes of one schedule word set followed by the sb1 output map (key schedule rounds). */
function scheduleSubBytes(x: v128): v128 {
  const k = low4(x), i = high4(x), ak = lookup(INVA(), k), j = v128.xor(i, k);
  const io = v128.xor(j, invStep(ak, i)), jo = v128.xor(i, invStep(ak, j));
  return v128.xor(lookup(SB1_U(), io), lookup(SB1_T(), jo));
}

/** prk smeared (w0, w0^w1, w0^w1^w2, ...) plus 0x63 in the permuted basis, plus SubWord(rk). */
function lowRound(rk: v128, prk: v128): v128 {
  const zero = i64x2(0, 0);
  prk = v128.xor(prk, i8x16.shuffle(zero, prk, 0, 0, 0, 0, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27));
  prk = v128.xor(prk, i8x16.shuffle(zero, prk, 0, 0, 0, 0, 0, 0, 0, 0, 16, 17, 18, 19, 20, 21, 22, 23));
  prk = v128.xor(prk, S63());
  return v128.xor(scheduleSubBytes(rk), prk);
}

/** A full schedule round: Rcon byte from `rcon` (low byte), RotWord of the last word, lowRound. */
function scheduleRound(rk: v128, prk: v128, rcon: v128): v128 {
  prk = v128.xor(prk, i8x16.shuffle(rcon, i64x2(0, 0), 15, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16));
  rk = i8x16.shuffle(rk, rk, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12);
  return lowRound(rk, prk);
}
@inline function rotateRcon(rcon: v128): v128 {
  return i8x16.shuffle(rcon, rcon, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
}

/** Round key as the encryption core consumes it: MixColumns-folded and ShiftRows-permuted. */
function mangle(x: v128, i: i32): v128 {
  x = v128.xor(x, S63());
  let y = i64x2(0, 0);
  const f = MC_FORWARD(0);
  x = lookup(x, f); y = v128.xor(y, x);
  x = lookup(x, f); y = v128.xor(y, x);
  x = lookup(x, f); y = v128.xor(y, x);
  return lookup(y, SR(i & 3));
}
function mangleLast(x: v128, i: i32): v128 {
  return transform(v128.xor(lookup(x, SR(i & 3)), S63()), OPT_LO(), OPT_HI());
}
@inline function broadcastLastWord(x: v128): v128 {
  return i8x16.shuffle(x, x, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15);
}

/** Expands a 16/24/32-byte key into `ks`; returns the round count or 0 for another length. */
export function vpermExpandKey(key: usize, keyLen: i32, ks: usize): i32 {
  if (keyLen != 16 && keyLen != 24 && keyLen != 32) return 0;
  let rcon = RCON();
  let rk = transform(v128.load(key), IPT_LO(), IPT_HI());
  v128.store(ks, rk, 16);
  let out = ks + 32;
  let i = 3; // position in the ShiftRows cycle, counting down (public)
  let rounds = 10;
  if (keyLen == 16) {
    for (let n = 10; ;) {
      rk = scheduleRound(rk, rk, rcon); rcon = rotateRcon(rcon);
      if (--n == 0) break;
      v128.store(out, mangle(rk, i--)); out += 16;
    }
  } else if (keyLen == 24) {
    rounds = 12;
    // The 192-bit schedule advances by 1.5 round keys per SubWord: keep the high half separately.
    const zero = i64x2(0, 0);
    let prk = rk;
    rk = transform(v128.load(key, 8), IPT_LO(), IPT_HI());
    let prkhi = i8x16.shuffle(zero, rk, 0, 0, 0, 0, 0, 0, 0, 0, 24, 25, 26, 27, 28, 29, 30, 31);
    for (let n = 12; ;) {
      prk = scheduleRound(rk, prk, rcon); rcon = rotateRcon(rcon);
      rk = i8x16.shuffle(prkhi, prk, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);
      v128.store(out, mangle(rk, i--)); out += 16;
      rk = smear192(prkhi, prk);
      prkhi = i8x16.shuffle(zero, rk, 0, 0, 0, 0, 0, 0, 0, 0, 24, 25, 26, 27, 28, 29, 30, 31);
      v128.store(out, mangle(rk, i--)); out += 16;
      rk = prk = scheduleRound(rk, prk, rcon); rcon = rotateRcon(rcon);
      if ((n -= 3) == 0) break;
      v128.store(out, mangle(rk, i--)); out += 16;
      rk = smear192(prkhi, prk);
      prkhi = i8x16.shuffle(zero, rk, 0, 0, 0, 0, 0, 0, 0, 0, 24, 25, 26, 27, 28, 29, 30, 31);
    }
  } else {
    rounds = 14;
    let prk = rk;
    rk = transform(v128.load(key, 16), IPT_LO(), IPT_HI());
    for (let n = 14; ;) {
      v128.store(out, mangle(rk, i--)); out += 16;
      const pprk = rk;
      rk = prk = scheduleRound(rk, prk, rcon); rcon = rotateRcon(rcon);
      if ((n -= 2) == 0) break;
      v128.store(out, mangle(rk, i--)); out += 16;
      rk = lowRound(broadcastLastWord(rk), pprk); // the extra SubWord of AES-256 (no RotWord, no Rcon)
    }
  }
  v128.store(out, mangleLast(rk, i--));
  store<u32>(ks, rounds);
  return rounds;
}

/** (w2, w3 of prkhi) smeared with the top words of prk: the 192-bit schedule's word recurrence. */
function smear192(prkhi: v128, prk: v128): v128 {
  let rk = v128.xor(prkhi, i8x16.shuffle(prkhi, prkhi, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 8, 9, 10, 11));
  return v128.xor(rk, i8x16.shuffle(prk, prk, 8, 9, 10, 11, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15));
}

/** Encrypts `n` consecutive 16-byte blocks (src may equal dst). Branches depend on the round index only. */
export function vpermEncrypt(ks: usize, src: usize, dst: usize, n: i32): void {
  const rounds = <i32>load<u32>(ks);
  for (let b = 0; b < n; b++) {
    let rk = ks + 16;
    let x = v128.xor(transform(v128.load(src + (<usize>b << 4)), IPT_LO(), IPT_HI()), v128.load(rk));
    let r4 = 0;
    let io = x, jo = x;
    for (let r = 1; ; r++) {
      // SubBytes in the tower basis: io/jo are the two halves of the inverse.
      const k = low4(x), i = high4(x), ak = lookup(INVA(), k), j = v128.xor(i, k);
      io = v128.xor(j, invStep(ak, i));
      jo = v128.xor(i, invStep(ak, j));
      rk += 16;
      r4 = (r4 + 1) & 3;
      if (r == rounds) break;
      // Output map of the S-box fused with MixColumns: A, 2A, then rotations B = A·x, D = A·x^3.
      const a = v128.xor(v128.xor(lookup(SB1_U(), io), lookup(SB1_T(), jo)), v128.load(rk));
      const a2 = v128.xor(lookup(SB2_U(), io), lookup(SB2_T(), jo));
      const f = MC_FORWARD(r4);
      const a2b = v128.xor(a2, lookup(a, f));
      const a2bd = v128.xor(a2b, lookup(a, MC_BACKWARD(r4)));
      x = v128.xor(a2bd, lookup(a2b, f));
    }
    x = v128.xor(v128.xor(lookup(SBO_U(), io), lookup(SBO_T(), jo)), v128.load(rk));
    v128.store(dst + (<usize>b << 4), lookup(x, SR(r4)));
  }
}
