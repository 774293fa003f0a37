// What the collector does with an ingest message before storing it: decode,
// validate, flatten the valid series.
#include <cstddef>
#include <cstdint>

#include "collector/batch_validator.h"
#include "collector/store/flatten.h"
#include "plumbline/v1/ingest.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plumbline::v1::IngestRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!request.has_batch()) return 0;
  const plumbline::v1::Batch& batch = request.batch();
  plumbline::collector::ValidationResult r = plumbline::collector::ValidateBatch(batch, {});
  if (!r.batch.ok()) return 0;
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
