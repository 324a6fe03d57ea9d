// Images in, model input tensors out: JPEG decoding (libjpeg-turbo's TurboJPEG API), short-side
// resizing, center cropping and the two ImageNet preprocessing conventions of ../shared/models/README.md.
//
// The pipeline mirrors the one that produced ../shared/reference/input_{keras,torch}.npy (PIL over
// libjpeg-turbo): accurate integer IDCT, RGB output, crop offsets round((W - w) / 2) with Python's
// round-half-to-even, and float32 arithmetic in the same order as numpy.
#pragma once

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

enum class Preprocess { keras, torch };

// "keras" or "torch"; anything else fails (usage) listing the valid names.
Preprocess parse_preprocess(const std::string& name);
const char* preprocess_name(Preprocess p);

// Writes IMAGE as three planes R, G, B of height x width floats to DST (3 * width * height floats):
//   keras: x / 127.5 - 1
//   torch: (x / 255 - mean[c]) / std[c], mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225)
// each step rounded to float32 as numpy does on float32 arrays.
void image_to_chw(const ImageU8& image, Preprocess preprocess, float* dst);

struct ImageConfig {
  int resize_short = 256;
  int crop = 224;
  Preprocess preprocess = Preprocess::keras;
};

// Loads PATHS into one float32 [N, 3, crop, crop] tensor: each file is decoded, resized so its short
// side is config.resize_short, center-cropped and preprocessed. A ".npy" path (any case) holds either
// an image, uint8 [H, W, 3] RGB, that goes through the same resize / crop / preprocess steps, or an
// already-preprocessed float32 [3, crop, crop] or [1, 3, crop, crop] copied as is. Every other path is
// decoded as a JPEG. Errors name the file; a config with crop > resize_short fails (usage).
Tensor load_image_batch(const std::vector<std::string>& paths, const ImageConfig& config);

}  // namespace mc
