#include <gtest/gtest.h>

#include <string>

#include "collector/config.h"

namespace plumbline::collector {
namespace {

TEST(CollectorConfig, Defaults) {
  auto c = ParseCollectorConfig("", "<defaults>");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen, "127.0.0.1:7070");
  EXPECT_FALSE(c->storage.relaxed_durability);
  EXPECT_EQ(c->ingest.max_message_bytes, 16u << 20);
}

TEST(CollectorConfig, ReadsStorageAndIngest) {
  auto c = ParseCollectorConfig(
      "listen: 0.0.0.0:9000\nstorage: {path: /tmp/x.db, durability: relaxed}\n"
      "ingest: {max_queued_batches: 10, retry_after: 2s}\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "0.0.0.0:9000");
  EXPECT_EQ(c->storage.path, "/tmp/x.db");
  EXPECT_TRUE(c->storage.relaxed_durability);
  EXPECT_EQ(c->ingest.max_queued_batches, 10);
  EXPECT_EQ(c->ingest.retry_after.count(), 2000);
}

TEST(CollectorConfig, BadValuesAreNamed) {
  auto c = ParseCollectorConfig(
      "storage:\n  backend: oracle\n  durability: sometimes\ningest:\n  max_queued_batches: 0\n",
      "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "c.yaml:2: storage.backend: unknown backend \"oracle\" (supported: sqlite, postgres)\n"
            "c.yaml:3: storage.durability: expected full or relaxed, got \"sometimes\"\n"
            "c.yaml:5: ingest.max_queued_batches: must be between 1 and 1048576, got 0");
}

}  // namespace
}  // namespace plumbline::collector

namespace plumbline::collector {
namespace {

TEST(CollectorConfig, RetentionMustGrowWithCoarserResolution) {
  auto ok =
      ParseCollectorConfig("storage:\n  retention: {raw: 2d, minute: 10d, hour: 90d}\n", "c.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->storage.raw_retention.count(), 2LL * 86400 * 1000);
  auto bad =
      ParseCollectorConfig("storage:\n  retention:\n    raw: 30d\n    minute: 7d\n", "c.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "c.yaml:4: storage.retention.minute: must be at least as long as raw retention");
}

}  // namespace
}  // namespace plumbline::collector

namespace plumbline::collector {
namespace {

TEST(CollectorConfig, MinuteRollupStepIsWholeMinutesDividingAnHour) {
  auto dflt = ParseCollectorConfig("", "c.yaml");
  ASSERT_TRUE(dflt.ok()) << dflt.status();
  EXPECT_EQ(dflt->storage.minute_rollup_step.count(), 10 * 60000);
  auto ok = ParseCollectorConfig("storage:\n  minute_rollup_step: 15m\n", "c.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->storage.minute_rollup_step.count(), 15 * 60000);
  EXPECT_TRUE(dflt->storage.query_rollups);
  auto raw = ParseCollectorConfig("storage:\n  query_rollups: false\n", "c.yaml");
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_FALSE(raw->storage.query_rollups);
  EXPECT_EQ(dflt->storage.report_warm_interval.count(), 60000);
  auto off = ParseCollectorConfig("storage:\n  report_warm_interval: 0s\n", "c.yaml");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->storage.report_warm_interval.count(), 0);
  for (const char* bad : {"7m", "90s", "2h"}) {
    auto c = ParseCollectorConfig(std::string("storage:\n  minute_rollup_step: ") + bad + "\n",
                                  "c.yaml");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().message(),
              "c.yaml:2: storage.minute_rollup_step: must be whole minutes that divide an hour "
              "(1m .. 60m)")
        << bad;
  }
}

}  // namespace
}  // namespace plumbline::collector
