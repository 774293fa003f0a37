// The shipper's in-flight window, shared by the two lanes of BatchQueue
// (fresh: pushed since the stream came up; backlog: queued before).
//
//   - Fresh batches may take any free slot, so a new measurement goes out at
//     once even while a backlog is being replayed.
//   - Backlog batches take at most backlog_slots() of the window: a quarter
//     of it (at least one slot once the window has two) stays free for fresh
//     batches.
//   - Backlog sends are paced to replay_batches_per_second: a token bucket
//     that holds one second's worth (at least one token) and starts full, so
//     a replay begins with a burst of that many and then goes at the rate.
//     0 means no limit. Resends of backlog batches count as sends.
//
// Time is passed in, so tests need no clock and no sleeps. Not thread-safe:
// the shipper holds its session mutex around every call.
#pragma once

#include <chrono>

#include "agent/batch_queue.h"

namespace plumbline::agent {

class SendWindow {
 public:
  using Clock = std::chrono::steady_clock;

  // `max_in_flight` >= 1; `replay_batches_per_second` >= 0 (0: unpaced).
  SendWindow(int max_in_flight, double replay_batches_per_second, Clock::time_point now);

  // The lanes a batch may be taken from at `now`.
  SendLanes Open(Clock::time_point now) const;
  // When the backlog lane has a token again: `now` if it has one (or the
  // replay is unpaced), else the moment the bucket refills to one.
  Clock::time_point NextReplayAt(Clock::time_point now) const;
  // A batch of `lane` was sent at `now`; takes a slot (and a token for the backlog).
  void Sent(SendLane lane, Clock::time_point now);
  // A batch of `lane` left the window (acknowledged, told to retry, or the
  // stream ended); frees its slot.
  void Done(SendLane lane);

  bool full() const { return in_flight_ >= max_in_flight_; }
  int in_flight() const { return in_flight_; }
  int backlog_in_flight() const { return backlog_in_flight_; }
  int backlog_slots() const { return backlog_slots_; }

 private:
  // The bucket as a schedule (GCRA), in exact integer time: each backlog
  // send moves paid_until_ one spacing_ on from max(paid_until_, now); a
  // send is due when paid_until_ is at most burst_ - 1 spacings ahead of now.
  const int max_in_flight_;
  const int backlog_slots_;
  const bool paced_;
  const Clock::duration spacing_;    // 1 / rate
  const Clock::duration tolerance_;  // (burst - 1) * spacing_
  Clock::time_point paid_until_;
  int in_flight_ = 0;
  int backlog_in_flight_ = 0;
};

}  // namespace plumbline::agent
