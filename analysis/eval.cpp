#include "analysis/eval.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstring>
#include <numeric>

#include "formats/labels.h"

namespace mc {

std::vector<int64_t> top_k(const float* scores, int64_t count, int64_t k) {
  std::vector<int64_t> idx(static_cast<size_t>(count));
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, count);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

namespace {
// Copies `batch` into rows [first, first + batch) of `all`, allocated as [total, ...] on first use.
void store_rows(Tensor& all, const Tensor& batch, int64_t first, int64_t total) {
  if (all.empty()) {
    Shape s = batch.shape();
    s[0] = total;
    all.reset(batch.dtype(), s);
  }
  size_t row_bytes = batch.byte_size() / static_cast<size_t>(batch.dim(0));
  std::memcpy(static_cast<std::byte*>(all.raw()) + static_cast<size_t>(first) * row_bytes, batch.raw(), batch.byte_size());
}
}  // namespace

int64_t check_labelled_folder(const std::string& image_dir, const EvalOptions& options) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(image_dir)) fail_input(image_dir + ": no such directory");
  const std::string labels_path = options.labels_path.empty() ? (fs::path(image_dir) / "labels.tsv").string() : options.labels_path;
  if (!fs::exists(labels_path)) fail_input(labels_path + ": no such file (a labelled folder has labels.tsv: filename<TAB>class per line)");
  auto labels = read_labels_tsv(labels_path);
  if (labels.empty()) fail_input(labels_path + ": no labelled images");
  if (options.limit > 0 && static_cast<int64_t>(labels.size()) > options.limit) labels.resize(static_cast<size_t>(options.limit));
  for (const auto& li : labels) check_image_header((fs::path(image_dir) / li.file).string());
  return static_cast<int64_t>(labels.size());
}

EvalResult evaluate(Executor& executor, const std::string& image_dir, const EvalOptions& options,
                    const std::function<void(int64_t, int64_t)>& progress) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(image_dir)) fail_input(image_dir + ": no such directory");
  std::string labels_path = options.labels_path.empty() ? (fs::path(image_dir) / "labels.tsv").string() : options.labels_path;
  auto labels = read_labels_tsv(labels_path);
  if (labels.empty()) fail_input(labels_path + ": no labelled images");
  if (options.limit > 0 && static_cast<int64_t>(labels.size()) > options.limit) labels.resize(static_cast<size_t>(options.limit));
  const Model& model = executor.model();
  if (model.graph.inputs.size() != 1 || model.graph.outputs.empty())
    fail_unsupported("eval needs a model with one image input and a class-score output");

  EvalResult result;
  const int64_t total = static_cast<int64_t>(labels.size());
  const int64_t batch = std::max<int64_t>(1, options.batch);
  auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < total; first += batch) {
    int64_t count = std::min(batch, total - first);
    std::vector<std::string> paths;
    for (int64_t i = 0; i < count; ++i) paths.push_back((fs::path(image_dir) / labels[static_cast<size_t>(first + i)].file).string());
    Tensor input = load_image_batch(paths, options.image);
    auto t0 = std::chrono::steady_clock::now();
    auto outputs = executor.run({input});
    result.inference_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const Tensor& scores = outputs[0];
    if (scores.dtype() != DType::f32 || scores.rank() != 2 || scores.dim(0) != count)
      fail_unsupported("eval expects a [N, classes] float output, the model gives " + shape_str(scores.shape()));
    const int64_t classes = scores.dim(1);
    result.label_offset = options.label_offset >= 0 ? options.label_offset : (classes == 1001 ? 1 : 0);
    for (int64_t i = 0; i < count; ++i) {
      const LabeledImage& li = labels[static_cast<size_t>(first + i)];
      const int64_t label = li.class_index + result.label_offset;
      if (label >= classes)
        fail_input(labels_path + ": class " + std::to_string(li.class_index) +
                   (result.label_offset ? " (+" + std::to_string(result.label_offset) + " label offset)" : std::string()) + " of " +
                   li.file + " is beyond the model's " + std::to_string(classes) + " outputs");
      auto best = top_k(scores.data<float>() + i * classes, classes, 5);
      if (best[0] == label) ++result.top1_correct;
      result.top1_hits.push_back(best[0] == label ? 1 : 0);
      if (std::find(best.begin(), best.end(), label) != best.end()) ++result.top5_correct;
    }
    if (options.keep_inputs) store_rows(result.inputs, input, first, total);
    if (options.keep_scores) store_rows(result.scores, scores, first, total);
    result.images += count;
    if (progress) progress(result.images, total);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.top1 = 100.0 * static_cast<double>(result.top1_correct) / static_cast<double>(result.images);
  result.top5 = 100.0 * static_cast<double>(result.top5_correct) / static_cast<double>(result.images);
  return result;
}

}  // namespace mc
