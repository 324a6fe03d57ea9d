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
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/temporary_files.h"

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

[[noreturn]] void fail_exists(const std::string& path) {
  fail(ErrorKind::output, path + ": already exists (use --force to overwrite)");
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

// An existing PATH that a rename cannot replace meaningfully: a character or block device, a FIFO,
// a socket. It is written in place, and there is no partial regular file to avoid.
bool written_in_place(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

void write_in_place(const std::string& path, std::span<const std::byte> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) fail_write(path, errno);
  int err = write_all(fd, bytes);
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) fail_write(path, err);
}

// Renames FROM to TO; with IfExists::fail, atomically refuses an existing TO (EEXIST). Returns 0 or errno.
int rename_file(const std::string& from, const std::string& to, IfExists if_exists) {
  if (if_exists == IfExists::replace) return std::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return errno;
  // A file system without RENAME_NOREPLACE: a hard link is as exclusive (EEXIST), then the name goes.
  if (::link(from.c_str(), to.c_str()) == 0) {
    ::unlink(from.c_str());
    return 0;
  }
  if (errno == EEXIST || (errno != EPERM && errno != EOPNOTSUPP)) return errno;
  // Neither (no hard links either): the best left is a check just before the rename.
  struct stat st {};
  if (::lstat(to.c_str(), &st) == 0) return EEXIST;
  return std::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

// One output on its way: its bytes in a temporary file next to it, listed for removal on termination,
// and removed by the destructor unless renamed into place.
class PendingOutput {
 public:
  PendingOutput(const std::string& path, std::span<const std::byte> bytes) : path_(path) {
    if (path.empty()) fail(ErrorKind::output, "empty output path");
    if (std::filesystem::is_directory(path)) fail(ErrorKind::output, path + ": is a directory");
    remove_stale_temporaries_once(std::filesystem::path(path).parent_path().string());

    static std::atomic<uint64_t> serial{0};
    int fd = -EEXIST;
    for (int attempt = 0; attempt < 100 && fd == -EEXIST; ++attempt) {
      temporary_ = temporary_file_name(path, serial++);
      fd = create_listed_temporary(temporary_);
    }
    if (fd < 0) fail_write(path, -fd);
    int err = write_all(fd, bytes);
    // fsync: a file system that allocates late (quotas, NFS, ext4 delayed allocation) reports a full
    // disk or an I/O error here or at close, not at write. EINVAL: nothing to flush on this file system.
    if (err == 0 && ::fsync(fd) != 0 && errno != EINVAL) err = errno;
    if (::close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
    if (err != 0) {
      discard();
      fail_write(path, err);
    }
  }
  ~PendingOutput() {
    if (!placed_ && !temporary_.empty()) discard();
  }
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;

  const std::string& path() const { return path_; }

  // Renames the temporary file onto the output; returns 0 or errno (EEXIST: refused, see IfExists).
  int place(IfExists if_exists) {
    FileStepGuard guard;
    const int err = rename_file(temporary_, path_, if_exists);
    if (err == 0) {
      keep_on_termination(temporary_);
      placed_ = true;
    }
    return err;
  }

 private:
  void discard() {
    FileStepGuard guard;
    ::unlink(temporary_.c_str());
    keep_on_termination(temporary_);
    temporary_.clear();
  }

  std::string path_, temporary_;
  bool placed_ = false;
};

[[noreturn]] void fail_place(const std::string& path, int err) {
  if (err == EEXIST) fail_exists(path);
  fail_write(path, err);
}

}  // namespace

void write_binary_file(const std::string& path, std::span<const std::byte> bytes, IfExists if_exists) {
  if (path == "-") {
    std::fflush(stdout);
    if (int err = write_all(STDOUT_FILENO, bytes)) fail_write("<stdout>", err);
    return;
  }
  if (written_in_place(path)) return write_in_place(path, bytes);
  PendingOutput output(path, bytes);
  if (const int err = output.place(if_exists)) fail_place(path, err);
}

void write_binary_files(const std::vector<std::pair<std::string, std::span<const std::byte>>>& files,
                        IfExists if_exists) {
  std::vector<std::unique_ptr<PendingOutput>> pending;  // the destructors remove what was not placed
  for (const auto& [path, bytes] : files) {
    if (path == "-") fail_internal("write_binary_files: standard output is not a file");
    if (written_in_place(path)) write_in_place(path, bytes);
    else pending.push_back(std::make_unique<PendingOutput>(path, bytes));
  }
  // All renames in one step: a termination signal finds none of the outputs in place, or all of them.
  // (The error is thrown after the step: nothing inside it allocates.)
  int err = 0;
  size_t failed = 0;
  {
    FileStepGuard guard;
    for (; failed < pending.size(); ++failed) {
      err = pending[failed]->place(if_exists);
      if (err == 0) continue;
      for (size_t j = 0; j < failed; ++j) ::unlink(pending[j]->path().c_str());  // no output without the others
      break;
    }
  }
  if (err != 0) fail_place(pending[failed]->path(), err);
}

}  // namespace mc
