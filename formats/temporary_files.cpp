#include "formats/temporary_files.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace mc {
namespace {

// --- the list the termination handler reads. Slots hold a path and a state; the handler reads only
// lock-free atomics and the path bytes, which nobody changes while it runs (see FileStepGuard).
constexpr size_t listed_capacity = 32;  // a command writes at most a handful of files at once
constexpr size_t listed_path_bytes = 4096;
enum SlotState : int { slot_free = 0, slot_filling = 1, slot_listed = 2 };
struct Slot {
  std::atomic<int> state{slot_free};
  char path[listed_path_bytes];
};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);
std::array<Slot, listed_capacity> listed;

// Dekker-style handshake between FileStepGuard and the handler (sequentially consistent atomics):
// either a guard sees `terminating` and stops, or the handler sees `steps_in_progress` > 0 and waits.
std::atomic<bool> terminating{false};
std::atomic<int> steps_in_progress{0};
thread_local int guard_depth = 0;

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool process_is_running(int64_t pid) {
  if (pid <= 0 || pid > INT32_MAX) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Whether this process lists its temporary file number SERIAL (whatever folder name it was given).
bool own_temporary_listed(uint64_t serial);

}  // namespace

const std::string& temporary_file_host() {
  static const std::string host = [] {
    char buf[256] = {};
    std::string h = "unknown";
    if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0] != '\0') h.assign(buf, ::strnlen(buf, 64));
    // '-' separates the fields of the name, so it becomes '_' like anything else unusual.
    for (char& c : h)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_')) c = '_';
    // Containers may share a host name but not their PIDs: the PID namespace ("pid:[4026531836]")
    // makes a PID checkable only where it means the same process.
    char ns[64] = {};
    const ssize_t n = ::readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    std::string digits;
    for (ssize_t i = 0; i < n; ++i)
      if (ns[i] >= '0' && ns[i] <= '9') digits += ns[i];
    if (!digits.empty()) h += ".pidns" + digits;
    return h;
  }();
  return host;
}

std::string temporary_file_name(const std::string& output, uint64_t serial) {
  return output + std::string(temporary_file_marker) + temporary_file_host() + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(serial);
}

std::optional<TemporaryFileWriter> temporary_file_writer(std::string_view name) {
  const size_t at = name.rfind(temporary_file_marker);
  if (at == std::string_view::npos || at == 0) return std::nullopt;  // no output name before the marker
  std::string_view rest = name.substr(at + temporary_file_marker.size());
  const size_t last = rest.rfind('-');
  if (last == std::string_view::npos) return std::nullopt;
  const size_t middle = rest.rfind('-', last == 0 ? 0 : last - 1);
  if (middle == std::string_view::npos || middle == 0 || middle + 1 >= last) return std::nullopt;
  const std::string_view host = rest.substr(0, middle), pid = rest.substr(middle + 1, last - middle - 1),
                         serial = rest.substr(last + 1);
  if (!all_digits(pid) || !all_digits(serial) || pid.size() > 10) return std::nullopt;
  TemporaryFileWriter w;
  w.host = std::string(host);
  std::from_chars(pid.data(), pid.data() + pid.size(), w.pid);
  if (std::from_chars(serial.data(), serial.data() + serial.size(), w.serial).ec != std::errc()) return std::nullopt;
  return w;
}

FileStepGuard::FileStepGuard() : outermost_(guard_depth++ == 0) {
  if (!outermost_) return;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved_mask_);
  steps_in_progress.fetch_add(1);
  if (terminating.load()) {
    // A handler on another thread is removing the listed files and will end the process: a new step
    // now could leave a file behind. This thread takes no signal; it waits for the end.
    steps_in_progress.fetch_sub(1);
    for (;;) ::pause();
  }
}

FileStepGuard::~FileStepGuard() {
  --guard_depth;
  if (!outermost_) return;
  steps_in_progress.fetch_sub(1);
  pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
}

namespace {

// Nothing here allocates: a termination handler may be waiting for the step, and it may have
// interrupted another thread inside malloc. Returns 0, ENAMETOOLONG or ENOBUFS (the list is full).
int list_path(const std::string& path) noexcept {
  if (path.size() >= listed_path_bytes) return ENAMETOOLONG;
  for (Slot& s : listed) {
    int expected = slot_free;
    if (!s.state.compare_exchange_strong(expected, slot_filling)) continue;
    std::memcpy(s.path, path.c_str(), path.size() + 1);
    s.state.store(slot_listed);
    return 0;
  }
  return ENOBUFS;
}

void unlist_path(const std::string& path) noexcept {
  for (Slot& s : listed) {
    if (s.state.load() != slot_listed || path != s.path) continue;
    int expected = slot_listed;
    if (s.state.compare_exchange_strong(expected, slot_free)) return;
  }
}

[[noreturn]] void fail_listing(const std::string& path, int err) {
  fail(ErrorKind::output, path + ": cannot write: " + (err == ENOBUFS ? "too many files being written at once" : std::strerror(err)));
}

}  // namespace

void remove_on_termination(const std::string& path) {
  int err = 0;
  {
    FileStepGuard guard;
    err = list_path(path);
  }
  if (err != 0) fail_listing(path, err);
}

void keep_on_termination(const std::string& path) {
  FileStepGuard guard;
  unlist_path(path);
}

bool listed_for_termination(const std::string& path) {
  for (const Slot& s : listed)
    if (s.state.load() == slot_listed && path == s.path) return true;
  return false;
}

namespace {
bool own_temporary_listed(uint64_t serial) {
  for (const Slot& s : listed) {
    if (s.state.load() != slot_listed) continue;
    const std::string_view path(s.path);
    const size_t slash = path.rfind('/');
    const auto w = temporary_file_writer(slash == std::string_view::npos ? path : path.substr(slash + 1));
    if (w && w->pid == ::getpid() && w->serial == serial && w->host == temporary_file_host()) return true;
  }
  return false;
}
}  // namespace

size_t files_listed_for_termination() {
  size_t n = 0;
  for (const Slot& s : listed) n += s.state.load() == slot_listed;
  return n;
}

void remove_listed_files_for_termination() noexcept {
  terminating.store(true);
  while (steps_in_progress.load() != 0) {
    // A step on another thread (an open or a rename: one system call) is finishing.
  }
  for (Slot& s : listed)
    if (s.state.load() == slot_listed) ::unlink(s.path);
}

int create_listed_temporary(const std::string& path) {
  int listing_error = 0, fd = -1, open_error = 0;
  {
    FileStepGuard guard;
    listing_error = list_path(path);
    if (listing_error == 0) {
      // open(O_EXCL) with mode 0666 gives the usual umask-derived permissions, unlike mkstemp's 0600.
      fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd < 0) {
        open_error = errno;
        unlist_path(path);
      }
    }
  }
  if (listing_error != 0) fail_listing(path, listing_error);
  return fd >= 0 ? fd : -open_error;
}

size_t remove_stale_temporaries(const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path dir = folder.empty() ? fs::path(".") : fs::path(folder);
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  size_t removed = 0;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::optional<TemporaryFileWriter> writer = temporary_file_writer(name);
    if (!writer) continue;
    const std::string path = (dir / name).string();
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // never a folder or a link
    bool stale;
    if (writer->host != temporary_file_host()) stale = now - static_cast<int64_t>(st.st_mtime) > foreign_temporary_max_age_seconds;
    else if (writer->pid == ::getpid()) stale = !own_temporary_listed(writer->serial);  // an earlier process with our PID
    else stale = !process_is_running(writer->pid);
    if (stale && ::unlink(path.c_str()) == 0) ++removed;
  }
  return removed;
}

void remove_stale_temporaries_once(const std::string& folder) {
  static std::mutex mutex;
  static std::set<std::string> cleaned;
  std::error_code ec;
  std::filesystem::path key = std::filesystem::absolute(folder.empty() ? "." : folder, ec);
  const std::string k = ec ? folder : key.lexically_normal().string();
  {
    std::lock_guard lock(mutex);
    if (!cleaned.insert(k).second) return;
  }
  remove_stale_temporaries(folder);
}

}  // namespace mc
