// Which agents have an ingest stream open right now. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

namespace plumbline::collector {

class AgentRegistry {
 public:
  // The agent's open streams, this one included.
  int Connected(const std::string& agent_id) {
    std::lock_guard lock(mu_);
    return ++streams_[agent_id];
  }
  void Disconnected(const std::string& agent_id) {
    std::lock_guard lock(mu_);
    auto it = streams_.find(agent_id);
    if (it != streams_.end() && --it->second <= 0) streams_.erase(it);
  }
  bool IsConnected(const std::string& agent_id) const {
    std::lock_guard lock(mu_);
    return streams_.count(agent_id) > 0;
  }
  size_t ConnectedCount() const {
    std::lock_guard lock(mu_);
    return streams_.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> streams_;
};

}  // namespace plumbline::collector
