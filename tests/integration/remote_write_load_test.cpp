// plumbline-load-gen's Prometheus remote-write sender against a receiver in
// the test's own thread (cpp-httplib): what goes on the wire, in which
// order, and what a refusal does.
#include "tools/remote_write_load.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <snappy.h>

#include <map>
#include <mutex>
#include <thread>

#include "prompb/remote.pb.h"

namespace plumbline::load_gen {
namespace {

using std::chrono::milliseconds;

// A remote-write receiver on a free loopback port. Answers each request
// with the next of `statuses`, then 204; keeps what it acknowledged.
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses) : statuses_(std::move(statuses)) {
    server_.Post("/api/v1/write", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      headers_ok_ &= req.get_header_value("Content-Encoding") == "snappy" &&
                     req.get_header_value("Content-Type") == "application/x-protobuf" &&
                     req.get_header_value("X-Prometheus-Remote-Write-Version") == "0.1.0";
      res.status = next_ < statuses_.size() ? statuses_[next_++] : 204;
      if (res.status != 204) return;
      std::string raw;
      prometheus::WriteRequest request;
      if (!snappy::Uncompress(req.body.data(), req.body.size(), &raw) ||
          !request.ParseFromString(raw)) {
        res.status = 400;
        return;
      }
      for (const prometheus::TimeSeries& ts : request.timeseries()) {
        std::string key, instance;
        for (const prometheus::Label& l : ts.labels()) {
          key += l.name() + "=" + l.value() + ",";
          if (l.name() == "instance") instance = l.value();
        }
        for (const prometheus::Sample& s : ts.samples()) {
          samples_[key].emplace_back(s.timestamp(), s.value());
        }
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(milliseconds(2));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/write"; }
  std::map<std::string, std::vector<std::pair<int64_t, double>>> samples() {
    std::lock_guard lock(mu_);
    return samples_;
  }
  bool headers_ok() {
    std::lock_guard lock(mu_);
    return headers_ok_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> statuses_;
  size_t next_ = 0;
  bool headers_ok_ = true;
  std::map<std::string, std::vector<std::pair<int64_t, double>>> samples_;
};

constexpr int64_t kFirstTs = 1'700'000'000'000;

TEST(RemoteWriteLoad, SendsEveryAgentsBatchesInOrderAndRetriesAServerError) {
  Receiver receiver({503});
  LoadSeries series(SeriesShape::kSequence, 2, kFirstTs, 100);
  RemoteWriteLoadOptions o;
  o.url = receiver.url();
  o.agents = 3;
  o.connections = 2;
  o.duration_s = 0.45;
  std::atomic<bool> stop{false};
  absl::StatusOr<RunSummary> summary = RunRemoteWriteLoad(o, series, stop);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(receiver.headers_ok());
  EXPECT_EQ(summary->target, "prometheus");
  EXPECT_EQ(summary->errors, 1u);
  EXPECT_EQ(summary->retries, 1u);
  EXPECT_EQ(summary->samples_dropped, 0u);
  EXPECT_EQ(summary->samples_unacked, 0u);

  auto samples = receiver.samples();
  ASSERT_EQ(samples.size(), 6u);  // 3 agents x 2 series
  const auto& first = samples["__name__=load_sample,instance=load-0000,series=0,"];
  // A batch every 100 ms for 0.45 s: 5, or fewer if the test machine
  // starves the producer past the end of the window.
  ASSERT_GE(first.size(), 2u);
  uint64_t total = 0;
  for (const auto& [key, points] : samples) {
    EXPECT_EQ(points.size(), first.size()) << key;
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(points[i].first, kFirstTs + static_cast<int64_t>(i) * 100) << key;
      EXPECT_EQ(points[i].second, static_cast<double>(i + 1)) << key;
    }
    total += points.size();
  }
  EXPECT_EQ(summary->samples_acked, total);
  EXPECT_EQ(summary->samples_sent, total + 2);  // the refused batch, sent again
}

TEST(RemoteWriteLoad, DropsABatchTheServerRefusesForGood) {
  Receiver receiver({400});
  LoadSeries series(SeriesShape::kSequence, 5, kFirstTs, 1000);
  RemoteWriteLoadOptions o;
  o.url = receiver.url();
  o.agents = 1;
  o.connections = 1;
  o.duration_s = 0.2;
  std::atomic<bool> stop{false};
  absl::StatusOr<RunSummary> summary = RunRemoteWriteLoad(o, series, stop);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->errors, 1u);
  EXPECT_EQ(summary->retries, 0u);
  EXPECT_EQ(summary->samples_dropped, 5u);
  EXPECT_EQ(summary->samples_acked, 0u);
  EXPECT_TRUE(receiver.samples().empty());
}

TEST(RemoteWriteLoad, MaxRateNeverSendsATimestampAheadOfTheClock) {
  Receiver receiver({});
  const int64_t now_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  // 5 s back at 1 s per batch: 6 batches up to now, a 7th once the clock
  // reaches its timestamp, however fast the server is.
  LoadSeries series(SeriesShape::kSequence, 1, now_ms - 5000, 1000);
  RemoteWriteLoadOptions o;
  o.url = receiver.url();
  o.agents = 2;
  o.max_rate = true;
  o.start_ago_ms = 5000;
  o.duration_s = 0.9;
  std::atomic<bool> stop{false};
  absl::StatusOr<RunSummary> summary = RunRemoteWriteLoad(o, series, stop);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GE(summary->samples_acked, 2u * 6);
  EXPECT_LE(summary->samples_acked, 2u * 7);
}

TEST(RemoteWriteLoad, RefusesAUrlThatIsNotHttp) {
  LoadSeries series(SeriesShape::kSequence, 1, kFirstTs, 1000);
  RemoteWriteLoadOptions o;
  o.url = "127.0.0.1:9090/api/v1/write";
  std::atomic<bool> stop{false};
  EXPECT_FALSE(RunRemoteWriteLoad(o, series, stop).ok());
}

}  // namespace
}  // namespace plumbline::load_gen
