#include "app/compressed_file.h"

#include <filesystem>

#include "analysis/energy.h"
#include "analysis/report.h"
#include "analysis/sensitivity_summary.h"
#include "formats/checksum.h"
#include "formats/mcz.h"

namespace mc {

Provenance make_provenance(const std::string& file, const std::vector<std::byte>* source_bytes, const OpCount& source,
                           const std::string& preprocess, const std::string& calib, const CalibrationSet* calibration,
                           const CalibrationSet* held_out, uint64_t seed) {
  Provenance p;
  p.source_file = file == "-" ? std::string("-") : std::filesystem::path(file).filename().string();
  p.source_bytes = source_bytes;
  p.source_params = source.params;
  p.source_macs = source.macs;
  p.preprocess = preprocess;
  p.calibrated = calibration != nullptr;
  if (calibration) {
    p.calib_dir = std::filesystem::path(calib).filename().string();
    p.calib_images = static_cast<int64_t>(calibration->files.size());
    p.held_out_images = held_out ? static_cast<int64_t>(held_out->files.size()) : 0;
    p.seed = seed;
  }
  return p;
}

nlohmann::ordered_json accuracy_json(const EvalResult& before, const EvalResult& after) {
  return {{"images", before.images}, {"top1_before", before.top1}, {"top1_after", after.top1},
          {"top5_before", before.top5}, {"top5_after", after.top5}};
}

nlohmann::ordered_json compressed_metadata(const CompressedModel& compressed, const Provenance& p) {
  nlohmann::ordered_json meta;
  meta["tool"] = "mcompress";
  meta["version"] = MCOMPRESS_VERSION;
  meta["recipe"] = compressed.recipe;
  meta["passes"] = compressed.pipeline;
  if (p.calibrated)
    meta["calibration"] = {{"dir", p.calib_dir}, {"images", p.calib_images}, {"held_out", p.held_out_images}, {"seed", p.seed}};
  meta["source"] = {{"file", p.source_file},
                    {"bytes", p.source_bytes ? p.source_bytes->size() : 0},
                    {"sha256", p.source_bytes ? sha256_hex(*p.source_bytes) : std::string()},
                    {"params", p.source_params},
                    {"macs", p.source_macs}};
  if (!p.preprocess.empty()) meta["preprocess"] = p.preprocess;
  if (!compressed.filter_sensitivity.empty())
    meta["sensitivity"] = to_json(summarize_sensitivity(compressed.filter_sensitivity, compressed.filter_sensitivity_format));
  if (!p.accuracy.is_null()) meta["report"]["accuracy"] = p.accuracy;
  return meta;
}

std::vector<std::byte> assemble_with_report(const CompressedModel& compressed, nlohmann::ordered_json meta, const std::string& name,
                                            int threads) {
  // The file carries its own report, which states the file's size: assemble, report, embed, and
  // repeat until the size the report states is the size of the file (two or three rounds; only
  // the cheap assembly repeats, the coded streams are reused).
  CodedTensors coded = code_tensors(compressed.model, compressed.encoded, threads);
  std::vector<std::byte> bytes = assemble_mcz(compressed.model, coded, meta);
  for (int round = 0; round < 6; ++round) {
    nlohmann::ordered_json report = report_json_for(bytes, name, EnergyTable::builtin());
    // Totals only: `mcompress report FILE` rebuilds the per-layer breakdown from the file itself.
    report.erase("layers");
    meta["report"] = report;
    std::vector<std::byte> next = assemble_mcz(compressed.model, coded, meta);
    bool stable = next.size() == bytes.size();
    bytes = std::move(next);
    if (stable) break;
  }
  return bytes;
}

}  // namespace mc
