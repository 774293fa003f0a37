#include "agent/batch_queue.h"

#include <gtest/gtest.h>

#include <string>

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

constexpr SendLanes kFreshOnly{true, false};
constexpr SendLanes kBacklogOnly{false, true};
constexpr SendLanes kEither{true, true};

// "8 fresh", "1 backlog" or "none": what NextToSend hands out next.
std::string Take(BatchQueue& queue, SendLanes lanes) {
  std::optional<OutgoingBatch> next = queue.NextToSend(kNoWait, lanes);
  if (!next) return "none";
  return std::to_string(next->batch.sequence()) +
         (next->lane == SendLane::kFresh ? " fresh" : " backlog");
}

TEST(MemoryBatchQueue, UntilAStreamComesUpEverythingIsBacklogOldestFirst) {
  MemoryBatchQueue q(1 << 20);
  for (uint64_t s = 1; s <= 3; ++s) q.Push(MakeBatch(s));
  EXPECT_EQ(q.Stats().backlog, 3u);
  EXPECT_EQ(Take(q, kFreshOnly), "none");
  EXPECT_EQ(Take(q, kEither), "1 backlog");
}

TEST(MemoryBatchQueue, FreshBatchesGoNewestFirstWhileTheBacklogGoesOldestFirst) {
  MemoryBatchQueue q(1 << 20);
  for (uint64_t s = 1; s <= 3; ++s) q.Push(MakeBatch(s));
  q.MarkBacklog();
  q.Push(MakeBatch(4));
  q.Push(MakeBatch(5));
  EXPECT_EQ(q.Stats().backlog, 3u);
  EXPECT_EQ(Take(q, kEither), "5 fresh");
  EXPECT_EQ(Take(q, kBacklogOnly), "1 backlog");
  EXPECT_EQ(Take(q, kEither), "4 fresh");
  EXPECT_EQ(Take(q, kFreshOnly), "none");
  EXPECT_EQ(Take(q, kEither), "2 backlog");
  q.Release(7, 5);  // ACK_RETRY: still fresh
  q.Release(7, 1);  // still backlog
  EXPECT_EQ(Take(q, kFreshOnly), "5 fresh");
  EXPECT_EQ(Take(q, kBacklogOnly), "1 backlog");
  q.Ack(7, 1);
  q.Ack(7, 5);
  EXPECT_EQ(q.Stats().backlog, 2u);

  q.ReleaseAll();   // the stream broke
  q.MarkBacklog();  // the next one came up
  EXPECT_EQ(q.Stats().backlog, 3u);
  EXPECT_EQ(Take(q, kEither), "2 backlog");
  EXPECT_EQ(Take(q, kEither), "3 backlog");
  EXPECT_EQ(Take(q, kEither), "4 backlog");
  EXPECT_EQ(Take(q, kEither), "none");
}

}  // namespace
}  // namespace plumbline::agent
