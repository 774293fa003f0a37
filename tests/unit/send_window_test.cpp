#include "agent/send_window.h"

#include <gtest/gtest.h>

namespace plumbline::agent {
namespace {

using namespace std::chrono_literals;
using Clock = SendWindow::Clock;

const Clock::time_point kT0{std::chrono::hours(1000)};

TEST(SendWindow, FreshBatchesMayTakeEverySlotTheBacklogThreeQuarters) {
  SendWindow window(8, 0, kT0);  // unpaced: only slots limit the backlog
  ASSERT_EQ(window.backlog_slots(), 6);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(window.Open(kT0).backlog) << i;
    window.Sent(SendLane::kBacklog, kT0);
  }
  SendLanes lanes = window.Open(kT0);
  EXPECT_TRUE(lanes.fresh);
  EXPECT_FALSE(lanes.backlog) << "two slots stay free for fresh batches";
  window.Sent(SendLane::kFresh, kT0);
  window.Sent(SendLane::kFresh, kT0);
  EXPECT_TRUE(window.full());
  lanes = window.Open(kT0);
  EXPECT_FALSE(lanes.fresh);
  EXPECT_FALSE(lanes.backlog);

  window.Done(SendLane::kFresh);
  lanes = window.Open(kT0);
  EXPECT_TRUE(lanes.fresh);
  EXPECT_FALSE(lanes.backlog) << "a fresh slot freed is not the backlog's";
  window.Done(SendLane::kBacklog);
  EXPECT_TRUE(window.Open(kT0).backlog);
  EXPECT_EQ(window.in_flight(), 6);
  EXPECT_EQ(window.backlog_in_flight(), 5);
}

TEST(SendWindow, FreshBatchesAloneMayFillTheWholeWindow) {
  SendWindow window(4, 0, kT0);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(window.Open(kT0).fresh) << i;
    window.Sent(SendLane::kFresh, kT0);
  }
  EXPECT_TRUE(window.full());
}

TEST(SendWindow, AQuarterOfTheWindowAndAtLeastOneSlotIsKeptForFreshData) {
  EXPECT_EQ(SendWindow(1, 0, kT0).backlog_slots(), 1) << "one slot: shared, fresh first";
  EXPECT_EQ(SendWindow(2, 0, kT0).backlog_slots(), 1);
  EXPECT_EQ(SendWindow(3, 0, kT0).backlog_slots(), 2);
  EXPECT_EQ(SendWindow(4, 0, kT0).backlog_slots(), 3);
  EXPECT_EQ(SendWindow(32, 0, kT0).backlog_slots(), 24);
  EXPECT_EQ(SendWindow(1024, 0, kT0).backlog_slots(), 768);
}

TEST(SendWindow, TheBacklogStartsWithOneSecondsWorthThenGoesAtTheRate) {
  SendWindow window(32, 4, kT0);  // 4 a second: one every 250 ms after a burst of 4
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(window.Open(kT0).backlog) << i;
    window.Sent(SendLane::kBacklog, kT0);
    window.Done(SendLane::kBacklog);  // acknowledged at once: slots are not what limits
  }
  EXPECT_FALSE(window.Open(kT0).backlog);
  EXPECT_TRUE(window.Open(kT0).fresh) << "fresh batches are never paced";
  EXPECT_EQ(window.NextReplayAt(kT0), kT0 + 250ms);
  EXPECT_FALSE(window.Open(kT0 + 249ms).backlog);
  EXPECT_TRUE(window.Open(kT0 + 250ms).backlog);

  // Sending whenever allowed, every millisecond for 10 s: the burst of 4,
  // then one at each 250 ms step up to and including +10 s.
  int sent = 4;
  for (auto t = kT0; t <= kT0 + 10s; t += 1ms) {
    if (!window.Open(t).backlog) continue;
    window.Sent(SendLane::kBacklog, t);
    window.Done(SendLane::kBacklog);
    ++sent;
  }
  EXPECT_EQ(sent, 4 + 40);
}

TEST(SendWindow, AnIdleBacklogLaneRefillsToOneSecondsWorthNoMore) {
  SendWindow window(32, 2, kT0);
  for (int i = 0; i < 2; ++i) window.Sent(SendLane::kBacklog, kT0);
  EXPECT_EQ(window.NextReplayAt(kT0), kT0 + 500ms);
  // An hour later: two at once (the bucket holds two), then 500 ms apart.
  const auto later = kT0 + 1h;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(window.Open(later).backlog) << i;
    window.Sent(SendLane::kBacklog, later);
  }
  EXPECT_FALSE(window.Open(later).backlog);
  EXPECT_EQ(window.NextReplayAt(later), later + 500ms);
}

TEST(SendWindow, ARateBelowOnePerSecondSpacesSingleSends) {
  SendWindow window(32, 0.5, kT0);
  ASSERT_TRUE(window.Open(kT0).backlog);
  window.Sent(SendLane::kBacklog, kT0);
  EXPECT_EQ(window.NextReplayAt(kT0), kT0 + 2s);
  EXPECT_FALSE(window.Open(kT0 + 1999ms).backlog);
  EXPECT_TRUE(window.Open(kT0 + 2s).backlog);
}

TEST(SendWindow, ZeroMeansTheReplayIsNotPaced) {
  SendWindow window(1000, 0, kT0);
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(window.Open(kT0).backlog) << i;
    window.Sent(SendLane::kBacklog, kT0);
  }
  EXPECT_EQ(window.NextReplayAt(kT0), kT0);
}

}  // namespace
}  // namespace plumbline::agent
