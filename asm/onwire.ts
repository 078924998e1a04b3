// On-wire maths of one client/server exchange (RFC 5905 §8 and Appendix A.5.1.1, packet()).
//
//   T1 client transmit (the response's origin), T2 server receive, T3 server transmit,
//   T4 client receive (destination).
//
//   offset     θ = ½ [(T2 − T1) + (T3 − T4)]             positive: the server is ahead of us
//   delay      δ = max((T4 − T1) − (T3 − T2), ρ_local)    never below what our clock can resolve
//   dispersion ε = ρ_local + ρ_server + PHI · (T4 − T1)   PHI = 15 ppm, the assumed worst-case
//                                                         frequency error over the round trip
//   where ρ = 2^precision (precision: log2 seconds, signed 8 bits).
//
// Precision. The first-order differences (T2 − T1, …) are taken in 32.32 fixed point with the
// era-aware wrapping subtraction of timestamp.ts, so they are exact whenever the two instants are
// within 68 years — also across the 2036 rollover. The second-order sums are also done in 64-bit
// fixed point: exact, unless they overflow i64 (a sum beyond ±68 years, which RFC 5905 §8 notes
// cannot be represented unambiguously anyway); only then do we fall back to adding the two
// differences as floats. One rounding to f64 at the end, then an exact scaling by a power of two.
//
// Hostile values. A server can put anything in T2 and T3. Nothing here can trap or produce NaN for
// finite precision exponents. A negative round trip (T4 before T1) is bogus; it contributes no
// PHI growth (the dispersion never drops below ρ_local + ρ_server) and the delay clamp applies.

import { NTP_FRACTION_UNIT, ntpDiffFixed } from "./timestamp";

/** Frequency tolerance in seconds per second (RFC 5905 §7.2, PHI). */
export const PHI: f64 = 15e-6;

/** x + y in 32.32 fixed point converted to seconds, exact unless the i64 sum overflows. */
function sumToSeconds(x: i64, y: i64): f64 {
  const sum = x + y;
  // Overflow iff x and y have the same sign and the sum has the other one.
  if (((x ^ sum) & (y ^ sum)) < 0) return (<f64>x + <f64>y) * NTP_FRACTION_UNIT;
  return <f64>sum * NTP_FRACTION_UNIT;
}

/** 2^exponent for a precision exponent, clamped to a signed 8-bit value as on the wire. */
export function log2ToSeconds(exponent: i32): f64 {
  const e = exponent < -128 ? -128 : exponent > 127 ? 127 : exponent;
  // Build the double directly: biased exponent e + 1023 in [895, 1150], zero mantissa.
  return reinterpret<f64>(<u64>(e + 1023) << 52);
}

export function onWireOffset(t1: u64, t2: u64, t3: u64, t4: u64): f64 {
  return 0.5 * sumToSeconds(ntpDiffFixed(t2, t1), ntpDiffFixed(t3, t4));
}

export function onWireDelay(t1: u64, t2: u64, t3: u64, t4: u64, localPrecision: i32): f64 {
  // (T4 − T1) − (T3 − T2) = (T4 − T1) + (T2 − T3)
  const delay = sumToSeconds(ntpDiffFixed(t4, t1), ntpDiffFixed(t2, t3));
  const rho = log2ToSeconds(localPrecision);
  return delay > rho ? delay : rho;
}

export function onWireDispersion(t1: u64, t4: u64, localPrecision: i32, serverPrecision: i32): f64 {
  const roundTrip = <f64>ntpDiffFixed(t4, t1) * NTP_FRACTION_UNIT;
  const growth = roundTrip > 0 ? PHI * roundTrip : 0.0;
  return log2ToSeconds(localPrecision) + log2ToSeconds(serverPrecision) + growth;
}

// ---- WASM export (prefixed onwire_) ----

/** Writes f64 offset, delay and dispersion (seconds) at out, out + 8, out + 16. */
export function onwire_compute(t1: u64, t2: u64, t3: u64, t4: u64, localPrecision: i32, serverPrecision: i32, out: usize): void {
  store<f64>(out, onWireOffset(t1, t2, t3, t4));
  store<f64>(out, onWireDelay(t1, t2, t3, t4, localPrecision), 8);
  store<f64>(out, onWireDispersion(t1, t4, localPrecision, serverPrecision), 16);
}
