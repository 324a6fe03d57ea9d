// Images in, model input tensors out: JPEG decoding (libjpeg-turbo's TurboJPEG API), short-side
// resizing, center cropping and the two ImageNet preprocessing conventions of ../shared/models/README.md.
//
// The pipeline mirrors the one that produced ../shared/reference/input_{keras,torch}.npy (PIL over
// libjpeg-turbo): accurate integer IDCT, RGB output, crop offsets round((W - w) / 2) with Python's
// round-half-to-even, and float32 arithmetic in the same order as numpy.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mc {

// Largest width or height accepted from a file, checked before the pixel buffer is allocated.
inline constexpr int max_image_side = 16384;

struct ImageU8 {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height rows of width pixels, interleaved R,G,B
};

// Decodes a baseline or progressive JPEG (grayscale or colour) to RGB. Errors: input (not a JPEG,
// corrupt, truncated — libjpeg warnings count as errors —, empty, or larger than max_image_side);
// unsupported (CMYK / YCCK JPEGs). NAME is only used in messages.
ImageU8 decode_jpeg(std::span<const std::byte> bytes, const std::string& name);

// Checks, without decoding pixels, that PATH is an image load_image_batch can read: a .npy whose
// header parses, or a JPEG whose header TurboJPEG accepts (a PNG, GIF or BMP under a .jpg name is named
// as such). Fails (input) naming the file; for checking a folder before long work starts.
void check_image_header(const std::string& path);

// Scales IMAGE so its shorter side is SHORT_SIDE, keeping the aspect ratio; the longer side is
// floor(long * short_side / short), as torchvision's Resize(int) computes it. Returns a copy when the
// short side already has that length (the shared images are stored that way).
ImageU8 resize_short_side(const ImageU8& image, int short_side);

// The WIDTH x HEIGHT window at offsets round((W - width) / 2), round((H - height) / 2), rounded half to
// even like Python's round() in the reference pipeline. Fails (usage) if the window is larger than
// the image.
ImageU8 center_crop(const ImageU8& image, int width, int height);

// How 0..255 pixel values become a model's input, per channel c (R, G, B):
//   keras:  x / 127.5 - 1                                (Keras "tf" mode; MobileNet, EfficientNet-Lite)
//   torch:  (x / 255 - mean[c]) / std[c], mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)
//   caffe:  x - mean[c], mean (123.68, 116.779, 103.939), channels written B, G, R (Keras "caffe" mode)
//   raw:    x (0 to 255)
//   unit:   x / 255
//   custom: (x - mean[c]) / std[c] with the given mean and std (0-255 scale), optionally written B, G, R
//   none:   not given; only already-preprocessed float32 .npy tensors can be fed
// each step rounded to float32 as numpy does on float32 arrays.
struct Preprocess {
  enum class Kind { none, keras, torch, caffe, raw, unit, custom } kind = Kind::none;
  std::array<float, 3> mean{0, 0, 0}, std{1, 1, 1};  // custom, in R, G, B order on the 0-255 scale
  bool bgr = false;                                   // channels written B, G, R (caffe: always)
};

// "keras", "torch", "caffe", "raw" or "unit"; anything else fails (usage) listing the valid names.
Preprocess parse_preprocess(const std::string& name);
// --mean R,G,B --std R,G,B [--bgr]: fails (usage) naming the flag unless each is three numbers (std > 0;
// an empty STD means 1,1,1).
Preprocess custom_preprocess(const std::string& mean, const std::string& std, bool bgr);
// "keras", ..., "unit", "none", or for custom "mean=R,G,B;std=R,G,B[;bgr]" (what parse_input_spec reads back).
std::string preprocess_name(const Preprocess& p);

// How a batch of images is laid out for the model: [N, 3, H, W] or [N, H, W, 3].
enum class Layout { nchw, nhwc };
const char* layout_name(Layout layout);
Layout parse_layout(const std::string& name);

// Writes IMAGE as three planes of height x width floats to DST (3 * width * height floats), in the
// channel order `preprocess` asks for.
void image_to_chw(const ImageU8& image, const Preprocess& preprocess, float* dst);

// How images become one model's input batch, fully resolved (see input_convention.h for how a user's
// flags and a model's input shape give it).
struct ImageConfig {
  int resize_short = 256;  // the short side before the center crop (crop / crop ratio)
  int crop = 224;
  Preprocess preprocess;
  Layout layout = Layout::nchw;
};

// Every setting of `config` as text, for cache keys (two configs are equal when their keys are).
std::string image_config_key(const ImageConfig& config);

// The resize that a crop ratio gives for `crop` (224 at 0.875 -> 256): round(crop / ratio).
int resize_for(int crop, double crop_ratio);

// Whether PATH ends in ".npy" (any letter case).
bool is_npy_path(const std::string& path);

// Loads PATHS into one float32 [N, 3, crop, crop] tensor ([N, crop, crop, 3] for Layout::nhwc): each
// file is decoded, resized so its short side is config.resize_short, center-cropped and preprocessed.
// A ".npy" path (any case) holds either an image, uint8 [H, W, 3] RGB, that goes through the same
// resize / crop / preprocess steps, or an already-preprocessed float32 tensor in the model's layout
// ([3, crop, crop] or [crop, crop, 3], optionally with a leading 1) copied as is. Every other path is
// decoded as a JPEG. Errors name the file; a config with crop > resize_short fails (usage), an image
// with Preprocess::Kind::none fails (usage) asking for --preprocess. With `cache`, decoded JPEGs are
// taken from and kept in it (formats/image_cache.h); the batch is the same either way.
class ImageCache;
Tensor load_image_batch(const std::vector<std::string>& paths, const ImageConfig& config, ImageCache* cache = nullptr);

}  // namespace mc
