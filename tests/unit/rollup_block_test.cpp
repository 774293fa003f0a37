#include "collector/store/rollup_block.h"

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

namespace plumbline::collector {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kHour0 = 472222 * kHour;  // 2023-11-14 22:00 UTC
constexpr double kInf = std::numeric_limits<double>::infinity();

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

// Compares doubles by their bits, so NaN payloads and -0.0 count.
void ExpectSameAggregates(const std::vector<Aggregate>& want, const std::vector<Aggregate>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const Aggregate& w = want[i];
    const Aggregate& g = got[i];
    EXPECT_EQ(w.start_ms, g.start_ms) << "aggregate " << i;
    EXPECT_EQ(w.count, g.count) << "aggregate " << i;
    EXPECT_EQ(Bits(w.sum), Bits(g.sum)) << "aggregate " << i << ": " << w.sum << " " << g.sum;
    EXPECT_EQ(Bits(w.min), Bits(g.min)) << "aggregate " << i << ": " << w.min << " " << g.min;
    EXPECT_EQ(Bits(w.max), Bits(g.max)) << "aggregate " << i << ": " << w.max << " " << g.max;
    EXPECT_EQ(Bits(w.first), Bits(g.first)) << "aggregate " << i;
    EXPECT_EQ(w.first_ms, g.first_ms) << "aggregate " << i;
    EXPECT_EQ(Bits(w.last), Bits(g.last)) << "aggregate " << i;
    EXPECT_EQ(w.last_ms, g.last_ms) << "aggregate " << i;
    EXPECT_EQ(Bits(w.increase), Bits(g.increase))
        << "aggregate " << i << ": " << w.increase << " " << g.increase;
  }
}

// Encodes `run`, checks that it decodes to the same bits and that encoding is deterministic;
// returns the blob.
std::string ExpectRoundTrip(const std::vector<Aggregate>& run) {
  const std::string blob = EncodeAggregates(run);
  std::vector<Aggregate> got;
  const absl::Status status = DecodeAggregates(blob, &got);
  EXPECT_TRUE(status.ok()) << status;
  ExpectSameAggregates(run, got);
  EXPECT_EQ(EncodeAggregates(got), blob);
  return blob;
}

// A series as the agents send it: a value every `interval_ms`.
using Series = std::function<double(int64_t t_ms)>;

// The aggregates of `series` over [from_ms, to_ms) in buckets of `bucket_ms`, computed from its
// samples the way the store rolls raw samples up (sum in sample order, the reset-aware increase
// stepping from the sample before from_ms).
std::vector<Aggregate> AggregatesOf(const Series& series, int64_t from_ms, int64_t to_ms,
                                    int64_t bucket_ms, int64_t interval_ms = 10 * kSecond) {
  std::vector<Aggregate> out;
  double prev = series(from_ms - interval_ms);
  Aggregate a;
  for (int64_t t = from_ms; t < to_ms; t += interval_ms) {
    const double v = series(t);
    const int64_t bucket = t - (t - from_ms) % bucket_ms;
    if (a.count > 0 && bucket != a.start_ms) {
      out.push_back(a);
      a = Aggregate{};
    }
    if (a.count == 0) {
      a.start_ms = bucket;
      a.min = a.max = a.first = v;
      a.first_ms = t;
    }
    ++a.count;
    a.sum += v;
    a.min = std::min(a.min, v);
    a.max = std::max(a.max, v);
    a.last = v;
    a.last_ms = t;
    a.increase += v >= prev ? v - prev : v;
    prev = v;
  }
  if (a.count > 0) out.push_back(a);
  return out;
}

// Hour aggregates merged from minute ones, as the store rolls minutes up.
std::vector<Aggregate> HoursOf(const std::vector<Aggregate>& minutes) {
  std::vector<Aggregate> out;
  for (const Aggregate& m : minutes) {
    const int64_t hour = m.start_ms - (m.start_ms - kHour0) % kHour;
    if (out.empty() || out.back().start_ms != hour) {
      out.push_back(m);
      out.back().start_ms = hour;
    } else {
      out.back().Merge(m);
    }
  }
  return out;
}

// The host metrics of SqliteRollupTest.HostMetricsTakeAFewBytesASampleOnceMerged.
Series Counter(int i) {
  return [i](int64_t t) {
    return static_cast<double>(1000 * i + ((t - kHour0) / 10000) * (i % 7 + 1));
  };
}
Series Gauge(int i) {
  return [i](int64_t t) {
    return std::round(100 * (0.5 + 0.3 * std::sin(static_cast<double>(t - kHour0) / 60000.0 + i))) /
           100;
  };
}

// A gauge that never moves: a filesystem's size, a host's memory total (bytes), or a two-decimal
// setting.
Series ConstantGauge(int i) {
  const double v = i % 2 == 0 ? 1.6e10 + 4096.0 * i : static_cast<double>(i) / 100;
  return [v](int64_t) { return v; };
}

TEST(RollupBlock, RoundTripsAnEmptyRun) {
  const std::string blob = ExpectRoundTrip({});
  EXPECT_EQ(blob, std::string("\x01\x00", 2));
}

TEST(RollupBlock, RoundTripsASingleAggregate) {
  ExpectRoundTrip({{kHour0, 6, 21, 1, 6, 1, kHour0, 6, kHour0 + 50 * kSecond, 5}});
  ExpectRoundTrip({Aggregate{}});
}

TEST(RollupBlock, RoundTripsAnHourOfACounterWithAReset) {
  for (double step : {1.0, 7.0, 0.25, 0.01, 0.37}) {
    SCOPED_TRACE(step);
    const Series counter = [step](int64_t t) {
      const int64_t n = (t - kHour0) / 10000;
      // Restarts at minute 30 and counts from 0 again.
      return n < 180 ? 5e6 * step + static_cast<double>(n) * step
                     : static_cast<double>(n - 180) * step;
    };
    const std::vector<Aggregate> run = AggregatesOf(counter, kHour0, kHour0 + kHour, kMinute);
    ASSERT_EQ(run.size(), 60u);
    ExpectRoundTrip(run);
  }
}

TEST(RollupBlock, RoundTripsATwoDecimalGauge) {
  const std::vector<Aggregate> run = AggregatesOf(Gauge(3), kHour0, kHour0 + kHour, kMinute);
  const std::string blob = ExpectRoundTrip(run);
  EXPECT_EQ(((blob[2] & 0x7f) - 1) % 10, 2) << "decimals with 2 digits";
}

// The common divisor a blob's header holds (1 if none); -1 if it has no such header.
int64_t DivisorOf(const std::string& blob) {
  if (blob.size() < 3 || (blob[1] & 0x80) != 0) return -1;
  if ((blob[2] & 0x80) == 0) return 1;
  int64_t g = 0;
  for (size_t i = 3, shift = 0; i < blob.size() && shift < 63; ++i, shift += 7) {
    g |= static_cast<int64_t>(blob[i] & 0x7f) << shift;
    if ((blob[i] & 0x80) == 0) return g;
  }
  return -1;
}

// Memory in bytes, in pages of 4096.
Series PagesGauge(double plus) {
  return [plus](int64_t t) {
    return 4096 * std::round(1e6 + 5000 * std::sin(static_cast<double>(t - kHour0) / 60000.0)) +
           plus;
  };
}

TEST(RollupBlock, RoundTripsAGaugeInPagesInUnitsOfAPage) {
  const std::string pages =
      ExpectRoundTrip(AggregatesOf(PagesGauge(0), kHour0, kHour0 + kHour, kMinute));
  // Version, n = 60, the mode (0 digits, step or linear) with 0x80 set, then g = 4096 as a varint.
  ASSERT_GE(pages.size(), 5u);
  EXPECT_EQ(pages[1], 60);
  EXPECT_TRUE(pages[2] == '\x81' || pages[2] == '\x8b') << static_cast<int>(pages[2]);
  EXPECT_EQ(pages.substr(3, 2), "\x80\x20");
  EXPECT_EQ(DivisorOf(pages), 4096);
  // The same values off by one byte share no divisor.
  const std::string bytes =
      ExpectRoundTrip(AggregatesOf(PagesGauge(1), kHour0, kHour0 + kHour, kMinute));
  EXPECT_EQ(DivisorOf(bytes), 1);
  EXPECT_LT(pages.size() + 60, bytes.size()) << "a byte a minute saved at least";
  // Halves: decimals with 1 digit, in units of 5.
  const std::string halves = ExpectRoundTrip(
      AggregatesOf([](int64_t t) { return 0.5 * static_cast<double>((t - kHour0) / 10000 % 13); },
                   kHour0, kHour0 + kHour, kMinute));
  EXPECT_EQ(((halves[2] & 0x7f) - 1) % 10, 1) << "decimals with 1 digit";
  EXPECT_EQ(DivisorOf(halves), 5);
}

TEST(RollupBlock, RoundTripsDecimalsWithoutTheDivisorOfFirstAndLast) {
  // Disk sectors of 512 bytes; one field at a time is no multiple of 512.
  const Series sectors = [](int64_t t) {
    const int64_t n = (t - kHour0) / 10000;
    return 512.0 * static_cast<double>(n < 180 ? 1000000 + 3 * n : n - 180);  // a reset
  };
  const std::vector<Aggregate> run = AggregatesOf(sectors, kHour0, kHour0 + kHour, kMinute);
  ASSERT_EQ(run.size(), 60u);
  EXPECT_EQ(DivisorOf(ExpectRoundTrip(run)), 512);
  for (int field = 0; field < 4; ++field) {
    SCOPED_TRACE(field);
    for (size_t at : {size_t{0}, size_t{29}, size_t{30}, size_t{59}}) {
      std::vector<Aggregate> changed = run;
      Aggregate& a = changed[at];
      switch (field) {
        case 0:
          a.increase += 100;  // a reset counted from a value the samples do not show
          break;
        case 1:
          a.sum += 7;
          break;
        case 2:
          a.min = a.first - 1;
          break;
        default:
          a.max = a.last + 3;
      }
      const int64_t g = DivisorOf(ExpectRoundTrip(changed));
      EXPECT_GE(g, 1) << "at " << at;
      EXPECT_LT(g, 512) << "at " << at;
    }
  }
}

TEST(RollupBlock, ABadDivisorIsDataLoss) {
  const std::string blob =
      EncodeAggregates(AggregatesOf(PagesGauge(0), kHour0, kHour0 + kHour, kMinute));
  ASSERT_EQ(DivisorOf(blob), 4096);
  const std::string body = blob.substr(5);
  const std::string header = blob.substr(0, 3);
  for (const std::string& g : {
           std::string("\x00", 1),                                   // 0
           std::string("\x01"),                                      // 1 is written as none
           std::string("\x81\x80\x80\x80\x80\x80\x80\x10"),          // 2^53 + 1
           std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),  // 2^64 - 1
           std::string("\x80\x80\x80\x80\x80\x80\x80\x10"),          // 2^53: values out of range
           std::string("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),  // overlong
       }) {
    std::vector<Aggregate> got;
    const absl::Status status = DecodeAggregates(header + g + body, &got);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_TRUE(got.empty());
  }
  // The flag in raw mode.
  std::vector<Aggregate> raw = {Aggregate{}};
  raw[0].first = raw[0].last = 1.0 / 3;
  std::string raw_blob = EncodeAggregates(raw);
  ASSERT_EQ(raw_blob[2], 0);
  raw_blob[2] = '\x80';
  std::vector<Aggregate> none;
  EXPECT_EQ(DecodeAggregates(raw_blob, &none).code(), absl::StatusCode::kDataLoss);
  raw_blob.insert(3, "\x02");
  EXPECT_EQ(DecodeAggregates(raw_blob, &none).code(), absl::StatusCode::kDataLoss);
  // A divisor twice the true one doubles every value, and is no damage the reader can tell.
  std::vector<Aggregate> got;
  ASSERT_TRUE(DecodeAggregates(header + "\x80\x40" + body, &got).ok());
  ASSERT_EQ(got.size(), 60u);
  EXPECT_EQ(Bits(got[0].first), Bits(2 * PagesGauge(0)(kHour0)));
}

TEST(RollupBlock, RoundTripsValuesThatAreNoShortDecimalsAsRawDoubles) {
  const Series thirds = [](int64_t t) { return static_cast<double>((t - kHour0) / 10000) / 3; };
  std::vector<Aggregate> run = AggregatesOf(thirds, kHour0, kHour0 + kHour, kMinute);
  std::string blob = ExpectRoundTrip(run);
  EXPECT_EQ(blob[2], 0) << "raw mode";
  const Series pi = [](int64_t t) {
    return std::numbers::pi * static_cast<double>((t - kHour0) / 10000 % 17);
  };
  run = AggregatesOf(pi, kHour0, kHour0 + kHour, kMinute);
  blob = ExpectRoundTrip(run);
  EXPECT_EQ(blob[2], 0) << "raw mode";
}

TEST(RollupBlock, RoundTripsSpecialValuesBitForBit) {
  const double nan_payload = std::bit_cast<double>(uint64_t{0x7ff4000000000123});
  const double negative_nan = std::bit_cast<double>(uint64_t{0xfff8000000000001});
  const double denormal = std::numeric_limits<double>::denorm_min();
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(),
                             nan_payload,
                             negative_nan,
                             -0.0,
                             0.0,
                             kInf,
                             -kInf,
                             1e300,
                             -1e300,
                             denormal,
                             -denormal * 3,
                             std::numeric_limits<double>::max(),
                             std::numeric_limits<double>::lowest(),
                             9007199254740993.0,  // 2^53 + 1 rounds to 2^53
                             9007199254740992.0,
                             -9007199254740992.0,
                             0.1,
                             1.5};
  const int64_t times[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX};
  const uint64_t counts[] = {0, 1, 6, UINT64_MAX};
  std::vector<Aggregate> run;
  int64_t start = INT64_MIN;
  size_t i = 0;
  for (double v : specials) {
    for (double w : specials) {
      Aggregate a;
      a.start_ms = start;
      start += 1 + static_cast<int64_t>(i % 5) * 1000003;
      a.count = counts[i % 4];
      a.first = v;
      a.last = w;
      a.min = specials[(i * 7) % std::size(specials)];
      a.max = specials[(i * 11) % std::size(specials)];
      a.sum = specials[(i * 13) % std::size(specials)];
      a.increase = specials[(i * 5) % std::size(specials)];
      a.first_ms = times[i % std::size(times)];
      a.last_ms = times[(i * 3) % std::size(times)];
      run.push_back(a);
      ++i;
    }
  }
  ExpectRoundTrip(run);
  // One aggregate at a time: mostly decimal mode with special min, max, sum and increase.
  for (const Aggregate& a : run) ExpectRoundTrip({a});
  // Decimal first and last with special everything else, and extreme start times.
  std::vector<Aggregate> decimal_run;
  for (size_t j = 0; j < std::size(specials); ++j) {
    decimal_run.push_back(
        {.start_ms = j == 0 ? INT64_MIN : INT64_MAX - 100 + static_cast<int64_t>(j),
         .count = counts[j % 4],
         .sum = specials[j],
         .min = specials[(j + 1) % std::size(specials)],
         .max = specials[(j + 2) % std::size(specials)],
         .first = static_cast<double>(j) / 100,
         .first_ms = times[j % std::size(times)],
         .last = static_cast<double>(10 - static_cast<int>(j)) / 10,
         .last_ms = times[(j + 1) % std::size(times)],
         .increase = specials[(j + 3) % std::size(specials)]});
  }
  const std::string blob = ExpectRoundTrip(decimal_run);
  EXPECT_EQ(((blob[2] & 0x7f) - 1) % 10, 2) << "decimals with 2 digits";
}

TEST(RollupBlock, RoundTripsDecimalsAtTheEdgeOfTheirRange) {
  const double big = 9007199254740992.0;  // 2^53
  std::vector<Aggregate> run;
  for (int k = 0; k < 4; ++k) {
    const double v = big / std::pow(10.0, k);
    run.push_back({.start_ms = k * kMinute,
                   .count = UINT64_MAX - static_cast<uint64_t>(k),
                   .sum = v * 6,
                   .min = -v,
                   .max = v,
                   .first = k % 2 == 0 ? v : -v,
                   .first_ms = k * kMinute,
                   .last = k % 2 == 0 ? -v : v,
                   .last_ms = k * kMinute + 50 * kSecond,
                   .increase = 2 * v});
  }
  ExpectRoundTrip(run);
  for (const Aggregate& a : run) ExpectRoundTrip({a});
}

TEST(RollupBlock, RoundTripsIrregularGapsAndOffsets) {
  std::vector<Aggregate> run = AggregatesOf(Counter(3), kHour0, kHour0 + kHour, kMinute);
  std::vector<Aggregate> gappy;
  for (size_t i = 0; i < run.size(); ++i) {
    if (i % 7 == 3 || i % 11 == 0 || i == 40 || i == 41) continue;  // minutes without samples
    Aggregate a = run[i];
    if (i % 5 == 0) {
      a.count = 2;
      a.first_ms += 3 * kSecond + 17;
      a.last_ms = a.first_ms + 1234;
    }
    gappy.push_back(a);
  }
  ExpectRoundTrip(gappy);
  // Days of hours, with missing hours.
  const std::vector<Aggregate> hours =
      HoursOf(AggregatesOf(Gauge(1), kHour0, kHour0 + 24 * kHour, kMinute));
  std::vector<Aggregate> some_hours;
  for (size_t i = 0; i < hours.size(); ++i) {
    if (i % 4 != 1) some_hours.push_back(hours[i]);
  }
  ExpectRoundTrip(some_hours);
}

TEST(RollupBlock, RoundTripsRandomAggregates) {
  std::mt19937_64 random(42);
  auto pick_double = [&](double decimal_base) {
    switch (random() % 8) {
      case 0:
        return std::bit_cast<double>(random());
      case 1:
        return static_cast<double>(static_cast<int64_t>(random() % 2001) - 1000) / 100;
      case 2:
        return decimal_base;
      case 3:
        return decimal_base + 0.1 + 0.2;  // a few units off a decimal
      case 4:
        return 0.0;
      default:
        return decimal_base + static_cast<double>(random() % 50);
    }
  };
  for (int round = 0; round < 300; ++round) {
    std::vector<Aggregate> run;
    const size_t n = random() % 61;
    int64_t start = static_cast<int64_t>(random());
    const bool decimal = round % 2 == 0;
    double base = 0;
    for (size_t i = 0; i < n; ++i) {
      Aggregate a;
      a.start_ms = start;
      if (start > INT64_MAX - 2 * kHour) break;
      start += 1 + static_cast<int64_t>(random() % 3 == 0 ? random() % kHour : kMinute);
      a.count = random() % 4 == 0 ? random() : 6;
      base += static_cast<double>(random() % 100) / 10;
      a.first = decimal ? base : pick_double(base);
      a.last = decimal ? base + static_cast<double>(random() % 10) : pick_double(base);
      a.min = random() % 2 == 0 ? a.first : pick_double(base);
      a.max = random() % 2 == 0 ? a.last : pick_double(base);
      a.sum = pick_double(base * 6);
      a.increase =
          random() % 2 == 0 ? a.last - (run.empty() ? 0 : run.back().last) : pick_double(base);
      a.first_ms = a.start_ms + (random() % 3 == 0 ? static_cast<int64_t>(random() % 1000) : 0);
      a.last_ms = a.first_ms + 50 * kSecond;
      run.push_back(a);
    }
    ExpectRoundTrip(run);
  }
}

TEST(RollupBlock, DecodeAppendsToWhatIsAlreadyThere) {
  const std::vector<Aggregate> run =
      AggregatesOf(Counter(1), kHour0, kHour0 + 5 * kMinute, kMinute);
  std::vector<Aggregate> got = {Aggregate{}};
  ASSERT_TRUE(DecodeAggregates(EncodeAggregates(run), &got).ok());
  std::vector<Aggregate> want = {Aggregate{}};
  want.insert(want.end(), run.begin(), run.end());
  ExpectSameAggregates(want, got);
}

// Average bytes an aggregate of `series` takes, over `runs` of `bucket_ms` buckets from kHour0.
double BytesPerAggregate(const std::vector<Series>& series, int64_t span_ms, int64_t bucket_ms) {
  size_t bytes = 0, aggregates = 0;
  for (const Series& s : series) {
    std::vector<Aggregate> run = AggregatesOf(s, kHour0, kHour0 + span_ms, kMinute);
    if (bucket_ms == kHour) run = HoursOf(run);
    bytes += ExpectRoundTrip(run).size();
    aggregates += run.size();
  }
  return static_cast<double>(bytes) / static_cast<double>(aggregates);
}

TEST(RollupBlock, AnHourOfHostMetricsTakesAFewBytesAMinute) {
  std::vector<Series> counters, gauges, constants;
  for (int i = 0; i < 50; ++i) counters.push_back(Counter(i));
  for (int i = 50; i < 100; ++i) gauges.push_back(Gauge(i));
  for (int i = 0; i < 50; ++i) constants.push_back(ConstantGauge(i));
  const double counter_bytes = BytesPerAggregate(counters, kHour, kMinute);
  const double gauge_bytes = BytesPerAggregate(gauges, kHour, kMinute);
  const double constant_bytes = BytesPerAggregate(constants, kHour, kMinute);
  RecordProperty("counter_bytes_per_minute", std::to_string(counter_bytes));
  RecordProperty("gauge_bytes_per_minute", std::to_string(gauge_bytes));
  RecordProperty("constant_gauge_bytes_per_minute", std::to_string(constant_bytes));
  EXPECT_LE(counter_bytes, 1.0);
  EXPECT_LE(gauge_bytes, 5.5);
  EXPECT_LE(constant_bytes, 1.0);
}

TEST(RollupBlock, ADayOfHostMetricsTakesAFewBytesAnHour) {
  std::vector<Series> counters, gauges;
  for (int i = 0; i < 10; ++i) counters.push_back(Counter(i));
  for (int i = 50; i < 60; ++i) gauges.push_back(Gauge(i));
  const double counter_bytes = BytesPerAggregate(counters, 24 * kHour, kHour);
  const double gauge_bytes = BytesPerAggregate(gauges, 24 * kHour, kHour);
  RecordProperty("counter_bytes_per_hour", std::to_string(counter_bytes));
  RecordProperty("gauge_bytes_per_hour", std::to_string(gauge_bytes));
  EXPECT_LE(counter_bytes, 2.5);
  EXPECT_LE(gauge_bytes, 15);
}

// How fast an hour of a counter decodes, for comparing encodings: no assertion on time, which
// depends on the build and the machine.
TEST(RollupBlock, DecodeSpeedOfAnHourOfACounter) {
  const std::string blob =
      EncodeAggregates(AggregatesOf(Counter(3), kHour0, kHour0 + kHour, kMinute));
  constexpr int kDecodes = 10000;
  std::vector<Aggregate> got;
  got.reserve(60);
  size_t decoded = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kDecodes; ++i) {
    got.clear();
    ASSERT_TRUE(DecodeAggregates(blob, &got).ok());
    decoded += got.size();
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(decoded, 60u * kDecodes);
  RecordProperty("aggregates_decoded_per_second",
                 std::to_string(static_cast<double>(decoded) / elapsed.count()));
}

// Blobs of every kind the tests above make: decimal and raw mode, specials.
std::vector<std::string> SampleBlobs() {
  std::vector<std::string> blobs;
  blobs.push_back(EncodeAggregates(AggregatesOf(Counter(5), kHour0, kHour0 + kHour, kMinute)));
  blobs.push_back(EncodeAggregates(AggregatesOf(Gauge(7), kHour0, kHour0 + kHour, kMinute)));
  blobs.push_back(EncodeAggregates(AggregatesOf(
      [](int64_t t) { return static_cast<double>(t % 7) / 3; }, kHour0, kHour0 + kHour, kMinute)));
  blobs.push_back(EncodeAggregates(
      std::vector<Aggregate>{{INT64_MIN, UINT64_MAX, -0.0, kInf, -kInf, 0.5, INT64_MAX, 1.5,
                              INT64_MIN, std::numeric_limits<double>::quiet_NaN()},
                             {INT64_MAX, 0, 1e300, 0.1 + 0.2, 0.25, -1.25, 0, 2.5, 1, -0.0}}));
  return blobs;
}

TEST(RollupBlock, EveryTruncationIsDataLossKeepingTheAggregatesBeforeIt) {
  for (const std::string& blob : SampleBlobs()) {
    std::vector<Aggregate> full;
    ASSERT_TRUE(DecodeAggregates(blob, &full).ok());
    for (size_t size = 0; size < blob.size(); ++size) {
      std::vector<Aggregate> got;
      const absl::Status status = DecodeAggregates(blob.substr(0, size), &got);
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << "size " << size;
      ASSERT_LE(got.size(), full.size());
      ExpectSameAggregates(std::vector<Aggregate>(full.begin(), full.begin() + got.size()), got);
    }
  }
}

TEST(RollupBlock, FlippedBytesNeverCrash) {
  for (const std::string& blob : SampleBlobs()) {
    for (size_t at = 0; at < blob.size(); ++at) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string damaged = blob;
        damaged[at] = static_cast<char>(damaged[at] ^ (1 << bit));
        std::vector<Aggregate> got;
        const absl::Status status = DecodeAggregates(damaged, &got);
        EXPECT_TRUE(status.ok() || status.code() == absl::StatusCode::kDataLoss) << status;
        if (status.ok()) ExpectRoundTrip(got);
      }
    }
  }
}

TEST(RollupBlock, TrailingBytesAreDataLoss) {
  std::string blob = EncodeAggregates(AggregatesOf(Counter(2), kHour0, kHour0 + kHour, kMinute));
  blob.push_back('\0');
  std::vector<Aggregate> got;
  EXPECT_EQ(DecodeAggregates(blob, &got).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(got.size(), 60u) << "every aggregate decoded before the damage";
  got.clear();
  EXPECT_EQ(DecodeAggregates(std::string("\x01\x00\x00", 3), &got).code(),
            absl::StatusCode::kDataLoss);
}

TEST(RollupBlock, BadHeadersAreDataLoss) {
  std::vector<Aggregate> got;
  EXPECT_EQ(DecodeAggregates("", &got).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeAggregates(std::string("\x02\x00", 2), &got).code(), absl::StatusCode::kDataLoss);
  // Mode 21: decimals with 10 digits do not exist.
  EXPECT_EQ(DecodeAggregates(std::string("\x01\x01\x15\x00", 4), &got).code(),
            absl::StatusCode::kDataLoss);
  // A huge count with a tiny body reserves nothing it cannot fill.
  EXPECT_EQ(DecodeAggregates("\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x01\xff", &got).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(got.empty());
}

TEST(RollupBlock, StartTimesThatDoNotAscendAreDataLoss) {
  // Two aggregates, decimals with 0 digits, step prediction, no divisor. The bits: '0' (the first
  // aggregate as predicted: all zero), '1' '1' (the second's times not as predicted), '10' + 000001
  // (start zigzag 1 = -1), then '0' for count, both offsets, first, last, extremes, sum and
  // increase.
  const std::string blob(
      "\x01\x02\x01"
      "\x70\x20\x00",  // 0111 0000 0010 0000 0000 0000
      6);
  std::vector<Aggregate> got;
  const absl::Status status = DecodeAggregates(blob, &got);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_EQ(got.size(), 1u);
}

}  // namespace
}  // namespace plumbline::collector
