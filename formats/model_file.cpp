#include "formats/model_file.h"

#include "formats/external_data.h"
#include "formats/file_io.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"
#include "formats/qdq_export.h"

namespace mc {

ModelFile read_model_file(const std::string& path) {
  ModelFile f;
  f.path = path;
  f.name = path == "-" ? "<stdin>" : path;
  f.bytes = read_binary_file(path);
  f.mcz = looks_like_mcz(f.bytes);
  if (!f.mcz) f.external = std::make_shared<ExternalDataReader>(path);  // side files in its folder; none for stdin
  return f;
}

Model decoded_model(const ModelFile& file) {
  if (file.mcz) return decode_mcz(read_mcz(file.bytes, file.name), file.name);
  return parse_onnx(file.bytes, file.name, file.external.get());
}

Model runnable_model(const ModelFile& file) {
  Model model = decoded_model(file);
  return file.mcz ? model_to_run(model) : model;
}

uint64_t model_file_bytes(const ModelFile& file) { return file.bytes.size() + (file.external ? file.external->files_bytes() : 0); }

Model load_model(const std::string& path) { return runnable_model(read_model_file(path)); }

}  // namespace mc
