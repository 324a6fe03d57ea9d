// The one error type of mcompress. Every failure is thrown where it is found, carrying the
// exit-code category of ../shared/docs/CLI.md, and caught once in main().
#pragma once

#include <stdexcept>
#include <string>

namespace mc {

enum class ErrorKind : int {
  internal = 1,     // a bug
  usage = 2,        // unknown command or flag, bad value
  input = 3,        // unreadable or invalid input
  unsupported = 4,  // valid input that mcompress does not support
  output = 5,       // output cannot be written
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return static_cast<int>(kind_); }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }
[[noreturn]] inline void fail_input(const std::string& message) { throw Error(ErrorKind::input, message); }
[[noreturn]] inline void fail_unsupported(const std::string& message) {
  throw Error(ErrorKind::unsupported, message);
}
[[noreturn]] inline void fail_usage(const std::string& message) { throw Error(ErrorKind::usage, message); }
[[noreturn]] inline void fail_internal(const std::string& message) { throw Error(ErrorKind::internal, message); }

}  // namespace mc
