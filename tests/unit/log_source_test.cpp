// LogSource on real files: rotation by rename and by copytruncate, resuming
// after a restart, garbage, over-long lines and the per-interval read cap.
// Every test checks exact request counts: nothing lost, nothing twice.
#include "agent/sources/log_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace plumbline::agent {
namespace {

namespace fs = std::filesystem;

std::string Line(int i, int status = 200, const char* method = "GET", const char* time = "0.100") {
  return "10.0.0." + std::to_string(i % 250) + " - - [10/Oct/2023:13:55:36 +0200] \"" + method +
         " /item/" + std::to_string(i) + " HTTP/1.1\" " + std::to_string(status) +
         " 100 \"-\" \"test-agent\" " + time + "\n";
}

std::string Label(const v1::Series& s, const std::string& name) {
  for (const auto& l : s.labels()) {
    if (l.name() == name) return l.value();
  }
  return "";
}

class LogSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("plumbline_log_source_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "state");
    path_ = (dir_ / "access.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  SourceContext Context() {
    SourceContext c;
    c.state_dir = (dir_ / "state").string();
    c.counters = &counters_;
    c.clock = &clock_;
    return c;
  }

  LogSourceOptions Options(bool start_at_end = false) {
    LogSourceOptions o;
    AccessLogOptions log;
    log.name = "web";
    log.path = path_;
    log.format = "combined_request_time";
    log.buckets = {0.05, 0.2, 1};
    o.logs.push_back(log);
    o.start_at_end = start_at_end;
    return o;
  }

  std::unique_ptr<LogSource> Make(LogSourceOptions options) {
    auto source = std::make_unique<LogSource>(Context(), std::move(options));
    EXPECT_TRUE(source->Start().ok());
    return source;
  }

  void Append(const std::string& text) { Append(path_, text); }
  static void Append(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::app | std::ios::binary) << text;
  }
  void AppendLines(int from, int to) {
    std::string text;
    for (int i = from; i < to; ++i) text += Line(i);
    Append(text);
  }

  v1::Batch Collect(LogSource& source) {
    v1::Batch batch;
    MetricWriter writer(&batch, nullptr, 1);
    EXPECT_TRUE(source.Collect(writer).ok());
    return batch;
  }

  // Sum of http_requests_total over every label set.
  static double Requests(const v1::Batch& b) {
    double total = 0;
    for (const auto& s : b.series()) {
      if (s.name() == "http_requests_total") total += s.points(0).number();
    }
    return total;
  }
  static double Requests(const v1::Batch& b, const std::string& status_class,
                         const std::string& method) {
    for (const auto& s : b.series()) {
      if (s.name() == "http_requests_total" && Label(s, "status_class") == status_class &&
          Label(s, "method") == method) {
        return s.points(0).number();
      }
    }
    return 0;
  }
  static double Value(const v1::Batch& b, const std::string& name) {
    for (const auto& s : b.series()) {
      if (s.name() == name) return s.points(0).number();
    }
    return -1;
  }

  fs::path dir_;
  std::string path_;
  Counters counters_;
  FakeClock clock_{1700000000000};
};

TEST_F(LogSourceTest, CountsRequestsBytesAndLatencyBuckets) {
  Append(Line(1, 200, "GET", "0.010") + Line(2, 200, "GET", "0.050") +
         Line(3, 503, "POST", "0.300") + Line(4, 404, "GET", "2.5") + Line(5, 200, "PUT", "-"));
  auto source = Make(Options());
  v1::Batch b = Collect(*source);
  EXPECT_EQ(Requests(b), 5);
  EXPECT_EQ(Requests(b, "2xx", "GET"), 2);
  EXPECT_EQ(Requests(b, "5xx", "POST"), 1);
  EXPECT_EQ(Requests(b, "4xx", "GET"), 1);
  EXPECT_EQ(Requests(b, "2xx", "PUT"), 1);
  EXPECT_EQ(Value(b, "http_response_bytes_total"), 500);
  const v1::Series* h = nullptr;
  for (const auto& s : b.series()) {
    if (s.name() == "http_request_duration_seconds") h = &s;
  }
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->type(), v1::METRIC_TYPE_HISTOGRAM);
  EXPECT_EQ(Label(*h, "log"), "web");
  const v1::Histogram& hist = h->points(0).histogram();
  ASSERT_EQ(hist.bounds_size(), 3);
  // le 0.05: 0.010 and 0.050; le 0.2: none; le 1: 0.3; +Inf: 2.5. "-" is not observed.
  EXPECT_EQ(std::vector<uint64_t>(hist.bucket_counts().begin(), hist.bucket_counts().end()),
            (std::vector<uint64_t>{2, 0, 1, 1}));
  EXPECT_EQ(hist.count(), 4u);
  EXPECT_DOUBLE_EQ(hist.sum(), 0.010 + 0.050 + 0.300 + 2.5);

  // Cumulative: the next interval adds to the same counters.
  Append(Line(6, 200, "GET", "0.010"));
  v1::Batch next = Collect(*source);
  EXPECT_EQ(Requests(next, "2xx", "GET"), 3);
  EXPECT_EQ(Requests(next), 6);
}

TEST_F(LogSourceTest, ANewFileStartsAtItsEndByDefaultSkippingAPartialLine) {
  AppendLines(0, 10);
  Append("10.0.0.1 - - [10/Oct/2023:13:55:36 +0200] \"GET /half");  // being written
  auto source = Make(Options(/*start_at_end=*/true));
  EXPECT_EQ(Requests(Collect(*source)), 0);
  Append(" HTTP/1.1\" 200 1 \"-\" \"-\" 0.1\n");  // the rest of the half line
  AppendLines(10, 13);
  v1::Batch b = Collect(*source);
  EXPECT_EQ(Requests(b), 3);
  EXPECT_EQ(Value(b, "http_log_parse_errors_total"), 0);
}

TEST_F(LogSourceTest, AnIncompleteLineWaitsForItsNewline) {
  auto source = Make(Options());
  std::string line = Line(1);
  Append(line.substr(0, 30));
  EXPECT_EQ(Requests(Collect(*source)), 0);
  Append(line.substr(30));
  EXPECT_EQ(Requests(Collect(*source)), 1);
}

TEST_F(LogSourceTest, AFileThatAppearsLaterIsReadFromItsBeginning) {
  auto source = Make(Options(/*start_at_end=*/true));
  EXPECT_EQ(Requests(Collect(*source)), 0);
  // Created after the source started: every line in it is new, even with
  // start_at: end.
  AppendLines(0, 2);
  EXPECT_EQ(Requests(Collect(*source)), 2);
  AppendLines(2, 5);
  EXPECT_EQ(Requests(Collect(*source)), 5);
}

TEST_F(LogSourceTest, RenameRotationLosesNothingAndCountsNothingTwice) {
  AppendLines(0, 3);
  auto source = Make(Options());
  EXPECT_EQ(Requests(Collect(*source)), 3);

  // The server is still writing to the old file when logrotate renames it.
  std::ofstream writer(path_, std::ios::app | std::ios::binary);
  writer << Line(3) << Line(4);
  writer.flush();
  fs::rename(path_, path_ + ".1");
  writer << Line(5);  // still into access.log.1
  writer.flush();
  AppendLines(100, 104);  // the new access.log
  EXPECT_EQ(Requests(Collect(*source)), 3 + 3 + 4);

  // Written late into the rotated file (the server had not reopened yet).
  writer << Line(6);
  writer.close();
  AppendLines(104, 105);
  EXPECT_EQ(Requests(Collect(*source)), 12);
  EXPECT_EQ(Requests(Collect(*source)), 12);  // the old file is closed now

  // And a second rotation works the same way.
  fs::rename(path_, path_ + ".2");
  AppendLines(200, 202);
  EXPECT_EQ(Requests(Collect(*source)), 14);
}

TEST_F(LogSourceTest, CopytruncateRestartsAtTheBeginning) {
  AppendLines(0, 5);
  auto source = Make(Options());
  EXPECT_EQ(Requests(Collect(*source)), 5);
  fs::copy_file(path_, path_ + ".1");
  fs::resize_file(path_, 0);
  AppendLines(5, 7);  // shorter than before
  EXPECT_EQ(Requests(Collect(*source)), 7);

  // Truncated and then written past the old offset before the next look:
  // the changed first bytes give it away.
  fs::resize_file(path_, 0);
  AppendLines(1000, 1010);
  EXPECT_EQ(Requests(Collect(*source)), 17);
  AppendLines(1010, 1011);
  EXPECT_EQ(Requests(Collect(*source)), 18);
}

TEST_F(LogSourceTest, ResumesFromTheSavedPositionAfterARestart) {
  AppendLines(0, 5);
  Append(Line(5).substr(0, 20));  // half a line when the agent stops
  {
    auto source = Make(Options());
    EXPECT_EQ(Requests(Collect(*source)), 5);
    source->Stop();
  }
  for (const auto& entry : fs::directory_iterator(dir_ / "state")) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
  Append(Line(5).substr(20));
  AppendLines(6, 9);
  auto restarted = Make(Options(/*start_at_end=*/true));
  // Counters start from zero in the new process; the lines are exactly the
  // ones written since: the completed half line and three more.
  EXPECT_EQ(Requests(Collect(*restarted)), 4);
}

TEST_F(LogSourceTest, AFileRotatedWhileTheAgentWasDownIsReadWhole) {
  AppendLines(0, 5);
  {
    auto source = Make(Options());
    EXPECT_EQ(Requests(Collect(*source)), 5);
  }
  fs::rename(path_, path_ + ".1");
  AppendLines(10, 12);
  auto restarted = Make(Options(/*start_at_end=*/true));
  EXPECT_EQ(Requests(Collect(*restarted)), 2);
}

TEST_F(LogSourceTest, AFileTruncatedWhileTheAgentWasDownIsReadWhole) {
  AppendLines(0, 5);
  {
    auto source = Make(Options());
    EXPECT_EQ(Requests(Collect(*source)), 5);
  }
  fs::resize_file(path_, 0);
  AppendLines(20, 30);  // longer than before: only the fingerprint tells
  auto restarted = Make(Options(/*start_at_end=*/true));
  EXPECT_EQ(Requests(Collect(*restarted)), 10);
}

TEST_F(LogSourceTest, GarbageAndOverlongLinesAreCountedAndSkipped) {
  LogSourceOptions options = Options();
  options.max_line_bytes = 1024;
  auto source = Make(options);
  Append(Line(1) + "garbage\n" + std::string(5000, 'x') + "\n" + Line(2) + "\n\r\n" +
         std::string("\x00\xff\x01 binary\n", 11) + Line(3));
  v1::Batch b = Collect(*source);
  EXPECT_EQ(Requests(b), 3);
  EXPECT_EQ(Value(b, "http_log_parse_errors_total"), 3);
  EXPECT_EQ(counters_.Get("plumbline_agent_parse_errors_total", {{"source", "log"}}), 3);

  // An over-long line still being written is dropped without buffering it.
  Append(std::string(3000, 'y'));
  EXPECT_EQ(Requests(Collect(*source)), 3);
  Append(std::string(3000, 'y') + "\n" + Line(4));
  v1::Batch after = Collect(*source);
  EXPECT_EQ(Requests(after), 4);
  EXPECT_EQ(Value(after, "http_log_parse_errors_total"), 4);
}

TEST_F(LogSourceTest, ABacklogIsReadInSlicesOfMaxReadBytes) {
  for (int chunk = 0; chunk < 10; ++chunk) AppendLines(chunk * 100, chunk * 100 + 100);
  LogSourceOptions options = Options();
  options.max_read_bytes = 8 << 10;
  auto source = Make(options);
  double first = Requests(Collect(*source));
  EXPECT_GT(first, 0);
  EXPECT_LT(first, 1000);
  double total = first;
  for (int i = 0; i < 100 && total < 1000; ++i) total = Requests(Collect(*source));
  EXPECT_EQ(total, 1000);
}

TEST_F(LogSourceTest, PositionIsSavedAsAFile) {
  AppendLines(0, 2);
  auto source = Make(Options());
  Collect(*source);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "state")) {
    ++files;
    EXPECT_EQ(entry.path().extension(), ".pos");
  }
  EXPECT_EQ(files, 1);
}

TEST_F(LogSourceTest, ACorruptPositionFileIsIgnored) {
  AppendLines(0, 3);
  {
    auto source = Make(Options());
    Collect(*source);
  }
  for (const auto& entry : fs::directory_iterator(dir_ / "state")) {
    std::ofstream(entry.path()) << "garbage";
  }
  AppendLines(3, 5);
  auto restarted = Make(Options(/*start_at_end=*/false));
  // No usable position: start_at beginning reads the whole file.
  EXPECT_EQ(Requests(Collect(*restarted)), 5);
}

TEST_F(LogSourceTest, BadFormatFailsStart) {
  LogSourceOptions options = Options();
  options.logs[0].format = "$remote_addr";
  LogSource source(Context(), options);
  EXPECT_EQ(source.Start().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace plumbline::agent
