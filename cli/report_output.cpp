#include "cli/report_output.h"

#include <iostream>
#include <span>

#include "analysis/energy.h"
#include "analysis/report.h"
#include "analysis/sensitivity_summary.h"
#include "formats/file_io.h"

namespace mc::cli {

bool is_html_path(const std::string& path) {
  auto ends_with = [&](const std::string& suffix) {
    if (path.size() < suffix.size()) return false;
    for (size_t i = 0; i < suffix.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(path[path.size() - suffix.size() + i])) != suffix[i]) return false;
    return true;
  };
  return ends_with(".html") || ends_with(".htm");
}

std::string html_report_for(const McFile& file, const std::string& name, const SweepTable* sweep) {
  Model structure = structure_of_mcz(file, name);
  Report report = build_report(file, structure, EnergyTable::builtin(), name);
  HtmlReportInputs in;
  in.report = &report;
  in.sensitivity = sensitivity_from_metadata(file.metadata, name);
  in.sweep = sweep;
  return render_html_report(in);
}

void write_text_file(const std::string& path, const std::string& text, IfExists if_exists) {
  if (path == "-") {
    std::cout << text;
    return;
  }
  write_binary_file(path, std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()), if_exists);
}

std::string report_file_text(const std::string& path, const std::vector<std::byte>& mcz_bytes, const std::string& name) {
  if (is_html_path(path)) return html_report_for(read_mcz(mcz_bytes, name), name, nullptr);
  return report_json_for(mcz_bytes, name, EnergyTable::builtin()).dump(2) + "\n";
}

void write_report_file(const std::string& path, const std::vector<std::byte>& mcz_bytes, const std::string& name,
                       IfExists if_exists) {
  write_text_file(path, report_file_text(path, mcz_bytes, name), if_exists);
}

}  // namespace mc::cli
