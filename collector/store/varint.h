// Byte-level building blocks of the store's compressed blobs (sample blocks,
// rollup blocks): little-endian base-128 varints, zigzag for signed values,
// 8-byte little-endian words, and short decimals (an integer r standing for
// the double r / 10^k, bit for bit). Readers take a [p, end) range and never
// read past `end`.
#pragma once

#include <bit>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace plumbline::collector::internal {

inline constexpr size_t kMaxVarintBytes = 10;

inline constexpr unsigned kMaxDecimalDigits = 9;
inline constexpr double kPow10[kMaxDecimalDigits + 1] = {1,   1e1, 1e2, 1e3, 1e4,
                                                         1e5, 1e6, 1e7, 1e8, 1e9};
// Integers up to 2^53 convert to double exactly.
inline constexpr int64_t kMaxDecimal = int64_t{1} << 53;

// The one expression the writer checks and the reader decodes with, so decoding is exact. For
// k = 0 the division by 1 changes nothing.
inline double DecimalValue(int64_t r, unsigned k) { return static_cast<double>(r) / kPow10[k]; }

// std::llround for |x| <= 2^53 (halves away from zero), inline: llround is a libm call.
inline int64_t Round(double x) {
  int64_t r = static_cast<int64_t>(x);                 // toward zero
  const double fraction = x - static_cast<double>(r);  // exact
  if (fraction >= 0.5) {
    ++r;
  } else if (fraction <= -0.5) {
    --r;
  }
  assert(r == std::llround(x));
  return r;
}

// Sets `r` and returns true if `v` is DecimalValue(r, k) bit for bit (so never -0.0, NaN or inf).
inline bool ToDecimal(double v, unsigned k, int64_t* r) {
  const double scaled = v * kPow10[k];
  // The negated test also refuses NaN and keeps the conversion in range.
  if (!(std::fabs(scaled) <= static_cast<double>(kMaxDecimal))) return false;
  *r = Round(scaled);
  return std::bit_cast<uint64_t>(DecimalValue(*r, k)) == std::bit_cast<uint64_t>(v);
}

// True if `r` (an int64 held unsigned) is in [-2^53, 2^53], the range writers keep decimals to.
[[gnu::always_inline]] inline bool DecimalInRange(uint64_t r) {
  return r + static_cast<uint64_t>(kMaxDecimal) <= 2 * static_cast<uint64_t>(kMaxDecimal);
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (0 - (v & 1))); }

// 8 bytes at `p`, in byte order kOrder.
template <std::endian kOrder>
inline uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native != kOrder) v = __builtin_bswap64(v);
  return v;
}
template <std::endian kOrder>
inline void Store64(char* p, uint64_t v) {
  if constexpr (std::endian::native != kOrder) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

// Writes `v` at `p` (room for kMaxVarintBytes); returns the end.
inline char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
inline void AppendVarint(std::string* out, uint64_t v) {
  char buf[kMaxVarintBytes];
  out->append(buf, PutVarint(buf, v) - buf);
}

// False if the varint runs past `end` or does not fit 64 bits.
inline bool GetVarint(const unsigned char** p, const unsigned char* end, uint64_t* v) {
  uint64_t result = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (*p == end) return false;
    uint64_t byte = *(*p)++;
    if (shift == 63 && byte > 1) return false;
    result |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      *v = result;
      return true;
    }
  }
  return false;
}

inline const unsigned char* Bytes(const char* p) {
  return reinterpret_cast<const unsigned char*>(p);
}

}  // namespace plumbline::collector::internal
