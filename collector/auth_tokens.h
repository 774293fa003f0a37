// Roles and token digests as the configuration names them (no gRPC, no
// OpenSSL: the config reader and its fuzz target use this alone).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace plumbline::collector {

enum class Role { kViewer = 1, kSre = 2, kAdmin = 3 };

std::string_view RoleName(Role role);
absl::StatusOr<Role> ParseRole(std::string_view name);
// Parses 64 hex digits (a SHA-256).
absl::StatusOr<std::array<uint8_t, 32>> ParseSha256(std::string_view hex);

}  // namespace plumbline::collector
