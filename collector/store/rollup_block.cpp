#include "collector/store/rollup_block.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "collector/store/bits.h"
#include "collector/store/varint.h"

// Layout (varints are little-endian base 128; zigzag maps signed to unsigned):
//   blob   := version (1 byte, = 1) | n (varint) | [mode (1 byte) | [g (varint)] | bits]
//             (mode, bits iff n > 0; g iff the mode byte has 0x80 set)
//   mode   := 0: raw doubles; 1 + k: step prediction; 11 + k: linear prediction. With a
//             prediction, first and last of every record are k-digit decimals (an integer r with
//             value == r / 10^k bit for bit, |r| <= 2^53), k in [0, 9]; plus 0x80 (predictions
//             only) if g follows.
//   g      := a common divisor, in [2, 2^53], of every decimal r the records hold (first, last;
//             min, max, sum and increase when decimal fields): memory in pages of 4096 bytes,
//             disk in sectors of 512. Every decimal is written, and predicted, as its quotient
//             q = r / g, which the reader multiplies back. Without g, g is 1.
//   bits   := record * n, most significant bit first, zero-padded to a whole byte.
// Codes:
//   N(x)   a number: '0' is 0; '10' + 6 bits, '110' + 10 bits, '1110' + 20 bits; '1111' + 64 bits.
//   D(d)   a difference mod 2^64: N(zigzag(d)).
//   C(c)   a correction: N with widths 2, 6, 20 (and 64) of zigzag(bits(v) - bits(DecimalValue(r,
//          k))), mod 2^64 (r the full decimal, q * g), the distance in units in the last place from
//          the double a decimal stands for to the value v, so that sums and increases, which
//          floating-point addition leaves a few units off the decimal, stay exact; '0' is none.
//   F(d)   a decimal value field: D(d) C(c). R: 64 raw bits (a double's bits).
// Each record is predicted from the previous one, P (for the first, P is all zero: its step,
// r_first, r_last, sum, correction; the 0.0 doubles):
//   record := '0': every field below as predicted (the code that is all '0's), in one bit
//           | '1' times first last extremes sum increase
//   times  := '0': start = P.start + P's step (its start less the one before; 0 for the first
//             record), count, first_ms - start_ms and last_ms - first_ms as P's
//           | '1' D(start - predicted start) D(count - P.count) D(each offset - P's), mod 2^64.
//             Starts must ascend.
// Below, every r of a decimal field stands for its quotient q = r / g.
//   first, last  decimal: D(r_first - predicted r_first) D(r_last - r_first - predicted rise).
//             Step: r_first is predicted as P.r_last, the rise as P's (P.r_last - P.r_first).
//             Linear: P's rise carried on, r_first as P.r_last + rise_P * (first_ms - P.last_ms)
//             / span_P, the rise as rise_P * span / span_P (span: last_ms - first_ms; the
//             product rounded toward zero; 0 if span_P <= 0, the time is negative or the product
//             overflows; rise_P itself if the times are equal).
//             Raw: '0' first is P.last's bits | '1' R; then '0' last is first's bits | '1' R.
//   extremes := '0' min is first and max is last (bit for bit) | '10' min is last, max is first
//           | '11' min max, each a 2-bit code: 0 first, 1 last, 2 F(r - base), 3 R (the base:
//             the lesser of r_first and r_last for min, the greater for max; decimal only).
//   sum    := '0' F without C, with P's sum correction | '10' F | '11' R. The field is the
//             trapezoid 2 r_sum - count (r_first + r_last), 0 for samples on a straight line.
//             Raw mode: '0' P.sum's bits | '11' R.
//   increase := '0' predicted (decimal: DecimalValue(g (r_last - P.r_last)); raw: last - P.last)
//           | '10' the sum's bits (a gauge falling all bucket long) | '110' F(r - (r_last -
//             P.r_last)) (decimal only) | '1110' +0.0 | '1111' R.
// The writer encodes decimals with both predictions, with g the gcd of every decimal it may write
// and (if g > 1) without g, and keeps the smallest blob (ties: step before linear, g before none).
// It is deterministic: the same run gives the same bytes. Readers refuse codes the mode does not
// allow, a g below 2 or beyond 2^53, decimals out of range (q * g too), and bits left over (a whole
// byte, or nonzero padding).

namespace plumbline::collector {
namespace {

using internal::AppendVarint;
using internal::BitReader;
using internal::BitWriter;
using internal::Bytes;
using internal::DecimalInRange;
using internal::DecimalValue;
using internal::GetVarint;
using internal::kMaxDecimal;
using internal::kMaxDecimalDigits;
using internal::kPow10;
using internal::Round;
using internal::ToDecimal;
using internal::UnZigZag;
using internal::ZigZag;

constexpr char kVersion = 1;
constexpr unsigned kRawMode = 0;
constexpr unsigned kStepMode = 1;                                    // + k
constexpr unsigned kLinearMode = kStepMode + kMaxDecimalDigits + 1;  // + k
constexpr unsigned kMaxMode = kLinearMode + kMaxDecimalDigits;
// Set in the mode byte of a decimal mode when a common divisor g > 1 follows.
constexpr unsigned kDivisorFlag = 0x80;

// The widths of a number code: '0' is 0, '10' + bits[0], '110' + bits[1], '1110' + bits[2],
// '1111' + 64 bits. Each width is below 60, so that a prefix and its bits go in one Put.
struct Widths {
  unsigned bits[3];
};
constexpr Widths kResidualWidths{{6, 10, 20}};
constexpr Widths kCorrectionWidths{{2, 6, 20}};
// A correction (as zigzag) at or beyond this takes more bits than the raw double would with its
// decimal: the writer writes the double raw instead.
constexpr uint64_t kMaxCorrection = uint64_t{1} << kCorrectionWidths.bits[2];

// Codes of the extremes, as a unary code ('0', '10', '11').
constexpr unsigned kRising = 0;   // min is first, max is last
constexpr unsigned kFalling = 1;  // min is last, max is first
constexpr unsigned kOwnCodes = 2;
// Codes of min and max, 2 bits each.
constexpr unsigned kIsFirst = 0;
constexpr unsigned kIsLast = 1;
constexpr unsigned kExtremeDecimal = 2;
constexpr unsigned kExtremeRaw = 3;
// Codes of the sum, as a unary code ('0', '10', '11').
constexpr unsigned kSumRepeatedCorrection = 0;  // decimal, with the previous sum's correction
constexpr unsigned kSumDecimal = 1;             // decimal, with its own correction
constexpr unsigned kSumRaw = 2;
// Codes of increase, as a unary code ('0', '10', '110', '1110', '1111').
constexpr unsigned kIncreasePredicted = 0;
constexpr unsigned kIncreaseIsSum = 1;
constexpr unsigned kIncreaseDecimal = 2;
constexpr unsigned kIncreaseZero = 3;
constexpr unsigned kIncreaseRaw = 4;

// The widest number code and value field (a number and a correction).
constexpr size_t kMaxNumberBits = 4 + 64;
constexpr size_t kMaxValueFieldBits = 2 * kMaxNumberBits;
// The widest record: its bit, the times, first and last, the extremes (their code, then each a
// 2-bit code and a field), the sum (a bit and a field), the increase (a code and a field).
constexpr size_t kMaxRecordBits = 1 + (1 + 4 * kMaxNumberBits) + 2 * kMaxNumberBits +
                                  (2 + 2 * (2 + kMaxValueFieldBits)) + (2 + kMaxValueFieldBits) +
                                  (4 + kMaxValueFieldBits);

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

// What a record is predicted from.
struct Previous {
  uint64_t start = 0;
  uint64_t step = 0;
  uint64_t count = 0;
  uint64_t first_offset = 0;  // first_ms - start_ms, mod 2^64
  uint64_t last_offset = 0;   // last_ms - first_ms, mod 2^64
  uint64_t last_ms = 0;
  int64_t q_first = 0;  // decimal mode, in units of g
  int64_t q_last = 0;
  uint64_t sum_correction = 0;
  double last = 0;  // raw mode
  double sum = 0;
};

// A record's fields as written: all zero (false) is the record predicted in full, written as
// one bit. Differences are mod 2^64, zigzagged when written.
struct Fields {
  bool times = false;  // not as predicted: the four differences below follow
  uint64_t start = 0;
  uint64_t count = 0;
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  // Decimal mode: q less its prediction. Raw mode: the double's bits, if the flag is set.
  uint64_t first = 0;
  uint64_t last = 0;
  bool first_raw = false;
  bool last_raw = false;
  unsigned extremes = kRising;
  unsigned min_code = kIsFirst;
  unsigned max_code = kIsLast;
  // Decimal: q less the base, and the zigzagged correction. Raw: the bits.
  uint64_t min = 0;
  uint64_t min_correction = 0;
  uint64_t max = 0;
  uint64_t max_correction = 0;
  // Decimal mode: the trapezoid field and correction, unless raw. Raw mode: the bits, if raw
  // (kSumRepeatedCorrection stands for the previous sum's bits).
  unsigned sum_code = kSumRepeatedCorrection;
  uint64_t sum = 0;
  uint64_t sum_correction = 0;
  unsigned increase_code = kIncreasePredicted;
  uint64_t increase = 0;
  uint64_t increase_correction = 0;
};

bool IsPredicted(const Fields& f) {
  return !f.times && f.first == 0 && f.last == 0 && !f.first_raw && !f.last_raw &&
         f.extremes == kRising && f.sum_code == kSumRepeatedCorrection && f.sum == 0 &&
         f.increase_code == kIncreasePredicted;
}

// x * num / den, rounded toward zero; 0 when the ratio is none (den <= 0, num < 0) or the
// product overflows.
int64_t Scale(int64_t x, int64_t num, int64_t den) {
  if (num == den) return x;
  int64_t product;
  if (den <= 0 || num < 0 || __builtin_mul_overflow(x, num, &product)) return 0;
  return product / den;
}

// The predictions of q_first and of q_last - q_first, mod 2^64. Linear: the previous record's
// rise carried on over the time to first_ms, and scaled to this record's span.
uint64_t PredictFirst(const Previous& prev, bool linear, uint64_t first_ms) {
  if (!linear) return static_cast<uint64_t>(prev.q_last);
  return static_cast<uint64_t>(prev.q_last) +
         static_cast<uint64_t>(Scale(prev.q_last - prev.q_first,
                                     static_cast<int64_t>(first_ms - prev.last_ms),
                                     static_cast<int64_t>(prev.last_offset)));
}
uint64_t PredictRise(const Previous& prev, bool linear, uint64_t last_offset) {
  const int64_t rise = prev.q_last - prev.q_first;
  if (!linear) return static_cast<uint64_t>(rise);
  return static_cast<uint64_t>(
      Scale(rise, static_cast<int64_t>(last_offset), static_cast<int64_t>(prev.last_offset)));
}

// The smallest k in [0, 9] at which first and last of every aggregate are decimals; -1 if none.
int ChooseDigits(std::span<const Aggregate> run) {
  for (unsigned k = 0; k <= kMaxDecimalDigits; ++k) {
    int64_t r;
    const bool all = std::all_of(run.begin(), run.end(), [&](const Aggregate& a) {
      return ToDecimal(a.first, k, &r) && ToDecimal(a.last, k, &r);
    });
    if (all) return static_cast<int>(k);
  }
  return -1;
}

// Splits `v` into the decimal r nearest v * 10^k and the zigzagged distance from r's double to v;
// false if v is no finite number within the decimals' range, or too far from r's double.
bool Decompose(double v, unsigned k, int64_t* r, uint64_t* correction) {
  const double scaled = v * kPow10[k];
  if (!(std::fabs(scaled) <= static_cast<double>(kMaxDecimal))) return false;
  *r = Round(scaled);
  *correction = ZigZag(static_cast<int64_t>(Bits(v) - Bits(DecimalValue(*r, k))));
  return *correction < kMaxCorrection;
}

// The code of min or max `v` (kExtremeDecimal if it is neither first nor last).
unsigned ExtremeCode(double v, double first, double last) {
  if (Bits(v) == Bits(first)) return kIsFirst;
  if (Bits(v) == Bits(last)) return kIsLast;
  return kExtremeDecimal;
}

// The greatest common divisor of every decimal a blob of `run` with k digits may hold (first and
// last; min, max, sum and increase when written as decimals); 1 if there is none.
int64_t CommonDivisor(std::span<const Aggregate> run, unsigned k) {
  uint64_t g = 0;
  auto add = [&g](int64_t r) {
    g = std::gcd(g, r < 0 ? 0 - static_cast<uint64_t>(r) : static_cast<uint64_t>(r));
  };
  int64_t prev_last = 0;
  for (const Aggregate& a : run) {
    int64_t r_first = 0, r_last = 0, r;
    uint64_t correction;
    [[maybe_unused]] const bool decimals =
        ToDecimal(a.first, k, &r_first) && ToDecimal(a.last, k, &r_last);
    assert(decimals);
    add(r_first);
    add(r_last);
    if (ExtremeCode(a.min, a.first, a.last) == kExtremeDecimal &&
        Decompose(a.min, k, &r, &correction)) {
      add(r);
    }
    if (ExtremeCode(a.max, a.first, a.last) == kExtremeDecimal &&
        Decompose(a.max, k, &r, &correction)) {
      add(r);
    }
    if (Decompose(a.sum, k, &r, &correction)) add(r);
    if (Bits(a.increase) != Bits(DecimalValue(r_last - prev_last, k)) &&
        Bits(a.increase) != Bits(a.sum) && Bits(a.increase) != 0 &&
        Decompose(a.increase, k, &r, &correction)) {
      add(r);
    }
    if (g == 1) return 1;
    prev_last = r_last;
  }
  return g == 0 ? 1 : static_cast<int64_t>(g);
}

// --- Writing.

void PutNumber(BitWriter* bits, uint64_t z, const Widths& w) {
  if (z == 0) {
    bits->Put(0, 1);
  } else if (z >> w.bits[0] == 0) {
    bits->Put((uint64_t{0b10} << w.bits[0]) | z, 2 + w.bits[0]);
  } else if (z >> w.bits[1] == 0) {
    bits->Put((uint64_t{0b110} << w.bits[1]) | z, 3 + w.bits[1]);
  } else if (z >> w.bits[2] == 0) {
    bits->Put((uint64_t{0b1110} << w.bits[2]) | z, 4 + w.bits[2]);
  } else {
    bits->Put(0b1111, 4);
    bits->PutWide(z, 64);
  }
}
// A difference mod 2^64, zigzagged.
void PutDifference(BitWriter* bits, uint64_t d) {
  PutNumber(bits, ZigZag(static_cast<int64_t>(d)), kResidualWidths);
}
void PutValueField(BitWriter* bits, uint64_t field, uint64_t correction) {
  PutDifference(bits, field);
  PutNumber(bits, correction, kCorrectionWidths);
}
// `code` ones, then a zero unless code == max.
void PutUnary(BitWriter* bits, unsigned code, unsigned max) {
  if (code < max) {
    bits->Put(((uint64_t{1} << code) - 1) << 1, code + 1);
  } else {
    bits->Put((uint64_t{1} << max) - 1, max);
  }
}
void PutFlag(BitWriter* bits, bool flag) { bits->Put(flag ? 1 : 0, 1); }

// Sets the field of min or max `v` of code `*code` (`base` in units of g): kExtremeDecimal becomes
// kExtremeRaw if `v` is no decimal, or none in units of g.
void SetExtreme(double v, int digits, int64_t g, int64_t base, unsigned* code, uint64_t* field,
                uint64_t* correction) {
  if (*code != kExtremeDecimal) return;
  int64_t r;
  if (digits >= 0 && Decompose(v, static_cast<unsigned>(digits), &r, correction) && r % g == 0) {
    *field = static_cast<uint64_t>(r / g) - static_cast<uint64_t>(base);
  } else {
    *code = kExtremeRaw;
    *field = Bits(v);
    *correction = 0;
  }
}

// The fields of `a` after `prev`; makes `prev` a's.
// Decimals are in units of `g`, which divides r_first and r_last.
Fields MakeFields(const Aggregate& a, int digits, int64_t g, bool linear, bool first_record,
                  Previous* prev) {
  Fields f;
  const uint64_t start = static_cast<uint64_t>(a.start_ms);
  const uint64_t first_ms = static_cast<uint64_t>(a.first_ms);
  const uint64_t first_offset = first_ms - start;
  const uint64_t last_offset = static_cast<uint64_t>(a.last_ms) - first_ms;
  f.start = start - (prev->start + prev->step);
  f.count = a.count - prev->count;
  f.first_offset = first_offset - prev->first_offset;
  f.last_offset = last_offset - prev->last_offset;
  f.times = (f.start | f.count | f.first_offset | f.last_offset) != 0;

  if (Bits(a.min) == Bits(a.first) && Bits(a.max) == Bits(a.last)) {
    f.extremes = kRising;
  } else if (Bits(a.min) == Bits(a.last) && Bits(a.max) == Bits(a.first)) {
    f.extremes = kFalling;
    f.min_code = kIsLast;
    f.max_code = kIsFirst;
  } else {
    f.extremes = kOwnCodes;
    f.min_code = ExtremeCode(a.min, a.first, a.last);
    f.max_code = ExtremeCode(a.max, a.first, a.last);
  }
  int64_t q_first = 0, q_last = 0;
  if (digits >= 0) {
    const unsigned k = static_cast<unsigned>(digits);
    int64_t r_first = 0, r_last = 0;
    [[maybe_unused]] const bool decimals =
        ToDecimal(a.first, k, &r_first) && ToDecimal(a.last, k, &r_last);
    assert(decimals && r_first % g == 0 && r_last % g == 0);
    q_first = r_first / g;
    q_last = r_last / g;
    f.first = static_cast<uint64_t>(q_first) - PredictFirst(*prev, linear, first_ms);
    f.last = static_cast<uint64_t>(q_last) -
             (static_cast<uint64_t>(q_first) + PredictRise(*prev, linear, last_offset));
    SetExtreme(a.min, digits, g, std::min(q_first, q_last), &f.min_code, &f.min, &f.min_correction);
    SetExtreme(a.max, digits, g, std::max(q_first, q_last), &f.max_code, &f.max, &f.max_correction);

    int64_t r_sum, product, field;
    if (Decompose(a.sum, k, &r_sum, &f.sum_correction) && r_sum % g == 0 &&
        !__builtin_mul_overflow(a.count, q_first + q_last, &product) &&
        !__builtin_sub_overflow(2 * (r_sum / g), product, &field)) {
      f.sum = static_cast<uint64_t>(field);
      f.sum_code = f.sum_correction == prev->sum_correction ? kSumRepeatedCorrection : kSumDecimal;
    } else {
      f.sum_code = kSumRaw;
      f.sum = Bits(a.sum);
      f.sum_correction = 0;
    }

    const int64_t q_step = q_last - prev->q_last;
    int64_t r_increase;
    if (Bits(a.increase) == Bits(DecimalValue(q_step * g, k))) {
      f.increase_code = kIncreasePredicted;
    } else if (Bits(a.increase) == Bits(a.sum)) {
      f.increase_code = kIncreaseIsSum;
    } else if (Bits(a.increase) == 0) {
      f.increase_code = kIncreaseZero;
    } else if (Decompose(a.increase, k, &r_increase, &f.increase_correction) &&
               r_increase % g == 0) {
      f.increase_code = kIncreaseDecimal;
      f.increase = static_cast<uint64_t>(r_increase / g) - static_cast<uint64_t>(q_step);
    } else {
      f.increase_code = kIncreaseRaw;
      f.increase = Bits(a.increase);
      f.increase_correction = 0;
    }
  } else {
    f.first_raw = Bits(a.first) != Bits(prev->last);
    if (f.first_raw) f.first = Bits(a.first);
    f.last_raw = Bits(a.last) != Bits(a.first);
    if (f.last_raw) f.last = Bits(a.last);
    SetExtreme(a.min, digits, 1, 0, &f.min_code, &f.min, &f.min_correction);
    SetExtreme(a.max, digits, 1, 0, &f.max_code, &f.max, &f.max_correction);
    if (Bits(a.sum) != Bits(prev->sum)) {
      f.sum_code = kSumRaw;
      f.sum = Bits(a.sum);
    }
    if (Bits(a.increase) == Bits(a.last - prev->last)) {
      f.increase_code = kIncreasePredicted;
    } else if (Bits(a.increase) == Bits(a.sum)) {
      f.increase_code = kIncreaseIsSum;
    } else if (Bits(a.increase) == 0) {
      f.increase_code = kIncreaseZero;
    } else {
      f.increase_code = kIncreaseRaw;
      f.increase = Bits(a.increase);
    }
  }

  prev->step = first_record ? 0 : start - prev->start;
  prev->start = start;
  prev->count = a.count;
  prev->first_offset = first_offset;
  prev->last_offset = last_offset;
  prev->last_ms = static_cast<uint64_t>(a.last_ms);
  prev->q_first = q_first;
  prev->q_last = q_last;
  prev->sum_correction = f.sum_correction;
  prev->last = a.last;
  prev->sum = a.sum;
  return f;
}

void PutExtreme(BitWriter* bits, bool own_code, unsigned code, uint64_t field,
                uint64_t correction) {
  if (own_code) bits->Put(code, 2);
  if (code == kExtremeDecimal) {
    PutValueField(bits, field, correction);
  } else if (code == kExtremeRaw) {
    bits->PutWide(field, 64);
  }
}

void PutRecord(const Fields& f, bool decimal, BitWriter* bits) {
  if (IsPredicted(f)) {
    bits->Put(0, 1);
    return;
  }
  bits->Put(1, 1);
  PutFlag(bits, f.times);
  if (f.times) {
    PutDifference(bits, f.start);
    PutDifference(bits, f.count);
    PutDifference(bits, f.first_offset);
    PutDifference(bits, f.last_offset);
  }
  if (decimal) {
    PutDifference(bits, f.first);
    PutDifference(bits, f.last);
  } else {
    PutFlag(bits, f.first_raw);
    if (f.first_raw) bits->PutWide(f.first, 64);
    PutFlag(bits, f.last_raw);
    if (f.last_raw) bits->PutWide(f.last, 64);
  }
  PutUnary(bits, f.extremes, 2);
  const bool own_codes = f.extremes == kOwnCodes;
  PutExtreme(bits, own_codes, f.min_code, f.min, f.min_correction);
  PutExtreme(bits, own_codes, f.max_code, f.max, f.max_correction);
  PutUnary(bits, f.sum_code, 2);
  if (f.sum_code == kSumRaw) {
    bits->PutWide(f.sum, 64);
  } else if (decimal) {
    PutDifference(bits, f.sum);
    if (f.sum_code == kSumDecimal) PutNumber(bits, f.sum_correction, kCorrectionWidths);
  }
  PutUnary(bits, f.increase_code, 4);
  if (f.increase_code == kIncreaseDecimal) {
    PutValueField(bits, f.increase, f.increase_correction);
  } else if (f.increase_code == kIncreaseRaw) {
    bits->PutWide(f.increase, 64);
  }
}

// `g`: the common divisor of the decimals (decimal modes).
std::string EncodeInMode(std::span<const Aggregate> run, unsigned mode, int64_t g) {
  std::string out(1, kVersion);
  AppendVarint(&out, run.size());
  if (run.empty()) return out;
  out.push_back(static_cast<char>(mode | (g > 1 ? kDivisorFlag : 0)));
  const int digits = mode == kRawMode     ? -1
                     : mode < kLinearMode ? static_cast<int>(mode - kStepMode)
                                          : static_cast<int>(mode - kLinearMode);
  assert(g == 1 || digits >= 0);
  if (g > 1) AppendVarint(&out, static_cast<uint64_t>(g));
  const bool linear = mode >= kLinearMode;
  // The writer stores whole 8-byte words.
  const size_t head = out.size();
  out.resize(head + (run.size() * kMaxRecordBits + 63) / 64 * 8 + 8);
  BitWriter bits(out.data() + head);
  Previous prev;
  for (size_t i = 0; i < run.size(); ++i) {
    assert(i == 0 || run[i].start_ms > run[i - 1].start_ms);
    PutRecord(MakeFields(run[i], digits, g, linear, i == 0, &prev), digits >= 0, &bits);
  }
  out.resize(bits.Finish() - out.data());
  return out;
}

// --- Reading.

[[gnu::always_inline]] inline bool ReadNumber(BitReader* in, const Widths& w, uint64_t* z) {
  in->Fill();
  if (in->avail() == 0) return false;
  const uint64_t top = in->Top();
  if (static_cast<int64_t>(top) >= 0) {
    in->Skip(1);
    *z = 0;
    return true;
  }
  const unsigned ones = static_cast<unsigned>(std::min(std::countl_one(top), 4));
  if (ones < 4) {
    const unsigned prefix = ones + 1;
    const unsigned width = w.bits[ones - 1];
    if (in->avail() < prefix + width) return false;
    *z = (top << prefix) >> (64 - width);
    in->Skip(prefix + width);
    return true;
  }
  if (in->avail() < 4) return false;
  in->Skip(4);
  return in->ReadWide(64, z);
}
[[gnu::always_inline]] inline bool ReadDifference(BitReader* in, uint64_t* d) {
  if (!ReadNumber(in, kResidualWidths, d)) return false;
  *d = static_cast<uint64_t>(UnZigZag(*d));
  return true;
}
bool ReadValueField(BitReader* in, uint64_t* field, uint64_t* correction) {
  return ReadDifference(in, field) && ReadNumber(in, kCorrectionWidths, correction);
}
// What PutUnary wrote.
[[gnu::always_inline]] inline bool ReadUnary(BitReader* in, unsigned max, unsigned* code) {
  in->Fill();
  const unsigned ones = static_cast<unsigned>(std::min<int>(std::countl_one(in->Top()), max));
  const unsigned width = ones < max ? ones + 1 : max;
  if (in->avail() < width) return false;
  in->Skip(width);
  *code = ones;
  return true;
}
[[gnu::always_inline]] inline bool ReadFlag(BitReader* in, bool* flag) {
  uint64_t bit;
  if (!in->Read(1, &bit)) return false;
  *flag = bit != 0;
  return true;
}

bool ReadExtreme(BitReader* in, bool own_code, unsigned* code, uint64_t* field,
                 uint64_t* correction) {
  if (own_code) {
    uint64_t v;
    if (!in->Read(2, &v)) return false;
    *code = static_cast<unsigned>(v);
  }
  if (*code == kExtremeDecimal) return ReadValueField(in, field, correction);
  if (*code == kExtremeRaw) return in->ReadWide(64, field);
  return true;
}

// Reads the fields of a record not predicted in full (after its '1'); false if the stream ends.
bool ReadFields(BitReader* in, bool decimal, Fields* f) {
  if (!ReadFlag(in, &f->times)) return false;
  if (f->times && !(ReadDifference(in, &f->start) && ReadDifference(in, &f->count) &&
                    ReadDifference(in, &f->first_offset) && ReadDifference(in, &f->last_offset))) {
    return false;
  }
  if (decimal) {
    if (!ReadDifference(in, &f->first) || !ReadDifference(in, &f->last)) return false;
  } else {
    if (!ReadFlag(in, &f->first_raw) || (f->first_raw && !in->ReadWide(64, &f->first))) {
      return false;
    }
    if (!ReadFlag(in, &f->last_raw) || (f->last_raw && !in->ReadWide(64, &f->last))) {
      return false;
    }
  }
  if (!ReadUnary(in, 2, &f->extremes)) return false;
  if (f->extremes == kFalling) {
    f->min_code = kIsLast;
    f->max_code = kIsFirst;
  }
  const bool own_codes = f->extremes == kOwnCodes;
  if (!ReadExtreme(in, own_codes, &f->min_code, &f->min, &f->min_correction) ||
      !ReadExtreme(in, own_codes, &f->max_code, &f->max, &f->max_correction) ||
      !ReadUnary(in, 2, &f->sum_code)) {
    return false;
  }
  if (f->sum_code == kSumRaw) {
    if (!in->ReadWide(64, &f->sum)) return false;
  } else if (decimal) {
    if (!ReadDifference(in, &f->sum)) return false;
    if (f->sum_code == kSumDecimal && !ReadNumber(in, kCorrectionWidths, &f->sum_correction)) {
      return false;
    }
  }
  if (!ReadUnary(in, 4, &f->increase_code)) return false;
  if (f->increase_code == kIncreaseDecimal) {
    return ReadValueField(in, &f->increase, &f->increase_correction);
  }
  if (f->increase_code == kIncreaseRaw) return in->ReadWide(64, &f->increase);
  return true;
}

// Sets `r` to q * g; false if that overflows or is out of the decimals' range (and so is q).
[[gnu::always_inline]] inline bool FullDecimal(uint64_t q, int64_t g, int64_t* r) {
  return !__builtin_mul_overflow(static_cast<int64_t>(q), g, r) &&
         DecimalInRange(static_cast<uint64_t>(*r));
}

// The double a decimal value field of quotient `q` stands for; false if q * g is out of range.
bool DecimalField(uint64_t q, int64_t g, uint64_t correction, unsigned k, double* v) {
  int64_t r;
  if (!FullDecimal(q, g, &r)) return false;
  *v =
      std::bit_cast<double>(Bits(DecimalValue(r, k)) + static_cast<uint64_t>(UnZigZag(correction)));
  return true;
}

// Sets min or max of `code` from its field; the reason on failure, else nullptr.
const char* SetValue(unsigned code, uint64_t field, uint64_t correction, int digits, int64_t g,
                     int64_t base, const Aggregate& a, double* v) {
  switch (code) {
    case kIsFirst:
      *v = a.first;
      return nullptr;
    case kIsLast:
      *v = a.last;
      return nullptr;
    case kExtremeDecimal:
      if (digits < 0) return "decimal field in raw mode";
      if (!DecimalField(static_cast<uint64_t>(base) + field, g, correction,
                        static_cast<unsigned>(digits), v)) {
        return "decimal out of range";
      }
      return nullptr;
    default:
      *v = std::bit_cast<double>(field);
      return nullptr;
  }
}

// Makes `a` of the fields `f` after `prev`, and `prev` a's; the reason on failure, else nullptr.
const char* ApplyFields(const Fields& f, int digits, int64_t g, bool linear, bool first_record,
                        Previous* prev, Aggregate* a) {
  const uint64_t start = prev->start + prev->step + f.start;
  if (!first_record && static_cast<int64_t>(start) <= static_cast<int64_t>(prev->start)) {
    return "start times do not ascend";
  }
  const uint64_t count = prev->count + f.count;
  const uint64_t first_offset = prev->first_offset + f.first_offset;
  const uint64_t last_offset = prev->last_offset + f.last_offset;
  const uint64_t first_ms = start + first_offset;
  a->start_ms = static_cast<int64_t>(start);
  a->count = count;
  a->first_ms = static_cast<int64_t>(first_ms);
  a->last_ms = static_cast<int64_t>(first_ms + last_offset);

  int64_t q_first = 0, q_last = 0;
  uint64_t sum_correction = 0;
  if (digits >= 0) {
    const unsigned k = static_cast<unsigned>(digits);
    int64_t r_first, r_last;
    const uint64_t first = PredictFirst(*prev, linear, first_ms) + f.first;
    if (!FullDecimal(first, g, &r_first)) return "bad first";
    q_first = static_cast<int64_t>(first);
    const uint64_t last = first + PredictRise(*prev, linear, last_offset) + f.last;
    if (!FullDecimal(last, g, &r_last)) return "bad last";
    q_last = static_cast<int64_t>(last);
    a->first = DecimalValue(r_first, k);
    a->last = DecimalValue(r_last, k);
    if (const char* error = SetValue(f.min_code, f.min, f.min_correction, digits, g,
                                     std::min(q_first, q_last), *a, &a->min)) {
      return error;
    }
    if (const char* error = SetValue(f.max_code, f.max, f.max_correction, digits, g,
                                     std::max(q_first, q_last), *a, &a->max)) {
      return error;
    }

    if (f.sum_code == kSumRaw) {
      a->sum = std::bit_cast<double>(f.sum);
    } else {
      sum_correction =
          f.sum_code == kSumRepeatedCorrection ? prev->sum_correction : f.sum_correction;
      int64_t product, twice;
      if (__builtin_mul_overflow(count, q_first + q_last, &product) ||
          __builtin_add_overflow(static_cast<int64_t>(f.sum), product, &twice) || twice % 2 != 0 ||
          !DecimalField(static_cast<uint64_t>(twice / 2), g, sum_correction, k, &a->sum)) {
        return "bad sum";
      }
    }

    // Both quotients are in range with g, so neither the difference nor its product overflows.
    const int64_t q_step = q_last - prev->q_last;
    switch (f.increase_code) {
      case kIncreasePredicted:
        a->increase = DecimalValue(q_step * g, k);
        break;
      case kIncreaseIsSum:
        a->increase = a->sum;
        break;
      case kIncreaseZero:
        a->increase = 0;
        break;
      case kIncreaseDecimal:
        if (!DecimalField(static_cast<uint64_t>(q_step) + f.increase, g, f.increase_correction, k,
                          &a->increase)) {
          return "decimal out of range";
        }
        break;
      default:
        a->increase = std::bit_cast<double>(f.increase);
    }
  } else {
    a->first = f.first_raw ? std::bit_cast<double>(f.first) : prev->last;
    a->last = f.last_raw ? std::bit_cast<double>(f.last) : a->first;
    if (const char* error =
            SetValue(f.min_code, f.min, f.min_correction, digits, 1, 0, *a, &a->min)) {
      return error;
    }
    if (const char* error =
            SetValue(f.max_code, f.max, f.max_correction, digits, 1, 0, *a, &a->max)) {
      return error;
    }
    if (f.sum_code == kSumDecimal) return "decimal field in raw mode";
    a->sum = f.sum_code == kSumRaw ? std::bit_cast<double>(f.sum) : prev->sum;
    switch (f.increase_code) {
      case kIncreasePredicted:
        a->increase = a->last - prev->last;
        break;
      case kIncreaseIsSum:
        a->increase = a->sum;
        break;
      case kIncreaseZero:
        a->increase = 0;
        break;
      case kIncreaseDecimal:
        return "decimal field in raw mode";
      default:
        a->increase = std::bit_cast<double>(f.increase);
    }
  }

  prev->step = first_record ? 0 : start - prev->start;
  prev->start = start;
  prev->count = count;
  prev->first_offset = first_offset;
  prev->last_offset = last_offset;
  prev->last_ms = static_cast<uint64_t>(a->last_ms);
  prev->q_first = q_first;
  prev->q_last = q_last;
  prev->sum_correction = sum_correction;
  prev->last = a->last;
  prev->sum = a->sum;
  return nullptr;
}

}  // namespace

std::string EncodeAggregates(std::span<const Aggregate> run) {
  const int digits = ChooseDigits(run);
  if (run.empty() || digits < 0) return EncodeInMode(run, kRawMode, 1);
  // Both predictions, keeping the smaller blob (ties: the step); with a common divisor, and
  // without it if that is smaller (where every residual is 0 already, g costs its bytes).
  const unsigned k = static_cast<unsigned>(digits);
  const int64_t g = CommonDivisor(run, k);
  std::string best;
  for (const int64_t divisor : {g, int64_t{1}}) {
    for (const unsigned mode : {kStepMode + k, kLinearMode + k}) {
      std::string blob = EncodeInMode(run, mode, divisor);
      if (best.empty() || blob.size() < best.size()) best = std::move(blob);
    }
    if (g == 1) break;
  }
  return best;
}

absl::Status DecodeAggregates(std::string_view blob, std::vector<Aggregate>* out) {
  auto fail = [](const std::string& reason) {
    return absl::DataLossError(absl::StrCat("rollup block: ", reason));
  };
  const unsigned char* p = Bytes(blob.data());
  const unsigned char* end = p + blob.size();
  if (p == end) return fail("empty blob");
  const unsigned version = *p++;
  if (version != static_cast<unsigned>(kVersion)) {
    return fail(absl::StrCat("bad version ", version));
  }
  uint64_t n;
  if (!GetVarint(&p, end, &n)) return fail("truncated header");
  unsigned mode = kRawMode;
  bool divisor = false;
  if (n > 0) {
    if (p == end) return fail("truncated header");
    mode = *p++;
    divisor = (mode & kDivisorFlag) != 0;
    mode &= ~kDivisorFlag;
  }
  if (mode > kMaxMode || (divisor && mode == kRawMode)) {
    return fail(absl::StrCat("unknown mode ", mode | (divisor ? kDivisorFlag : 0)));
  }
  const int digits = mode == kRawMode     ? -1
                     : mode < kLinearMode ? static_cast<int>(mode - kStepMode)
                                          : static_cast<int>(mode - kLinearMode);
  const bool linear = mode >= kLinearMode;
  uint64_t g = 1;
  if (divisor) {
    if (!GetVarint(&p, end, &g)) return fail("truncated header");
    if (g < 2 || g > static_cast<uint64_t>(kMaxDecimal)) {
      return fail(absl::StrCat("bad common divisor ", g));
    }
  }

  BitReader in(p, end);
  // Every record takes a bit at least: a hostile n reserves no more than the blob could hold.
  out->reserve(out->size() + static_cast<size_t>(std::min<uint64_t>(n, in.BitsLeft())));
  Previous prev;
  for (uint64_t i = 0; i < n; ++i) {
    Fields f;
    uint64_t full;
    const char* error = nullptr;
    if (!in.Read(1, &full) || (full != 0 && !ReadFields(&in, digits >= 0, &f))) {
      error = "record ends early";
    }
    Aggregate a;
    if (error == nullptr) {
      error = ApplyFields(f, digits, static_cast<int64_t>(g), linear, i == 0, &prev, &a);
    }
    if (error != nullptr) return fail(absl::StrCat(error, " (aggregate ", i, " of ", n, ")"));
    out->push_back(a);
  }
  if (in.BitsLeft() >= 8) return fail(absl::StrCat(in.BitsLeft() / 8, " trailing bytes"));
  if (in.PaddingBits() != 0) return fail("nonzero padding");
  return absl::OkStatus();
}

}  // namespace plumbline::collector
