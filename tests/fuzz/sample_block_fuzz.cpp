// Raw-sample blocks on arbitrary bytes: decoding never fails unsafely, what decodes keeps the
// invariants the store relies on, and a block that decodes fully re-encodes to the same samples,
// bit for bit, whichever value encoding the writer picks (or XOR alone), never larger than XOR
// alone.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collector/store/sample_block.h"

using plumbline::collector::BlockReader;
using plumbline::collector::BlockWriter;
using plumbline::collector::RawSample;

namespace {

struct Run {
  int64_t id;
  std::vector<RawSample> samples;
};

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool SameBits(const std::vector<RawSample>& a, const std::vector<RawSample>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].ts_ms != b[i].ts_ms) return false;
    if (std::bit_cast<uint64_t>(a[i].value) != std::bit_cast<uint64_t>(b[i].value)) return false;
  }
  return true;
}

// Reads every run, decoding those whose index has parity `decode_parity` (2: all of them).
bool ReadRuns(std::string_view block, int decode_parity, std::vector<Run>* runs) {
  BlockReader reader(block);
  int64_t previous_id = 0;
  for (int index = 0; reader.NextRun(); ++index) {
    Check(reader.count() >= 1);
    Check(index == 0 || reader.series_id() > previous_id);
    previous_id = reader.series_id();
    if (decode_parity != 2 && index % 2 != decode_parity) continue;
    Run run{reader.series_id(), {}};
    if (!reader.Decode(&run.samples)) {
      Check(run.samples.empty());
      break;
    }
    Check(run.samples.size() == reader.count());
    for (size_t i = 1; i < run.samples.size(); ++i) {
      Check(run.samples[i - 1].ts_ms < run.samples[i].ts_ms);
    }
    runs->push_back(std::move(run));
  }
  Check(!reader.NextRun());
  return reader.status().ok();
}

// Encodes `runs` and checks that the block decodes to them bit for bit.
std::string Reencode(const std::vector<Run>& runs, bool xor_only) {
  BlockWriter writer;
  writer.set_xor_only_for_testing(xor_only);
  uint64_t samples = 0;
  for (const Run& run : runs) {
    writer.AddRun(run.id, run.samples);
    samples += run.samples.size();
  }
  Check(writer.runs() == runs.size() && writer.samples() == samples);
  std::string block = writer.Finish();
  std::vector<Run> redecoded;
  Check(ReadRuns(block, 2, &redecoded));
  Check(redecoded.size() == runs.size());
  for (size_t r = 0; r < runs.size(); ++r) {
    Check(redecoded[r].id == runs[r].id);
    Check(SameBits(redecoded[r].samples, runs[r].samples));
  }
  return block;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view block(reinterpret_cast<const char*>(data), size);
  std::vector<Run> all, odd;
  bool all_ok = ReadRuns(block, 2, &all);
  bool odd_ok = ReadRuns(block, 1, &odd);
  // Skipping a run never makes a good block bad; the runs decoded both ways agree.
  if (all_ok) Check(odd_ok);
  for (const Run& run : odd) {
    bool found = false;
    for (const Run& other : all) {
      if (other.id != run.id) continue;
      Check(SameBits(other.samples, run.samples));
      found = true;
    }
    Check(found || !all_ok);
  }
  if (!all_ok) return 0;

  std::string again = Reencode(all, false);
  const std::string xor_only = Reencode(all, true);
  // Per run the writer keeps the smaller encoding, so the block is never larger.
  Check(again.size() <= xor_only.size());
  // The writer is deterministic and decoding exact, so a second round changes no byte.
  std::vector<Run> redecoded;
  Check(ReadRuns(again, 2, &redecoded));
  Check(Reencode(redecoded, false) == again);
  return 0;
}
