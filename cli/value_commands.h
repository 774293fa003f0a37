// plumb health, incidents, incident declare/note and impact.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/client.h"

namespace plumbline::cli {

// Registers the value commands on `app`; each sets *rc when it runs.
void AddValueCommands(CLI::App& app, const Global& g, int* rc);

}  // namespace plumbline::cli
