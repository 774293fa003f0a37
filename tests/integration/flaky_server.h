// A real HTTP service for agents to probe: /pay answers 200, or 503 while
// it is set down; /ok always answers 200. Loopback, on a free port.
#pragma once

#include <httplib.h>

#include <atomic>
#include <string>
#include <thread>

#include "tests/integration/process.h"

namespace plumbline::testing {

class FlakyServer {
 public:
  FlakyServer() {
    server_.Get("/pay", [this](const httplib::Request&, httplib::Response& res) {
      if (down_) {
        res.status = 503;
        res.set_content("payments unavailable", "text/plain");
      } else {
        res.set_content("ok", "text/plain");
      }
    });
    server_.Get("/ok", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    WaitFor([this] { return server_.is_running(); }, std::chrono::seconds(5));
  }
  ~FlakyServer() {
    server_.stop();
    thread_.join();
  }
  FlakyServer(const FlakyServer&) = delete;
  FlakyServer& operator=(const FlakyServer&) = delete;

  void SetDown(bool down) { down_ = down; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  std::atomic<bool> down_{false};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace plumbline::testing
