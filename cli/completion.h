// Shell completion for plumb, generated from the command tree itself so it
// never drifts from what the parser accepts.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace plumbline::cli {

// A bash completion script (also usable from zsh after `bashcompinit`):
// subcommands and long options at each level, global options everywhere,
// file names after --token-file and for catalog files.
std::string BashCompletion(const CLI::App& app, const std::string& program);

}  // namespace plumbline::cli
