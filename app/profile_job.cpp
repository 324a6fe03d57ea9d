#include "app/profile_job.h"

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

ProfileResult run_profile_job(const ProfileJob& job, const ModelFile& file) {
  validate_profile_job(job);
  // A .mcz is profiled as the float model its weights decode to.
  Model model = [&] {
    TimedStage timed("decode model");
    return decoded_model(file);
  }();
  for (auto& [name, init] : model.graph.initializers) init.encoding.reset();
  PassContext pctx;
  pctx.threads = job.threads;
  run_pipeline(model, parse_pipeline(job.passes), pctx);

  ProfileResult r;
  const ImageConfig image = fit_image_config(parse_input_spec(job.preprocess), model, file.name);
  {
    TimedStage timed("calibration images");
    r.images = calibration_set(job.calib_dir, job.calib_count, job.seed, image, model, job.warn);
  }
  AnalysisManager analyses(AnalysisManager::Settings{job.threads, {}, [&](int64_t d, int64_t t) {
                                                       if (job.progress) job.progress("calibration", d, t);
                                                     },
                                                     r.images, nullptr});
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
