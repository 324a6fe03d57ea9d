// Argument parsing shared by the bench programs (they take a few flags and no CLI11 dependency).
#pragma once

#include <cmath>
#include <cstdio>
#include <exception>
#include <string>

#include "core/error.h"

namespace mc::bench {

// Parses a whole-string number in [lo, hi] (a whole number if `integer`); anything else is a usage
// error naming the flag.
inline double parse_number(const std::string& flag, const std::string& text, double lo, double hi, bool integer) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !(v >= lo && v <= hi) || (integer && std::trunc(v) != v)) {
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", lo, hi);
    fail_usage(flag + " expects " + (integer ? "an integer" : "a number") + " in " + range + ", got '" + text + "'");
  }
  return v;
}

}  // namespace mc::bench
