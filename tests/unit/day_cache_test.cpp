// Whole days kept between queries: the cache itself, the SQLite store's day
// versions, and the engine's answers with and without kept days.
#include "collector/store/day_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "collector/catalog/rate_card.h"
#include "collector/engine/chargeback.h"
#include "collector/engine/cost.h"
#include "collector/engine/slo_engine.h"
#include "tests/requests_sli.h"
#include "tests/unit/sqlite_store_fixture.h"

namespace plumbline::collector {
namespace {

constexpr int64_t kMin = 60000;
constexpr int64_t kHourMs = 60 * kMin;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kD0 = 1701302400000;  // 2023-11-30T00:00:00Z

TEST(SplitAtDays, CutsAtUtcMidnights) {
  std::vector<DayPiece> p = SplitAtDays(kD0 + kHourMs, kD0 + 2 * kDayMs + 3 * kHourMs);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].from_ms, kD0 + kHourMs);
  EXPECT_EQ(p[0].to_ms, kD0 + kDayMs);
  EXPECT_FALSE(p[0].whole_day);
  EXPECT_EQ(p[1].from_ms, kD0 + kDayMs);
  EXPECT_EQ(p[1].to_ms, kD0 + 2 * kDayMs);
  EXPECT_TRUE(p[1].whole_day);
  EXPECT_EQ(p[2].from_ms, kD0 + 2 * kDayMs);
  EXPECT_EQ(p[2].to_ms, kD0 + 2 * kDayMs + 3 * kHourMs);
  EXPECT_FALSE(p[2].whole_day);

  p = SplitAtDays(kD0 + kHourMs, kD0 + 2 * kHourMs);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_FALSE(p[0].whole_day);
  p = SplitAtDays(kD0, kD0 + kDayMs);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(p[0].whole_day);
  EXPECT_TRUE(SplitAtDays(kD0, kD0).empty());
  // Before the epoch too.
  p = SplitAtDays(-kDayMs - kHourMs, 0);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].to_ms, -kDayMs);
  EXPECT_TRUE(p[1].whole_day);
}

TEST(DayCache, FindsOnlyTheVersionPutAndForgetsTheLeastRecentlyUsed) {
  DayCache cache(4096);
  cache.Put("k", kD0, 7, std::make_shared<const int>(1), 500);
  EXPECT_EQ(cache.Find<int>("k", kD0, 6), nullptr);
  EXPECT_EQ(cache.Find<int>("other", kD0, 7), nullptr);
  ASSERT_NE(cache.Find<int>("k", kD0, 7), nullptr);
  EXPECT_EQ(*cache.Find<int>("k", kD0, 7), 1);
  for (int d = 1; d < 5; ++d)
    cache.Put("k", kD0 + d * kDayMs, 1, std::make_shared<const int>(d), 500);
  ASSERT_NE(cache.Find<int>("k", kD0, 7), nullptr);  // used last: kept below
  for (int d = 5; d < 8; ++d)
    cache.Put("k", kD0 + d * kDayMs, 1, std::make_shared<const int>(d), 500);
  DayCacheStats st = cache.Stats();
  EXPECT_LE(st.bytes, 4096u);
  EXPECT_NE(cache.Find<int>("k", kD0, 7), nullptr);
  EXPECT_EQ(cache.Find<int>("k", kD0 + kDayMs, 1), nullptr);      // least recently used
  EXPECT_NE(cache.Find<int>("k", kD0 + 7 * kDayMs, 1), nullptr);  // newest
  // One value bigger than a quarter of the bound is not kept.
  cache.Put("big", kD0, 1, std::make_shared<const int>(0), 2000);
  EXPECT_EQ(cache.Find<int>("big", kD0, 1), nullptr);
}

class DayVersionTest : public SqliteStoreTest {};

TEST_F(DayVersionTest, MovesWhenTheDaysSamplesChangeNotWhenTheyAreRolledUpOnTime) {
  const int64_t d1 = kD0 + kDayMs, d2 = kD0 + 2 * kDayMs;
  EXPECT_EQ(store_->DayVersion(kD0), 0u);
  Write("g", {}, {{kD0 + 12 * kHourMs, 1}});
  const std::optional<uint64_t> v0 = store_->DayVersion(kD0);
  ASSERT_TRUE(v0.has_value());
  EXPECT_NE(*v0, 0u);
  EXPECT_EQ(store_->DayVersion(kD0 + 5 * kHourMs), v0);  // any time of the day
  EXPECT_EQ(store_->DayVersion(d1), 0u);
  // A sample just before midnight also changes the next day: the next
  // sample's counter step starts from it.
  Write("g", {}, {{d1 - 5 * kMin, 2}});
  EXPECT_NE(store_->DayVersion(kD0), v0);
  const std::optional<uint64_t> v1 = store_->DayVersion(d1);
  EXPECT_NE(v1, 0u);
  EXPECT_EQ(store_->DayVersion(d2), 0u);

  // Rolling up on time moves data between tiers, not answers: versions
  // stay. (Recomputing minutes for late samples moves them.)
  const std::optional<uint64_t> before = store_->DayVersion(kD0);
  for (int i = 0; i < 50; ++i) {
    auto r = store_->RunMaintenance(d2 + kHourMs, RetentionPolicy{});
    ASSERT_TRUE(r.ok()) << r.status();
    if (!r->more) break;
  }
  EXPECT_EQ(store_->DayVersion(kD0), before);
  EXPECT_EQ(store_->DayVersion(d1), v1);

  // Minute rollups deleted where hour rollups cover them change no whole
  // day; days whose hour rollups retention deletes are no longer tracked.
  RetentionPolicy short_minutes{7 * kDayMs, kDayMs, 400 * kDayMs};
  for (int i = 0; i < 50; ++i) {
    auto r = store_->RunMaintenance(d2 + 6 * kHourMs, short_minutes);
    ASSERT_TRUE(r.ok()) << r.status();
    if (!r->more) break;
  }
  EXPECT_EQ(store_->DayVersion(kD0), before);
  RetentionPolicy short_lived{kDayMs, kDayMs, kDayMs};
  for (int i = 0; i < 50; ++i) {
    auto r = store_->RunMaintenance(d2 + 12 * kHourMs, short_lived);
    ASSERT_TRUE(r.ok()) << r.status();
    if (!r->more) break;
  }
  EXPECT_FALSE(store_->DayVersion(kD0).has_value());
  EXPECT_TRUE(store_->DayVersion(d2).has_value());
}

class DayCacheEngineTest : public SqliteStoreTest {
 protected:
  // A counter sample every 10 minutes from kD0 - 1h to kD0 + 4d + 2h:
  // requests grow 100 per sample; errors 1 per sample of day 1 only.
  void WriteFourDays() {
    std::vector<std::pair<int64_t, double>> requests, errors;
    double e = 0;
    int k = 0;
    for (int64_t ts = kD0 - kHourMs; ts <= kD0 + 4 * kDayMs + 2 * kHourMs; ts += 10 * kMin, ++k) {
      if (ts >= kD0 + kDayMs && ts < kD0 + 2 * kDayMs) e += 1;
      requests.emplace_back(ts, 100.0 * k);
      errors.emplace_back(ts, e);
      samples_.push_back(ts);
    }
    Write("requests_total", v1::METRIC_TYPE_COUNTER, {}, requests);
    Write("errors_total", v1::METRIC_TYPE_COUNTER, {}, errors);
  }
  // Requests counted in [from, to): 100 per sample time inside.
  double RequestsIn(int64_t from, int64_t to) const {
    double n = 0;
    for (int64_t ts : samples_) n += ts >= from && ts < to ? 100 : 0;
    return n;
  }
  std::vector<int64_t> samples_;
};

TEST_F(DayCacheEngineTest, SliCountsOverDaysAreKeptAndRecomputedWhenADayChanges) {
  WriteFourDays();
  const int64_t from = kD0 + 5 * kMin, to = kD0 + 4 * kDayMs + kHourMs;
  // Days 1, 2 and 3 are whole; day 0 and day 4 are parts.
  const double valid = RequestsIn(from, to);  // 3 x 14,400 + 14,300 + 600 + ... by sample
  auto c = EvaluateSli(*store_, RequestsSli(), from, to);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->valid, valid);
  EXPECT_DOUBLE_EQ(c->good, valid - 144);
  const DayCacheStats cold = store_->day_cache().Stats();
  EXPECT_EQ(cold.entries, 6u);  // 3 whole days x (valid, bad)

  c = EvaluateSli(*store_, RequestsSli(), from, to);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->valid, valid);
  EXPECT_DOUBLE_EQ(c->good, valid - 144);
  EXPECT_EQ(store_->day_cache().Stats().hits - cold.hits, 6u);

  // Rolled up, the kept days still answer, and the same.
  for (int i = 0; i < 100; ++i) {
    auto r = store_->RunMaintenance(kD0 + 5 * kDayMs, RetentionPolicy{});
    ASSERT_TRUE(r.ok()) << r.status();
    if (!r->more) break;
  }
  const DayCacheStats rolled = store_->day_cache().Stats();
  c = EvaluateSli(*store_, RequestsSli(), from, to);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->valid, valid);
  EXPECT_DOUBLE_EQ(c->good, valid - 144);
  EXPECT_EQ(store_->day_cache().Stats().hits - rolled.hits, 6u);

  // Late errors of another shard on day 2: only day 2 is read again.
  Write("errors_total", v1::METRIC_TYPE_COUNTER, {{"shard", "2"}},
        {{kD0 + 2 * kDayMs + kHourMs, 0}, {kD0 + 2 * kDayMs + kHourMs + 10 * kMin, 50}});
  // Asked before the late minutes are recomputed (queries read the
  // minutes rolled up before), day 2 is kept as it is then...
  c = EvaluateSli(*store_, RequestsSli(), from, to);
  ASSERT_TRUE(c.ok()) << c.status();
  // ... and recomputed once its minutes are.
  for (int i = 0; i < 100; ++i) {
    auto r = store_->RunMaintenance(kD0 + 5 * kDayMs + kMin, RetentionPolicy{});
    ASSERT_TRUE(r.ok()) << r.status();
    if (!r->more) break;
  }
  const DayCacheStats late = store_->day_cache().Stats();
  c = EvaluateSli(*store_, RequestsSli(), from, to);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->valid, valid);
  EXPECT_DOUBLE_EQ(c->good, valid - 144 - 50);
  EXPECT_EQ(store_->day_cache().Stats().hits - late.hits, 4u);
}

// Host metrics of two hosts every 10 minutes over four days and parts of
// two more, with usage that changes from hour to hour.
class DaySlicesTest : public SqliteStoreTest {
 protected:
  void WriteHost(const std::string& host, double cores, int64_t from, int64_t to,
                 int64_t overloaded_hour) {
    std::vector<std::pair<int64_t, double>> count, busy, memory, disk, rx, tx;
    double cpu = 0, in = 0, out = 0;
    int k = 0;
    for (int64_t ts = from; ts < to; ts += 10 * kMin, ++k) {
      const bool overloaded = ts >= overloaded_hour && ts < overloaded_hour + kHourMs;
      // Busy core-seconds per 10 minutes: 0..1.5 cores, or 3 cores (more
      // than the hosts' 2) in the overloaded hour.
      cpu += overloaded ? 3 * 600 : 600 * (0.1 * (k % 16));
      in += 1e6 * (1 + k % 7);
      out += 5e5 * (1 + k % 3);
      count.emplace_back(ts, cores);
      busy.emplace_back(ts, cpu);
      memory.emplace_back(ts, 1073741824.0 * (2 + (k % 24) * 0.25));
      disk.emplace_back(ts, 1073741824.0 * (40 + k * 0.01));
      rx.emplace_back(ts, in);
      tx.emplace_back(ts, out);
    }
    const LabelSet h{{"host", host}};
    Write("host_cpu_count", h, count);
    Write("host_cpu_seconds_total", v1::METRIC_TYPE_COUNTER, {{"host", host}, {"mode", "user"}},
          busy);
    Write("host_memory_used_bytes", h, memory);
    Write("host_filesystem_used_bytes", {{"host", host}, {"mountpoint", "/"}}, disk);
    Write("host_network_receive_bytes_total", v1::METRIC_TYPE_COUNTER, h, rx);
    Write("host_network_transmit_bytes_total", v1::METRIC_TYPE_COUNTER, h, tx);
  }

  static Catalog ShopCatalog(std::shared_ptr<const RateCard> card) {
    Catalog c;
    c.business_units.push_back({"retail", "Retail", "", {}});
    for (const char* id : {"shop", "search"}) {
      Service s;
      s.id = id;
      s.name = id;
      s.business_unit = "retail";
      Component web;
      web.id = "web";
      web.hosts = {std::string(id) == "shop" ? "web-*" : "web-2"};
      s.components.push_back(web);
      c.services.push_back(s);
    }
    c.rate_card = std::move(card);
    return c;
  }
};

TEST_F(DaySlicesTest, WholeDaysUnderOneRateCostWhatTheirHoursCostToTheCent) {
  const int64_t d = kDayMs;
  WriteHost("web-1", 2, kD0 - kHourMs, kD0 + 5 * d, 0);
  // web-2 is overloaded for an hour of day 3: that day stays in hours.
  WriteHost("web-2", 2, kD0 + 2 * kHourMs, kD0 + 5 * d, kD0 + 3 * d + 7 * kHourMs);
  auto card = std::make_shared<RateCard>();
  card->defined = true;
  card->currency = "EUR";
  Rate early;
  early.from_ms = 0;
  early.to_ms = kD0 + d + 6 * kHourMs;  // the price changes at 06:00 on day 1
  early.cpu_core_hour = 0.0317;
  early.memory_gb_hour = 0.0043;
  early.disk_gb_month = 0.101;
  early.network_gb = 0.0123;
  early.host_hour = 0.0213;
  Rate late = early;
  late.from_ms = early.to_ms;
  late.to_ms = std::numeric_limits<int64_t>::max();
  late.cpu_core_hour = 0.0411;
  card->rates = {early, late};
  const Catalog catalog = ShopCatalog(card);
  const TimeRange period{kD0 + 3 * kHourMs + 7 * kMin, kD0 + 4 * d + 2 * kHourMs};

  auto hours = LoadHostUsage(*store_, catalog, period, UsageSlicing::kHours);
  ASSERT_TRUE(hours.ok()) << hours.status();
  auto days = LoadHostUsage(*store_, catalog, period, UsageSlicing::kDays);
  ASSERT_TRUE(days.ok()) << days.status();
  ASSERT_EQ(hours->size(), 2u);
  ASSERT_EQ(days->size(), 2u);
  // Day 0 and day 4 are parts (hours); day 1 has the price change (hours);
  // days 2 and 3 are whole under one rate: one slice each for web-1, and
  // for web-2 day 2 only (day 3 has its overloaded hour).
  EXPECT_EQ((*hours)[0].slices.size(), 21u + 24 + 24 + 24 + 2);
  EXPECT_EQ((*days)[0].slices.size(), 21u + 24 + 1 + 1 + 2);
  EXPECT_EQ((*days)[1].slices.size(), 21u + 24 + 1 + 24 + 2);
  EXPECT_EQ((*days)[1].cpu_cores, (*hours)[1].cpu_cores);

  auto by_hours = AllocateCosts(catalog, *card, period, *hours);
  ASSERT_TRUE(by_hours.ok()) << by_hours.status();
  auto by_days = AllocateCosts(catalog, *card, period, *days);
  ASSERT_TRUE(by_days.ok()) << by_days.status();
  EXPECT_GT(by_hours->total_cents, 0);
  EXPECT_EQ(by_days->total_cents, by_hours->total_cents);
  EXPECT_EQ(by_days->idle_cents, by_hours->idle_cents);
  EXPECT_NEAR(by_days->total, by_hours->total, 1e-9 * by_hours->total);
  ASSERT_EQ(by_days->lines.size(), by_hours->lines.size());
  for (size_t i = 0; i < by_days->lines.size(); ++i) {
    const CostLine& a = by_days->lines[i];
    const CostLine& b = by_hours->lines[i];
    EXPECT_EQ(a.host + a.resource + a.service, b.host + b.resource + b.service);
    EXPECT_NEAR(a.quantity, b.quantity, 1e-9 * std::max(1.0, b.quantity)) << a.host << a.resource;
    EXPECT_NEAR(a.cost, b.cost, 1e-9 * std::max(1.0, b.cost)) << a.host << a.resource;
    EXPECT_EQ(a.cents, b.cents) << a.host << " " << a.resource << " " << a.service;
  }
  for (const char* id : {"shop", "search"}) {
    ASSERT_NE(by_days->FindService(id), nullptr);
    EXPECT_EQ(by_days->FindService(id)->cents, by_hours->FindService(id)->cents) << id;
  }

  // Asked again, the whole days come from the cache, with the same answer.
  const DayCacheStats first = store_->day_cache().Stats();
  EXPECT_EQ(first.entries, 2u);
  auto again = LoadHostUsage(*store_, catalog, period);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(store_->day_cache().Stats().hits - first.hits, 2u);
  auto by_again = AllocateCosts(catalog, *card, period, *again);
  ASSERT_TRUE(by_again.ok()) << by_again.status();
  EXPECT_EQ(by_again->total_cents, by_days->total_cents);
}

}  // namespace
}  // namespace plumbline::collector
