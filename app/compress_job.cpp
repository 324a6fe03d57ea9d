#include "app/compress_job.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/executor.h"
#include "core/stage_timer.h"
#include "core/text.h"
#include "analysis/energy.h"
#include "analysis/paired_drop.h"
#include "app/statistics_from_file.h"
#include "formats/file_io.h"
#include "formats/input_convention.h"
#include "formats/labels.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"
#include "passes/pass.h"

namespace mc {

SourceModel load_source_model(const std::string& path) {
  SourceModel s;
  s.file = read_model_file(path);
  if (s.file.mcz)
    fail_usage(s.file.name + ": is a .mcz file; compress reads the float ONNX model (use 'mcompress export' to get one back)");
  s.model = decoded_model(s.file);
  s.count = count_ops(s.model);
  return s;
}

CalibrationSample sample_calibration(const std::string& dir, int64_t count, int64_t held_out, uint64_t seed, const ImageConfig& image,
                                     const Model& model, const std::function<void(const std::string&)>& warn) {
  CalibrationSample sample;
  CalibrationSet all = calibration_set(dir, count, seed, image, model, warn);
  const int64_t n = static_cast<int64_t>(all.files.size());
  const int64_t held = held_out > 0 ? held_out : std::min<int64_t>(128, n / 2);
  if (held >= 1 && held < n) std::tie(sample.fit, sample.held_out) = split_held_out(all, held);
  else sample.fit = all;
  return sample;
}

bool job_needs_calibration(const CompressJob& job) {
  return recipe_needs_calibration(job.recipe.empty() ? std::string(custom_recipe) : job.recipe, job.recipe_options);
}

std::vector<std::string> validate_job(const CompressJob& job) {
  std::vector<std::string> notes;
  const std::string recipe = job.recipe.empty() ? std::string(custom_recipe) : job.recipe;
  const std::string pipeline = recipe_pipeline(recipe, job.recipe_options);  // unknown recipe, flags it does not take
  const auto passes = pipeline.empty() ? std::vector<PassInvocation>{} : parse_pipeline(pipeline);
  const PassInvocation* needs = first_needing_calibration(passes);
  const std::string what = job.recipe_options.passes.empty() ? "recipe '" + recipe + "'" : std::string("--passes");
  if (!job.stats_file.empty() && job.calib_dir.empty())
    fail_usage("--stats needs --calib DIR: the file is used only for the calibration images it was made from");
  if (needs && job.calib_dir.empty())
    fail_usage("pass '" + needs->name + "'" + (job.recipe_options.passes.empty() ? " of recipe '" + recipe + "'" : std::string()) +
               " needs calibration images: give --calib DIR");
  const InputConvention convention = parse_input_spec(job.preprocess);
  if (convention.preprocess.kind == Preprocess::Kind::none) {
    auto needs_preprocess = [](const std::vector<std::string>& files) {
      return std::any_of(files.begin(), files.end(), [](const std::string& f) { return !is_npy_path(f); });
    };
    if ((needs && needs_preprocess(list_images(job.calib_dir))) ||
        (!job.eval_images.empty() && needs_preprocess(list_images(job.eval_images))))
      fail_usage("--preprocess is required with JPEG --calib or --eval-images (keras, torch, caffe, raw, unit, or --mean/--std); "
                 "folders of preprocessed float32 .npy tensors need none");
  }
  if (!needs && !job.calib_dir.empty())
    notes.push_back("--calib (and --calib-count, --seed, --held-out, --stats) ignored: " + what + " needs no calibration images");
  if (convention.preprocess.kind == Preprocess::Kind::none)
    notes.push_back("the file will not record the model's preprocessing: eval and sweep of it will need --preprocess (give it here to store it)");
  if (needs) {
    const auto images = list_images(job.calib_dir);
    if (images.empty()) fail_input(job.calib_dir + ": no images (.jpg, .jpeg or .npy) for calibration");
    for (const auto& path : images) check_image_header(path);  // headers only: a whole folder in well under a second
  }
  if (!job.eval_images.empty()) {
    EvalOptions eo;
    eo.limit = job.eval_limit;
    check_labelled_folder(job.eval_images, eo);
  }
  check_confidence(job.confidence, "--confidence");
  if (!job.validation_dir.empty()) {
    bool budgeted = false;
    for (const auto& p : passes) budgeted = budgeted || p.options.has_value("max-drop");
    if (!budgeted) notes.push_back("--val ignored: " + what + " makes no --max-drop decision");
    const int64_t images = check_labelled_folder(job.validation_dir, EvalOptions{});
    // Too few images to certify the budget even for a candidate that changes no answer (the paired
    // bound is unconditional, analysis/paired_drop.h): refused, with the number that would do.
    const double max_drop = job.recipe_options.max_drop.value_or(1.0);
    const int64_t needed = images_to_certify(max_drop, job.confidence);
    if (budgeted && images < needed)
      fail_usage("--val " + job.validation_dir + " has " + count_of(images, "labelled image") + ": even a candidate that changes no answer has a " +
                 format_number(job.confidence) + " bound of " + fixed(100.0 * tango_upper_limit(0, 0, images, job.confidence), 2) +
                 " points there, more than the " + format_number(max_drop) + "-point budget; give at least " + std::to_string(needed) +
                 " labelled images");
    if (needs) {
      std::vector<std::string> val_files;
      for (const auto& f : labelled_set(job.validation_dir, ImageConfig{}, Model{}).images.files) val_files.push_back(f);
      const auto shared = shared_images(list_images(job.calib_dir), val_files);
      if (!shared.empty())
        fail_usage(count_of(static_cast<int64_t>(shared.size()), "image") + " of --calib also " + (shared.size() == 1 ? "is" : "are") +
                   " in --val (same content, e.g. " + shared.front() + "): validation images must be disjoint from calibration images");
    }
  }
  return notes;
}

namespace {

// NaN or Inf in a float weight: lossless and fp16 keep such values as they are (with a warning: the
// model's outputs may be NaN); every other recipe refuses, since scales, sensitivities and budgets
// computed from them would be meaningless. docs/CLI-NOTES in README ("Weights with NaN or Inf").
void check_finite_weights(const std::string& recipe, const SourceModel& source, const std::function<void(const std::string&)>& warn) {
  for (const auto& [name, init] : source.model.graph.initializers) {
    const Tensor& t = init.values;
    if (t.dtype() != DType::f32) continue;
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(t.data<float>()[i]) && bad++ == 0) first = i;
    if (!bad) continue;
    const std::string what = source.file.name + ": weight '" + name + "' holds " + count_of(bad, "NaN or Inf value") + " (first at index " +
                             std::to_string(first) + ")";
    if (recipe != "lossless" && recipe != "fp16")
      fail_input(what + ": recipe '" + recipe + "' needs finite weights (lossless and fp16 keep them as they are)");
    if (warn) warn(what + ": kept as is; the model's outputs may be NaN");
  }
}

}  // namespace

CompressResult run_compress_job(const CompressJob& job, const SourceModel& source) {
  validate_job(job);
  CompressResult result;
  const std::string recipe = job.recipe.empty() ? std::string(custom_recipe) : job.recipe;
  check_finite_weights(recipe, source, job.warn);
  const InputConvention convention = parse_input_spec(job.preprocess);
  const ImageConfig image = fit_image_config(convention, source.model, source.file.name);
  auto stage = [&](const std::string& name) {
    return [&job, name](int64_t done, int64_t total) {
      if (job.progress) job.progress(name, done, total);
    };
  };
  RecipeOptions ro = job.recipe_options;
  ro.threads = job.threads;
  ro.log = job.log;
  ro.note = [&](const std::string& line) { result.notes.push_back(line); };
  ro.progress = stage("calibration");
  result.calibrated = job_needs_calibration(job);
  if (result.calibrated) {
    TimedStage timed("calibration images");
    result.calibration = sample_calibration(job.calib_dir, job.calib_count, job.held_out, job.seed, image, source.model, job.warn);
    ro.calibration = result.calibration.fit;
    ro.held_out = result.calibration.held_out;
    if (!job.stats_file.empty())
      ro.statistics_cache = statistics_for_run(job.stats_file, StatisticsRun{&source.model, source.file.name, job.seed, job.calib_count,
                                                                             &result.calibration.fit, &result.calibration.held_out});
  }
  ro.confidence = job.confidence;
  if (!job.validation_dir.empty()) {
    TimedStage timed("validation images");
    LabelledSet val = labelled_set(job.validation_dir, image, source.model, label_offset_for(convention, model_classes(source.model)));
    ro.validation = std::move(val.images);
    ro.validation_labels = std::move(val.labels);
  }
  CompressedModel compressed = run_recipe(recipe, source.model, ro);
  if (ro.statistics_cache && ro.statistics_cache->computed() > 0 && job.log)
    job.log("--stats " + job.stats_file + " held no statistics for " + count_of(ro.statistics_cache->computed(), "model state") +
            " this pipeline asked about: computed here");
  result.recipe = compressed.recipe;
  result.pipeline = compressed.pipeline;
  result.budgets = compressed.budgets;

  Provenance provenance =
      make_provenance(source.file.path, &source.file.bytes, source.count, job.preprocess, job.calib_dir,
                      result.calibrated ? &result.calibration.fit : nullptr, &result.calibration.held_out, job.seed);
  provenance.source_external_bytes = model_file_bytes(source.file) - source.file.bytes.size();
  EvalRequest eval{job.eval_images, job.eval_limit, image, convention.label_offset, job.threads, stage("eval (compressed)")};
  if (!job.eval_images.empty()) {
    TimedStage timed("eval (float model)");
    Executor exec(source.model, ExecutorOptions{job.threads, true});
    EvalOptions eo;
    eo.image = image;
    eo.label_offset = convention.label_offset;
    eo.limit = job.eval_limit;
    result.before = evaluate(exec, job.eval_images, eo, stage("eval (float)"));
  }
  {
    TimedStage writing("coding the file");
    WrittenFile file = write_compressed_file(compressed, compressed_metadata(compressed, provenance), job.output_name, job.threads,
                                             job.eval_images.empty() ? nullptr : &eval, result.before ? &*result.before : nullptr);
    result.bytes = std::move(file.bytes);
    result.after = file.after;
  }
  TimedStage reporting("report");
  const McFile written = read_mcz(result.bytes, job.output_name);
  result.report = build_report(written, structure_of_mcz(written, job.output_name), EnergyTable::builtin(), job.output_name);
  return result;
}

}  // namespace mc
