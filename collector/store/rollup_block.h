// Rollups on disk: the aggregates of one series over one span (the minutes
// of an hour, the hours of a day) in one compressed blob, instead of one
// table row of eleven columns each. Host metrics change little from one
// bucket to the next, so each field is written as its difference from a
// prediction (the previous bucket, or another field of the same bucket),
// in a bit stream where a field as predicted takes one bit and a bucket
// predicted in full takes one bit: a steady counter's minute takes under a
// byte, a constant's about half, a two-decimal gauge's about 5 bytes, where
// a row took about 96. The layout is described in rollup_block.cpp.
//
// Values are lossless, bit for bit, whatever they are (NaN payloads, -0.0,
// infinities). When the first and last value of every bucket are decimals
// with at most 9 digits after the point (as host metrics' are), values are
// written as those decimals' integers, each with its distance in units in the
// last place from the double it stands for (0 for most values, so not
// written; a few units for sums that floating-point addition left off a
// decimal), divided by their common divisor if they have one (memory in pages
// of 4096 bytes, disk in sectors of 512); otherwise as the raw doubles.
//
// A reader never trusts the bytes: a truncated or corrupt blob gives a
// DataLoss status, with the aggregates decoded before the damage kept; it
// never reads out of bounds.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "collector/store/store.h"

namespace plumbline::collector {

// Encodes `run` (start_ms strictly ascending; any number, 0 included).
std::string EncodeAggregates(std::span<const Aggregate> run);

// Appends the aggregates of `blob` to `out`, in order.
absl::Status DecodeAggregates(std::string_view blob, std::vector<Aggregate>* out);

}  // namespace plumbline::collector
