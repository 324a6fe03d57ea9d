// The .mcz bytes of a compressed model as `compress` writes them (shared with `sweep`, so a sweep
// point's size is exactly what `mcompress compress` with the same settings produces).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "analysis/eval.h"
#include "analysis/op_count.h"
#include "passes/recipe.h"

namespace mc {

struct Provenance {
  std::string source_file;  // base name, or "-"
  const std::vector<std::byte>* source_bytes = nullptr;
  int64_t source_params = 0, source_macs = 0;
  std::string preprocess;     // "" if none
  bool calibrated = false;
  std::string calib_dir;      // base name
  int64_t calib_images = 0, held_out_images = 0;
  uint64_t seed = 0;
  nlohmann::ordered_json accuracy;  // null when not measured
};

// The provenance of a file made from `file` (base name kept; "-" for stdin) with `calibration` and
// `held_out` (null when the recipe needed no calibration) drawn from folder `calib` with `seed`.
Provenance make_provenance(const std::string& file, const std::vector<std::byte>* source_bytes, const OpCount& source,
                           const std::string& preprocess, const std::string& calib, const CalibrationSet* calibration,
                           const CalibrationSet* held_out, uint64_t seed);
// The accuracy record: images, top-1 / top-5 before and after.
nlohmann::ordered_json accuracy_json(const EvalResult& before, const EvalResult& after);

// The metadata section: tool, recipe, pipeline, calibration, source, preprocessing, accuracy and the
// per-layer sensitivity summary when the recipe measured one.
nlohmann::ordered_json compressed_metadata(const CompressedModel& compressed, const Provenance& provenance);

// Codes the tensors and assembles the file with `metadata` plus the embedded report (totals), repeated
// until the size the report states is the file's size. `name` labels errors.
std::vector<std::byte> assemble_with_report(const CompressedModel& compressed, nlohmann::ordered_json metadata, const std::string& name,
                                            int threads);

}  // namespace mc
