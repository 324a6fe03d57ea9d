#include "app/sweep_identity.h"

#include <filesystem>
#include <span>

#include "formats/checksum.h"
#include "formats/file_io.h"
#include "formats/labels.h"
#include "formats/onnx_model.h"

namespace mc {

namespace {

std::string sha256_of_text(const std::string& text) { return sha256_hex(std::as_bytes(std::span<const char>(text.data(), text.size()))); }

}  // namespace

std::string image_folder_sha256(const std::string& dir) {
  std::vector<std::string> files = list_images(dir);
  const std::filesystem::path labels = std::filesystem::path(dir) / "labels.tsv";
  std::error_code ec;
  if (std::filesystem::is_regular_file(labels, ec)) files.insert(files.begin(), labels.string());
  std::string listing;
  for (const auto& file : files) {
    const std::vector<std::byte> bytes = read_binary_file(file);
    listing += std::filesystem::path(file).filename().string() + "\t" + std::to_string(bytes.size()) + "\t" + sha256_hex(bytes) + "\n";
  }
  return sha256_of_text(listing);
}

SweepIdentity sweep_identity(const SweepSettings& o, const SweepGrid& grid, const SourceModel& source) {
  SweepIdentity id;
  id.model_sha256 = sha256_of_text(serialize_onnx(source.model));
  bool any_calibration = false;
  for (const auto& g : grid.points) any_calibration = any_calibration || recipe_needs_calibration(g.recipe, g.options);
  // One line per setting: a new flag that changes results adds one here.
  nlohmann::ordered_json& s = id.settings;
  s["model"] = o.file;
  s["preprocess"] = o.preprocess;
  s["calib"] = o.calib;
  s["calib_count"] = o.calib_count;
  s["seed"] = o.seed;
  s["calib_images_sha256"] = any_calibration && !o.calib.empty() ? image_folder_sha256(o.calib) : std::string();
  s["eval_images"] = o.eval_images;
  s["eval_limit"] = o.eval_limit;
  s["eval_images_sha256"] = image_folder_sha256(o.eval_images);
  s["val"] = o.validation_dir;
  s["val_images_sha256"] = o.validation_dir.empty() ? std::string() : image_folder_sha256(o.validation_dir);
  s["confidence"] = o.confidence;
  s["keep"] = o.keep;
  for (const auto& g : grid.points) id.grid.push_back(g.budget().empty() ? g.recipe : g.recipe + " " + g.budget());
  return id;
}

}  // namespace mc
