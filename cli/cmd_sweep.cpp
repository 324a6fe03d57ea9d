// mcompress sweep MODEL --calib DIR --eval-images DIR: compresses the model at every point of a grid
// of recipes and budgets (app/sweep.h), prints the table and writes it as CSV / JSON / HTML. With
// --shard K/N it computes one shard's points into a part file; --merge PART.json... turns the parts
// back into the table and page (docs/SHARDING.md).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <span>
#include <utility>

#include "analysis/html_report.h"
#include "analysis/sweep_merge.h"
#include "analysis/sweep_part.h"
#include "analysis/sweep_table.h"
#include "app/sweep.h"
#include "cli/common.h"
#include "cli/report_output.h"
#include "core/error.h"
#include "formats/file_io.h"

namespace mc::cli {

namespace {

struct SweepOptions {
  SweepSettings settings;
  std::vector<std::string> outputs;  // .csv / .json / "-"
  std::string html;
  std::string shard;                // --shard K/N ("" : the whole grid)
  std::vector<std::string> merge;   // --merge PART.json...
  bool force = false;
  InputFlags input;
  CommonOptions common;
};

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

// Prints the table (stdout unless an output takes it) and writes the CSV / JSON / HTML outputs: the
// same for an unsharded run and a merge, so both write the same bytes. The files are written as one
// output: all of them or none (formats/file_io.h write_binary_files).
void write_table_outputs(const SweepOptions& opts, const SweepTable& table) {
  const CommonOptions& common = opts.common;
  std::vector<std::pair<std::string, std::string>> texts;
  for (const auto& path : opts.outputs) {
    const bool json = path.size() >= 5 && path.substr(path.size() - 5) == ".json";
    texts.emplace_back(path, json ? to_json(table).dump(2) + "\n" : to_csv(table));
  }
  if (!opts.html.empty()) {
    HtmlReportInputs in;
    in.sweep = &table;
    texts.emplace_back(opts.html, render_html_report(in));
  }
  std::vector<std::pair<std::string, std::span<const std::byte>>> files;
  for (const auto& [path, text] : texts)
    if (path != "-") files.emplace_back(path, std::as_bytes(std::span<const char>(text.data(), text.size())));
  if (!files.empty()) write_binary_files(files, opts.force ? IfExists::replace : IfExists::fail);  // another run's output is not replaced
  for (const auto& [path, text] : texts)
    if (path == "-") write_text_file(path, text);
  const bool stdout_taken = std::find(opts.outputs.begin(), opts.outputs.end(), "-") != opts.outputs.end() || opts.html == "-";
  if (common.json) std::cout << to_json(table).dump(2) << "\n";
  else if (!stdout_taken && !(common.quiet && (!opts.outputs.empty() || !opts.html.empty()))) std::cout << text_table(table);
  size_t failures = 0;
  const SweepPoint* first = nullptr;
  for (const auto& p : table.points)
    if (!p.ok()) failures++, first = first ? first : &p;
  if (failures && !common.quiet)
    std::fprintf(stderr, "mcompress: warning: %zu of %zu sweep points failed (first: %s: %s)\n", failures, table.points.size(),
                 first->label().c_str(), first->error.c_str());
}

void check_stdout_writers(const SweepOptions& opts) {
  int stdout_writers = opts.common.json ? 1 : 0;
  for (const auto& path : opts.outputs) stdout_writers += path == "-";
  stdout_writers += opts.html == "-";
  if (stdout_writers > 1) fail_usage("more than one of --json, -o - and --html - write to stdout; choose one");
}

// mcompress sweep --merge PART.json... [-o OUT]... [--html OUT]
int run_merge(CLI::App* cmd, SweepOptions& opts) {
  // The grid and its settings are the shards': the parts carry them. Only where the results go is the merge's.
  const std::vector<std::string> merge_flags = {"--merge", "--output", "--html", "--force", "--json", "--quiet", "--threads", "--help"};
  for (const CLI::Option* opt : cmd->get_options()) {
    if (!opt->count()) continue;
    if (opt->get_lnames().empty()) fail_usage("--merge takes part files only: the model ('" + opts.settings.file + "') belongs to the shards' runs");
    const std::string flag = "--" + opt->get_lnames().front();
    if (std::find(merge_flags.begin(), merge_flags.end(), flag) == merge_flags.end())
      fail_usage("--merge: " + flag + " is a setting of the shards' runs (their parts record it), not of the merge");
  }
  check_stdout_writers(opts);
  for (const auto& path : opts.outputs) check_output_path(path, opts.force, opts.merge);
  if (!opts.html.empty()) check_output_path(opts.html, opts.force, opts.merge);
  std::vector<NamedPart> parts;
  for (const auto& path : opts.merge) {
    const std::string name = path == "-" ? std::string("<stdin>") : path;
    parts.push_back(NamedPart{name, read_sweep_part(read_binary_file(path), name)});
  }
  const SweepTable table = merge_sweep_parts(parts);
  write_table_outputs(opts, table);
  return 0;
}

int run_sweep(CLI::App* cmd, SweepOptions& opts) {
  if (!opts.merge.empty()) return run_merge(cmd, opts);
  SweepSettings& s = opts.settings;
  const CommonOptions& common = opts.common;
  if (s.file.empty()) fail_usage("sweep needs a MODEL to sweep (or --merge PART.json... to merge shards' parts)");
  if (s.eval_images.empty()) fail_usage("--eval-images is required: the labelled folder every point's top-1 is measured on");
  if (!opts.shard.empty()) {
    s.shard = parse_shard(opts.shard);
    if (opts.outputs.size() != 1 || !opts.html.empty() || common.json)
      fail_usage("--shard writes its part of the sweep to one file, -o PART.json; the table and the page come from "
                 "'mcompress sweep --merge PART.json... -o OUT --html OUT'");
    const std::string& part = opts.outputs.front();
    if (part != "-" && (part.size() < 5 || part.substr(part.size() - 5) != ".json"))
      fail_usage("--shard: the part is JSON: name it PART.json (-o " + part + ")");
  }
  check_stdout_writers(opts);
  for (const auto& path : opts.outputs) check_output_path(path, opts.force, {s.file});
  if (!opts.html.empty()) check_output_path(opts.html, opts.force, {s.file});
  if (!s.keep.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(s.keep, ec)) throw Error(ErrorKind::output, s.keep + ": --keep needs an existing directory");
  }
  s.preprocess = input_spec_with_flags("", opts.input);
  s.threads = common.threads;
  s.force = opts.force;
  const SweepGrid grid = build_sweep_grid(s);
  for (const auto& r : grid.rejected)
    if (!common.quiet) std::fprintf(stderr, "mcompress: warning: sweep point skipped: %s\n", r.c_str());

  s.warn = [&](const std::string& m) {
    if (!common.quiet) std::fprintf(stderr, "mcompress: warning: %s\n", m.c_str());
  };
  const SourceModel source = load_source_model(s.file);
  const SweepPlan plan = plan_sweep(s, grid, source);
  // A kept file that exists is replaced only with --force, or when it is this sweep's own (--resume
  // holds a record of its point: an interrupted run wrote it).
  if (!s.keep.empty())
    for (size_t i : plan.points)
      if (!plan.reused[i]) check_output_path(kept_path(s, grid.points[i]), opts.force || plan.owned[i]);
  if (!common.quiet) {
    if (s.shard)
      std::fprintf(stderr, "sweep: shard %s: %zu of the grid's %zu points\n", s.shard->label().c_str(), plan.points.size(), grid.points.size());
    if (!s.resume.empty())
      std::fprintf(stderr, "sweep: %zu of %zu points resumed from %s, %zu to compute\n", plan.reused_count(), plan.points.size(), s.resume.c_str(),
                   plan.points.size() - plan.reused_count());
  }
  if (plan.points.empty() && s.shard && !common.quiet)
    std::fprintf(stderr, "mcompress: warning: shard %s has no point (the grid has %zu): its part holds only the float baseline\n",
                 s.shard->label().c_str(), grid.points.size());

  StageProgress bars(common.quiet);
  s.progress = bars.callback();
  s.point_done = [&](size_t done, size_t total, const SweepPoint& p) {
    Progress& progress = bars.bar("sweep");
    if (!common.quiet) {
      progress.finish();
      if (p.ok())
        std::fprintf(stderr, "sweep: [%zu/%zu] %s: %s bytes, %s MULs, top-1 %.2f\n", done, total, p.label().c_str(),
                     with_commas(static_cast<int64_t>(p.bytes)).c_str(), with_commas(p.muls).c_str(), p.top1.value_or(0));
      else
        std::fprintf(stderr, "sweep: [%zu/%zu] %s: failed: %s\n", done, total, p.label().c_str(), p.error.c_str());
    }
    progress.update(static_cast<int64_t>(done), static_cast<int64_t>(total));
  };

  SweepOutcome out = run_sweep(s, grid, source, plan);
  bars.finish();
  if (out.calibrated && !common.quiet)
    std::fprintf(stderr, "sweep: calibration statistics computed %lld time(s), shared by the points whose model matched\n",
                 static_cast<long long>(out.statistics_computed));
  if (s.shard) {
    const SweepPart part = sweep_part(s, plan, out);
    write_text_file(opts.outputs.front(), part_to_json(part).dump(2) + "\n", opts.force ? IfExists::replace : IfExists::fail);
    size_t failures = 0;
    for (const auto& p : out.table.points) failures += !p.ok();
    if (failures && !common.quiet)
      std::fprintf(stderr, "mcompress: warning: %zu of shard %s's %zu points failed (their rows carry the error)\n", failures,
                   s.shard->label().c_str(), out.table.points.size());
    return 0;
  }
  finish_sweep_table(out.table);
  write_table_outputs(opts, out.table);
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
      "Shards: --shard K/N computes only the grid points i (counted from 0 in the order above) with i mod N = K - 1,\n"
      "and writes their rows, the float model's and what identifies the sweep (model content, settings, grid,\n"
      "version) to -o PART.json. Run the N shards anywhere with the same flags, then 'sweep --merge' the N parts:\n"
      "it writes exactly the table and page an unsharded run writes (-o, --html, --json), Pareto marks computed on\n"
      "the whole grid. A missing or duplicate shard, or a part of another sweep, is an error naming the part (exit 3).\n\n"
      "Resume: --resume DIR records each point in DIR as it completes (and its kept file, with --keep). A sweep or\n"
      "shard interrupted (Ctrl-C, killed) and run again with the same flags and DIR computes only the points it has\n"
      "no record of; the table, page and part are written only once every point is in, each file complete or absent.\n\n"
      "Examples:\n"
      "  mcompress sweep model.onnx --calib DIR --eval-images DIR --preprocess keras -o sweep.csv -o sweep.json\n"
      "  mcompress sweep model.onnx --calib DIR --eval-images DIR --preprocess keras --recipes int8,hybrid \\\n"
      "      --budgets hybrid:ternary-fraction=0.1,0.3 --jobs 2 --html sweep.html\n"
      "  mcompress report best.mcz --html report.html --sweep sweep.json\n"
      "  parallel mcompress sweep model.onnx --calib DIR --eval-images DIR --preprocess keras \\\n"
      "      --shard {}/3 --resume state -o part{}.json ::: 1 2 3\n"
      "  mcompress sweep --merge part1.json part2.json part3.json -o sweep.csv --html sweep.html");
  SweepSettings& st = o->settings;
  cmd->add_option("file", st.file, "ONNX model (not with --merge)");
  cmd->add_option("--calib", st.calib, "Calibration images (JPEG or .npy; no labels needed)")->type_name("DIR");
  cmd->add_option("--calib-count", st.calib_count, "Calibration images to sample")->check(CLI::Range(int64_t{2}, int64_t{1} << 30))->default_val(256);
  cmd->add_option("--seed", st.seed, "Seed of the calibration sample")->default_val(0);
  cmd->add_option("--stats", st.stats_file, "Calibration statistics from 'mcompress calibrate' (as compress --stats)")->type_name("FILE");
  cmd->add_option("--eval-images", st.eval_images, "Labelled folder (labels.tsv) on which every point's top-1 is measured (required)")
      ->type_name("DIR");
  cmd->add_option("--eval-limit", st.eval_limit, "Evaluate only the first N labelled images")->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  add_input_options(cmd, o->input, " (as compress; stored in every point's file)");
  cmd->add_option("--val", st.validation_dir, "Labelled images every --max-drop decision is made on (as compress --val)")->type_name("DIR");
  cmd->add_option("--confidence", st.confidence, "Confidence of --max-drop decisions, in (0.5, 1)")->default_val(0.9)->type_name("C");
  cmd->add_option("--recipes", st.recipes, "Recipes to sweep, comma-separated (default: all)")->delimiter(',')->type_name("LIST");
  cmd->add_option("--budgets", st.budgets, "A budget axis RECIPE:BUDGET=V1,V2,... (repeatable)")->type_name("SPEC");
  cmd->add_option("-o,--output", o->outputs, "Write the table: JSON if FILE ends in .json, else CSV; '-' stdout (repeatable; with --shard: the part)")
      ->type_name("FILE");
  cmd->add_option("--html", o->html, "Write an HTML page with the Pareto plots and the table")->type_name("OUT.html");
  cmd->add_option("--keep", st.keep, "Keep every point's .mcz in this existing directory")->type_name("DIR");
  cmd->add_option("--shard", o->shard, "Compute only shard K of N of the grid and write it as a part: -o PART.json")->type_name("K/N");
  cmd->add_option("--resume", st.resume, "Record each finished point in DIR; a rerun with the same DIR computes only the missing ones")
      ->type_name("DIR");
  cmd->add_option("--merge", o->merge, "Merge the parts of every shard into the table and page an unsharded run writes")
      ->type_name("PART.json");
  cmd->add_option("-j,--jobs", st.jobs, "Points compressed at once")->check(CLI::Range(1, 256))->default_val(1)->type_name("N");
  cmd->add_flag("-f,--force", o->force, "Overwrite existing output files");
  add_common_options(cmd, o->common);
  return {cmd, [o, cmd] { return run_sweep(cmd, *o); }};
}

}  // namespace mc::cli
