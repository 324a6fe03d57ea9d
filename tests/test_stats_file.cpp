// Calibration statistics files (docs/STATS_FILE.md): a file reads back to the very statistics and
// bytes written; every truncation and every flipped byte is refused as an input error; a file whose
// sizes are consistent with its checksums but not with its bytes is refused before allocating; a
// run refuses a file made for another model, other settings or other images, saying which; and the
// statistics gathered ahead of a recipe are exactly those it asks for, so a run seeded from the file
// computes nothing and writes the same bytes.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <tuple>

#include "analysis/calibration_stats.h"
#include "analysis/statistics_binding.h"
#include "analysis/statistics_cache.h"
#include "analysis/statistics_file.h"
#include "core/error.h"
#include "formats/byte_io.h"
#include "formats/checksum.h"
#include "formats/file_io.h"
#include "formats/mcz.h"
#include "passes/recipe.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

struct Fixture {
  test::TempDir dir;
  Model model = test::tiny_pointwise_model();
  CalibrationSet fit, held_out;
  StatisticsCache cache;
  Fixture() {
    test::write_small_inputs(dir.path, 6);
    const CalibrationSet all = calibration_set(dir.path.string(), 6, 0, test::small_image_config(), model);
    std::tie(fit, held_out) = split_held_out(all, 3);
  }
  StatisticsBinding binding() {
    return statistics_binding(model, 0, 6, fit, held_out, [&](const std::string& f) { return cache.file_sha256(f); });
  }
  // A file with the model's statistics on the fit images, one layer's matrix made asymmetric so
  // that both ways of storing a matrix are written.
  StatisticsFile file() {
    CalibrationStats stats = collect_calibration_stats(model, fit, StatsOptions{1, true, true, {}});
    LayerGram& l = stats.layers.begin()->second;
    l.gram[1] += 0.5;
    StatisticsFile f;
    f.binding = binding();
    f.entries.push_back(StatisticsEntry{cache.key(model, fit), "test entry", std::make_shared<const CalibrationStats>(std::move(stats))});
    return f;
  }
};

void check_same(const CalibrationStats& a, const CalibrationStats& b) {
  CHECK(a.images == b.images);
  REQUIRE(a.layers.size() == b.layers.size());
  for (const auto& [node, la] : a.layers) {
    const LayerGram& lb = b.layers.at(node);
    CHECK(la.node == lb.node);
    CHECK(la.op == lb.op);
    CHECK(la.weight == lb.weight);
    CHECK(la.groups == lb.groups);
    CHECK(la.rows == lb.rows);
    CHECK(la.filters_per_group == lb.filters_per_group);
    CHECK(la.filter_columns == lb.filter_columns);
    CHECK(la.kernel_positions == lb.kernel_positions);
    CHECK(la.samples == lb.samples);
    REQUIRE(la.gram.size() == lb.gram.size());
    CHECK(std::memcmp(la.gram.data(), lb.gram.data(), la.gram.size() * sizeof(double)) == 0);
    CHECK(la.sum == lb.sum);
  }
  REQUIRE(a.ranges.size() == b.ranges.size());
  for (const auto& [name, ra] : a.ranges) {
    const TensorRange& rb = b.ranges.at(name);
    CHECK(ra.min == rb.min);
    CHECK(ra.max == rb.max);
    CHECK(ra.limit == rb.limit);
    CHECK(ra.count == rb.count);
    CHECK(ra.histogram == rb.histogram);
  }
}

// Sets the header's file size, header checksum and trailer of hand-made bytes (header, body, and 8
// bytes of room for the trailer), as a writer would.
std::vector<std::byte> sealed(std::vector<std::byte> bytes) {
  const uint64_t size = bytes.size();
  std::memcpy(bytes.data() + 16, &size, 8);
  const uint32_t header_crc = crc32c(std::span<const std::byte>(bytes).first(28));
  std::memcpy(bytes.data() + 28, &header_crc, 4);
  const uint32_t crc = crc32c(std::span<const std::byte>(bytes).first(bytes.size() - 8));
  std::memcpy(bytes.data() + bytes.size() - 8, &crc, 4);
  std::memcpy(bytes.data() + bytes.size() - 4, "MCS.", 4);
  return bytes;
}

// A file written by hand from docs/STATS_FILE.md: header, a binding of one image, one entry with
// `layer` as its only layer and no ranges.
std::vector<std::byte> hand_made(const std::function<void(ByteWriter&)>& layer, uint16_t major = 1) {
  ByteWriter w;
  for (char c : std::string("\x89MCS\r\n\x1a\n", 8)) w.u8(static_cast<uint8_t>(c));
  w.u16(major);
  w.u16(0);
  w.u32(0);  // flags
  w.u64(0);  // file size (sealed)
  w.u32(0);  // reserved
  w.u32(0);  // header checksum (sealed)
  for (int i = 0; i < 32; ++i) w.u8(0x11);  // model sha256
  w.u64(0);                                 // seed
  w.varint(1);                              // calib count
  w.varint(0);                              // held out
  w.string("keras, resize 8, crop 8, nchw");
  w.varint(1);  // images
  for (int i = 0; i < 32; ++i) w.u8(0x22);
  w.varint(1);  // entries
  for (int i = 0; i < 64; ++i) w.u8(0x33);  // entry key
  w.string("hand-made");
  w.varint(1);  // images
  w.varint(1);  // layers
  layer(w);
  w.varint(0);  // ranges
  for (int i = 0; i < 8; ++i) w.u8(0);  // trailer (sealed)
  return sealed(std::move(w.bytes()));
}

void layer_header(ByteWriter& w, uint64_t groups, uint64_t rows) {
  w.string("conv");
  w.string("Conv");
  w.string("w");
  w.u8(0);
  w.varint(groups);
  w.varint(rows);
  w.varint(1);  // filters per group
  w.varint(1);  // kernel positions
  w.varint(1);  // samples
}

}  // namespace

TEST_CASE("test_stats_file: a file reads back to the same statistics and the same bytes") {
  Fixture fx;
  const StatisticsFile f = fx.file();
  const std::vector<std::byte> bytes = write_statistics_file(f);
  CHECK(write_statistics_file(f) == bytes);
  const StatisticsFile back = read_statistics_file(bytes, "f.stats");
  CHECK(back.major == statistics_file_major_version);
  CHECK(back.binding.model_sha256 == f.binding.model_sha256);
  CHECK(back.binding.seed == f.binding.seed);
  CHECK(back.binding.calib_count == 6);
  CHECK(back.binding.held_out == 3);
  CHECK(back.binding.image_settings == f.binding.image_settings);
  CHECK(back.binding.images == f.binding.images);
  REQUIRE(back.entries.size() == 1);
  CHECK(back.entries[0].key == f.entries[0].key);
  CHECK(back.entries[0].label == "test entry");
  check_same(*f.entries[0].stats, *back.entries[0].stats);
  CHECK(write_statistics_file(back) == bytes);
  // The binding names the model and each image by content: 64 hex digits each.
  CHECK(f.binding.model_sha256.size() == 64);
  CHECK(f.binding.images.size() == 6);
  CHECK(f.binding.images[0] == sha256_hex(read_binary_file(fx.fit.files[0])));
}

TEST_CASE("test_stats_file: every truncation and every flipped byte is refused") {
  Fixture fx;
  const std::vector<std::byte> bytes = write_statistics_file(fx.file());
  for (size_t n : {size_t{0}, size_t{7}, size_t{8}, size_t{31}, size_t{39}, size_t{40}, bytes.size() / 2, bytes.size() - 9, bytes.size() - 1})
    test::expect_error([&] { read_statistics_file(std::span<const std::byte>(bytes).first(n), "f.stats"); }, ErrorKind::input, "f.stats: ");
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});
  test::expect_error([&] { read_statistics_file(longer, "f.stats"); }, ErrorKind::input, "f.stats: has trailing bytes");
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<std::byte> flipped = bytes;
    flipped[i] ^= std::byte{0x04};
    // A flipped major version reads as a version this reader does not support (as for .mcz).
    const ErrorKind kind = i == 8 || i == 9 ? ErrorKind::unsupported : ErrorKind::input;
    try {
      read_statistics_file(flipped, "f.stats");
      FAIL("byte " << i << " flipped and the file was accepted");
    } catch (const Error& e) {
      CHECK_MESSAGE(e.kind() == kind, "byte " << i << ": " << e.what());
    }
  }
  Model m = test::tiny_conv_model();
  encode_remaining(m, Encoding::fp32_planes);
  const std::vector<std::byte> mcz = write_mcz(m, nlohmann::ordered_json::object());
  test::expect_error([&] { read_statistics_file(mcz, "m.mcz"); }, ErrorKind::input, "m.mcz: not a calibration statistics file");
}

TEST_CASE("test_stats_file: mutations behind the checksums are read or refused as input errors, never anything else") {
  // The checksums catch any corruption first; resealing each mutant exercises the parser behind
  // them: every count, length, order and range check.
  Fixture fx;
  const std::vector<std::byte> bytes = write_statistics_file(fx.file());
  std::mt19937_64 rng(19);
  int refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::byte> mutant = bytes;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = 32 + rng() % (mutant.size() - 40);
      mutant[at] = static_cast<std::byte>(rng() % 3 == 0 ? 0xff : rng() & 0xff);
    }
    if (trial % 5 == 0) mutant.resize(32 + rng() % (mutant.size() - 40) + 8);  // cut the body short
    try {
      read_statistics_file(sealed(std::move(mutant)), "m.stats");
    } catch (const Error& e) {
      ++refused;
      if (e.kind() != ErrorKind::input) FAIL("trial " << trial << ": error of kind " << static_cast<int>(e.kind()) << ": " << e.what());
    }
  }
  CHECK(refused > 2000);
}

TEST_CASE("test_stats_file: sizes consistent with the checksums but not with the bytes are refused before allocating") {
  // A well-formed hand-made file reads.
  const auto good = hand_made([](ByteWriter& w) {
    layer_header(w, 1, 2);
    for (double v : {1.0, 2.0, 2.0, 5.0, 0.5, 0.25}) w.u64(std::bit_cast<uint64_t>(v));
  });
  const StatisticsFile f = read_statistics_file(good, "h.stats");
  CHECK(f.entries.at(0).stats->layers.at("conv").gram == std::vector<double>{1, 2, 2, 5});
  CHECK(f.entries.at(0).label == "hand-made");
  // 2^24 groups of 2^24 x 2^24 matrices: refused on the bytes left, nothing allocated.
  test::expect_error([] { read_statistics_file(hand_made([](ByteWriter& w) { layer_header(w, uint64_t{1} << 24, uint64_t{1} << 24); }), "h.stats"); },
                     ErrorKind::input, "do not fit in the");
  test::expect_error([] { read_statistics_file(hand_made([](ByteWriter& w) { layer_header(w, 1, (uint64_t{1} << 24) + 1); }), "h.stats"); },
                     ErrorKind::input, "more than the limit");
  // A NaN in a matrix, unknown flags, a major version from the future.
  test::expect_error([] {
    read_statistics_file(hand_made([](ByteWriter& w) {
                           layer_header(w, 1, 1);
                           w.u64(std::bit_cast<uint64_t>(std::nan("")));
                           w.u64(0);
                         }),
                         "h.stats");
  }, ErrorKind::input, "is not finite");
  test::expect_error([] {
    read_statistics_file(hand_made([](ByteWriter& w) {
                           w.string("conv");
                           w.string("Conv");
                           w.string("w");
                           w.u8(0x80);
                         }),
                         "h.stats");
  }, ErrorKind::input, "reserved bits must be 0");
  test::expect_error([] { read_statistics_file(hand_made([](ByteWriter& w) { layer_header(w, 1, 1); }, 2), "h.stats"); }, ErrorKind::unsupported,
                     "version 2.0, this reader supports version 1.x");
}

TEST_CASE("test_stats_file: a run refuses a file made for another model, other settings or other images") {
  Fixture fx;
  const StatisticsBinding stored = fx.binding();
  auto refused = [&](const StatisticsBinding& run, bool split_matters, const std::string& part) {
    test::expect_error([&] { check_statistics_binding("f.stats", stored, run, "m.onnx", fx.fit.files, split_matters); }, ErrorKind::input,
                       part);
  };
  check_statistics_binding("f.stats", stored, fx.binding(), "m.onnx", fx.fit.files, true);
  StatisticsBinding run = stored;
  run.model_sha256 = std::string(64, '0');
  refused(run, true, "f.stats: calibration statistics of another model (sha256 ");
  run = stored;
  run.seed = 7;
  refused(run, true, "f.stats: calibration statistics for other settings: --seed 0, this run --seed 7");
  run = stored;
  run.calib_count = 4;
  run.images.resize(4);
  refused(run, true, "--calib-count 6 (a sample of 6 images), this run --calib-count 4 (4 images)");
  run = stored;
  run.images.pop_back();
  refused(run, true, "f.stats: calibration statistics of other images: a sample of 6 images");
  run = stored;
  run.image_settings = "torch, resize 8, crop 8, nchw";
  refused(run, true, "images as 'keras, resize 8, crop 8, nchw', this run 'torch, resize 8, crop 8, nchw'");
  run = stored;
  run.held_out = 2;
  refused(run, true, "3 of the 6 images held out of fitting, this run 2 (--held-out)");
  check_statistics_binding("f.stats", stored, run, "m.onnx", fx.fit.files, false);  // profile draws no split
  run = stored;
  run.images[1] = std::string(64, 'f');
  refused(run, true, "f.stats: calibration statistics of other images: 1 of the 6 sample images differs by content (first: image 2, ");
}

TEST_CASE("test_stats_file: the cache files statistics by the images' content, not their paths") {
  Fixture fx;
  test::TempDir copy;
  for (const auto& f : std::filesystem::directory_iterator(fx.dir.path)) std::filesystem::copy(f.path(), copy.path / f.path().filename());
  CalibrationSet moved = fx.fit;
  for (auto& f : moved.files) f = (copy.path / std::filesystem::path(f).filename()).string();
  StatisticsCache other;
  CHECK(other.key(fx.model, moved) == fx.cache.key(fx.model, fx.fit));
  CalibrationSet reordered = fx.fit;
  std::swap(reordered.files[0], reordered.files[1]);
  CHECK(other.key(fx.model, reordered) != fx.cache.key(fx.model, fx.fit));
  CalibrationSet batched = fx.fit;
  batched.batch = 2;
  CHECK(other.key(fx.model, batched) != fx.cache.key(fx.model, fx.fit));
}

TEST_CASE("test_stats_file: statistics gathered ahead are the ones a recipe asks for, and change nothing") {
  Fixture fx;
  RecipeOptions options;
  options.calibration = fx.fit;
  options.held_out = fx.held_out;
  options.threads = 1;
  options.ternary_fraction = 0.5;
  RecipeOptions gathering = options;
  gathering.statistics_cache = std::make_shared<StatisticsCache>();
  RecipeOptions int8_gathering = gathering;
  int8_gathering.ternary_fraction.reset();
  const auto int8 = gather_recipe_statistics("int8", fx.model, int8_gathering);
  const auto hybrid = gather_recipe_statistics("hybrid", fx.model, gathering);
  // int8 and hybrid ask for the canonical float model's statistics, then for the model with int8
  // activations (the same model state in both recipes); lossless asks for none.
  REQUIRE(int8.size() == 2);
  REQUIRE(hybrid.size() == 2);
  CHECK(int8[0].pass == "quantize-int8");
  CHECK(int8[0].key == hybrid[0].key);
  CHECK(int8[1].key == hybrid[1].key);
  CHECK(hybrid[1].pass == "split-hybrid");
  CHECK(gathering.statistics_cache->computed() == 2);
  CHECK(gather_recipe_statistics("lossless", fx.model, int8_gathering).empty());

  // Through a file: a run seeded from it computes nothing and writes the same bytes.
  StatisticsFile file;
  file.binding = fx.binding();
  for (const auto& [key, stats] : gathering.statistics_cache->entries()) file.entries.push_back(StatisticsEntry{key, "", stats});
  const StatisticsFile back = read_statistics_file(write_statistics_file(file), "f.stats");
  auto file_of = [](const CompressedModel& cm) { return assemble_mcz(cm.model, code_tensors(cm.model, 1), nlohmann::ordered_json::object()); };
  for (const std::string recipe : {"int8", "hybrid"}) {
    RecipeOptions alone = options, seeded = options;
    if (recipe == "int8") alone.ternary_fraction.reset(), seeded.ternary_fraction.reset();
    seeded.statistics_cache = std::make_shared<StatisticsCache>();
    for (const auto& e : back.entries) seeded.statistics_cache->add(e.key, e.stats);
    const CompressedModel a = run_recipe(recipe, fx.model, alone);
    const CompressedModel b = run_recipe(recipe, fx.model, seeded);
    CHECK_MESSAGE(seeded.statistics_cache->computed() == 0, recipe);
    CHECK_MESSAGE(file_of(a) == file_of(b), recipe);
  }
}
