// formats/image_cache: decoded images kept between passes give the same batches as decoding again,
// are made again when a file changes under the same name, and stay within their capacity.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "formats/file_io.h"
#include "formats/image.h"
#include "formats/image_cache.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> cache_example_images() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(mc::test::source_dir() / "examples" / "images"))
    if (e.path().extension() == ".JPEG") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

bool cache_same_values(const mc::Tensor& a, const mc::Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.byte_size()) == 0;
}

}  // namespace

TEST_CASE("test_image_cache: batches from kept images equal freshly decoded ones, and a rewritten file is decoded again") {
  const auto images = cache_example_images();
  REQUIRE(images.size() >= 2);
  mc::test::TempDir dir;
  const fs::path a = dir.path / "a.jpg";
  fs::copy_file(images[0], a);
  mc::ImageCache cache(size_t{64} << 20);
  const mc::ImageConfig config{256, 224, mc::parse_preprocess("torch")};
  const mc::Tensor fresh = mc::load_image_batch({a.string()}, config);
  CHECK(cache_same_values(mc::load_image_batch({a.string()}, config, &cache), fresh));
  CHECK(cache.entries() == 1);
  CHECK(cache_same_values(mc::load_image_batch({a.string()}, config, &cache), fresh));  // from the cache
  CHECK(cache.entries() == 1);
  // Another preprocessing of the same crop: the kept pixels, preprocessed the other way.
  const mc::ImageConfig keras{256, 224, mc::parse_preprocess("keras")};
  CHECK(cache_same_values(mc::load_image_batch({a.string()}, keras, &cache), mc::load_image_batch({a.string()}, keras)));
  // Another crop: a separate entry.
  const mc::ImageConfig small{146, 128, mc::parse_preprocess("torch")};
  CHECK(cache_same_values(mc::load_image_batch({a.string()}, small, &cache), mc::load_image_batch({a.string()}, small)));
  CHECK(cache.entries() == 2);
  // The file replaced by another image under the same name: its new pixels, not the kept ones.
  fs::remove(a);
  fs::copy_file(images[1], a);
  const mc::Tensor replaced = mc::load_image_batch({a.string()}, config);
  CHECK_FALSE(cache_same_values(replaced, fresh));
  CHECK(cache_same_values(mc::load_image_batch({a.string()}, config, &cache), replaced));
  // A preprocessing the kept image does not carry is still checked.
  mc::ImageConfig none = config;
  none.preprocess = mc::Preprocess{};
  CHECK_THROWS_WITH(mc::load_image_batch({a.string()}, none, &cache), doctest::Contains("needs --preprocess"));
}

TEST_CASE("test_image_cache: the least recently used entries go beyond the capacity") {
  int made = 0;
  const auto make = [&] {
    ++made;
    return mc::ImageU8{10, 10, std::vector<uint8_t>(300, static_cast<uint8_t>(made))};
  };
  const std::vector<std::byte> bytes(100, std::byte{7});
  // Each entry holds about 400 bytes (file, pixels, key): room for two.
  mc::ImageCache cache(900);
  cache.get("x", bytes, 256, 224, make);
  cache.get("y", bytes, 256, 224, make);
  CHECK(made == 2);
  cache.get("x", bytes, 256, 224, make);  // kept; now the most recently used
  CHECK(made == 2);
  cache.get("z", bytes, 256, 224, make);  // y goes
  CHECK(made == 3);
  CHECK(cache.entries() == 2);
  CHECK(cache.bytes() <= 900);
  cache.get("x", bytes, 256, 224, make);
  CHECK(made == 3);
  cache.get("y", bytes, 256, 224, make);
  CHECK(made == 4);
  // An entry larger than the whole capacity is made and not kept.
  mc::ImageCache tiny(10);
  CHECK(tiny.get("x", bytes, 256, 224, make).rgb.size() == 300);
  CHECK(tiny.entries() == 0);
}
