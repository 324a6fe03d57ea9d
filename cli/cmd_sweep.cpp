// mcompress sweep MODEL --calib DIR --eval-images DIR: compresses the model at every point of a grid
// of recipes and budgets, measures each point (size, operations, energy, top-1) and marks the
// Pareto-optimal ones. Points run in parallel (--jobs); the table's order and bytes do not depend on it.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "analysis/energy.h"
#include "analysis/eval.h"
#include "analysis/html_report.h"
#include "analysis/op_count.h"
#include "analysis/report.h"
#include "analysis/statistics_cache.h"
#include "analysis/sweep_table.h"
#include "cli/common.h"
#include "app/compressed_file.h"
#include "cli/report_output.h"
#include "core/error.h"
#include "core/executor.h"
#include "formats/file_io.h"
#include "formats/image.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"
#include "formats/qdq_export.h"
#include "passes/recipe.h"

namespace mc::cli {

namespace {

struct SweepOptions {
  std::string file;
  std::string calib, eval_images, preprocess;
  std::vector<std::string> recipes;  // empty: every registered recipe
  std::vector<std::string> budgets;  // "recipe:key=v1,v2"
  std::vector<std::string> outputs;  // .csv / .json / "-"
  std::string html, keep;
  int64_t calib_count = 256, eval_limit = 0;
  uint64_t seed = 0;
  int jobs = 1;
  bool force = false;
  CommonOptions common;
};

// Budget flags a sweep point may set, and where they go in RecipeOptions. A recipe registered later
// with a new budget flag adds one line here (and, to be swept by default, one in default_budgets).
const char* const budget_keys[] = {"max-drop", "ternary-fraction", "ternary-terms"};

void apply_budget(RecipeOptions& ro, const std::string& key, double value) {
  if (key == "max-drop") ro.max_drop = value;
  else if (key == "ternary-fraction") ro.ternary_fraction = value;
  else if (key == "ternary-terms") {
    if (!(value >= 0 && value <= 64) || value != std::floor(value))
      fail_usage("--budgets: ternary-terms must be a small whole number (the recipe takes 1, 2 or 3)");
    ro.ternary_terms = static_cast<int>(value);
  } else {
    std::string known;
    for (const char* k : budget_keys) known += (known.empty() ? "" : ", ") + std::string(k);
    fail_usage("--budgets: unknown budget '" + key + "' (known: " + known + ")");
  }
}

struct BudgetAxis {
  std::string recipe, key;
  std::vector<std::string> values;  // as written, so the CSV and the command say what the user said
};

// What the default grid sweeps for recipes that take a budget; recipes not listed run once at their
// defaults. Entries for recipes that are not registered are ignored.
std::vector<BudgetAxis> default_budgets() {
  return {{"hybrid", "ternary-fraction", {"0.1", "0.2", "0.3", "0.4"}}, {"hybrid", "max-drop", {"1"}}};
}

double parse_budget_value(const std::string& text, const std::string& spec) {
  const std::optional<double> v = parse_double(text);
  if (!v) fail_usage("--budgets '" + spec + "': '" + text + "' is not a number");
  return *v;
}

// "hybrid:ternary-fraction=0.1,0.2" -> {hybrid, ternary-fraction, [0.1, 0.2]}.
BudgetAxis parse_budget_axis(const std::string& spec) {
  size_t colon = spec.find(':'), eq = spec.find('=');
  if (colon == std::string::npos || eq == std::string::npos || eq < colon || colon == 0 || eq == colon + 1 || eq + 1 == spec.size())
    fail_usage("--budgets '" + spec + "': expected RECIPE:BUDGET=V1,V2,... (e.g. hybrid:ternary-fraction=0.1,0.2)");
  BudgetAxis axis{spec.substr(0, colon), spec.substr(colon + 1, eq - colon - 1), {}};
  std::string rest = spec.substr(eq + 1);
  size_t start = 0;
  while (true) {
    size_t comma = rest.find(',', start);
    std::string v = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    parse_budget_value(v, spec);
    axis.values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  RecipeOptions probe;
  apply_budget(probe, axis.key, 0);  // unknown keys fail here, before any work
  return axis;
}

struct GridPoint {
  std::string recipe, key, value;  // key empty: the recipe's defaults
  RecipeOptions options;
  std::string budget() const { return key.empty() ? "" : key + "=" + value; }
};

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string point_file_name(const GridPoint& p) {
  std::string stem = std::filesystem::path(p.recipe).filename().string();
  if (!p.key.empty()) stem += "_" + p.key + "_" + p.value;
  return stem + ".mcz";
}

struct Shared {
  const SweepOptions* o = nullptr;
  const Model* model = nullptr;
  const std::vector<std::byte>* source = nullptr;
  OpCount count;
  ImageConfig image;
  CalibrationSet calibration, held_out;
  bool have_calibration = false;
  std::shared_ptr<StatisticsCache> cache;
  int threads_per_point = 1;
  EvalResult float_eval;
};

struct PointResult {
  SweepPoint point;
  int exit_code = 0;
  std::vector<std::byte> bytes;  // kept only with --keep
};

PointResult run_point(const GridPoint& g, const Shared& s) {
  const SweepOptions& o = *s.o;
  PointResult r;
  r.point.recipe = g.recipe;
  r.point.budget = g.budget();
  std::string out_name = o.keep.empty() ? point_file_name(g) : (std::filesystem::path(o.keep) / point_file_name(g)).string();
  // The command that reproduces this point's file byte for byte.
  std::string cmd = "mcompress compress " + shell_quote(o.file) + " -o " + shell_quote(out_name) + " --recipe " + shell_quote(g.recipe);
  if (!g.key.empty()) cmd += " --" + g.key + " " + g.value;
  const bool needs_calib = recipe_needs_calibration(g.recipe, g.options);
  if (needs_calib) cmd += " --calib " + shell_quote(o.calib) + " --calib-count " + std::to_string(o.calib_count) + " --seed " + std::to_string(o.seed);
  cmd += " --preprocess " + o.preprocess + " --eval-images " + shell_quote(o.eval_images);
  if (o.eval_limit) cmd += " --eval-limit " + std::to_string(o.eval_limit);
  r.point.command = cmd;
  try {
    RecipeOptions ro = g.options;
    ro.threads = s.threads_per_point;
    if (needs_calib) {
      ro.calibration = s.calibration;
      ro.held_out = s.held_out;
      ro.statistics_cache = s.cache;
    }
    CompressedModel compressed = run_recipe(g.recipe, *s.model, ro);
    const Model to_run = model_to_run(compressed.model, compressed.encoded);
    Executor exec(to_run, ExecutorOptions{s.threads_per_point, true});
    EvalOptions eo;
    eo.image = s.image;
    eo.limit = o.eval_limit;
    EvalResult after = evaluate(exec, o.eval_images, eo);
    r.point.top1 = after.top1;
    r.point.top5 = after.top5;

    // The file exactly as `compress` with the point's command writes it.
    Provenance provenance = make_provenance(o.file, s.source, s.count, o.preprocess, o.calib,
                                            needs_calib ? &s.calibration : nullptr, &s.held_out, o.seed);
    provenance.accuracy = accuracy_json(s.float_eval, after);
    std::vector<std::byte> bytes =
        assemble_with_report(compressed, compressed_metadata(compressed, provenance), out_name, s.threads_per_point);
    McFile file = read_mcz(bytes, out_name);
    Report report = build_report(file, structure_of_mcz(file, out_name), EnergyTable::builtin(), out_name);
    r.point.bytes = report.bytes;
    r.point.compression_ratio = report.compression_ratio();
    r.point.muls = report.ops.muls();
    r.point.adds = report.ops.adds();
    r.point.fp32_macs = report.ops.fp32_macs;
    r.point.int8_macs = report.ops.int8_macs;
    r.point.ternary_adds = report.ops.ternary_adds();
    r.point.energy_pj = report.energy_pj;
    if (!o.keep.empty()) {
      r.point.output = out_name;
      r.bytes = std::move(bytes);
    }
    return r;
  } catch (const Error& e) {
    r.point.error = e.what();
    r.exit_code = e.exit_code();
  } catch (const std::bad_alloc&) {
    r.point.error = "out of memory";
    r.exit_code = 1;
  } catch (const std::exception& e) {
    r.point.error = std::string("internal error: ") + e.what();
    r.exit_code = 1;
  }
  return r;
}


// Every grid point in order: recipes in --recipes order (default: registration order), each at its
// budget values (--budgets for that recipe, else the default axes), else once at its defaults.
std::vector<GridPoint> build_grid(const SweepOptions& o, std::vector<std::string>& rejected) {
  const std::vector<std::string> registered = recipe_names();
  std::vector<std::string> recipes = o.recipes.empty() ? registered : o.recipes;
  for (const auto& r : recipes)
    if (std::find(registered.begin(), registered.end(), r) == registered.end()) {
      std::string valid;
      for (const auto& n : registered) valid += (valid.empty() ? "" : ", ") + n;
      fail_usage("--recipes: unknown recipe '" + r + "' (valid: " + valid + ")");
    }
  std::vector<BudgetAxis> axes;
  for (const auto& spec : o.budgets) axes.push_back(parse_budget_axis(spec));
  for (const auto& a : axes)
    if (std::find(recipes.begin(), recipes.end(), a.recipe) == recipes.end())
      fail_usage("--budgets '" + a.recipe + ":" + a.key + "=...': recipe '" + a.recipe + "' is not in the sweep (--recipes)");
  std::vector<GridPoint> grid;
  for (const auto& recipe : recipes) {
    std::vector<BudgetAxis> mine;
    for (const auto& a : axes)
      if (a.recipe == recipe) mine.push_back(a);
    if (mine.empty())
      for (const auto& a : default_budgets())
        if (a.recipe == recipe) mine.push_back(a);
    if (mine.empty()) grid.push_back(GridPoint{recipe, "", "", {}});
    for (const auto& a : mine)
      for (const auto& v : a.values) {
        GridPoint g{recipe, a.key, v, {}};
        for (const auto& other : grid)
          if (other.recipe == g.recipe && other.key == g.key && other.value == g.value)
            fail_usage("--budgets: the point " + recipe + " " + g.budget() + " is listed twice");
        apply_budget(g.options, a.key, parse_budget_value(v, a.recipe + ":" + a.key));
        grid.push_back(g);
      }
  }
  // A point the recipe refuses (a budget it does not take, a value out of range, no --calib for a
  // recipe that needs it) is dropped with a warning; a grid with no valid point is a usage error.
  std::vector<GridPoint> valid;
  for (auto& g : grid) {
    try {
      recipe_pipeline(g.recipe, g.options);
      if (recipe_needs_calibration(g.recipe, g.options) && o.calib.empty()) fail_usage("needs calibration images (--calib DIR)");
      valid.push_back(g);
    } catch (const Error& e) {
      rejected.push_back(g.recipe + (g.key.empty() ? "" : " " + g.budget()) + ": " + e.what());
    }
  }
  return valid;
}

std::string text_table(const SweepTable& t) {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-34s %12s %8s %14s %14s %12s %7s %7s  %s\n", "point", "bytes", "vs fp32", "MULs", "ADDs", "energy uJ",
                "top-1", "change", "Pareto");
  out += buf;
  for (const auto& p : t.points) {
    if (!p.ok()) {
      std::snprintf(buf, sizeof buf, "%-34s failed: %s\n", p.label().c_str(), p.error.c_str());
      out += buf;
      continue;
    }
    std::string pareto = std::string(p.pareto_size ? "size" : "") + (p.pareto_size && p.pareto_muls ? "+" : "") + (p.pareto_muls ? "MULs" : "");
    std::snprintf(buf, sizeof buf, "%-34s %12s %7.2fx %14s %14s %12.2f %7.2f %+7.2f  %s\n", p.label().c_str(),
                  with_commas(static_cast<int64_t>(p.bytes)).c_str(), p.compression_ratio, with_commas(p.muls).c_str(),
                  with_commas(p.adds).c_str(), p.energy_pj / 1e6, p.top1.value_or(0), p.top1.value_or(0) - t.top1_float.value_or(0),
                  pareto.c_str());
    out += buf;
  }
  if (t.top1_float) {
    std::snprintf(buf, sizeof buf, "float model: %s fp32 bytes, %s MULs, %.2f uJ, top-1 %.2f on %lld images\n",
                  with_commas(static_cast<int64_t>(t.fp32_bytes)).c_str(), with_commas(t.macs).c_str(), t.energy_pj_fp32 / 1e6, *t.top1_float,
                  static_cast<long long>(t.eval_images));
    out += buf;
  }
  return out;
}

int run_sweep(const SweepOptions& o) {
  int stdout_writers = o.common.json ? 1 : 0;
  for (const auto& path : o.outputs) stdout_writers += path == "-";
  stdout_writers += o.html == "-";
  if (stdout_writers > 1) fail_usage("more than one of --json, -o - and --html - write to stdout; choose one");
  for (const auto& path : o.outputs) check_output_path(path, o.force);
  if (!o.html.empty()) check_output_path(o.html, o.force);
  if (!o.keep.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(o.keep, ec)) throw Error(ErrorKind::output, o.keep + ": --keep needs an existing directory");
  }
  if (o.preprocess.empty()) fail_usage("--preprocess is required (keras or torch)");
  std::vector<std::string> rejected;
  std::vector<GridPoint> grid = build_grid(o, rejected);
  if (grid.empty()) {
    std::string why;
    for (const auto& r : rejected) why += (why.empty() ? "" : "; ") + r;
    fail_usage("the sweep grid has no valid point (" + (why.empty() ? std::string("no recipes") : why) + ")");
  }
  for (const auto& r : rejected)
    if (!o.common.quiet) std::fprintf(stderr, "mcompress: warning: sweep point skipped: %s\n", r.c_str());
  if (!o.keep.empty())
    for (const auto& g : grid) check_output_path((std::filesystem::path(o.keep) / point_file_name(g)).string(), o.force);

  auto source = read_binary_file(o.file);
  Model model = parse_onnx(source, o.file);
  Shared s;
  s.o = &o;
  s.model = &model;
  s.source = &source;
  s.count = count_ops(model);
  s.image.preprocess = parse_preprocess(o.preprocess);
  bool any_calib = false;
  for (const auto& g : grid) any_calib = any_calib || recipe_needs_calibration(g.recipe, g.options);
  if (any_calib) {
    CalibrationSet all = calibration_set(o.calib, o.calib_count, o.seed, s.image, model, [&](const std::string& m) {
      if (!o.common.quiet) std::fprintf(stderr, "mcompress: warning: %s\n", m.c_str());
    });
    // As `compress`: half of the sample (at most 128 images) is held out for budget decisions.
    int64_t held = std::min<int64_t>(128, static_cast<int64_t>(all.files.size()) / 2);
    if (held >= 1 && held < static_cast<int64_t>(all.files.size())) std::tie(s.calibration, s.held_out) = split_held_out(all, held);
    else s.calibration = all;
    s.cache = std::make_shared<StatisticsCache>();
  }
  const int total_threads = o.common.threads > 0 ? o.common.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int jobs = std::max(1, std::min<int>(o.jobs, static_cast<int>(grid.size())));
  s.threads_per_point = std::max(1, total_threads / jobs);
  {
    Executor exec(model, ExecutorOptions{total_threads, true});
    EvalOptions eo;
    eo.image = s.image;
    eo.limit = o.eval_limit;
    Progress progress("eval (float)", o.common.quiet);
    s.float_eval = evaluate(exec, o.eval_images, eo, [&](int64_t d, int64_t t) { progress.update(d, t); });
  }

  std::vector<PointResult> results(grid.size());
  std::atomic<size_t> next{0};
  std::mutex report_mutex;
  size_t done = 0;
  Progress progress("sweep", o.common.quiet);
  progress.update(0, static_cast<int64_t>(grid.size()));
  auto worker = [&] {
    for (size_t i = next++; i < grid.size(); i = next++) {
      results[i] = run_point(grid[i], s);
      std::lock_guard<std::mutex> lock(report_mutex);
      ++done;
      const SweepPoint& p = results[i].point;
      if (!o.common.quiet) {
        progress.finish();
        if (p.ok())
          std::fprintf(stderr, "sweep: [%zu/%zu] %s: %s bytes, %s MULs, top-1 %.2f\n", done, grid.size(), p.label().c_str(),
                       with_commas(static_cast<int64_t>(p.bytes)).c_str(), with_commas(p.muls).c_str(), p.top1.value_or(0));
        else
          std::fprintf(stderr, "sweep: [%zu/%zu] %s: failed: %s\n", done, grid.size(), p.label().c_str(), p.error.c_str());
      }
      progress.update(static_cast<int64_t>(done), static_cast<int64_t>(grid.size()));
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  progress.finish();

  SweepTable table;
  table.model = o.file;
  table.source_bytes = source.size();
  table.fp32_bytes = 4 * static_cast<uint64_t>(s.count.params);
  table.macs = s.count.macs;
  table.energy_pj_fp32 = static_cast<double>(s.count.macs) * fp32_mac_pj(EnergyTable::builtin());
  table.top1_float = s.float_eval.top1;
  table.top5_float = s.float_eval.top5;
  table.eval_images = s.float_eval.images;
  int first_failure = 0;
  std::string first_error;
  size_t failures = 0;
  for (auto& r : results) {
    table.points.push_back(r.point);
    if (!r.point.ok()) {
      ++failures;
      if (!first_failure) first_failure = r.exit_code, first_error = r.point.label() + ": " + r.point.error;
    }
  }
  // Nothing is written when no point ran: a table of failures is an error, not a result.
  if (failures == results.size())
    throw Error(static_cast<ErrorKind>(first_failure), "every sweep point failed (first: " + first_error + ")");
  mark_pareto(table);

  if (!o.keep.empty())
    for (const auto& r : results)
      if (!r.point.output.empty()) write_binary_file(r.point.output, r.bytes);
  for (const auto& path : o.outputs) {
    const bool json = path.size() >= 5 && path.substr(path.size() - 5) == ".json";
    write_text_file(path, json ? to_json(table).dump(2) + "\n" : to_csv(table));
  }
  if (!o.html.empty()) {
    HtmlReportInputs in;
    in.sweep = &table;
    write_text_file(o.html, render_html_report(in));
  }
  const bool stdout_taken = std::find(o.outputs.begin(), o.outputs.end(), "-") != o.outputs.end() || o.html == "-";
  if (o.common.json) std::cout << to_json(table).dump(2) << "\n";
  else if (!stdout_taken && !(o.common.quiet && (!o.outputs.empty() || !o.html.empty()))) std::cout << text_table(table);
  if (s.cache && !o.common.quiet)
    std::fprintf(stderr, "sweep: calibration statistics computed %lld time(s), shared by the points whose model matched\n",
                 static_cast<long long>(s.cache->computed()));
  if (failures && !o.common.quiet)
    std::fprintf(stderr, "mcompress: warning: %zu of %zu sweep points failed (first: %s)\n", failures, results.size(), first_error.c_str());
  return 0;
}

}  // namespace

Command add_sweep_command(CLI::App& root) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* cmd = root.add_subcommand("sweep", "Compress at every point of a grid of recipes and budgets; mark the Pareto front");
  std::string defaults;
  for (const auto& a : default_budgets()) {
    std::string values;
    for (const auto& v : a.values) values += (values.empty() ? "" : ",") + v;
    defaults += "  " + a.recipe + ":" + a.key + "=" + values + "\n";
  }
  cmd->footer(
      "Each point is compressed exactly as 'mcompress compress' would (the CSV/JSON column 'command' reproduces its\n"
      "file byte for byte) and measured: .mcz bytes, compression ratio vs fp32, MULs, ADDs and compute energy per\n"
      "image, top-1 / top-5 on --eval-images. A point is Pareto-optimal when no other point is as small (as few\n"
      "MULs) with at least its top-1; both fronts are marked (pareto_size, pareto_muls).\n\n"
      "The grid: every recipe of --recipes (default: all) once at its defaults, or at each value of its budget\n"
      "axes. Default axes:\n" + defaults +
      "--budgets RECIPE:BUDGET=V1,V2,... replaces a recipe's default axes (repeat it for several axes). Points a\n"
      "recipe refuses are skipped with a warning; a grid with no valid point is a usage error (exit 2). Points that\n"
      "fail while running are rows with status 'failed'; if every point fails, nothing is written and the exit code\n"
      "is the first failure's.\n\n"
      "The calibration statistics are computed once and shared by every point whose model is the same when they are\n"
      "needed. --jobs N runs N points at once, each with --threads / N threads; the results do not depend on N.\n\n"
      "Examples:\n"
      "  mcompress sweep model.onnx --calib DIR --eval-images DIR --preprocess keras -o sweep.csv -o sweep.json\n"
      "  mcompress sweep model.onnx --calib DIR --eval-images DIR --preprocess keras --recipes int8,hybrid \\\n"
      "      --budgets hybrid:ternary-fraction=0.1,0.3 --jobs 2 --html sweep.html\n"
      "  mcompress report best.mcz --html report.html --sweep sweep.json");
  cmd->add_option("file", o->file, "ONNX model")->required();
  cmd->add_option("--calib", o->calib, "Calibration images (JPEG or .npy; no labels needed)")->type_name("DIR");
  cmd->add_option("--calib-count", o->calib_count, "Calibration images to sample")->check(CLI::Range(int64_t{2}, int64_t{1} << 30))->default_val(256);
  cmd->add_option("--seed", o->seed, "Seed of the calibration sample")->default_val(0);
  cmd->add_option("--eval-images", o->eval_images, "Labelled folder (labels.tsv) on which every point's top-1 is measured")
      ->required()
      ->type_name("DIR");
  cmd->add_option("--eval-limit", o->eval_limit, "Evaluate only the first N labelled images")->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--preprocess", o->preprocess, "The model's input normalization (keras or torch)")->check(CLI::IsMember({"keras", "torch"}));
  cmd->add_option("--recipes", o->recipes, "Recipes to sweep, comma-separated (default: all)")->delimiter(',')->type_name("LIST");
  cmd->add_option("--budgets", o->budgets, "A budget axis RECIPE:BUDGET=V1,V2,... (repeatable)")->type_name("SPEC");
  cmd->add_option("-o,--output", o->outputs, "Write the table: JSON if FILE ends in .json, else CSV; '-' stdout (repeatable)")
      ->type_name("FILE");
  cmd->add_option("--html", o->html, "Write an HTML page with the Pareto plots and the table")->type_name("OUT.html");
  cmd->add_option("--keep", o->keep, "Keep every point's .mcz in this existing directory")->type_name("DIR");
  cmd->add_option("-j,--jobs", o->jobs, "Points compressed at once")->check(CLI::Range(1, 256))->default_val(1)->type_name("N");
  cmd->add_flag("-f,--force", o->force, "Overwrite existing output files");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_sweep(*o); }};
}

}  // namespace mc::cli
