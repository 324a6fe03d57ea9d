#include "cli/common.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include <sstream>

namespace mc::cli {

void add_common_options(CLI::App* cmd, CommonOptions& options, bool with_json) {
  cmd->add_option("--threads", options.threads, "Worker threads (default: all cores); results do not depend on it")
      ->check(CLI::Range(1, 1024))
      ->type_name("N");
  cmd->add_flag("-q,--quiet", options.quiet, "No progress or informational output on stderr");
  if (with_json) cmd->add_flag("--json", options.json, "Print machine-readable JSON on stdout instead of a table");
}

Progress::Progress(std::string label, bool quiet)
    : label_(std::move(label)), enabled_(!quiet && isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() { finish(); }

void Progress::update(int64_t done, int64_t total) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const int width = 30;
  int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  double secs = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r%s [%s%s] %lld/%lld  %.1fs ", label_.c_str(), std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(width - filled), '.').c_str(), static_cast<long long>(done),
               static_cast<long long>(total), secs);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (enabled_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  drawn_ = false;
}

Progress& StageProgress::bar(const std::string& stage) {
  auto& b = bars_[stage];
  if (!b) {
    finish();
    b = std::make_unique<Progress>(stage, quiet_);
  }
  return *b;
}

void StageProgress::finish() {
  for (auto& [name, b] : bars_)
    if (b) b->finish();
}

void check_output_path(const std::string& path, bool force, const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  if (path == "-") return;
  fs::path p(path);
  std::error_code same_ec;
  for (const auto& input : inputs)
    if (input != "-" && fs::exists(p, same_ec) && fs::equivalent(p, input, same_ec))
      throw Error(ErrorKind::output, path + ": is the input file " + input + "; mcompress never overwrites its input, even with --force");
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(ErrorKind::output, path + ": cannot write: directory " + dir.string() + " does not exist");
  if (fs::is_directory(p, ec)) throw Error(ErrorKind::output, path + ": cannot write: is a directory");
  if (fs::exists(p, ec) && !force) throw Error(ErrorKind::output, path + ": already exists (use --force to overwrite)");
  if (access(dir.c_str(), W_OK) != 0) throw Error(ErrorKind::output, path + ": cannot write: directory " + dir.string() + " is not writable");
}

void check_output_kind(const std::string& path, OutputKind kind, bool force, const std::function<void(const std::string&)>& warn) {
  if (kind == OutputKind::text) return;
  const char* what = kind == OutputKind::mcz ? ".mcz" : "ONNX";
  if (path == "-") {
    if (isatty(STDOUT_FILENO) && !force)
      fail_usage(std::string("refusing to write binary ") + what + " data to a terminal: redirect standard output, or give --force");
    return;
  }
  auto ends_with = [&](const char* ext) {
    std::string lower = path;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string e = ext;
    return lower.size() >= e.size() && lower.compare(lower.size() - e.size(), e.size(), e) == 0;
  };
  if (kind == OutputKind::mcz && ends_with(".onnx") && warn)
    warn(path + ": this is a .mcz file, not an ONNX model, whatever its name ('mcompress export' writes ONNX)");
  if (kind == OutputKind::onnx && ends_with(".mcz") && warn) warn(path + ": this is an ONNX model, not a .mcz file, whatever its name");
}

std::string short_count(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.1fK", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace mc::cli
