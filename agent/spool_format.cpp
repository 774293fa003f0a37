#include "agent/spool_format.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace plumbline::agent::spool {

namespace {

// Slicing-by-8 tables for the reflected Castagnoli polynomial.
constexpr uint32_t kPolynomial = 0x82F63B78u;

constexpr std::array<std::array<uint32_t, 256>, 8> MakeTables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
  return t;
}

constexpr auto kTables = MakeTables();

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void AppendU32(std::string* out, uint32_t v) {
  char b[4];
  PutU32(b, v);
  out->append(b, 4);
}
void AppendU64(std::string* out, uint64_t v) {
  char b[8];
  PutU64(b, v);
  out->append(b, 8);
}

// Reads fixed-width fields from a manifest, remembering the first overrun.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U32(uint32_t* v) {
    if (data_.size() - pos_ < 4) return false;
    *v = GetU32(data_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    if (data_.size() - pos_ < 8) return false;
    *v = GetU64(data_.data() + pos_);
    pos_ += 8;
    return true;
  }
  size_t remaining() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// True if a record header starts at data[0] and checks out; fills the
// header's fields.
bool HeaderIntact(std::string_view data, RecordMeta* meta, uint32_t* length,
                  uint32_t* payload_crc) {
  if (data.size() < kRecordHeaderSize) return false;
  const char* p = data.data();
  if (GetU32(p) != kRecordMagic) return false;
  if (Crc32c(data.substr(0, 36)) != GetU32(p + 36)) return false;
  *length = GetU32(p + 4);
  if (*length > kMaxRecordPayload) return false;
  meta->epoch = GetU64(p + 8);
  meta->sequence = GetU64(p + 16);
  meta->created_ms = static_cast<int64_t>(GetU64(p + 24));
  *payload_crc = GetU32(p + 32);
  return true;
}

}  // namespace

uint32_t Crc32c(std::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  crc = ~crc;
  while (n >= 8) {
    uint32_t lo = crc ^ (static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24);
    crc = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
          kTables[4][lo >> 24] ^ kTables[3][p[4]] ^ kTables[2][p[5]] ^ kTables[1][p[6]] ^
          kTables[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xFF];
  return ~crc;
}

void EncodeRecord(const RecordMeta& meta, std::string_view payload, std::string* out) {
  char h[kRecordHeaderSize];
  PutU32(h, kRecordMagic);
  PutU32(h + 4, static_cast<uint32_t>(payload.size()));
  PutU64(h + 8, meta.epoch);
  PutU64(h + 16, meta.sequence);
  PutU64(h + 24, static_cast<uint64_t>(meta.created_ms));
  PutU32(h + 32, Crc32c(payload));
  PutU32(h + 36, Crc32c(std::string_view(h, 36)));
  out->reserve(out->size() + kRecordHeaderSize + payload.size());
  out->append(h, kRecordHeaderSize);
  out->append(payload.data(), payload.size());
}

size_t DecodeRecord(std::string_view data, RecordMeta* meta, std::string_view* payload) {
  uint32_t length = 0, crc = 0;
  if (!HeaderIntact(data, meta, &length, &crc)) return 0;
  if (data.size() - kRecordHeaderSize < length) return 0;
  std::string_view body = data.substr(kRecordHeaderSize, length);
  if (Crc32c(body) != crc) return 0;
  *payload = body;
  return kRecordHeaderSize + length;
}

SegmentScan ScanSegment(std::string_view data) {
  SegmentScan scan;
  const std::string_view magic("PLR1", 4);
  size_t pos = 0;
  size_t garbage_start = std::string_view::npos;  // start of an open garbage run
  auto close_garbage = [&](size_t end) {
    if (garbage_start != std::string_view::npos && end > garbage_start) {
      scan.damaged.push_back({garbage_start, end, false});
    }
    garbage_start = std::string_view::npos;
  };
  while (pos < data.size()) {
    std::string_view rest = data.substr(pos);
    RecordMeta meta;
    uint32_t length = 0, crc = 0;
    if (HeaderIntact(rest, &meta, &length, &crc)) {
      close_garbage(pos);
      uint64_t framed = FramedSize(length);
      if (rest.size() >= framed && Crc32c(rest.substr(kRecordHeaderSize, length)) == crc) {
        scan.records.push_back({pos, framed, meta, rest.substr(kRecordHeaderSize, length)});
        pos += framed;
      } else {
        // Header vouches for the length: exactly this record is lost.
        size_t end = pos + static_cast<size_t>(std::min<uint64_t>(framed, rest.size()));
        scan.damaged.push_back({pos, end, true});
        pos = end;
      }
      continue;
    }
    if (garbage_start == std::string_view::npos) garbage_start = pos;
    size_t next = data.find(magic, pos + 1);
    pos = next == std::string_view::npos ? data.size() : next;
  }
  close_garbage(data.size());
  return scan;
}

std::string EncodeManifest(const Manifest& manifest) {
  std::string out;
  AppendU32(&out, kManifestMagic);
  AppendU32(&out, kManifestVersion);
  AppendU64(&out, manifest.last_segment_id);
  AppendU32(&out, static_cast<uint32_t>(manifest.segments.size()));
  for (const ManifestSegment& s : manifest.segments) {
    AppendU64(&out, s.id);
    AppendU64(&out, s.size);
    AppendU64(&out, s.records);
    AppendU64(&out, s.done_records);
    AppendU32(&out, static_cast<uint32_t>(s.done.size()));
    for (const ByteRange& r : s.done) {
      AppendU64(&out, r.begin);
      AppendU64(&out, r.end);
    }
  }
  AppendU32(&out, Crc32c(out));
  return out;
}

absl::StatusOr<Manifest> DecodeManifest(std::string_view data) {
  if (data.size() < 24) {
    return absl::DataLossError(StrCat("manifest too short (", data.size(), " bytes)"));
  }
  uint32_t stored_crc = GetU32(data.data() + data.size() - 4);
  std::string_view body = data.substr(0, data.size() - 4);
  if (Crc32c(body) != stored_crc) return absl::DataLossError("manifest checksum mismatch");
  Reader in(body);
  uint32_t magic = 0, version = 0, count = 0;
  Manifest m;
  in.U32(&magic);
  in.U32(&version);
  if (magic != kManifestMagic) return absl::InvalidArgumentError("not a spool manifest");
  if (version != kManifestVersion) {
    return absl::InvalidArgumentError(StrCat("manifest version ", version, " not supported"));
  }
  if (!in.U64(&m.last_segment_id) || !in.U32(&count)) {
    return absl::DataLossError("manifest header truncated");
  }
  // Each segment takes at least 36 bytes: no count can promise more than is there.
  if (count > in.remaining() / 36) return absl::DataLossError("manifest segment count too large");
  uint64_t previous_id = 0;
  for (uint32_t i = 0; i < count; ++i) {
    ManifestSegment s;
    uint32_t ranges = 0;
    if (!in.U64(&s.id) || !in.U64(&s.size) || !in.U64(&s.records) || !in.U64(&s.done_records) ||
        !in.U32(&ranges)) {
      return absl::DataLossError(StrCat("manifest segment ", i, " truncated"));
    }
    if (s.id == 0 || s.id <= previous_id || s.id > m.last_segment_id) {
      return absl::DataLossError(StrCat("manifest segment ", i, ": id ", s.id, " out of order"));
    }
    previous_id = s.id;
    if (s.done_records > s.records) {
      return absl::DataLossError(StrCat("manifest segment ", s.id, ": more done than records"));
    }
    if (ranges > in.remaining() / 16) {
      return absl::DataLossError(StrCat("manifest segment ", s.id, ": range count too large"));
    }
    uint64_t previous_end = 0;
    for (uint32_t r = 0; r < ranges; ++r) {
      ByteRange range;
      in.U64(&range.begin);
      in.U64(&range.end);
      if (range.begin >= range.end || range.begin < previous_end || range.end > s.size) {
        return absl::DataLossError(StrCat("manifest segment ", s.id, ": bad done range"));
      }
      previous_end = range.end;
      s.done.push_back(range);
    }
    m.segments.push_back(std::move(s));
  }
  if (in.remaining() != 0) return absl::DataLossError("manifest has trailing bytes");
  return m;
}

std::string SegmentName(uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llu.seg", static_cast<unsigned long long>(id));
  return buf;
}

bool ParseSegmentName(std::string_view name, uint64_t* id) {
  if (name.size() != 20 || name.substr(16) != ".seg") return false;
  uint64_t v = 0;
  for (char c : name.substr(0, 16)) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *id = v;
  return true;
}

}  // namespace plumbline::agent::spool
