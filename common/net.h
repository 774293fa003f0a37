// Network address helpers shared by the agent and the collector.
#pragma once

#include <string_view>

namespace plumbline {

// Whether a "host:port" (or gRPC target: "[::1]:7070", "unix:/path",
// "ipv4:127.0.0.1:7070") names this host only: a loopback IP, localhost or a
// Unix socket. Plaintext there is readable by nobody off the host.
inline bool IsLoopbackAddress(std::string_view address) {
  if (address.substr(0, 5) == "unix:") return true;
  for (std::string_view scheme : {"ipv4:", "ipv6:", "dns:///"}) {
    if (address.substr(0, scheme.size()) == scheme) address.remove_prefix(scheme.size());
  }
  std::string_view host = address;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string_view::npos ? 0 : host.find(']') - 1);
  } else if (size_t colon = host.rfind(':');
             colon != std::string_view::npos && host.find(':') == colon) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127.";
}

}  // namespace plumbline
