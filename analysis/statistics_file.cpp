#include "analysis/statistics_file.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "formats/byte_io.h"
#include "formats/checksum.h"

namespace mc {

namespace {

// docs/STATS_FILE.md: the magic tells a .stats file from a .mcz (\x89MCZ...) and from text, the
// trailer ends it, and every limit below is a reader's check made before anything is allocated.
constexpr std::byte magic[8] = {std::byte{0x89}, std::byte{'M'}, std::byte{'C'}, std::byte{'S'},
                                std::byte{'\r'}, std::byte{'\n'}, std::byte{0x1a}, std::byte{'\n'}};
constexpr std::byte trailer_magic[4] = {std::byte{'M'}, std::byte{'C'}, std::byte{'S'}, std::byte{'.'}};
constexpr size_t header_bytes = 32;
constexpr size_t trailer_bytes = 8;
constexpr size_t digest_bytes = 32;
constexpr uint64_t max_images = uint64_t{1} << 24;
constexpr uint64_t max_entries = 4096;
constexpr uint64_t max_layers = uint64_t{1} << 20;
constexpr uint64_t max_ranges = uint64_t{1} << 22;
constexpr uint64_t max_groups = uint64_t{1} << 24;
constexpr uint64_t max_rows = uint64_t{1} << 24;
constexpr uint64_t max_dimension = uint64_t{1} << 31;
constexpr uint64_t max_label_bytes = 4096;
constexpr uint8_t filter_columns_flag = 1;
constexpr uint8_t triangle_flag = 2;

void put_digest(ByteWriter& w, const std::string& hex) {
  if (hex.size() != 2 * digest_bytes) fail_internal("statistics file: a digest is not 64 hex digits");
  auto nibble = [](char c) -> uint8_t {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    fail_internal("statistics file: a digest is not lowercase hex");
  };
  for (size_t i = 0; i < digest_bytes; ++i) w.u8(static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1])));
}

std::string read_digest(ByteReader& r, const char* what) {
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (std::byte b : r.bytes(digest_bytes, what)) {
    const auto v = static_cast<uint8_t>(b);
    hex += digits[v >> 4];
    hex += digits[v & 15];
  }
  return hex;
}

void put_f64(ByteWriter& w, double v) { w.u64(std::bit_cast<uint64_t>(v)); }
double read_f64(ByteReader& r, const char* what) { return std::bit_cast<double>(r.u64(what)); }

void put_doubles(ByteWriter& w, const double* values, size_t n) {
  w.append(std::span<const std::byte>(reinterpret_cast<const std::byte*>(values), n * sizeof(double)));  // little-endian hosts
}

// `n` doubles, checked against the bytes left before the buffer is allocated, and finite.
void read_doubles(ByteReader& r, double* out, size_t n, const std::string& what) {
  const auto bytes = r.bytes(n * sizeof(double), "statistics values");
  std::memcpy(out, bytes.data(), bytes.size());
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(out[i])) r.fail(what + ": value " + std::to_string(i) + " is not finite");
}

// Whether every group's matrix equals its transpose bit for bit (then only its upper triangle is
// stored). Gram matrices usually are, but their two halves come from different blocks of a float
// product, so this is checked, never assumed.
bool symmetric(const LayerGram& l) {
  const auto k = static_cast<size_t>(l.rows);
  for (size_t g = 0; g < static_cast<size_t>(l.groups); ++g) {
    const double* m = l.gram.data() + g * k * k;
    for (size_t i = 0; i < k; ++i)
      for (size_t j = i + 1; j < k; ++j)
        if (std::memcmp(&m[i * k + j], &m[j * k + i], sizeof(double)) != 0) return false;
  }
  return true;
}

void put_layer(ByteWriter& w, const LayerGram& l) {
  const auto k = static_cast<size_t>(l.rows), groups = static_cast<size_t>(l.groups);
  if (l.gram.size() != groups * k * k || l.sum.size() != groups * k) fail_internal("statistics file: layer '" + l.node + "' has inconsistent matrices");
  const bool triangle = symmetric(l);
  w.string(l.node);
  w.string(l.op);
  w.string(l.weight);
  w.u8(static_cast<uint8_t>((l.filter_columns ? filter_columns_flag : 0) | (triangle ? triangle_flag : 0)));
  w.varint(static_cast<uint64_t>(l.groups));
  w.varint(static_cast<uint64_t>(l.rows));
  w.varint(static_cast<uint64_t>(l.filters_per_group));
  w.varint(static_cast<uint64_t>(l.kernel_positions));
  w.varint(static_cast<uint64_t>(l.samples));
  for (size_t g = 0; g < groups; ++g) {
    const double* m = l.gram.data() + g * k * k;
    if (triangle)
      for (size_t i = 0; i < k; ++i) put_doubles(w, m + i * k + i, k - i);
    else
      put_doubles(w, m, k * k);
  }
  put_doubles(w, l.sum.data(), l.sum.size());
}

LayerGram read_layer(ByteReader& r) {
  LayerGram l;
  l.node = r.string("layer node name");
  if (l.node.empty()) r.fail("a layer has an empty node name");
  const std::string what = "layer '" + l.node + "'";
  l.op = r.string("layer op");
  l.weight = r.string("layer weight name");
  const uint8_t flags = r.u8("layer flags");
  if (flags & ~(filter_columns_flag | triangle_flag)) r.fail(what + ": unknown flags " + std::to_string(flags) + " (reserved bits must be 0)");
  l.filter_columns = flags & filter_columns_flag;
  const bool triangle = flags & triangle_flag;
  const uint64_t groups = r.count("layer groups", max_groups), rows = r.count("layer rows", max_rows);
  if (groups == 0 || rows == 0) r.fail(what + ": no groups or no rows");
  l.groups = static_cast<int64_t>(groups);
  l.rows = static_cast<int64_t>(rows);
  l.filters_per_group = static_cast<int64_t>(r.count("layer filters per group", max_dimension));
  l.kernel_positions = static_cast<int64_t>(r.count("layer kernel positions", max_dimension));
  if (l.kernel_positions == 0 || rows % static_cast<uint64_t>(l.kernel_positions) != 0)
    r.fail(what + ": kernel positions " + std::to_string(l.kernel_positions) + " do not divide its " + std::to_string(rows) + " rows");
  l.samples = static_cast<int64_t>(r.count("layer samples", uint64_t{1} << 62));
  // groups x (rows x rows, or its upper triangle) doubles, then groups x rows: checked against the
  // bytes left (without overflow: rows^2 < 2^48) before the matrices are allocated.
  const uint64_t per_group = triangle ? rows * (rows + 1) / 2 : rows * rows;
  const uint64_t doubles_left = r.remaining() / sizeof(double);
  if (per_group + rows > doubles_left / groups)
    r.fail(what + ": " + std::to_string(groups) + " x " + std::to_string(rows) + " x " + std::to_string(rows) + " statistics do not fit in the " +
           std::to_string(r.remaining()) + " bytes left (truncated or corrupt)");
  const auto k = static_cast<size_t>(rows);
  l.gram.assign(static_cast<size_t>(groups) * k * k, 0.0);
  l.sum.assign(static_cast<size_t>(groups) * k, 0.0);
  for (size_t g = 0; g < static_cast<size_t>(groups); ++g) {
    double* m = l.gram.data() + g * k * k;
    if (triangle) {
      for (size_t i = 0; i < k; ++i) read_doubles(r, m + i * k + i, k - i, what);
      for (size_t i = 0; i < k; ++i)
        for (size_t j = i + 1; j < k; ++j) m[j * k + i] = m[i * k + j];
    } else {
      read_doubles(r, m, k * k, what);
    }
  }
  read_doubles(r, l.sum.data(), l.sum.size(), what);
  return l;
}

void put_range(ByteWriter& w, const std::string& name, const TensorRange& t) {
  w.string(name);
  w.f32(t.min);
  w.f32(t.max);
  put_f64(w, t.limit);
  w.varint(static_cast<uint64_t>(t.count));
  uint64_t used = 0;
  for (int64_t c : t.histogram) used += c != 0;
  w.varint(used);
  int previous = -1;
  for (int b = 0; b < TensorRange::bins; ++b) {
    const int64_t c = t.histogram[static_cast<size_t>(b)];
    if (!c) continue;
    w.varint(static_cast<uint64_t>(b - previous - 1));  // empty bins skipped
    w.varint(static_cast<uint64_t>(c));
    previous = b;
  }
}

std::pair<std::string, TensorRange> read_range(ByteReader& r) {
  std::string name = r.string("range value name");
  if (name.empty()) r.fail("an activation range has an empty value name");
  const std::string what = "range of '" + name + "'";
  TensorRange t;
  t.min = r.f32("range min");
  t.max = r.f32("range max");
  t.limit = read_f64(r, "range limit");
  const uint64_t count = r.count("range count", uint64_t{1} << 62);
  t.count = static_cast<int64_t>(count);
  if (!std::isfinite(t.min) || !std::isfinite(t.max) || !std::isfinite(t.limit) || t.limit < 0 || (count > 0 && (t.min > t.max || t.limit == 0)))
    r.fail(what + ": min, max or histogram limit out of range");
  const uint64_t used = r.count("range histogram bins", TensorRange::bins);
  uint64_t seen = 0;
  int64_t bin = -1;
  for (uint64_t i = 0; i < used; ++i) {
    const uint64_t gap = r.count("range histogram gap", TensorRange::bins);
    bin += static_cast<int64_t>(gap) + 1;
    if (bin >= TensorRange::bins) r.fail(what + ": histogram bin " + std::to_string(bin) + " beyond the " + std::to_string(TensorRange::bins) + " bins");
    const uint64_t c = r.count("range histogram count", uint64_t{1} << 62);
    if (c == 0) r.fail(what + ": an empty histogram bin is stored");
    seen += c;  // at most 2048 terms below 2^62: no overflow before the check below
    if (seen > count) break;
    t.histogram[static_cast<size_t>(bin)] = static_cast<int64_t>(c);
  }
  if (seen != count) r.fail(what + ": its histogram holds " + std::to_string(seen) + " values, its count says " + std::to_string(count));
  return {std::move(name), std::move(t)};
}

void put_stats(ByteWriter& w, const CalibrationStats& s) {
  w.varint(static_cast<uint64_t>(s.images));
  w.varint(s.layers.size());
  for (const auto& [node, l] : s.layers) {
    if (node != l.node) fail_internal("statistics file: layer '" + l.node + "' filed under '" + node + "'");
    put_layer(w, l);
  }
  w.varint(s.ranges.size());
  for (const auto& [name, t] : s.ranges) put_range(w, name, t);
}

CalibrationStats read_stats(ByteReader& r) {
  CalibrationStats s;
  s.images = static_cast<int64_t>(r.count("entry images", max_dimension));
  const uint64_t layers = r.count("entry layer count", max_layers);
  for (uint64_t i = 0; i < layers; ++i) {
    LayerGram l = read_layer(r);
    if (!s.layers.empty() && !(s.layers.rbegin()->first < l.node)) r.fail("layer '" + l.node + "' out of order or repeated");
    const std::string node = l.node;
    s.layers.emplace_hint(s.layers.end(), node, std::move(l));
  }
  const uint64_t ranges = r.count("entry range count", max_ranges);
  for (uint64_t i = 0; i < ranges; ++i) {
    auto [name, t] = read_range(r);
    if (!s.ranges.empty() && !(s.ranges.rbegin()->first < name)) r.fail("range of '" + name + "' out of order or repeated");
    s.ranges.emplace_hint(s.ranges.end(), std::move(name), std::move(t));
  }
  return s;
}

void put_binding(ByteWriter& w, const StatisticsBinding& b) {
  put_digest(w, b.model_sha256);
  w.u64(b.seed);
  w.varint(static_cast<uint64_t>(b.calib_count));
  w.varint(static_cast<uint64_t>(b.held_out));
  w.string(b.image_settings);
  w.varint(b.images.size());
  for (const auto& d : b.images) put_digest(w, d);
}

StatisticsBinding read_binding(ByteReader& r) {
  StatisticsBinding b;
  b.model_sha256 = read_digest(r, "model sha256");
  b.seed = r.u64("seed");
  b.calib_count = static_cast<int64_t>(r.count("calibration count", max_dimension));
  b.held_out = static_cast<int64_t>(r.count("held-out images", max_images));
  b.image_settings = r.string("image settings");
  const uint64_t images = r.count("image count", max_images);
  if (images == 0) r.fail("the binding lists no images");
  if (static_cast<uint64_t>(b.held_out) >= images) r.fail("the binding holds out " + std::to_string(b.held_out) + " of its " + std::to_string(images) + " images");
  if (images * digest_bytes > r.remaining()) r.fail("truncated while reading image digests (" + std::to_string(images) + " images)");
  for (uint64_t i = 0; i < images; ++i) b.images.push_back(read_digest(r, "image sha256"));
  return b;
}

}  // namespace

std::vector<std::byte> write_statistics_file(const StatisticsFile& file) {
  ByteWriter w;
  w.append(magic);
  w.u16(file.major);
  w.u16(file.minor);
  w.u32(0);  // flags
  w.u64(0);  // file size, patched below
  w.u32(0);  // reserved
  w.u32(0);  // header checksum, patched below
  put_binding(w, file.binding);
  w.varint(file.entries.size());
  for (size_t i = 0; i < file.entries.size(); ++i) {
    const StatisticsEntry& e = file.entries[i];
    if (i > 0 && !(file.entries[i - 1].key < e.key)) fail_internal("statistics file: entries out of key order");
    put_digest(w, e.key.model_sha256);
    put_digest(w, e.key.images_sha256);
    w.string(e.label);
    put_stats(w, *e.stats);
  }
  w.patch_u64(16, w.size() + trailer_bytes);
  w.patch_u32(28, crc32c(std::span<const std::byte>(w.bytes()).first(28)));
  w.u32(crc32c(w.bytes()));
  w.append(trailer_magic);
  return std::move(w.bytes());
}

StatisticsFile read_statistics_file(std::span<const std::byte> bytes, const std::string& name) {
  if (bytes.size() < header_bytes + trailer_bytes) {
    if (bytes.size() >= sizeof magic && std::memcmp(bytes.data(), magic, sizeof magic) == 0)
      fail_input(name + ": truncated calibration statistics file (" + std::to_string(bytes.size()) + " bytes)");
    fail_input(name + ": not a calibration statistics file (too short; 'mcompress calibrate' writes them)");
  }
  if (std::memcmp(bytes.data(), magic, sizeof magic) != 0)
    fail_input(name + ": not a calibration statistics file (no \\x89MCS signature; 'mcompress calibrate' writes them)");
  ByteReader header(bytes.first(header_bytes), name);
  header.bytes(sizeof magic, "magic");
  StatisticsFile file;
  file.major = header.u16("major version");
  file.minor = header.u16("minor version");
  if (file.major != statistics_file_major_version)
    fail_unsupported(name + ": calibration statistics file version " + std::to_string(file.major) + "." + std::to_string(file.minor) +
                     ", this reader supports version " + std::to_string(statistics_file_major_version) + ".x (run 'mcompress calibrate' again)");
  const uint32_t flags = header.u32("flags");
  const uint64_t declared = header.u64("file size");
  const uint32_t reserved = header.u32("reserved");
  const uint32_t header_crc = header.u32("header checksum");
  if (crc32c(bytes.first(28)) != header_crc) fail_input(name + ": header checksum mismatch (the file is corrupt)");
  if (flags != 0 || reserved != 0) fail_input(name + ": reserved header bits are set (the file is corrupt)");
  if (declared != bytes.size())
    fail_input(name + ": " + (declared > bytes.size() ? "truncated" : "has trailing bytes") + " (" + std::to_string(bytes.size()) +
               " bytes, the header says " + std::to_string(declared) + ")");
  const auto trailer = bytes.last(trailer_bytes);
  if (std::memcmp(trailer.data() + 4, trailer_magic, sizeof trailer_magic) != 0) fail_input(name + ": no end marker (truncated or corrupt)");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, trailer.data(), 4);
  if (crc32c(bytes.first(bytes.size() - trailer_bytes)) != stored_crc) fail_input(name + ": checksum mismatch (the file is corrupt)");

  ByteReader r(bytes.subspan(header_bytes, bytes.size() - header_bytes - trailer_bytes), name);
  file.binding = read_binding(r);
  const uint64_t entries = r.count("entry count", max_entries);
  for (uint64_t i = 0; i < entries; ++i) {
    StatisticsEntry e;
    e.key.model_sha256 = read_digest(r, "entry model sha256");
    e.key.images_sha256 = read_digest(r, "entry images sha256");
    if (!file.entries.empty() && !(file.entries.back().key < e.key)) r.fail("entry " + std::to_string(i + 1) + " out of order or repeated");
    e.label = r.string("entry label", max_label_bytes);
    e.stats = std::make_shared<const CalibrationStats>(read_stats(r));
    file.entries.push_back(std::move(e));
  }
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last entry");
  return file;
}

}  // namespace mc
