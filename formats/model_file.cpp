#include "formats/model_file.h"

#include "formats/file_io.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"

namespace mc {

Model load_model(const std::string& path) {
  auto bytes = read_binary_file(path);
  const std::string name = path == "-" ? "<stdin>" : path;
  if (looks_like_mcz(bytes)) return decode_mcz(read_mcz(bytes, name), name);
  return parse_onnx(bytes, name);
}

}  // namespace mc
