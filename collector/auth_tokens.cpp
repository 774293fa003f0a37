#include "collector/auth_tokens.h"

#include "common/strings.h"

namespace plumbline::collector {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kSre:
      return "sre";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

absl::StatusOr<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "sre") return Role::kSre;
  if (name == "admin") return Role::kAdmin;
  return absl::InvalidArgumentError(StrCat("expected viewer, sre or admin, got \"", name, "\""));
}

absl::StatusOr<std::array<uint8_t, 32>> ParseSha256(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::array<uint8_t, 32> out{};
  if (hex.size() != 64) {
    return absl::InvalidArgumentError("expected 64 hex digits (printf %s TOKEN | sha256sum)");
  }
  for (size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError("expected 64 hex digits (printf %s TOKEN | sha256sum)");
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

}  // namespace plumbline::collector
