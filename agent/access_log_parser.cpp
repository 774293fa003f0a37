#include "agent/access_log_parser.h"

#include <charconv>
#include <cmath>

namespace plumbline::agent {

namespace {

using Field = AccessLogFormat::Field;

constexpr std::string_view kCombined =
    R"($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent )"
    R"("$http_referer" "$http_user_agent")";

constexpr std::string_view kMethods[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                         "PATCH", "OPTIONS", "CONNECT", "TRACE"};

std::string_view NormalizeMethod(std::string_view m) {
  for (std::string_view known : kMethods) {
    if (m == known) return known;
  }
  return "OTHER";
}

// A piece of a line for an error message: printable, at most 40 bytes.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 40; ++i) {
    char c = s[i];
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  if (s.size() > 40) out += "...";
  out += "\"";
  return out;
}

Field NginxField(std::string_view name) {
  if (name == "request") return Field::kRequest;
  if (name == "request_method") return Field::kMethod;
  if (name == "status") return Field::kStatus;
  if (name == "body_bytes_sent") return Field::kBodyBytes;
  if (name == "bytes_sent") return Field::kBytesSent;
  if (name == "request_time") return Field::kSeconds;
  if (name == "request_time_ms") return Field::kMilliseconds;
  if (name == "request_time_us") return Field::kMicroseconds;
  return Field::kOther;
}

Field ApacheField(char directive, std::string_view argument) {
  switch (directive) {
    case 'r':
      return Field::kRequest;
    case 'm':
      return Field::kMethod;
    case 's':
      return Field::kStatus;
    case 'b':
    case 'B':
      return Field::kBodyBytes;
    case 'O':
      return Field::kBytesSent;
    case 'D':
      return Field::kMicroseconds;
    case 'T':
      if (argument == "ms") return Field::kMilliseconds;
      if (argument == "us") return Field::kMicroseconds;
      return Field::kSeconds;
    default:
      return Field::kOther;
  }
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsTime(Field f) {
  return f == Field::kSeconds || f == Field::kMilliseconds || f == Field::kMicroseconds;
}

// Finds `needle` at or after `from`, stepping over backslash escapes (\" in
// Apache logs, \x22 in nginx logs) so an escaped quote never ends a field.
size_t FindUnescaped(std::string_view line, size_t from, std::string_view needle) {
  for (size_t j = from; j < line.size(); ++j) {
    if (line[j] == '\\') {
      ++j;
      continue;
    }
    if (line.compare(j, needle.size(), needle) == 0) return j;
  }
  return std::string_view::npos;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

bool ParseSeconds(std::string_view s, double divisor, double* out) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return false;
  *out = v / divisor;
  return true;
}

}  // namespace

std::string_view StatusClass(int status) {
  switch (status / 100) {
    case 1:
      return "1xx";
    case 2:
      return "2xx";
    case 3:
      return "3xx";
    case 4:
      return "4xx";
    case 5:
      return "5xx";
    default:
      return "other";
  }
}

absl::StatusOr<AccessLogFormat> AccessLogFormat::Parse(std::string_view spec) {
  std::string expanded;
  if (spec == "combined") {
    expanded = std::string(kCombined);
  } else if (spec == "combined_request_time") {
    expanded = StrCat(kCombined, " $request_time");
  } else if (spec == "combined_request_time_us") {
    expanded = StrCat(kCombined, " $request_time_us");
  } else {
    expanded = std::string(spec);
  }
  std::string_view s = expanded;
  AccessLogFormat format;
  auto add_literal = [&](char c) {
    if (format.elements_.empty() || !format.elements_.back().literal) {
      format.elements_.push_back(Element{});
    }
    format.elements_.back().text.push_back(c);
  };
  auto add_field = [&](Field f, std::string_view token) -> absl::Status {
    if (!format.elements_.empty() && !format.elements_.back().literal) {
      return absl::InvalidArgumentError(
          StrCat("format: field ", token, " needs text between it and the field before"));
    }
    Element e;
    e.literal = false;
    e.field = f;
    format.elements_.push_back(std::move(e));
    if (IsTime(f)) format.has_request_time_ = true;
    return absl::OkStatus();
  };
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '$') {
      size_t start = i + 1, end = start;
      bool braced = start < s.size() && s[start] == '{';
      if (braced) {
        end = s.find('}', start);
        if (end == std::string_view::npos) {
          return absl::InvalidArgumentError("format: unterminated ${...}");
        }
        std::string_view name = s.substr(start + 1, end - start - 1);
        RETURN_IF_ERROR(add_field(NginxField(name), s.substr(i, end + 1 - i)));
        i = end + 1;
        continue;
      }
      while (end < s.size() && IsNameChar(s[end])) ++end;
      if (end == start) {  // a lone '$' is text
        add_literal('$');
        ++i;
        continue;
      }
      RETURN_IF_ERROR(add_field(NginxField(s.substr(start, end - start)), s.substr(i, end - i)));
      i = end;
      continue;
    }
    if (s[i] == '%') {
      size_t j = i + 1;
      if (j < s.size() && s[j] == '%') {
        add_literal('%');
        i = j + 1;
        continue;
      }
      // Modifiers: status conditions ("!400,501") and "<" / ">".
      while (j < s.size() && (s[j] == '<' || s[j] == '>' || s[j] == '!' || s[j] == ',' ||
                              (s[j] >= '0' && s[j] <= '9'))) {
        ++j;
      }
      std::string_view argument;
      if (j < s.size() && s[j] == '{') {
        size_t close = s.find('}', j);
        if (close == std::string_view::npos) {
          return absl::InvalidArgumentError("format: unterminated %{...}");
        }
        argument = s.substr(j + 1, close - j - 1);
        j = close + 1;
      }
      if (j >= s.size() || !IsNameChar(s[j])) {
        return absl::InvalidArgumentError(
            StrCat("format: incomplete directive ", Quote(s.substr(i, j - i))));
      }
      RETURN_IF_ERROR(add_field(ApacheField(s[j], argument), s.substr(i, j + 1 - i)));
      i = j + 1;
      continue;
    }
    add_literal(s[i]);
    ++i;
  }
  bool has_status = false;
  for (const Element& e : format.elements_) has_status |= !e.literal && e.field == Field::kStatus;
  if (!has_status) {
    return absl::InvalidArgumentError("format: needs a status field ($status or %>s)");
  }
  return format;
}

absl::StatusOr<AccessLogRecord> AccessLogFormat::ParseLine(std::string_view line) const {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  AccessLogRecord record;
  bool have_status = false, have_body_bytes = false;
  std::optional<uint64_t> bytes_sent;
  size_t pos = 0;
  // True if elements from `i` on may be missing: blanks and a request time.
  auto rest_optional = [&](size_t i) {
    for (; i < elements_.size(); ++i) {
      const Element& e = elements_[i];
      bool blank = e.literal && e.text.find_first_not_of(" \t") == std::string::npos;
      if (!blank && !(!e.literal && IsTime(e.field))) return false;
    }
    return true;
  };
  for (size_t i = 0; i < elements_.size(); ++i) {
    if (pos == line.size() && rest_optional(i)) break;
    const Element& e = elements_[i];
    if (e.literal) {
      if (line.compare(pos, e.text.size(), e.text) != 0) {
        return absl::InvalidArgumentError(
            StrCat("expected ", Quote(e.text), " at column ", pos + 1));
      }
      pos += e.text.size();
      continue;
    }
    size_t end;
    bool line_ends_here = false;
    if (i + 1 == elements_.size()) {
      end = line.find_first_of(" \t", pos);
      if (end == std::string_view::npos) end = line.size();
    } else {
      const std::string& next = elements_[i + 1].text;
      end = FindUnescaped(line, pos, next);
      if (end == std::string_view::npos) {
        // The line may end inside the next literal where only optional
        // fields follow: `..."agent"` for a format ending `"$ua" $request_time`.
        std::string_view head = next;
        while (!head.empty() && (head.back() == ' ' || head.back() == '\t')) head.remove_suffix(1);
        size_t at = head.empty() ? std::string_view::npos : FindUnescaped(line, pos, head);
        if (at == std::string_view::npos || at + head.size() != line.size() ||
            !rest_optional(i + 2)) {
          return absl::InvalidArgumentError(
              StrCat("expected ", Quote(next), " after column ", pos + 1));
        }
        end = at;
        line_ends_here = true;
      }
    }
    std::string_view value = line.substr(pos, end - pos);
    pos = end;
    if (line_ends_here) {
      pos = line.size();
      ++i;  // the literal is consumed; what follows is optional
    }
    switch (e.field) {
      case Field::kOther:
        break;
      case Field::kRequest: {
        size_t space = value.find(' ');
        record.method = NormalizeMethod(value.substr(0, space));
        break;
      }
      case Field::kMethod:
        record.method = NormalizeMethod(value);
        break;
      case Field::kStatus: {
        uint64_t status = 0;
        if (value.size() != 3 || !ParseU64(value, &status) || status < 100 || status > 599) {
          return absl::InvalidArgumentError(StrCat("bad status ", Quote(value)));
        }
        record.status = static_cast<int>(status);
        have_status = true;
        break;
      }
      case Field::kBodyBytes:
      case Field::kBytesSent: {
        uint64_t bytes = 0;
        if (value != "-" && !ParseU64(value, &bytes)) {
          return absl::InvalidArgumentError(StrCat("bad byte count ", Quote(value)));
        }
        if (e.field == Field::kBodyBytes) {
          record.bytes = bytes;
          have_body_bytes = true;
        } else {
          bytes_sent = bytes;
        }
        break;
      }
      case Field::kSeconds:
      case Field::kMilliseconds:
      case Field::kMicroseconds: {
        if (value == "-") break;
        double divisor = e.field == Field::kSeconds        ? 1
                         : e.field == Field::kMilliseconds ? 1e3
                                                           : 1e6;
        double seconds = 0;
        if (!ParseSeconds(value, divisor, &seconds)) {
          return absl::InvalidArgumentError(StrCat("bad request time ", Quote(value)));
        }
        record.request_time_seconds = seconds;
        break;
      }
    }
  }
  if (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') {
    return absl::InvalidArgumentError(StrCat("unexpected text at column ", pos + 1));
  }
  if (!have_status) return absl::InvalidArgumentError("line has no status");
  if (!have_body_bytes && bytes_sent) record.bytes = *bytes_sent;
  return record;
}

}  // namespace plumbline::agent
