// The web dashboard's files (index.html and the bundled JS and CSS), built
// from dashboard/ by npm + esbuild and compiled into the collector, so the
// collector serves them itself and works on a closed network.
//
// With -DPLUMBLINE_DASHBOARD=OFF there are none and DashboardBuilt() is
// false (dashboard_assets_none.cpp). See docs/dashboard.md.
#pragma once

#include <cstddef>
#include <string_view>

namespace plumbline::collector {

struct DashboardAsset {
  std::string_view path;          // "/index.html", "/assets/main-3F2K9Q.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  const unsigned char* data;      // static storage; `size` bytes
  std::size_t size;
  std::string_view etag;  // quoted strong ETag of the content
  bool immutable;         // a content-hashed name: cacheable for good

  std::string_view body() const { return {reinterpret_cast<const char*>(data), size}; }
};

// The asset at `path`, or nullptr. Thread-safe (static data).
const DashboardAsset* FindDashboardAsset(std::string_view path);

// False when the collector was built without the dashboard.
bool DashboardBuilt();

}  // namespace plumbline::collector
