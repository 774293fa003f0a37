#include "agent/footprint.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace plumbline::agent {

ReleasedCode ReleaseStartupCode() {
  ReleasedCode out;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return out;
  const std::string self(exe, static_cast<size_t>(n));
  std::ifstream maps("/proc/self/maps");
  std::string line;
  out.ok = true;
  bool any = false;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, device, inode, path;
    in >> range >> perms >> offset >> device >> inode;
    std::getline(in >> std::ws, path);
    if (path != self || perms.size() < 2 || perms[1] == 'w') continue;
    uintptr_t start = 0, end = 0;
    if (std::sscanf(range.c_str(), "%lx-%lx", &start, &end) != 2 || end <= start) continue;
    any = true;
    out.mapped_bytes += end - start;
    void* addr = reinterpret_cast<void*>(start);
    if (madvise(addr, end - start, MADV_RANDOM) != 0 ||
        madvise(addr, end - start, MADV_PAGEOUT) != 0) {
      out.ok = false;
    }
  }
  out.ok = out.ok && any;
  return out;
}

}  // namespace plumbline::agent
