#include "app/compressed_file.h"

#include <cstring>
#include <filesystem>

#include "analysis/energy.h"
#include "analysis/report.h"
#include "analysis/sensitivity_summary.h"
#include "core/executor.h"
#include "core/stage_timer.h"
#include "formats/checksum.h"
#include "formats/mcz.h"
#include "formats/qdq_export.h"

namespace mc {

namespace {

// The bytes of every section but the metadata (graph, tensor table, payload), in file order.
std::vector<std::span<const std::byte>> content_sections(std::span<const std::byte> bytes, const std::string& name) {
  const McFile file = read_mcz(bytes, name);
  std::vector<std::span<const std::byte>> out;
  for (const auto& s : file.sections)
    if (s.kind != static_cast<uint32_t>(SectionKind::metadata))
      out.push_back(bytes.subspan(static_cast<size_t>(s.offset), static_cast<size_t>(s.length)));
  return out;
}

bool same_content(std::span<const std::byte> a, std::span<const std::byte> b, const std::string& name) {
  const auto sa = content_sections(a, name), sb = content_sections(b, name);
  if (sa.size() != sb.size()) return false;
  for (size_t i = 0; i < sa.size(); ++i)
    if (sa[i].size() != sb[i].size() || std::memcmp(sa[i].data(), sb[i].data(), sa[i].size()) != 0) return false;
  return true;
}

// The container around `coded` with `metadata` plus the embedded report, which states the file's
// size: assemble, report, embed, and repeat until the size the report states is the size of the
// file (two or three rounds; only the cheap assembly repeats, the coded streams are reused).
std::vector<std::byte> assemble_with_report(const Model& model, const CodedTensors& coded, const McMetadata& metadata,
                                            const std::string& name) {
  nlohmann::ordered_json meta = metadata_json(metadata);
  std::vector<std::byte> bytes = assemble_mcz(model, coded, meta);
  for (int round = 0; round < 6; ++round) {
    nlohmann::ordered_json report = report_json_for(bytes, name, EnergyTable::builtin());
    // Totals only: `mcompress report FILE` rebuilds the per-layer breakdown from the file itself.
    report.erase("layers");
    meta["report"] = report;
    std::vector<std::byte> next = assemble_mcz(model, coded, meta);
    bool stable = next.size() == bytes.size();
    bytes = std::move(next);
    if (stable) break;
  }
  return bytes;
}

}  // namespace

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

McAccuracy accuracy_record(const EvalResult& before, const EvalResult& after) {
  McAccuracy a;
  a.images = before.images;
  a.top1_before = before.top1;
  a.top1_after = after.top1;
  a.top5_before = before.top5;
  a.top5_after = after.top5;
  return a;
}

McMetadata compressed_metadata(const CompressedModel& compressed, const Provenance& p) {
  McMetadata meta;
  meta.version = MCOMPRESS_VERSION;
  meta.recipe = compressed.recipe;
  meta.passes = compressed.pipeline;
  if (p.calibrated) meta.calibration = McCalibrationRecord{p.calib_dir, p.calib_images, p.held_out_images, p.seed};
  McSourceRecord source;
  source.file = p.source_file;
  source.bytes = p.source_bytes ? p.source_bytes->size() + p.source_external_bytes : 0;
  source.sha256 = p.source_bytes ? sha256_hex(*p.source_bytes) : std::string();
  source.params = p.source_params;
  source.macs = p.source_macs;
  meta.source = source;
  meta.preprocess = p.preprocess;
  if (!compressed.filter_sensitivity.empty())
    meta.sensitivity = to_json(summarize_sensitivity(compressed.filter_sensitivity, compressed.filter_sensitivity_format));
  if (!compressed.budgets.empty()) {
    meta.budget = to_json(compressed.budgets.back());
    if (compressed.budgets.size() > 1) {
      meta.budgets = nlohmann::ordered_json::array();
      for (const auto& b : compressed.budgets) meta.budgets.push_back(to_json(b));
    }
  }
  return meta;
}

EvalResult evaluate_mcz_bytes(std::span<const std::byte> bytes, const std::string& name, const EvalRequest& request) {
  TimedStage timed("eval (written file)");
  const Model runnable = model_to_run(decode_mcz(read_mcz(bytes, name), name));
  Executor exec(runnable, ExecutorOptions{request.threads, true});
  EvalOptions eo;
  eo.image = request.image;
  eo.label_offset = request.label_offset;
  eo.limit = request.limit;
  return evaluate(exec, request.images, eo, request.progress);
}

WrittenFile write_compressed_file(const CompressedModel& compressed, McMetadata metadata, const std::string& name, int threads,
                                  const EvalRequest* eval, const EvalResult* before) {
  const CodedTensors coded = code_tensors(compressed.model, threads);
  WrittenFile out;
  out.bytes = assemble_with_report(compressed.model, coded, metadata, name);
  if (!eval) return out;
  if (!before) fail_internal("write_compressed_file: an accuracy needs the source model's as well");
  // Measured on the file as written: decoded from these bytes, not from the model in memory.
  out.after = evaluate_mcz_bytes(out.bytes, name, *eval);
  metadata.accuracy = accuracy_record(*before, *out.after);
  std::vector<std::byte> measured = std::move(out.bytes);
  out.bytes = assemble_with_report(compressed.model, coded, metadata, name);
  if (!same_content(measured, out.bytes, name))
    fail_internal(name + ": the file written differs from the file whose accuracy was measured");
  return out;
}

}  // namespace mc
