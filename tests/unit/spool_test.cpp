#include "agent/spool.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/spool_format.h"
#include "tests/unit/fault_injecting_fs.h"

namespace plumbline::agent {
namespace {

using namespace std::chrono_literals;
using testing::FaultInjectingFs;
namespace fs = std::filesystem;

constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr std::chrono::milliseconds kNoWait{0};

class TempDir {
 public:
  explicit TempDir(const fs::path& base = fs::temp_directory_path()) {
    std::string pattern = (base / "plumbline_spool_XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

v1::Batch MakeBatch(uint64_t sequence, int64_t created_ms = kStartMs, size_t payload = 200,
                    uint64_t epoch = 7) {
  v1::Batch b;
  b.set_agent_id("a");
  b.set_epoch(epoch);
  b.set_sequence(sequence);
  b.set_created_ms(created_ms);
  b.add_series()->set_name(std::string(payload, static_cast<char>('a' + sequence % 26)));
  return b;
}

// Framed size of MakeBatch(sequence) for sequences below 128 (one varint byte).
uint64_t Framed() { return spool::FramedSize(MakeBatch(1).ByteSizeLong()); }

SpoolOptions Options(const std::string& dir) {
  SpoolOptions o;
  o.dir = dir;
  o.background = false;
  o.fsync = FsyncPolicy::kNever;
  o.segment_size = 64 << 10;
  o.max_bytes = 64 << 20;
  o.disk_retry_interval = 1000ms;
  return o;
}

std::unique_ptr<DiskSpool> OpenOrDie(const SpoolOptions& o, SpoolFs* fs, const Clock* clock) {
  auto s = DiskSpool::Open(o, fs, clock);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::vector<v1::Batch> Drain(DiskSpool& spool, bool ack) {
  std::vector<v1::Batch> out;
  while (auto b = spool.NextToSend(kNoWait)) {
    if (ack) spool.Ack(b->epoch(), b->sequence());
    out.push_back(std::move(*b));
  }
  return out;
}

std::vector<uint64_t> Sequences(const std::vector<v1::Batch>& batches) {
  std::vector<uint64_t> out;
  for (const auto& b : batches) out.push_back(b.sequence());
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void Spit(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// ------------------------------------------------------------------ format

TEST(SpoolFormat, Crc32cMatchesTheCastagnoliCheckValue) {
  EXPECT_EQ(spool::Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(spool::Crc32c(""), 0u);
  // Continuing a CRC equals computing it in one go.
  EXPECT_EQ(spool::Crc32c("6789", spool::Crc32c("12345")), 0xE3069283u);
}

TEST(SpoolFormat, RecordRoundTripsAndAnyFlippedBitIsDetected) {
  std::string seg;
  spool::EncodeRecord({7, 42, kStartMs}, "payload bytes", &seg);
  ASSERT_EQ(seg.size(), spool::FramedSize(13));
  spool::RecordMeta meta;
  std::string_view payload;
  ASSERT_EQ(spool::DecodeRecord(seg, &meta, &payload), seg.size());
  EXPECT_EQ(meta.epoch, 7u);
  EXPECT_EQ(meta.sequence, 42u);
  EXPECT_EQ(meta.created_ms, kStartMs);
  EXPECT_EQ(payload, "payload bytes");
  for (size_t bit = 0; bit < seg.size() * 8; ++bit) {
    std::string bad = seg;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_EQ(spool::DecodeRecord(bad, &meta, &payload), 0u) << "bit " << bit;
  }
}

TEST(SpoolFormat, ScanResynchronisesAfterGarbageAndKeepsEveryIntactRecord) {
  std::string seg;
  spool::EncodeRecord({1, 1, 0}, "one", &seg);
  size_t garbage_at = seg.size();
  seg += "PLR1 not a record at all";  // a magic that leads nowhere
  size_t second_at = seg.size();
  spool::EncodeRecord({1, 2, 0}, "two", &seg);
  size_t third_at = seg.size();
  spool::EncodeRecord({1, 3, 0}, "three", &seg);
  seg[third_at + spool::kRecordHeaderSize] ^= 0x20;  // payload of the third: header intact
  spool::SegmentScan scan = spool::ScanSegment(seg);
  ASSERT_EQ(scan.records.size(), 2u);
  EXPECT_EQ(scan.records[0].payload, "one");
  EXPECT_EQ(scan.records[1].payload, "two");
  EXPECT_EQ(scan.records[1].offset, second_at);
  ASSERT_EQ(scan.damaged.size(), 2u);
  EXPECT_EQ(scan.damaged[0].begin, garbage_at);
  EXPECT_EQ(scan.damaged[0].end, second_at);
  EXPECT_FALSE(scan.damaged[0].header_intact);
  EXPECT_EQ(scan.damaged[1].begin, third_at);
  EXPECT_EQ(scan.damaged[1].end, seg.size());
  EXPECT_TRUE(scan.damaged[1].header_intact);
}

TEST(SpoolFormat, ManifestRoundTripsAndRejectsDamage) {
  spool::Manifest m;
  m.last_segment_id = 9;
  m.segments.push_back({3, 1000, 10, 4, {{0, 400}}});
  m.segments.push_back({9, 50, 1, 0, {}});
  std::string bytes = spool::EncodeManifest(m);
  auto back = spool::DecodeManifest(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, m);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 1;
    EXPECT_FALSE(spool::DecodeManifest(bad).ok()) << "byte " << i;
  }
  EXPECT_FALSE(spool::DecodeManifest(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(spool::DecodeManifest("").ok());
}

TEST(SpoolFormat, SegmentNamesSortByIdAndParseBack) {
  EXPECT_EQ(spool::SegmentName(42), "0000000000000042.seg");
  uint64_t id = 0;
  EXPECT_TRUE(spool::ParseSegmentName("0000000000000042.seg", &id));
  EXPECT_EQ(id, 42u);
  EXPECT_FALSE(spool::ParseSegmentName("000000000000004x.seg", &id));
  EXPECT_FALSE(spool::ParseSegmentName("42.seg", &id));
  EXPECT_FALSE(spool::ParseSegmentName("0000000000000042.seg.tmp", &id));
}

// ------------------------------------------------------------------ queue behaviour

TEST(DiskSpool, HandsOutOldestFirstAndRemovesOnlyOnAck) {
  TempDir dir;
  FakeClock clock(kStartMs);
  auto spool = OpenOrDie(Options(dir.path()), PosixSpoolFs::Default(), &clock);
  spool->Push(MakeBatch(1));
  spool->Push(MakeBatch(2));
  auto first = spool->NextToSend(kNoWait);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->sequence(), 1u);
  EXPECT_EQ(first->series(0).name(), MakeBatch(1).series(0).name());
  EXPECT_EQ(spool->NextToSend(kNoWait)->sequence(), 2u);
  EXPECT_FALSE(spool->NextToSend(kNoWait)) << "both are in flight";
  spool->Ack(7, 1);
  QueueStats q = spool->Stats();
  EXPECT_EQ(q.batches, 1u);
  EXPECT_EQ(q.acked, 1u);
  EXPECT_EQ(q.in_flight, 1u);
  spool->ReleaseAll();
  EXPECT_EQ(spool->NextToSend(kNoWait)->sequence(), 2u);
  spool->Release(7, 2);
  EXPECT_EQ(spool->NextToSend(kNoWait)->sequence(), 2u);
  spool->Ack(99, 99);  // unknown: ignored
  EXPECT_EQ(spool->Stats().batches, 1u);
}

TEST(DiskSpool, WakeReturnsAWaitingCallerEmptyHanded) {
  TempDir dir;
  FakeClock clock(kStartMs);
  auto spool = OpenOrDie(Options(dir.path()), PosixSpoolFs::Default(), &clock);
  spool->Wake();
  EXPECT_FALSE(spool->NextToSend(5000ms));
}

TEST(DiskSpool, UnacknowledgedBatchesComeBackAfterReopenWithTheirIdentity) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  o.segment_size = 4 * Framed();  // several segments
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 10; ++s) spool->Push(MakeBatch(s));
    for (int i = 0; i < 4; ++i) {
      auto b = spool->NextToSend(kNoWait);
      spool->Ack(b->epoch(), b->sequence());
    }
    (void)spool->NextToSend(kNoWait);  // 5 in flight when the agent stops: not acknowledged
  }
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  SpoolStats st = spool->GetSpoolStats();
  EXPECT_EQ(st.replayed, 6u);
  EXPECT_EQ(st.corrupt_records, 0u);
  auto again = Drain(*spool, false);
  EXPECT_EQ(Sequences(again), Range(5, 10));
  for (const auto& b : again) {
    EXPECT_EQ(b.SerializeAsString(), MakeBatch(b.sequence()).SerializeAsString());
  }
}

TEST(DiskSpool, SegmentFilesAreDeletedOnceEveryRecordIsAcknowledged) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  o.segment_size = 3 * Framed();
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  for (uint64_t s = 1; s <= 9; ++s) spool->Push(MakeBatch(s));
  EXPECT_EQ(SegmentFiles(dir.path()).size(), 3u);
  EXPECT_EQ(spool->GetSpoolStats().disk_bytes, 9 * Framed());
  // Acknowledge the first four: the first segment goes, the second stays.
  for (int i = 0; i < 4; ++i) {
    auto b = spool->NextToSend(kNoWait);
    spool->Ack(b->epoch(), b->sequence());
  }
  spool->Maintain();
  EXPECT_EQ(SegmentFiles(dir.path()).size(), 2u);
  Drain(*spool, true);
  spool->Maintain();
  // The active (third) segment stays open for the next batch.
  EXPECT_EQ(SegmentFiles(dir.path()).size(), 1u);
  spool.reset();
  spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().replayed, 0u);
  EXPECT_TRUE(SegmentFiles(dir.path()).empty()) << "finished segments are removed on open";
}

TEST(DiskSpool, WithoutTheManifestEveryIntactRecordIsSentAgain) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 5; ++s) spool->Push(MakeBatch(s));
    for (int i = 0; i < 2; ++i) {
      auto b = spool->NextToSend(kNoWait);
      spool->Ack(b->epoch(), b->sequence());
    }
  }
  Spit(dir.File("MANIFEST"), "not a manifest");
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  SpoolStats st = spool->GetSpoolStats();
  EXPECT_EQ(st.manifest_errors, 1u);
  // Acknowledged ones too: the collector answers ACK_DUPLICATE for those.
  EXPECT_EQ(Sequences(Drain(*spool, true)), Range(1, 5));
}

TEST(DiskSpool, ASecondOpenOfTheSameDirectoryIsRefused) {
  TempDir dir;
  FakeClock clock(kStartMs);
  auto first = OpenOrDie(Options(dir.path()), PosixSpoolFs::Default(), &clock);
  auto second = DiskSpool::Open(Options(dir.path()), PosixSpoolFs::Default(), &clock);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
}

// ------------------------------------------------------------------ bounds

TEST(DiskSpool, WhenFullDropsTheOldestNeverTheNewestAndCountsExactly) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  o.max_bytes = 3 * Framed();
  o.segment_size = 2 * Framed();
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 5; ++s) spool->Push(MakeBatch(s));
    SpoolStats st = spool->GetSpoolStats();
    EXPECT_EQ(st.batches, 3u);
    EXPECT_EQ(st.bytes, 3 * Framed());
    EXPECT_EQ(st.dropped_full, 2u);
    EXPECT_EQ(spool->Stats().dropped_full, 2u);
    spool->Maintain();
    EXPECT_EQ(SegmentFiles(dir.path()).size(), 2u) << "the segment of 1 and 2 is gone";
  }
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().dropped_full, 0u) << "dropped ones stay dropped";
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(3, 5));
}

TEST(DiskSpool, InFlightBatchesAreDroppedOnlyWhenNothingElseIs) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  o.max_bytes = 2 * Framed();
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  spool->Push(MakeBatch(1));
  spool->Push(MakeBatch(2));
  EXPECT_EQ(spool->NextToSend(kNoWait)->sequence(), 1u);  // 1 in flight
  spool->Push(MakeBatch(3));                              // drops 2, the oldest waiting
  EXPECT_EQ(spool->NextToSend(kNoWait)->sequence(), 3u);
  spool->Push(MakeBatch(4));  // everything in flight: drops 1, the oldest
  EXPECT_EQ(spool->GetSpoolStats().dropped_full, 2u);
  spool->Ack(7, 1);  // late ack of a dropped batch: ignored
  EXPECT_EQ(spool->GetSpoolStats().acked, 0u);
  EXPECT_EQ(spool->NextToSend(kNoWait)->sequence(), 4u);
}

TEST(DiskSpool, DropsBatchesOlderThanMaxAgeAndCountsThem) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  o.max_age = 1h;
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 6; ++s) spool->Push(MakeBatch(s, kStartMs + (s - 1) * 600'000));
    clock.Set(kStartMs + 3'600'000 + 1'200'000);  // 1 and 2 are older than an hour; 3 exactly not
    spool->Maintain();
    SpoolStats st = spool->GetSpoolStats();
    EXPECT_EQ(st.dropped_age, 2u);
    EXPECT_EQ(st.batches, 4u);
    EXPECT_EQ(st.oldest_created_ms, kStartMs + 1'200'000);
  }
  // Reopened twenty minutes later: 3 and 4 expire during open, 5 is exactly an hour old.
  clock.Set(kStartMs + 3'600'000 + 2'400'000);
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().dropped_age, 2u);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(5, 6));
}

// ------------------------------------------------------------------ damage

TEST(DiskSpool, TruncatedSegmentDeliversEveryIntactRecordAndCountsTheRestExactly) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  const uint64_t f = Framed();
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 10; ++s) spool->Push(MakeBatch(s));
  }
  auto segs = SegmentFiles(dir.path());
  ASSERT_EQ(segs.size(), 1u);
  fs::resize_file(segs[0], 6 * f + f / 2);  // cut inside record 7
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  SpoolStats st = spool->GetSpoolStats();
  EXPECT_EQ(st.corrupt_records, 4u);
  EXPECT_EQ(st.corrupt_bytes, 4 * f);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(1, 6));
  spool.reset();
  // Counted once: the next start finds nothing new.
  spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_records, 0u);
  EXPECT_EQ(spool->GetSpoolStats().replayed, 6u);
}

TEST(DiskSpool, FlippedBytesLoseOnlyTheDamagedRecords) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  const uint64_t f = Framed();
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 10; ++s) spool->Push(MakeBatch(s));
  }
  std::string path = SegmentFiles(dir.path())[0];
  std::string data = Slurp(path);
  data[2 * f + spool::kRecordHeaderSize + 17] ^= 0x04;  // payload of record 3
  data[6 * f + 5] ^= 0x80;                              // length field of record 7
  data[7 * f + 0] ^= 0x01;                              // magic of record 8
  Spit(path, data);
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  SpoolStats st = spool->GetSpoolStats();
  EXPECT_EQ(st.corrupt_records, 3u);
  EXPECT_EQ(st.corrupt_bytes, 3 * f);
  EXPECT_EQ(Sequences(Drain(*spool, false)), (std::vector<uint64_t>{1, 2, 4, 5, 6, 9, 10}));
}

TEST(DiskSpool, DamageToAcknowledgedRecordsIsNotALoss) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  const uint64_t f = Framed();
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 4; ++s) spool->Push(MakeBatch(s));
    auto b = spool->NextToSend(kNoWait);
    spool->Ack(b->epoch(), b->sequence());
  }
  std::string path = SegmentFiles(dir.path())[0];
  std::string data = Slurp(path);
  data[f / 2] ^= 0x10;  // inside record 1, already delivered
  Spit(path, data);
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_records, 0u);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_bytes, 0u);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(2, 4));
}

TEST(DiskSpool, ATornTailThatTheManifestNeverSawCountsAsOneRecord) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 3; ++s) spool->Push(MakeBatch(s));
  }
  // A crash in the middle of appending a fourth record.
  std::string path = SegmentFiles(dir.path())[0];
  std::string torn;
  spool::EncodeRecord({7, 4, kStartMs}, MakeBatch(4).SerializeAsString(), &torn);
  std::ofstream(path, std::ios::binary | std::ios::app) << torn.substr(0, torn.size() / 2);
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_records, 1u);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_bytes, torn.size() / 2);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(1, 3));
}

TEST(DiskSpool, AMissingSegmentCountsItsUnacknowledgedRecords) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  o.segment_size = 3 * Framed();
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 7; ++s) spool->Push(MakeBatch(s));
    auto b = spool->NextToSend(kNoWait);
    spool->Ack(b->epoch(), b->sequence());
  }
  fs::remove(SegmentFiles(dir.path())[0]);  // records 1 (acknowledged), 2, 3
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_records, 2u);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(4, 7));
}

// Thousands of random truncations, bit flips, zeroed ranges and deleted
// segments over a spool with known content. Accounting, exactly: with W
// batches written and A acknowledged before a clean close (so the manifest
// knows every segment), after any such damage to the segment files the
// spool opens, and
//     delivered + corrupt_records == W - A,
// every delivered batch is byte-identical to one written and not
// acknowledged, none twice; and a second open counts nothing new.
TEST(DiskSpool, RandomDamageNeverStopsItOpeningAndEveryRecordIsDeliveredOrCounted) {
  TempDir pristine;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(pristine.path());
  o.segment_size = 8 * Framed();
  constexpr uint64_t kWritten = 40;
  std::set<uint64_t> acked;
  std::map<uint64_t, std::string> written;
  std::mt19937_64 rng(20240611);
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= kWritten; ++s) {
      v1::Batch b = MakeBatch(s, kStartMs, 100 + rng() % 300);
      written[s] = b.SerializeAsString();
      spool->Push(std::move(b));
    }
    // Acknowledge a scattered 10.
    std::vector<v1::Batch> out = Drain(*spool, false);
    for (const auto& b : out) {
      if (rng() % 4 == 0) {
        spool->Ack(b.epoch(), b.sequence());
        acked.insert(b.sequence());
      }
    }
  }
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(pristine.path())) {
    if (e.path().filename() != "LOCK") files[e.path().filename()] = Slurp(e.path());
  }
  std::vector<std::string> segment_names;
  for (const auto& [name, data] : files) {
    if (name.ends_with(".seg")) segment_names.push_back(name);
  }
  ASSERT_GE(segment_names.size(), 4u);

  // tmpfs when there is one: the rounds then cost CPU, not disk waits.
  std::error_code ec;
  const fs::path base = fs::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
                            ? fs::path("/dev/shm")
                            : fs::temp_directory_path();
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);  // thousands of "lost to damage" warnings otherwise
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + 4s;
  int rounds = 0;
  uint64_t total_lost = 0;
  while (rounds < 3000 && std::chrono::steady_clock::now() < deadline) {
    ++rounds;
    TempDir dir(base);
    std::map<std::string, std::string> damaged = files;
    int operations = 1 + static_cast<int>(rng() % 4);
    for (int op = 0; op < operations; ++op) {
      std::string& seg = damaged[segment_names[rng() % segment_names.size()]];
      switch (rng() % 4) {
        case 0:  // truncate anywhere
          seg.resize(seg.empty() ? 0 : rng() % seg.size());
          break;
        case 1:  // flip bits
          for (int n = 1 + static_cast<int>(rng() % 8); n > 0 && !seg.empty(); --n) {
            seg[rng() % seg.size()] ^= static_cast<char>(1 << (rng() % 8));
          }
          break;
        case 2:  // zero a range (a bad sector)
          if (!seg.empty()) {
            size_t at = rng() % seg.size();
            size_t n = std::min<size_t>(seg.size() - at, 1 + rng() % 600);
            std::fill_n(seg.begin() + static_cast<std::ptrdiff_t>(at), n, '\0');
          }
          break;
        case 3:  // lose the file
          seg.clear();
          break;
      }
    }
    for (const auto& [name, data] : damaged) {
      if (name.ends_with(".seg") && data.empty() && rng() % 2 == 0) continue;  // deleted
      Spit(dir.File(name), data);
    }
    SpoolOptions round = o;
    round.dir = dir.path();
    auto spool = DiskSpool::Open(round, PosixSpoolFs::Default(), &clock);
    ASSERT_TRUE(spool.ok()) << spool.status();
    SpoolStats st = (*spool)->GetSpoolStats();
    std::vector<v1::Batch> delivered = Drain(**spool, false);
    std::set<uint64_t> seen;
    for (const auto& b : delivered) {
      ASSERT_TRUE(seen.insert(b.sequence()).second) << "delivered twice: " << b.sequence();
      ASSERT_EQ(acked.count(b.sequence()), 0u) << "acknowledged, yet delivered again";
      ASSERT_EQ(b.SerializeAsString(), written[b.sequence()]);
    }
    ASSERT_EQ(delivered.size() + st.corrupt_records, kWritten - acked.size())
        << "round " << rounds << ": delivered " << delivered.size() << ", counted lost "
        << st.corrupt_records;
    total_lost += st.corrupt_records;
    spool->reset();
    auto again = DiskSpool::Open(round, PosixSpoolFs::Default(), &clock);
    ASSERT_TRUE(again.ok());
    ASSERT_EQ((*again)->GetSpoolStats().corrupt_records, 0u) << "counted twice, round " << rounds;
    ASSERT_EQ((*again)->GetSpoolStats().replayed, delivered.size());
  }
  spdlog::set_level(level);
  EXPECT_GE(rounds, 200);
  EXPECT_GT(total_lost, 0u);
  std::printf("random damage: %d rounds in %.2f s, %llu records lost and counted exactly\n", rounds,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
              static_cast<unsigned long long>(total_lost));
}

// ------------------------------------------------------------------ disk faults

TEST(DiskSpool, FullDiskKeepsBatchesInMemoryAndWritesThemBackLater) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  SpoolOptions o = Options(dir.path());
  {
    auto spool = OpenOrDie(o, &faulty, &clock);
    spool->Push(MakeBatch(1));
    faulty.FailAppends(1, ENOSPC, /*short_bytes=*/10);  // a short write, then ENOSPC
    spool->Push(MakeBatch(2));
    spool->Push(MakeBatch(3));  // the disk is left alone for a second: memory too
    SpoolStats st = spool->GetSpoolStats();
    EXPECT_EQ(st.write_errors, 1u);
    EXPECT_EQ(st.memory_fallback, 2u);
    EXPECT_EQ(st.memory_batches, 2u);
    EXPECT_EQ(st.batches, 3u);
    EXPECT_EQ(Sequences(Drain(*spool, false)), Range(1, 3)) << "memory batches are sent too";
    spool->ReleaseAll();
    clock.Advance(1000);
    spool->Push(MakeBatch(4));  // disk again
    spool->Maintain();          // writes 2 and 3 back to disk
    st = spool->GetSpoolStats();
    EXPECT_EQ(st.memory_batches, 0u);
    EXPECT_EQ(st.rescued, 2u);
    EXPECT_EQ(st.write_errors, 1u);
  }
  // The short write was taken back: nothing looks damaged, nothing is lost.
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_records, 0u);
  auto seqs = Sequences(Drain(*spool, false));
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, Range(1, 4));
}

TEST(DiskSpool, AShortWriteThatCannotBeTakenBackIsNotCountedAsDamage) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  SpoolOptions o = Options(dir.path());
  {
    auto spool = OpenOrDie(o, &faulty, &clock);
    spool->Push(MakeBatch(1));
    faulty.FailAppends(1, EIO, 25);
    faulty.FailTruncates(1);
    spool->Push(MakeBatch(2));  // memory
    clock.Advance(1000);
    spool->Push(MakeBatch(3));  // a new segment
  }
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_records, 0u);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_bytes, 0u);
  auto seqs = Sequences(Drain(*spool, false));
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, Range(1, 3)) << "2 was written back at close";
}

TEST(DiskSpool, FailedFsyncKeepsACopyInMemoryAndTheBatchIsStillDelivered) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  SpoolOptions o = Options(dir.path());
  o.fsync = FsyncPolicy::kAlways;
  auto spool = OpenOrDie(o, &faulty, &clock);
  faulty.FailSyncs(1, EIO);
  spool->Push(MakeBatch(1));
  SpoolStats st = spool->GetSpoolStats();
  EXPECT_EQ(st.sync_errors, 1u);
  EXPECT_EQ(st.memory_batches, 1u);
  auto b = spool->NextToSend(kNoWait);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->SerializeAsString(), MakeBatch(1).SerializeAsString());
  spool->Ack(b->epoch(), b->sequence());
  clock.Advance(1000);
  spool->Push(MakeBatch(2));
  spool->Maintain();
  st = spool->GetSpoolStats();
  EXPECT_EQ(st.batches, 1u);
  EXPECT_EQ(st.memory_batches, 0u);
  EXPECT_EQ(st.segments, 1u) << "the segment with the unsynced copy is finished and deleted";
}

TEST(DiskSpool, MemoryFallbackIsBoundedAndDropsTheOldest) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  SpoolOptions o = Options(dir.path());
  o.memory_fallback_bytes = 2 * Framed();
  auto spool = OpenOrDie(o, &faulty, &clock);
  faulty.FailOpens(1);  // the first segment cannot even be created
  for (uint64_t s = 1; s <= 5; ++s) spool->Push(MakeBatch(s));
  SpoolStats st = spool->GetSpoolStats();
  EXPECT_EQ(st.write_errors, 1u);
  EXPECT_EQ(st.memory_batches, 2u);
  EXPECT_EQ(st.dropped_full, 3u);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(4, 5));
}

TEST(DiskSpool, AlwaysModeLosesNothingPushedWhenThePowerFails) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  SpoolOptions o = Options(dir.path());
  o.fsync = FsyncPolicy::kAlways;
  o.segment_size = 5 * Framed();
  {
    auto spool = OpenOrDie(o, &faulty, &clock);
    for (uint64_t s = 1; s <= 12; ++s) spool->Push(MakeBatch(s));
    auto b = spool->NextToSend(kNoWait);
    spool->Ack(b->epoch(), b->sequence());  // never reaches the manifest
    faulty.Crash();
  }  // closing fails everywhere: the process is gone
  faulty.Restart();
  auto spool = OpenOrDie(o, &faulty, &clock);
  EXPECT_EQ(spool->GetSpoolStats().corrupt_records, 0u);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(1, 12)) << "1 again: the collector dedupes";
}

TEST(DiskSpool, IntervalModeLosesAtMostWhatWasNotYetSynced) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  SpoolOptions o = Options(dir.path());
  o.fsync = FsyncPolicy::kInterval;
  o.fsync_interval = 1000ms;
  {
    auto spool = OpenOrDie(o, &faulty, &clock);
    for (uint64_t s = 1; s <= 10; ++s) spool->Push(MakeBatch(s));
    int syncs = faulty.syncs();
    spool->Maintain();
    EXPECT_EQ(faulty.syncs(), syncs) << "not before the interval";
    clock.Advance(1000);
    spool->Maintain();
    EXPECT_GT(faulty.syncs(), syncs);
    for (uint64_t s = 11; s <= 15; ++s) spool->Push(MakeBatch(s));
    faulty.Crash();
  }
  faulty.Restart();
  auto spool = OpenOrDie(o, &faulty, &clock);
  // 11..15 were never synced, and the manifest never saw them: gone without trace.
  EXPECT_EQ(spool->GetSpoolStats().corrupt_records, 0u);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(1, 10));
}

TEST(DiskSpool, AFailedManifestWriteIsCountedAndRetried) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  SpoolOptions o = Options(dir.path());
  o.segment_size = 2 * Framed();
  auto spool = OpenOrDie(o, &faulty, &clock);
  for (uint64_t s = 1; s <= 3; ++s) spool->Push(MakeBatch(s));
  Drain(*spool, true);
  faulty.FailRenames(1);
  spool->Maintain();
  EXPECT_EQ(spool->GetSpoolStats().manifest_errors, 1u);
  EXPECT_EQ(SegmentFiles(dir.path()).size(), 2u) << "kept until the manifest forgets it";
  spool->Maintain();
  EXPECT_EQ(SegmentFiles(dir.path()).size(), 1u);
}

TEST(DiskSpool, AnUnreadableRecordIsCountedAndTheNextOneSent) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  auto spool = OpenOrDie(Options(dir.path()), &faulty, &clock);
  spool->Push(MakeBatch(1));
  spool->Push(MakeBatch(2));
  faulty.FailReads(1);
  auto b = spool->NextToSend(kNoWait);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->sequence(), 2u);
  EXPECT_EQ(spool->GetSpoolStats().read_errors, 1u);
}

TEST(DiskSpool, AnUnreadableSegmentAtOpenIsKeptForTheNextStart) {
  TempDir dir;
  FakeClock clock(kStartMs);
  FaultInjectingFs faulty(PosixSpoolFs::Default());
  SpoolOptions o = Options(dir.path());
  {
    auto spool = OpenOrDie(o, &faulty, &clock);
    for (uint64_t s = 1; s <= 3; ++s) spool->Push(MakeBatch(s));
  }
  faulty.FailReads(1, ".seg");
  {
    auto spool = OpenOrDie(o, &faulty, &clock);
    EXPECT_EQ(spool->GetSpoolStats().read_errors, 1u);
    EXPECT_FALSE(spool->NextToSend(kNoWait));
  }
  auto spool = OpenOrDie(o, &faulty, &clock);
  EXPECT_EQ(Sequences(Drain(*spool, false)), Range(1, 3));
}

// ------------------------------------------------------------------ replay order

constexpr SendLanes kFreshOnly{true, false};
constexpr SendLanes kBacklogOnly{false, true};
constexpr SendLanes kEither{true, true};

// "8 fresh", "1 backlog" or "none": what NextToSend hands out next.
std::string Take(BatchQueue& queue, SendLanes lanes) {
  std::optional<OutgoingBatch> next = queue.NextToSend(kNoWait, lanes);
  if (!next) return "none";
  return StrCat(next->batch.sequence(), next->lane == SendLane::kFresh ? " fresh" : " backlog");
}

TEST(DiskSpoolReplay, UntilAStreamComesUpEverythingIsBacklogOldestFirst) {
  TempDir dir;
  FakeClock clock(kStartMs);
  auto spool = OpenOrDie(Options(dir.path()), PosixSpoolFs::Default(), &clock);
  for (uint64_t s = 1; s <= 3; ++s) spool->Push(MakeBatch(s));
  EXPECT_EQ(spool->Stats().backlog, 3u);
  EXPECT_EQ(Take(*spool, kFreshOnly), "none");
  EXPECT_EQ(Take(*spool, kEither), "1 backlog");
  EXPECT_EQ(Take(*spool, kEither), "2 backlog");
}

TEST(DiskSpoolReplay, FreshBatchesGoNewestFirstWhileTheBacklogGoesOldestFirst) {
  TempDir dir;
  FakeClock clock(kStartMs);
  auto spool = OpenOrDie(Options(dir.path()), PosixSpoolFs::Default(), &clock);
  for (uint64_t s = 1; s <= 5; ++s) spool->Push(MakeBatch(s));
  spool->MarkBacklog();  // the stream came up with 5 batches queued
  for (uint64_t s = 6; s <= 8; ++s) spool->Push(MakeBatch(s));
  EXPECT_EQ(spool->Stats().backlog, 5u);
  EXPECT_EQ(spool->Stats().batches, 8u);

  EXPECT_EQ(Take(*spool, kEither), "8 fresh");
  EXPECT_EQ(Take(*spool, kEither), "7 fresh");
  EXPECT_EQ(Take(*spool, kBacklogOnly), "1 backlog");
  EXPECT_EQ(Take(*spool, kEither), "6 fresh");
  EXPECT_EQ(Take(*spool, kFreshOnly), "none");
  EXPECT_EQ(Take(*spool, kEither), "2 backlog");
  spool->Push(MakeBatch(9));  // measured while the backlog drains: next out
  EXPECT_EQ(Take(*spool, kEither), "9 fresh");
  EXPECT_EQ(Take(*spool, kEither), "3 backlog");

  spool->Ack(7, 1);
  spool->Ack(7, 8);
  EXPECT_EQ(spool->Stats().backlog, 4u) << "only acknowledged backlog batches leave the backlog";
  EXPECT_EQ(spool->Stats().batches, 7u);
}

TEST(DiskSpoolReplay, AReleasedBatchKeepsItsLaneAndANewStreamMakesEverythingBacklog) {
  TempDir dir;
  FakeClock clock(kStartMs);
  auto spool = OpenOrDie(Options(dir.path()), PosixSpoolFs::Default(), &clock);
  spool->Push(MakeBatch(1));
  spool->Push(MakeBatch(2));
  spool->MarkBacklog();
  spool->Push(MakeBatch(3));
  spool->Push(MakeBatch(4));
  EXPECT_EQ(Take(*spool, kEither), "4 fresh");
  EXPECT_EQ(Take(*spool, kBacklogOnly), "1 backlog");
  spool->Release(7, 4);  // ACK_RETRY
  spool->Release(7, 1);
  EXPECT_EQ(Take(*spool, kFreshOnly), "4 fresh") << "still the newest fresh batch";
  EXPECT_EQ(Take(*spool, kBacklogOnly), "1 backlog") << "still the oldest backlog batch";

  spool->ReleaseAll();   // the stream broke
  spool->MarkBacklog();  // and the next one came up
  EXPECT_EQ(spool->Stats().backlog, 4u);
  EXPECT_EQ(Take(*spool, kFreshOnly), "none");
  EXPECT_EQ(Take(*spool, kEither), "1 backlog");
  EXPECT_EQ(Take(*spool, kEither), "2 backlog");
  EXPECT_EQ(Take(*spool, kEither), "3 backlog");
  EXPECT_EQ(Take(*spool, kEither), "4 backlog");
  EXPECT_EQ(Take(*spool, kEither), "none");
}

TEST(DiskSpoolReplay, WhenFullTheOldestIsDroppedWhateverItsLane) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  o.max_bytes = 4 * Framed();
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  spool->Push(MakeBatch(1));
  spool->Push(MakeBatch(2));
  spool->MarkBacklog();
  spool->Push(MakeBatch(3));
  spool->Push(MakeBatch(4));
  spool->Push(MakeBatch(5));  // drops 1
  EXPECT_EQ(Take(*spool, kEither), "5 fresh");
  spool->Push(MakeBatch(6));  // drops 2
  spool->Push(MakeBatch(7));  // drops 3, the oldest waiting, though fresh
  SpoolStats st = spool->GetSpoolStats();
  EXPECT_EQ(st.dropped_full, 3u);
  EXPECT_EQ(st.batches, 4u);
  EXPECT_EQ(spool->Stats().backlog, 0u);
  EXPECT_EQ(Take(*spool, kEither), "7 fresh");
  EXPECT_EQ(Take(*spool, kEither), "6 fresh");
  EXPECT_EQ(Take(*spool, kEither), "4 fresh");
  EXPECT_EQ(Take(*spool, kEither), "none");
}

TEST(DiskSpoolReplay, ARestartReplaysAllThatIsLeftAsBacklogOldestFirst) {
  TempDir dir;
  FakeClock clock(kStartMs);
  SpoolOptions o = Options(dir.path());
  o.segment_size = 2 * Framed();
  {
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    for (uint64_t s = 1; s <= 3; ++s) spool->Push(MakeBatch(s));
    spool->MarkBacklog();
    for (uint64_t s = 4; s <= 6; ++s) spool->Push(MakeBatch(s));
    EXPECT_EQ(Take(*spool, kEither), "6 fresh");
    spool->Ack(7, 6);
    EXPECT_EQ(Take(*spool, kEither), "5 fresh");  // in flight when the agent stops
    EXPECT_EQ(Take(*spool, kBacklogOnly), "1 backlog");
    spool->Ack(7, 1);
  }
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
  EXPECT_EQ(spool->GetSpoolStats().replayed, 4u);
  EXPECT_EQ(spool->Stats().backlog, 4u);
  EXPECT_EQ(Take(*spool, kFreshOnly), "none");
  for (const char* expected : {"2 backlog", "3 backlog", "4 backlog", "5 backlog"}) {
    EXPECT_EQ(Take(*spool, kEither), expected);
  }
  EXPECT_EQ(Take(*spool, kEither), "none");
}

// A model of the lanes beside the real spool: random pushes, stream starts
// (MarkBacklog), sends from random lanes, acks, retries, broken streams and
// agent restarts. Every hand-out must be the model's (newest waiting fresh
// batch, else oldest waiting backlog batch), and at the end every batch was
// acknowledged exactly once.
TEST(DiskSpoolReplay, RandomTrafficHandsOutInLaneOrderAndEveryBatchIsAcknowledgedOnce) {
  enum class At { kWaiting, kInFlight, kAcked };
  struct Entry {
    bool backlog = true;
    At at = At::kWaiting;
  };
  for (uint32_t seed = 1; seed <= 25; ++seed) {
    SCOPED_TRACE(StrCat("seed ", seed));
    TempDir dir;
    FakeClock clock(kStartMs);
    SpoolOptions o = Options(dir.path());
    o.segment_size = 8 * Framed();
    auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
    std::mt19937 rng(seed);
    std::map<uint64_t, Entry> model;  // by sequence
    bool marked = false;
    uint64_t next_sequence = 1;
    uint64_t acks = 0;
    auto in_flight = [&] {
      std::vector<uint64_t> out;
      for (const auto& [s, e] : model) {
        if (e.at == At::kInFlight) out.push_back(s);
      }
      return out;
    };
    auto expected = [&](SendLanes lanes) -> std::string {
      if (lanes.fresh) {
        for (auto it = model.rbegin(); it != model.rend(); ++it) {
          if (it->second.at == At::kWaiting && !it->second.backlog) {
            return StrCat(it->first, " fresh");
          }
        }
      }
      if (lanes.backlog) {
        for (const auto& [s, e] : model) {
          if (e.at == At::kWaiting && e.backlog) return StrCat(s, " backlog");
        }
      }
      return "none";
    };
    for (int step = 0; step < 400; ++step) {
      const uint32_t op = rng() % 100;
      if (op < 30) {
        spool->Push(MakeBatch(next_sequence));
        model[next_sequence++] = Entry{!marked, At::kWaiting};
      } else if (op < 34) {
        spool->MarkBacklog();
        marked = true;
        for (auto& [s, e] : model) e.backlog = true;
      } else if (op < 64) {
        const SendLanes lanes = std::array{kFreshOnly, kBacklogOnly, kEither}[rng() % 3];
        const std::string want = expected(lanes);
        const std::string got = Take(*spool, lanes);
        ASSERT_EQ(got, want) << "step " << step;
        if (got != "none") model[std::stoull(got)].at = At::kInFlight;
      } else if (op < 84) {
        std::vector<uint64_t> sent = in_flight();
        if (sent.empty()) continue;
        uint64_t s = sent[rng() % sent.size()];
        spool->Ack(7, s);
        model[s].at = At::kAcked;
        ++acks;
      } else if (op < 94) {
        std::vector<uint64_t> sent = in_flight();
        if (sent.empty()) continue;
        uint64_t s = sent[rng() % sent.size()];
        spool->Release(7, s);
        model[s].at = At::kWaiting;
      } else if (op < 97) {
        spool->ReleaseAll();
        for (auto& [s, e] : model) {
          if (e.at == At::kInFlight) e.at = At::kWaiting;
        }
      } else {
        spool.reset();  // the agent stops; what is in flight was not acknowledged
        spool = OpenOrDie(o, PosixSpoolFs::Default(), &clock);
        marked = false;
        for (auto& [s, e] : model) {
          if (e.at == At::kInFlight) e.at = At::kWaiting;
          e.backlog = true;
        }
      }
      uint64_t live = 0, backlog = 0;
      for (const auto& [s, e] : model) {
        live += e.at != At::kAcked;
        backlog += e.at != At::kAcked && e.backlog;
      }
      ASSERT_EQ(spool->Stats().batches, live) << "step " << step;
      ASSERT_EQ(spool->Stats().backlog, backlog) << "step " << step;
    }
    spool->ReleaseAll();
    for (auto& [s, e] : model) {
      if (e.at == At::kInFlight) e.at = At::kWaiting;
    }
    while (auto b = spool->NextToSend(kNoWait)) {
      Entry& e = model[b->sequence()];
      ASSERT_EQ(e.at, At::kWaiting) << "batch " << b->sequence() << " handed out twice";
      e.at = At::kAcked;
      spool->Ack(b->epoch(), b->sequence());
      ++acks;
    }
    EXPECT_EQ(acks, next_sequence - 1) << "every batch acknowledged exactly once";
    for (const auto& [s, e] : model) EXPECT_EQ(e.at, At::kAcked) << "batch " << s;
    EXPECT_EQ(spool->Stats().batches, 0u);
    EXPECT_EQ(spool->GetSpoolStats().dropped_full, 0u);
  }
}

// ------------------------------------------------------------------ threads and config

TEST(DiskSpool, BackgroundMaintenanceAndConcurrentShippingDeliverEverythingOnce) {
  TempDir dir;
  SpoolOptions o = Options(dir.path());
  o.background = true;
  o.fsync = FsyncPolicy::kInterval;
  o.fsync_interval = 20ms;
  o.checkpoint_interval = 20ms;
  o.segment_size = 16 * Framed();
  auto spool = OpenOrDie(o, PosixSpoolFs::Default(), &SystemClock::Instance());
  constexpr uint64_t kCount = 2000;
  std::thread shipper([&] {
    std::set<uint64_t> seen;
    while (seen.size() < kCount) {
      auto b = spool->NextToSend(1000ms);
      ASSERT_TRUE(b);
      ASSERT_TRUE(seen.insert(b->sequence()).second);
      spool->Ack(b->epoch(), b->sequence());
    }
  });
  for (uint64_t s = 1; s <= kCount; ++s) {
    spool->Push(MakeBatch(s, SystemClock::Instance().NowMs()));
  }
  shipper.join();
  SpoolStats st = spool->GetSpoolStats();
  EXPECT_EQ(st.acked, kCount);
  EXPECT_EQ(st.batches, 0u);
  // Finished segments go within a few maintenance rounds (fsyncs of a busy
  // disk can make a round slow).
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((spool->GetSpoolStats().segments > 1 || SegmentFiles(dir.path()).size() > 1) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LE(spool->GetSpoolStats().segments, 1u);
  EXPECT_LE(SegmentFiles(dir.path()).size(), 1u);
  EXPECT_EQ(spool->GetSpoolStats().manifest_errors, 0u);
}

TEST(SpoolConfig, KeysAreReadAndCheckedWithFileAndLine) {
  auto c = ParseAgentConfig(
      "spool:\n  dir: /tmp/s\n  max_bytes: 16MiB\n  max_age: 2d\n  fsync: always\n"
      "  fsync_interval: 250ms\n  segment_size: 1MiB\n",
      "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->spool.enabled);
  EXPECT_EQ(c->spool.dir, "/tmp/s");
  EXPECT_EQ(c->spool.max_bytes, 16u << 20);
  EXPECT_EQ(c->spool.max_age, std::chrono::hours(48));
  EXPECT_EQ(c->spool.fsync, FsyncPolicy::kAlways);
  EXPECT_EQ(c->spool.fsync_interval, 250ms);
  EXPECT_EQ(c->spool.segment_size, 1u << 20);

  auto defaults = ParseAgentConfig("", "agent.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->spool.enabled);
  EXPECT_EQ(defaults->spool.max_bytes, 256u << 20);
  EXPECT_EQ(defaults->spool.max_age, std::chrono::hours(24 * 7));
  EXPECT_EQ(defaults->spool.fsync, FsyncPolicy::kInterval);

  auto bad = ParseAgentConfig("spool:\n  fsync: sometimes\n", "agent.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("agent.yaml:2: spool.fsync: expected always, interval or "
                                        "never, got \"sometimes\""),
            absl::string_view::npos)
      << bad.status();
  auto small = ParseAgentConfig("spool:\n  max_bytes: 1MiB\n  segment_size: 2MiB\n", "agent.yaml");
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("spool.segment_size: must not exceed max_bytes"),
            absl::string_view::npos)
      << small.status();
}

TEST(AgentSpool, TheAgentSpoolsInItsStateDirAndPublishesTheFigures) {
  TempDir dir;
  auto config = ParseAgentConfig("state_dir: " + dir.path() + "\n", "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  Agent agent(std::move(*config), "");
  EXPECT_TRUE(fs::exists(dir.File("spool/LOCK")));
  (void)agent.CollectOnce();
  bool found = false;
  for (const CounterValue& c : agent.counters().Snapshot()) {
    found |= c.name == "plumbline_agent_spool_spooled_total";
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(agent.counters().Get("plumbline_agent_spool_dropped_total", {{"reason", "age"}}), 0);
  EXPECT_EQ(agent.counters().Get("plumbline_agent_spool_open_errors_total"), 0);
}

TEST(AgentSpool, AnUnusableSpoolDirectoryFallsBackToTheMemoryQueueLoudly) {
  TempDir dir;
  Spit(dir.File("not-a-dir"), "x");
  auto config = ParseAgentConfig(
      "state_dir: " + dir.path() + "\nspool:\n  dir: " + dir.File("not-a-dir") + "/spool\n",
      "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  Agent agent(std::move(*config), "");
  EXPECT_EQ(agent.counters().Get("plumbline_agent_spool_open_errors_total"), 1);
  (void)agent.CollectOnce();  // no spool figures, no crash
  EXPECT_EQ(agent.counters().Get("plumbline_agent_spool_spooled_total"), 0);
}

TEST(SpoolConfig, TheAnnotatedDefaultConfigShowsTheDefaults) {
  auto c = LoadAgentConfig(std::string(PLUMBLINE_FIXTURES) + "/../../configs/agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  SpoolOptions defaults;
  EXPECT_TRUE(c->spool == defaults);
}

}  // namespace
}  // namespace plumbline::agent
