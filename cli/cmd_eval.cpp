// mcompress eval FILE --images DIR: top-1 / top-5 accuracy on a labelled image folder.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "analysis/eval.h"
#include "analysis/paired_drop.h"
#include "analysis/rounding.h"
#include "cli/common.h"
#include "formats/npy.h"
#include "formats/file_io.h"
#include "formats/input_convention.h"
#include "formats/labels.h"
#include <algorithm>
#include "formats/mcz.h"
#include "formats/mcz_metadata.h"
#include "formats/model_file.h"

namespace mc::cli {

namespace {

struct EvalCliOptions {
  std::string file;
  std::string images;
  std::string labels;
  InputFlags input;
  int64_t limit = 0;
  int batch = 16;
  int resize = 0;  // 0: crop / crop ratio
  int crop = 0;    // 0: the model's input size
  std::string save_inputs, save_scores;
  std::vector<std::string> compare;  // --compare A B
  double confidence = 0.95;
  bool force = false;
  CommonOptions common;
};

struct ModelToEvaluate {
  Model model;
  std::string name;
  std::string input;  // the input convention's spec line (what the .mcz stores, with the flags applied)
};

// The model of FILE as eval runs it, and how to feed it (flags over what a .mcz stores).
ModelToEvaluate model_to_evaluate(const std::string& path, const EvalCliOptions& o) {
  const ModelFile file = read_model_file(path);
  const std::string stored = file.mcz ? parse_metadata(read_mcz(file.bytes, file.name).metadata, file.name).preprocess : "";
  const std::string spec = input_spec_with_flags(stored, o.input);
  if (parse_input_spec(spec).preprocess.kind == Preprocess::Kind::none) {
    const auto files = list_images(o.images);
    if (std::any_of(files.begin(), files.end(), [](const std::string& f) { return !is_npy_path(f); }))
      fail_usage(file.name + ": --preprocess is required for JPEG images (keras, torch, caffe, raw, unit, or --mean/--std) unless the .mcz file stores it");
  }
  // A .mcz runs as written, in the form ONNX Runtime runs its default export.
  return {runnable_model(file), file.name, spec};
}

EvalOptions eval_options(const EvalCliOptions& o, const ModelToEvaluate& m) {
  EvalOptions options;
  const InputConvention convention = parse_input_spec(m.input);
  options.image = fit_image_config(convention, m.model, m.name);
  options.label_offset = convention.label_offset;
  if (o.resize) options.image.resize_short = o.resize;
  if (o.crop) options.image.crop = o.crop;
  if (options.image.crop > options.image.resize_short)
    fail_usage("crop " + std::to_string(options.image.crop) + " is larger than the resize " + std::to_string(options.image.resize_short));
  options.labels_path = o.labels;
  options.limit = o.limit;
  options.batch = o.batch;
  return options;
}

// eval --compare A B: both models on the same images, the paired difference with its interval.
int run_compare(const EvalCliOptions& o) {
  check_confidence(o.confidence, "--confidence");
  std::vector<EvalResult> results;
  std::vector<std::string> preprocess;
  for (size_t i = 0; i < 2; ++i) {
    const ModelToEvaluate m = model_to_evaluate(o.compare[i], o);
    preprocess.push_back(m.input);
    Executor executor(m.model, ExecutorOptions{o.common.threads, true});
    Progress progress("eval " + std::string(i == 0 ? "A" : "B"), o.common.quiet);
    results.push_back(evaluate(executor, o.images, eval_options(o, m), [&](int64_t d, int64_t t) { progress.update(d, t); }));
  }
  if (preprocess[0] != preprocess[1] && !o.common.quiet)
    std::fprintf(stderr, "mcompress: warning: the two models take different preprocessing (%s, %s): each was fed its own\n",
                 preprocess[0].c_str(), preprocess[1].c_str());
  const PairedDifference d = paired_difference(results[0].top1_hits, results[1].top1_hits, o.confidence);
  if (o.common.json) {
    nlohmann::ordered_json j;
    j["a"] = o.compare[0];
    j["b"] = o.compare[1];
    j["images"] = d.images;
    j["top1_a"] = d.top1_a;
    j["top1_b"] = d.top1_b;
    j["difference"] = percent_value(d.difference);
    j["interval"] = {percent_value(d.low), percent_value(d.high)};
    j["confidence"] = d.confidence;
    j["a_only"] = d.a_only;
    j["b_only"] = d.b_only;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s vs %s on %s: %s\n", o.compare[0].c_str(), o.compare[1].c_str(), o.images.c_str(), count_of(d.images, "image").c_str());
  std::printf("top-1 %s%% vs %s%%: difference %s points, %s%% interval [%s, %s]\n", fixed(d.top1_a, 2).c_str(), fixed(d.top1_b, 2).c_str(),
              fixed(d.difference, 2).c_str(), format_number(100 * d.confidence).c_str(), fixed(d.low, 2).c_str(), fixed(d.high, 2).c_str());
  std::printf("%s right only for A, %s right only for B (the images that decide the difference)\n", count_of(d.a_only, "image").c_str(),
              count_of(d.b_only, "image").c_str());
  return 0;
}

int run_eval(const EvalCliOptions& o) {
  if (!o.compare.empty()) {
    if (!o.file.empty()) fail_usage("give either FILE or --compare A B, not both");
    return run_compare(o);
  }
  if (o.file.empty()) fail_usage("give the model FILE to evaluate (or --compare A B)");
  const ModelToEvaluate m = model_to_evaluate(o.file, o);
  EvalOptions options = eval_options(o, m);
  options.keep_inputs = !o.save_inputs.empty();
  options.keep_scores = !o.save_scores.empty();
  for (const auto* path : {&o.save_inputs, &o.save_scores})
    if (!path->empty()) check_output_path(*path, o.force, {o.file});
  Executor executor(m.model, ExecutorOptions{o.common.threads, true});
  Progress progress("eval", o.common.quiet);
  EvalResult r = evaluate(executor, o.images, options, [&](int64_t done, int64_t total) { progress.update(done, total); });
  progress.finish();
  if (options.keep_inputs) write_npy(o.save_inputs, r.inputs);
  if (options.keep_scores) write_npy(o.save_scores, r.scores);
  if (o.common.json) {
    nlohmann::ordered_json j;
    j["model"] = o.file;
    j["images"] = r.images;
    j["top1"] = r.top1;
    j["top5"] = r.top5;
    j["top1_correct"] = r.top1_correct;
    j["top5_correct"] = r.top5_correct;
    j["images_per_second"] = r.images_per_second();
    j["inference_images_per_second"] = r.inference_seconds > 0 ? static_cast<double>(r.images) / r.inference_seconds : 0.0;
    j["threads"] = executor.pool().size();
    j["preprocess"] = m.input;
    j["input"] = {{"layout", layout_name(options.image.layout)}, {"size", options.image.crop}, {"resize", options.image.resize_short},
                  {"label_offset", r.label_offset}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s on %s: %lld images\n", o.file.c_str(), o.images.c_str(), static_cast<long long>(r.images));
  std::printf("top-1 %.2f%%  top-5 %.2f%%\n", r.top1, r.top5);
  std::printf("%.1f images/s end to end, %.1f images/s inference (%d threads)\n", r.images_per_second(),
              r.inference_seconds > 0 ? static_cast<double>(r.images) / r.inference_seconds : 0.0, executor.pool().size());
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& root) {
  auto o = std::make_shared<EvalCliOptions>();
  CLI::App* cmd = root.add_subcommand("eval", "Top-1 / top-5 accuracy of a model on a labelled image folder");
  cmd->footer(
      "The folder holds JPEGs (or .npy tensors) and labels.tsv: 'filename<TAB>class index' per line. Each image\n"
      "is decoded with libjpeg-turbo, its short side resized (224 / 0.875 = 256 for a 224 model), center-cropped\n"
      "to the model's input size and normalized (--preprocess, or --mean/--std; a .mcz stores its own). NHWC\n"
      "inputs and 1001-class models (background class first) are detected; --layout and --label-offset override.\n"
      "A labelled file that is missing or not a valid JPEG is an error (exit 3): accuracy is never\n"
      "computed over a silently smaller set.\n\n"
      "A .mcz whose activations are int8 runs in the form `export --qdq` writes, and each int8 layer\n"
      "(DequantizeLinear -> Conv -> [Relu/Clip] -> QuantizeLinear, int8 weights) as one QLinearConv: exact\n"
      "integer sums, then ONNX Runtime's requantization, so scores match ONNX Runtime on the export.\n\n"
      "Examples:\n  mcompress eval mobilenet_v1_0.25_224.onnx --images val_images --preprocess keras\n"
      "  mcompress eval mobilenet_v2_1_0.onnx --images DIR --preprocess torch --limit 100 --json\n"
      "  mcompress eval --compare model.onnx model.mcz --images DIR --preprocess keras   # paired difference, 95% interval");
  cmd->add_option("file", o->file, "ONNX model or .mcz file ('-' reads stdin)");
  cmd->add_option("--compare", o->compare, "Evaluate two models on the same images: top-1 of each, the paired difference A - B and its interval")
      ->expected(2)
      ->type_name("A B");
  cmd->add_option("--confidence", o->confidence, "--compare: the interval's confidence, in (0.5, 1)")->default_val(0.95)->type_name("C");
  cmd->add_option("--images", o->images, "Folder of labelled images")->required()->type_name("DIR");
  cmd->add_option("--labels", o->labels, "Labels file (default: DIR/labels.tsv)")->type_name("FILE");
  cmd->add_option("--limit", o->limit, "Evaluate only the first N labelled images")->check(CLI::Range(int64_t{1}, int64_t{1} << 40))->type_name("N");
  cmd->add_option("--batch", o->batch, "Images per executor run (results do not depend on it)")->check(CLI::Range(1, 4096))->default_val(16);
  cmd->add_option("--resize", o->resize, "Short side after resizing (default: crop / --crop-ratio, 256 for 224)")->check(CLI::Range(1, 8192));
  cmd->add_option("--crop", o->crop, "Center crop size (default: the model's input size)")->check(CLI::Range(1, 8192));
  add_input_options(cmd, o->input, " (default: what the .mcz stores)");
  cmd->add_option("--save-inputs", o->save_inputs,
                  "Write the preprocessed input batch as float32 .npy [N,3,H,W] (to run other runtimes on identical inputs)")
      ->type_name("FILE.npy");
  cmd->add_option("--save-scores", o->save_scores, "Write the model outputs as float32 .npy [N,classes]")->type_name("FILE.npy");
  cmd->add_flag("-f,--force", o->force, "Overwrite existing output files");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_eval(*o); }};
}

}  // namespace mc::cli
