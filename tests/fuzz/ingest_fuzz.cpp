// What the collector does with an ingest message before storing it: decode,
// validate (with a timestamp window), admit through the per-agent limits,
// flatten the valid series.
#include <cstddef>
#include <cstdint>

#include "collector/batch_validator.h"
#include "collector/ingest_limiter.h"
#include "collector/store/flatten.h"
#include "plumbline/v1/ingest.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plumbline::v1::IngestRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!request.has_batch()) return 0;
  const plumbline::v1::Batch& batch = request.batch();
  constexpr int64_t kNow = 1700000000000;
  plumbline::collector::ValidationLimits limits;
  limits.max_future_skew_ms = 600000;
  limits.max_sample_age_ms = 86400000;
  plumbline::collector::ValidationResult r =
      plumbline::collector::ValidateBatch(batch, limits, kNow);
  if (!r.batch.ok()) return 0;
  static plumbline::FakeClock clock(kNow);
  static plumbline::collector::IngestLimiter limiter({100, 50}, &clock);
  clock.Advance(100);
  (void)limiter.AdmitBatch(batch.agent_id());
  auto admission = limiter.AdmitSeries(batch.agent_id(), batch, r.valid_series);
  for (size_t i = 1; i < admission.refused.size(); ++i) {
    if (admission.refused[i] <= admission.refused[i - 1]) __builtin_trap();  // sorted, unique
  }
  if (!admission.refused.empty() && admission.refused.back() >= r.valid_series.size()) {
    __builtin_trap();
  }
  std::vector<plumbline::collector::FlatSample> flat;
  for (int index : r.valid_series) {
    const auto& series = batch.series(index);
    plumbline::LabelSet labels;
    for (const auto& l : series.labels()) labels.emplace_back(l.name(), l.value());
    if (!plumbline::SortLabels(&labels).ok())
      __builtin_trap();  // validator lets no duplicate through
    for (const auto& p : series.points()) {
      flat.clear();
      plumbline::collector::FlattenPoint(series.name(), series.type(), labels, p, &flat);
    }
  }
  return 0;
}
