// Query parameters of the HTTP API, read from untrusted request targets
// (pure functions; tests/fuzz/http_params_fuzz.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plumbline::collector {

// URL-decodes one query component: %XX (either case) and '+' (a space); a
// '%' not followed by two hex digits stays as it is.
std::string DecodeQueryComponent(std::string_view text);

// Every value of a repeatable parameter `key`, URL-decoded, read from the raw
// request target ("/path?a=1&b=2"): cpp-httplib cuts a value at its own '='
// (match=label=value would lose its value).
std::vector<std::string> QueryParamValues(std::string_view target, std::string_view key);

}  // namespace plumbline::collector
