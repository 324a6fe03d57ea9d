// What a model expects from an image, as a user states it (`--preprocess`, `--mean/--std/--bgr`,
// `--layout`, `--input-size`, `--crop-ratio`, `--label-offset`) and as a .mcz stores it (metadata key
// "preprocess"), and how that statement plus the model's input shape give the ImageConfig that feeds it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/graph.h"
#include "formats/image.h"

namespace mc {

struct InputConvention {
  Preprocess preprocess;          // Kind::none when not given (only float32 .npy tensors can be fed)
  std::optional<Layout> layout;   // nullopt: from the model's input shape
  int input_size = 0;             // 0: from the model's input shape (224 when it is not fixed)
  double crop_ratio = 0.875;      // crop / resized short side (224 / 256)
  int label_offset = -1;          // -1: 1 for a model with 1001 class scores (background first), else 0
};

// The convention as one line of ';'-separated items, the form the metadata stores and the sweep
// reproduces: a preprocessing name ("keras", "torch", "caffe", "raw", "unit") or
// "mean=R,G,B;std=R,G,B[;bgr]", then any of "layout=nchw|nhwc", "size=N", "crop-ratio=X",
// "label-offset=N" that differ from the defaults. "" when nothing is set.
std::string input_spec(const InputConvention& convention);
// Reads that line back; "" gives the defaults. Fails (usage) naming the item it cannot read.
InputConvention parse_input_spec(const std::string& spec);

// The image layout of MODEL's single image input: [N, 3, H, W] is NCHW and [N, H, W, 3] is NHWC; when
// the shape cannot tell (dynamic, or 3 on both sides), an input whose first use is a Transpose with
// perm [0, 3, 1, 2] is NHWC (tf2onnx's pattern) and anything else NCHW. nullopt when the model has no
// rank-4 input.
std::optional<Layout> detect_layout(const Model& model);

// The ImageConfig that feeds MODEL (named NAME in errors): layout from --layout or detect_layout (a
// --layout the input shape contradicts fails, usage), crop from the model's fixed square input size
// (--input-size must agree with it; a dynamic size takes --input-size, else 224; a fixed non-square
// input is unsupported), resize round(crop / crop_ratio).
ImageConfig fit_image_config(const InputConvention& convention, const Model& model, const std::string& name);

// The class-score width of MODEL's first output when fixed, else 0.
int64_t model_classes(const Model& model);
// What to add to a labels.tsv class index to get the model's output index: the convention's offset,
// or 1 when the model has 1001 classes (TensorFlow's background class first), else 0.
int64_t label_offset_for(const InputConvention& convention, int64_t classes);

}  // namespace mc
