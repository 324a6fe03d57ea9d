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
  return f;
}

Model decoded_model(const ModelFile& file) {
  if (file.mcz) return decode_mcz(read_mcz(file.bytes, file.name), file.name);
  ExternalDataReader external(file.path);  // side files in the model's folder; none for stdin
  return parse_onnx(file.bytes, file.name, &external);
}

Model runnable_model(const ModelFile& file) {
  Model model = decoded_model(file);
  return file.mcz ? model_to_run(model) : model;
}

Model load_model(const std::string& path) { return runnable_model(read_model_file(path)); }

}  // namespace mc
