// The spool's on-disk format, as pure functions over bytes (no I/O), so the
// decoder can be fuzzed and reasoned about on its own.
//
// A spool directory holds segment files NNNNNNNNNNNNNNNN.seg (16 decimal
// digits, the segment id, growing by one), a MANIFEST and a LOCK file.
//
// A segment is a sequence of records, nothing else. All integers are
// little-endian. One record:
//
//   offset  size  field
//        0     4  magic "PLR1" (0x31524C50)
//        4     4  payload length in bytes (at most kMaxRecordPayload)
//        8     8  batch epoch
//       16     8  batch sequence
//       24     8  batch created_ms (signed)
//       32     4  CRC-32C of the payload
//       36     4  CRC-32C of bytes 0..35 (the header above)
//       40     n  payload: a serialized plumbline.v1.Batch
//
// The header CRC makes the length trustworthy: a record whose header checks
// out but whose payload does not is skipped exactly. Anything else that does
// not decode is skipped by searching for the next magic whose header checks
// out (resynchronisation), so one damaged record never hides the ones after it.
//
// The MANIFEST (written to MANIFEST.tmp, synced, renamed) records what the
// spool knew at that moment: per live segment its size, how many records it
// holds and which byte ranges are done (acknowledged, dropped or known
// damaged). Knowing the record count is what lets the spool count exactly
// how many records a damaged or truncated segment lost. Layout:
//
//   u32 magic "PLMF" (0x464D4C50), u32 version (1), u64 last_segment_id,
//   u32 segment count, then per segment:
//     u64 id, u64 size, u64 records, u64 done_records, u32 range count,
//     per range: u64 begin, u64 end (half-open, sorted, disjoint)
//   u32 CRC-32C of everything before it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace plumbline::agent::spool {

inline constexpr uint32_t kRecordMagic = 0x31524C50;    // "PLR1"
inline constexpr uint32_t kManifestMagic = 0x464D4C50;  // "PLMF"
inline constexpr uint32_t kManifestVersion = 1;
inline constexpr size_t kRecordHeaderSize = 40;
// Bytes of payload one record may carry (the collector refuses far smaller batches).
inline constexpr uint32_t kMaxRecordPayload = 64u << 20;

// CRC-32C (Castagnoli), table-driven; `crc` continues an earlier value.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

struct RecordMeta {
  uint64_t epoch = 0;
  uint64_t sequence = 0;
  int64_t created_ms = 0;
};

// Appends one framed record (header + payload) to *out.
void EncodeRecord(const RecordMeta& meta, std::string_view payload, std::string* out);

// Size of a framed record with this payload.
inline uint64_t FramedSize(uint64_t payload_bytes) { return kRecordHeaderSize + payload_bytes; }

// Decodes the record at the start of `data`. On success fills *meta and
// *payload (a view into data) and returns the framed size; 0 if there is no
// intact record there.
size_t DecodeRecord(std::string_view data, RecordMeta* meta, std::string_view* payload);

struct ScannedRecord {
  uint64_t offset = 0;  // of the header within the segment
  uint64_t size = 0;    // framed size, header included
  RecordMeta meta;
  std::string_view payload;  // view into the scanned data
};

// Bytes that did not decode. `header_intact` marks one record whose header
// checked out but whose payload is damaged or cut off (exactly one lost
// record); otherwise a run of garbage of which nothing is known.
struct DamagedRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  bool header_intact = false;
};

// Records and damaged ranges together cover [0, data.size()) in order,
// without gaps or overlap.
struct SegmentScan {
  std::vector<ScannedRecord> records;
  std::vector<DamagedRange> damaged;
};

// Splits a segment's bytes into intact records and damaged ranges. Never
// fails: anything that is not an intact record is a damaged range.
SegmentScan ScanSegment(std::string_view data);

// A byte range [begin, end).
struct ByteRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  bool operator==(const ByteRange&) const = default;
};

struct ManifestSegment {
  uint64_t id = 0;
  uint64_t size = 0;     // bytes of the segment the manifest vouches for
  uint64_t records = 0;  // records within those bytes
  uint64_t done_records = 0;
  std::vector<ByteRange> done;  // sorted, disjoint
  bool operator==(const ManifestSegment&) const = default;
};

struct Manifest {
  // Highest segment id created so far. A segment file with an id at or below
  // it that the manifest does not list was deleted on purpose (all done).
  uint64_t last_segment_id = 0;
  std::vector<ManifestSegment> segments;  // ascending id
  bool operator==(const Manifest&) const = default;
};

std::string EncodeManifest(const Manifest& manifest);
// InvalidArgument / DataLoss describing what is wrong; never crashes.
absl::StatusOr<Manifest> DecodeManifest(std::string_view data);

// "0000000000000042.seg" for 42; ParseSegmentName is its inverse (false for
// any other name).
std::string SegmentName(uint64_t id);
bool ParseSegmentName(std::string_view name, uint64_t* id);

}  // namespace plumbline::agent::spool
