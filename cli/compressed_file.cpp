#include "cli/compressed_file.h"

#include "analysis/energy.h"
#include "analysis/report.h"
#include "analysis/sensitivity_summary.h"
#include "formats/checksum.h"
#include "formats/mcz.h"

namespace mc::cli {

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

}  // namespace mc::cli
