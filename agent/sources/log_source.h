// Web access logs (nginx, Apache): tails each configured file and derives
// request counts by status class and method, response bytes and a latency
// histogram.
//
// Following a file: rotation by rename is noticed when the path names a new
// inode; the old file is read to its end (and for one more interval, for
// writers that reopen late) before it is closed. Rotation by copytruncate is
// noticed when the file is shorter than the read offset or its first bytes
// changed; reading restarts at 0. The read position (device, inode, offset
// and a fingerprint of the first bytes) is saved atomically in state_dir
// after every interval, so an agent restart resumes where it stopped, neither
// losing nor counting lines twice. Each interval reads at most
// max_read_bytes per file, so a huge backlog is worked off over several
// intervals instead of stalling the loop.
//
// Counters are cumulative from the source's start; unparsable or over-long
// lines are skipped and counted (plumbline_agent_parse_errors_total
// {source="log"} and http_log_parse_errors_total{log=...}), with at most one
// log line per file per minute.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/access_log_parser.h"
#include "agent/sources/source.h"
#include "common/yaml_config.h"

namespace plumbline::agent {

struct AccessLogOptions {
  std::string name;  // the `log` label; also names the saved position
  std::string path;
  std::string format = "combined";  // see AccessLogFormat::Parse
  // Upper bounds (seconds) of the latency histogram buckets, ascending.
  std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
};

struct LogSourceOptions {
  std::vector<AccessLogOptions> logs;
  uint64_t max_read_bytes = 8 << 20;   // per file and interval
  uint64_t max_line_bytes = 16 << 10;  // longer lines are skipped as errors
  // Where to start in a file never seen before (no saved position): at its
  // end (only new requests count) or at its beginning.
  bool start_at_end = true;
};

// Reads the `sources.access_logs` section: `logs:` is a list of {name, path,
// format, buckets}; `max_read_bytes`, `max_line_bytes`, `start_at` (end or
// beginning) apply to all.
void ParseLogSourceOptions(ConfigMap section, LogSourceOptions* out);

class LogSource final : public Source {
 public:
  LogSource(SourceContext context, LogSourceOptions options);
  ~LogSource() override;
  std::string_view name() const override { return "log"; }
  // Checks the formats; files that do not exist yet are waited for.
  absl::Status Start() override;
  absl::Status Collect(MetricWriter& out) override;
  // Saves every file's position and closes the files.
  void Stop() override;

  struct Log;  // one followed file and its counts

 private:
  SourceContext context_;
  LogSourceOptions options_;
  std::vector<std::unique_ptr<Log>> logs_;
};

}  // namespace plumbline::agent
