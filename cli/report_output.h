// Writing a compressed model's report to a file: HTML when the name ends in .html / .htm, JSON
// otherwise (`compress --report`, `report --html`).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "analysis/html_report.h"
#include "formats/file_io.h"
#include "formats/mcz.h"

namespace mc::cli {

bool is_html_path(const std::string& path);

// The HTML page of a parsed .mcz (its report, and the sensitivity summary of its metadata), with a
// sweep's Pareto plots when `sweep` is given.
std::string html_report_for(const McFile& file, const std::string& name, const SweepTable* sweep);

// The report of the .mcz `mcz_bytes` (called `name`) as the file `path` holds it: HTML or JSON.
std::string report_file_text(const std::string& path, const std::vector<std::byte>& mcz_bytes, const std::string& name);

// Writes the report of the .mcz `mcz_bytes` (called `name`) to `path`, atomically.
void write_report_file(const std::string& path, const std::vector<std::byte>& mcz_bytes, const std::string& name,
                       IfExists if_exists = IfExists::replace);

// Writes text to `path` ("-": stdout) atomically.
void write_text_file(const std::string& path, const std::string& text, IfExists if_exists = IfExists::replace);

}  // namespace mc::cli
