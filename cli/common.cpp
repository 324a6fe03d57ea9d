#include "cli/common.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "formats/input_convention.h"
#include <sstream>

namespace mc::cli {

void add_common_options(CLI::App* cmd, CommonOptions& options, bool with_json) {
  cmd->add_option("--threads", options.threads, "Worker threads (default: all cores); results do not depend on it")
      ->check(CLI::Range(1, 1024))
      ->type_name("N");
  cmd->add_flag("-q,--quiet", options.quiet, "No progress or informational output on stderr");
  if (with_json) cmd->add_flag("--json", options.json, "Print machine-readable JSON on stdout instead of a table");
}

void add_input_options(CLI::App* cmd, InputFlags& f, const std::string& stored_note) {
  const std::string group = "Input convention" + stored_note;
  cmd->add_option("--preprocess", f.preprocess,
                  "How pixels become inputs: keras (x/127.5-1), torch (ImageNet mean/std on x/255), caffe (BGR, x-mean),\n"
                  "raw (0..255), unit (x/255); not needed for folders of preprocessed float32 .npy tensors")
      ->type_name("NAME")
      ->group(group);
  cmd->add_option("--mean", f.mean, "Per-channel mean to subtract, on the 0..255 scale (instead of --preprocess)")->type_name("R,G,B")->group(group);
  cmd->add_option("--std", f.std, "Per-channel divisor after --mean, on the 0..255 scale (default 1,1,1)")->type_name("R,G,B")->group(group);
  cmd->add_flag("--bgr", f.bgr, "With --mean: feed channels in B, G, R order")->group(group);
  cmd->add_option("--layout", f.layout, "nchw or nhwc (default: from the model's input shape)")->type_name("LAYOUT")->group(group);
  cmd->add_option("--input-size", f.input_size, "Square input size for a model whose size is not fixed (default: the model's, else 224)")
      ->check(CLI::Range(1, 8192))
      ->type_name("N")
      ->group(group);
  cmd->add_option("--crop-ratio", f.crop_ratio, "Center crop / resized short side (default 0.875: 224 from 256)")
      ->check(CLI::Range(0.01, 1.0))
      ->type_name("X")
      ->group(group);
  cmd->add_option("--label-offset", f.label_offset,
                  "Added to each labels.tsv class (default: 1 for a 1001-class model whose class 0 is background, else 0)")
      ->check(CLI::Range(0, 1000))
      ->type_name("N")
      ->group(group);
}

std::string input_spec_with_flags(const std::string& base, const InputFlags& f) {
  InputConvention c = parse_input_spec(base);
  if (!f.preprocess.empty() && !f.mean.empty()) fail_usage("--mean/--std replace --preprocess: give one or the other");
  if (f.mean.empty() && (!f.std.empty() || f.bgr)) fail_usage(std::string(f.bgr ? "--bgr" : "--std") + " needs --mean R,G,B");
  if (!f.preprocess.empty()) {
    // --preprocess also takes a whole stored line ("caffe;layout=nhwc"), as sweep's reproducing commands write it.
    const InputConvention given = parse_input_spec(f.preprocess);
    c.preprocess = given.preprocess;
    if (given.layout) c.layout = given.layout;
    if (given.input_size) c.input_size = given.input_size;
    if (given.crop_ratio != 0.875) c.crop_ratio = given.crop_ratio;
    if (given.label_offset >= 0) c.label_offset = given.label_offset;
  }
  if (!f.mean.empty()) c.preprocess = custom_preprocess(f.mean, f.std, f.bgr);
  if (!f.layout.empty()) c.layout = parse_layout(f.layout);
  if (f.input_size) c.input_size = f.input_size;
  if (f.crop_ratio > 0) c.crop_ratio = f.crop_ratio;
  if (f.label_offset >= 0) c.label_offset = f.label_offset;
  return input_spec(c);
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

void print_log_line(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

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
  std::error_code ec;
  // A device or a FIFO (/dev/null, /dev/full, a named pipe) is written in place, not replaced: no
  // --force needed, and its folder need not be writable.
  const fs::file_status status = fs::status(p, ec);
  if (fs::exists(status) && !fs::is_regular_file(status) && !fs::is_directory(status)) {
    if (access(path.c_str(), W_OK) != 0) throw Error(ErrorKind::output, path + ": cannot write: " + std::strerror(errno));
    return;
  }
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) throw Error(ErrorKind::output, path + ": cannot write: directory " + dir.string() + " does not exist");
  if (fs::is_directory(p, ec)) throw Error(ErrorKind::output, path + ": cannot write: is a directory");
  if (fs::exists(p, ec) && !force) throw Error(ErrorKind::output, path + ": already exists (use --force to overwrite)");
  if (access(dir.c_str(), W_OK) != 0) throw Error(ErrorKind::output, path + ": cannot write: directory " + dir.string() + " is not writable");
}

void check_output_kind(const std::string& path, OutputKind kind, bool force, const std::function<void(const std::string&)>& warn) {
  if (kind == OutputKind::text) return;
  const char* what = kind == OutputKind::mcz ? ".mcz" : kind == OutputKind::onnx ? "ONNX" : "calibration statistics";
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
