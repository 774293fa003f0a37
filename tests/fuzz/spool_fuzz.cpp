// The spool's decoders on arbitrary bytes: segment scanning, record
// decoding and the manifest. Checks, beyond not crashing:
//  - a scan's records and damaged ranges tile the input exactly, in order;
//  - every record it reports re-encodes to the very bytes it was read from;
//  - a manifest that decodes re-encodes to the input (there is one encoding);
//  - records framed from pieces of the input scan back to those pieces.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/spool_format.h"
#include "plumbline/v1/ingest.pb.h"

namespace spool = plumbline::agent::spool;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  spool::SegmentScan scan = spool::ScanSegment(bytes);
  uint64_t pos = 0;
  size_t r = 0, d = 0;
  while (r < scan.records.size() || d < scan.damaged.size()) {
    if (r < scan.records.size() && scan.records[r].offset == pos) {
      const spool::ScannedRecord& rec = scan.records[r++];
      std::string again;
      spool::EncodeRecord(rec.meta, rec.payload, &again);
      if (again.size() != rec.size || bytes.substr(pos, rec.size) != again) __builtin_trap();
      // What replay does with an intact payload: parse it, and survive garbage.
      plumbline::v1::Batch batch;
      (void)batch.ParseFromString(std::string(rec.payload));
      pos += rec.size;
    } else if (d < scan.damaged.size() && scan.damaged[d].begin == pos) {
      const spool::DamagedRange& range = scan.damaged[d++];
      if (range.end <= range.begin) __builtin_trap();
      pos = range.end;
    } else {
      __builtin_trap();  // a gap or an overlap
    }
  }
  if (pos != size) __builtin_trap();

  auto manifest = spool::DecodeManifest(bytes);
  if (manifest.ok() && spool::EncodeManifest(*manifest) != bytes) __builtin_trap();

  // Frame pieces of the input (split at each 0xFF) and scan them back.
  std::string segment;
  size_t pieces = 0;
  size_t start = 0;
  for (size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == 0xFF) {
      spool::EncodeRecord({pieces, i, static_cast<int64_t>(start)}, bytes.substr(start, i - start),
                          &segment);
      ++pieces;
      start = i + 1;
    }
  }
  spool::SegmentScan back = spool::ScanSegment(segment);
  if (back.records.size() != pieces || !back.damaged.empty()) __builtin_trap();
  return 0;
}
