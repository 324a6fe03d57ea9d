// formats/file_io.h, formats/temporary_files.h, formats/termination_signals.h: outputs are written
// whole or not at all; write errors (a full device, the file-size limit, an existing output) are
// output errors that leave no temporary file; a termination signal removes the temporary files and
// ends the process by that signal; the leftovers of killed writers are recognised and removed.
// Anything that changes process-wide state (signal handlers, limits) runs in a forked child.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include "core/error.h"
#include "formats/file_io.h"
#include "formats/temporary_files.h"
#include "formats/termination_signals.h"
#include "test_util.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;
using namespace mc;
using mc::test::read_file;
using mc::test::as_bytes;

namespace {

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Runs BODY in a forked child and returns its wait status. BODY's return value is the exit code.
int in_child(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// The PID of a process that has ended (its number may be reused later, but not within the test).
int64_t ended_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

std::string output_error(const std::function<void()>& write) {
  try {
    write();
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::output);
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("test_file_io: temporary file names carry the host, the PID and a serial, and read back") {
  const std::string name = temporary_file_name("out/model.mcz", 7);
  CHECK(name.rfind("out/model.mcz.mcompress-tmp-", 0) == 0);
  const auto w = temporary_file_writer(fs::path(name).filename().string());
  REQUIRE(w);
  CHECK(w->host == temporary_file_host());
  CHECK(w->pid == ::getpid());
  CHECK(w->serial == 7);
  CHECK(temporary_file_host().find('-') == std::string::npos);
  CHECK(temporary_file_writer("a.mcz.mcompress-tmp-node_3-412-0")->host == "node_3");
  for (const char* not_one : {"a.mcz", "a.mcz.tmp-12-0", ".mcompress-tmp-h-1-0", "a.mcompress-tmp-h-x-0",
                              "a.mcompress-tmp-h-1-", "a.mcompress-tmp--1-0", "a.mcompress-tmp-h-1"})
    CHECK_MESSAGE(!temporary_file_writer(not_one), not_one);
}

TEST_CASE("test_file_io: a write leaves the output alone in its folder, and replaces or refuses an existing one") {
  test::TempDir dir;
  const fs::path out = dir.path / "a.mcz";
  write_binary_file(out.string(), as_bytes("first"));
  CHECK(read_file(out) == "first");
  CHECK(names_in(dir.path) == std::vector<std::string>{"a.mcz"});
  CHECK(files_listed_for_termination() == 0);
  write_binary_file(out.string(), as_bytes("second"), IfExists::replace);
  CHECK(read_file(out) == "second");
  // Another writer's output appeared after the checks: refused, kept as it is, nothing left over.
  const std::string message = output_error([&] { write_binary_file(out.string(), as_bytes("third"), IfExists::fail); });
  CHECK(message.find("a.mcz: already exists (use --force to overwrite)") != std::string::npos);
  CHECK(read_file(out) == "second");
  CHECK(names_in(dir.path) == std::vector<std::string>{"a.mcz"});
  CHECK(files_listed_for_termination() == 0);
  // A set: refused as a whole when one of them exists.
  const std::string set_message = output_error([&] {
    write_binary_files({{(dir.path / "b.data").string(), as_bytes("b")}, {out.string(), as_bytes("c")}}, IfExists::fail);
  });
  CHECK(set_message.find("already exists") != std::string::npos);
  CHECK(names_in(dir.path) == std::vector<std::string>{"a.mcz"});
}

TEST_CASE("test_file_io: a device is written in place; a full one is an output error") {
  write_binary_file("/dev/null", as_bytes("nothing"));
  struct stat st {};
  REQUIRE(::stat("/dev/null", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));  // not replaced by a regular file
  if (!fs::exists("/dev/full")) return;
  const std::string message = output_error([] { write_binary_file("/dev/full", as_bytes("x")); });
  CHECK(message == std::string("/dev/full: cannot write: ") + std::strerror(ENOSPC));
  CHECK(files_listed_for_termination() == 0);
}

TEST_CASE("test_file_io: a write beyond the file-size limit is EFBIG, not SIGXFSZ, and leaves nothing") {
  test::TempDir dir;
  const fs::path out = dir.path / "big.mcz";
  const int status = in_child([&] {
    install_termination_cleanup();  // ignores SIGXFSZ
    rlimit limit{};
    ::getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = 64 * 1024;
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 90;
    try {
      write_binary_file(out.string(), std::vector<std::byte>(256 * 1024));
    } catch (const Error& e) {
      const std::string expected = out.string() + ": cannot write: " + std::strerror(EFBIG);
      return e.kind() == ErrorKind::output && e.what() == expected ? 0 : 1;
    }
    return 2;
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("test_file_io: a termination signal removes the temporary files and ends the process by that signal") {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    test::TempDir dir;
    const std::string tmp = temporary_file_name((dir.path / "a.mcz").string(), 0);
    const int status = in_child([&] {
      install_termination_cleanup();
      const int fd = create_listed_temporary(tmp);
      if (fd < 0 || ::write(fd, "partial", 7) != 7) return 1;
      std::raise(sig);
      return 2;  // not reached
    });
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == sig);
    CHECK(fs::is_empty(dir.path));
  }
  // A signal inherited as ignored (nohup, a background job's SIGINT) stays ignored.
  const int status = in_child([] {
    std::signal(SIGINT, SIG_IGN);
    install_termination_cleanup();
    std::raise(SIGINT);
    return 7;
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
}

TEST_CASE("test_file_io: a termination signal lets a file step on another thread finish: the output is whole or absent") {
  test::TempDir dir;
  const std::string out = (dir.path / "a.mcz").string(), tmp = temporary_file_name(out, 0);
  const int status = in_child([&]() -> int {
    install_termination_cleanup();
    std::thread writer([&] {
      FileStepGuard step;  // this thread takes no signal, and the handler waits for the step to end
      const int fd = create_listed_temporary(tmp);
      if (fd < 0 || ::write(fd, "whole", 5) != 5 || ::close(fd) != 0) ::_exit(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (std::rename(tmp.c_str(), out.c_str()) != 0) ::_exit(1);
      keep_on_termination(tmp);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(::getpid(), SIGTERM);  // taken by this thread while the writer is inside its step
    writer.join();
    for (;;) ::pause();  // the handler ends the process once the step is over
  });
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(names_in(dir.path) == std::vector<std::string>{"a.mcz"});
  CHECK(read_file(out) == "whole");
}

TEST_CASE("test_file_io: leftovers of writers that are gone are removed, live writers' files kept") {
  test::TempDir dir;
  const std::string host = temporary_file_host();
  auto touch = [&](const std::string& name) {
    std::ofstream(dir.path / name) << "partial";
    return name;
  };
  const std::string dead = touch("a.mcz.mcompress-tmp-" + host + "-" + std::to_string(ended_pid()) + "-0");
  const std::string live = touch("a.mcz.mcompress-tmp-" + host + "-" + std::to_string(::getppid()) + "-3");
  const std::string earlier_self = touch("b.mcz.mcompress-tmp-" + host + "-" + std::to_string(::getpid()) + "-999999");
  const std::string foreign_recent = touch("a.mcz.mcompress-tmp-otherhost" + host + "-1-0");
  const std::string foreign_old = touch("a.mcz.mcompress-tmp-otherhost" + host + "-2-0");
  const utimbuf two_days_ago{std::time(nullptr) - 2 * 86400, std::time(nullptr) - 2 * 86400};
  REQUIRE(::utime((dir.path / foreign_old).c_str(), &two_days_ago) == 0);
  const std::string not_ours = touch("a.mcz.tmp-1-0");
  const std::string folder = "c.mcz.mcompress-tmp-" + host + "-1-0";  // never a folder
  fs::create_directory(dir.path / folder);

  CHECK(remove_stale_temporaries(dir.path.string()) == 3);
  std::vector<std::string> kept = {live, foreign_recent, not_ours, folder};
  std::sort(kept.begin(), kept.end());
  CHECK(names_in(dir.path) == kept);

  // The first write into a folder does the same.
  touch(dead);
  write_binary_file((dir.path / "d.mcz").string(), as_bytes("d"));
  CHECK(!fs::exists(dir.path / dead));
  CHECK(fs::exists(dir.path / live));
}
