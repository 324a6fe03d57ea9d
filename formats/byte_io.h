// Little-endian byte building and bounds-checked reading for binary formats. ByteReader checks
// the remaining length before every read and throws an input error naming what it was reading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace mc {

class ByteWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(static_cast<std::byte>(v)); }
  void u16(uint16_t v) { put(v); }
  void u32(uint32_t v) { put(v); }
  void u64(uint64_t v) { put(v); }
  void f32(float v) { put(v); }
  // LEB128: 7 bits per byte, low bits first, high bit set on all but the last byte.
  void varint(uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<uint8_t>(v));
  }
  // Zig-zag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
  void svarint(int64_t v) { varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void string(const std::string& s) {
    varint(s.size());
    append(std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
  }
  // resize + memcpy rather than vector::insert: GCC 12 reports a false -Wstringop-overflow in the
  // inlined insert of the unity build.
  void append(std::span<const std::byte> b) {
    if (b.empty()) return;
    const size_t at = bytes_.size();
    bytes_.resize(at + b.size());
    std::memcpy(bytes_.data() + at, b.data(), b.size());
  }
  void pad_to(size_t alignment) {
    while (bytes_.size() % alignment) u8(0);
  }
  size_t size() const { return bytes_.size(); }
  std::vector<std::byte>& bytes() { return bytes_; }
  // Overwrites 4 bytes at `offset` (for fields known only later).
  void patch_u32(size_t offset, uint32_t v) { std::memcpy(bytes_.data() + offset, &v, 4); }
  void patch_u64(size_t offset, uint64_t v) { std::memcpy(bytes_.data() + offset, &v, 8); }

 private:
  template <class T> void put(T v) {
    std::byte b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // hosts are little-endian (x86-64, arm64)
    bytes_.insert(bytes_.end(), b, b + sizeof(T));
  }
  std::vector<std::byte> bytes_;
};

class ByteReader {
 public:
  ByteReader(std::span<const std::byte> bytes, std::string context) : bytes_(bytes), context_(std::move(context)) {}

  uint8_t u8(const char* what) { return get<uint8_t>(what); }
  uint16_t u16(const char* what) { return get<uint16_t>(what); }
  uint32_t u32(const char* what) { return get<uint32_t>(what); }
  uint64_t u64(const char* what) { return get<uint64_t>(what); }
  float f32(const char* what) { return get<float>(what); }
  uint64_t varint(const char* what) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = u8(what);
      if (shift == 63 && b > 1) fail(std::string(what) + ": varint overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(std::string(what) + ": varint longer than 10 bytes");
  }
  // A varint that must not exceed `max` (counts, sizes): checked before anything is allocated.
  uint64_t count(const char* what, uint64_t max) {
    uint64_t v = varint(what);
    if (v > max) fail(std::string(what) + " is " + std::to_string(v) + ", more than the limit " + std::to_string(max));
    return v;
  }
  int64_t svarint(const char* what) {
    uint64_t v = varint(what);
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  std::string string(const char* what, uint64_t max_length = 1 << 16) {
    uint64_t n = count(what, max_length);
    auto b = bytes(static_cast<size_t>(n), what);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  std::span<const std::byte> bytes(size_t n, const char* what) {
    need(n, what);
    auto s = bytes_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  size_t remaining() const { return bytes_.size() - pos_; }
  size_t position() const { return pos_; }
  [[noreturn]] void fail(const std::string& what) const { fail_input(context_ + ": " + what); }
  // Valid but newer than this reader (unknown encoding, coder, ...): exit code 4, same context.
  [[noreturn]] void unsupported(const std::string& what) const { fail_unsupported(context_ + ": " + what); }

 private:
  void need(size_t n, const char* what) const {
    if (n > remaining())
      fail(std::string("truncated while reading ") + what + " (needs " + std::to_string(n) + " bytes at offset " +
           std::to_string(pos_) + ", " + std::to_string(remaining()) + " left)");
  }
  template <class T> T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::span<const std::byte> bytes_;
  std::string context_;
  size_t pos_ = 0;
};

}  // namespace mc
