// Raw samples on disk: a block holds runs of samples, one run per series,
// each run compressed the way time-series stores do it (Gorilla: timestamps
// as delta-of-delta), so host metrics at a fixed interval cost one or two
// bytes a sample. Values take one of two encodings, chosen per run by size:
// XORed with the previous value (any double), or, when every value of the
// run is a short decimal (an integer r with value == r / 10^k bit for bit,
// k <= 9), the integers as delta-of-delta like the timestamps, divided by
// their gcd when that is > 1 and makes the run smaller (memory in pages,
// disk in sectors). Gauges with a few decimals that move every sample cost
// 5-7 bytes a sample XORed, and about 1-2 as decimals.
//
// Layout (all integers little-endian varints unless stated):
//   block  := version(1 byte, = 1) run*
//   run    := id_delta ts_delta count payload_bytes payload
//   payload:= mode(1 byte: 0 XOR, 1 + k decimal with k digits, 11 + k
//             decimal with k digits and a divisor), [divisor mode: the
//             divisor g >= 2], the first value (divided by g), then a
//             Gorilla bit stream of the other `count` - 1 (timestamp, value)
//             pairs
// Series ids ascend strictly within a block (id_delta is the step from the
// previous run's id, the first from 0); ts_delta is the run's first
// timestamp less the previous run's (the first from 0). A reader can skip a
// run by its byte length without decoding it.
//
// A reader never trusts the bytes: a truncated or corrupt block ends the
// iteration with a DataLoss status; it never reads out of bounds.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace plumbline::collector {

struct RawSample {
  int64_t ts_ms = 0;
  double value = 0;
  bool operator==(const RawSample&) const = default;
};

class BlockWriter {
 public:
  // Appends one series' run. Series ids must ascend strictly from call to
  // call; timestamps must ascend strictly within the run; n >= 1.
  void AddRun(int64_t series_id, std::span<const RawSample> samples);

  size_t runs() const { return runs_; }
  uint64_t samples() const { return samples_; }
  int64_t min_ts() const { return min_ts_; }
  int64_t max_ts() const { return max_ts_; }
  bool empty() const { return runs_ == 0; }

  // The encoded block; the writer starts over, empty.
  std::string Finish();

  // Testing only: encode values XORed in every run, to compare sizes with.
  void set_xor_only_for_testing(bool xor_only) { xor_only_ = xor_only; }

 private:
  // The smallest k in [0, 9] at which every value of `samples` is a decimal,
  // with the integers left in decimals_; -1 if there is none.
  int ToDecimals(std::span<const RawSample> samples);

  std::string out_{'\x01'};
  // Reused run buffers, one per value encoding.
  std::string xor_payload_;
  std::string decimal_payload_;
  std::string divisor_payload_;
  std::vector<int64_t> decimals_;
  bool xor_only_ = false;
  int64_t last_id_ = 0;
  uint64_t last_first_ts_ = 0;
  size_t runs_ = 0;
  uint64_t samples_ = 0;
  int64_t min_ts_ = INT64_MAX;
  int64_t max_ts_ = INT64_MIN;
};

class BlockReader {
 public:
  explicit BlockReader(std::string_view block);

  // Moves to the next run: false at the end of the block or on corrupt data
  // (then status() is not OK).
  bool NextRun();
  int64_t series_id() const { return series_id_; }
  uint32_t count() const { return count_; }
  // Appends the current run's samples to `out`; false (and status() says
  // why) on corrupt data. A run not decoded is skipped by NextRun.
  bool Decode(std::vector<RawSample>* out);

  absl::Status status() const { return status_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  std::string_view payload_;
  int64_t series_id_ = 0;
  int64_t first_ts_ = 0;  // of the current run
  uint32_t count_ = 0;
  absl::Status status_;
};

}  // namespace plumbline::collector
