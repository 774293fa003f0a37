#include "collector/store/sample_block.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "collector/store/bits.h"
#include "collector/store/varint.h"

// A run's id_delta: the first run's id as a zigzag varint (ids may be 0 or negative), later
// runs the step from the previous id, >= 1.
// A run's ts_delta: its first timestamp less the previous run's (the first run's less 0), mod 2^64,
// as a zigzag varint. The runs of a block start within minutes of each other, so this takes 1-3
// bytes where a whole timestamp takes 6: for a 60-sample run, 0.05-0.08 bytes a sample.
// Payload of a run, as the writer lays it out:
//   mode (1 byte): 0 = values XORed, 1 + k = values as decimals with k digits (k in [0, 9]),
//   11 + k = decimals with k digits and a common divisor g;
//   divisor mode only: g >= 2 (varint), every integer r of the run a multiple of g;
//   first value: XOR mode, 8 bytes (the double's bits, little-endian); decimal mode, the integer r
//   with value == double(r) / 10^k bit for bit, |r| <= 2^53 (zigzag varint); divisor mode, r / g
//   the same way (zigzag varint);
//   then a bit stream, most significant bit first, zero-padded to a whole byte. Per sample:
//   timestamp delta-of-delta (the first delta counts from 0):
//     '0'                 dod == 0
//     '10'   + 7 bits     dod in [-64, 63]          (a few ms of scrape jitter)
//     '110'  + 14 bits    dod in [-8192, 8191]
//     '1110' + 20 bits    dod in [-524288, 524287]  (the first 10 s or 5 min step lands here)
//     '1111' + 64 bits    anything else: deltas wrap mod 2^64, so any int64 pair round-trips
//   value, XOR mode: XORed with the previous value's bits:
//     '0'                          same value
//     '10' + meaningful bits       the XOR fits the previous window (leading/trailing zeros)
//     '11' + 5 bits leading zeros + 6 bits meaningful length (0 means 64) + meaningful bits
//   value, decimal mode: the integer's delta-of-delta in the timestamp's buckets (the first delta
//   counts from 0), so a counter stepping by a constant costs one bit; divisor mode, that of r / g.
//   Memory in pages of 4096 bytes or disk in sectors of 512 are multiples of a unit: divided by
//   it, their dods are log2(g) bits narrower and often fit a smaller bucket.
// The bucket sizes differ from Prometheus' (14/17/20/64): our timestamps are milliseconds at a
// fixed interval, so the common nonzero dod is a few ms of jitter, which fits 7 bits.
// The writer encodes each run both ways when decimals apply and keeps the smaller (ties:
// decimal). Decimals need the smallest k that holds for the whole run, found by trying k = 0..9.
// When the gcd g of the run's integers is > 1, it encodes them divided too and keeps that only if
// strictly smaller: a run that dividing does not shrink re-encodes to the bytes the writer
// produced before divisor mode.

namespace plumbline::collector {
namespace {

using internal::AppendVarint;
using internal::BitReader;
using internal::BitWriter;
using internal::Bytes;
using internal::DecimalValue;
using internal::GetVarint;
using internal::kMaxDecimal;
using internal::kMaxDecimalDigits;
using internal::kMaxVarintBytes;
using internal::Load64;
using internal::PutVarint;
using internal::Store64;
using internal::ToDecimal;
using internal::UnZigZag;
using internal::ZigZag;

// The widest a sample after the first can get: '1111' + 64, then '11' + 11 + 64 (XOR mode; a
// decimal's '1111' + 64 is narrower).
constexpr size_t kMaxSampleBits = 68 + 77;
// The widest a run's payload head gets: mode, then 8 bytes or one or two varints.
constexpr size_t kMaxHeadBytes = 1 + 2 * kMaxVarintBytes;

constexpr unsigned char kXorMode = 0;
constexpr unsigned char kDecimalMode = 1;   // + k
constexpr unsigned char kDivisorMode = 11;  // + k
static_assert(kDecimalMode + kMaxDecimalDigits < kDivisorMode);

// The per-sample helpers below (always_inline) run once or twice a sample: inlined, the compiler
// keeps the bit buffers in registers; left to itself it calls them and runs at half the speed.

// A delta-of-delta in the timestamp buckets; `udod` wraps mod 2^64.
[[gnu::always_inline]] inline void PutDod(BitWriter* bits, uint64_t udod) {
  const int64_t dod = static_cast<int64_t>(udod);
  if (dod == 0) {
    bits->Put(0, 1);
  } else if (dod >= -64 && dod <= 63) {
    bits->Put((uint64_t{0b10} << 7) | (udod & 0x7f), 2 + 7);
  } else if (dod >= -8192 && dod <= 8191) {
    bits->Put((uint64_t{0b110} << 14) | (udod & 0x3fff), 3 + 14);
  } else if (dod >= -524288 && dod <= 524287) {
    bits->Put((uint64_t{0b1110} << 20) | (udod & 0xfffff), 4 + 20);
  } else {
    bits->Put(0b1111, 4);
    bits->PutWide(udod, 64);
  }
}

// Reads what PutDod wrote; false if the stream ends first.
[[gnu::always_inline]] inline bool ReadDod(BitReader* in, uint64_t* dod) {
  // The prefix and bits (at most 24 unless it is the 64-bit case) are decoded from one peek at
  // 56 or more bits; fewer than that only at the end of the stream.
  in->Fill();
  const uint64_t top = in->Top();
  if (in->avail() == 0) return false;
  if (static_cast<int64_t>(top) >= 0) {
    in->Skip(1);
    *dod = 0;
    return true;
  }
  const unsigned ones = std::min(std::countl_one(top), 4);
  if (ones < 4) {
    const unsigned prefix = ones + 1;
    const unsigned width = ones == 1 ? 7 : ones == 2 ? 14 : 20;
    if (in->avail() < prefix + width) return false;
    // The arithmetic shift sign-extends the dod.
    *dod = static_cast<uint64_t>(static_cast<int64_t>(top << prefix) >> (64 - width));
    in->Skip(prefix + width);
    return true;
  }
  if (in->avail() < 4) return false;
  in->Skip(4);
  return in->ReadWide(64, dod);
}

// Timestamps and deltas are unsigned so that they wrap instead of overflowing; the reader undoes
// the same wrap.
struct TimestampEncoder {
  uint64_t prev_ts;
  uint64_t prev_delta = 0;
  [[gnu::always_inline]] inline void Put(BitWriter* bits, int64_t ts_ms) {
    const uint64_t ts = static_cast<uint64_t>(ts_ms);
    const uint64_t delta = ts - prev_ts;
    PutDod(bits, delta - prev_delta);
    prev_ts = ts;
    prev_delta = delta;
  }
};

// Writes a run's payload, values XORed, from `p`; returns the end.
char* EncodeXor(std::span<const RawSample> samples, char* p) {
  *p++ = static_cast<char>(kXorMode);
  uint64_t prev_value = std::bit_cast<uint64_t>(samples[0].value);
  Store64<std::endian::little>(p, prev_value);
  BitWriter bits(p + 8);
  TimestampEncoder timestamps{static_cast<uint64_t>(samples[0].ts_ms)};
  unsigned window_leading = 0, window_trailing = 0, window_bits = 0;  // no window yet
  for (size_t i = 1; i < samples.size(); ++i) {
    assert(samples[i].ts_ms > samples[i - 1].ts_ms);
    timestamps.Put(&bits, samples[i].ts_ms);
    const uint64_t value = std::bit_cast<uint64_t>(samples[i].value);
    const uint64_t x = value ^ prev_value;
    prev_value = value;
    if (x == 0) {
      bits.Put(0, 1);
      continue;
    }
    const unsigned leading = std::min(std::countl_zero(x), 31);
    const unsigned trailing = std::countr_zero(x);
    const unsigned meaningful = 64 - leading - trailing;
    // Reuse the window when it holds the XOR and is not much wider than a fresh one would be
    // (a fresh window costs 11 bits of header).
    if (window_bits != 0 && leading >= window_leading && trailing >= window_trailing &&
        window_bits <= meaningful + 11) {
      bits.Put(0b10, 2);
      bits.PutWide(x >> window_trailing, window_bits);
    } else {
      bits.Put((uint64_t{0b11} << 11) | (leading << 6) | (meaningful & 63), 2 + 5 + 6);
      bits.PutWide(x >> trailing, meaningful);
      window_leading = leading;
      window_trailing = trailing;
      window_bits = meaningful;
    }
  }
  return bits.Finish();
}

// Writes a run's payload, values as the decimals `r` with `digits` digits, from `p`; returns the
// end. A `divisor` > 1 writes divisor mode: `r` holds the decimals divided by it.
char* EncodeDecimal(std::span<const RawSample> samples, const int64_t* r, int digits,
                    uint64_t divisor, char* p) {
  if (divisor > 1) {
    *p++ = static_cast<char>(kDivisorMode + digits);
    p = PutVarint(p, divisor);
  } else {
    *p++ = static_cast<char>(kDecimalMode + digits);
  }
  p = PutVarint(p, ZigZag(r[0]));
  BitWriter bits(p);
  TimestampEncoder timestamps{static_cast<uint64_t>(samples[0].ts_ms)};
  // |r| <= 2^53, so neither deltas nor dods wrap; unsigned all the same, like the reader.
  uint64_t prev_value = static_cast<uint64_t>(r[0]);
  uint64_t prev_delta = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    timestamps.Put(&bits, samples[i].ts_ms);
    const uint64_t value = static_cast<uint64_t>(r[i]);
    const uint64_t delta = value - prev_value;
    PutDod(&bits, delta - prev_delta);
    prev_value = value;
    prev_delta = delta;
  }
  return bits.Finish();
}

// Reads the next timestamp into `ts`; the reason on failure, else nullptr.
[[gnu::always_inline]] inline const char* ReadTimestamp(BitReader* in, uint64_t* ts,
                                                        uint64_t* delta) {
  uint64_t dod;
  if (!ReadDod(in, &dod)) return "run payload ends early";
  *delta += dod;
  const uint64_t next_ts = *ts + *delta;
  if (static_cast<int64_t>(next_ts) <= static_cast<int64_t>(*ts)) {
    return "timestamps do not ascend";
  }
  *ts = next_ts;
  return nullptr;
}

// Decodes samples 1..count-1 of an XOR run after dst[0]; the reason on failure, else nullptr.
const char* DecodeXor(BitReader* in, uint32_t count, RawSample* dst) {
  uint64_t ts = static_cast<uint64_t>(dst[0].ts_ms);
  uint64_t value = std::bit_cast<uint64_t>(dst[0].value);
  uint64_t delta = 0;
  unsigned window_trailing = 0, window_bits = 0;  // no window yet
  for (uint32_t i = 1; i < count; ++i) {
    if (const char* error = ReadTimestamp(in, &ts, &delta)) return error;
    uint64_t bit, raw;
    if (!in->Read(1, &bit)) return "run payload ends early";
    if (bit != 0) {
      if (!in->Read(1, &bit)) return "run payload ends early";
      if (bit != 0) {
        if (!in->Read(11, &raw)) return "run payload ends early";
        const unsigned leading = static_cast<unsigned>(raw >> 6);
        const unsigned meaningful = (raw & 63) == 0 ? 64 : static_cast<unsigned>(raw & 63);
        if (leading + meaningful > 64) return "bad value window";
        window_bits = meaningful;
        window_trailing = 64 - leading - meaningful;
      } else if (window_bits == 0) {
        return "bad value window";
      }
      if (!in->ReadWide(window_bits, &raw)) return "run payload ends early";
      // window_trailing < 64: a window holds at least one bit.
      value ^= raw << window_trailing;
    }
    dst[i] = {static_cast<int64_t>(ts), std::bit_cast<double>(value)};
  }
  return nullptr;
}

// True if `q` (an int64 held unsigned) is in [-limit, limit]; `limit` = 2^53 / divisor, rounded
// down, so that |q| <= limit exactly when |q * divisor| <= 2^53.
[[gnu::always_inline]] inline bool QuotientInRange(uint64_t q, uint64_t limit) {
  return q + limit <= 2 * limit;
}

// Decodes samples 1..count-1 of a decimal run whose first integer is `q` * `divisor`, after
// dst[0]; the reason on failure, else nullptr. `divisor` is in [1, 2^53].
const char* DecodeDecimal(BitReader* in, uint32_t count, unsigned digits, uint64_t divisor,
                          uint64_t q, RawSample* dst) {
  const uint64_t limit = static_cast<uint64_t>(kMaxDecimal) / divisor;
  uint64_t ts = static_cast<uint64_t>(dst[0].ts_ms);
  uint64_t delta = 0, value_delta = 0;
  for (uint32_t i = 1; i < count; ++i) {
    if (const char* error = ReadTimestamp(in, &ts, &delta)) return error;
    uint64_t dod;
    if (!ReadDod(in, &dod)) return "run payload ends early";
    value_delta += dod;
    q += value_delta;
    // Only a corrupt run leaves the range the writer keeps to; within it q * divisor cannot
    // overflow.
    if (!QuotientInRange(q, limit)) return "decimal value out of range";
    dst[i] = {static_cast<int64_t>(ts),
              DecimalValue(static_cast<int64_t>(q) * static_cast<int64_t>(divisor), digits)};
  }
  return nullptr;
}

}  // namespace

int BlockWriter::ToDecimals(std::span<const RawSample> samples) {
  const size_t n = samples.size();
  if (decimals_.size() < n) decimals_.resize(n);
  // Each k skipped fails for some value, so k never passes the smallest k that holds for all.
  for (unsigned k = 0; k <= kMaxDecimalDigits; ++k) {
    size_t converted_at_k = 0;  // decimals_[i] for i >= this were converted at k
    for (size_t i = 0; i < n; ++i) {
      // A repeat (a constant, a gauge at rest) skips the division; the previous value was
      // converted at this k, since converted_at_k < i.
      if (i > 0 && std::bit_cast<uint64_t>(samples[i].value) ==
                       std::bit_cast<uint64_t>(samples[i - 1].value)) {
        decimals_[i] = decimals_[i - 1];
        continue;
      }
      while (!ToDecimal(samples[i].value, k, &decimals_[i])) {
        if (++k > kMaxDecimalDigits) return -1;
        converted_at_k = i;
      }
    }
    // A decimal at k is one at k + 1 too while |10 r| < 2^51; nearer 2^53 the scaling may round
    // off, so the values converted at a smaller k are checked again.
    size_t i = 0;
    while (i < converted_at_k && ToDecimal(samples[i].value, k, &decimals_[i])) ++i;
    if (i == converted_at_k) return static_cast<int>(k);
  }
  return -1;
}

void BlockWriter::AddRun(int64_t series_id, std::span<const RawSample> samples) {
  assert(!samples.empty());
  assert(samples.size() <= UINT32_MAX);
  assert(runs_ == 0 || series_id > last_id_);
  const size_t n = samples.size();
  const size_t max_bytes = kMaxHeadBytes + ((n - 1) * kMaxSampleBits + 7) / 8 + 8;
  for (std::string* buffer : {&xor_payload_, &decimal_payload_, &divisor_payload_}) {
    if (buffer->size() < max_bytes) buffer->resize(std::max(max_bytes, 2 * buffer->size()));
  }

  const std::string* payload = &xor_payload_;
  size_t payload_bytes = EncodeXor(samples, xor_payload_.data()) - xor_payload_.data();
  if (const int digits = xor_only_ ? -1 : ToDecimals(samples); digits >= 0) {
    const size_t decimal_bytes =
        EncodeDecimal(samples, decimals_.data(), digits, 1, decimal_payload_.data()) -
        decimal_payload_.data();
    if (decimal_bytes <= payload_bytes) {
      payload = &decimal_payload_;
      payload_bytes = decimal_bytes;
    }
    // The gcd of the first integer and the steps is that of all of them (0 when every r is 0):
    // steps are mostly small, so their gcds are quick, and a run at rest steps by 0. |r| <= 2^53,
    // so nothing overflows.
    uint64_t divisor = static_cast<uint64_t>(std::abs(decimals_[0]));
    for (size_t i = 1; i < n && divisor != 1; ++i) {
      const int64_t step = decimals_[i] - decimals_[i - 1];
      if (step != 0) divisor = std::gcd(divisor, static_cast<uint64_t>(std::abs(step)));
    }
    if (divisor > 1) {
      // Exact division: a shift for the power of two in the divisor, then a product with the
      // inverse of its odd part mod 2^64 (Newton's iteration doubles the correct low bits from 3).
      const int shift = std::countr_zero(divisor);
      const uint64_t odd = divisor >> shift;
      uint64_t inverse = odd;
      for (int i = 0; i < 5; ++i) inverse *= 2 - odd * inverse;
      for (size_t i = 0; i < n; ++i) {
        [[maybe_unused]] const int64_t r = decimals_[i];
        decimals_[i] = static_cast<int64_t>(static_cast<uint64_t>(r >> shift) * inverse);
        assert(decimals_[i] * static_cast<int64_t>(divisor) == r);
      }
      const size_t divisor_bytes =
          EncodeDecimal(samples, decimals_.data(), digits, divisor, divisor_payload_.data()) -
          divisor_payload_.data();
      // Strictly smaller only: ties keep the encoding the writer chose before divisor mode.
      if (divisor_bytes < payload_bytes) {
        payload = &divisor_payload_;
        payload_bytes = divisor_bytes;
      }
    }
  }
  assert(payload_bytes <= max_bytes);

  AppendVarint(&out_, runs_ == 0
                          ? ZigZag(series_id)
                          : static_cast<uint64_t>(series_id) - static_cast<uint64_t>(last_id_));
  const uint64_t first_ts = static_cast<uint64_t>(samples[0].ts_ms);
  AppendVarint(&out_, ZigZag(static_cast<int64_t>(first_ts - last_first_ts_)));
  AppendVarint(&out_, n);
  AppendVarint(&out_, payload_bytes);
  out_.append(payload->data(), payload_bytes);

  last_id_ = series_id;
  last_first_ts_ = first_ts;
  ++runs_;
  samples_ += n;
  min_ts_ = std::min(min_ts_, samples.front().ts_ms);
  max_ts_ = std::max(max_ts_, samples.back().ts_ms);
}

std::string BlockWriter::Finish() {
  std::string block = std::move(out_);
  out_.assign(1, '\x01');
  last_id_ = 0;
  last_first_ts_ = 0;
  runs_ = 0;
  samples_ = 0;
  min_ts_ = INT64_MAX;
  max_ts_ = INT64_MIN;
  return block;
}

BlockReader::BlockReader(std::string_view block) : data_(block) {
  if (data_.empty()) {
    status_ = absl::DataLossError("sample block: empty block");
  } else if (data_[0] != '\x01') {
    status_ = absl::DataLossError(
        absl::StrCat("sample block: bad version ", static_cast<unsigned char>(data_[0])));
  } else {
    pos_ = 1;
  }
}

bool BlockReader::NextRun() {
  payload_ = {};
  count_ = 0;
  if (!status_.ok() || pos_ >= data_.size()) return false;
  const bool first = pos_ == 1;
  const unsigned char* p = Bytes(data_.data()) + pos_;
  const unsigned char* end = Bytes(data_.data()) + data_.size();
  auto fail = [&](const char* reason) {
    status_ =
        absl::DataLossError(absl::StrCat("sample block: ", reason, " (run at byte ", pos_, ")"));
    return false;
  };

  uint64_t id_field, ts_field, count, payload_bytes;
  if (!GetVarint(&p, end, &id_field) || !GetVarint(&p, end, &ts_field) ||
      !GetVarint(&p, end, &count) || !GetVarint(&p, end, &payload_bytes)) {
    return fail("truncated run header");
  }
  int64_t id;
  if (first) {
    id = UnZigZag(id_field);
  } else {
    // The step must be >= 1 and must not carry the id past INT64_MAX.
    const uint64_t headroom = uint64_t{INT64_MAX} - static_cast<uint64_t>(series_id_);
    if (id_field == 0 || id_field > headroom) return fail("series ids do not ascend");
    id = static_cast<int64_t>(static_cast<uint64_t>(series_id_) + id_field);
  }
  if (count == 0 || count > UINT32_MAX) return fail("bad sample count");
  if (payload_bytes > static_cast<uint64_t>(end - p)) return fail("truncated run payload");
  // Every sample after the first takes at least 2 bits in either value mode (a timestamp dod,
  // then a value bit or dod): refuse a hostile count up front.
  if (count - 1 > payload_bytes * 4) return fail("sample count exceeds run payload");

  series_id_ = id;
  // Any timestamp is valid, so the wrap needs no check.
  first_ts_ = static_cast<int64_t>(static_cast<uint64_t>(first_ts_) +
                                   static_cast<uint64_t>(UnZigZag(ts_field)));
  count_ = static_cast<uint32_t>(count);
  payload_ = std::string_view(reinterpret_cast<const char*>(p), payload_bytes);
  pos_ = (p - Bytes(data_.data())) + payload_bytes;
  return true;
}

bool BlockReader::Decode(std::vector<RawSample>* out) {
  if (!status_.ok()) return false;
  if (count_ == 0) return true;
  const size_t base = out->size();
  auto fail = [&](const char* reason) {
    out->resize(base);
    status_ =
        absl::DataLossError(absl::StrCat("sample block: ", reason, " (series ", series_id_, ")"));
    payload_ = {};
    count_ = 0;
    return false;
  };

  const unsigned char* p = Bytes(payload_.data());
  const unsigned char* end = p + payload_.size();
  if (p == end) return fail("run payload ends early");
  const unsigned mode = *p++;
  if (mode > kDivisorMode + kMaxDecimalDigits) return fail("unknown value mode");
  uint64_t first_value;
  uint64_t divisor = 1;
  if (mode == kXorMode) {
    if (end - p < 8) return fail("run payload ends early");
    first_value = Load64<std::endian::little>(p);
    p += 8;
  } else {
    if (mode >= kDivisorMode) {
      if (!GetVarint(&p, end, &divisor)) return fail("run payload ends early");
      // The writer writes g >= 2 only; g > 2^53 leaves no nonzero multiple in range.
      if (divisor < 2 || divisor > static_cast<uint64_t>(kMaxDecimal)) {
        return fail("bad decimal divisor");
      }
    }
    if (!GetVarint(&p, end, &first_value)) return fail("run payload ends early");
    first_value = static_cast<uint64_t>(UnZigZag(first_value));
    if (!QuotientInRange(first_value, static_cast<uint64_t>(kMaxDecimal) / divisor)) {
      return fail("decimal value out of range");
    }
  }
  // Every sample after the first takes at least 2 bits in either mode (a timestamp dod and a
  // value bit or dod): refuse a count the bits cannot hold before reserving for it.
  if (count_ - 1 > static_cast<uint64_t>(end - p) * 4) return fail("run payload ends early");

  // Reserve geometrically: exact reserves, run after run into one vector, would be quadratic.
  if (out->capacity() - base < count_) out->reserve(std::max(base + count_, 2 * out->capacity()));
  out->resize(base + count_);
  RawSample* dst = out->data() + base;
  dst[0].ts_ms = first_ts_;
  BitReader in(p, end);
  const char* error;
  if (mode == kXorMode) {
    dst[0].value = std::bit_cast<double>(first_value);
    error = DecodeXor(&in, count_, dst);
  } else {
    const unsigned digits = mode - (mode >= kDivisorMode ? kDivisorMode : kDecimalMode);
    dst[0].value =
        DecimalValue(static_cast<int64_t>(first_value) * static_cast<int64_t>(divisor), digits);
    error = DecodeDecimal(&in, count_, digits, divisor, first_value, dst);
  }
  if (error != nullptr) return fail(error);
  if (in.BitsLeft() >= 8 || in.PaddingBits() != 0) return fail("run payload has trailing bits");
  return true;
}

}  // namespace plumbline::collector
