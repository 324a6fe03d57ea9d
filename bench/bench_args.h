// Argument parsing shared by the bench programs (they take a few flags and no CLI11 dependency).
#pragma once

#include <cmath>
#include <cstdio>
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

}  // namespace mc::bench
