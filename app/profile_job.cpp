#include "app/profile_job.h"

#include "app/statistics_from_file.h"
#include "core/error.h"
#include "core/stage_timer.h"
#include "formats/input_convention.h"
#include "passes/pass.h"

namespace mc {

void validate_profile_job(const ProfileJob& job) {
  for (const auto& f : job.end_to_end_formats)
    if (f != "ternary" && f != "ternary2" && f != "ternary3" && f != "int4" && f != "int8")
      fail_usage("--e2e-formats: unknown format '" + f + "' (valid: ternary, ternary2, ternary3, int4, int8)");
  parse_input_spec(job.preprocess);  // a bad convention fails before any work
  if (first_needing_calibration(parse_pipeline(job.passes)))
    fail_usage("--passes: profile runs passes that need no calibration images (canonicalizing ones such as fold-bn, equalize)");
}

Model profiled_source(const ModelFile& file) {
  TimedStage timed("decode model");
  Model model = decoded_model(file);  // a .mcz is profiled as the float model its weights decode to
  for (auto& [name, init] : model.graph.initializers) init.encoding.reset();
  return model;
}

ProfileInputs profile_inputs(const ProfileJob& job, const Model& decoded, const std::string& name) {
  ProfileInputs in{decoded, {}};
  PassContext pctx;
  pctx.threads = job.threads;
  run_pipeline(in.model, parse_pipeline(job.passes), pctx);
  const ImageConfig image = fit_image_config(parse_input_spec(job.preprocess), in.model, name);
  TimedStage timed("calibration images");
  in.images = calibration_set(job.calib_dir, job.calib_count, job.seed, image, in.model, job.warn);
  return in;
}

ProfileResult run_profile_job(const ProfileJob& job, const ModelFile& file) {
  validate_profile_job(job);
  const Model source = profiled_source(file);
  ProfileInputs in = profile_inputs(job, source, file.name);
  Model& model = in.model;
  ProfileResult r;
  r.images = in.images;
  // Profile draws no held-out images: its statistics are those of the whole sample, and a file
  // made for compress's split serves it as long as the sample is the same.
  const std::shared_ptr<StatisticsCache> shared =
      job.stats_file.empty() ? nullptr
                             : statistics_for_run(job.stats_file, StatisticsRun{&source, file.name, job.seed, job.calib_count, &r.images, nullptr});
  AnalysisManager analyses(AnalysisManager::Settings{job.threads, {}, [&](int64_t d, int64_t t) {
                                                       if (job.progress) job.progress("calibration", d, t);
                                                     },
                                                     r.images, shared});
  r.statistics = analyses.calibration_statistics(model);
  if (r.statistics.layers.empty())
    fail_unsupported(file.name + ": the model has no Conv, Gemm or MatMul layer with constant weights to profile");
  r.layers = analyses.filter_sensitivity(model);
  if (!job.end_to_end_formats.empty() && job.end_to_end_images > 0) {
    CalibrationSet e2e = r.images;
    if (static_cast<int64_t>(e2e.files.size()) > job.end_to_end_images) e2e.files.resize(static_cast<size_t>(job.end_to_end_images));
    analyses.set_float_model(model);
    const ReferenceOutputs& reference = analyses.float_reference(e2e);
    TimedStage timed("end-to-end probes");
    int64_t done = 0, total = static_cast<int64_t>(r.layers.size() * job.end_to_end_formats.size());
    for (auto& l : r.layers)
      for (const auto& f : job.end_to_end_formats) {
        l.end_to_end[f] = compare_outputs(quantize_one_layer(model, r.statistics.layers.at(l.node), f), e2e, reference, job.threads);
        if (job.progress) job.progress("end-to-end", ++done, total);
      }
  }
  return r;
}

}  // namespace mc
