#include "passes/pass_options.h"

#include <charconv>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "core/text.h"

namespace mc {

namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t next = text.find(sep, pos);
    out.push_back(text.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return out;
}

std::optional<double> to_number(const std::string& text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> to_integer(const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<bool> to_flag(const std::string& text) {
  if (text.empty() || text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return std::nullopt;
}

const char* const layer_kinds[] = {"pointwise", "depthwise", "conv", "fc"};

std::string range_text(const OptionSpec& s) {
  return format_number(s.min) + (s.max_open ? " <= x < " : " to ") + format_number(s.max);
}

bool in_range(const OptionSpec& s, double v) { return v >= s.min && (s.max_open ? v < s.max : v <= s.max); }

// Why `value` is not a valid value of `s`, or "" if it is.
std::string problem(const OptionSpec& s, const std::string& value) {
  switch (s.type) {
    case OptionType::number: {
      auto v = to_number(value);
      if (!v) return "needs a number";
      if (!in_range(s, *v)) return "must be " + (s.max_open ? "in [" + format_number(s.min) + ", " + format_number(s.max) + ")" : "from " + range_text(s));
      return "";
    }
    case OptionType::integer: {
      auto v = to_integer(value);
      if (!v) return "needs a whole number";
      if (!in_range(s, static_cast<double>(*v))) return "must be a whole number from " + range_text(s);
      return "";
    }
    case OptionType::choice:
      for (const auto& c : split(s.choices, '|'))
        if (c == value) return "";
      return "must be one of " + s.choices;
    case OptionType::flag:
      return to_flag(value) ? "" : "must be true or false";
    case OptionType::numbers:
      for (const auto& item : split(value, '+')) {
        auto v = to_number(item);
        if (!v) return "needs numbers joined by '+'";
        if (!in_range(s, *v)) return "values must be " + (s.max_open ? "in [" + format_number(s.min) + ", " + format_number(s.max) + ")" : "from " + range_text(s));
      }
      return "";
    case OptionType::layer_kinds:
      if (value == "all") return "";
      for (const auto& item : split(value, '+')) {
        bool known = false;
        for (const char* k : layer_kinds) known = known || item == k;
        if (!known) return "must be 'all' or layer kinds joined by '+' (pointwise, depthwise, conv, fc)";
      }
      return "";
  }
  return "";
}

OptionSpec make(const std::string& name, OptionType type, const std::string& fallback, const std::string& doc) {
  OptionSpec s;
  s.name = name;
  s.type = type;
  s.default_value = fallback;
  s.doc = doc;
  return s;
}

}  // namespace

std::string OptionSpec::usage() const {
  std::string what;
  switch (type) {
    case OptionType::number: what = max_open ? std::string("[") + format_number(min) + ", " + format_number(max) + ")" : range_text(*this); break;
    case OptionType::integer: what = range_text(*this); break;
    case OptionType::choice: what = choices; break;
    case OptionType::flag: what = "true|false"; break;
    case OptionType::numbers:
      what = "numbers joined by '+', each ";
      what += max_open ? std::string("in [") + format_number(min) + ", " + format_number(max) + ")" : range_text(*this);
      break;
    case OptionType::layer_kinds: what = "all, or pointwise+depthwise+conv+fc"; break;
  }
  std::string out = name + ": " + what;
  if (required) out += "; required";
  else if (!default_value.empty()) out += "; default " + default_value;
  return out + ". " + doc;
}

OptionSpec number_option(const std::string& name, double min, double max, const std::string& fallback, const std::string& doc) {
  OptionSpec s = make(name, OptionType::number, fallback, doc);
  s.min = min;
  s.max = max;
  return s;
}

OptionSpec fraction_option(const std::string& name, const std::string& fallback, const std::string& doc) {
  OptionSpec s = number_option(name, 0, 1, fallback, doc);
  s.max_open = true;
  return s;
}

OptionSpec integer_option(const std::string& name, int64_t min, int64_t max, const std::string& fallback, const std::string& doc) {
  OptionSpec s = make(name, OptionType::integer, fallback, doc);
  s.min = static_cast<double>(min);
  s.max = static_cast<double>(max);
  return s;
}

OptionSpec choice_option(const std::string& name, const std::string& choices, const std::string& fallback, const std::string& doc) {
  OptionSpec s = make(name, OptionType::choice, fallback, doc);
  s.choices = choices;
  return s;
}

OptionSpec flag_option(const std::string& name, bool fallback, const std::string& doc) {
  return make(name, OptionType::flag, fallback ? "true" : "false", doc);
}

OptionSpec numbers_option(const std::string& name, double min, double max, bool max_open, const std::string& fallback,
                          const std::string& doc) {
  OptionSpec s = make(name, OptionType::numbers, fallback, doc);
  s.min = min;
  s.max = max;
  s.max_open = max_open;
  return s;
}

OptionSpec layers_option(const std::string& fallback) {
  return make("layers", OptionType::layer_kinds, fallback, "which weighted layers the pass works on");
}

OptionSpec required(OptionSpec spec) {
  spec.required = true;
  spec.default_value.clear();
  return spec;
}

OptionRule exactly_one_of(const std::string& a, const std::string& b) { return {OptionRule::Kind::exactly_one, a, b, ""}; }
OptionRule less_than(const std::string& a, const std::string& b) { return {OptionRule::Kind::less_than, a, b, ""}; }
OptionRule when_needs(const std::string& a, const std::string& value, const std::string& b) {
  return {OptionRule::Kind::needs, a, b, value};
}

PassOptions PassOptions::parse(const std::string& pass, const std::string& body, const std::vector<OptionSpec>& specs,
                               const std::vector<OptionRule>& rules) {
  PassOptions o;
  o.pass_ = pass;
  o.specs_ = &specs;
  auto fail = [&](const std::string& what) { fail_usage("pass '" + pass + "': " + what); };
  auto options_list = [&] {
    std::string names;
    for (const auto& s : specs) names += (names.empty() ? "" : ", ") + s.name;
    return names.empty() ? std::string(" (it takes none)") : " (options: " + names + ")";
  };
  if (!body.empty()) {
    for (const auto& item : split(body, ';')) {
      const size_t eq = item.find('=');
      const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
      if (key.empty()) fail("empty option in '<" + body + ">'");
      if (!o.declares(key)) fail("unknown option '" + key + "'" + options_list());
      if (o.values_.count(key)) fail("option '" + key + "' is given twice");
      const std::string why = problem(o.spec(key), value);
      if (!why.empty()) fail("option '" + key + "=" + value + "' " + why);
      o.values_[key] = value;
    }
  }
  for (const auto& s : specs)
    if (s.required && !o.given(s.name)) fail("needs option '" + s.name + "' (" + s.usage() + ")");
  for (const auto& r : rules) {
    switch (r.kind) {
      case OptionRule::Kind::exactly_one:
        if (o.given(r.a) == o.given(r.b)) fail("needs exactly one of " + r.a + "=... or " + r.b + "=...");
        break;
      case OptionRule::Kind::less_than:
        if (!(o.integer(r.a) < o.integer(r.b)))
          fail("option " + r.a + "=" + std::to_string(o.integer(r.a)) + " must be less than " + r.b + "=" + std::to_string(o.integer(r.b)));
        break;
      case OptionRule::Kind::needs:
        if (o.text(r.a) == r.value && !o.given(r.b)) fail("option " + r.a + "=" + r.value + " needs " + r.b + "=...");
        break;
    }
  }
  return o;
}

bool PassOptions::declares(const std::string& key) const {
  if (!specs_) return false;
  for (const auto& s : *specs_)
    if (s.name == key) return true;
  return false;
}

bool PassOptions::has_value(const std::string& key) const { return declares(key) && (given(key) || !spec(key).default_value.empty()); }

const OptionSpec& PassOptions::spec(const std::string& key) const {
  if (specs_)
    for (const auto& s : *specs_)
      if (s.name == key) return s;
  fail_internal("pass '" + pass_ + "' reads option '" + key + "', which its registry row does not declare");
}

std::string PassOptions::value(const std::string& key) const {
  const OptionSpec& s = spec(key);
  auto it = values_.find(key);
  if (it != values_.end()) return it->second;
  if (s.default_value.empty()) fail_internal("pass '" + pass_ + "' reads option '" + key + "', which has no default and was not given");
  return s.default_value;
}

double PassOptions::number(const std::string& key) const { return *to_number(value(key)); }
int64_t PassOptions::integer(const std::string& key) const { return *to_integer(value(key)); }
std::string PassOptions::text(const std::string& key) const { return value(key); }
bool PassOptions::flag(const std::string& key) const { return *to_flag(value(key)); }

std::vector<double> PassOptions::numbers(const std::string& key) const {
  std::vector<double> out;
  for (const auto& item : split(value(key), '+')) out.push_back(*to_number(item));
  return out;
}

std::string PassOptions::text_form() const {
  std::string s;
  for (const auto& [k, v] : values_) s += (s.empty() ? "" : ";") + k + "=" + v;
  return s;
}

}  // namespace mc
