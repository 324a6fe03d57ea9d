#include "app/sweep.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "analysis/energy.h"
#include "analysis/paired_drop.h"
#include "analysis/report.h"
#include "analysis/statistics_cache.h"
#include "app/sweep_identity.h"
#include "app/sweep_resume.h"
#include "app/statistics_from_file.h"
#include "core/error.h"
#include "core/executor.h"
#include "core/text.h"
#include "formats/input_convention.h"
#include "formats/file_io.h"
#include "formats/labels.h"
#include "formats/mcz.h"

namespace mc {

namespace {

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

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Shared {
  const SweepSettings* o = nullptr;
  const SourceModel* source = nullptr;
  ImageConfig image;
  int64_t label_offset = -1;  // EvalOptions::label_offset
  CalibrationSample calibration;
  LabelledSet validation;  // empty without --val
  bool have_calibration = false;
  std::shared_ptr<StatisticsCache> cache;
  int threads_per_point = 1;
  EvalResult float_eval;
};

struct PointResult {
  SweepPoint point;
  int exit_code = 0;
  std::vector<std::byte> bytes;  // kept only with `keep`
};

PointResult run_point(const GridPoint& g, const Shared& s) {
  const SweepSettings& o = *s.o;
  PointResult r;
  r.point.recipe = g.recipe;
  r.point.budget = g.budget();
  const std::string out_name = o.keep.empty() ? point_file_name(g) : kept_path(o, g);
  // The command that reproduces this point's file byte for byte.
  std::string cmd = "mcompress compress " + shell_quote(o.file) + " -o " + shell_quote(out_name) + " --recipe " + shell_quote(g.recipe);
  if (!g.key.empty()) cmd += " --" + g.key + " " + g.value;
  const bool needs_calib = recipe_needs_calibration(g.recipe, g.options);
  if (needs_calib) cmd += " --calib " + shell_quote(o.calib) + " --calib-count " + std::to_string(o.calib_count) + " --seed " + std::to_string(o.seed);
  if (!o.preprocess.empty()) cmd += " --preprocess " + shell_quote(o.preprocess);
  cmd += " --eval-images " + shell_quote(o.eval_images);
  if (o.eval_limit) cmd += " --eval-limit " + std::to_string(o.eval_limit);
  if (!o.validation_dir.empty()) cmd += " --val " + shell_quote(o.validation_dir);
  if (o.confidence != 0.9) cmd += " --confidence " + format_number(o.confidence);
  r.point.command = cmd;
  try {
    RecipeOptions ro = g.options;
    ro.threads = s.threads_per_point;
    if (needs_calib) {
      ro.calibration = s.calibration.fit;
      ro.held_out = s.calibration.held_out;
      ro.statistics_cache = s.cache;
    }
    ro.confidence = o.confidence;
    ro.validation = s.validation.images;
    ro.validation_labels = s.validation.labels;
    CompressedModel compressed = run_recipe(g.recipe, s.source->model, ro);
    // The file exactly as `compress` with the point's command writes it, its top-1 measured on it.
    Provenance provenance = make_provenance(o.file, &s.source->file.bytes, s.source->count, o.preprocess, o.calib,
                                            needs_calib ? &s.calibration.fit : nullptr, &s.calibration.held_out, o.seed);
    provenance.source_external_bytes = model_file_bytes(s.source->file) - s.source->file.bytes.size();
    const EvalRequest eval{o.eval_images, o.eval_limit, s.image, s.label_offset, s.threads_per_point, {}};
    WrittenFile file = write_compressed_file(compressed, compressed_metadata(compressed, provenance), out_name, s.threads_per_point, &eval,
                                             &s.float_eval);
    r.point.top1 = file.after->top1;
    r.point.top5 = file.after->top5;
    McFile mcz = read_mcz(file.bytes, out_name);
    Report report = build_report(mcz, structure_of_mcz(mcz, out_name), EnergyTable::builtin(), out_name);
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
      r.bytes = std::move(file.bytes);
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

}  // namespace

std::string kept_path(const SweepSettings& o, const GridPoint& point) {
  return o.keep.empty() ? std::string() : (std::filesystem::path(o.keep) / point_file_name(point)).string();
}

std::vector<BudgetAxis> default_budgets() {
  // Recipes not listed run once at their defaults; entries for recipes not registered are ignored.
  return {{"hybrid", "ternary-fraction", {"0.1", "0.2", "0.3", "0.4"}}, {"hybrid", "max-drop", {"1"}}};
}

std::string point_file_name(const GridPoint& p) {
  std::string stem = std::filesystem::path(p.recipe).filename().string();
  if (!p.key.empty()) stem += "_" + p.key + "_" + p.value;
  return stem + ".mcz";
}

SweepGrid build_sweep_grid(const SweepSettings& o) {
  std::vector<std::string> rejected;
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
  if (valid.empty()) {
    std::string why;
    for (const auto& r : rejected) why += (why.empty() ? "" : "; ") + r;
    fail_usage("the sweep grid has no valid point (" + (why.empty() ? std::string("no recipes") : why) + ")");
  }
  return SweepGrid{std::move(valid), std::move(rejected)};
}

size_t SweepPlan::reused_count() const {
  size_t n = 0;
  for (size_t i : points) n += reused[i].has_value();
  return n;
}

SweepPlan plan_sweep(const SweepSettings& o, const SweepGrid& grid, const SourceModel& source) {
  SweepPlan plan;
  plan.points = shard_points(o.shard.value_or(ShardSpec{}), grid.points.size());
  plan.reused.resize(grid.points.size());
  plan.owned.assign(grid.points.size(), false);
  if (o.shard || !o.resume.empty()) plan.identity = sweep_identity(o, grid, source);
  if (o.resume.empty()) return plan;
  auto resume = std::make_shared<SweepResume>(o.resume, *plan.identity, o.warn);
  plan.reused_baseline = resume->baseline();
  for (size_t i : plan.points) {
    const GridPoint& g = grid.points[i];
    plan.reused[i] = resume->point(g, kept_path(o, g));
    plan.owned[i] = plan.reused[i].has_value() || resume->has_record(g);
  }
  plan.resume = std::move(resume);
  return plan;
}

SweepOutcome run_sweep(const SweepSettings& o, const SweepGrid& grid, const SourceModel& source, const SweepPlan& plan) {
  const InputConvention convention = parse_input_spec(o.preprocess);
  check_confidence(o.confidence, "--confidence");
  std::vector<size_t> to_run;
  for (size_t i : plan.points)
    if (!plan.reused[i]) to_run.push_back(i);
  Shared s;
  s.o = &o;
  s.source = &source;
  s.image = fit_image_config(convention, source.model, source.file.name);
  s.label_offset = convention.label_offset;
  auto stage = [&](const std::string& name) {
    return [&o, name](int64_t done, int64_t total) {
      if (o.progress) o.progress(name, done, total);
    };
  };
  bool any_calib = false;
  for (size_t i : to_run) any_calib = any_calib || recipe_needs_calibration(grid.points[i].recipe, grid.points[i].options);
  if (any_calib) {
    // As `compress`: half of the sample (at most 128 images) is held out for budget decisions.
    s.calibration = sample_calibration(o.calib, o.calib_count, 0, o.seed, s.image, source.model, o.warn);
    s.cache = o.stats_file.empty() ? std::make_shared<StatisticsCache>()
                                   : statistics_for_run(o.stats_file, StatisticsRun{&source.model, source.file.name, o.seed, o.calib_count,
                                                                                    &s.calibration.fit, &s.calibration.held_out});
  } else if (!o.stats_file.empty() && o.warn) {
    o.warn("--stats ignored: no point of the sweep needs calibration images");
  }
  if (!o.validation_dir.empty()) {
    check_labelled_folder(o.validation_dir, EvalOptions{});
    s.validation = labelled_set(o.validation_dir, s.image, source.model, label_offset_for(convention, model_classes(source.model)));
    if (any_calib) {
      const auto shared = shared_images(list_images(o.calib), s.validation.images.files);
      if (!shared.empty())
        fail_usage(std::to_string(shared.size()) + " images of --calib are also in --val (same content, e.g. " + shared.front() +
                   "): validation images must be disjoint from calibration images");
    }
  }
  const int total_threads = o.threads > 0 ? o.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int jobs = std::max(1, std::min<int>(o.jobs, static_cast<int>(std::max<size_t>(1, to_run.size()))));
  s.threads_per_point = std::max(1, total_threads / jobs);

  SweepOutcome out;
  SweepTable& table = out.table;
  if (plan.reused_baseline) {
    table = *plan.reused_baseline;
  } else {
    table.model = o.file;
    table.source_bytes = model_file_bytes(source.file);
    table.fp32_bytes = 4 * static_cast<uint64_t>(source.count.params);
    table.macs = source.count.macs;
    table.energy_pj_fp32 = static_cast<double>(source.count.macs) * fp32_mac_pj(EnergyTable::builtin());
    Executor exec(source.model, ExecutorOptions{total_threads, true});
    EvalOptions eo;
    eo.image = s.image;
    eo.label_offset = s.label_offset;
    eo.limit = o.eval_limit;
    const EvalResult float_eval = evaluate(exec, o.eval_images, eo, stage("eval (float)"));
    table.top1_float = float_eval.top1;
    table.top5_float = float_eval.top5;
    table.eval_images = float_eval.images;
    if (plan.resume) plan.resume->save_baseline(table);
  }
  s.float_eval.top1 = table.top1_float.value_or(0);
  s.float_eval.top5 = table.top5_float.value_or(0);
  s.float_eval.images = table.eval_images;

  std::vector<SweepPoint> rows(grid.points.size());
  for (size_t i : plan.points)
    if (plan.reused[i]) rows[i] = *plan.reused[i];
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex report_mutex;
  std::exception_ptr write_failure;
  size_t done = 0;
  auto worker = [&] {
    for (size_t k = next++; k < to_run.size() && !stop; k = next++) {
      const size_t i = to_run[k];
      PointResult r = run_point(grid.points[i], s);
      r.point.exit_code = r.exit_code;
      try {
        // The record first, then the kept file: a record whose file is missing is computed again,
        // and that file is then known to be this sweep's to replace.
        if (plan.resume) plan.resume->save_point(grid.points[i], r.point, r.bytes);
        if (!r.point.output.empty())
          write_binary_file(r.point.output, r.bytes, o.force || plan.owned[i] ? IfExists::replace : IfExists::fail);
      } catch (...) {
        std::lock_guard<std::mutex> lock(report_mutex);
        if (!write_failure) write_failure = std::current_exception();
        stop = true;
        return;
      }
      rows[i] = std::move(r.point);
      std::lock_guard<std::mutex> lock(report_mutex);
      ++done;
      if (o.point_done) o.point_done(done, to_run.size(), rows[i]);
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (write_failure) std::rethrow_exception(write_failure);

  for (size_t i : plan.points) {
    table.points.push_back(std::move(rows[i]));
    out.indices.push_back(i);
  }
  out.computed = to_run.size();
  out.reused = plan.points.size() - to_run.size();
  out.calibrated = s.cache != nullptr;
  out.statistics_computed = s.cache ? s.cache->computed() : 0;
  return out;
}

SweepPart sweep_part(const SweepSettings& o, const SweepPlan& plan, const SweepOutcome& outcome) {
  if (!plan.identity || !o.shard) fail_internal("sweep_part: not a sharded run");
  SweepPart part;
  part.shard = *o.shard;
  part.identity = *plan.identity;
  part.table = outcome.table;
  part.indices = outcome.indices;
  return part;
}

}  // namespace mc
