// plumb health, incidents, incident declare/note and impact.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/client.h"

namespace plumbline::cli {

// Registers the value commands on `app`; each sets *rc when it runs.
void AddValueCommands(CLI::App& app, const Global& g, int* rc);

// "2026-11-27T08:00:00Z" (RFC 3339), "now", or a duration ago ("90m", "2h",
// "7d"). Returns false on anything else.
bool ParseWhen(const std::string& text, int64_t now_ms, int64_t* out_ms);

}  // namespace plumbline::cli
