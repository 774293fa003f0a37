// Bit streams of the store's compressed blobs (sample blocks, rollup blocks): bits are written
// most significant first, a 64-bit big-endian word at a time, and the stream ends zero-padded to
// a whole byte. A reader takes a [p, end) range and never reads past `end`.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "collector/store/varint.h"

namespace plumbline::collector::internal {

// Appends bits most significant first, a 64-bit word at a time, into a buffer the caller sized
// for the worst case (so no bounds checks here).
class BitWriter {
 public:
  explicit BitWriter(char* out) : out_(out) {}

  // Appends the low `n` bits of `v` (1 <= n <= 63; the bits of `v` above them are zero).
  void Put(uint64_t v, unsigned n) {
    if (used_ + n < 64) {
      acc_ = (acc_ << n) | v;
      used_ += n;
      return;
    }
    unsigned rest = used_ + n - 64;
    Store64<std::endian::big>(out_, (acc_ << (n - rest)) | (v >> rest));
    out_ += 8;
    // Only the low `rest` bits count; the ones above are shifted out before they are stored.
    acc_ = v;
    used_ = rest;
  }
  // As Put, for 1 <= n <= 64.
  void PutWide(uint64_t v, unsigned n) {
    if (n < 64) return Put(v, n);
    Put(v >> 32, 32);
    Put(v & 0xffffffff, 32);
  }
  // Flushes the last partial word, zero-padded to a byte; returns the end of the output.
  char* Finish() {
    if (used_ > 0) {
      char word[8];
      Store64<std::endian::big>(word, acc_ << (64 - used_));
      size_t bytes = (used_ + 7) / 8;
      std::memcpy(out_, word, bytes);
      out_ += bytes;
      used_ = 0;
    }
    return out_;
  }

 private:
  char* out_;
  uint64_t acc_ = 0;
  unsigned used_ = 0;  // bits pending in acc_, < 64
};

// Reads bits most significant first. `bits_` holds `avail_` unread bits at its top; the bits
// below may already hold the following stream bits (the refill loads whole words), never
// bits from outside [p, end).
class BitReader {
 public:
  BitReader(const unsigned char* p, const unsigned char* end) : p_(p), end_(end) {}

  // Tops up to at least 56 bits, or to the end of the stream.
  void Fill() {
    if (avail_ < 56) Refill();
  }
  // The next bits, most significant first: only the first avail() of them count.
  uint64_t Top() const { return bits_; }
  unsigned avail() const { return avail_; }
  // Drops `n` bits (n <= avail(), n < 64).
  void Skip(unsigned n) {
    bits_ <<= n;
    avail_ -= n;
  }

  // Reads `n` bits (1 <= n <= 56); false if the stream ends first.
  bool Read(unsigned n, uint64_t* v) {
    if (avail_ < n) {
      Refill();
      if (avail_ < n) return false;
    }
    *v = bits_ >> (64 - n);
    Skip(n);
    return true;
  }
  // As Read, for 1 <= n <= 64.
  bool ReadWide(unsigned n, uint64_t* v) {
    if (n <= 56) return Read(n, v);
    uint64_t high, low;
    if (!Read(n - 32, &high) || !Read(32, &low)) return false;
    *v = (high << 32) | low;
    return true;
  }

  uint64_t BitsLeft() const { return avail_ + 8 * static_cast<uint64_t>(end_ - p_); }
  // The unread bits of the last byte; call only when BitsLeft() < 8.
  uint64_t PaddingBits() const { return avail_ == 0 ? 0 : bits_ >> (64 - avail_); }

 private:
  // Tops up to at least 56 bits, or to the end of the stream.
  void Refill() {
    if (end_ - p_ >= 8) {
      bits_ |= Load64<std::endian::big>(p_) >> avail_;
      p_ += (63 - avail_) >> 3;
      avail_ |= 56;
      return;
    }
    while (avail_ <= 56 && p_ < end_) {
      bits_ |= static_cast<uint64_t>(*p_++) << (56 - avail_);
      avail_ += 8;
    }
  }

  const unsigned char* p_;
  const unsigned char* end_;
  uint64_t bits_ = 0;
  unsigned avail_ = 0;
};

}  // namespace plumbline::collector::internal
