#include "tools/remote_write_load.h"

#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "prompb/remote.pb.h"

namespace plumbline::load_gen {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int64_t kMinBackoffMs = 30;
constexpr int64_t kMaxBackoffMs = 5000;
constexpr int kErrorsLogged = 5;

int64_t WallMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Url {
  std::string origin;  // scheme://host:port, what httplib::Client takes
  std::string path;
};

absl::StatusOr<Url> ParseUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    return absl::InvalidArgumentError("--url " + url +
                                      ": expected http://host:port/path (e.g. "
                                      "http://127.0.0.1:9090/api/v1/write)");
  }
  const size_t path_start = url.find('/', scheme_end + 3);
  Url u;
  u.origin = url.substr(0, path_start);
  u.path = path_start == std::string::npos ? "/" : url.substr(path_start);
  if (u.origin.size() <= scheme_end + 3) {
    return absl::InvalidArgumentError("--url " + url + ": no host");
  }
  return u;
}

// One keep-alive HTTP connection to the receiver. Not thread-safe: one per
// sender thread.
class RemoteWriteClient {
 public:
  struct Answer {
    int status = 0;               // 0: no answer (connection or timeout)
    std::string error;            // transport error, or the start of the body
    int64_t retry_after_ms = -1;  // Retry-After, if given in seconds
  };

  RemoteWriteClient(const Url& url, int timeout_ms) : client_(url.origin), path_(url.path) {
    client_.set_keep_alive(true);
    // The request goes out as two writes (head, body): without this, Nagle's
    // algorithm holds the body until the server's delayed ACK.
    client_.set_tcp_nodelay(true);
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    client_.set_connection_timeout(timeout);
    client_.set_read_timeout(timeout);
    client_.set_write_timeout(timeout);
  }

  // POSTs one snappy-compressed, serialized WriteRequest.
  Answer Post(const std::string& compressed) {
    static const httplib::Headers kHeaders = {
        {"Content-Encoding", "snappy"},
        {"X-Prometheus-Remote-Write-Version", "0.1.0"},
        {"User-Agent", "plumbline-load-gen"},
    };
    Answer answer;
    httplib::Result result = client_.Post(path_, kHeaders, compressed, "application/x-protobuf");
    if (!result) {
      answer.error = httplib::to_string(result.error());
      return answer;
    }
    answer.status = result->status;
    if (answer.status < 200 || answer.status >= 300) {
      answer.error = result->body.substr(0, 300);
      const std::string retry_after = result->get_header_value("Retry-After");
      if (!retry_after.empty() &&
          std::all_of(retry_after.begin(), retry_after.end(),
                      [](unsigned char c) { return std::isdigit(c) != 0; })) {
        answer.retry_after_ms = std::stoll(retry_after.substr(0, 9)) * 1000;
      }
    }
    return answer;
  }

 private:
  httplib::Client client_;
  std::string path_;
};

// One simulated agent; guarded by RemoteWriteLoad::mu_.
struct RemoteAgent {
  std::string id;
  uint64_t index = 0;
  uint64_t produced = 0;  // batches 1..produced exist
  uint64_t next = 1;      // the next to acknowledge (or drop); sent in order
  bool busy = false;      // a sender has `next` on the wire
  bool queued = false;    // in ready_
  uint64_t Unacked() const { return produced >= next ? produced - next + 1 : 0; }
};

class RemoteWriteLoad {
 public:
  RemoteWriteLoad(const RemoteWriteLoadOptions& o, const LoadSeries& series, Url url)
      : o_(o), series_(series), url_(std::move(url)) {
    agents_.resize(static_cast<size_t>(o.agents));
    for (size_t i = 0; i < agents_.size(); ++i) {
      char id[128];
      std::snprintf(id, sizeof id, "%s-%04zu", o.prefix.c_str(), i);
      agents_[i].id = id;
      agents_[i].index = i;
    }
    // Each series' labels in the order Prometheus keeps them (by name),
    // __name__ and instance among them.
    for (const SeriesSpec& s : series_.series()) {
      std::vector<std::pair<std::string, std::string>> labels = s.labels;
      labels.emplace_back("__name__", s.name);
      labels.emplace_back("instance", "");
      std::sort(labels.begin(), labels.end());
      size_t instance = 0;
      while (labels[instance].first != "instance") ++instance;
      labels_.push_back(std::move(labels));
      instance_label_.push_back(instance);
    }
  }

  RunSummary Run(const std::atomic<bool>& stop);
  // After Run: false if a sender may still be running (the drain timed out).
  bool senders_joined() const { return senders_joined_; }

 private:
  void Sender();
  // Under mu_: puts the agent in line if it has a batch to send and no
  // sender has it. In max-rate mode produces its next batch first (unless
  // its timestamp would be ahead of the wall clock, with start_ago_ms).
  bool QueueIfReadyLocked(RemoteAgent& a, int64_t wall_ms);
  // Sends batch `sequence` of `a` until it is acknowledged, dropped, or the
  // run gives up.
  void Deliver(RemoteWriteClient& client, const RemoteAgent& a, uint64_t sequence,
               prometheus::WriteRequest& request, std::string& raw, std::string& compressed);
  void BuildRequest(const RemoteAgent& a, uint64_t sequence,
                    prometheus::WriteRequest* request) const;
  void SleepUnlessGivingUp(int64_t ms) const;

  const RemoteWriteLoadOptions o_;
  const LoadSeries& series_;
  const Url url_;
  std::vector<std::vector<std::pair<std::string, std::string>>> labels_;
  std::vector<size_t> instance_label_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RemoteAgent> agents_;  // guarded by mu_
  std::deque<size_t> ready_;         // guarded by mu_
  bool producing_ = true;            // guarded by mu_
  bool finished_ = false;            // guarded by mu_
  std::atomic<bool> giving_up_{false};
  bool senders_joined_ = false;

  std::atomic<uint64_t> requests_{0}, samples_sent_{0}, samples_acked_{0}, errors_{0}, retries_{0},
      samples_dropped_{0}, batches_acked_{0};
  std::atomic<int> errors_logged_{0};
};

bool RemoteWriteLoad::QueueIfReadyLocked(RemoteAgent& a, int64_t wall_ms) {
  if (a.busy || a.queued) return false;
  if (o_.max_rate && producing_ && a.next > a.produced &&
      (o_.start_ago_ms == 0 || series_.Timestamp(a.next) <= wall_ms)) {
    a.produced = a.next;
  }
  if (a.next > a.produced) return false;
  a.queued = true;
  ready_.push_back(a.index);
  return true;
}

void RemoteWriteLoad::BuildRequest(const RemoteAgent& a, uint64_t sequence,
                                   prometheus::WriteRequest* request) const {
  // Clear() keeps the elements for reuse: no allocation after the first few.
  request->Clear();
  const int64_t ts = series_.Timestamp(sequence);
  for (size_t k = 0; k < labels_.size(); ++k) {
    prometheus::TimeSeries* t = request->add_timeseries();
    const auto& labels = labels_[k];
    for (size_t l = 0; l < labels.size(); ++l) {
      prometheus::Label* label = t->add_labels();
      label->set_name(labels[l].first);
      label->set_value(l == instance_label_[k] ? a.id : labels[l].second);
    }
    prometheus::Sample* sample = t->add_samples();
    sample->set_value(series_.Value(a.index, k, sequence));
    sample->set_timestamp(ts);
  }
}

void RemoteWriteLoad::SleepUnlessGivingUp(int64_t ms) const {
  const auto until = Clock::now() + milliseconds(ms);
  while (!giving_up_ && Clock::now() < until) {
    std::this_thread::sleep_for(std::min<Clock::duration>(milliseconds(50), until - Clock::now()));
  }
}

void RemoteWriteLoad::Deliver(RemoteWriteClient& client, const RemoteAgent& a, uint64_t sequence,
                              prometheus::WriteRequest& request, std::string& raw,
                              std::string& compressed) {
  BuildRequest(a, sequence, &request);
  request.SerializeToString(&raw);
  snappy::Compress(raw.data(), raw.size(), &compressed);
  const auto samples = static_cast<uint64_t>(labels_.size());
  int64_t backoff_ms = kMinBackoffMs;
  while (true) {
    RemoteWriteClient::Answer answer = client.Post(compressed);
    requests_++;
    samples_sent_ += samples;
    if (answer.status >= 200 && answer.status < 300) {
      samples_acked_ += samples;
      batches_acked_++;
      return;
    }
    errors_++;
    const bool recoverable = answer.status == 0 || answer.status == 429 || answer.status >= 500;
    if (errors_logged_++ < kErrorsLogged) {
      const std::string what =
          answer.status == 0 ? "no answer" : "HTTP " + std::to_string(answer.status);
      std::fprintf(stderr, "load-gen: %s batch %llu: %s: %s%s\n", a.id.c_str(),
                   static_cast<unsigned long long>(sequence), what.c_str(), answer.error.c_str(),
                   recoverable ? " (retrying)" : " (dropped)");
    }
    if (!recoverable) {
      samples_dropped_ += samples;
      return;
    }
    if (giving_up_) return;
    retries_++;
    SleepUnlessGivingUp(answer.retry_after_ms >= 0 ? answer.retry_after_ms : backoff_ms);
    if (giving_up_) return;
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
  }
}

void RemoteWriteLoad::Sender() {
  RemoteWriteClient client(url_, o_.timeout_ms);
  prometheus::WriteRequest request;
  std::string raw, compressed;
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return finished_ || !ready_.empty(); });
    if (finished_) return;
    RemoteAgent& a = agents_[ready_.front()];
    ready_.pop_front();
    a.queued = false;
    a.busy = true;
    const uint64_t sequence = a.next;
    lock.unlock();
    Deliver(client, a, sequence, request, raw, compressed);  // id and index never change
    lock.lock();
    a.busy = false;
    if (giving_up_) continue;  // stays unacknowledged
    a.next = sequence + 1;
    QueueIfReadyLocked(a, WallMs());
  }
}

RunSummary RemoteWriteLoad::Run(const std::atomic<bool>& stop) {
  std::vector<std::thread> senders;
  senders.reserve(static_cast<size_t>(o_.connections));
  for (int i = 0; i < o_.connections; ++i) senders.emplace_back([this] { Sender(); });

  const auto t0 = Clock::now();
  const auto production_end = t0 + milliseconds(static_cast<int64_t>(o_.duration_s * 1000));
  auto next_tick = t0;
  auto next_status = t0;
  double window_s = 0;
  uint64_t acked_in_window = 0;
  bool producing = true;
  bool drained = false;
  uint64_t unacked = 0;
  while (true) {
    const auto now = Clock::now();
    const int64_t wall_ms = WallMs();
    int ticks = 0;
    if (producing && (now >= production_end || stop)) {
      producing = false;
      window_s = std::chrono::duration<double>(now - t0).count();
      acked_in_window = samples_acked_;
    } else if (producing && !o_.max_rate) {
      while (next_tick <= now) {
        ++ticks;
        next_tick += milliseconds(series_.interval_ms());
      }
    }
    uint64_t produced_total = 0;
    uint64_t oldest = UINT64_MAX;
    int64_t oldest_ts = 0;
    unacked = 0;
    {
      std::lock_guard lock(mu_);
      if (producing_ && !producing) {
        producing_ = false;
        // Max rate: what no sender has taken yet was never really produced.
        if (o_.max_rate) {
          ready_.clear();
          for (RemoteAgent& a : agents_) {
            a.queued = false;
            a.produced = a.busy ? a.next : a.next - 1;
          }
        }
      }
      bool queued = false;
      for (RemoteAgent& a : agents_) {
        a.produced += static_cast<uint64_t>(ticks);
        queued |= QueueIfReadyLocked(a, wall_ms);
        produced_total += a.produced;
        unacked += a.Unacked();
        if (a.Unacked() > 0 && a.next < oldest) {
          oldest = a.next;
          oldest_ts = series_.Timestamp(a.next);
        }
      }
      if (queued) cv_.notify_all();
    }
    if (now >= next_status) {
      next_status += milliseconds(static_cast<int64_t>(o_.status_every_s * 1000));
      std::printf(
          "status t_ms=%lld produced=%llu acked=%llu unacked=%llu oldest_unacked_age_ms=%lld "
          "errors=%llu samples_per_s_so_far=%.0f\n",
          static_cast<long long>(wall_ms), static_cast<unsigned long long>(produced_total),
          static_cast<unsigned long long>(batches_acked_.load()),
          static_cast<unsigned long long>(unacked),
          static_cast<long long>(oldest == UINT64_MAX ? 0 : wall_ms - oldest_ts),
          static_cast<unsigned long long>(errors_.load()),
          static_cast<double>(samples_acked_) /
              std::max(1e-3, std::chrono::duration<double>(now - t0).count()));
      std::fflush(stdout);
    }
    if (!producing && unacked == 0) {
      drained = true;
      break;
    }
    if (!producing &&
        now >= production_end + milliseconds(static_cast<int64_t>(o_.drain_timeout_s * 1000))) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  const auto end = Clock::now();
  giving_up_ = true;
  {
    std::lock_guard lock(mu_);
    finished_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : senders) {
    // Drained: every sender is idle. Otherwise one may wait out a request
    // timeout; the caller exits without waiting for it.
    if (drained) {
      t.join();
    } else {
      t.detach();
    }
  }
  senders_joined_ = drained;

  RunSummary s;
  s.target = "prometheus";
  s.shape = SeriesShapeName(series_.shape());
  s.agents = o_.agents;
  s.series = static_cast<int>(series_.series().size());
  s.max_rate = o_.max_rate;
  s.window_s = window_s;
  s.elapsed_s = std::chrono::duration<double>(end - t0).count();
  s.requests = requests_;
  s.samples_sent = samples_sent_;
  s.samples_acked = samples_acked_;
  s.samples_acked_in_window = acked_in_window;
  s.errors = errors_;
  s.retries = retries_;
  s.samples_dropped = samples_dropped_;
  s.samples_unacked = unacked * series_.series().size();
  s.load_gen_cpu_s = ProcessCpuSeconds();
  return s;
}

}  // namespace

absl::StatusOr<RunSummary> RunRemoteWriteLoad(const RemoteWriteLoadOptions& options,
                                              const LoadSeries& series,
                                              const std::atomic<bool>& stop) {
  absl::StatusOr<Url> url = ParseUrl(options.url);
  if (!url.ok()) return url.status();
  auto load = std::make_unique<RemoteWriteLoad>(options, series, *std::move(url));
  RunSummary summary = load->Run(stop);
  // Senders given up on may still use it: then it lives until the process exits.
  if (!load->senders_joined()) static_cast<void>(load.release());
  return summary;
}

}  // namespace plumbline::load_gen
