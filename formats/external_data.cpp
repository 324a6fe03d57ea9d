#include "formats/external_data.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/file_io.h"

namespace mc {

namespace {

namespace fs = std::filesystem;

// 'S' (built by appending: GCC 12 warns spuriously about "'" + s, bug 105329).
std::string quoted(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out += s;
  out += '\'';
  return out;
}

// A decimal integer without sign, spaces or overflow.
std::optional<uint64_t> parse_decimal(const std::string& s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

// True if `inner` (canonical) lies strictly inside `folder` (canonical).
bool inside(const fs::path& inner, const fs::path& folder) {
  auto f = folder.begin(), i = inner.begin();
  for (; f != folder.end(); ++f, ++i) {
    if (f->empty()) continue;  // a trailing separator
    if (i == inner.end() || *i != *f) return false;
  }
  return i != inner.end();
}

// pread until BYTES are read; returns 0, or errno (EIO when the file ends early).
int read_at(int fd, uint64_t offset, size_t bytes, void* dest) {
  auto* out = static_cast<char*>(dest);
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::pread(fd, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

ExternalDataRef parse_external_data_ref(const std::vector<std::pair<std::string, std::string>>& entries, const std::string& label) {
  ExternalDataRef ref;
  bool has_location = false, has_offset = false;
  for (const auto& entry : entries) {
    const std::string& key = entry.first;  // plain references: the lambdas capture them (clang 14 cannot capture bindings)
    const std::string& value = entry.second;
    auto number = [&]() {
      auto v = parse_decimal(value);
      if (!v) fail_input(label + ": external data " + key + " " + quoted(value) + " is not a non-negative decimal integer");
      return *v;
    };
    auto once = [&](bool seen) {
      if (seen) fail_input(label + ": external data key " + quoted(key) + " is given twice");
    };
    if (key == "location") {
      once(has_location);
      has_location = true;
      ref.location = value;
    } else if (key == "offset") {
      once(has_offset);
      has_offset = true;
      ref.offset = number();
    } else if (key == "length") {
      once(ref.length.has_value());
      ref.length = number();
    }
  }
  if (!has_location || ref.location.empty()) fail_input(label + ": external data without a location");
  return ref;
}

ExternalDataReader::ExternalDataReader(const std::string& model_path)
    : from_stdin_(model_path == "-"), folder_(from_stdin_ ? fs::path() : fs::path(model_path).parent_path()) {}

uint64_t ExternalDataReader::files_bytes() const {
  uint64_t total = 0;
  for (const auto& [path, n] : file_sizes_) total += n;
  return total;
}

const ExternalDataReader::SideFile& ExternalDataReader::side_file(const std::string& location, const std::string& label) {
  if (auto it = resolved_.find(location); it != resolved_.end()) return it->second;
  const std::string location_name = quoted(location);
  if (from_stdin_)
    fail_input(label + ": its data is in external file " + location_name +
               ", which cannot be located for a model read from standard input (give the model's path instead)");
  const fs::path folder = folder_.empty() ? fs::path(".") : folder_;
  const std::string folder_name = quoted(folder.string());
  if (location.find('\0') != std::string::npos) fail_input(label + ": external data location contains a NUL character");
  const fs::path rel(location);
  if (rel.has_root_path())
    fail_input(label + ": external data location " + location_name + " is an absolute path (it must be relative to the model's folder " +
               folder_name + ")");
  for (const auto& part : rel)
    if (part == "..") fail_input(label + ": external data location " + location_name + " leaves the model's folder " + folder_name);

  SideFile f;
  f.path = folder_ / rel;
  const std::string path_name = quoted(f.path.string());
  std::error_code ec;
  const fs::file_status link = fs::symlink_status(f.path, ec);
  if (link.type() == fs::file_type::not_found) fail_input(label + ": external data file " + path_name + " not found");
  if (ec) fail_input(label + ": external data file " + path_name + ": cannot read: " + ec.message());
  const fs::path real = fs::canonical(f.path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory)
      fail_input(label + ": external data file " + path_name + " is a symbolic link to a missing file");
    fail_input(label + ": external data file " + path_name + ": cannot read: " + ec.message());
  }
  const fs::path real_folder = fs::canonical(folder, ec);
  if (ec) fail_input(label + ": model folder " + folder_name + ": cannot read: " + ec.message());
  if (real == real_folder) fail_input(label + ": external data file " + path_name + " is not a regular file");
  if (!inside(real, real_folder))
    fail_input(label + ": external data file " + path_name + " resolves to " + quoted(real.string()) + ", outside the model's folder " +
               folder_name);
  if (!fs::is_regular_file(real, ec)) fail_input(label + ": external data file " + path_name + " is not a regular file");
  f.real = real;
  f.size = fs::file_size(real, ec);
  if (ec) fail_input(label + ": external data file " + path_name + ": cannot read: " + ec.message());
  file_sizes_[f.path.string()] = f.size;
  return resolved_.emplace(location, std::move(f)).first->second;
}

void ExternalDataReader::check(const ExternalDataRef& ref, size_t bytes, const std::string& label) {
  const SideFile& f = side_file(ref.location, label);
  const std::string path_name = quoted(f.path.string());
  if (ref.length && *ref.length != bytes)
    fail_input(label + ": external data length " + std::to_string(*ref.length) + " in " + path_name + " does not match the tensor's size (" +
               std::to_string(bytes) + " bytes)");
  if (ref.offset > f.size || bytes > f.size - ref.offset)
    fail_input(label + ": external data at offset " + std::to_string(ref.offset) + ", " + std::to_string(bytes) + " bytes, passes the end of " +
               path_name + " (" + std::to_string(f.size) + " bytes)");
  if (bytes > max_input_file_bytes - std::min(bytes_read_, max_input_file_bytes))
    fail_unsupported(label + ": external data in " + path_name + " brings the model's tensors over 4 GiB, which is not supported");
}

void ExternalDataReader::read(const ExternalDataRef& ref, size_t bytes, void* dest, const std::string& label) {
  check(ref, bytes, label);
  if (bytes == 0) return;
  const SideFile& f = resolved_.at(ref.location);
  const std::string path_name = quoted(f.path.string());
  const int fd = ::open(f.real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);  // no link swapped in since
  if (fd < 0) fail_input(label + ": external data file " + path_name + ": cannot read: " + std::strerror(errno));
  const int err = read_at(fd, ref.offset, bytes, dest);
  ::close(fd);
  if (err == EIO) fail_input(label + ": external data file " + path_name + " ended early (did it change while being read?)");
  if (err) fail_input(label + ": external data file " + path_name + ": cannot read: " + std::strerror(err));
  bytes_read_ += bytes;
}

}  // namespace mc
