// A fresh SQLite store in a temporary file for each test, and a writer of
// one-series batches: the fixture of the engine tests that read a real store.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "collector/store/sqlite_store.h"

namespace plumbline::collector {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("plumbline_test_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db"))
                .string();
    std::filesystem::remove(path_);
    auto s = SqliteStore::Open(path_, Durability::kRelaxed);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }

  // One batch of agent_ holding one series.
  void Write(const std::string& name, v1::MetricType type, const LabelSet& labels,
             const std::vector<std::pair<int64_t, double>>& points) {
    v1::Batch b;
    b.set_agent_id(agent_);
    b.set_epoch(1);
    b.set_sequence(++sequence_);
    v1::Series* s = b.add_series();
    s->set_name(name);
    s->set_type(type);
    for (const auto& [k, v] : labels) {
      auto* l = s->add_labels();
      l->set_name(k);
      l->set_value(v);
    }
    for (const auto& [ts, value] : points) {
      auto* p = s->add_points();
      p->set_timestamp_ms(ts);
      p->set_number(value);
    }
    std::vector<BatchWrite> w(1);
    w[0].batch = &b;
    w[0].series.push_back(0);
    ASSERT_TRUE(store_->WriteBatches(w).ok());
  }
  void Write(const std::string& name, const LabelSet& labels,
             const std::vector<std::pair<int64_t, double>>& points) {
    Write(name, v1::METRIC_TYPE_GAUGE, labels, points);
  }

  std::string path_;
  std::unique_ptr<SqliteStore> store_;
  uint64_t sequence_ = 0;
  std::string agent_ = "a";
};

}  // namespace plumbline::collector
