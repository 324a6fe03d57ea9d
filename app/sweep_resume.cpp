#include "app/sweep_resume.h"

#include <filesystem>

#include "analysis/sweep_record.h"
#include "core/error.h"
#include "formats/checksum.h"
#include "formats/file_io.h"

namespace mc {

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* record_format = "mcompress sweep record";
constexpr int64_t record_version = 1;

// "hybrid_ternary-fraction_0.2.mcz" -> "point_hybrid_ternary-fraction_0.2"
std::string point_stem(const GridPoint& point) {
  const std::string file = point_file_name(point);
  return "point_" + file.substr(0, file.size() - 4);
}

}  // namespace

SweepResume::SweepResume(std::string dir, SweepIdentity identity, std::function<void(const std::string&)> warn)
    : dir_(std::move(dir)), identity_(std::move(identity)), fingerprint_(identity_.fingerprint()), warn_(std::move(warn)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec)) throw Error(ErrorKind::output, dir_ + ": --resume needs a folder; this is a file");
  if (!fs::exists(dir_, ec) && !fs::create_directory(dir_, ec))
    throw Error(ErrorKind::output, dir_ + ": cannot create the --resume folder: " + (ec ? ec.message() : std::string("unknown error")));
}

std::string SweepResume::record_path(const std::string& stem) const { return (std::filesystem::path(dir_) / (stem + ".json")).string(); }

std::optional<Json> SweepResume::load(const std::string& path, bool quiet) const {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto set_aside = [&](const std::string& why) -> std::optional<Json> {
    if (!quiet && warn_) warn_(path + ": " + why + "; its point is computed again");
    return std::nullopt;
  };
  std::vector<std::byte> bytes;
  try {
    bytes = read_binary_file(path);
  } catch (const Error& e) {
    return set_aside(std::string("unreadable record (") + e.what() + ")");
  }
  const char* text = reinterpret_cast<const char*>(bytes.data());
  Json j = Json::parse(text, text + bytes.size(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("format") || j["format"] != record_format || !j.contains("version") ||
      j["version"] != record_version || !checksum_matches(j))
    return set_aside("not a sweep record of this mcompress, or damaged");
  if (!j.contains("mcompress") || j["mcompress"] != MCOMPRESS_VERSION) return set_aside("recorded by another mcompress version");
  if (!j.contains("model_sha256") || j["model_sha256"] != identity_.model_sha256 || !j.contains("fingerprint") || j["fingerprint"] != fingerprint_)
    return set_aside("recorded by another sweep (other model, settings or grid)");
  return j;
}

void SweepResume::save(const std::string& path, Json record) const {
  Json j;
  j["format"] = record_format;
  j["version"] = record_version;
  j["mcompress"] = MCOMPRESS_VERSION;
  j["model_sha256"] = identity_.model_sha256;
  j["fingerprint"] = fingerprint_;
  for (const auto& [key, value] : record.items()) j[key] = value;
  add_checksum(j);
  const std::string text = j.dump(1) + "\n";
  write_binary_file(path, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

std::optional<SweepTable> SweepResume::baseline() const {
  const std::string path = record_path("float_baseline");
  const auto j = load(path, false);
  if (!j || !j->contains("float")) return std::nullopt;
  try {
    SweepTable t;
    read_baseline_record((*j)["float"], t, path);
    return t;
  } catch (const Error& e) {
    if (warn_) warn_(std::string(e.what()) + "; the float model is evaluated again");
    return std::nullopt;
  }
}

void SweepResume::save_baseline(const SweepTable& baseline) const { save(record_path("float_baseline"), {{"float", baseline_record(baseline)}}); }

std::optional<SweepPoint> SweepResume::point(const GridPoint& point, const std::string& kept_path) const {
  const std::string path = record_path(point_stem(point));
  const auto j = load(path, false);
  if (!j) return std::nullopt;
  try {
    if (!j->contains("row")) fail_input(path + ": missing 'row'");
    SweepPoint row = read_point_record((*j)["row"], path);
    if (row.recipe != point.recipe || row.budget != point.budget() || !row.ok()) fail_input(path + ": the record is of another point");
    if (!kept_path.empty()) {
      std::error_code ec;
      if (!std::filesystem::exists(kept_path, ec)) return std::nullopt;  // recorded, but its file was never written or was removed
      const std::vector<std::byte> kept = read_binary_file(kept_path);
      if (!j->contains("kept_sha256") || (*j)["kept_sha256"] != sha256_hex(kept)) {
        if (warn_) warn_(kept_path + ": the kept file differs from the one recorded in " + path + "; its point is computed again");
        return std::nullopt;
      }
    }
    return row;
  } catch (const Error& e) {
    if (warn_) warn_(std::string(e.what()) + "; its point is computed again");
    return std::nullopt;
  }
}

bool SweepResume::has_record(const GridPoint& point) const { return load(record_path(point_stem(point)), true).has_value(); }

void SweepResume::save_point(const GridPoint& point, const SweepPoint& row, const std::vector<std::byte>& kept) const {
  if (!row.ok()) return;
  Json record = {{"row", point_record(row)}};
  if (!row.output.empty()) record["kept_sha256"] = sha256_hex(kept);
  save(record_path(point_stem(point)), std::move(record));
}

}  // namespace mc
