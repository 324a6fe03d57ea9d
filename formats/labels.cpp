#include "formats/labels.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "formats/file_io.h"

namespace mc {

namespace {

std::string excerpt(std::string_view line) {
  constexpr size_t max_chars = 60;
  std::string out;
  for (char c : line.substr(0, max_chars)) {
    if (c == '\t')
      out += "\\t";
    else
      out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  }
  if (line.size() > max_chars) out += "...";
  return out;
}

}  // namespace

std::vector<LabeledImage> read_labels_tsv(const std::string& path) {
  const std::vector<std::byte> bytes = read_binary_file(path);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const std::string name = path == "-" ? std::string("<stdin>") : path;

  std::vector<LabeledImage> out;
  std::unordered_map<std::string, size_t> first_line;  // filename -> line number where it appeared
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto malformed = [&](const std::string& why) {
      fail_input(name + ":" + std::to_string(line_no) + ": expected 'filename<TAB>class index', got '" +
                 excerpt(line) + "'" + (why.empty() ? "" : " (" + why + ")"));
    };
    // A file ending "...\n\n" has one empty last line: accepted. Empty lines elsewhere are malformed.
    if (line.empty() && pos >= text.size()) break;
    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos) malformed("no tab");
    const std::string_view file = line.substr(0, tab);
    const std::string_view cls = line.substr(tab + 1);
    if (file.empty()) malformed("empty filename");
    if (file.find('/') != std::string_view::npos || file == "." || file == "..")
      malformed("the filename must be a plain name inside the image directory");
    if (file.find('\0') != std::string_view::npos) malformed("NUL byte in the filename");
    int value = -1;
    auto [ptr, ec] = std::from_chars(cls.data(), cls.data() + cls.size(), value);
    if (cls.empty() || ec != std::errc() || ptr != cls.data() + cls.size() || value < 0 || value > max_class_index)
      malformed("the class index must be an integer from 0 to " + std::to_string(max_class_index));
    auto [it, inserted] = first_line.emplace(std::string(file), line_no);
    if (!inserted)
      fail_input(name + ":" + std::to_string(line_no) + ": duplicate filename '" + excerpt(file) +
                 "' (first on line " + std::to_string(it->second) + ")");
    out.push_back({std::string(file), value});
  }
  return out;
}

std::vector<std::string> list_images(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (st.type() == fs::file_type::not_found) fail_input(dir + ": no such directory");
  if (ec) fail_input(dir + ": cannot read: " + ec.message());
  if (st.type() != fs::file_type::directory) fail_input(dir + ": not a directory");

  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  if (ec) fail_input(dir + ": cannot read: " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;  // follows symlinks
    std::string name = it->path().filename().string();
    const size_t dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0) continue;
    std::string ext = name.substr(dot + 1);
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext == "jpg" || ext == "jpeg" || ext == "npy") names.push_back(std::move(name));
  }
  if (ec) fail_input(dir + ": cannot read: " + ec.message());
  std::sort(names.begin(), names.end());  // std::string compares as unsigned bytes: byte order
  std::vector<std::string> paths;
  paths.reserve(names.size());
  const std::string prefix = (!dir.empty() && dir.back() == '/') ? dir : dir + "/";
  for (const std::string& n : names) paths.push_back(prefix + n);
  return paths;
}

}  // namespace mc
