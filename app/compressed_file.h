// The .mcz bytes of a compressed model as `compress` and every sweep point write them, and the
// accuracy stored in them, measured on the file itself: the file is assembled, decoded from its
// own bytes, evaluated, and only then given its accuracy record (which changes the metadata
// section, never the graph, tensor table or payload: checked).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "analysis/eval.h"
#include "analysis/op_count.h"
#include "formats/mcz_metadata.h"
#include "passes/recipe.h"

namespace mc {

struct Provenance {
  std::string source_file;  // base name, or "-"
  const std::vector<std::byte>* source_bytes = nullptr;  // the file (its SHA-256 is recorded)
  uint64_t source_external_bytes = 0;                      // its ONNX external data files (counted in its size)
  int64_t source_params = 0, source_macs = 0;
  std::string preprocess;     // "" if none
  bool calibrated = false;
  std::string calib_dir;      // base name
  int64_t calib_images = 0, held_out_images = 0;
  uint64_t seed = 0;
};

// The provenance of a file made from `file` (base name kept; "-" for stdin) with `calibration` and
// `held_out` (null when the recipe needed no calibration) drawn from folder `calib` with `seed`.
Provenance make_provenance(const std::string& file, const std::vector<std::byte>* source_bytes, const OpCount& source,
                           const std::string& preprocess, const std::string& calib, const CalibrationSet* calibration,
                           const CalibrationSet* held_out, uint64_t seed);
// The accuracy record: images, top-1 / top-5 before and after.
McAccuracy accuracy_record(const EvalResult& before, const EvalResult& after);

// The metadata section: tool, recipe, pipeline, calibration, source, preprocessing and the per-layer
// sensitivity summary when the recipe measured one (no accuracy, no report yet).
McMetadata compressed_metadata(const CompressedModel& compressed, const Provenance& provenance);

// Where and how to measure a file's accuracy.
struct EvalRequest {
  std::string images;  // labelled folder
  int64_t limit = 0;
  ImageConfig image;
  int64_t label_offset = -1;  // EvalOptions::label_offset
  int threads = 0;
  std::function<void(int64_t, int64_t)> progress;
};

// Top-1 / top-5 of the model a .mcz file holds, decoded from `bytes` and run in the form `mcompress
// eval` runs it (formats/qdq_export.h model_to_run).
EvalResult evaluate_mcz_bytes(std::span<const std::byte> bytes, const std::string& name, const EvalRequest& request);

struct WrittenFile {
  std::vector<std::byte> bytes;
  std::optional<EvalResult> after;  // the file's own accuracy, when measured
};

// Codes the tensors (once) and assembles the file with `metadata` plus the embedded report, whose
// stated size is the file's size. With `eval`, the accuracy of the assembled file is measured on its
// own bytes and stored with `before` (the source model's) as report.accuracy; the graph, tensor
// table and payload of the returned file are those of the file measured (an internal error
// otherwise). `name` labels errors and the report.
WrittenFile write_compressed_file(const CompressedModel& compressed, McMetadata metadata, const std::string& name, int threads,
                                  const EvalRequest* eval = nullptr, const EvalResult* before = nullptr);

}  // namespace mc
