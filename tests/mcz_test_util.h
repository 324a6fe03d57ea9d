// Helpers for tests (and fuzz targets) that build, take apart and deliberately damage .mcz files
// (docs/FORMAT.md). Everything here is written from the format spec, independently of
// formats/mcz.cpp, so the tests also cross-check the writer against the spec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "formats/checksum.h"
#include "core/encoding.h"
#include "formats/mcz.h"
#include "tests/model_builder.h"

namespace mc::test {

inline constexpr size_t mcz_header_bytes = 32;
inline constexpr size_t mcz_entry_bytes = 32;
inline constexpr size_t mcz_trailer_bytes = 8;

inline uint16_t load_u16(const std::vector<std::byte>& b, size_t at) {
  uint16_t v;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}
inline uint32_t load_u32(const std::vector<std::byte>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
inline uint64_t load_u64(const std::vector<std::byte>& b, size_t at) {
  uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
inline void store_u16(std::vector<std::byte>& b, size_t at, uint16_t v) { std::memcpy(b.data() + at, &v, 2); }
inline void store_u32(std::vector<std::byte>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
inline void store_u64(std::vector<std::byte>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

// One entry of the section table, with the position of the entry itself.
struct SectionEntry {
  size_t entry_at = 0;
  uint32_t kind = 0;
  uint32_t flags = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t crc = 0;
};

// The section table entries the file holds (as many as the header's count says and the file has
// room for). No validation: works on damaged files too.
inline std::vector<SectionEntry> section_entries(const std::vector<std::byte>& b) {
  std::vector<SectionEntry> out;
  if (b.size() < mcz_header_bytes) return out;
  const uint64_t count = load_u32(b, 24);
  for (uint64_t i = 0; i < count && mcz_header_bytes + (i + 1) * mcz_entry_bytes <= b.size(); ++i) {
    SectionEntry e;
    e.entry_at = static_cast<size_t>(mcz_header_bytes + i * mcz_entry_bytes);
    e.kind = load_u32(b, e.entry_at);
    e.flags = load_u32(b, e.entry_at + 4);
    e.offset = load_u64(b, e.entry_at + 8);
    e.length = load_u64(b, e.entry_at + 16);
    e.crc = load_u32(b, e.entry_at + 24);
    out.push_back(e);
  }
  return out;
}

// The entry of the first section of `kind`; the file must have one.
inline SectionEntry section_of(const std::vector<std::byte>& b, uint32_t kind) {
  for (const auto& e : section_entries(b))
    if (e.kind == kind) return e;
  fail_internal("test file has no section of kind " + std::to_string(kind));
}

// Recomputes every checksum a writer would: the CRC32C of each section that lies inside the file,
// then the header checksum (header bytes 0-27 and the section table), then the whole-file CRC32C
// in the trailer. A test that changes a field calls this so the change reaches the check behind
// the checksums. Safe on any bytes (never reads or writes outside the vector).
inline void refresh_checksums(std::vector<std::byte>& b) {
  if (b.size() < mcz_header_bytes) return;
  const auto entries = section_entries(b);
  for (const auto& e : entries)
    if (e.offset <= b.size() && e.length <= b.size() - e.offset)
      store_u32(b, e.entry_at + 24,
                crc32c(std::span<const std::byte>(b.data() + e.offset, static_cast<size_t>(e.length))));
  const size_t table_bytes = entries.size() * mcz_entry_bytes;
  uint32_t head = crc32c(std::span<const std::byte>(b.data(), 28));
  head = crc32c(std::span<const std::byte>(b.data() + mcz_header_bytes, table_bytes), head);
  store_u32(b, 28, head);
  if (b.size() >= mcz_header_bytes + mcz_trailer_bytes) {
    const size_t body = b.size() - mcz_trailer_bytes;
    store_u32(b, body, crc32c(std::span<const std::byte>(b.data(), body)));
  }
}

// Only the whole-file CRC32C: for tests that want a section or header checksum to be the first
// check that fails.
inline void refresh_file_checksum(std::vector<std::byte>& b) {
  if (b.size() < mcz_header_bytes + mcz_trailer_bytes) return;
  const size_t body = b.size() - mcz_trailer_bytes;
  store_u32(b, body, crc32c(std::span<const std::byte>(b.data(), body)));
}

// Makes any bytes of .mcz size look internally consistent: the header's file size, the trailer magic
// and every checksum. What the fuzz target does to a second copy of each input, so that random
// mutations get past the checksums to the section and tensor-table parsers.
inline void make_consistent(std::vector<std::byte>& b) {
  if (b.size() < mcz_header_bytes + mcz_trailer_bytes) return;
  store_u64(b, 16, b.size());
  std::memcpy(b.data() + b.size() - 4, "MCZ.", 4);
  refresh_checksums(b);
}

// A section's kind, flags and content, without its placement.
struct RawSection {
  uint32_t kind = 0;
  uint32_t flags = 0;
  std::vector<std::byte> bytes;
};

// The sections of a well-formed file, in table order.
inline std::vector<RawSection> extract_sections(const std::vector<std::byte>& file) {
  std::vector<RawSection> out;
  for (const auto& e : section_entries(file)) {
    if (e.offset > file.size() || e.length > file.size() - e.offset) fail_internal("extract_sections: bad test file");
    const auto* p = file.data() + e.offset;
    out.push_back({e.kind, e.flags, std::vector<std::byte>(p, p + e.length)});
  }
  return out;
}

// Lays out a container exactly as FORMAT.md says a writer must (sections in the given order, each
// at a multiple of 8, the payload at a multiple of 64, zero gaps, every checksum filled in).
inline std::vector<std::byte> assemble_mcz(const std::vector<RawSection>& sections, uint16_t major = 1,
                                           uint16_t minor = 0) {
  static constexpr unsigned char magic[8] = {0x89, 'M', 'C', 'Z', '\r', '\n', 0x1a, '\n'};
  std::vector<std::byte> b(mcz_header_bytes + sections.size() * mcz_entry_bytes, std::byte{0});
  std::memcpy(b.data(), magic, 8);
  store_u16(b, 8, major);
  store_u16(b, 10, minor);
  store_u32(b, 24, static_cast<uint32_t>(sections.size()));
  for (size_t i = 0; i < sections.size(); ++i) {
    const size_t alignment = sections[i].kind == 3 ? 64 : 8;
    while (b.size() % alignment) b.push_back(std::byte{0});
    const size_t at = mcz_header_bytes + i * mcz_entry_bytes;
    store_u32(b, at, sections[i].kind);
    store_u32(b, at + 4, sections[i].flags);
    store_u64(b, at + 8, b.size());
    store_u64(b, at + 16, sections[i].bytes.size());
    b.insert(b.end(), sections[i].bytes.begin(), sections[i].bytes.end());
  }
  while (b.size() % 8) b.push_back(std::byte{0});
  b.resize(b.size() + mcz_trailer_bytes, std::byte{0});
  std::memcpy(b.data() + b.size() - 4, "MCZ.", 4);
  store_u64(b, 16, b.size());
  refresh_checksums(b);
  return b;
}

// Replaces `erase` bytes at `pos` of section `index` by `insert` and lays the file out again
// (lengths, offsets, file size and checksums all consistent): how a test edits a varint in the
// tensor table, or how the mutation test reaches the parsers with insertions and deletions.
inline std::vector<std::byte> splice_section(const std::vector<std::byte>& file, size_t index, size_t pos,
                                             size_t erase, std::span<const std::byte> insert) {
  auto sections = extract_sections(file);
  auto& s = sections.at(index).bytes;
  if (pos > s.size() || erase > s.size() - pos) fail_internal("splice_section: range outside the section");
  s.erase(s.begin() + static_cast<std::ptrdiff_t>(pos), s.begin() + static_cast<std::ptrdiff_t>(pos + erase));
  s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), insert.begin(), insert.end());
  return assemble_mcz(sections, load_u16(file, 8), load_u16(file, 10));
}

inline std::vector<std::byte> leb128(uint64_t v) {
  std::vector<std::byte> out;
  while (v >= 0x80) {
    out.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::byte>(v));
  return out;
}

// The lossless encodings `mcompress compress` uses: float tensors as fp32 byte planes (or fp16),
// everything else raw.
inline std::map<std::string, EncodedTensor> lossless_encodings(const Model& m, bool fp16 = false) {
  std::map<std::string, EncodedTensor> out;
  for (const auto& [name, init] : m.graph.initializers) {
    const Tensor& t = init.values;
    out[name] = t.dtype() != DType::f32 ? encode_raw(t) : fp16 ? encode_fp16(t) : encode_fp32_planes(t);
  }
  return out;
}

// Allocation guard, defined in tests/test_mcz_corruption.cpp (which replaces the global operator new,
// except under AddressSanitizer, where allocation_limit_enforced() is false and the guard does
// nothing). While an AllocationLimit lives, any single allocation on its thread larger than the limit
// throws AllocationTooLarge: a test proves that a reader refuses an absurd size before allocating it.
class AllocationTooLarge : public std::bad_alloc {
 public:
  explicit AllocationTooLarge(size_t bytes);
  const char* what() const noexcept override;
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_;
  char message_[96];
};
class AllocationLimit {
 public:
  explicit AllocationLimit(size_t max_bytes);
  ~AllocationLimit();
  AllocationLimit(const AllocationLimit&) = delete;
  AllocationLimit& operator=(const AllocationLimit&) = delete;

 private:
  size_t previous_;
};
bool allocation_limit_enforced();

// A small model using more op kinds than tiny_conv_model (for seeds and mutation):
// x [N,3,8,8] -> Conv -> BatchNormalization -> Clip(0, 6) -> MaxPool 2x2 -> Reshape to [N, 64]
// (the shape computed by Shape -> Gather -> Unsqueeze -> Concat) -> Gemm -> Softmax -> y [N,10].
inline Model varied_model() {
  Model m = tiny_conv_model();
  Graph& g = m.graph;
  g.outputs[0] = ValueInfo{"y", DType::f32, {-1, 10}, {"N", ""}, true};
  g.nodes.resize(1);  // keep the Conv
  auto ints = [](std::vector<int64_t> v) {
    Attribute a;
    a.type = AttrType::integers;
    a.ints = std::move(v);
    return a;
  };
  auto integer = [](int64_t v) {
    Attribute a;
    a.type = AttrType::integer;
    a.i = v;
    return a;
  };
  auto floats = [](size_t n, float start, float step) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
    return v;
  };
  g.initializers["bn_scale"] = Tensor::from_vector<float>({4}, floats(4, 1.0f, 0.1f));
  g.initializers["bn_bias"] = Tensor::from_vector<float>({4}, floats(4, -0.1f, 0.05f));
  g.initializers["bn_mean"] = Tensor::from_vector<float>({4}, floats(4, 0.0f, 0.01f));
  g.initializers["bn_var"] = Tensor::from_vector<float>({4}, floats(4, 1.0f, 0.2f));
  g.initializers["clip_min"] = Tensor::scalar_f32(0.0f);
  g.initializers["clip_max"] = Tensor::scalar_f32(6.0f);
  g.initializers["zero"] = Tensor::from_vector<int64_t>({}, {0});
  g.initializers["axes"] = Tensor::from_vector<int64_t>({1}, {0});
  g.initializers["features"] = Tensor::from_vector<int64_t>({1}, {64});
  g.initializers["fc_w"] = Tensor::from_vector<float>({10, 64}, floats(640, -0.3f, 0.001f));
  g.initializers["fc_b"] = Tensor::from_vector<float>({10}, floats(10, 0.0f, 0.01f));
  g.nodes.push_back(Node{"bn", "BatchNormalization", {"c", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, {"n"}, {}});
  g.nodes.push_back(Node{"clip", "Clip", {"n", "clip_min", "clip_max"}, {"r"}, {}});
  Node pool{"pool", "MaxPool", {"r"}, {"p"}, {}};
  pool.attrs["kernel_shape"] = ints({2, 2});
  pool.attrs["strides"] = ints({2, 2});
  g.nodes.push_back(pool);
  g.nodes.push_back(Node{"shape", "Shape", {"p"}, {"s"}, {}});
  Node gather{"batch", "Gather", {"s", "zero"}, {"n0"}, {}};
  gather.attrs["axis"] = integer(0);
  g.nodes.push_back(gather);
  g.nodes.push_back(Node{"unsqueeze", "Unsqueeze", {"n0", "axes"}, {"n1"}, {}});
  Node concat{"concat", "Concat", {"n1", "features"}, {"target"}, {}};
  concat.attrs["axis"] = integer(0);
  g.nodes.push_back(concat);
  g.nodes.push_back(Node{"reshape", "Reshape", {"p", "target"}, {"f"}, {}});
  Node gemm{"fc", "Gemm", {"f", "fc_w", "fc_b"}, {"logits"}, {}};
  gemm.attrs["transB"] = integer(1);
  g.nodes.push_back(gemm);
  Node softmax{"softmax", "Softmax", {"logits"}, {"y"}, {}};
  softmax.attrs["axis"] = integer(1);
  g.nodes.push_back(softmax);
  return m;
}

// tiny_conv_model() as a .mcz (about 1.5 KB): graph, tensors (w [4,3,3,3], b [4]), metadata,
// payload, in that order.
inline std::vector<std::byte> small_mcz(bool fp16 = false) {
  Model m = tiny_conv_model();
  nlohmann::ordered_json meta = {{"tool", "mcompress"}, {"recipe", fp16 ? "fp16" : "lossless"}};
  return write_mcz(with_encodings(m, lossless_encodings(m, fp16)), meta, 0, false);
}

}  // namespace mc::test
