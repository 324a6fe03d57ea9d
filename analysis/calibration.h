// Calibration inputs: an unlabelled folder of JPEGs (or preprocessed .npy tensors), a seeded
// sample of it, streamed in batches so memory stays bounded whatever the image count.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/tensor.h"
#include "formats/image.h"

namespace mc {

struct CalibrationSet {
  std::vector<std::string> files;  // in the order they are used
  ImageConfig image;
  int64_t batch = 16;
  // Each image is followed by its horizontal mirror (a label-preserving view, as in ImageNet
  // training's flip augmentation): batches then hold twice the images, image i's views at 2i and
  // 2i + 1. Used for held-out estimates, which average the two views of an image (docs/SPARSE.md).
  bool mirrored = false;
};

// Lists DIR's images (formats/labels.h list_images: .jpg/.jpeg/.npy; labels.tsv is not read),
// shuffles them with `seed` (Fisher-Yates on a 64-bit Mersenne Twister: the same seed gives the same
// sample on every platform) and keeps the first `count`. An empty folder is an input error; fewer
// images than `count` uses all of them and calls `warn`. The crop size follows the model's input
// when it is static (H == W), so the images always fit the model.
CalibrationSet calibration_set(const std::string& dir, int64_t count, uint64_t seed, ImageConfig image, const Model& model,
                               const std::function<void(const std::string&)>& warn = {});

// A labelled folder as images to judge on: every image of labels.tsv in its order, with its class,
// the crop following the model's input like calibration_set. Fails (input) as evaluate() would.
struct LabelledSet {
  CalibrationSet images;
  std::vector<int64_t> labels;
};
LabelledSet labelled_set(const std::string& dir, ImageConfig image, const Model& model, int64_t label_offset = 0);

// The files of `a` whose content (SHA-256) is also in `b`, for keeping calibration and validation
// images apart.
std::vector<std::string> shared_images(const std::vector<std::string>& a, const std::vector<std::string>& b);

// Splits off the last `held_out` images (for decisions that must not be judged on the images they
// were fitted on). Fails (usage) if that leaves fewer than one image on either side.
std::pair<CalibrationSet, CalibrationSet> split_held_out(const CalibrationSet& set, int64_t held_out);

// Calls `visit(batch, first_index)` for consecutive batches of the set (the last may be smaller).
// With `mirrored`, every image comes as two consecutive views and indices count views.
void for_each_calibration_batch(const CalibrationSet& set, const std::function<void(const Tensor&, int64_t)>& visit);

// A seeded permutation of 0..n-1 (portable: does not use std::shuffle or distributions).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

}  // namespace mc
