#include "agent/batch_queue.h"

#include <gtest/gtest.h>

namespace plumbline::agent {
namespace {

v1::Batch MakeBatch(uint64_t seq, size_t payload = 100) {
  v1::Batch b;
  b.set_agent_id("a");
  b.set_epoch(7);
  b.set_sequence(seq);
  b.set_created_ms(static_cast<int64_t>(seq));
  b.add_series()->set_name(std::string(payload, 'x'));
  return b;
}

constexpr std::chrono::milliseconds kNoWait{0};

TEST(MemoryBatchQueue, HandsOutOldestFirstAndRemovesOnlyOnAck) {
  MemoryBatchQueue q(1 << 20);
  q.Push(MakeBatch(1));
  q.Push(MakeBatch(2));
  auto first = q.NextToSend(kNoWait);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->sequence(), 1u);
  auto second = q.NextToSend(kNoWait);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->sequence(), 2u);
  EXPECT_FALSE(q.NextToSend(kNoWait)) << "both are in flight";
  q.Ack(7, 1);
  EXPECT_EQ(q.Stats().batches, 1u);
  EXPECT_EQ(q.Stats().acked, 1u);
}

TEST(MemoryBatchQueue, ReleasedBatchesAreResent) {
  MemoryBatchQueue q(1 << 20);
  q.Push(MakeBatch(1));
  q.Push(MakeBatch(2));
  (void)q.NextToSend(kNoWait);
  (void)q.NextToSend(kNoWait);
  q.ReleaseAll();
  EXPECT_EQ(q.Stats().in_flight, 0u);
  EXPECT_EQ(q.NextToSend(kNoWait)->sequence(), 1u);
  q.Release(7, 1);
  EXPECT_EQ(q.NextToSend(kNoWait)->sequence(), 1u);
}

TEST(MemoryBatchQueue, WhenFullDropsOldestNeverNewestAndCounts) {
  size_t one = MakeBatch(1, 1000).ByteSizeLong();
  MemoryBatchQueue q(one * 3);
  for (uint64_t s = 1; s <= 5; ++s) q.Push(MakeBatch(s, 1000));
  QueueStats st = q.Stats();
  EXPECT_EQ(st.batches, 3u);
  EXPECT_EQ(st.dropped_full, 2u);
  EXPECT_EQ(q.NextToSend(kNoWait)->sequence(), 3u);
  EXPECT_LE(st.bytes, one * 3);
}

TEST(MemoryBatchQueue, AckOfUnknownBatchIsIgnored) {
  MemoryBatchQueue q(1 << 20);
  q.Push(MakeBatch(1));
  q.Ack(99, 99);
  EXPECT_EQ(q.Stats().batches, 1u);
}

TEST(MemoryBatchQueue, WakeReturnsAWaitingCallerEmptyHanded) {
  MemoryBatchQueue q(1 << 20);
  q.Wake();
  EXPECT_FALSE(q.NextToSend(std::chrono::milliseconds(5000)));
}

}  // namespace
}  // namespace plumbline::agent
