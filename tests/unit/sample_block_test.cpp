#include "collector/store/sample_block.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace plumbline::collector {
namespace {

struct SeriesRun {
  int64_t id = 0;
  std::vector<RawSample> samples;
};

std::string Encode(const std::vector<SeriesRun>& runs) {
  BlockWriter writer;
  for (const SeriesRun& run : runs) writer.AddRun(run.id, run.samples);
  return writer.Finish();
}

// Decodes every run; the status is the reader's at the end.
absl::Status DecodeAll(std::string_view block, std::vector<SeriesRun>* runs) {
  BlockReader reader(block);
  while (reader.NextRun()) {
    SeriesRun run{reader.series_id(), {}};
    if (!reader.Decode(&run.samples)) break;
    EXPECT_EQ(run.samples.size(), reader.count());
    runs->push_back(std::move(run));
  }
  EXPECT_FALSE(reader.NextRun()) << "the end is sticky";
  return reader.status();
}

uint64_t Bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

// Compares values by their bits, so NaN payloads and -0.0 count.
void ExpectSameRuns(const std::vector<SeriesRun>& want, const std::vector<SeriesRun>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t r = 0; r < want.size(); ++r) {
    EXPECT_EQ(want[r].id, got[r].id) << "run " << r;
    ASSERT_EQ(want[r].samples.size(), got[r].samples.size()) << "run " << r;
    for (size_t i = 0; i < want[r].samples.size(); ++i) {
      EXPECT_EQ(want[r].samples[i].ts_ms, got[r].samples[i].ts_ms) << "run " << r << " i " << i;
      EXPECT_EQ(Bits(want[r].samples[i].value), Bits(got[r].samples[i].value))
          << "run " << r << " i " << i;
    }
  }
}

void ExpectRoundTrip(const std::vector<SeriesRun>& runs) {
  std::string block = Encode(runs);
  std::vector<SeriesRun> got;
  ASSERT_TRUE(DecodeAll(block, &got).ok());
  ExpectSameRuns(runs, got);
}

// Builds payloads bit by bit, most significant first, for hand-made corrupt input.
class BitString {
 public:
  void Put(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) {
      if (used_ % 8 == 0) bytes_.push_back('\0');
      if ((v >> i) & 1) bytes_.back() = static_cast<char>(bytes_.back() | (0x80 >> (used_ % 8)));
      ++used_;
    }
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  size_t used_ = 0;
};

void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// A run's payload head in XOR mode: first value 0.0.
std::string PayloadHead() { return std::string(1 + 8, '\0'); }

uint64_t ZigZagForTest(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

// A run's payload head in decimal mode: `digits` digits, first integer `r`.
std::string DecimalPayloadHead(int digits, int64_t r) {
  std::string head(1, static_cast<char>(1 + digits));
  AppendVarint(&head, ZigZagForTest(r));
  return head;
}

// A run whose first timestamp is 1000 after the previous run's (zigzag 2000).
std::string RunBytes(uint64_t id_field, uint64_t count, const std::string& payload) {
  std::string run;
  AppendVarint(&run, id_field);
  AppendVarint(&run, 2000);
  AppendVarint(&run, count);
  AppendVarint(&run, payload.size());
  return run + payload;
}

absl::Status DecodeStatus(const std::string& block) {
  std::vector<SeriesRun> runs;
  return DecodeAll(block, &runs);
}

std::string EncodeXorOnly(const std::vector<SeriesRun>& runs) {
  BlockWriter writer;
  writer.set_xor_only_for_testing(true);
  for (const SeriesRun& run : runs) writer.AddRun(run.id, run.samples);
  return writer.Finish();
}

bool ReadVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (unsigned shift = 0; !in->empty() && shift < 64; shift += 7) {
    const uint64_t byte = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *v |= (byte & 0x7f) << shift;
    if (byte < 0x80) return true;
  }
  return false;
}

// The value mode byte of each run of a well-formed block: 0 XOR, 1 + k decimal with k digits,
// 11 + k decimal with k digits and a divisor.
std::vector<int> RunModes(std::string_view block) {
  std::vector<int> modes;
  block.remove_prefix(1);
  while (!block.empty()) {
    uint64_t id, ts, count, bytes;
    if (!ReadVarint(&block, &id) || !ReadVarint(&block, &ts) || !ReadVarint(&block, &count) ||
        !ReadVarint(&block, &bytes) || bytes == 0 || bytes > block.size()) {
      ADD_FAILURE() << "malformed block";
      break;
    }
    modes.push_back(static_cast<unsigned char>(block.front()));
    block.remove_prefix(bytes);
  }
  return modes;
}

int RunMode(const std::vector<RawSample>& samples) { return RunModes(Encode({{1, samples}}))[0]; }

constexpr double kPow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

// The value the reader decodes for the integer `r` with `digits` digits.
double Decimal(int64_t r, int digits) { return static_cast<double>(r) / kPow10[digits]; }

std::vector<RawSample> Regular(int64_t start, int n, double value) {
  std::vector<RawSample> samples;
  for (int i = 0; i < n; ++i) samples.push_back({start + 10000 * i, value});
  return samples;
}

TEST(SampleBlock, RoundTripsASingleSample) { ExpectRoundTrip({{42, {{1700000000000, 3.5}}}}); }

TEST(SampleBlock, RoundTripsManyRuns) {
  std::vector<SeriesRun> runs;
  for (int64_t id = 1; id <= 500; id += 1 + id % 7) {
    runs.push_back({id, Regular(1700000000000 + id, 1 + static_cast<int>(id % 90), id * 0.5)});
  }
  ExpectRoundTrip(runs);
}

TEST(SampleBlock, RoundTripsBigGapsAndNegativeTimestamps) {
  ExpectRoundTrip({{1,
                    {{-5000000000000, 1},
                     {-4999999999999, 2},
                     {-10, 3},
                     {-1, 4},
                     {0, 5},
                     {1, 6},
                     {86400000 * 365LL * 100, 7},
                     {86400000 * 365LL * 100 + 1, 8}}}});
}

TEST(SampleBlock, RoundTripsInt64ExtremesForTimestamps) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  ExpectRoundTrip({{1, {{kMin, 1}}},
                   {2, {{kMax, 2}}},
                   {3, {{kMin, 1}, {kMax, 2}}},
                   {4, {{kMin, 1}, {kMin + 1, 2}, {kMax - 1, 3}, {kMax, 4}}},
                   {5, {{kMin, 1}, {0, 2}, {kMax, 3}}},
                   {6, {{-1, 1}, {kMax, 2}}}});
}

TEST(SampleBlock, RoundTripsSeriesIdExtremes) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  ExpectRoundTrip({{0, {{1, 1}}}, {1, {{1, 1}}}, {kMax, {{1, 1}}}});
  ExpectRoundTrip({{kMin, {{1, 1}}}, {-1, {{1, 1}}}, {kMax, {{1, 1}}}});
  ExpectRoundTrip({{kMax, {{1, 1}}}});
}

TEST(SampleBlock, RoundTripsDeltaOfDeltaAtEveryBucketBoundary) {
  // Each dod is tried on its own after a 10 s step, positive and negative.
  const int64_t boundaries[] = {64, 8192, 524288, int64_t{1} << 40};
  std::vector<SeriesRun> runs;
  int64_t id = 1;
  for (int64_t boundary : boundaries) {
    for (int64_t dod : {boundary - 2, boundary - 1, boundary, boundary + 1}) {
      for (int64_t sign : {1, -1}) {
        int64_t d = sign * dod;
        // Keep every delta positive: start from a step larger than |dod|.
        int64_t step = (int64_t{1} << 41) + 10000;
        runs.push_back({id++, {{0, 1}, {step, 2}, {2 * step + d, 3}, {3 * step + 2 * d, 4}}});
      }
    }
  }
  // The first delta counts from 0, so it exercises the buckets too.
  for (int64_t first_delta : {1, 63, 64, 8191, 8192, 524287, 524288}) {
    runs.push_back({id++, {{5, 1}, {5 + first_delta, 2}}});
  }
  ExpectRoundTrip(runs);
}

TEST(SampleBlock, RoundTripsSpecialDoublesBitExact) {
  std::vector<uint64_t> patterns = {
      0,                      // +0.0
      0x8000000000000000ull,  // -0.0
      0x7ff0000000000000ull,  // +inf
      0xfff0000000000000ull,  // -inf
      0x7ff8000000000000ull,  // quiet NaN
      0x7ff0000000000001ull,  // signalling NaN
      0xfff8deadbeef1234ull,  // negative NaN with a payload
      0x7fffffffffffffffull,  // all-ones NaN
      0x0000000000000001ull,  // smallest denormal
      0x000fffffffffffffull,  // largest denormal
      0x8000000000000001ull,  // negative denormal
      0x0010000000000000ull,  // smallest normal
      0x7fefffffffffffffull,  // largest double
      0xffffffffffffffffull,
      0x5555555555555555ull,
      0xaaaaaaaaaaaaaaaaull,
  };
  std::vector<RawSample> samples;
  int64_t ts = 1;
  // Every ordered pair, so each XOR shape (full width, one bit, no change) turns up.
  for (uint64_t a : patterns) {
    for (uint64_t b : patterns) {
      samples.push_back({ts++, std::bit_cast<double>(a)});
      samples.push_back({ts++, std::bit_cast<double>(b)});
    }
  }
  ExpectRoundTrip({{7, samples}});
}

TEST(SampleBlock, RoundTripsRandomData) {
  for (uint32_t seed : {1u, 2u, 3u, 42u, 1234u}) {
    std::mt19937_64 rng(seed);
    std::vector<SeriesRun> runs;
    int64_t id = static_cast<int64_t>(rng() % 100) - 50;
    for (int r = 0; r < 50; ++r) {
      id += 1 + static_cast<int64_t>(rng() % 1000);
      SeriesRun run{id, {}};
      int64_t ts = static_cast<int64_t>(rng()) >> 2;
      int n = 1 + static_cast<int>(rng() % 200);
      double value = 0;
      int shape = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) {
        int64_t step;
        switch (shape) {
          case 0:  // arbitrary bits and arbitrary gaps
            value = std::bit_cast<double>(rng());
            step = 1 + static_cast<int64_t>(rng() >> (1 + rng() % 63));
            break;
          case 1:  // jittery interval, small-step counter
            value += static_cast<double>(rng() % 5);
            step = 10000 + static_cast<int64_t>(rng() % 21) - 10;
            break;
          case 2:  // gauge with two decimals
            value = static_cast<double>(rng() % 10000) / 100;
            step = 1 + static_cast<int64_t>(rng() % 100000);
            break;
          default:  // constant
            value = 42;
            step = 15000;
        }
        if (i > 0) {
          if (ts > std::numeric_limits<int64_t>::max() - step) break;
          ts += step;
        }
        run.samples.push_back({ts, value});
      }
      runs.push_back(std::move(run));
    }
    SCOPED_TRACE(seed);
    ExpectRoundTrip(runs);
  }
}

TEST(SampleBlock, SkipsRunsItDoesNotDecode) {
  std::vector<SeriesRun> runs = {{3, Regular(1000, 10, 1)},
                                 {5, Regular(2000, 20, 2)},
                                 {9, Regular(3000, 30, 3)},
                                 {10, Regular(4000, 40, 4)}};
  std::string block = Encode(runs);
  BlockReader reader(block);
  std::vector<int64_t> ids;
  std::vector<uint32_t> counts;
  std::vector<RawSample> decoded;
  int index = 0;
  while (reader.NextRun()) {
    ids.push_back(reader.series_id());
    counts.push_back(reader.count());
    if (index++ % 2 == 1) {
      ASSERT_TRUE(reader.Decode(&decoded));
    }
  }
  EXPECT_TRUE(reader.status().ok()) << reader.status();
  EXPECT_EQ(ids, (std::vector<int64_t>{3, 5, 9, 10}));
  EXPECT_EQ(counts, (std::vector<uint32_t>{10, 20, 30, 40}));
  std::vector<RawSample> want = runs[1].samples;
  want.insert(want.end(), runs[3].samples.begin(), runs[3].samples.end());
  EXPECT_EQ(decoded, want);
}

TEST(SampleBlock, DecodeAppendsToWhatIsAlreadyThere) {
  std::string block = Encode({{1, Regular(0, 3, 9)}});
  BlockReader reader(block);
  std::vector<RawSample> out = {{-1, -1}};
  ASSERT_TRUE(reader.NextRun());
  ASSERT_TRUE(reader.Decode(&out));
  EXPECT_EQ(out, (std::vector<RawSample>{{-1, -1}, {0, 9}, {10000, 9}, {20000, 9}}));
}

TEST(SampleBlock, WriterCountsAndStartsOverAfterFinish) {
  BlockWriter writer;
  EXPECT_TRUE(writer.empty());
  writer.AddRun(4, Regular(50000, 3, 1));
  writer.AddRun(8, Regular(10000, 2, 1));
  EXPECT_EQ(writer.runs(), 2u);
  EXPECT_EQ(writer.samples(), 5u);
  EXPECT_EQ(writer.min_ts(), 10000);
  EXPECT_EQ(writer.max_ts(), 70000);
  std::string first = writer.Finish();
  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.samples(), 0u);
  // Ids start from 0 again, so a smaller id is fine in the next block.
  writer.AddRun(1, Regular(0, 1, 1));
  std::string second = writer.Finish();
  EXPECT_EQ(Encode({{1, Regular(0, 1, 1)}}), second);
  EXPECT_EQ(writer.Finish(), "\x01") << "an empty block is just the version";
}

TEST(SampleBlock, RoundTripsDecimalsWithEachDigitCountUsingTheFewestDigits) {
  for (int digits = 0; digits <= 9; ++digits) {
    for (int64_t first : {int64_t{123456789}, int64_t{-123456789}, int64_t{7}, int64_t{-1}}) {
      // Odd integers, so no fewer digits hold them; steps of 2, 4 and 6 down or up.
      std::vector<RawSample> samples;
      for (int64_t i = 0, r = first; i < 40; ++i, r += (i % 3 + 1) * (first < 0 ? -2 : 2)) {
        samples.push_back({1700000000000 + 10000 * i, Decimal(r, digits)});
      }
      SCOPED_TRACE(testing::Message() << digits << " digits from " << first);
      ExpectRoundTrip({{3, samples}});
      EXPECT_EQ(RunMode(samples), 1 + digits);
    }
  }
}

TEST(SampleBlock, RoundTripsDecimalsNearTwoToThe53) {
  constexpr int64_t kLimit = int64_t{1} << 53;
  std::vector<SeriesRun> runs;
  int64_t id = 1;
  for (int64_t r : {kLimit, kLimit - 1, kLimit - 2, -kLimit, -kLimit + 1}) {
    for (int digits : {0, 1, 3, 9}) {
      runs.push_back({id++, {{0, Decimal(r, digits)}}});
      runs.push_back({id++, {{0, Decimal(r, digits)}, {10000, Decimal(r - 1, digits)}}});
      runs.push_back({id++, {{0, Decimal(r / 2, digits)}, {10000, Decimal(r, digits)}}});
    }
  }
  // Integers beyond 2^53 are XORed.
  runs.push_back({id++, {{0, 0x1p53 + 2}, {10000, 0x1p53 + 4}}});
  runs.push_back({id++, {{0, -0x1p53 - 2}}});
  ExpectRoundTrip(runs);
  EXPECT_EQ(RunMode({{0, 0x1p53}}), 1);
  EXPECT_EQ(RunMode({{0, -0x1p53}}), 1);
  EXPECT_EQ(RunMode({{0, 0x1p53 + 2}}), 0);
  EXPECT_EQ(RunMode({{0, -0x1p53 - 2}}), 0);
}

TEST(SampleBlock, RunsWithAValueDecimalsCannotHoldAreXored) {
  const double odd_values[] = {0.1 + 0.2,
                               -0.0,
                               std::numeric_limits<double>::quiet_NaN(),
                               std::bit_cast<double>(uint64_t{0xfff8deadbeef1234}),
                               std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(),
                               1e300,
                               -1e300,
                               std::numeric_limits<double>::denorm_min(),
                               1e-10,  // 10 digits
                               0x1p60};
  std::vector<SeriesRun> runs;
  int64_t id = 1;
  for (double odd : odd_values) {
    for (int at : {0, 17, 29}) {
      std::vector<RawSample> samples;
      for (int i = 0; i < 30; ++i) samples.push_back({10000 * i, Decimal(2341 + i, 2)});
      samples[at].value = odd;
      SCOPED_TRACE(testing::Message() << odd << " at " << at);
      EXPECT_EQ(RunMode(samples), 0);
      runs.push_back({id++, std::move(samples)});
    }
  }
  // Decimal runs between them.
  for (size_t i = 0; i < runs.size(); i += 2) {
    for (RawSample& sample : runs[i].samples) sample.value = Decimal(sample.ts_ms / 10000, 1);
  }
  ExpectRoundTrip(runs);
  std::vector<int> modes = RunModes(Encode(runs));
  EXPECT_EQ(modes[0], 2);
  EXPECT_EQ(modes[1], 0);
}

TEST(SampleBlock, RoundTripsNegativeDecimalsAndZeroCrossings) {
  std::vector<RawSample> falling, crossing, negative_integers;
  for (int i = 0; i < 50; ++i) {
    falling.push_back({10000 * i, Decimal(-2341 - 3 * i, 2)});
    crossing.push_back({10000 * i, Decimal(-25 + i, 3)});  // through +0.0
    negative_integers.push_back({10000 * i, static_cast<double>(-1000000 + i * i)});
  }
  ExpectRoundTrip({{1, falling}, {2, crossing}, {3, negative_integers}});
  EXPECT_EQ(RunMode(falling), 1 + 2);
  EXPECT_EQ(RunMode(crossing), 1 + 3);
  EXPECT_EQ(RunMode(negative_integers), 1);
}

TEST(SampleBlock, RoundTripsIntegersSteppingBySmallAmounts) {
  std::mt19937_64 rng(5);
  std::vector<SeriesRun> runs;
  for (int64_t id = 1; id <= 30; ++id) {
    SeriesRun run{id, {}};
    double value = static_cast<double>(rng() % 1000000) - 500000;
    const double constant_step = static_cast<double>(id % 7) - 3;
    int64_t ts = 1700000000000;
    for (int i = 0; i < 90; ++i) {
      ts += 10000 + static_cast<int64_t>(rng() % 3) - 1;
      // Random steps up or both ways, or a constant step (some of them 0).
      value += id % 3 == 0   ? static_cast<double>(rng() % 7)
               : id % 3 == 1 ? static_cast<double>(rng() % 7) - 3
                             : constant_step;
      run.samples.push_back({ts, value});
    }
    // Random steps make dods twice as wide as the steps, so XOR may win those; a constant step
    // costs decimals one bit.
    if (id % 3 == 2) {
      EXPECT_EQ(RunMode(run.samples), 1) << id;
    }
    runs.push_back(std::move(run));
  }
  ExpectRoundTrip(runs);
  EXPECT_LT(Encode(runs).size(), EncodeXorOnly(runs).size());
}

TEST(SampleBlock, WriterKeepsTheSmallerValueEncoding) {
  // A 2-decimal gauge: decimals win.
  std::vector<RawSample> gauge;
  for (int i = 0; i < 60; ++i) gauge.push_back({10000 * i, Decimal(5700 + i % 5, 2)});
  EXPECT_EQ(RunMode(gauge), 1 + 2);
  EXPECT_LT(Encode({{1, gauge}}).size(), EncodeXorOnly({{1, gauge}}).size());
  // Integers jumping between powers of two: each dod needs the 68-bit bucket, each XOR 1-2 bits.
  std::vector<RawSample> powers;
  for (int i = 0; i < 60; ++i) powers.push_back({10000 * i, i % 2 == 0 ? 0x1p40 : 0x1p50});
  EXPECT_EQ(RunMode(powers), 0);
  EXPECT_EQ(Encode({{1, powers}}), EncodeXorOnly({{1, powers}}));
  // A tie goes to decimals: 2^50 takes 8 bytes either way (zigzag 2^51 as a varint).
  EXPECT_EQ(RunMode({{0, 0x1p50}}), 1);
  EXPECT_EQ(Encode({{1, {{0, 0x1p50}}}}).size(), EncodeXorOnly({{1, {{0, 0x1p50}}}}).size());
  // And never larger than XOR alone, run by run.
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<RawSample> samples;
    int64_t r = static_cast<int64_t>(rng() % 2000000) - 1000000;
    const int digits = static_cast<int>(rng() % 10);
    const int64_t step = static_cast<int64_t>(1) << (rng() % 40);
    for (int i = 0; i < 1 + static_cast<int>(rng() % 100); ++i) {
      r += static_cast<int64_t>(rng() % 5) * step - 2 * step;
      samples.push_back({10000 * i, Decimal(r, digits)});
    }
    EXPECT_LE(Encode({{1, samples}}).size(), EncodeXorOnly({{1, samples}}).size()) << seed;
  }
}

// Memory in pages of 4096 bytes, moving up to 20 pages a sample.
std::vector<RawSample> PageMultiples(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<RawSample> samples;
  int64_t pages = 250000;
  for (int i = 0; i < 60; ++i) {
    pages += static_cast<int64_t>(rng() % 41) - 20;
    samples.push_back({1700000000000 + 10000 * i, 4096.0 * static_cast<double>(pages)});
  }
  return samples;
}

// Disk in sectors of 512 bytes counted in kilobytes: multiples of 0.5 (r multiples of 5 at k = 1).
std::vector<RawSample> SectorKilobytes(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<RawSample> samples;
  int64_t sectors = 1000000;
  for (int i = 0; i < 60; ++i) {
    sectors += static_cast<int64_t>(rng() % 60);
    samples.push_back({1700000000000 + 10000 * i, static_cast<double>(sectors) * 0.5});
  }
  return samples;
}

TEST(SampleBlock, RunsWithACommonDivisorRoundTripSmallerInDivisorMode) {
  // The block sizes the writer produced before divisor mode (XOR won the pages, decimals the
  // sectors).
  const std::vector<RawSample> pages = PageMultiples(11);
  const std::vector<RawSample> sectors = SectorKilobytes(12);
  ExpectRoundTrip({{1, pages}, {2, sectors}});
  EXPECT_EQ(RunMode(pages), 11);
  EXPECT_EQ(RunMode(sectors), 11 + 1);
  EXPECT_LT(Encode({{1, pages}}).size(), 95u);
  EXPECT_LT(Encode({{1, sectors}}).size(), 122u * 3 / 4);
  // Divisor mode holds every digit count, negative values and divisors up to 2^52.
  std::vector<SeriesRun> runs;
  int64_t id = 1;
  for (int digits = 0; digits <= 9; ++digits) {
    for (int64_t divisor : {int64_t{2}, int64_t{3}, int64_t{4096}, int64_t{1} << 40}) {
      std::vector<RawSample> samples;
      for (int64_t i = 0, q = -7; i < 30; ++i, q += i % 4) {
        samples.push_back({1700000000000 + 10000 * i, Decimal(q * divisor, digits)});
      }
      runs.push_back({id++, samples});
    }
  }
  std::vector<RawSample> top;
  for (int64_t q : {1, 0, -1, 1, 1}) {
    top.push_back({10000 * static_cast<int64_t>(top.size()), static_cast<double>(q) * 0x1p52});
  }
  runs.push_back({id++, top});
  ExpectRoundTrip(runs);
  // Divided by 2 or 3 the dods stay in their bucket and the divisor costs a byte: decimal mode.
  // Divided by 4096 or more they drop from 24 to 9 bits.
  const std::vector<int> modes = RunModes(Encode(runs));
  ASSERT_EQ(modes.size(), runs.size());
  for (size_t i = 0; i < modes.size(); ++i) {
    const int digits = static_cast<int>(i / 4);
    if (i + 1 == modes.size()) {
      EXPECT_EQ(modes[i], 11) << i;
    } else if (i % 4 >= 2) {
      EXPECT_EQ(modes[i], 11 + digits) << i;
    } else {
      EXPECT_EQ(modes[i], 1 + digits) << i;
    }
  }
}

TEST(SampleBlock, DivisorModeOnlyWhenStrictlySmaller) {
  // A constant: the divisor (the value itself) costs as much as the value saves, so a tie, and
  // the run stays in decimal mode.
  EXPECT_EQ(RunMode(Regular(1700000000000, 60, 4096)), 1);
  EXPECT_EQ(RunMode({{0, 0x1p50}}), 1);
  // Zeros have no divisor.
  EXPECT_EQ(RunMode(Regular(1700000000000, 60, 0)), 1);
  // Multiples of a power of two moving by powers of two: XOR stays smaller.
  std::vector<RawSample> powers;
  for (int i = 0; i < 60; ++i) powers.push_back({10000 * i, i % 2 == 0 ? 0x1p40 : 0x1p50});
  EXPECT_EQ(RunMode(powers), 0);
}

// Blocks as the writer wrote them before divisor mode, runs in XOR and decimal modes (decimal
// run 5 with every integer a multiple of 3): they decode the same, and the runs a divisor does
// not shrink re-encode to the same bytes.
constexpr char kBlockBeforeDivisorMode[] =
    "010e80a0abfef962052d00555555555555d53fe02710d9a7777777777774b56dd555555555556c1e1555555555"
    "5556e50666666666667802000c1f0000000000c0a3ce41e02710f6163a91f2bb100ba132f4014771005ccad6c0"
    "03d00f040a03c413e03a988ca02b2008d00f04090105e0ea60852ec80801d00f0a110184c101e0271087afa21e"
    "b5a1e2dc8300";
constexpr char kRunsWithoutADivisorBeforeDivisorMode[] =
    "010e80a0abfef962052d00555555555555d53fe02710d9a7777777777774b56dd555555555556c1e1555555555"
    "5556e50666666666667805d00f040a03c413e03a988ca02b2008d00f04090105e0ea60852ec808";

std::string FromHex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

TEST(SampleBlock, BlocksFromBeforeDivisorModeDecodeAndReencodeTheSame) {
  std::vector<RawSample> xored, pages, two_digits, integers, multiples_of_3;
  for (int i = 0; i < 5; ++i) {
    xored.push_back({1700000000000 + 10000 * i + (i == 3 ? 7 : 0), 0.1 * i + 1.0 / 3});
  }
  const int64_t page_counts[] = {251000, 251003, 251003, 251010, 250990, 250991,
                                 251200, 251201, 251190, 251190, 251191, 251500};
  for (int i = 0; i < 12; ++i) {
    pages.push_back({1700000000000 + 10000 * i, 4096.0 * static_cast<double>(page_counts[i])});
  }
  const double gauge[] = {12.5, 12.75, 13.01, 12.99};
  for (int i = 0; i < 4; ++i) two_digits.push_back({1700000001000 + 15000 * i, gauge[i]});
  const double small[] = {-3, 7, 7, 8};
  for (int i = 0; i < 4; ++i) integers.push_back({1700000002000 + 60000 * i, small[i]});
  const int steps[] = {3, 5, 4, 4, 9, 2, 7, 7, 1, 3};
  double sum = 12345;
  for (int i = 0; i < 10; ++i) {
    sum += steps[i] * 3.0;
    multiples_of_3.push_back({1700000003000 + 10000 * i, sum});
  }
  const std::vector<SeriesRun> runs = {
      {7, xored}, {9, pages}, {12, two_digits}, {20, integers}, {21, multiples_of_3}};

  const std::string old_block = FromHex(kBlockBeforeDivisorMode);
  EXPECT_EQ(RunModes(old_block), (std::vector<int>{0, 0, 3, 1, 1}));
  std::vector<SeriesRun> got;
  ASSERT_TRUE(DecodeAll(old_block, &got).ok());
  ExpectSameRuns(runs, got);

  EXPECT_EQ(Encode({runs[0], runs[2], runs[3]}), FromHex(kRunsWithoutADivisorBeforeDivisorMode));
  // The pages now take divisor mode, smaller; the multiples of 3 divided would be no smaller.
  const std::string block = Encode(runs);
  EXPECT_EQ(RunModes(block), (std::vector<int>{0, 11, 3, 1, 1}));
  EXPECT_LT(block.size(), old_block.size());
  got.clear();
  ASSERT_TRUE(DecodeAll(block, &got).ok());
  ExpectSameRuns(runs, got);
}

double BytesPerSample(const std::vector<SeriesRun>& runs) {
  size_t samples = 0;
  for (const SeriesRun& run : runs) samples += run.samples.size();
  return static_cast<double>(Encode(runs).size()) / static_cast<double>(samples);
}

// The per-run overhead (header, the first timestamp and value) is about 20 bytes, so the
// 2-bits-a-sample floor of an unchanging series shows only in longer runs: 3 h at 10 s.
TEST(SampleBlock, ConstantGaugeCostsUnderAThirdOfAByteASample) {
  std::vector<SeriesRun> runs;
  for (int64_t id = 1; id <= 20; ++id) runs.push_back({id * 3, Regular(1700000000000, 1080, 4096)});
  EXPECT_LT(BytesPerSample(runs), 0.3);
}

TEST(SampleBlock, SmallStepCounterCostsUnderOneAndAHalfBytesASample) {
  std::mt19937_64 rng(7);
  std::vector<SeriesRun> runs;
  for (int64_t id = 1; id <= 20; ++id) {
    SeriesRun run{id, {}};
    double counter = static_cast<double>(rng() % 100000000);
    for (int i = 0; i < 60; ++i) {
      counter += static_cast<double>(rng() % 8);
      run.samples.push_back({1700000000000 + 10000 * i, counter});
    }
    runs.push_back(std::move(run));
  }
  EXPECT_LT(BytesPerSample(runs), 1.5);
}

TEST(SampleBlock, HostMetricMixCostsAboutOneByteASample) {
  // An hour at 10 s with a few ms of jitter now and then: counters stepping by small integers,
  // gauges with two decimals that move now and then, and constants.
  std::mt19937_64 rng(11);
  std::vector<SeriesRun> runs;
  for (int64_t id = 1; id <= 60; ++id) {
    SeriesRun run{id, {}};
    int64_t ts = 1700000000000;
    double value = static_cast<double>(rng() % 100000);
    for (int i = 0; i < 360; ++i) {
      ts += 10000 + (rng() % 10 == 0 ? static_cast<int64_t>(rng() % 5) - 2 : 0);
      switch (id % 3) {
        case 0:
          value += static_cast<double>(rng() % 4);
          break;
        case 1:
          if (rng() % 4 == 0) value = static_cast<double>(rng() % 10000) / 100;
          break;
        default:
          break;
      }
      run.samples.push_back({ts, value});
    }
    runs.push_back(std::move(run));
  }
  EXPECT_LT(BytesPerSample(runs), 1.2);
}

TEST(SampleBlock, ConstantStepCounterCostsUnderHalfAByteASample) {
  std::vector<SeriesRun> runs;
  for (int64_t id = 1; id <= 20; ++id) {
    SeriesRun run{id, {}};
    for (int i = 0; i < 60; ++i) {
      run.samples.push_back({1700000000000 + 10000 * i, static_cast<double>(id * 1000003 + 3 * i)});
    }
    runs.push_back(std::move(run));
  }
  EXPECT_LT(BytesPerSample(runs), 0.5);
}

TEST(SampleBlock, TwoDecimalGaugeMovingEverySampleCostsUnderTwoBytesASample) {
  std::mt19937_64 rng(13);
  std::vector<SeriesRun> runs;
  for (int64_t id = 1; id <= 20; ++id) {
    SeriesRun run{id, {}};
    int64_t cents = 1000 + static_cast<int64_t>(rng() % 9000);
    for (int i = 0; i < 60; ++i) {
      cents += static_cast<int64_t>(1 + rng() % 5) * (rng() % 2 == 0 ? 1 : -1);
      run.samples.push_back({1700000000000 + 10000 * i, Decimal(cents, 2)});
    }
    runs.push_back(std::move(run));
  }
  EXPECT_LT(BytesPerSample(runs), 2.0);
}

TEST(SampleBlock, EmptyInputIsDataLoss) {
  BlockReader reader("");
  EXPECT_FALSE(reader.NextRun());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(reader.status().message().find("empty block"), std::string_view::npos);
}

TEST(SampleBlock, VersionByteAloneHoldsNoRuns) {
  BlockReader reader("\x01");
  EXPECT_FALSE(reader.NextRun());
  EXPECT_TRUE(reader.status().ok());
}

TEST(SampleBlock, BadVersionIsDataLoss) {
  std::string block = Encode({{1, Regular(0, 3, 1)}});
  block[0] = 2;
  BlockReader reader(block);
  EXPECT_FALSE(reader.NextRun());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(reader.status().message().find("bad version"), std::string_view::npos);
}

TEST(SampleBlock, HugeCountWithTinyPayloadFailsBeforeDecoding) {
  std::string block = "\x01" + RunBytes(2, 4000000000u, PayloadHead() + "\x00\x00\x00");
  BlockReader reader(block);
  EXPECT_FALSE(reader.NextRun());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  // Larger than uint32 and than 64 bits.
  EXPECT_FALSE(DecodeStatus("\x01" + RunBytes(2, uint64_t{1} << 32, PayloadHead())).ok());
  EXPECT_FALSE(DecodeStatus("\x01\x02\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x01\x00").ok());
}

TEST(SampleBlock, CountThePayloadBitsCannotHoldFailsBeforeReserving) {
  // 4 * 9 bytes + 1 passes NextRun's rough check, but 9 of those bytes are the payload head.
  std::string block = "\x01" + RunBytes(2, 37, PayloadHead());
  BlockReader reader(block);
  ASSERT_TRUE(reader.NextRun());
  std::vector<RawSample> out;
  EXPECT_FALSE(reader.Decode(&out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.capacity(), 0u) << "nothing reserved for a count the payload cannot hold";
  // The same in decimal mode, with a 2-byte head: 4 * 2 + 1 passes NextRun.
  const std::string decimal_block = "\x01" + RunBytes(2, 9, DecimalPayloadHead(2, 0));
  BlockReader decimal(decimal_block);
  ASSERT_TRUE(decimal.NextRun());
  EXPECT_FALSE(decimal.Decode(&out));
  EXPECT_EQ(out.capacity(), 0u);
}

TEST(SampleBlock, UnknownValueModeIsDataLoss) {
  std::vector<SeriesRun> runs;
  ASSERT_TRUE(DecodeAll("\x01" + RunBytes(2, 1, DecimalPayloadHead(9, 5)), &runs).ok());
  EXPECT_EQ(Bits(runs[0].samples[0].value), Bits(5e-9));
  for (int mode : {21, 22, 255}) {
    std::string payload = DecimalPayloadHead(9, 5);
    payload[0] = static_cast<char>(mode);
    absl::Status status = DecodeStatus("\x01" + RunBytes(2, 1, payload));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(status.message().find("unknown value mode"), std::string_view::npos) << status;
  }
}

TEST(SampleBlock, DecimalsBeyondTwoToThe53AreDataLoss) {
  constexpr int64_t kLimit = int64_t{1} << 53;
  for (int64_t r : {kLimit, -kLimit}) {
    EXPECT_TRUE(DecodeStatus("\x01" + RunBytes(2, 1, DecimalPayloadHead(0, r))).ok());
  }
  for (int64_t r : {kLimit + 1, -kLimit - 1, std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()}) {
    absl::Status status = DecodeStatus("\x01" + RunBytes(2, 1, DecimalPayloadHead(0, r)));
    EXPECT_NE(status.message().find("decimal value out of range"), std::string_view::npos)
        << r << ": " << status;
  }
  // A step past the limit, and a 64-bit dod that wraps around it.
  for (int64_t dod : {int64_t{1}, std::numeric_limits<int64_t>::min()}) {
    BitString bits;
    bits.Put(0b10, 2);  // 1 ms later
    bits.Put(1, 7);
    bits.Put(0b1111, 4);
    bits.Put(static_cast<uint64_t>(dod), 64);
    std::vector<SeriesRun> runs;
    absl::Status status =
        DecodeAll("\x01" + RunBytes(2, 2, DecimalPayloadHead(0, kLimit) + bits.bytes()), &runs);
    EXPECT_NE(status.message().find("decimal value out of range"), std::string_view::npos)
        << dod << ": " << status;
    EXPECT_TRUE(runs.empty());
  }
}

// A run's payload head in divisor mode: `digits` digits, the divisor as `divisor_varint` (bytes),
// first quotient `q`.
std::string DivisorPayloadHead(int digits, const std::string& divisor_varint, int64_t q) {
  std::string head(1, static_cast<char>(11 + digits));
  head += divisor_varint;
  AppendVarint(&head, ZigZagForTest(q));
  return head;
}

std::string Varint(uint64_t v) {
  std::string bytes;
  AppendVarint(&bytes, v);
  return bytes;
}

TEST(SampleBlock, BadDivisorsAreDataLoss) {
  constexpr uint64_t kLimit = uint64_t{1} << 53;
  std::vector<SeriesRun> runs;
  ASSERT_TRUE(
      DecodeAll("\x01" + RunBytes(2, 1, DivisorPayloadHead(2, Varint(4096), -3)), &runs).ok());
  EXPECT_EQ(Bits(runs[0].samples[0].value), Bits(-122.88));
  // 0 and 1 the writer never writes; past 2^53 no nonzero multiple is in range; 10 bytes of
  // varint overflow 64 bits.
  for (const std::string& divisor :
       {Varint(0), Varint(1), Varint(kLimit + 1), Varint(UINT64_MAX), std::string(10, '\xff'),
        std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10)}) {
    absl::Status status = DecodeStatus("\x01" + RunBytes(2, 1, DivisorPayloadHead(0, divisor, 1)));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_TRUE(status.message().find("bad decimal divisor") != std::string_view::npos ||
                status.message().find("ends early") != std::string_view::npos)
        << status;
  }
  // A divisor cut short.
  EXPECT_EQ(DecodeStatus("\x01" + RunBytes(2, 1, "\x0b\x80")).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeStatus("\x01" + RunBytes(2, 1, "\x0b\x80\x20")).code(),
            absl::StatusCode::kDataLoss);
  // q * g up to 2^53 in magnitude decodes; one step more, or a q whose product overflows int64,
  // is out of range.
  for (const auto& [divisor, q] : std::vector<std::pair<uint64_t, int64_t>>{
           {kLimit, 1}, {kLimit, -1}, {3, int64_t{kLimit / 3}}, {4096, -int64_t{kLimit / 4096}}}) {
    ASSERT_TRUE(
        DecodeStatus("\x01" + RunBytes(2, 1, DivisorPayloadHead(0, Varint(divisor), q))).ok())
        << divisor << " " << q;
  }
  for (const auto& [divisor, q] :
       std::vector<std::pair<uint64_t, int64_t>>{{kLimit, 2},
                                                 {kLimit, -2},
                                                 {3, int64_t{kLimit / 3} + 1},
                                                 {4096, -int64_t{kLimit / 4096} - 1},
                                                 {4096, std::numeric_limits<int64_t>::max()},
                                                 {4096, std::numeric_limits<int64_t>::min()},
                                                 {2, int64_t{1} << 62},
                                                 {kLimit, std::numeric_limits<int64_t>::min()}}) {
    absl::Status status =
        DecodeStatus("\x01" + RunBytes(2, 1, DivisorPayloadHead(0, Varint(divisor), q)));
    EXPECT_NE(status.message().find("decimal value out of range"), std::string_view::npos)
        << divisor << " " << q << ": " << status;
  }
  // A step past the limit, and 64-bit dods that wrap around it or would overflow q * g.
  for (int64_t dod : {int64_t{1}, std::numeric_limits<int64_t>::min(),
                      std::numeric_limits<int64_t>::max(), int64_t{1} << 52}) {
    BitString bits;
    bits.Put(0b10, 2);  // 1 ms later
    bits.Put(1, 7);
    bits.Put(0b1111, 4);
    bits.Put(static_cast<uint64_t>(dod), 64);
    runs.clear();
    absl::Status status = DecodeAll(
        "\x01" +
            RunBytes(2, 2, DivisorPayloadHead(0, Varint(3), int64_t{kLimit / 3}) + bits.bytes()),
        &runs);
    EXPECT_NE(status.message().find("decimal value out of range"), std::string_view::npos)
        << dod << ": " << status;
    EXPECT_TRUE(runs.empty());
  }
}

TEST(SampleBlock, ZeroCountIsDataLoss) {
  EXPECT_FALSE(DecodeStatus("\x01" + RunBytes(2, 0, "")).ok());
}

TEST(SampleBlock, SeriesIdsThatDoNotAscendAreDataLoss) {
  std::string one = RunBytes(2, 1, PayloadHead());  // id 1
  absl::Status same = DecodeStatus("\x01" + one + RunBytes(0, 1, PayloadHead()));
  EXPECT_EQ(same.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(same.message().find("series ids do not ascend"), std::string_view::npos) << same;
  // A step that carries the id past INT64_MAX.
  std::string max_id =
      RunBytes(ZigZagForTest(std::numeric_limits<int64_t>::max() - 1), 1, PayloadHead());
  EXPECT_TRUE(DecodeStatus("\x01" + max_id + RunBytes(1, 1, PayloadHead())).ok());
  EXPECT_FALSE(DecodeStatus("\x01" + max_id + RunBytes(2, 1, PayloadHead())).ok());
  EXPECT_FALSE(DecodeStatus("\x01" + max_id + RunBytes(~uint64_t{0}, 1, PayloadHead())).ok());
}

TEST(SampleBlock, TimestampsThatDoNotAscendAreDataLoss) {
  for (int64_t dod : {0, -1, -50}) {
    BitString bits;
    bits.Put(0b10, 2);  // first delta 0 (dod 0 is '0'; force the 7-bit bucket) or negative
    bits.Put(static_cast<uint64_t>(dod) & 0x7f, 7);
    bits.Put(0, 1);  // same value
    absl::Status status = DecodeStatus("\x01" + RunBytes(2, 2, PayloadHead() + bits.bytes()));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(status.message().find("timestamps do not ascend"), std::string_view::npos) << status;
  }
  // A 64-bit delta that wraps past INT64_MAX.
  BitString bits;
  bits.Put(0b1111, 4);
  bits.Put(uint64_t{1} << 63, 64);
  bits.Put(0, 1);
  EXPECT_FALSE(DecodeStatus("\x01" + RunBytes(2, 2, PayloadHead() + bits.bytes())).ok());
}

TEST(SampleBlock, ValueWindowsThatDoNotFitAreDataLoss) {
  // Reuse of a window before there is one.
  BitString reuse;
  reuse.Put(0b10, 2);  // 1 ms later
  reuse.Put(1, 7);
  reuse.Put(0b10, 2);
  reuse.Put(0, 8);
  absl::Status status = DecodeStatus("\x01" + RunBytes(2, 2, PayloadHead() + reuse.bytes()));
  EXPECT_NE(status.message().find("bad value window"), std::string_view::npos) << status;
  // 31 leading zeros and 40 meaningful bits.
  BitString wide;
  wide.Put(0b10, 2);  // 1 ms later
  wide.Put(1, 7);
  wide.Put(0b11, 2);
  wide.Put(31, 5);
  wide.Put(40, 6);
  wide.Put(0, 40);
  status = DecodeStatus("\x01" + RunBytes(2, 2, PayloadHead() + wide.bytes()));
  EXPECT_NE(status.message().find("bad value window"), std::string_view::npos) << status;
  // 31 leading zeros and 33 meaningful bits fit exactly.
  BitString exact;
  exact.Put(0b10, 2);  // 1 ms later
  exact.Put(1, 7);
  exact.Put(0b11, 2);
  exact.Put(31, 5);
  exact.Put(33, 6);
  exact.Put(1, 33);
  std::vector<SeriesRun> runs;
  ASSERT_TRUE(DecodeAll("\x01" + RunBytes(2, 2, PayloadHead() + exact.bytes()), &runs).ok());
  EXPECT_EQ(Bits(runs[0].samples[1].value), 1u);
}

TEST(SampleBlock, TrailingBytesInARunPayloadAreDataLoss) {
  std::string good = "\x01" + RunBytes(2, 1, PayloadHead());
  EXPECT_TRUE(DecodeStatus(good).ok());
  EXPECT_FALSE(DecodeStatus("\x01" + RunBytes(2, 1, PayloadHead() + '\0')).ok());
  BitString padded;
  padded.Put(0, 2);
  padded.Put(1, 6);  // padding must be zero
  EXPECT_FALSE(DecodeStatus("\x01" + RunBytes(2, 2, PayloadHead() + padded.bytes())).ok());
  EXPECT_TRUE(DecodeStatus("\x01" + RunBytes(2, 1, DecimalPayloadHead(1, 7))).ok());
  EXPECT_FALSE(DecodeStatus("\x01" + RunBytes(2, 1, DecimalPayloadHead(1, 7) + '\0')).ok());
  EXPECT_FALSE(
      DecodeStatus("\x01" + RunBytes(2, 2, DecimalPayloadHead(1, 7) + padded.bytes())).ok());
}

TEST(SampleBlock, StaysFailedAfterAnError) {
  BlockReader reader("\x01\x02\x00\x01\x09");  // payload shorter than its header says
  EXPECT_FALSE(reader.NextRun());
  EXPECT_FALSE(reader.status().ok());
  EXPECT_FALSE(reader.NextRun());
  std::vector<RawSample> out;
  EXPECT_FALSE(reader.Decode(&out));
  EXPECT_TRUE(out.empty());
}

std::vector<SeriesRun> MixedRuns(uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<SeriesRun> runs;
  for (int64_t id = 1; id <= 12; ++id) {
    SeriesRun run{id * 5, {}};
    int64_t ts = 1700000000000 + static_cast<int64_t>(rng() % 1000);
    double value = static_cast<double>(rng() % 1000);
    for (int i = 0, n = 1 + static_cast<int>(rng() % 40); i < n; ++i) {
      ts += 10000 + static_cast<int64_t>(rng() % 7) - 3;
      switch (id % 5) {
        case 0:  // XORed
          value = std::bit_cast<double>(rng());
          break;
        case 1:  // decimal, 0 digits
          value += static_cast<double>(rng() % 3);
          break;
        case 2:  // decimal, 2 digits
          value = Decimal(static_cast<int64_t>(rng() % 10000), 2);
          break;
        case 3:  // XORed: 0.1 + 0.2 is no short decimal
          value = i == n / 2 ? 0.1 + 0.2 : 0.5;
          break;
        default:  // constant
          break;
      }
      run.samples.push_back({ts, value});
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

// Whether `block` has both XOR and decimal runs, so corrupting it exercises both decoders.
bool HasBothModes(const std::string& block) {
  std::vector<int> modes = RunModes(block);
  return std::count(modes.begin(), modes.end(), 0) >= 2 &&
         std::count_if(modes.begin(), modes.end(), [](int mode) { return mode > 0; }) >= 4;
}

TEST(SampleBlock, EveryTruncationFailsOrEndsAtARunBoundary) {
  std::vector<SeriesRun> runs = MixedRuns(5);
  const std::string block = Encode(runs);
  ASSERT_TRUE(HasBothModes(block));
  // SeriesRun boundaries, from encoding each prefix of the runs.
  std::vector<size_t> boundary_sizes = {1};
  for (size_t r = 1; r <= runs.size(); ++r) {
    boundary_sizes.push_back(Encode({runs.begin(), runs.begin() + r}).size());
  }
  for (size_t len = 0; len < block.size(); ++len) {
    std::vector<SeriesRun> got;
    absl::Status status = DecodeAll(std::string_view(block).substr(0, len), &got);
    ASSERT_LE(got.size(), runs.size());
    // What was decoded is exactly a prefix of what was written.
    ExpectSameRuns({runs.begin(), runs.begin() + got.size()}, got);
    bool at_boundary =
        std::find(boundary_sizes.begin(), boundary_sizes.end(), len) != boundary_sizes.end();
    if (at_boundary) {
      EXPECT_TRUE(status.ok()) << len << ": " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << len;
    }
  }
}

TEST(SampleBlock, RandomBitFlipsNeverCrash) {
  std::vector<SeriesRun> runs = MixedRuns(9);
  const std::string block = Encode(runs);
  ASSERT_TRUE(HasBothModes(block));
  std::mt19937_64 rng(3);
  int failures = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string corrupt = block;
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
      corrupt[rng() % corrupt.size()] ^= static_cast<char>(1 << (rng() % 8));
    }
    BlockReader reader(corrupt);
    std::vector<RawSample> out;
    size_t runs_seen = 0;
    while (reader.NextRun()) {
      size_t before = out.size();
      // Decode alternately, so skipping gets the corrupt bytes too.
      if (++runs_seen % 2 == 0) continue;
      if (!reader.Decode(&out)) {
        EXPECT_EQ(out.size(), before) << "a failed run leaves nothing behind";
        break;
      }
      EXPECT_EQ(out.size() - before, reader.count());
      for (size_t i = before + 1; i < out.size(); ++i) ASSERT_LT(out[i - 1].ts_ms, out[i].ts_ms);
    }
    if (!reader.status().ok()) ++failures;
    // A flipped bit may move bits between runs, but the count check bounds the total by the
    // size of the input.
    EXPECT_LE(out.size(), 4 * corrupt.size() + runs_seen);
  }
  // Flipped value bits decode to other values (blocks carry no checksum); flips in headers and
  // control bits are caught.
  EXPECT_GT(failures, 100);
}

}  // namespace
}  // namespace plumbline::collector
