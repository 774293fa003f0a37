// Facts about the machine a binary runs on.
#pragma once

#include <cstdint>
#include <string>

namespace plumbline {

std::string Hostname();
// PRETTY_NAME from <root>/etc/os-release, or "Linux" if unreadable.
std::string OsPrettyName(const std::string& root = "");

}  // namespace plumbline
