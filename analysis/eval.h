// Classification accuracy of a model on a labelled image folder (labels.tsv + images), the
// measurement behind `mcompress eval` and every accuracy figure in the report.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/executor.h"
#include "formats/image.h"

namespace mc {

struct EvalOptions {
  ImageConfig image;
  std::string labels_path;  // default: <dir>/labels.tsv
  int64_t limit = 0;        // 0: all labelled images
  int64_t batch = 16;
  bool keep_inputs = false;  // collect the preprocessed inputs in EvalResult::inputs
  bool keep_scores = false;  // collect the model outputs in EvalResult::scores
  int64_t label_offset = -1;  // added to each labels.tsv class; -1: 1 for a 1001-class model (background first), else 0
};

struct EvalResult {
  int64_t images = 0;
  int64_t top1_correct = 0;
  int64_t top5_correct = 0;
  double top1 = 0;  // percent
  double top5 = 0;  // percent
  double seconds = 0;            // whole loop: decoding, preprocessing and inference
  double inference_seconds = 0;  // executor only
  int64_t label_offset = 0;      // what was added to each labels.tsv class
  std::vector<uint8_t> top1_hits;  // per image, in labels.tsv order: 1 when the top-1 class is the label
  Tensor inputs;  // [N,3,H,W] when EvalOptions::keep_inputs
  Tensor scores;  // [N,classes] when EvalOptions::keep_scores
  double images_per_second() const { return seconds > 0 ? static_cast<double>(images) / seconds : 0; }
};

// Indices of the k largest scores, largest first; ties go to the lower index (deterministic).
std::vector<int64_t> top_k(const float* scores, int64_t count, int64_t k);

// Checks a labelled folder before long work: labels.tsv parses and is not empty, and each labelled
// image (the first `options.limit` when set) exists and has a readable header (formats/image.h
// check_image_header). Fails (input) naming the file. Returns the number of images to evaluate.
int64_t check_labelled_folder(const std::string& image_dir, const EvalOptions& options);

// Evaluates in batches, in labels.tsv order. A missing, corrupt or non-JPEG labelled file is an
// error (input) naming it: accuracy is never computed over a silently smaller set. Labels beyond the
// model's output width are an error too. `progress(done, total)` is called after each batch.
EvalResult evaluate(Executor& executor, const std::string& image_dir, const EvalOptions& options,
                    const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace mc
