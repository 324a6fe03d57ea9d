#include "formats/image.h"

#include <turbojpeg.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "core/error.h"
#include "core/text.h"
#include "formats/file_io.h"
#include "formats/image_cache.h"
#include "formats/npy.h"

namespace mc {

// ---------------------------------------------------------------------------------------------------
// JPEG decoding

namespace {

struct TurboJpegDestroyer {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using TurboJpegHandle = std::unique_ptr<void, TurboJpegDestroyer>;

std::string turbojpeg_message(tjhandle handle) {
  const char* msg = tjGetErrorStr2(handle);
  return msg ? std::string(msg) : std::string("unknown TurboJPEG error");
}

}  // namespace

ImageU8 decode_jpeg(std::span<const std::byte> bytes, const std::string& name) {
  if (bytes.empty()) fail_input(name + ": empty file, not a JPEG image");
  TurboJpegHandle handle(tjInitDecompress());
  if (!handle) fail_internal("cannot initialise the TurboJPEG decompressor: " + turbojpeg_message(nullptr));

  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data, size, &width, &height, &subsampling, &colorspace) != 0)
    fail_input(name + ": not a valid JPEG image: " + turbojpeg_message(handle.get()));
  if (width <= 0 || height <= 0 || width > max_image_side || height > max_image_side)
    fail_input(name + ": JPEG image is " + std::to_string(width) + "x" + std::to_string(height) +
               ", larger than the " + std::to_string(max_image_side) + "x" + std::to_string(max_image_side) +
               " limit");
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    fail_unsupported(name + ": CMYK / YCCK JPEG images are not supported (convert to RGB)");

  ImageU8 image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
  // TJFLAG_ACCURATEDCT selects libjpeg's JDCT_ISLOW, the default of libjpeg and of PIL, so pixels match
  // the reference crops bit for bit. libjpeg reports a truncated or damaged stream only as a warning
  // and fills the rest with grey; TJFLAG_STOPONWARNING aborts instead and any non-zero return (warning
  // or fatal) rejects the file, so a half-downloaded image never reaches a model.
  if (tjDecompress2(handle.get(), data, size, image.rgb.data(), width, 0, height, TJPF_RGB,
                    TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0) {
    const bool warning = tjGetErrorCode(handle.get()) == TJERR_WARNING;
    fail_input(name + ": " + (warning ? "corrupt or truncated JPEG image: " : "cannot decode JPEG image: ") +
               turbojpeg_message(handle.get()));
  }
  return image;
}

// ---------------------------------------------------------------------------------------------------
// Resizing

namespace {

// The taps of a separable resampling filter along one axis: output pixel i reads input pixels
// first[i] .. first[i] + taps - 1 with weights weight[i * taps + k] (zero-padded past the last real tap).
struct AxisFilter {
  int taps = 0;
  std::vector<int> first;
  std::vector<float> weight;
};

// Triangle (bilinear) filter with antialiasing: pixel centres sit at (i + 0.5), output pixel i is
// centred at input coordinate c = (i + 0.5) * in / out, and input pixel j gets weight
// max(0, 1 - |j + 0.5 - c| / s) with s = max(1, in / out), normalised to sum 1 over the pixels inside
// the image. Upscaling (s = 1) is ordinary bilinear interpolation; downscaling widens the triangle to
// the downscale factor so every input pixel contributes (an area-weighted average, no aliasing).
// This is the same filter definition as PIL's Image.resize(BILINEAR) (reducing_gap unset), the
// resampling torchvision's Resize uses on PIL images; results can differ from PIL by one level
// because PIL rounds to 8 bits between the horizontal and vertical passes and uses fixed-point weights.
AxisFilter triangle_filter(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  const double spread = std::max(scale, 1.0);
  AxisFilter f;
  f.taps = static_cast<int>(std::ceil(spread)) * 2 + 1;
  f.first.resize(static_cast<size_t>(out));
  f.weight.assign(static_cast<size_t>(out) * static_cast<size_t>(f.taps), 0.0f);
  std::vector<double> w(static_cast<size_t>(f.taps));
  for (int i = 0; i < out; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(0, static_cast<int>(std::floor(center - spread + 0.5)));
    const int hi = std::min(in, static_cast<int>(std::floor(center + spread + 0.5)));  // exclusive
    const int n = std::min(hi - lo, f.taps);
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      w[k] = std::max(0.0, 1.0 - std::abs(lo + k + 0.5 - center) / spread);
      sum += w[k];
    }
    f.first[i] = lo;
    float* dst = &f.weight[static_cast<size_t>(i) * static_cast<size_t>(f.taps)];
    for (int k = 0; k < n; ++k) dst[k] = static_cast<float>(sum > 0 ? w[k] / sum : (k == 0 ? 1.0 : 0.0));
  }
  return f;
}

}  // namespace

ImageU8 resize_short_side(const ImageU8& image, int short_side) {
  if (short_side < 1 || short_side > max_image_side)
    fail_usage("resize size " + std::to_string(short_side) + " is out of range (1.." +
               std::to_string(max_image_side) + ")");
  const int w = image.width, h = image.height;
  if (w <= 0 || h <= 0 || image.rgb.size() != static_cast<size_t>(w) * static_cast<size_t>(h) * 3)
    fail_internal("resize_short_side: malformed image buffer");
  if (std::min(w, h) == short_side) return image;

  // torchvision Resize(int): the long side is int(size * long / short), truncated.
  const int64_t long_in = std::max(w, h), short_in = std::min(w, h);
  const int64_t long_out = std::max<int64_t>(1, long_in * short_side / short_in);
  if (long_out > 4 * max_image_side)
    fail_input("image " + std::to_string(w) + "x" + std::to_string(h) + " is too elongated to resize to short side " +
               std::to_string(short_side) + " (long side would be " + std::to_string(long_out) + " pixels)");
  const int out_w = w <= h ? short_side : static_cast<int>(long_out);
  const int out_h = w <= h ? static_cast<int>(long_out) : short_side;

  const AxisFilter fx = triangle_filter(w, out_w);
  const AxisFilter fy = triangle_filter(h, out_h);

  // Horizontal pass into float rows (no intermediate rounding), then the vertical pass.
  const size_t row_out = static_cast<size_t>(out_w) * 3;
  std::vector<float> horizontal(static_cast<size_t>(h) * row_out);
  for (int y = 0; y < h; ++y) {
    const uint8_t* src = image.rgb.data() + static_cast<size_t>(y) * static_cast<size_t>(w) * 3;
    float* dst = horizontal.data() + static_cast<size_t>(y) * row_out;
    for (int x = 0; x < out_w; ++x) {
      const float* wt = &fx.weight[static_cast<size_t>(x) * static_cast<size_t>(fx.taps)];
      const int lo = fx.first[x];
      const int n = std::min(fx.taps, w - lo);
      float r = 0, g = 0, b = 0;
      for (int k = 0; k < n; ++k) {
        const uint8_t* p = src + static_cast<size_t>(lo + k) * 3;
        r += wt[k] * p[0];
        g += wt[k] * p[1];
        b += wt[k] * p[2];
      }
      dst[3 * x] = r;
      dst[3 * x + 1] = g;
      dst[3 * x + 2] = b;
    }
  }

  ImageU8 out;
  out.width = out_w;
  out.height = out_h;
  out.rgb.resize(static_cast<size_t>(out_h) * row_out);
  std::vector<float> acc(row_out);
  for (int y = 0; y < out_h; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* wt = &fy.weight[static_cast<size_t>(y) * static_cast<size_t>(fy.taps)];
    const int lo = fy.first[y];
    const int n = std::min(fy.taps, h - lo);
    for (int k = 0; k < n; ++k) {
      const float* src = horizontal.data() + static_cast<size_t>(lo + k) * row_out;
      for (size_t i = 0; i < row_out; ++i) acc[i] += wt[k] * src[i];
    }
    uint8_t* dst = out.rgb.data() + static_cast<size_t>(y) * row_out;
    for (size_t i = 0; i < row_out; ++i)
      dst[i] = static_cast<uint8_t>(std::lround(std::clamp(acc[i], 0.0f, 255.0f)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Cropping and preprocessing

namespace {

// round(diff / 2) with Python 3's round-half-to-even, as the reference pipeline computed the offsets
// (a 341-pixel-wide image cropped to 224 starts at column 58, not 59).
int half_rounded_to_even(int diff) {
  int q = diff / 2;
  if (diff % 2 == 1 && q % 2 == 1) ++q;
  return q;
}

}  // namespace

ImageU8 center_crop(const ImageU8& image, int width, int height) {
  if (width < 1 || height < 1 || width > image.width || height > image.height)
    fail_usage("center crop " + std::to_string(width) + "x" + std::to_string(height) + " does not fit in a " +
               std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
  const int x0 = half_rounded_to_even(image.width - width);
  const int y0 = half_rounded_to_even(image.height - height);
  ImageU8 out;
  out.width = width;
  out.height = height;
  out.rgb.resize(static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  for (int y = 0; y < height; ++y)
    std::memcpy(out.rgb.data() + static_cast<size_t>(y) * row_bytes,
                image.rgb.data() + (static_cast<size_t>(y0 + y) * static_cast<size_t>(image.width) + x0) * 3,
                row_bytes);
  return out;
}

Preprocess parse_preprocess(const std::string& name) {
  Preprocess p;
  if (name == "keras") p.kind = Preprocess::Kind::keras;
  else if (name == "torch") p.kind = Preprocess::Kind::torch;
  else if (name == "caffe") p.kind = Preprocess::Kind::caffe, p.bgr = true;
  else if (name == "raw") p.kind = Preprocess::Kind::raw;
  else if (name == "unit") p.kind = Preprocess::Kind::unit;
  else fail_usage("unknown preprocessing '" + name + "' (valid: keras, torch, caffe, raw, unit; or --mean R,G,B --std R,G,B [--bgr])");
  return p;
}

namespace {

std::array<float, 3> three_numbers(const std::string& text, const std::string& flag) {
  std::array<float, 3> out{};
  size_t pos = 0;
  for (int c = 0; c < 3; ++c) {
    const size_t comma = text.find(',', pos);
    if ((c < 2) != (comma != std::string::npos)) fail_usage(flag + " '" + text + "': expected three numbers R,G,B");
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const auto v = parse_double(item);
    if (!v || !std::isfinite(*v)) fail_usage(flag + " '" + text + "': '" + item + "' is not a number");
    out[static_cast<size_t>(c)] = static_cast<float>(*v);
    pos = comma + 1;
  }
  return out;
}

}  // namespace

Preprocess custom_preprocess(const std::string& mean, const std::string& std, bool bgr) {
  Preprocess p;
  p.kind = Preprocess::Kind::custom;
  p.mean = three_numbers(mean, "--mean");
  p.std = std.empty() ? std::array<float, 3>{1, 1, 1} : three_numbers(std, "--std");
  for (float s : p.std)
    if (!(s > 0)) fail_usage("--std '" + std + "': every value must be above 0");
  p.bgr = bgr;
  return p;
}

std::string preprocess_name(const Preprocess& p) {
  switch (p.kind) {
    case Preprocess::Kind::none: return "none";
    case Preprocess::Kind::keras: return "keras";
    case Preprocess::Kind::torch: return "torch";
    case Preprocess::Kind::caffe: return "caffe";
    case Preprocess::Kind::raw: return "raw";
    case Preprocess::Kind::unit: return "unit";
    case Preprocess::Kind::custom: break;
  }
  // Each value in the fewest digits that read back as the same float32.
  auto shortest = [](float v) {
    char buf[32];
    for (int digits = 1; digits <= 9; ++digits) {
      std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
      if (std::strtof(buf, nullptr) == v) break;
    }
    return std::string(buf);
  };
  auto three = [&](const std::array<float, 3>& v) { return shortest(v[0]) + "," + shortest(v[1]) + "," + shortest(v[2]); };
  return "mean=" + three(p.mean) + ";std=" + three(p.std) + (p.bgr ? ";bgr" : "");
}

const char* layout_name(Layout layout) { return layout == Layout::nhwc ? "nhwc" : "nchw"; }

Layout parse_layout(const std::string& name) {
  if (name == "nchw") return Layout::nchw;
  if (name == "nhwc") return Layout::nhwc;
  fail_usage("unknown layout '" + name + "' (valid: nchw, nhwc)");
}

std::string image_config_key(const ImageConfig& c) {
  return std::to_string(c.resize_short) + "|" + std::to_string(c.crop) + "|" + preprocess_name(c.preprocess) + "|" + layout_name(c.layout);
}

int resize_for(int crop, double crop_ratio) {
  if (!(crop_ratio > 0 && crop_ratio <= 1)) fail_usage("--crop-ratio must be in (0, 1], got " + format_number(crop_ratio));
  return static_cast<int>(std::lround(static_cast<double>(crop) / crop_ratio));
}

void image_to_chw(const ImageU8& image, const Preprocess& preprocess, float* dst) {
  // One table per channel of the 256 possible results. Each entry is computed with float32 operations
  // in numpy's order — (x / 127.5) - 1 and ((x / 255) - mean) / std — so the tensors equal
  // ../shared/reference/input_{keras,torch}.npy; a multiply by a reciprocal would not.
  static constexpr float torch_mean[3] = {0.485f, 0.456f, 0.406f};
  static constexpr float torch_std[3] = {0.229f, 0.224f, 0.225f};
  static constexpr float caffe_mean[3] = {123.68f, 116.779f, 103.939f};  // R, G, B
  std::array<std::array<float, 256>, 3> table;
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) {
      const float x = static_cast<float>(v);
      float y = x;
      switch (preprocess.kind) {
        case Preprocess::Kind::none: fail_internal("image_to_chw: no preprocessing");
        case Preprocess::Kind::keras: y = x / 127.5f - 1.0f; break;
        case Preprocess::Kind::torch: y = (x / 255.0f - torch_mean[c]) / torch_std[c]; break;
        case Preprocess::Kind::caffe: y = x - caffe_mean[c]; break;
        case Preprocess::Kind::raw: y = x; break;
        case Preprocess::Kind::unit: y = x / 255.0f; break;
        case Preprocess::Kind::custom: y = (x - preprocess.mean[static_cast<size_t>(c)]) / preprocess.std[static_cast<size_t>(c)]; break;
      }
      table[static_cast<size_t>(c)][static_cast<size_t>(v)] = y;
    }
  const size_t plane = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
  if (image.rgb.size() != plane * 3) fail_internal("image_to_chw: malformed image buffer");
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) {
      const size_t plane_index = preprocess.bgr ? 2 - c : c;
      dst[plane_index * plane + i] = table[c][image.rgb[3 * i + c]];
    }
}

// ---------------------------------------------------------------------------------------------------
// Batches

bool is_npy_path(const std::string& path) {
  if (path.size() < 4) return false;
  std::string ext = path.substr(path.size() - 4);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".npy";
}

namespace {

void load_one(const std::string& path, const ImageConfig& config, float* dst, ImageCache* cache) {
  const std::vector<std::byte> bytes = read_binary_file(path);
  ImageU8 image;
  if (is_npy_path(path)) {
    Tensor t = read_npy_bytes(bytes, path);
    const int64_t crop = config.crop;
    const bool nhwc = config.layout == Layout::nhwc;
    const Shape want = nhwc ? Shape{crop, crop, 3} : Shape{3, crop, crop};
    Shape batched = want;
    batched.insert(batched.begin(), 1);
    if (t.dtype() == DType::f32 && (t.shape() == want || t.shape() == batched)) {
      if (!nhwc) {
        std::memcpy(dst, t.raw(), t.byte_size());
        return;
      }
      // [H, W, 3] -> planes; load_image_batch lays the batch out as NHWC again.
      const size_t plane = static_cast<size_t>(crop * crop);
      for (size_t i = 0; i < plane; ++i)
        for (size_t c = 0; c < 3; ++c) dst[c * plane + i] = t.data<float>()[i * 3 + c];
      return;
    }
    if (t.dtype() != DType::u8 || t.rank() != 3 || t.dim(2) != 3 || t.dim(0) < 1 || t.dim(1) < 1 ||
        t.dim(0) > max_image_side || t.dim(1) > max_image_side)
      fail_input(path + ": expected a uint8 [H,W,3] RGB image or a preprocessed float32 " + shape_str(want) +
                 " tensor, got " + dtype_name(t.dtype()) + " " + shape_str(t.shape()));
    image.height = static_cast<int>(t.dim(0));
    image.width = static_cast<int>(t.dim(1));
    image.rgb.assign(t.data<uint8_t>(), t.data<uint8_t>() + t.numel());
  }
  const auto need_preprocessing = [&] {
    if (config.preprocess.kind == Preprocess::Kind::none)
      fail_usage(path + ": an image needs --preprocess (keras, torch, caffe, raw, unit, or --mean/--std); only preprocessed float32 .npy tensors need none");
  };
  const auto crop = [&]() -> ImageU8 {
    need_preprocessing();
    try {
      return center_crop(resize_short_side(image, config.resize_short), config.crop, config.crop);
    } catch (const Error& e) {
      fail(e.kind(), path + ": " + e.what());
    }
  };
  if (is_npy_path(path)) {
    image = crop();
  } else if (cache) {
    image = cache->get(path, bytes, config.resize_short, config.crop, [&] {
      image = decode_jpeg(bytes, path);
      return crop();
    });
  } else {
    image = decode_jpeg(bytes, path);
    image = crop();
  }
  need_preprocessing();  // (a kept image was made under another preprocessing)
  image_to_chw(image, config.preprocess, dst);
}

}  // namespace

void check_image_header(const std::string& path) {
  const std::vector<std::byte> bytes = read_binary_file(path);
  if (is_npy_path(path)) {
    read_npy_bytes(bytes, path);
    return;
  }
  auto starts = [&](std::initializer_list<unsigned char> magic) {
    if (bytes.size() < magic.size()) return false;
    size_t i = 0;
    for (unsigned char m : magic)
      if (static_cast<unsigned char>(bytes[i++]) != m) return false;
    return true;
  };
  if (starts({0x89, 'P', 'N', 'G'})) fail_input(path + ": a PNG image under a JPEG name (convert it to JPEG)");
  if (starts({'G', 'I', 'F', '8'})) fail_input(path + ": a GIF image under a JPEG name (convert it to JPEG)");
  if (starts({'B', 'M'})) fail_input(path + ": a BMP image under a JPEG name (convert it to JPEG)");
  if (bytes.empty()) fail_input(path + ": empty file, not a JPEG image");
  TurboJpegHandle handle(tjInitDecompress());
  if (!handle) fail_internal("cannot initialise the TurboJPEG decompressor: " + turbojpeg_message(nullptr));
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()), &width,
                          &height, &subsampling, &colorspace) != 0)
    fail_input(path + ": not a valid JPEG image: " + turbojpeg_message(handle.get()));
}

Tensor load_image_batch(const std::vector<std::string>& paths, const ImageConfig& config, ImageCache* cache) {
  if (config.resize_short < 1 || config.resize_short > max_image_side)
    fail_usage("resize size " + std::to_string(config.resize_short) + " is out of range (1.." +
               std::to_string(max_image_side) + ")");
  if (config.crop < 1 || config.crop > config.resize_short)
    fail_usage("crop size " + std::to_string(config.crop) + " must be between 1 and the resize size " +
               std::to_string(config.resize_short));
  const int64_t crop = config.crop;
  Tensor batch(DType::f32, {static_cast<int64_t>(paths.size()), 3, crop, crop});
  const size_t per_image = static_cast<size_t>(3 * crop * crop);
  for (size_t i = 0; i < paths.size(); ++i) load_one(paths[i], config, batch.data<float>() + i * per_image, cache);
  if (config.layout == Layout::nchw) return batch;
  // [N, 3, H, W] -> [N, H, W, 3]
  Tensor nhwc(DType::f32, {static_cast<int64_t>(paths.size()), crop, crop, 3});
  const size_t plane = static_cast<size_t>(crop * crop);
  for (size_t n = 0; n < paths.size(); ++n)
    for (size_t c = 0; c < 3; ++c)
      for (size_t i = 0; i < plane; ++i)
        nhwc.data<float>()[n * per_image + i * 3 + c] = batch.data<float>()[n * per_image + c * plane + i];
  return nhwc;
}

}  // namespace mc
