// Reading a running collector's counters over its Query API, for tests.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>

#include "plumbline/v1/query.grpc.pb.h"

namespace plumbline::testing {

// The sum of counter `name` over its series, or over those with a label
// whose value is `label_value` (and whose name is `label_name`, if given).
// -1 if the collector does not answer within 10 s.
inline double CollectorCounter(v1::Query::Stub& stub, const std::string& name,
                               const std::string& label_value = "",
                               const std::string& label_name = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetStatsResponse response;
  if (!stub.GetStats(&ctx, {}, &response).ok()) return -1;
  double total = 0;
  for (const auto& c : response.counters()) {
    if (c.name() != name) continue;
    bool match = label_value.empty();
    for (const auto& l : c.labels()) {
      match = match || (l.value() == label_value && (label_name.empty() || l.name() == label_name));
    }
    if (match) total += c.value();
  }
  return total;
}

inline double CollectorCounter(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& name, const std::string& label_value = "") {
  auto stub = v1::Query::NewStub(channel);
  return CollectorCounter(*stub, name, label_value);
}

}  // namespace plumbline::testing
