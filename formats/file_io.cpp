#include "formats/file_io.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "core/error.h"

namespace mc {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Reads F to its end in chunks, so it also works for pipes whose size is unknown in advance. The first
// chunk is the expected size plus one byte, so a regular file is read without reallocation and a file
// that grew meanwhile is still read completely.
std::vector<std::byte> read_stream(std::FILE* f, const std::string& name, uint64_t size_hint) {
  std::vector<std::byte> out;
  size_t chunk_bytes = std::max<size_t>(static_cast<size_t>(size_hint) + 1, size_t{1} << 20);
  for (;;) {
    if (out.size() > max_input_file_bytes) fail_input(name + ": larger than 4 GiB");
    size_t old_size = out.size();
    out.resize(old_size + chunk_bytes);
    size_t got = std::fread(out.data() + old_size, 1, chunk_bytes, f);
    out.resize(old_size + got);
    if (got < chunk_bytes) {
      if (std::ferror(f)) fail_input(name + ": cannot read: " + std::strerror(errno));
      break;
    }
    chunk_bytes = size_t{1} << 20;
  }
  if (out.size() > max_input_file_bytes) fail_input(name + ": larger than 4 GiB");
  return out;
}

}  // namespace

std::vector<std::byte> read_binary_file(const std::string& path) {
  if (path == "-") return read_stream(stdin, "<stdin>", 0);

  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) fail_input(path + ": no such file");
  if (ec) fail_input(path + ": cannot read: " + ec.message());
  if (st.type() == fs::file_type::directory) fail_input(path + ": is a directory");

  uint64_t size_hint = 0;
  if (st.type() == fs::file_type::regular) {
    uintmax_t size = fs::file_size(path, ec);
    if (!ec) {
      if (size > max_input_file_bytes) fail_input(path + ": larger than 4 GiB");
      size_hint = size;
    }
  }
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) fail_input(path + ": cannot read: " + std::strerror(errno));
  return read_stream(f.get(), path, size_hint);
}

namespace {

[[noreturn]] void fail_write(const std::string& path, int err) {
  fail(ErrorKind::output, path + ": cannot write: " + std::strerror(err));
}

// write(2) until everything is written or an error other than EINTR occurs; returns 0 or errno.
int write_all(int fd, std::span<const std::byte> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

namespace {

// Writes BYTES to a new temporary file next to PATH and returns its name; nothing is left on failure.
std::string write_temporary(const std::string& path, std::span<const std::byte> bytes) {
  if (path.empty()) fail(ErrorKind::output, "empty output path");
  if (std::filesystem::is_directory(path)) fail(ErrorKind::output, path + ": is a directory");

  // open(O_EXCL) with mode 0666 gives the usual umask-derived permissions, unlike mkstemp's 0600.
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) fail_write(path, errno);
  }
  if (fd < 0) fail_write(path, EEXIST);

  int err = write_all(fd, bytes);
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    fail_write(path, err);
  }
  return tmp;
}

}  // namespace

void write_binary_file(const std::string& path, std::span<const std::byte> bytes) {
  if (path == "-") {
    std::fflush(stdout);
    if (int err = write_all(STDOUT_FILENO, bytes)) fail_write("<stdout>", err);
    return;
  }
  const std::string tmp = write_temporary(path, bytes);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail_write(path, err);
  }
}

void write_binary_files(const std::vector<std::pair<std::string, std::span<const std::byte>>>& files) {
  std::vector<std::string> temporaries;
  auto remove_all = [&](size_t from) {
    for (size_t i = from; i < temporaries.size(); ++i) ::unlink(temporaries[i].c_str());
  };
  for (const auto& [path, bytes] : files) {
    if (path == "-") fail_internal("write_binary_files: standard output is not a file");
    try {
      temporaries.push_back(write_temporary(path, bytes));
    } catch (...) {
      remove_all(0);
      throw;
    }
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (std::rename(temporaries[i].c_str(), files[i].first.c_str()) == 0) continue;
    const int err = errno;
    remove_all(i);
    for (size_t j = 0; j < i; ++j) ::unlink(files[j].first.c_str());  // no output without the others
    fail_write(files[i].first, err);
  }
}

}  // namespace mc
