#include "agent/send_window.h"

#include <algorithm>
#include <cmath>

namespace plumbline::agent {

namespace {

// Slots the backlog may take: all but a quarter of the window, and never the
// last free one once the window has two.
int BacklogSlots(int max_in_flight) {
  if (max_in_flight < 2) return max_in_flight;
  return max_in_flight - std::max(1, max_in_flight / 4);
}

SendWindow::Clock::duration Spacing(double rate) {
  if (rate <= 0) return SendWindow::Clock::duration::zero();
  return std::chrono::duration_cast<SendWindow::Clock::duration>(
      std::chrono::duration<double>(1.0 / rate));
}

// Sends the full bucket allows at once: one second's worth, at least one.
int64_t Burst(double rate) { return std::max<int64_t>(1, static_cast<int64_t>(std::floor(rate))); }

}  // namespace

SendWindow::SendWindow(int max_in_flight, double replay_batches_per_second, Clock::time_point now)
    : max_in_flight_(std::max(1, max_in_flight)),
      backlog_slots_(BacklogSlots(std::max(1, max_in_flight))),
      paced_(replay_batches_per_second > 0),
      spacing_(Spacing(replay_batches_per_second)),
      tolerance_(spacing_ * (Burst(replay_batches_per_second) - 1)),
      paid_until_(now) {}

SendLanes SendWindow::Open(Clock::time_point now) const {
  SendLanes lanes;
  lanes.fresh = !full();
  lanes.backlog = !full() && backlog_in_flight_ < backlog_slots_ && NextReplayAt(now) <= now;
  return lanes;
}

SendWindow::Clock::time_point SendWindow::NextReplayAt(Clock::time_point now) const {
  if (!paced_) return now;
  return std::max(now, paid_until_ - tolerance_);
}

void SendWindow::Sent(SendLane lane, Clock::time_point now) {
  ++in_flight_;
  if (lane != SendLane::kBacklog) return;
  ++backlog_in_flight_;
  if (paced_) paid_until_ = std::max(paid_until_, now) + spacing_;
}

void SendWindow::Done(SendLane lane) {
  in_flight_ = std::max(0, in_flight_ - 1);
  if (lane == SendLane::kBacklog) backlog_in_flight_ = std::max(0, backlog_in_flight_ - 1);
}

}  // namespace plumbline::agent
