// Argument parsing shared by the bench programs (they take a few flags and no CLI11 dependency).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/text.h"

namespace mc::bench {

// Parses a whole-string number in [lo, hi] (a whole number if `integer`); anything else is a usage
// error naming the flag.
inline double parse_number(const std::string& flag, const std::string& text, double lo, double hi, bool integer) {
  const std::optional<double> parsed = parse_double(text);
  const double v = parsed.value_or(0);
  if (!parsed || !(v >= lo && v <= hi) || (integer && std::trunc(v) != v)) {
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", lo, hi);
    fail_usage(flag + " expects " + (integer ? "an integer" : "a number") + " in " + range + ", got '" + text + "'");
  }
  return v;
}

// Walks a bench program's arguments: `-h`/`--help` prints the usage and exits; `value()` takes the
// current flag's value (a usage error naming the flag if there is none); `unknown()` is the error for
// a flag the program does not take.
//   Args args(argc, argv, usage);
//   while (args.next()) { if (args.flag() == "--threads") ... else if (args.is_flag()) args.unknown(); else ... }
class Args {
 public:
  Args(int argc, char** argv, const char* usage) : argc_(argc), argv_(argv), usage_(usage) {}
  bool next() {
    if (++i_ >= argc_) return false;
    current_ = argv_[i_];
    if (current_ == "-h" || current_ == "--help") {
      std::puts(usage_);
      std::exit(0);
    }
    return true;
  }
  const std::string& flag() const { return current_; }
  bool is_flag() const { return current_.size() > 1 && current_[0] == '-'; }
  std::string value() {
    if (i_ + 1 >= argc_) fail_usage(current_ + " needs a value");
    return argv_[++i_];
  }
  [[noreturn]] void unknown() const { fail_usage("unknown flag '" + current_ + "'\n" + usage_); }

 private:
  int argc_;
  char** argv_;
  const char* usage_;
  int i_ = 0;
  std::string current_;
};

}  // namespace mc::bench
