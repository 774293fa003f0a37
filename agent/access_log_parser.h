// Web server access log lines (nginx and Apache) parsed by a format: the
// combined format, combined with a request time at the end, or a custom
// format string. Pure functions of their input; never throw or crash on
// garbage, which gives an InvalidArgument error saying what did not match.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace plumbline::agent {

// What the agent derives from one request.
struct AccessLogRecord {
  // GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE, or OTHER
  // for anything else (so hostile requests cannot grow the label set).
  // Points to static storage.
  std::string_view method = "OTHER";
  int status = 0;                              // 100..599
  uint64_t bytes = 0;                          // response body bytes ("-" counts as 0)
  std::optional<double> request_time_seconds;  // when the format has one and it is not "-"
};

// "2xx" for 200..299 and so on.
std::string_view StatusClass(int status);

class AccessLogFormat {
 public:
  // `spec` is one of
  //   combined                 nginx/Apache combined
  //   combined_request_time    combined + " $request_time" (seconds, nginx)
  //   combined_request_time_us combined + " %D" (microseconds, Apache)
  // or a custom format: nginx variables ("$status", "${request_time}") or
  // Apache directives ("%>s", "%D"). Understood: $request / %r,
  // $request_method / %m, $status / %s / %>s, $body_bytes_sent / %b / %B,
  // $bytes_sent / %O, $request_time / %T (seconds), %{ms}T, $request_time_us
  // / %D / %{us}T (microseconds); any other variable or directive matches
  // whatever stands there. The format must contain a status, and two fields
  // must be separated by literal text.
  static absl::StatusOr<AccessLogFormat> Parse(std::string_view spec);

  // Parses one line (without its newline). Text after the end of the format
  // is ignored if it starts with a space, so extra fields appended to a
  // known format do no harm; a request time missing at the very end of a
  // line is simply absent.
  absl::StatusOr<AccessLogRecord> ParseLine(std::string_view line) const;

  // True if lines carry a request time (a latency histogram makes sense).
  bool has_request_time() const { return has_request_time_; }

  enum class Field {
    kOther,
    kRequest,
    kMethod,
    kStatus,
    kBodyBytes,
    kBytesSent,
    kSeconds,
    kMilliseconds,
    kMicroseconds
  };

 private:
  struct Element {
    bool literal = true;
    std::string text;  // literal text
    Field field = Field::kOther;
  };
  std::vector<Element> elements_;
  bool has_request_time_ = false;
};

}  // namespace plumbline::agent
