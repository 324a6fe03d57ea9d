// Typed pass options. Every option a pass takes is declared once, in its row of
// passes/pass_list.def: name, type, range or choices, default, one line of doc. A pipeline's option
// text ("quantize-int8<method=rtn;bits=4>") is checked against those declarations when the
// pipeline is parsed, before any pass runs, so a bad value is a usage error naming the pass and the
// option; passes read values already checked, with the declared default when the option was not
// given. The same declarations produce `--print-passes` and the pass list in `--help`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mc {

enum class OptionType {
  number,       // a decimal number within [min, max] (or [min, max) when max_open)
  integer,      // a whole number within [min, max]
  choice,       // one of `choices` ("gptq|rtn")
  flag,         // true or false (1 / 0; "key" alone means true)
  numbers,      // numbers joined by '+', each within the range ("8+6+4")
  layer_kinds,  // "all" or layer kinds joined by '+' (pointwise, depthwise, conv, fc)
};

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::number;
  std::string default_value;  // "" : no default (the option is absent unless given)
  double min = 0, max = 0;
  bool max_open = false;      // number / numbers: max itself is excluded
  std::string choices;        // choice: the values joined by '|'
  std::string doc;
  bool required = false;

  // "bits=B (2 to 8, default 8)": the option as --print-passes shows it.
  std::string usage() const;
};

// Declarations, used in passes/pass_list.def.
OptionSpec number_option(const std::string& name, double min, double max, const std::string& fallback, const std::string& doc);
OptionSpec fraction_option(const std::string& name, const std::string& fallback, const std::string& doc);  // [0, 1)
OptionSpec integer_option(const std::string& name, int64_t min, int64_t max, const std::string& fallback, const std::string& doc);
OptionSpec choice_option(const std::string& name, const std::string& choices, const std::string& fallback, const std::string& doc);
OptionSpec flag_option(const std::string& name, bool fallback, const std::string& doc);
OptionSpec numbers_option(const std::string& name, double min, double max, bool max_open, const std::string& fallback,
                          const std::string& doc);
OptionSpec layers_option(const std::string& fallback);
OptionSpec required(OptionSpec spec);

// A constraint between options of one pass, checked with the rest at parse time.
struct OptionRule {
  enum class Kind {
    exactly_one,  // exactly one of a, b is given
    less_than,    // a < b (integers, defaults included)
    needs,        // when a has the value `value`, b must be given
  } kind = Kind::exactly_one;
  std::string a, b, value;
};
OptionRule exactly_one_of(const std::string& a, const std::string& b);
OptionRule less_than(const std::string& a, const std::string& b);
OptionRule when_needs(const std::string& a, const std::string& value, const std::string& b);

// The options of one pass invocation, checked against its declarations.
class PassOptions {
 public:
  PassOptions() = default;
  // Parses "key=value;key=value" for pass `pass` against `specs` and `rules`; fails (usage error)
  // naming the pass and the option: unknown key, repeated key, bad type, out of range, not a
  // choice, a rule broken, a required option missing. `specs` must outlive the result.
  static PassOptions parse(const std::string& pass, const std::string& body, const std::vector<OptionSpec>& specs,
                           const std::vector<OptionRule>& rules);

  bool given(const std::string& key) const { return values_.count(key) != 0; }
  bool declares(const std::string& key) const;
  // Declared, and given or defaulted: reading it gives a value.
  bool has_value(const std::string& key) const;
  // Values, given or declared default. Reading an undeclared option, or one with no default that
  // was not given, is an internal error (the pass and its declaration disagree).
  double number(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  std::string text(const std::string& key) const;
  bool flag(const std::string& key) const;
  std::vector<double> numbers(const std::string& key) const;

  // The given options, key=value joined by ';' in key order (parses back to the same options).
  std::string text_form() const;
  const std::map<std::string, std::string>& given_values() const { return values_; }

 private:
  const OptionSpec& spec(const std::string& key) const;
  std::string value(const std::string& key) const;
  std::string pass_;
  const std::vector<OptionSpec>* specs_ = nullptr;
  std::map<std::string, std::string> values_;
};

}  // namespace mc
