// Rollup blocks on arbitrary bytes: decoding never fails unsafely; what decodes (in full, or the
// aggregates before the damage) keeps start times ascending, re-encodes to the same aggregates bit
// for bit, and encodes deterministically: a second round changes no byte.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collector/store/rollup_block.h"

using plumbline::collector::Aggregate;
using plumbline::collector::DecodeAggregates;
using plumbline::collector::EncodeAggregates;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

bool SameBits(const std::vector<Aggregate>& a, const std::vector<Aggregate>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Aggregate& x = a[i];
    const Aggregate& y = b[i];
    if (x.start_ms != y.start_ms || x.count != y.count || x.first_ms != y.first_ms ||
        x.last_ms != y.last_ms || Bits(x.sum) != Bits(y.sum) || Bits(x.min) != Bits(y.min) ||
        Bits(x.max) != Bits(y.max) || Bits(x.first) != Bits(y.first) ||
        Bits(x.last) != Bits(y.last) || Bits(x.increase) != Bits(y.increase)) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view blob(reinterpret_cast<const char*>(data), size);
  // What is already in the output stays there.
  std::vector<Aggregate> decoded(1);
  decoded[0].start_ms = 42;
  const bool ok = DecodeAggregates(blob, &decoded).ok();
  Check(decoded[0].start_ms == 42);
  decoded.erase(decoded.begin());
  for (size_t i = 1; i < decoded.size(); ++i) {
    Check(decoded[i - 1].start_ms < decoded[i].start_ms);
  }

  const std::string encoded = EncodeAggregates(decoded);
  std::vector<Aggregate> again;
  Check(DecodeAggregates(encoded, &again).ok());
  Check(SameBits(decoded, again));
  Check(EncodeAggregates(again) == encoded);
  // A blob that decoded in full holds as many aggregates as the writer writes.
  if (ok) Check(again.size() == decoded.size());
  return 0;
}
