// mcompress report FILE.mcz: the size / operations / energy / accuracy report of a compressed model.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "analysis/report.h"
#include "cli/common.h"
#include "cli/report_output.h"
#include "core/error.h"
#include "formats/file_io.h"
#include "formats/mcz.h"

namespace mc::cli {

namespace {

struct ReportOptions {
  std::string file;
  std::string energy_table;
  std::string output;
  std::string html;
  std::string sweep;
  bool force = false;
  CommonOptions common;
};

int run_report(const ReportOptions& o) {
  if (o.common.json && o.output == "-") fail_usage("--json and -o - both write the JSON report to stdout; choose one");
  if (!o.output.empty()) check_output_path(o.output, o.force);
  if (!o.html.empty()) {
    if (o.html == "-" && (o.common.json || o.output == "-")) fail_usage("--html - and the JSON report both write to stdout; choose one");
    check_output_path(o.html, o.force);
  }
  if (!o.sweep.empty() && o.html.empty()) fail_usage("--sweep adds the Pareto plots to the HTML report: give --html FILE too");
  std::optional<SweepTable> sweep;
  if (!o.sweep.empty()) {
    auto sweep_bytes = read_binary_file(o.sweep);
    nlohmann::ordered_json sj = nlohmann::ordered_json::parse(reinterpret_cast<const char*>(sweep_bytes.data()),
                                                              reinterpret_cast<const char*>(sweep_bytes.data()) + sweep_bytes.size(), nullptr, false);
    if (sj.is_discarded()) fail_input(o.sweep + ": not valid JSON (expected the output of 'mcompress sweep --json' or 'sweep -o FILE.json')");
    sweep = sweep_from_json(sj, o.sweep);
  }
  // The table first: a bad --energy-table fails before the model is read.
  EnergyTable table = o.energy_table.empty() ? EnergyTable::builtin() : EnergyTable::load(o.energy_table);
  auto bytes = read_binary_file(o.file);
  const std::string name = o.file == "-" ? "<stdin>" : o.file;
  if (!looks_like_mcz(bytes))
    fail_input(name + ": not a .mcz file (report describes a compressed model: run 'mcompress compress' first; "
                      "'mcompress info' describes an ONNX model)");
  McFile file = read_mcz(bytes, name);
  Model structure = structure_of_mcz(file, name);
  Report report = build_report(file, structure, table, name);
  nlohmann::ordered_json j = to_json(report);
  const IfExists if_exists = o.force ? IfExists::replace : IfExists::fail;  // another run's output is not replaced
  if (!o.html.empty()) {
    HtmlReportInputs in;
    in.report = &report;
    in.sensitivity = sensitivity_from_metadata(file.metadata, name);
    in.sweep = sweep ? &*sweep : nullptr;
    write_text_file(o.html, render_html_report(in), if_exists);
  }
  if (!o.output.empty()) {
    std::string text = j.dump(2) + "\n";
    write_binary_file(o.output, std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()), if_exists);
  }
  if (o.common.json) std::cout << j.dump(2) << "\n";
  else if (o.output != "-" && o.html != "-" && !(o.common.quiet && (!o.output.empty() || !o.html.empty()))) std::cout << to_text(report);
  return 0;
}

// "(pJ per operation: fp32 add 0.9, mult 3.7; ...)" from the built-in table itself.
std::string builtin_figures() {
  const EnergyTable& t = EnergyTable::builtin();
  char buf[160];
  std::snprintf(buf, sizeof buf, "(pJ per operation: fp32 add %g, mult %g; fp16 add %g, mult %g; int32 add %g; int8 mult %g).\n", t.add_fp32_pj,
                t.mult_fp32_pj, t.add_fp16_pj, t.mult_fp16_pj, t.add_int32_pj, t.mult_int8_pj);
  return buf;
}

}  // namespace

Command add_report_command(CLI::App& root) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* cmd = root.add_subcommand("report", "Size, operations and energy of a compressed model, per layer and in total");
  cmd->footer(
      "Per weighted layer (Conv, Gemm, MatMul) and in total: parameters, stored bytes by encoding, bits per weight;\n"
      "operations per image (batch 1) after compression: fp32 MACs, int8 MACs, ternary additions, scale\n"
      "multiplications; compute energy from a per-operation table; and the same for the float model (fp32 and fp16).\n"
      "compression_ratio is the file against its parameters at fp32 (4 bytes each); compression_ratio_vs_fp16 against\n"
      "them at 2 bytes, compression_ratio_vs_source against the source ONNX file. Energy is arithmetic only (no\n"
      "memory traffic); an estimate of reading the stored weights from SRAM is given separately. JSON numbers are\n"
      "rounded: ratios and bits per weight to 4 significant digits, picojoules to 0.001, top-1 differences to\n"
      "0.01 points; counts are exact and measured top-1 is as measured.\n\n"
      "The default energy table holds the 45 nm figures of M. Horowitz, \"Computing's energy problem\", ISSCC 2014\n" +
      builtin_figures() +
      "--energy-table takes a JSON file with your hardware's figures in picojoules per operation:\n"
      "  {\"add\": {\"int32\": ..., \"fp16\": ..., \"fp32\": ...}, \"mult\": {\"int8\": ..., \"fp16\": ..., \"fp32\": ...},\n"
      "   \"memory\": {\"sram_read_32bit\": ...}}  (optional: add.int8, add.int16, mult.int16, mult.int32, memory.dram_read_32bit)\n\n"
      "Examples:\n  mcompress report model.mcz\n  mcompress report model.mcz --json | jq .energy_pj\n"
      "  mcompress report model.mcz -o report.json --force\n  mcompress report model.mcz --html report.html --sweep sweep.json\n  mcompress report model.mcz --energy-table my_chip.json");
  cmd->add_option("file", o->file, ".mcz file ('-' reads stdin)")->required();
  cmd->add_option("--energy-table", o->energy_table, "JSON table of picojoules per operation (default: built-in 45 nm table)")
      ->type_name("FILE.json");
  cmd->add_option("-o,--output", o->output, "Also write the JSON report to this file ('-' writes stdout instead of the table)")
      ->type_name("OUT.json");
  cmd->add_option("--html", o->html, "Also write the report as one self-contained HTML page (charts as inline SVG; '-': stdout)")
      ->type_name("OUT.html");
  cmd->add_option("--sweep", o->sweep, "With --html: add the Pareto plots of this sweep result (mcompress sweep -o FILE.json)")
      ->type_name("SWEEP.json");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_report(*o); }};
}

}  // namespace mc::cli
