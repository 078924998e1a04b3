// NTP time (RFC 5905 §6): the 64-bit timestamp format, the 32-bit short format, era-aware
// differences, and conversion to and from Unix time.
//
// Formats
//   Timestamp (64 bits, "32.32"): seconds since 1900-01-01T00:00:00Z in the high 32 bits, binary
//     fraction of a second in the low 32 bits (resolution 2^-32 s ≈ 233 ps). The seconds wrap every
//     2^32 s ≈ 136 years: era 0 ends at 2036-02-07T06:28:16Z, when era 1 starts at 0 again. A
//     timestamp does not say which era it belongs to; the era has to come from outside.
//   Short (32 bits, "16.16"): unsigned seconds and fraction (resolution ≈ 15 µs); root delay and
//     root dispersion.
//
// Differences (RFC 5905 §6: "the only arithmetic operation permitted on dates and timestamps is
// twos-complement subtraction"). Let a and b be the true times in 32.32 fixed point, A = a mod 2^64
// and B = b mod 2^64 what is on the wire. Then A − B ≡ a − b (mod 2^64). If |a − b| < 2^63 units,
// i.e. the two instants lie within 2^31 s ≈ 68 years of each other, the unique representative of
// that residue in [−2^63, 2^63) is a − b itself. So the wrapping u64 subtraction reinterpreted as
// i64 is the exact signed difference, whatever eras a and b are in — which is what makes the 2036
// rollover harmless for an exchange that straddles it.
//
// Converting the i64 difference d to seconds: <f64>d rounds once to 53 bits, and multiplying by
// 2^-32 is exact (a power of two), so the result is the correctly rounded value of d / 2^32.
// Differences under 2^21 s (24 days) keep the full 2^-32 s resolution.
//
// Unix time (seconds since 1970, nanoseconds) and NTP are 2 208 988 800 s apart (70 years with 17
// leap days; RFC 5905 Figure 4). Leap seconds are not counted by either scale, so no table is
// needed. Unix → NTP reduces the seconds mod 2^32 (the era is folded away, like on the wire).
// NTP → Unix must pick an era: we take the Unix time congruent mod 2^32 that lies in
// [pivot − 2^31, pivot + 2^31), the same "within 68 years" rule as above with the caller's idea of
// now (or a build date) as the pivot.
//
// Nanoseconds ↔ fraction round to nearest. One fraction unit is 1e9 / 2^32 ≈ 0.233 ns, finer than a
// nanosecond, so Unix → NTP → Unix is exact: the fraction is within half a unit (0.116 ns) of the
// true value, which rounds back to the same nanosecond.

/** Seconds from 1900-01-01 (NTP prime epoch) to 1970-01-01 (Unix epoch). */
export const UNIX_EPOCH_IN_NTP_SECONDS: i64 = 2_208_988_800;
/** One second in 32.32 fixed point. */
export const NTP_ONE_SECOND: f64 = 4294967296.0;
/** 2^-32: one 32.32 fraction unit in seconds. */
export const NTP_FRACTION_UNIT: f64 = 1.0 / 4294967296.0;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/** a − b in 32.32 fixed point, era-aware (exact when the instants are < 68 years apart). */
// @ts-ignore: decorator
@inline
export function ntpDiffFixed(a: u64, b: u64): i64 {
  return <i64>(a - b);
}

/** 32.32 fixed-point signed duration to seconds (correctly rounded). */
// @ts-ignore: decorator
@inline
export function fixedToSeconds(d: i64): f64 {
  return <f64>d * NTP_FRACTION_UNIT;
}

/** a − b in seconds, era-aware. */
// @ts-ignore: decorator
@inline
export function ntpDiff(a: u64, b: u64): f64 {
  return fixedToSeconds(ntpDiffFixed(a, b));
}

/**
 * Seconds to 32.32 fixed point, rounded to nearest and saturated to ±2^31 s (the widest span an
 * era-aware difference can express). NaN gives 0. The bounds are checked on the float, before the
 * conversion, so the f64 → i64 conversion can never be out of range.
 */
export function secondsToFixed(seconds: f64): i64 {
  if (!(seconds == seconds)) return 0;
  const scaled = Math.round(seconds * NTP_ONE_SECOND);
  if (scaled >= 9223372036854775807.0) return i64.MAX_VALUE;
  if (scaled <= -9223372036854775808.0) return i64.MIN_VALUE;
  return <i64>scaled;
}

/** ts + seconds, wrapping mod 2^64 like every timestamp (for a duration, not a date). */
export function ntpAddSeconds(ts: u64, seconds: f64): u64 {
  return ts + <u64>secondsToFixed(seconds);
}

/** Short format (unsigned 16.16) to seconds: exact. */
// @ts-ignore: decorator
@inline
export function shortToSeconds(v: u32): f64 {
  return <f64>v * (1.0 / 65536.0);
}

/**
 * Seconds to short format. Root delay and dispersion are error bounds, so this rounds UP (never
 * understates an error) and saturates to [0, 65535.99998] instead of wrapping. NaN and negatives → 0.
 */
export function secondsToShort(seconds: f64): u32 {
  if (!(seconds > 0)) return 0;
  const scaled = Math.ceil(seconds * 65536.0);
  if (scaled >= 4294967295.0) return 0xffffffff;
  return <u32>scaled;
}

/**
 * Unix time to NTP timestamp. `unixSeconds` must be an integer (any sign, |x| < 2^53); `nanos` is
 * normally in [0, 1e9) but larger values simply carry into the seconds (the sum wraps mod 2^64).
 */
export function unixToNtp(unixSeconds: f64, nanos: u32): u64 {
  if (!isFinite(unixSeconds)) unixSeconds = 0; // never trap; the façade rejects these first
  // Reduce first so the f64 → i64 conversion below is always in range (|x| < 2^32 after fmod).
  const reduced = <i64>(unixSeconds % NTP_ONE_SECOND);
  const ntpSeconds = <u64><u32>(reduced + UNIX_EPOCH_IN_NTP_SECONDS); // mod 2^32: era folded away
  // nanos · 2^32 / 1e9, rounded to nearest; nanos < 2^32 so nanos << 32 fits in u64.
  const fraction = ((<u64>nanos << 32) + NANOS_PER_SECOND / 2) / NANOS_PER_SECOND;
  return (ntpSeconds << 32) + fraction;
}

/**
 * NTP timestamp to Unix time. Chooses the era that puts the result in [pivot − 2^31, pivot + 2^31)
 * (pivot in Unix seconds, finite, |pivot| < 2^53). Writes f64 seconds at `out` and u32 nanoseconds
 * in [0, 1e9) at `out + 8`.
 */
export function ntpToUnixAt(ts: u64, pivotUnixSeconds: f64, out: usize): void {
  let seconds = <i64>(ts >>> 32);
  // fraction · 1e9 / 2^32 rounded to nearest; fraction < 2^32 so fraction · 1e9 < 2^62.
  let nanos = ((ts & 0xffffffff) * NANOS_PER_SECOND + 0x80000000) >>> 32;
  if (nanos == NANOS_PER_SECOND) {
    // A fraction within half a nanosecond of the next second rounds up into it.
    nanos = 0;
    seconds += 1;
  }
  if (!isFinite(pivotUnixSeconds)) pivotUnixSeconds = 0; // never trap; the façade rejects these first
  const pivot = <i64>Math.floor(pivotUnixSeconds);
  // Shortest signed way from the pivot to the timestamp, on the circle of 2^32 seconds.
  const delta = <i64><i32><u32>(seconds - UNIX_EPOCH_IN_NTP_SECONDS - pivot);
  store<f64>(out, <f64>(pivot + delta));
  store<u32>(out, <u32>nanos, 8);
}

// ---- WASM exports (prefixed ts_ so they cannot clash with other kernels' exports) ----

/** a − b in seconds, era-aware. */
export function ts_diff(a: u64, b: u64): f64 {
  return ntpDiff(a, b);
}

/** Unix seconds (integer-valued f64) + nanoseconds → NTP timestamp. */
export function ts_from_unix(unixSeconds: f64, nanos: u32): u64 {
  return unixToNtp(unixSeconds, nanos);
}

/** NTP timestamp → Unix time near `pivot`; writes { f64 seconds, u32 nanos } at `out` (12 bytes). */
export function ts_to_unix(ts: u64, pivotUnixSeconds: f64, out: usize): void {
  ntpToUnixAt(ts, pivotUnixSeconds, out);
}

/** ts + seconds (rounded to 2^-32 s, wrapping mod 2^64). */
export function ts_add_seconds(ts: u64, seconds: f64): u64 {
  return ntpAddSeconds(ts, seconds);
}

/** Short format (16.16) → seconds. */
export function ts_short_to_seconds(v: u32): f64 {
  return shortToSeconds(v);
}

/** Seconds → short format (16.16), rounded up, saturating. */
export function ts_seconds_to_short(seconds: f64): u32 {
  return secondsToShort(seconds);
}
