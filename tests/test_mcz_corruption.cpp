// The .mcz reader against bad input (docs/FORMAT.md, "Reading order and checks"), in the manner of
// llama.cpp's tests/test-gguf.cpp: hand-made corruptions, each rejected with the right error kind
// (input: corrupt data, exit 3; unsupported: newer version or unknown feature, exit 4) and a message
// naming the problem; never a crash, and absurd sizes are rejected before anything is allocated.
// Test files are made with mc::write_mcz from tests/model_builder.h's tiny model and edited with
// tests/mcz_test_util.h, which recomputes checksums so an edit reaches the check behind them.
//
// The golden must-fail files in tests/data/bad_mcz and the fuzz seed corpora in tests/fuzz/corpus are
// made by `MCOMPRESS_REGENERATE_GOLDEN=1 mcompress_tests --test-case='test_mcz_corruption: golden*'`.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <set>

#include "formats/file_io.h"
#include "formats/onnx_model.h"
#include "formats/rans.h"
#include "tests/helpers.h"
#include "tests/mcz_test_util.h"
#include "tests/test_util.h"

using namespace mc;
using mc::test::contains;
using namespace mc::test;

// --- allocation guard (declared in tests/mcz_test_util.h) ------------------------------------------
// The global operator new is replaced (malloc-based, like libstdc++'s) so that an AllocationLimit can
// refuse oversized requests on its thread. Not under AddressSanitizer, whose own operator new/delete
// pairing checks would otherwise be lost for the whole test binary; there the limit is not enforced.

#if defined(__SANITIZE_ADDRESS__)
#define MC_TEST_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MC_TEST_HAVE_ASAN 1
#endif
#endif

namespace {
thread_local size_t allocation_limit_bytes = 0;  // 0: no limit
}  // namespace

namespace mc::test {

AllocationTooLarge::AllocationTooLarge(size_t bytes) : bytes_(bytes) {
  std::snprintf(message_, sizeof message_, "allocation of %zu bytes over the test's limit", bytes);
}
const char* AllocationTooLarge::what() const noexcept { return message_; }

AllocationLimit::AllocationLimit(size_t max_bytes) : previous_(allocation_limit_bytes) {
  allocation_limit_bytes = max_bytes;
}
AllocationLimit::~AllocationLimit() { allocation_limit_bytes = previous_; }

bool allocation_limit_enforced() {
#ifdef MC_TEST_HAVE_ASAN
  return false;
#else
  return true;
#endif
}

}  // namespace mc::test

#ifndef MC_TEST_HAVE_ASAN
void* operator new(std::size_t n) {
  if (allocation_limit_bytes != 0 && n > allocation_limit_bytes) {
    allocation_limit_bytes = 0;  // the exception object and the test's report may allocate
    throw mc::test::AllocationTooLarge(n);
  }
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept { return ::operator new(n, tag); }
// Not inlined, so GCC's -Wmismatched-new-delete does not see free() meet operator new.
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#endif

namespace {

constexpr uint32_t graph_kind = 1, tensors_kind = 2, payload_kind = 3, metadata_kind = 4;

// What reading and decoding `file` throws. Anything but an mc::Error (a std::bad_alloc, an
// AllocationTooLarge, ...) propagates and fails the calling test; no error at all fails it too.
Error corrupt_load_error(const std::vector<std::byte>& file, const std::string& name = "t.mcz") {
  try {
    AllocationLimit limit(64u << 20);  // the files here are a few KB; decoding them needs far less
    McFile f = read_mcz(file, name);
    decode_mcz(f, name);
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error for " << name);
  return Error(ErrorKind::internal, "");
}

// A macro, not a function, so that a failure reports the line of the case.
#define CHECK_FAILS(file, expected_kind, message_part)                                      \
  do {                                                                                      \
    const Error e_ = corrupt_load_error(file);                                                      \
    CHECK(e_.kind() == (expected_kind));                                                    \
    CHECK_MESSAGE(contains(e_.what(), message_part), "message: " << std::string(e_.what())); \
  } while (0)

Model load(const std::vector<std::byte>& file) { return decode_mcz(read_mcz(file, "t.mcz"), "t.mcz"); }

std::vector<std::byte> flipped(std::vector<std::byte> file, size_t at, int bit) {
  file.at(at) ^= static_cast<std::byte>(1u << bit);
  return file;
}

size_t section_index(const std::vector<std::byte>& file, uint32_t kind) {
  const auto entries = section_entries(file);
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].kind == kind) return i;
  fail_internal("no section of kind " + std::to_string(kind));
}

// --- the tensor table, field by field -----------------------------------------------------------

struct Field {
  size_t at = 0;    // offset in the tensor table section
  size_t size = 0;  // bytes
  uint64_t value = 0;
};

// Where every field of a (well-formed) tensor table is: "count", then per tensor "<name>.name" (its
// length and bytes), "<name>.rank", "<name>.dims[i]", "<name>.part[p].encoding",
// "<name>.part[p].stream[s].offset", ... named as in FORMAT.md's tables.
std::map<std::string, Field> map_tensor_table(const std::vector<std::byte>& t) {
  std::map<std::string, Field> m;
  size_t pos = 0;
  auto varint = [&](const std::string& key) {
    const size_t at = pos;
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const auto b = std::to_integer<uint64_t>(t.at(pos++));
      v |= (b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    m[key] = {at, pos - at, v};
    return v;
  };
  auto u8 = [&](const std::string& key) {
    m[key] = {pos, 1, std::to_integer<uint64_t>(t.at(pos))};
    return m[key].value;
  };
  auto next_u8 = [&](const std::string& key) {
    const uint64_t v = u8(key);
    ++pos;
    return v;
  };
  const uint64_t count = varint("count");
  for (uint64_t i = 0; i < count; ++i) {
    const size_t at = pos;
    const uint64_t length = varint("length");
    const std::string name(reinterpret_cast<const char*>(t.data() + pos), static_cast<size_t>(length));
    pos += static_cast<size_t>(length);
    m.erase("length");
    const std::string p = name + ".";
    m[p + "name"] = {at, pos - at, length};
    next_u8(p + "dtype");
    const uint64_t rank = varint(p + "rank");
    for (uint64_t d = 0; d < rank; ++d) varint(p + "dims[" + std::to_string(d) + "]");
    const uint64_t perm = varint(p + "permutation length");
    for (uint64_t k = 0; k < perm; ++k) varint(p + "permutation[" + std::to_string(k) + "]");
    const uint64_t parts = varint(p + "part count");
    for (uint64_t pi = 0; pi < parts; ++pi) {
      const std::string q = p + "part[" + std::to_string(pi) + "].";
      next_u8(q + "encoding");
      const size_t flags_at = pos;
      next_u8(q + "flags");
      const size_t scale_bytes = (std::to_integer<uint8_t>(t[flags_at]) & 2) ? 2 : 4;  // bit 1: float16 scales
      varint(q + "first channel");
      varint(q + "end channel");
      next_u8(q + "terms");
      const uint64_t scales = varint(q + "scale count");
      for (uint64_t k = 0; k < scales; ++k) {
        m[q + "scale[" + std::to_string(k) + "]"] = {pos, scale_bytes, 0};
        pos += scale_bytes;
      }
      const uint64_t zero_points = varint(q + "zero point count");
      for (uint64_t k = 0; k < zero_points; ++k) varint(q + "zero point[" + std::to_string(k) + "]");
      const uint64_t streams = varint(q + "stream count");
      for (uint64_t s = 0; s < streams; ++s) {
        const std::string r = q + "stream[" + std::to_string(s) + "].";
        next_u8(r + "coder");
        next_u8(r + "symbol bits");
        varint(r + "symbol count");
        varint(r + "offset");
        varint(r + "length");
        varint(r + "entropy bound");
      }
    }
  }
  m["end"] = {pos, 0, 0};
  return m;
}

std::vector<std::byte> section_bytes(const std::vector<std::byte>& file, uint32_t kind) {
  return extract_sections(file).at(section_index(file, kind)).bytes;
}

Field table_field(const std::vector<std::byte>& file, const std::string& field) {
  auto m = map_tensor_table(section_bytes(file, tensors_kind));
  auto it = m.find(field);
  if (it == m.end()) fail_internal("no tensor table field '" + field + "'");
  return it->second;
}

// The file with one tensor table field replaced by `replacement` (any length): the table is laid
// out again and every length, offset and checksum recomputed, so only the field is wrong.
std::vector<std::byte> with_field(const std::vector<std::byte>& file, const std::string& field,
                                  const std::vector<std::byte>& replacement) {
  const Field f = table_field(file, field);
  return splice_section(file, section_index(file, tensors_kind), f.at, f.size, replacement);
}
std::vector<std::byte> with_varint(const std::vector<std::byte>& file, const std::string& field, uint64_t v) {
  return with_field(file, field, leb128(v));
}
std::vector<std::byte> with_u8(const std::vector<std::byte>& file, const std::string& field, uint8_t v) {
  return with_field(file, field, {std::byte{v}});
}
std::vector<std::byte> with_section(const std::vector<std::byte>& file, uint32_t kind, const std::vector<std::byte>& bytes) {
  const size_t index = section_index(file, kind);
  return splice_section(file, index, 0, section_entries(file)[index].length, bytes);
}

// --- more varied test files (also the fuzzers' seeds) ---------------------------------------------

std::vector<uint8_t> pseudo_random_symbols(size_t n, uint8_t below, uint32_t seed) {
  std::vector<uint8_t> s(n);
  for (auto& v : s) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>((seed >> 24) % below);
  }
  return s;
}

// tiny_conv_model with every quantized encoding: w as a hybrid layer (channels 0-1 int8 with zero
// points, channels 2-3 sparse ternary with two residual terms, channel order permuted), b as int4.
// half_scales: the int8 part's scales are float16 values (the writer stores them in 2 bytes).
std::vector<std::byte> quantized_mcz(bool half_scales = false) {
  Model m = tiny_conv_model();
  std::map<std::string, EncodedTensor> enc;
  EncodedTensor w;
  w.dtype = DType::f32;
  w.shape = {4, 3, 3, 3};
  w.permutation = {1, 0, 3, 2};
  EncodedPart int8;
  int8.encoding = Encoding::int8;
  int8.channel_begin = 0;
  int8.channel_end = 2;
  int8.scales = half_scales ? std::vector<float>{0.015625f, 0.3125f} : std::vector<float>{0.01f, 0.02f};
  int8.zero_points = {-3, 5};
  int8.streams = {pseudo_random_symbols(54, 255, 1)};
  int8.symbol_bits = {8};
  EncodedPart ternary;
  ternary.encoding = Encoding::ternary;
  ternary.channel_begin = 2;
  ternary.channel_end = 4;
  ternary.terms = 2;
  ternary.sparse = true;
  ternary.scales = {0.5f, 0.1f, 0.4f, 0.05f};
  std::vector<uint8_t> mask = pseudo_random_symbols(54, 2, 2);
  size_t nonzero = 0;
  for (uint8_t v : mask) nonzero += v;
  ternary.streams = {mask, pseudo_random_symbols(nonzero, 3, 3), pseudo_random_symbols(nonzero, 3, 4)};
  ternary.symbol_bits = {1, 2, 2};
  w.parts = {int8, ternary};
  enc["w"] = w;
  EncodedTensor b;
  b.dtype = DType::f32;
  b.shape = {4};
  EncodedPart int4;
  int4.encoding = Encoding::int4;
  int4.channel_begin = 0;
  int4.channel_end = 4;
  int4.scales = {0.1f, 0.1f, 0.2f, 0.2f};
  int4.streams = {{0, 7, 8, 15}};
  int4.symbol_bits = {4};
  b.parts = {int4};
  enc["b"] = b;
  return write_mcz(test::with_encodings(m, enc), {{"tool", "mcompress"}, {"recipe", "test-quantized"}}, 0, false);
}

// tiny_conv_model plus an unused 64x64 float table whose byte planes suit every coder: plane 0
// repeats 0..255 (zstd), plane 1 is skewed (rANS), planes 2 and 3 are constant (one-symbol rANS);
// and an int64 shape tensor (raw encoding).
std::vector<std::byte> coded_mcz() {
  Model m = tiny_conv_model();
  std::vector<float> table(64 * 64);
  std::vector<uint8_t> skew = pseudo_random_symbols(table.size(), 16, 5);
  for (size_t i = 0; i < table.size(); ++i) {
    const uint32_t bits = 0x3f800000u | (uint32_t{skew[i] < 12 ? 0u : skew[i]} << 8) | static_cast<uint32_t>(i % 256);
    std::memcpy(&table[i], &bits, 4);
  }
  m.graph.initializers["table"] = Tensor::from_vector<float>({64, 64}, table);
  m.graph.initializers["shape"] = Tensor::from_vector<int64_t>({2}, {1, -1});
  return write_mcz(test::with_encodings(m, lossless_encodings(m)), {{"tool", "mcompress"}, {"recipe", "test-coded"}}, 0, false);
}

// A serialized onnx.ModelProto fragment adding an initializer 'huge' of float32 [2^30] with no data;
// appended to a serialized model, protobuf merges it into the graph.
std::vector<std::byte> huge_initializer_fragment() {
  std::vector<std::byte> tensor = {std::byte{0x08}};  // dims (field 1, varint)
  auto dim = leb128(uint64_t{1} << 30);
  tensor.insert(tensor.end(), dim.begin(), dim.end());
  for (int v : {0x10, 0x01, 0x42, 0x04, int{'h'}, int{'u'}, int{'g'}, int{'e'}}) tensor.push_back(static_cast<std::byte>(v));  // data_type 1, name
  std::vector<std::byte> graph = {std::byte{0x2a}, static_cast<std::byte>(tensor.size())};  // initializer (field 5)
  graph.insert(graph.end(), tensor.begin(), tensor.end());
  std::vector<std::byte> model = {std::byte{0x3a}, static_cast<std::byte>(graph.size())};  // graph (field 7)
  model.insert(model.end(), graph.begin(), graph.end());
  return model;
}

std::vector<std::byte> graph_without_weights() { return section_bytes(small_mcz(), graph_kind); }

// A zstd frame (RFC 8878) made by hand, so that it can declare any content size: a 4-byte
// Frame_Content_Size of `declared`, a 128 KiB window (not single-segment, so zstd's own buffer stays
// small whatever the declaration), no checksum, then the blocks: raw bytes, or a byte repeated `run`
// times (an RLE block: 4 bytes for up to 128 KiB of content).
struct ZstdBlock {
  std::vector<std::byte> raw;
  uint32_t run = 0;  // > 0: an RLE block of `rle` repeated run times
  std::byte rle{};
};
std::vector<std::byte> zstd_frame(uint32_t declared, const std::vector<ZstdBlock>& blocks) {
  std::vector<std::byte> f = {std::byte{0x28}, std::byte{0xb5}, std::byte{0x2f}, std::byte{0xfd},
                              std::byte{0x80},   // frame header descriptor: 4-byte content size
                              std::byte{0x38}};  // window descriptor: 2^(10 + 7) bytes
  for (int i = 0; i < 4; ++i) f.push_back(static_cast<std::byte>(declared >> (8 * i)));
  for (size_t i = 0; i < blocks.size(); ++i) {
    const ZstdBlock& b = blocks[i];
    const uint32_t size = b.run ? b.run : static_cast<uint32_t>(b.raw.size());
    const uint32_t header = (i + 1 == blocks.size() ? 1u : 0u) | (b.run ? 1u : 0u) << 1 | size << 3;
    for (int k = 0; k < 3; ++k) f.push_back(static_cast<std::byte>(header >> (8 * k)));
    if (b.run) f.push_back(b.rle);
    else f.insert(f.end(), b.raw.begin(), b.raw.end());
  }
  return f;
}
// `content` in raw blocks of at most 128 KiB.
std::vector<std::byte> zstd_raw_frame(const std::vector<std::byte>& content, uint32_t declared) {
  std::vector<ZstdBlock> blocks;
  for (size_t at = 0; at == 0 || at < content.size(); at += 128 * 1024) {
    const size_t end = std::min(content.size(), at + 128 * 1024);
    blocks.push_back({std::vector<std::byte>(content.begin() + static_cast<std::ptrdiff_t>(at), content.begin() + static_cast<std::ptrdiff_t>(end))});
  }
  return zstd_frame(declared, blocks);
}

// `file` with section `kind` replaced by `bytes` stored with the compressed flag.
std::vector<std::byte> with_compressed_section(const std::vector<std::byte>& file, uint32_t kind, const std::vector<std::byte>& bytes) {
  auto sections = extract_sections(file);
  auto& s = sections.at(section_index(file, kind));
  s.bytes = bytes;
  s.flags |= 2;
  return assemble_mcz(sections);
}

// What reading and decoding `file` throws while no single allocation may exceed `limit` bytes.
Error load_error_within(const std::vector<std::byte>& file, size_t limit) {
  try {
    AllocationLimit guard(limit);
    McFile f = read_mcz(file, "t.mcz");
    decode_mcz(f, "t.mcz");
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error");
  return Error(ErrorKind::internal, "");
}

// --- golden must-fail files -------------------------------------------------------------------------

struct MczGolden {
  const char* file;
  std::vector<std::byte> (*make)();
  ErrorKind kind;
  const char* message_part;
};

const MczGolden mcz_goldens[] = {
    {"empty.mcz", [] { return std::vector<std::byte>(); }, ErrorKind::input, "empty file"},
    {"bad_magic.mcz", [] { auto f = small_mcz(); f[1] = std::byte{'X'}; return f; }, ErrorKind::input, "not an .mcz file (bad magic)"},
    {"version_2.0.mcz", [] { auto f = small_mcz(); store_u16(f, 8, 2); refresh_checksums(f); return f; },
     ErrorKind::unsupported, ".mcz version 2.0, this reader supports version 1.x"},
    {"truncated.mcz", [] { auto f = small_mcz(); f.resize(f.size() / 2); return f; }, ErrorKind::input, "(truncated or extended)"},
    {"header_bit_flip.mcz", [] { return flipped(small_mcz(), 10, 3); }, ErrorKind::input, "header checksum mismatch"},
    {"graph_bit_flip.mcz", [] { return flipped(small_mcz(), section_of(small_mcz(), graph_kind).offset + 20, 0); },
     ErrorKind::input, "whole-file checksum mismatch"},
    {"tensors_checksum.mcz", [] {
       auto f = flipped(small_mcz(), section_of(small_mcz(), tensors_kind).offset + 5, 6);
       refresh_file_checksum(f);
       return f;
     }, ErrorKind::input, "checksum mismatch in section 'tensors'"},
    {"section_outside.mcz", [] {
       auto f = small_mcz();
       store_u64(f, section_of(f, payload_kind).entry_at + 8, f.size() + 64);
       refresh_checksums(f);
       return f;
     }, ErrorKind::input, "section 'payload' points outside the file"},
    {"huge_dimension.mcz", [] { return with_varint(small_mcz(), "w.dims[0]", uint64_t{1} << 40); },
     ErrorKind::input, "tensor dimension is 1099511627776, more than the limit 2147483648"},
    {"unknown_required_section.mcz", [] {
       auto s = extract_sections(small_mcz());
       s.insert(s.begin() + 2, RawSection{99, 1, to_bytes("from the future")});
       return assemble_mcz(s);
     }, ErrorKind::unsupported, "required section kind 99 is unknown to this reader"},
    {"duplicate_tensor.mcz", [] { return with_field(small_mcz(), "b.name", to_bytes("\x01w")); },
     ErrorKind::input, "tensor 'w' appears twice"},
    {"stream_offset.mcz", [] {
       auto f = small_mcz();
       return with_varint(f, "w.part[0].stream[0].offset", section_of(f, payload_kind).length + 1);
     }, ErrorKind::input, "tensor table: stream offset is"},
    {"unknown_encoding.mcz", [] { return with_u8(small_mcz(), "w.part[0].encoding", 9); },
     ErrorKind::unsupported, "tensor 'w' uses encoding 9, unknown to this reader"},
};

}  // namespace

TEST_CASE("test_mcz_corruption: the test file is well formed and the helpers agree with the writer") {
  const auto file = small_mcz();
  McFile f = read_mcz(file, "t.mcz");
  REQUIRE(f.sections.size() == 4);
  CHECK(f.sections[0].kind == graph_kind);
  CHECK(f.sections[1].kind == tensors_kind);
  CHECK(f.sections[2].kind == metadata_kind);
  CHECK(f.sections[3].kind == payload_kind);
  CHECK(f.sections[3].offset % 64 == 0);
  Model m = decode_mcz(f, "t.mcz");
  Model source = tiny_conv_model();
  for (const auto& initializer : source.graph.initializers) {
    const std::string& name = initializer.first;
    const Tensor& t = initializer.second.values;
    CAPTURE(name);
    const Tensor& back = m.graph.initializers.at(name).values;
    REQUIRE(back.shape() == t.shape());
    CHECK(std::memcmp(back.raw(), t.raw(), t.byte_size()) == 0);
  }
  // An independent layout from the spec gives the writer's bytes; refreshing changes nothing.
  CHECK(assemble_mcz(extract_sections(file)) == file);
  auto refreshed = file;
  refresh_checksums(refreshed);
  CHECK(refreshed == file);
  auto table = map_tensor_table(section_bytes(file, tensors_kind));
  CHECK(table.at("count").value == 2);
  CHECK(table.at("w.rank").value == 4);
  CHECK(table.at("end").at == section_bytes(file, tensors_kind).size());
  // The other test files are valid too.
  for (const auto& other : {small_mcz(true), quantized_mcz(), coded_mcz()}) CHECK_NOTHROW(load(other));
}

TEST_CASE("test_mcz_corruption: a wrong magic is rejected as not an .mcz file") {
  const auto file = small_mcz();
  for (size_t i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK_FAILS(flipped(file, i, 0), ErrorKind::input, "t.mcz: not an .mcz file (bad magic)");
  }
  CHECK_FAILS(to_bytes(serialize_onnx(tiny_conv_model())), ErrorKind::input, "bad magic");
  // A text-mode transfer turning CR LF into LF.
  auto text_mode = file;
  text_mode.erase(text_mode.begin() + 4);
  CHECK_FAILS(text_mode, ErrorKind::input, "bad magic");
}

TEST_CASE("test_mcz_corruption: a newer major version is refused naming both versions") {
  auto v2 = small_mcz();
  store_u16(v2, 8, 2);
  refresh_checksums(v2);
  CHECK_FAILS(v2, ErrorKind::unsupported, "t.mcz: .mcz version 2.0, this reader supports version 1.x");
  auto v3 = small_mcz();
  store_u16(v3, 8, 3);
  store_u16(v3, 10, 5);
  // No refresh: a newer major version may lay its header out differently, so the version is checked
  // before the header checksum.
  CHECK_FAILS(v3, ErrorKind::unsupported, ".mcz version 3.5, this reader supports version 1.x");
  // Any minor version of major version 1 is read (newer minors only add what older readers skip).
  auto minor = small_mcz();
  store_u16(minor, 10, 9);
  refresh_checksums(minor);
  McFile f = read_mcz(minor, "t.mcz");
  CHECK(f.minor == 9);
  CHECK_NOTHROW(decode_mcz(f, "t.mcz"));
}

TEST_CASE("test_mcz_corruption: a zero-length file is an input error") {
  CHECK_FAILS(std::vector<std::byte>(), ErrorKind::input, "t.mcz: empty file");
}

TEST_CASE("test_mcz_corruption: truncation at every byte is an input error naming the truncation") {
  const auto file = small_mcz();
  const size_t table_end = mcz_header_bytes + 4 * mcz_entry_bytes;
  for (size_t cut = 0; cut < file.size(); ++cut) {
    CAPTURE(cut);
    const std::vector<std::byte> prefix(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut));
    const Error e = corrupt_load_error(prefix);
    CHECK(e.kind() == ErrorKind::input);
    const std::string expected = cut == 0 ? "empty file"
                                 : cut < table_end ? "truncated while reading"
                                                   : "file is " + std::to_string(cut) + " bytes, its header says " +
                                                         std::to_string(file.size()) + " (truncated or extended)";
    CHECK_MESSAGE(contains(e.what(), expected), std::string(e.what()));
  }
  // Appended bytes are caught the same way.
  for (size_t extra : {1, 7, 8, 64}) {
    auto longer = file;
    longer.resize(file.size() + extra, std::byte{0});
    CHECK_FAILS(longer, ErrorKind::input, "(truncated or extended)");
  }
}

TEST_CASE("test_mcz_corruption: truncation at every section boundary fails even with the header rewritten") {
  const auto file = small_mcz();
  std::vector<std::pair<std::string, size_t>> cuts = {
      {"after the header", mcz_header_bytes},
      {"after the section table", mcz_header_bytes + 4 * mcz_entry_bytes},
      {"before the trailer", file.size() - mcz_trailer_bytes},
      {"inside the trailer", file.size() - 4}};
  for (const auto& e : section_entries(file)) {
    cuts.emplace_back("at the start of section " + std::to_string(e.kind), static_cast<size_t>(e.offset));
    cuts.emplace_back("inside section " + std::to_string(e.kind), static_cast<size_t>(e.offset + e.length / 2));
    cuts.emplace_back("at the end of section " + std::to_string(e.kind), static_cast<size_t>(e.offset + e.length));
  }
  for (const auto& boundary : cuts) {
    const std::string& where = boundary.first;
    const size_t cut = boundary.second;
    CAPTURE(where);
    std::vector<std::byte> prefix(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_FAILS(prefix, ErrorKind::input, "truncated");
    // The same file with its size field and every checksum made to match the cut: the missing
    // trailer or sections are still noticed.
    store_u64(prefix, 16, prefix.size());
    refresh_checksums(prefix);
    const Error e = corrupt_load_error(prefix);
    CHECK(e.kind() == ErrorKind::input);
    CHECK_MESSAGE((contains(e.what(), "bad trailer") || contains(e.what(), "points outside the file") ||
                   contains(e.what(), "truncated") || contains(e.what(), "checksum mismatch")),
                  std::string(e.what()));
  }
}

TEST_CASE("test_mcz_corruption: a flipped bit anywhere is detected, and the message says which check caught it") {
  const auto file = small_mcz();
  const size_t table_end = mcz_header_bytes + 4 * mcz_entry_bytes;
  const size_t trailer = file.size() - mcz_trailer_bytes;
  for (size_t at = 0; at < file.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      CAPTURE(at);
      CAPTURE(bit);
      const Error e = corrupt_load_error(flipped(file, at, bit));
      const std::string what = e.what();
      if (at < 8) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_MESSAGE(contains(what, "bad magic"), what);
      } else if (at < 10) {
        CHECK(e.kind() == ErrorKind::unsupported);  // the major version, checked before the checksum
        CHECK_MESSAGE(contains(what, "this reader supports version 1.x"), what);
      } else if (at >= 24 && at < 28) {
        CHECK(e.kind() == ErrorKind::input);  // the section count: the table's extent depends on it
        CHECK_MESSAGE((contains(what, "header checksum mismatch") || contains(what, "section count") ||
                       contains(what, "section table")),
                      what);
      } else if (at < table_end) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_MESSAGE(contains(what, "header checksum mismatch (corrupt header or section table)"), what);
      } else if (at < trailer + 4) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_MESSAGE(contains(what, "whole-file checksum mismatch"), what);
      } else {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_MESSAGE(contains(what, "bad trailer"), what);
      }
    }
  }
}

TEST_CASE("test_mcz_corruption: a flipped bit in a section is caught by that section's checksum") {
  const auto file = small_mcz();
  const std::map<uint32_t, std::string> names = {{1, "graph"}, {2, "tensors"}, {3, "payload"}, {4, "metadata"}};
  for (const auto& s : section_entries(file)) {
    for (uint64_t i = 0; i < s.length; ++i) {
      CAPTURE(s.kind);
      CAPTURE(i);
      auto f = flipped(file, static_cast<size_t>(s.offset + i), static_cast<int>(i % 8));
      refresh_file_checksum(f);  // only the section's own CRC is left to catch it
      CHECK_FAILS(f, ErrorKind::input, "t.mcz: checksum mismatch in section '" + names.at(s.kind) + "'");
    }
  }
}

TEST_CASE("test_mcz_corruption: a section outside the file is caught by the bounds check, not a checksum") {
  const auto file = small_mcz();
  const std::map<uint32_t, std::string> names = {{1, "graph"}, {2, "tensors"}, {3, "payload"}, {4, "metadata"}};
  const uint64_t size = file.size();
  const uint64_t table_end = mcz_header_bytes + 4 * mcz_entry_bytes;
  for (const auto& s : section_entries(file)) {
    const std::vector<std::pair<uint64_t, uint64_t>> placements = {
        {size + 100, s.length},              // starts past the end
        {size - 4, s.length},                // starts in the trailer
        {0, s.length},                       // in the header
        {40, s.length},                      // in the section table
        {table_end, size},                   // runs past the end
        {s.offset, size - s.offset - 4},     // runs into the trailer
        {~uint64_t{0} - 7, 16},              // offset + length wraps around 2^64
        {s.offset, ~uint64_t{0}},            // absurd length
    };
    for (const auto& placement : placements) {
      const uint64_t offset = placement.first, length = placement.second;
      CAPTURE(s.kind);
      CAPTURE(offset);
      CAPTURE(length);
      auto f = file;
      store_u64(f, s.entry_at + 8, offset);
      store_u64(f, s.entry_at + 16, length);
      refresh_checksums(f);
      CHECK_FAILS(f, ErrorKind::input, "t.mcz: section '" + names.at(s.kind) + "' points outside the file");
    }
  }
}

TEST_CASE("test_mcz_corruption: sections that overlap are rejected") {
  auto f = small_mcz();
  const auto graph = section_of(f, graph_kind);
  const auto metadata = section_of(f, metadata_kind);
  store_u64(f, metadata.entry_at + 8, graph.offset + 8);  // metadata inside the graph's bytes
  refresh_checksums(f);
  CHECK_FAILS(f, ErrorKind::input, "overlap");
}

TEST_CASE("test_mcz_corruption: absurd dimensions and counts in the tensor table fail before allocating") {
  const auto file = small_mcz();
  const uint64_t huge = uint64_t{1} << 40;
  const uint64_t payload = section_of(file, payload_kind).length;
  struct Case {
    const char* field;
    uint64_t value;
    std::string message;
  };
  const Case cases[] = {
      {"count", huge, "tensor table: tensor count is 1099511627776, more than the limit 1048576"},
      {"count", uint64_t{1} << 20, "truncated while reading tensor name"},
      {"w.rank", ~uint64_t{0}, "tensor rank is 18446744073709551615, more than the limit 8"},
      {"w.dims[0]", huge, "tensor dimension is 1099511627776, more than the limit 2147483648"},
      {"w.dims[0]", uint64_t{1} << 31, "has more than 2^31 elements"},
      {"w.dims[3]", (uint64_t{1} << 31) - 1, "has more than 2^31 elements"},
      {"w.permutation length", huge, "permutation length is 1099511627776, more than the limit 4"},
      {"w.part count", huge, "part count is 1099511627776, more than the limit 4"},
      {"w.part[0].first channel", huge, "part first channel is 1099511627776, more than the limit 4"},
      {"w.part[0].end channel", huge, "part end channel is 1099511627776, more than the limit 4"},
      {"w.part[0].scale count", huge, "scale count is 1099511627776, more than the limit 12"},
      {"w.part[0].zero point count", huge, "zero point count is 1099511627776, more than the limit 4"},
      {"w.part[0].stream count", 6, "stream count is 6, more than the limit 5"},
      {"w.part[0].stream[0].symbol count", huge, "symbol count is 1099511627776, more than the limit 864"},
      {"w.part[0].stream[0].offset", huge, "stream offset is 1099511627776, more than the limit " + std::to_string(payload)},
      {"w.part[0].stream[0].length", huge, "stream length is 1099511627776, more than the limit"},
      {"b.part[0].stream[1].symbol count", 32, "tensor 'b': stream 1 declares 32 symbols, fp32 needs 4"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.field);
    CAPTURE(c.value);
    CHECK_FAILS(with_varint(file, c.field, c.value), ErrorKind::input, c.message);
  }
  // The name's length, and varints that do not fit 64 bits.
  CHECK_FAILS(with_field(file, "w.name", leb128(huge)), ErrorKind::input, "tensor name is 1099511627776, more than the limit 65536");
  const std::vector<std::byte> eleven(11, std::byte{0x80});
  CHECK_FAILS(with_field(file, "w.rank", eleven), ErrorKind::input, "tensor rank: varint overflows 64 bits");
  std::vector<std::byte> overflow(9, std::byte{0xff});
  overflow.push_back(std::byte{0x02});
  CHECK_FAILS(with_field(file, "w.rank", overflow), ErrorKind::input, "tensor rank: varint overflows 64 bits");
  // The same check reached by patching in place (same varint length) and refreshing the checksums.
  auto in_place = file;
  const Field rank = table_field(file, "w.rank");
  in_place[section_of(file, tensors_kind).offset + rank.at] = std::byte{9};
  refresh_checksums(in_place);
  CHECK_FAILS(in_place, ErrorKind::input, "tensor rank is 9, more than the limit 8");
  // The entropy bound is informational: any 64-bit value is read.
  CHECK_NOTHROW(load(with_varint(file, "w.part[0].stream[0].entropy bound", ~uint64_t{0})));

  // A permutation as long as a 2^31-channel tensor allows, in a file of a few KB: refused before
  // its 2^31 entries (or a bitmap over them) are allocated.
  auto wide = with_varint(file, "w.dims[0]", uint64_t{1} << 31);
  for (int d = 1; d < 4; ++d) wide = with_varint(wide, "w.dims[" + std::to_string(d) + "]", 1);
  wide = with_varint(wide, "w.part[0].end channel", uint64_t{1} << 31);
  CHECK_FAILS(with_varint(wide, "w.permutation length", uint64_t{1} << 31), ErrorKind::input, "permutation");
  // Parts of that tensor claiming far more symbols than their weights: refused in the table, before
  // any stream is decoded.
  CHECK_FAILS(wide, ErrorKind::input, "tensor 'w': stream 0 declares 108 symbols, fp32 needs 2147483648");

  // A graph section whose ONNX declares a 2^30-element initializer without data.
  auto graph = graph_without_weights();
  const auto fragment = huge_initializer_fragment();
  graph.insert(graph.end(), fragment.begin(), fragment.end());
  CHECK_FAILS(with_section(file, graph_kind, graph), ErrorKind::input, "tensor 'huge' has 0 values, shape [1073741824] needs 1073741824");
  if (allocation_limit_enforced()) {
    // The guard itself works: a read that did allocate that much would fail this way.
    AllocationLimit limit(1u << 20);
    CHECK_THROWS_AS(std::vector<char>(2u << 20), AllocationTooLarge);
  }
}

TEST_CASE("test_mcz_corruption: unknown section kinds: required ones refused, optional ones skipped") {
  const auto file = small_mcz();
  const Model expected = load(file);
  const auto sections = extract_sections(file);
  for (size_t at : {size_t{0}, size_t{2}, sections.size()}) {
    CAPTURE(at);
    auto s = sections;
    s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), RawSection{99, 1, to_bytes("from the future")});
    CHECK_FAILS(assemble_mcz(s), ErrorKind::unsupported, "t.mcz: required section kind 99 is unknown to this reader");
    s[at].flags = 0;
    const auto optional = assemble_mcz(s);
    McFile f = read_mcz(optional, "t.mcz");  // f points into `optional`
    CHECK(f.sections.size() == 5);
    Model m = decode_mcz(f, "t.mcz");
    CHECK(serialize_onnx(m) == serialize_onnx(expected));
  }
  auto empty_optional = sections;
  empty_optional.push_back(RawSection{1000, 0, {}});
  CHECK_NOTHROW(load(assemble_mcz(empty_optional)));
  // The metadata section is optional; graph, tensors and payload are not.
  auto no_metadata = sections;
  no_metadata.erase(no_metadata.begin() + 2);
  CHECK_NOTHROW(load(assemble_mcz(no_metadata)));
  const std::map<uint32_t, std::string> required = {{1, "graph"}, {2, "tensors"}, {3, "payload"}};
  for (const auto& section : required) {
    const uint32_t kind = section.first;
    const std::string& name = section.second;
    auto s = sections;
    std::erase_if(s, [&](const RawSection& r) { return r.kind == kind; });
    CHECK_FAILS(assemble_mcz(s), ErrorKind::input, "section '" + name + "' is missing");
  }
  auto twice = sections;
  twice.push_back(sections[2]);
  CHECK_FAILS(assemble_mcz(twice), ErrorKind::input, "section 'metadata' appears twice");
  // Reserved bits and fields.
  auto reserved_flag = sections;
  reserved_flag[2].flags = 4;  // bit 1 (compressed) is defined; bit 2 is reserved
  CHECK_FAILS(assemble_mcz(reserved_flag), ErrorKind::input, "section 'metadata' has reserved flags set");
  auto not_zstd = sections;
  not_zstd[2].flags = 2;  // marked compressed, but holds plain JSON
  CHECK_FAILS(assemble_mcz(not_zstd), ErrorKind::input, "section 'metadata' is not a zstd frame");
  auto reserved_field = file;
  store_u32(reserved_field, section_of(file, metadata_kind).entry_at + 28, 1);
  refresh_checksums(reserved_field);
  CHECK_FAILS(reserved_field, ErrorKind::input, "reserved section field is set");
  auto header_flags = file;
  store_u32(header_flags, 12, 0x100);
  refresh_checksums(header_flags);
  CHECK_FAILS(header_flags, ErrorKind::input, "reserved header flags are set");
  for (uint32_t count : {0u, 65u, 0xffffffffu}) {
    auto f = file;
    store_u32(f, 24, count);
    refresh_checksums(f);
    CHECK_FAILS(f, ErrorKind::input, "section count " + std::to_string(count) + " is out of range");
  }
  std::vector<RawSection> many = sections;
  while (many.size() < 65) many.push_back(RawSection{500 + static_cast<uint32_t>(many.size()), 0, {}});
  CHECK_FAILS(assemble_mcz(many), ErrorKind::input, "section count 65 is out of range");
  many.pop_back();
  CHECK_NOTHROW(load(assemble_mcz(many)));
}

TEST_CASE("test_mcz_corruption: duplicate and empty tensor names are rejected") {
  const auto file = small_mcz();
  CHECK_FAILS(with_field(file, "b.name", to_bytes("\x01w")), ErrorKind::input, "tensor table: tensor 'w' appears twice");
  CHECK_FAILS(with_field(file, "b.name", to_bytes(std::string(1, '\0'))), ErrorKind::input, "a tensor has an empty name");
  // A tensor the graph does not use is fine; one the graph lacks an initializer for is not.
  CHECK_FAILS(with_field(file, "b.name", to_bytes("\x01z")), ErrorKind::input, "'b'");
}

TEST_CASE("test_mcz_corruption: a compressed section declaring a huge content size is refused before it is allocated") {
  // Regression (fuzz finding tests/fuzz/regressions/mcz/oom-compressed-section-693MB-4713f808.mcz): a
  // 3 KB file whose graph frame declared 693 MB made the reader allocate them before decoding the frame.
  const auto file = small_mcz();
  const auto graph = graph_without_weights();
  // The same graph in a frame made by hand reads back (a zstd frame mcompress did not write).
  const auto honest = zstd_raw_frame(graph, static_cast<uint32_t>(graph.size()));
  CHECK(serialize_onnx(load(with_compressed_section(file, graph_kind, honest))) == serialize_onnx(load(file)));

  const uint64_t cap = mcz_section_content_cap(SectionKind::graph, honest.size());
  CHECK(cap == std::max<uint64_t>(uint64_t{1} << 20, 1024 * honest.size()));
  // Declaring 1 GiB - 1 (within the former limit) or just past the cap: refused on the declaration.
  for (uint64_t declared : {(uint64_t{1} << 30) - 1, uint64_t{693360950}, cap + 1}) {
    CAPTURE(declared);
    const auto huge = with_compressed_section(file, graph_kind, zstd_raw_frame(graph, static_cast<uint32_t>(declared)));
    const Error e = load_error_within(huge, 256u << 10);
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()) == "t.mcz: section 'graph' declares " + std::to_string(declared) + " bytes of content in " +
                                       std::to_string(honest.size()) + " compressed bytes, more than the limit " + std::to_string(cap));
  }
  // Declaring exactly the cap is allowed, but the frame's blocks hold only the graph: refused as a corrupt
  // frame having allocated about what the blocks produced, not the declared size (under the 256 KiB guard).
  const auto at_cap = with_compressed_section(file, graph_kind, zstd_raw_frame(graph, static_cast<uint32_t>(cap)));
  const Error e = load_error_within(at_cap, 256u << 10);
  CHECK(e.kind() == ErrorKind::input);
  CHECK(std::string(e.what()) == "t.mcz: section 'graph' holds a corrupt zstd frame (it does not decode to the " + std::to_string(cap) + " bytes it declares)");
  // The same for the tensor table and the metadata, whose absolute caps are 1 GiB and 64 MiB.
  CHECK(mcz_section_content_cap(SectionKind::tensors, uint64_t{1} << 40) == uint64_t{1} << 30);
  CHECK(mcz_section_content_cap(SectionKind::metadata, uint64_t{1} << 40) == uint64_t{1} << 26);
  CHECK(mcz_section_content_cap(SectionKind::metadata, 0) == uint64_t{1} << 20);
  CHECK(mcz_section_content_cap(SectionKind::payload, 1000) == 0);
  for (uint32_t kind : {tensors_kind, metadata_kind}) {
    CAPTURE(kind);
    const auto content = section_bytes(file, kind);
    const auto huge = with_compressed_section(file, kind, zstd_raw_frame(content, uint32_t{1} << 31));
    const Error k = load_error_within(huge, 256u << 10);
    CHECK(k.kind() == ErrorKind::input);
    CHECK_MESSAGE(contains(k.what(), "declares 2147483648 bytes of content"), std::string(k.what()));
  }
  // A payload section marked compressed is refused as before.
  CHECK_FAILS(with_compressed_section(file, payload_kind, section_bytes(file, payload_kind)), ErrorKind::input,
              "the payload section must not be compressed");
}

TEST_CASE("test_mcz_corruption: compressed content grows with zstd's output, and the writer keeps within the caps") {
  // 600 KB of metadata in 10 bytes of RLE blocks: more than the first buffer (64 KiB + 16 bytes per
  // stored byte), within the 1 MiB every section may hold; the buffer grows as the output arrives.
  const auto file = small_mcz();
  const std::string head = "{\"tool\": \"mcompress\", \"note\": \"", tail = "\"}";
  const uint32_t run = 120000;
  std::vector<ZstdBlock> blocks = {{to_bytes(head)}};
  for (int i = 0; i < 5; ++i) blocks.push_back({{}, run, std::byte{'a'}});
  blocks.push_back({to_bytes(tail)});
  const uint32_t size = static_cast<uint32_t>(head.size() + 5 * run + tail.size());
  const auto frame = zstd_frame(size, blocks);
  CHECK(frame.size() < 100);
  const auto grown = with_compressed_section(file, metadata_kind, frame);
  {
    McFile f = read_mcz(grown, "t.mcz");
    CHECK(f.metadata.at("note").get<std::string>() == std::string(5 * run, 'a'));
  }
  // Declaring one byte less or more than the blocks hold is corrupt.
  for (uint32_t declared : {size - 1, size + 1})
    CHECK_FAILS(with_compressed_section(file, metadata_kind, zstd_frame(declared, blocks)), ErrorKind::input,
                "section 'metadata' holds a corrupt zstd frame");
  // Two frames, or a frame with trailing bytes, are not one frame.
  auto two = frame;
  two.insert(two.end(), frame.begin(), frame.end());
  CHECK_FAILS(with_compressed_section(file, metadata_kind, two), ErrorKind::input, "section 'metadata' is not exactly one zstd frame");

  // The writer stores a section compressed only within the cap for its stored size: 2 MB of one
  // letter compresses far more than 1024 times, so that metadata is stored plain (and reads back);
  // 500 KB of it stays under the 1 MiB every section may hold, so it is compressed.
  Model m = tiny_conv_model();
  const Model encoded = with_encodings(m, lossless_encodings(m));
  for (size_t letters : {size_t{2} << 20, size_t{500} << 10}) {
    CAPTURE(letters);
    const nlohmann::ordered_json meta = {{"tool", "mcompress"}, {"note", std::string(letters, 'a')}};
    const auto written = write_mcz(encoded, meta);
    const auto entry = section_of(written, metadata_kind);
    CHECK(((entry.flags & 2) != 0) == (letters < (size_t{1} << 20)));
    McFile f = read_mcz(written, "t.mcz");
    CHECK(f.metadata.at("note").get<std::string>().size() == letters);
  }
}

TEST_CASE("test_mcz_corruption: streams declaring more symbols than their bytes hold fail before the declared count is allocated") {
  // w as a [2^24, 1, 1, 1] float tensor (64 MiB decoded) whose stream 0 is a 1 KB zstd frame or rANS
  // stream declaring its 2^24 symbols; streams 1-3 declare rANS (never reached). Decoding must fail on
  // stream 0 without any allocation near 2^24 bytes (guard: 4 MiB).
  const uint64_t n = uint64_t{1} << 24;
  const auto file = small_mcz();
  const uint64_t old_payload = section_of(file, payload_kind).length;
  auto declare = [&](const std::vector<std::byte>& stream, uint8_t coder) {
    auto payload = section_bytes(file, payload_kind);
    payload.insert(payload.end(), stream.begin(), stream.end());
    auto f = with_section(file, payload_kind, payload);
    f = with_varint(f, "w.dims[0]", n);
    for (int d = 1; d < 4; ++d) f = with_varint(f, "w.dims[" + std::to_string(d) + "]", 1);
    f = with_varint(f, "w.part[0].end channel", n);
    for (int s = 0; s < 4; ++s) {
      const std::string p = "w.part[0].stream[" + std::to_string(s) + "].";
      f = with_u8(f, p + "coder", s == 0 ? coder : 1);
      f = with_varint(f, p + "symbol count", n);
      if (s == 0) {
        f = with_varint(f, p + "offset", old_payload);
        f = with_varint(f, p + "length", stream.size());
      }
    }
    return f;
  };
  const std::vector<uint8_t> symbols = pseudo_random_symbols(1000, 7, 9);
  const std::vector<std::byte> raw(reinterpret_cast<const std::byte*>(symbols.data()), reinterpret_cast<const std::byte*>(symbols.data()) + symbols.size());
  const Error z = load_error_within(declare(zstd_raw_frame(raw, static_cast<uint32_t>(n)), 2), 4u << 20);
  CHECK(z.kind() == ErrorKind::input);
  CHECK(std::string(z.what()) == "t.mcz: tensor 'w': stream 0: corrupt zstd frame (it does not decode to the 16777216 symbols it declares)");

  // A rANS stream of those 1000 symbols with its symbol count rewritten to 2^24: it runs out of words.
  const auto coded = rans_encode(std::span<const uint8_t>(symbols.data(), symbols.size()));
  REQUIRE(std::to_integer<uint8_t>(coded[0]) == ((1000 & 0x7f) | 0x80));
  std::vector<std::byte> rans = leb128(n);
  rans.insert(rans.end(), coded.begin() + 2, coded.end());
  const Error r = load_error_within(declare(rans, 1), 4u << 20);
  CHECK(r.kind() == ErrorKind::input);
  CHECK_MESSAGE(contains(r.what(), "t.mcz: tensor 'w': stream 0: rANS stream: data ends early"), std::string(r.what()));
}

TEST_CASE("test_mcz_corruption: the tensors' total decoded size is capped at 4 GiB") {
  // Every stream declares rANS (no length rule in the table), so only the cap stops a table of a few
  // bytes from declaring an 8 GiB tensor that decode_mcz or structure_of_mcz would allocate.
  auto f = small_mcz();
  const uint64_t n = uint64_t{1} << 31;
  f = with_varint(f, "w.dims[0]", n);
  for (int d = 1; d < 4; ++d) f = with_varint(f, "w.dims[" + std::to_string(d) + "]", 1);
  f = with_varint(f, "w.part[0].end channel", n);
  for (int s = 0; s < 4; ++s) {
    f = with_u8(f, "w.part[0].stream[" + std::to_string(s) + "].coder", 1);
    f = with_varint(f, "w.part[0].stream[" + std::to_string(s) + "].symbol count", n);
  }
  const Error e = load_error_within(f, 1u << 20);
  CHECK(e.kind() == ErrorKind::input);
  CHECK(std::string(e.what()) == "t.mcz: tensor table: tensor 'w' brings the tensors' decoded size to 8589934608 bytes, more than the limit 4294967296");
}

TEST_CASE("test_mcz_corruption: the writer refuses what the reader's limits would refuse") {
  auto refused = [](const std::string& name, const Tensor& t) {
    Model m = tiny_conv_model();
    m.graph.initializers[name] = t;
    try {
      write_mcz(with_encodings(m, lossless_encodings(m)), {{"tool", "mcompress"}});
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::unsupported);
      return std::string(e.what());
    }
    FAIL("written");
    return std::string();
  };
  CHECK(contains(refused("deep", Tensor(DType::f32, Shape(9, 1))), "tensor 'deep' has a name of 4 bytes and rank 9"));
  CHECK(contains(refused(std::string(70000, 'n'), Tensor::scalar_f32(1.0f)), "has a name of 70000 bytes and rank 0"));
}

TEST_CASE("test_mcz_corruption: a stream outside the payload is rejected") {
  const auto file = small_mcz();
  const uint64_t payload = section_of(file, payload_kind).length;
  const std::string limit = std::to_string(payload);
  CHECK_FAILS(with_varint(file, "b.part[0].stream[0].offset", payload + 1), ErrorKind::input,
              "stream offset is " + std::to_string(payload + 1) + ", more than the limit " + limit);
  CHECK_FAILS(with_varint(file, "b.part[0].stream[0].offset", ~uint64_t{0}), ErrorKind::input, "stream offset");
  // At the very end of the payload, only an empty stream fits.
  CHECK_FAILS(with_varint(file, "b.part[0].stream[0].offset", payload), ErrorKind::input,
              "stream length is 4, more than the limit 0");
  CHECK_FAILS(with_varint(file, "w.part[0].stream[3].offset", payload - 2), ErrorKind::input, "stream length");
}

TEST_CASE("test_mcz_corruption: unknown encodings, coders and element types are refused naming the tensor") {
  const auto file = small_mcz();
  CHECK_FAILS(with_u8(file, "w.part[0].encoding", 9), ErrorKind::unsupported, "t.mcz: tensor table: tensor 'w' uses encoding 9, unknown to this reader");
  CHECK_FAILS(with_u8(file, "b.part[0].stream[2].coder", 7), ErrorKind::unsupported, "tensor 'b' uses stream coder 7, unknown to this reader");
  CHECK_FAILS(with_u8(file, "w.dtype", 8), ErrorKind::input, "tensor 'w' has unknown element type 8");
  CHECK_FAILS(with_u8(file, "w.part[0].flags", 4), ErrorKind::input, "tensor 'w': reserved part flags are set");
  CHECK_FAILS(with_u8(file, "w.part[0].stream[0].symbol bits", 3), ErrorKind::input, "symbol bits must be 1, 2, 4 or 8");
}

TEST_CASE("test_mcz_corruption: inconsistent tensor records and sections fail naming the problem") {
  const auto file = small_mcz();
  CHECK_FAILS(with_varint(file, "w.part[0].end channel", 3), ErrorKind::input, "tensor 'w': stream 0 declares 108 symbols, fp32 needs 81");
  CHECK_FAILS(with_varint(file, "w.part[0].end channel", 0), ErrorKind::input, "tensor 'w': parts do not tile the channels");
  CHECK_FAILS(with_varint(file, "w.part[0].first channel", 1), ErrorKind::input, "tensor 'w': parts do not tile the channels");
  CHECK_FAILS(with_u8(file, "w.part[0].encoding", 2), ErrorKind::input, "tensor 'w'");  // fp16 with 4 streams
  CHECK_FAILS(with_u8(file, "w.dtype", 7), ErrorKind::input, "tensor 'w'");              // fp32 planes of int64
  CHECK_FAILS(with_varint(file, "w.part[0].stream[0].length", 107), ErrorKind::input, "packed stream length does not match its symbol count");
  // Permutations must be permutations.
  auto perm = with_field(file, "w.permutation length", {std::byte{4}, std::byte{0}, std::byte{1}, std::byte{1}, std::byte{2}});
  CHECK_FAILS(perm, ErrorKind::input, "tensor 'w': permutation repeats channel 1");
  auto short_perm = with_field(file, "w.permutation length", {std::byte{2}, std::byte{0}, std::byte{1}});
  CHECK_FAILS(short_perm, ErrorKind::input, "permutation length differs from the channel count");
  // Bytes after the last record.
  auto table = section_bytes(file, tensors_kind);
  table.push_back(std::byte{0});
  CHECK_FAILS(with_section(file, tensors_kind, table), ErrorKind::input, "trailing bytes after the last tensor");
  // Graph and metadata sections.
  CHECK_FAILS(with_section(file, graph_kind, to_bytes("not protobuf \xff\xff")), ErrorKind::input, "graph section: not a valid ONNX model");
  CHECK_FAILS(with_section(file, graph_kind, {}), ErrorKind::input, "graph section: empty file");
  CHECK_FAILS(with_section(file, graph_kind, to_bytes(serialize_onnx(tiny_conv_model()))), ErrorKind::input, "graph section carries weights");
  CHECK_FAILS(with_section(file, metadata_kind, to_bytes("[1, 2]")), ErrorKind::input, "metadata section is not a JSON object");
  CHECK_FAILS(with_section(file, metadata_kind, to_bytes("{\"tool\": ")), ErrorKind::input, "metadata section is not a JSON object");
  CHECK_FAILS(with_section(file, metadata_kind, {}), ErrorKind::input, "metadata section is not a JSON object");
}

TEST_CASE("test_mcz_corruption: symbols outside their encoding's or stream's range are rejected") {
  const auto file = quantized_mcz();
  const McFile f = read_mcz(file, "t.mcz");
  // The ternary value streams are packed at 2 bits: the symbol 3 fits the field but not the encoding.
  const auto& stream = f.tensors.at(1).streams.at(1).at(1);
  REQUIRE(f.tensors.at(1).name == "w");
  REQUIRE(stream.coder == StreamCoder::packed);
  auto bad = file;
  bad[section_of(file, payload_kind).offset + stream.offset] |= std::byte{0x03};
  refresh_checksums(bad);
  CHECK_FAILS(bad, ErrorKind::input, "tensor 'w': stream 1 holds symbol 3 outside the encoding's range");
  // The mask must be 0 or 1 — and with symbol bits 2 instead of 1 the packed length no longer matches.
  CHECK_FAILS(with_u8(file, "w.part[1].stream[0].symbol bits", 2), ErrorKind::input, "packed stream length");
  // Zero points outside -128..255.
  CHECK_FAILS(with_varint(file, "w.part[0].zero point[0]", 600), ErrorKind::input, "zero point 300 out of range");
  // A non-finite scale.
  auto nan_scale = file;
  const Field scale = table_field(file, "w.part[0].scale[1]");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan_scale.data() + section_of(file, tensors_kind).offset + scale.at, &nan, 4);
  refresh_checksums(nan_scale);
  CHECK_FAILS(nan_scale, ErrorKind::input, "tensor 'w': has a non-finite scale");
  // The same with float16 scales (part flag bit 1): a float16 NaN or infinity.
  const auto half_file = quantized_mcz(true);
  const Field half_scale = table_field(half_file, "w.part[0].scale[1]");
  REQUIRE(half_scale.size == 2);
  CHECK(load(half_file).graph.initializers.size() == 2);
  for (uint16_t bad_bits : {uint16_t{0x7e00}, uint16_t{0x7c00}, uint16_t{0xfc00}}) {
    auto bad_half = half_file;
    std::memcpy(bad_half.data() + section_of(half_file, tensors_kind).offset + half_scale.at, &bad_bits, 2);
    refresh_checksums(bad_half);
    CHECK_FAILS(bad_half, ErrorKind::input, "tensor 'w': has a non-finite scale");
  }
}

TEST_CASE("test_mcz_corruption: corrupt rANS and zstd streams fail as input errors") {
  const auto file = coded_mcz();
  const McFile f = read_mcz(file, "t.mcz");
  const size_t payload_at = section_of(file, payload_kind).offset;
  std::set<StreamCoder> coders;
  int rejected = 0, streams = 0;
  for (const auto& t : f.tensors) {
    for (const auto& part : t.streams) {
      for (const auto& s : part) {
        coders.insert(s.coder);
        if (s.coder == StreamCoder::packed) continue;
        ++streams;
        // Every byte of the coded stream, one at a time, with checksums made to match.
        for (uint64_t i = 0; i < s.length; ++i) {
          CAPTURE(t.name);
          CAPTURE(i);
          auto bad = flipped(file, static_cast<size_t>(payload_at + s.offset + i), static_cast<int>(i % 8));
          refresh_checksums(bad);
          try {
            AllocationLimit limit(64u << 20);
            decode_mcz(read_mcz(bad, "t.mcz"), "t.mcz");  // a zstd literal may decode to other bytes
          } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::input);
            ++rejected;
          }
        }
        // Truncated by one byte: the symbol count can no longer be met.
        auto shorter = with_varint(file, t.name + ".part[0].stream[" + std::to_string(&s - part.data()) + "].length", s.length - 1);
        CHECK_FAILS(shorter, ErrorKind::input, "tensor '" + t.name + "'");
      }
    }
  }
  CHECK(coders.count(StreamCoder::rans) == 1);
  CHECK(coders.count(StreamCoder::zstd) == 1);
  CHECK(streams >= 3);
  CHECK(rejected > 0);
}

TEST_CASE("test_mcz_corruption: zero-element tensors round-trip") {
  // Regression (UBSan): decoding a raw tensor with no elements passed null pointers to memcpy.
  Model m = tiny_conv_model();
  m.graph.initializers["empty_i64"] = Tensor(DType::i64, {2, 0});
  m.graph.initializers["empty_f32"] = Tensor(DType::f32, {3, 0, 2});
  const auto file = write_mcz(test::with_encodings(m, lossless_encodings(m)), {{"tool", "mcompress"}});
  Model back = load(file);
  CHECK(back.graph.initializers.at("empty_i64").values.shape() == Shape{2, 0});
  CHECK(back.graph.initializers.at("empty_f32").values.numel() == 0);
}

TEST_CASE("test_mcz_corruption: every golden case fails with its kind and message") {
  for (const auto& g : mcz_goldens) {
    CAPTURE(g.file);
    const Error e = corrupt_load_error(g.make(), g.file);
    CHECK(e.kind() == g.kind);
    CHECK_MESSAGE(contains(e.what(), g.message_part), std::string(e.what()));
    CHECK_MESSAGE(contains(e.what(), g.file), std::string(e.what()));
  }
}

TEST_CASE("test_mcz_corruption: golden must-fail files fail as documented") {
  namespace fs = std::filesystem;
  const fs::path dir = source_dir() / "tests" / "data" / "bad_mcz";
  const bool regenerate = std::getenv("MCOMPRESS_REGENERATE_GOLDEN") != nullptr;
  if (regenerate) fs::create_directories(dir);
  for (const auto& g : mcz_goldens) {
    CAPTURE(g.file);
    const std::string path = (dir / g.file).string();
    if (regenerate) {
      const auto bytes = g.make();
      std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    const auto on_disk = read_binary_file(path);
    // The files are kept as they were made (a regression set, like zstd's
    // tests/golden-decompression-errors): a writer change only warns that they could be refreshed.
    WARN_MESSAGE(on_disk == g.make(), "stale golden file; regenerate with MCOMPRESS_REGENERATE_GOLDEN=1");
    const Error e = corrupt_load_error(on_disk, path);
    CHECK(e.kind() == g.kind);
    CHECK_MESSAGE(contains(e.what(), g.message_part), std::string(e.what()));
  }
}

TEST_CASE("test_mcz_corruption: golden fuzz seed corpora are present and valid") {
  namespace fs = std::filesystem;
  const fs::path corpus = source_dir() / "tests" / "fuzz" / "corpus";
  const std::vector<std::pair<std::string, std::vector<std::byte>>> mcz = {
      {"tiny_fp32.mcz", small_mcz()}, {"tiny_fp16.mcz", small_mcz(true)},
      {"tiny_quantized.mcz", quantized_mcz()}, {"tiny_coded.mcz", coded_mcz()},
      {"varied.mcz", write_mcz(with_encodings(varied_model(), lossless_encodings(varied_model())), {{"tool", "mcompress"}})}};
  const std::vector<std::pair<std::string, std::vector<std::byte>>> onnx = {
      {"tiny_conv.onnx", to_bytes(serialize_onnx(tiny_conv_model()))},
      {"varied.onnx", to_bytes(serialize_onnx(varied_model()))}};
  auto write = [](const fs::path& path, const std::vector<std::byte>& bytes) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  };
  if (std::getenv("MCOMPRESS_REGENERATE_GOLDEN")) {
    fs::create_directories(corpus / "mcz");
    fs::create_directories(corpus / "onnx");
    for (const auto& [name, bytes] : mcz) write(corpus / "mcz" / name, bytes);
    for (const auto& [name, bytes] : onnx) write(corpus / "onnx" / name, bytes);
    // The must-fail files seed the fuzzers too: they start next to the checks they trip.
    for (const auto& g : mcz_goldens) write(corpus / "mcz" / ("golden_" + std::string(g.file)), g.make());
    for (const auto& entry : fs::directory_iterator(source_dir() / "tests" / "data" / "bad"))
      fs::copy_file(entry.path(), corpus / "onnx" / ("golden_" + entry.path().filename().string()), fs::copy_options::overwrite_existing);
  }
  for (const auto& seed : mcz) {
    CAPTURE(seed.first);
    CHECK_NOTHROW(load(read_binary_file((corpus / "mcz" / seed.first).string())));
  }
  for (const auto& seed : onnx) {
    CAPTURE(seed.first);
    const auto on_disk = read_binary_file((corpus / "onnx" / seed.first).string());
    CHECK_NOTHROW(parse_onnx(on_disk, seed.first));
  }
}
