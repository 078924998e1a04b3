// Bitsliced representation of four AES blocks, and the AES S-box as a boolean circuit.
//
// Why bitsliced: a table-driven AES (S-box or T-tables in memory) indexes memory with secret bytes,
// and the cache then leaks key bits through timing. Here no secret value ever selects a branch or a
// memory address: the 64 state bytes of four blocks are spread over eight 64-bit "planes", plane b
// holding bit b of every byte, and every AES step is a fixed sequence of AND/XOR/NOT/shift/rotate
// on whole planes (the idea of Käsper–Schwabe and BearSSL's aes_ct64, written afresh for this layout).
//
// Layout: a state is 8 consecutive u64 at `st` (plane b at st + 8*b). Byte i (0..15, FIPS 197 order,
// i = 4*column + row) of lane/block l (0..3) sits at bit position p = 4*i + l of each plane. So each
// 16-bit group of a plane is one column, each nibble of that group one row, each bit one lane — which
// turns ShiftRows into rotations of whole rows and MixColumns into rotations inside 16-bit groups.

/** Swaps the bit groups selected by `lo` in `x` with those selected by `lo << s` in `y`. */
@inline function swapA(x: u64, y: u64, lo: u64, s: i32): u64 {
  return (x & lo) | ((y & lo) << s);
}
@inline function swapB(x: u64, y: u64, lo: u64, s: i32): u64 {
  return ((x >> s) & lo) | (y & (lo << s));
}

/**
 * 8x8 bit transpose between word index and bit-within-byte, for each of the 8 byte positions:
 * afterwards word b, bit (8m + j) = previous word j, bit (8m + b). It is its own inverse, so it
 * converts bytes to planes and back.
 */
export function ortho(st: usize): void {
  let q0 = load<u64>(st), q1 = load<u64>(st, 8), q2 = load<u64>(st, 16), q3 = load<u64>(st, 24);
  let q4 = load<u64>(st, 32), q5 = load<u64>(st, 40), q6 = load<u64>(st, 48), q7 = load<u64>(st, 56);
  let a: u64, b: u64;
  const m1: u64 = 0x5555555555555555, m2: u64 = 0x3333333333333333, m4: u64 = 0x0F0F0F0F0F0F0F0F;
  a = q0; b = q1; q0 = swapA(a, b, m1, 1); q1 = swapB(a, b, m1, 1);
  a = q2; b = q3; q2 = swapA(a, b, m1, 1); q3 = swapB(a, b, m1, 1);
  a = q4; b = q5; q4 = swapA(a, b, m1, 1); q5 = swapB(a, b, m1, 1);
  a = q6; b = q7; q6 = swapA(a, b, m1, 1); q7 = swapB(a, b, m1, 1);
  a = q0; b = q2; q0 = swapA(a, b, m2, 2); q2 = swapB(a, b, m2, 2);
  a = q1; b = q3; q1 = swapA(a, b, m2, 2); q3 = swapB(a, b, m2, 2);
  a = q4; b = q6; q4 = swapA(a, b, m2, 2); q6 = swapB(a, b, m2, 2);
  a = q5; b = q7; q5 = swapA(a, b, m2, 2); q7 = swapB(a, b, m2, 2);
  a = q0; b = q4; q0 = swapA(a, b, m4, 4); q4 = swapB(a, b, m4, 4);
  a = q1; b = q5; q1 = swapA(a, b, m4, 4); q5 = swapB(a, b, m4, 4);
  a = q2; b = q6; q2 = swapA(a, b, m4, 4); q6 = swapB(a, b, m4, 4);
  a = q3; b = q7; q3 = swapA(a, b, m4, 4); q7 = swapB(a, b, m4, 4);
  store<u64>(st, q0); store<u64>(st, q1, 8); store<u64>(st, q2, 16); store<u64>(st, q3, 24);
  store<u64>(st, q4, 32); store<u64>(st, q5, 40); store<u64>(st, q6, 48); store<u64>(st, q7, 56);
}

/** Packs bytes 0,2,4,6 of `x` into the low 32 bits. */
@inline function evenBytes(x: u64): u64 {
  x &= 0x00FF00FF00FF00FF;
  x = (x | (x >> 8)) & 0x0000FFFF0000FFFF;
  return (x | (x >> 16)) & 0xFFFFFFFF;
}
/** Inverse of evenBytes: spreads the low 32 bits over bytes 0,2,4,6. */
@inline function spreadBytes(x: u64): u64 {
  x &= 0xFFFFFFFF;
  x = (x | (x << 16)) & 0x0000FFFF0000FFFF;
  return (x | (x << 8)) & 0x00FF00FF00FF00FF;
}

/**
 * Loads block `lane` (16 bytes at `src`) into the pre-transpose words of state `st`.
 * After ortho, plane b bit (8m + j) comes from word j byte m; with p = 4*i + lane this needs
 * word `lane` = the even-indexed bytes of the block and word `lane + 4` = the odd-indexed ones.
 */
export function loadLane(st: usize, lane: i32, src: usize): void {
  const lo = load<u64>(src), hi = load<u64>(src, 8);
  store<u64>(st + (<usize>lane << 3), evenBytes(lo) | (evenBytes(hi) << 32));
  store<u64>(st + (<usize>(lane + 4) << 3), evenBytes(lo >> 8) | (evenBytes(hi >> 8) << 32));
}

/** Inverse of loadLane (call after the closing ortho). */
export function storeLane(st: usize, lane: i32, dst: usize): void {
  const ev = load<u64>(st + (<usize>lane << 3)), od = load<u64>(st + (<usize>(lane + 4) << 3));
  store<u64>(dst, spreadBytes(ev) | (spreadBytes(od) << 8));
  store<u64>(dst, spreadBytes(ev >> 32) | (spreadBytes(od >> 32) << 8), 8);
}

// ShiftRows: row r (nibble r of every column group) moves left by r columns, i.e. its bits move
// down by 16*r positions: new = rotr(old & rowmask_r, 16*r).
const ROW0: u64 = 0x000F000F000F000F;
const ROW1: u64 = 0x00F000F000F000F0;
const ROW2: u64 = 0x0F000F000F000F00;
const ROW3: u64 = 0xF000F000F000F000;

@inline function shiftRowsPlane(x: u64): u64 {
  return (x & ROW0) | rotr<u64>(x & ROW1, 16) | rotr<u64>(x & ROW2, 32) | rotr<u64>(x & ROW3, 48);
}
/** Row r takes the value of row r+1 (mod 4) of the same column: rotate each 16-bit group by 4. */
@inline function rowUp1(x: u64): u64 {
  return ((x >> 4) & 0x0FFF0FFF0FFF0FFF) | ((x << 12) & 0xF000F000F000F000);
}
/** Row r takes the value of row r+2 (mod 4): rotate each 16-bit group by 8. */
@inline function rowUp2(x: u64): u64 {
  return ((x >> 8) & 0x00FF00FF00FF00FF) | ((x << 8) & 0xFF00FF00FF00FF00);
}

/**
 * Runs the AES rounds on the state at `st` with the schedule at `ks` (FIPS 197 §5.1: AddRoundKey,
 * then rounds of SubBytes, ShiftRows, MixColumns (not in the last round), AddRoundKey). The eight
 * planes stay in locals for the whole cipher. With `sboxOnly` it applies SubBytes once and stops
 * (the key schedule's SubWord), so the S-box circuit exists in one place only.
 *
 * SubBytes is the 113-gate circuit of Boyar and Peralta ("A new combinational logic minimization
 * technique with applications to cryptology", 2009): a linear layer, a shared GF(2^4)-tower
 * inversion, a linear layer; only AND/XOR/NOT on planes, so neither time nor memory accesses depend
 * on the data. x0 is the most significant bit (plane 7).
 *
 * MixColumns: out_r = 2·a_r ⊕ 3·a_{r+1} ⊕ a_{r+2} ⊕ a_{r+3} = 2·t_r ⊕ a_{r+1} ⊕ t_{r+2} with
 * t = a ⊕ rowUp1(a). Multiplication by 2 in GF(2^8) mod x^8+x^4+x^3+x+1 on planes shifts the plane
 * index, plane 7 feeding back into planes 0, 1, 3 and 4.
 */
export function bitslicedRounds(st: usize, ks: usize, sboxOnly: bool): void {
  let q0 = load<u64>(st), q1 = load<u64>(st, 8), q2 = load<u64>(st, 16), q3 = load<u64>(st, 24);
  let q4 = load<u64>(st, 32), q5 = load<u64>(st, 40), q6 = load<u64>(st, 48), q7 = load<u64>(st, 56);
  const rounds: i32 = sboxOnly ? 1 : <i32>load<u32>(ks);
  let rk = ks + 16; // round keys: 8 planes each (aes.ts)
  if (!sboxOnly) {
    q0 ^= load<u64>(rk); q1 ^= load<u64>(rk, 8); q2 ^= load<u64>(rk, 16); q3 ^= load<u64>(rk, 24);
    q4 ^= load<u64>(rk, 32); q5 ^= load<u64>(rk, 40); q6 ^= load<u64>(rk, 48); q7 ^= load<u64>(rk, 56);
  }
  // Every branch below depends on the public round index or mode, never on data.
  for (let r = 1; r <= rounds; r++) {
    const x0 = q7, x1 = q6, x2 = q5, x3 = q4, x4 = q3, x5 = q2, x6 = q1, x7 = q0;
    // Top linear transformation.
    const y14 = x3 ^ x5, y13 = x0 ^ x6, y9 = x0 ^ x3, y8 = x0 ^ x5;
    const t0 = x1 ^ x2, y1 = t0 ^ x7, y4 = y1 ^ x3, y12 = y13 ^ y14;
    const y2 = y1 ^ x0, y5 = y1 ^ x6, y3 = y5 ^ y8, t1 = x4 ^ y12;
    const y15 = t1 ^ x5, y20 = t1 ^ x1, y6 = y15 ^ x7, y10 = y15 ^ t0;
    const y11 = y20 ^ y9, y7 = x7 ^ y11, y17 = y10 ^ y11, y19 = y10 ^ y8;
    const y16 = t0 ^ y11, y21 = y13 ^ y16, y18 = x0 ^ y16;

    // Non-linear middle: inversion in GF(2^8) through GF(2^4).
    const t2 = y12 & y15, t3 = y3 & y6, t4 = t3 ^ t2, t5 = y4 & x7;
    const t6 = t5 ^ t2, t7 = y13 & y16, t8 = y5 & y1, t9 = t8 ^ t7;
    const t10 = y2 & y7, t11 = t10 ^ t7, t12 = y9 & y11, t13 = y14 & y17;
    const t14 = t13 ^ t12, t15 = y8 & y10, t16 = t15 ^ t12, t17 = t4 ^ t14;
    const t18 = t6 ^ t16, t19 = t9 ^ t14, t20 = t11 ^ t16, t21 = t17 ^ y20;
    const t22 = t18 ^ y19, t23 = t19 ^ y21, t24 = t20 ^ y18;
    const t25 = t21 ^ t22, t26 = t21 & t23, t27 = t24 ^ t26, t28 = t25 & t27;
    const t29 = t28 ^ t22, t30 = t23 ^ t24, t31 = t22 ^ t26, t32 = t31 & t30;
    const t33 = t32 ^ t24, t34 = t23 ^ t33, t35 = t27 ^ t33, t36 = t24 & t35;
    const t37 = t36 ^ t34, t38 = t27 ^ t36, t39 = t29 & t38, t40 = t25 ^ t39;
    const t41 = t40 ^ t37, t42 = t29 ^ t33, t43 = t29 ^ t40, t44 = t33 ^ t37, t45 = t42 ^ t41;
    const z0 = t44 & y15, z1 = t37 & y6, z2 = t33 & x7, z3 = t43 & y16;
    const z4 = t40 & y1, z5 = t29 & y7, z6 = t42 & y11, z7 = t45 & y17;
    const z8 = t41 & y10, z9 = t44 & y12, z10 = t37 & y3, z11 = t33 & y4;
    const z12 = t43 & y13, z13 = t40 & y5, z14 = t29 & y2, z15 = t42 & y9;
    const z16 = t45 & y14, z17 = t41 & y8;

    // Bottom linear transformation (the NOTs add the S-box constant 0x63).
    const t46 = z15 ^ z16, t47 = z10 ^ z11, t48 = z5 ^ z13, t49 = z9 ^ z10;
    const t50 = z2 ^ z12, t51 = z2 ^ z5, t52 = z7 ^ z8, t53 = z0 ^ z3;
    const t54 = z6 ^ z7, t55 = z16 ^ z17, t56 = z12 ^ t48, t57 = t50 ^ t53;
    const t58 = z4 ^ t46, t59 = z3 ^ t54, t60 = t46 ^ t57, t61 = z14 ^ t57;
    const t62 = t52 ^ t58, t63 = t49 ^ t58, t64 = z4 ^ t59, t65 = t61 ^ t62;
    const t66 = z1 ^ t63;
    const s0 = t59 ^ t63, s6 = t56 ^ ~t62, s7 = t48 ^ ~t60, t67 = t64 ^ t65;
    const s3 = t53 ^ t66, s4 = t51 ^ t66, s5 = t47 ^ t65, s1 = t64 ^ ~s3;
    const s2 = t55 ^ ~t67;

    q7 = s0; q6 = s1; q5 = s2; q4 = s3; q3 = s4; q2 = s5; q1 = s6; q0 = s7;
    if (sboxOnly) break;

    q0 = shiftRowsPlane(q0); q1 = shiftRowsPlane(q1); q2 = shiftRowsPlane(q2); q3 = shiftRowsPlane(q3);
    q4 = shiftRowsPlane(q4); q5 = shiftRowsPlane(q5); q6 = shiftRowsPlane(q6); q7 = shiftRowsPlane(q7);
    if (r < rounds) {
      const r0 = rowUp1(q0), r1 = rowUp1(q1), r2 = rowUp1(q2), r3 = rowUp1(q3);
      const r4 = rowUp1(q4), r5 = rowUp1(q5), r6 = rowUp1(q6), r7 = rowUp1(q7);
      const m0 = q0 ^ r0, m1 = q1 ^ r1, m2 = q2 ^ r2, m3 = q3 ^ r3;
      const m4 = q4 ^ r4, m5 = q5 ^ r5, m6 = q6 ^ r6, m7 = q7 ^ r7;
      q0 = m7 ^ r0 ^ rowUp2(m0);
      q1 = m0 ^ m7 ^ r1 ^ rowUp2(m1);
      q2 = m1 ^ r2 ^ rowUp2(m2);
      q3 = m2 ^ m7 ^ r3 ^ rowUp2(m3);
      q4 = m3 ^ m7 ^ r4 ^ rowUp2(m4);
      q5 = m4 ^ r5 ^ rowUp2(m5);
      q6 = m5 ^ r6 ^ rowUp2(m6);
      q7 = m6 ^ r7 ^ rowUp2(m7);
    }
    rk += 64;
    q0 ^= load<u64>(rk); q1 ^= load<u64>(rk, 8); q2 ^= load<u64>(rk, 16); q3 ^= load<u64>(rk, 24);
    q4 ^= load<u64>(rk, 32); q5 ^= load<u64>(rk, 40); q6 ^= load<u64>(rk, 48); q7 ^= load<u64>(rk, 56);
  }
  store<u64>(st, q0); store<u64>(st, q1, 8); store<u64>(st, q2, 16); store<u64>(st, q3, 24);
  store<u64>(st, q4, 32); store<u64>(st, q5, 40); store<u64>(st, q6, 48); store<u64>(st, q7, 56);
}

/** SubBytes alone on all 64 bytes of the state (used by the key schedule). */
export function sbox(st: usize): void {
  bitslicedRounds(st, 0, true);
}
