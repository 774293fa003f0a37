// storage.backend and storage.dsn in collector.yaml.
#include <gtest/gtest.h>

#include "collector/config.h"

namespace plumbline::collector {
namespace {

using Backend = CollectorConfig::Storage::Backend;

TEST(StorageConfig, SqliteIsTheDefault) {
  auto c = ParseCollectorConfig("", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage.backend, Backend::kSqlite);
  EXPECT_TRUE(c->storage.dsn.empty());
}

TEST(StorageConfig, PostgresTakesALibpqConnectionString) {
  auto c = ParseCollectorConfig(
      "storage:\n  backend: postgres\n  dsn: \"host=db1 dbname=plumbline\"\n"
      "  durability: relaxed\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage.backend, Backend::kPostgres);
  EXPECT_EQ(c->storage.dsn, "host=db1 dbname=plumbline");
  EXPECT_TRUE(c->storage.relaxed_durability);
}

TEST(StorageConfig, PostgresWithoutADsnIsNamed) {
  auto c = ParseCollectorConfig("storage:\n  backend: postgres\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "c.yaml:2: storage.backend: postgres needs storage.dsn (a libpq connection string)");
  auto empty = ParseCollectorConfig("storage:\n  backend: postgres\n  dsn: \"\"\n", "c.yaml");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "c.yaml:3: storage.dsn: must not be empty");
}

TEST(StorageConfig, UnknownBackendListsTheSupportedOnes) {
  auto c = ParseCollectorConfig("storage:\n  backend: mysql\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "c.yaml:2: storage.backend: unknown backend \"mysql\" (supported: sqlite, postgres)");
}

}  // namespace
}  // namespace plumbline::collector
