#include "collector/query_params.h"

#include <algorithm>

#include "absl/time/time.h"
#include "common/yaml_config.h"

namespace plumbline::collector {

bool ParseQueryTime(const std::string& text, int64_t now_ms, int64_t* out_ms) {
  if (text.empty()) return false;
  if (text == "now") {
    *out_ms = now_ms;
    return true;
  }
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    *out_ms = absl::ToUnixMillis(t);
    return true;
  }
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      text.size() <= 15) {
    *out_ms = std::stoll(text);
    return true;
  }
  std::string_view ago = text;
  if (ago[0] == '-') ago.remove_prefix(1);
  auto d = ParseDuration(ago);
  if (!d.ok() || d->count() <= 0) return false;
  *out_ms = now_ms - d->count();
  return true;
}

std::string DecodeQueryComponent(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> QueryParamValues(std::string_view target, std::string_view key) {
  std::vector<std::string> out;
  const size_t question = target.find('?');
  if (question == std::string_view::npos) return out;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > key.size() && pair.substr(0, key.size()) == key && pair[key.size()] == '=') {
      out.push_back(DecodeQueryComponent(pair.substr(key.size() + 1)));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace plumbline::collector
