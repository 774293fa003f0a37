// Keeps the agent's resident memory to what it uses.
#pragma once

#include <cstdint>

namespace plumbline::agent {

struct ReleasedCode {
  uint64_t mapped_bytes = 0;  // the executable's read-only mappings
  bool ok = false;            // found, and madvise succeeded on every one
};

// Gives back the pages of the agent's own executable that only start-up
// used. Most of the statically linked executable's resident code ran once:
// gRPC registering every resolver, load balancer and filter, the config and
// TLS set-up; the steady loop touches a third of it. The read-only mappings
// of the executable are marked for random access (no read-ahead of
// neighbouring pages when a page is needed again) and paged out
// (MADV_PAGEOUT, Linux 5.4+); what the agent still runs faults back in from
// the page cache or the file. Shared libraries are left alone: their pages
// are shared with other processes. Call once, after start-up has settled.
ReleasedCode ReleaseStartupCode();

}  // namespace plumbline::agent
