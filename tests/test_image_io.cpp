// Readers and writers of images, .npy files and label lists (formats/image, npy, labels, file_io):
// round trips, hand-made corruptions that must fail with the right exit-code category, and the
// reference pipeline of ../shared/reference reproduced pixel for pixel.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/file_io.h"
#include "formats/image.h"
#include "formats/labels.h"
#include "formats/npy.h"
#include "tests/test_util.h"

namespace {

using mc::DType;
using mc::ErrorKind;
using mc::ImageU8;
using mc::Shape;
using mc::Tensor;

// Runs F, which must throw mc::Error of KIND whose message contains SUBSTRING; returns the message.
std::string error_message_of(const std::function<void()>& f, ErrorKind kind, const std::string& substring = "") {
  try {
    f();
  } catch (const mc::Error& e) {
    CHECK_MESSAGE(static_cast<int>(e.kind()) == static_cast<int>(kind), e.what());
    CHECK_MESSAGE(std::string(e.what()).find(substring) != std::string::npos,
                  "message '" << e.what() << "' lacks '" << substring << "'");
    return e.what();
  }
  FAIL_CHECK("expected an mc::Error containing '" << substring << "', nothing was thrown");
  return "";
}

std::vector<std::byte> to_bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

// An .npy file with the given header dictionary text (padded like numpy) and DATA_BYTES zero bytes.
std::vector<std::byte> make_npy(const std::string& dict, size_t data_bytes, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string file = std::string("\x93NUMPY") + static_cast<char>(major) + '\0';
  for (size_t i = 0; i < prefix - 8; ++i) file += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  file += header;
  file.append(data_bytes, '\0');
  return to_bytes(file);
}

void image_write_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

void write_text(const std::filesystem::path& path, const std::string& text) { image_write_file(path, to_bytes(text)); }

ImageU8 synthetic_image(int width, int height, const std::function<uint8_t(int x, int y, int c)>& pixel) {
  ImageU8 img;
  img.width = width;
  img.height = height;
  img.rgb.resize(static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) img.rgb[(static_cast<size_t>(y) * width + x) * 3 + c] = pixel(x, y, c);
  return img;
}

const std::vector<std::string>& reference_images() {
  // The "images" list of ../shared/reference/index.json.
  static const std::vector<std::string> names = {
      "n01440764_tench.JPEG",          "n01484850_great_white_shark.JPEG", "n01494475_hammerhead.JPEG",
      "n01498041_stingray.JPEG",       "n01514859_hen.JPEG",               "n01530575_brambling.JPEG",
      "n01532829_house_finch.JPEG",    "n01537544_indigo_bunting.JPEG"};
  return names;
}

std::string dev_image(const std::string& name) { return (mc::test::shared_dir() / "imagenet-dev" / name).string(); }

}  // namespace

// ---------------------------------------------------------------------------------------------------
// .npy

TEST_CASE("test_image_io: npy round trip for every supported dtype") {
  mc::test::TempDir tmp;
  std::mt19937 rng(7);
  const std::vector<std::pair<DType, const char*>> types = {{DType::f32, "<f4"}, {DType::u8, "|u1"},
                                                            {DType::i8, "|i1"},  {DType::i32, "<i4"},
                                                            {DType::i64, "<i8"}, {DType::boolean, "|b1"}};
  const std::vector<Shape> shapes = {{2, 3, 5}, {7}, {}, {0, 4}, {1, 1, 1, 1}};
  for (const auto& [dtype, descr_literal] : types) {
    const std::string descr = descr_literal;  // structured bindings cannot be captured (clang)
    for (const Shape& shape : shapes) {
      CAPTURE(descr);
      CAPTURE(mc::shape_str(shape));
      Tensor t(dtype, shape);
      auto* raw = static_cast<uint8_t*>(t.raw());
      for (size_t i = 0; i < t.byte_size(); ++i)
        raw[i] = static_cast<uint8_t>(dtype == DType::boolean ? rng() % 2 : rng() % 256);

      std::vector<std::byte> bytes = mc::write_npy_bytes(t);
      // numpy.save layout: data 64-byte aligned, header text as numpy writes it.
      const size_t header_len = static_cast<size_t>(bytes[8]) | static_cast<size_t>(bytes[9]) << 8;
      CHECK((10 + header_len) % 64 == 0);
      std::string header(reinterpret_cast<const char*>(bytes.data()) + 10, header_len);
      CHECK(header.starts_with("{'descr': '" + descr + "', 'fortran_order': False, 'shape': ("));
      CHECK(header.back() == '\n');

      Tensor back = mc::read_npy_bytes(bytes, "mem.npy");
      CHECK(back.dtype() == dtype);
      CHECK(back.shape() == shape);
      REQUIRE(back.byte_size() == t.byte_size());
      if (t.byte_size() > 0) CHECK(std::memcmp(back.raw(), t.raw(), t.byte_size()) == 0);

      const std::string path = (tmp.path / "t.npy").string();
      mc::write_npy(path, t);
      Tensor from_file = mc::read_npy(path);
      CHECK(from_file.shape() == shape);
      REQUIRE(from_file.byte_size() == t.byte_size());
      if (t.byte_size() > 0) CHECK(std::memcmp(from_file.raw(), t.raw(), t.byte_size()) == 0);
    }
  }
  const std::string one_dim = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }";
  const std::vector<std::byte> one_dim_bytes = mc::write_npy_bytes(Tensor(DType::f32, {5}));
  CHECK(std::string(reinterpret_cast<const char*>(one_dim_bytes.data()) + 10, one_dim.size()) == one_dim);
}

TEST_CASE("test_image_io: npy format versions 2.0 and 3.0 and header variants are read") {
  const std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }";
  for (int major : {1, 2, 3}) {
    Tensor t = mc::read_npy_bytes(make_npy(dict, 16, major), "v.npy");
    CHECK(t.shape() == Shape{2, 2});
    CHECK(t.dtype() == DType::i32);
  }
  // Key order, double quotes, no trailing comma, '<u1' for '|u1': all valid Python literals numpy accepts.
  Tensor t = mc::read_npy_bytes(make_npy("{\"shape\": (3,2), \"fortran_order\": False, \"descr\": \"<u1\"}", 6),
                                "v.npy");
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.dtype() == DType::u8);
}

TEST_CASE("test_image_io: corrupt npy files are rejected with the right error kind") {
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  auto read = [](std::vector<std::byte> bytes) { return [b = std::move(bytes)] { mc::read_npy_bytes(b, "x.npy"); }; };

  error_message_of(read({}), ErrorKind::input, "x.npy: not a .npy file");
  std::vector<std::byte> bad_magic = make_npy(good, 24);
  bad_magic[1] = std::byte{'X'};
  error_message_of(read(bad_magic), ErrorKind::input, "x.npy: not a .npy file (bad magic");
  error_message_of(read(to_bytes("\x93NUMPY")), ErrorKind::input, "x.npy: truncated");
  error_message_of(read(to_bytes(std::string("\x93NUMPY\x01\x00\x10", 9))), ErrorKind::input, "x.npy: truncated");

  std::vector<std::byte> short_data = make_npy(good, 10);
  error_message_of(read(short_data), ErrorKind::input, "x.npy: truncated: header says 24 bytes of data, file has 10");
  error_message_of(read(make_npy(good, 25)), ErrorKind::input, "x.npy: 1 unexpected bytes after the data");

  // Header length field pointing past the end of the file.
  std::vector<std::byte> long_header = make_npy(good, 24);
  long_header[8] = std::byte{0xff};
  long_header[9] = std::byte{0xff};
  error_message_of(read(long_header), ErrorKind::input, "x.npy: truncated: header length says 65535 bytes of header");

  error_message_of(read(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 0)),
               ErrorKind::input, "x.npy: bad npy header: shape [1099511627776,1099511627776] has more than 2^31");
  error_message_of(read(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0)),
               ErrorKind::input, "dimension out of range");
  error_message_of(read(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", 0)),
               ErrorKind::input, "negative dimension");
  error_message_of(read(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24)),
               ErrorKind::unsupported, "x.npy: npy array in Fortran order");
  error_message_of(read(make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 48)),
               ErrorKind::unsupported, "x.npy: npy element type '<f8' is not supported");
  error_message_of(read(make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24)),
               ErrorKind::unsupported, "'>f4'");
  error_message_of(read(make_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8)),
               ErrorKind::unsupported, "structured");
  std::vector<std::byte> v4 = make_npy(good, 24, 3);
  v4[6] = std::byte{4};
  error_message_of(read(v4), ErrorKind::unsupported, "x.npy: npy format version 4.0");

  // Malformed dictionaries.
  error_message_of(read(make_npy("{'descr': '<f4', 'shape': (2, 3), }", 24)), ErrorKind::input, "missing key 'fortran_order'");
  error_message_of(read(make_npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 24)),
               ErrorKind::input, "duplicate key 'descr'");
  error_message_of(read(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 24)),
               ErrorKind::input, "unexpected key");
  error_message_of(read(make_npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3)}", 24)), ErrorKind::input,
               "expected True or False");
  error_message_of(read(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", 24)), ErrorKind::input,
               "trailing comma");
  error_message_of(read(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} junk", 24)), ErrorKind::input,
               "unexpected text after");
  error_message_of(read(make_npy("garbage", 24)), ErrorKind::input, "x.npy: bad npy header");
  const char with_nul[] = "{'descr': '<f4\0', 'fortran_order': False, 'shape': (2, 3)}";
  error_message_of(read(make_npy(std::string(with_nul, sizeof with_nul - 1), 24)), ErrorKind::input, "control byte");
}

TEST_CASE("test_image_io: npy files on disk: missing, directory, output errors") {
  mc::test::TempDir tmp;
  const std::string missing = (tmp.path / "missing.npy").string();
  error_message_of([&] { mc::read_npy(missing); }, ErrorKind::input, missing + ": no such file");
  error_message_of([&] { mc::read_npy(tmp.path.string()); }, ErrorKind::input, tmp.path.string() + ": is a directory");
  const std::string bad_dir = (tmp.path / "no" / "such" / "dir" / "out.npy").string();
  error_message_of([&] { mc::write_npy(bad_dir, Tensor(DType::f32, {2})); }, ErrorKind::output, bad_dir + ": cannot write");
  // A failed write leaves nothing behind; a successful one leaves exactly the file.
  mc::write_npy((tmp.path / "ok.npy").string(), Tensor(DType::u8, {3}));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(tmp.path)) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("test_image_io: reference npy files have the documented shapes") {
  if (!mc::test::need_shared()) return;
  const auto ref = mc::test::shared_dir() / "reference";
  Tensor keras = mc::read_npy((ref / "input_keras.npy").string());
  CHECK(keras.dtype() == DType::f32);
  CHECK(keras.shape() == Shape{8, 3, 224, 224});
  Tensor crops = mc::read_npy((ref / "crops_uint8_nhwc.npy").string());
  CHECK(crops.dtype() == DType::u8);
  CHECK(crops.shape() == Shape{8, 224, 224, 3});
  // Truncating a real file gives the one-line "truncated" error naming it.
  std::vector<std::byte> bytes = mc::read_binary_file((ref / "input_keras.npy").string());
  bytes.resize(128 + 100);
  error_message_of([&] { mc::read_npy_bytes(bytes, "x.npy"); }, ErrorKind::input,
               "x.npy: truncated: header says 4816896 bytes of data, file has 100");
}

// ---------------------------------------------------------------------------------------------------
// JPEG decoding and the reference pipeline

TEST_CASE("test_image_io: decode, crop and preprocess reproduce the reference inputs") {
  if (!mc::test::need_shared()) return;
  const auto ref = mc::test::shared_dir() / "reference";
  const Tensor crops = mc::read_npy((ref / "crops_uint8_nhwc.npy").string());
  const Tensor keras = mc::read_npy((ref / "input_keras.npy").string());
  const Tensor torch = mc::read_npy((ref / "input_torch.npy").string());
  REQUIRE(crops.shape() == Shape{8, 224, 224, 3});
  constexpr size_t pixels = 224 * 224, values = 3 * pixels;

  size_t differing = 0;
  int max_level_diff = 0;
  for (size_t i = 0; i < reference_images().size(); ++i) {
    const std::string path = dev_image(reference_images()[i]);
    CAPTURE(path);
    ImageU8 decoded = mc::decode_jpeg(mc::read_binary_file(path), path);
    CHECK(std::min(decoded.width, decoded.height) == 256);
    ImageU8 resized = mc::resize_short_side(decoded, 256);  // stored at short side 256: unchanged
    CHECK(resized.rgb == decoded.rgb);
    ImageU8 crop = mc::center_crop(resized, 224, 224);
    REQUIRE(crop.rgb.size() == values);
    const uint8_t* want = crops.data<uint8_t>() + i * values;
    for (size_t j = 0; j < values; ++j) {
      const int d = std::abs(int{crop.rgb[j]} - int{want[j]});
      differing += d != 0;
      max_level_diff = std::max(max_level_diff, d);
    }

    // Preprocessing of the reference crop itself must match numpy's float32 arithmetic (1e-6).
    ImageU8 ref_crop{224, 224, std::vector<uint8_t>(want, want + values)};
    std::vector<float> k(values), t(values);
    const float* want_k = keras.data<float>() + i * values;
    const float* want_t = torch.data<float>() + i * values;
    mc::image_to_chw(ref_crop, mc::parse_preprocess("keras"), k.data());
    mc::image_to_chw(ref_crop, mc::parse_preprocess("torch"), t.data());
    float max_k = 0, max_t = 0;
    for (size_t j = 0; j < values; ++j) {
      max_k = std::max(max_k, std::abs(k[j] - want_k[j]));
      max_t = std::max(max_t, std::abs(t[j] - want_t[j]));
    }
    CHECK(max_k <= 1e-6f);
    CHECK(max_t <= 1e-6f);

    // The whole pipeline, from our own decode: 1e-5 if the decoders agree, else one level's worth.
    mc::image_to_chw(crop, mc::parse_preprocess("keras"), k.data());
    mc::image_to_chw(crop, mc::parse_preprocess("torch"), t.data());
    max_k = max_t = 0;
    for (size_t j = 0; j < values; ++j) {
      max_k = std::max(max_k, std::abs(k[j] - want_k[j]));
      max_t = std::max(max_t, std::abs(t[j] - want_t[j]));
    }
    CHECK(max_k <= 1e-5f + static_cast<float>(max_level_diff) / 127.5f);
    CHECK(max_t <= 1e-5f + static_cast<float>(max_level_diff) / (255.0f * 0.224f));
  }
  if (differing != 0)
    MESSAGE(differing << " of " << 8 * values << " crop values differ from the reference (libjpeg version?), by at most "
                      << max_level_diff);
  CHECK(max_level_diff <= 1);

  // load_image_batch does the same end to end.
  std::vector<std::string> paths;
  for (const auto& name : reference_images()) paths.push_back(dev_image(name));
  const mc::ImageConfig torch_config{256, 224, mc::parse_preprocess("torch")};
  const Tensor batch = mc::load_image_batch(paths, torch_config);
  REQUIRE(batch.shape() == torch.shape());
  float max_batch = 0;
  for (size_t j = 0; j < 8 * values; ++j)
    max_batch = std::max(max_batch, std::abs(batch.data<float>()[j] - torch.data<float>()[j]));
  CHECK(max_batch <= 1e-5f + static_cast<float>(max_level_diff) / (255.0f * 0.224f));
}

TEST_CASE("test_image_io: load_image_batch reads .npy images and preprocessed tensors") {
  mc::test::TempDir tmp;
  ImageU8 img = synthetic_image(300, 260, [](int x, int y, int c) { return static_cast<uint8_t>((x + 2 * y + 50 * c) % 256); });
  Tensor hwc(DType::u8, {260, 300, 3});
  std::memcpy(hwc.raw(), img.rgb.data(), img.rgb.size());
  const std::string image_npy = (tmp.path / "img.NPY").string();
  mc::write_npy(image_npy, hwc);

  Tensor pre(DType::f32, {3, 224, 224});
  for (int64_t i = 0; i < pre.numel(); ++i) pre.data<float>()[i] = static_cast<float>(i % 97) * 0.01f;
  const std::string pre_npy = (tmp.path / "pre.npy").string();
  mc::write_npy(pre_npy, pre);

  const mc::ImageConfig config{256, 224, mc::parse_preprocess("keras")};
  Tensor batch = mc::load_image_batch({image_npy, pre_npy}, config);
  REQUIRE(batch.shape() == Shape{2, 3, 224, 224});
  std::vector<float> want(3 * 224 * 224);
  mc::image_to_chw(mc::center_crop(mc::resize_short_side(img, 256), 224, 224), mc::parse_preprocess("keras"), want.data());
  CHECK(std::equal(want.begin(), want.end(), batch.data<float>()));
  CHECK(std::memcmp(batch.data<float>() + want.size(), pre.raw(), pre.byte_size()) == 0);

  const std::string wrong_npy = (tmp.path / "wrong.npy").string();
  mc::write_npy(wrong_npy, Tensor(DType::f32, {3, 100, 100}));
  error_message_of([&] { mc::load_image_batch({wrong_npy}, config); }, ErrorKind::input, wrong_npy + ": expected a uint8");
  error_message_of([&] { mc::load_image_batch({image_npy}, mc::ImageConfig{200, 224, mc::parse_preprocess("keras")}); },
               ErrorKind::usage, "crop size 224");
  error_message_of([&] { mc::load_image_batch({(tmp.path / "nope.jpg").string()}, config); }, ErrorKind::input,
               "nope.jpg: no such file");
}

TEST_CASE("test_image_io: corrupt JPEG data is an input error naming the file") {
  std::mt19937 rng(1);
  std::vector<std::byte> random_bytes(4096);
  for (auto& b : random_bytes) b = static_cast<std::byte>(rng() & 0xff);
  error_message_of([&] { mc::decode_jpeg(random_bytes, "random.jpg"); }, ErrorKind::input, "random.jpg: not a valid JPEG");
  error_message_of([&] { mc::decode_jpeg({}, "empty.jpg"); }, ErrorKind::input, "empty.jpg: empty file");

  mc::test::TempDir tmp;
  const std::string empty = (tmp.path / "empty.jpg").string();
  write_text(empty, "");
  error_message_of([&] { mc::load_image_batch({empty}, mc::ImageConfig{}); }, ErrorKind::input, empty + ": empty file");

  if (!mc::test::need_shared()) return;
  const std::vector<std::byte> real = mc::read_binary_file(dev_image(reference_images()[0]));

  std::vector<std::byte> half(real.begin(), real.begin() + static_cast<std::ptrdiff_t>(real.size() / 2));
  error_message_of([&] { mc::decode_jpeg(half, "half.jpg"); }, ErrorKind::input, "half.jpg: corrupt or truncated JPEG");
  const std::string half_path = (tmp.path / "half.jpg").string();
  image_write_file(half_path, half);
  error_message_of([&] { mc::load_image_batch({half_path}, mc::ImageConfig{}); }, ErrorKind::input, half_path + ": ");

  // Only the first bytes (the header survives, the scan does not).
  std::vector<std::byte> header_only(real.begin(), real.begin() + 700);
  error_message_of([&] { mc::decode_jpeg(header_only, "head.jpg"); }, ErrorKind::input, "head.jpg: ");

  // Frame header claiming 20000 x 20000: rejected before the pixel buffer is allocated.
  std::vector<std::byte> huge = real;
  bool patched = false;
  for (size_t i = 2; i + 9 < huge.size(); ++i) {
    const auto marker = static_cast<uint8_t>(huge[i + 1]);
    if (static_cast<uint8_t>(huge[i]) == 0xff && (marker == 0xc0 || marker == 0xc1 || marker == 0xc2)) {
      huge[i + 5] = huge[i + 7] = std::byte{20000 >> 8};
      huge[i + 6] = huge[i + 8] = std::byte{20000 & 0xff};
      patched = true;
      break;
    }
  }
  REQUIRE(patched);
  error_message_of([&] { mc::decode_jpeg(huge, "huge.jpg"); }, ErrorKind::input, "huge.jpg: JPEG image is 20000x20000");
}

// ---------------------------------------------------------------------------------------------------
// Resize, crop, preprocessing

TEST_CASE("test_image_io: resize_short_side") {
  const ImageU8 constant = synthetic_image(600, 512, [](int, int, int c) { return static_cast<uint8_t>(40 + 70 * c); });
  const ImageU8 small = mc::resize_short_side(constant, 256);
  CHECK(small.width == 300);
  CHECK(small.height == 256);
  for (size_t i = 0; i < small.rgb.size(); ++i) REQUIRE(small.rgb[i] == 40 + 70 * (i % 3));

  const ImageU8 portrait = mc::resize_short_side(synthetic_image(512, 600, [](int, int, int) { return 9; }), 256);
  CHECK(portrait.width == 256);
  CHECK(portrait.height == 300);
  // Long side truncated like torchvision: 341 * 224 / 256 = 298.375 -> 298.
  const ImageU8 truncated = mc::resize_short_side(synthetic_image(341, 256, [](int, int, int) { return 9; }), 224);
  CHECK(truncated.width == 298);
  CHECK(truncated.height == 224);

  // Already the right size: unchanged.
  const ImageU8 noise = synthetic_image(256, 300, [](int x, int y, int c) { return static_cast<uint8_t>(x * 31 + y * 17 + c); });
  CHECK(mc::resize_short_side(noise, 256).rgb == noise.rgb);

  // Antialiasing: a one-pixel checkerboard reduced 3x averages to mid grey; point-sampling bilinear
  // would return pure black and white.
  const ImageU8 checker = synthetic_image(300, 300, [](int x, int y, int) { return static_cast<uint8_t>((x + y) % 2 ? 255 : 0); });
  const ImageU8 grey = mc::resize_short_side(checker, 100);
  CHECK(grey.width == 100);
  const auto [lo, hi] = std::minmax_element(grey.rgb.begin(), grey.rgb.end());
  CHECK(*lo >= 100);
  CHECK(*hi <= 155);

  // Upscaling interpolates: a horizontal ramp stays monotonic and within its range.
  const ImageU8 ramp = synthetic_image(64, 32, [](int x, int, int) { return static_cast<uint8_t>(x * 4); });
  const ImageU8 big = mc::resize_short_side(ramp, 64);
  CHECK(big.width == 128);
  CHECK(big.height == 64);
  for (int x = 1; x < big.width; ++x) CHECK(big.rgb[static_cast<size_t>(x) * 3] >= big.rgb[static_cast<size_t>(x - 1) * 3]);
  CHECK(big.rgb[0] == 0);
  CHECK(big.rgb[static_cast<size_t>(big.width - 1) * 3] == 252);

  error_message_of([&] { mc::resize_short_side(ramp, 0); }, ErrorKind::usage, "resize size 0");
  error_message_of([&] { mc::resize_short_side(synthetic_image(16000, 2, [](int, int, int) { return 0; }), 256); },
               ErrorKind::input, "too elongated");
}

TEST_CASE("test_image_io: center_crop rounds offsets half to even like Python") {
  const auto column_image = [](int w, int h) {
    return synthetic_image(w, h, [](int x, int y, int c) { return static_cast<uint8_t>(c == 0 ? x : c == 1 ? y : 0); });
  };
  // (341 - 224) / 2 = 58.5 -> 58; (343 - 224) / 2 = 59.5 -> 60; (300 - 224) / 2 = 38; (256-224)/2 = 16.
  const std::vector<std::pair<int, int>> cases = {{341, 58}, {343, 60}, {300, 38}, {256, 16}, {224, 0}, {225, 0}, {227, 2}};
  for (const auto& test_case : cases) {
    const int w = test_case.first, x0 = test_case.second;
    CAPTURE(w);
    ImageU8 crop = mc::center_crop(column_image(w, 256), 224, 224);
    CHECK(crop.width == 224);
    CHECK(crop.height == 224);
    CHECK(crop.rgb[0] == x0);
    CHECK(crop.rgb[1] == 16);
    CHECK(crop.rgb[crop.rgb.size() - 3] == (x0 + 223) % 256);  // pixel values hold x mod 256
  }
  error_message_of([&] { mc::center_crop(column_image(200, 256), 224, 224); }, ErrorKind::usage, "does not fit");
}

TEST_CASE("test_image_io: preprocessing formulas and names") {
  const ImageU8 img = synthetic_image(2, 1, [](int x, int, int c) { return static_cast<uint8_t>(x == 0 ? 0 : 255 - c); });
  float out[6];
  mc::image_to_chw(img, mc::parse_preprocess("keras"), out);
  CHECK(out[0] == -1.0f);               // R plane, pixel 0
  CHECK(out[1] == 1.0f);                // R plane, pixel 1 (255)
  CHECK(out[3] == 254.0f / 127.5f - 1.0f);  // G plane, pixel 1 (254)
  mc::image_to_chw(img, mc::parse_preprocess("torch"), out);
  CHECK(out[0] == (0.0f - 0.485f) / 0.229f);
  CHECK(out[5] == (253.0f / 255.0f - 0.406f) / 0.225f);  // B plane, pixel 1 (253)

  CHECK(mc::parse_preprocess("keras").kind == mc::Preprocess::Kind::keras);
  CHECK(mc::parse_preprocess("torch").kind == mc::Preprocess::Kind::torch);
  error_message_of([] { mc::parse_preprocess("tf"); }, ErrorKind::usage, "unknown preprocessing 'tf' (valid: keras, torch, caffe, raw, unit;");
}

// ---------------------------------------------------------------------------------------------------
// Labels and image folders

TEST_CASE("test_image_io: labels.tsv parsing") {
  mc::test::TempDir tmp;
  const std::string path = (tmp.path / "labels.tsv").string();

  write_text(path, "a.JPEG\t0\nb.jpg\t998\r\nc d's.jpg\t1000000\n\n");
  auto labels = mc::read_labels_tsv(path);
  REQUIRE(labels.size() == 3);
  CHECK(labels[0].file == "a.JPEG");
  CHECK(labels[0].class_index == 0);
  CHECK(labels[1].file == "b.jpg");
  CHECK(labels[1].class_index == 998);
  CHECK(labels[2].file == "c d's.jpg");
  CHECK(labels[2].class_index == 1000000);

  write_text(path, "a.jpg\t5");  // no final newline
  CHECK(mc::read_labels_tsv(path).size() == 1);
  write_text(path, "");
  CHECK(mc::read_labels_tsv(path).empty());

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"a.jpg\t1\nb.jpg 2\n", ":2: expected 'filename<TAB>class index', got 'b.jpg 2' (no tab)"},
      {"a.jpg\tone\n", ":1: expected 'filename<TAB>class index', got 'a.jpg\\tone'"},
      {"a.jpg\t-3\n", ":1: expected"},
      {"a.jpg\t+3\n", ":1: expected"},
      {"a.jpg\t3x\n", ":1: expected"},
      {"a.jpg\t\n", ":1: expected"},
      {"a.jpg\t 3\n", ":1: expected"},
      {"a.jpg\t1000001\n", ":1: expected"},
      {"a.jpg\t99999999999999999999\n", ":1: expected"},
      {"a.jpg\t1\t2\n", ":1: expected"},
      {"\t3\n", ":1: expected '"},
      {"dir/a.jpg\t3\n", ":1: expected"},
      {"..\t3\n", ":1: expected"},
      {"a.jpg\t1\n\nb.jpg\t2\n", ":2: expected"},
      {"a.jpg\t1\n\n\n", ":2: expected"},
      {"a.jpg\t1\nb.jpg\t2\na.jpg\t3\n", ":3: duplicate filename 'a.jpg' (first on line 1)"},
  };
  for (const auto& bad_case : bad) {
    const std::string& text = bad_case.first;
    const std::string& message = bad_case.second;
    CAPTURE(text);
    write_text(path, text);
    error_message_of([&] { mc::read_labels_tsv(path); }, ErrorKind::input, path + message);
  }
  // The quoted line is cut at 60 characters.
  write_text(path, std::string(100, 'x') + "\n");
  const std::string msg = error_message_of([&] { mc::read_labels_tsv(path); }, ErrorKind::input, "got '");
  CHECK(msg.find("got '" + std::string(60, 'x') + "...'") != std::string::npos);
  CHECK(msg.find(std::string(61, 'x')) == std::string::npos);

  error_message_of([&] { mc::read_labels_tsv((tmp.path / "none.tsv").string()); }, ErrorKind::input, "none.tsv: no such file");

  if (!mc::test::need_shared()) return;
  labels = mc::read_labels_tsv((mc::test::shared_dir() / "imagenet-dev" / "labels.tsv").string());
  REQUIRE(labels.size() == 500);
  CHECK(labels[0].file == "n01440764_tench.JPEG");
  CHECK(labels[0].class_index == 0);
  CHECK(labels[499].class_index == 998);
}

TEST_CASE("test_image_io: list_images") {
  mc::test::TempDir tmp;
  for (const char* name : {"b.jpg", "B.JPEG", "a.Jpeg", "c.npy", "d.txt", "e.png", "jpg", "f.jpg.bak", "labels.tsv"})
    write_text(tmp.path / name, "x");
  std::filesystem::create_directory(tmp.path / "sub.jpg");
  const std::string dir = tmp.path.string();
  const std::vector<std::string> want = {dir + "/B.JPEG", dir + "/a.Jpeg", dir + "/b.jpg", dir + "/c.npy"};
  CHECK(mc::list_images(dir) == want);
  CHECK(mc::list_images(dir + "/") == want);

  error_message_of([&] { mc::list_images(dir + "/missing"); }, ErrorKind::input, dir + "/missing: no such directory");
  error_message_of([&] { mc::list_images(dir + "/d.txt"); }, ErrorKind::input, dir + "/d.txt: not a directory");

  if (!mc::test::need_shared()) return;
  const auto images = mc::list_images((mc::test::shared_dir() / "imagenet-dev").string());
  CHECK(images.size() == 500);
  CHECK(std::is_sorted(images.begin(), images.end()));
}
