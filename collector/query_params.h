// Query parameters of the HTTP API, read from untrusted request targets
// (pure functions; tests/fuzz/http_params_fuzz.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plumbline::collector {

// "2026-11-27T08:00:00Z" (RFC 3339), "now", "-2h" / "2h" (that long ago),
// or milliseconds since the epoch. False on anything else.
bool ParseQueryTime(const std::string& text, int64_t now_ms, int64_t* out_ms);

// URL-decodes one query component: %XX (either case) and '+' (a space); a
// '%' not followed by two hex digits stays as it is.
std::string DecodeQueryComponent(std::string_view text);

// Every value of a repeatable parameter `key`, URL-decoded, read from the raw
// request target ("/path?a=1&b=2"): cpp-httplib cuts a value at its own '='
// (match=label=value would lose its value).
std::vector<std::string> QueryParamValues(std::string_view target, std::string_view key);

}  // namespace plumbline::collector
