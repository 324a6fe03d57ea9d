#include "core/tensor.h"

#include <cmath>
#include <iterator>
#include <limits>
#include <sstream>

namespace mc {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::i8: return 1;
    case DType::u8: return 1;
    case DType::boolean: return 1;
    case DType::undefined: return 0;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::i8: return "int8";
    case DType::u8: return "uint8";
    case DType::boolean: return "bool";
    case DType::undefined: return "undefined";
  }
  return "unknown";
}

bool dtype_supported(int32_t onnx_type) {
  switch (onnx_type) {
    case 1: case 2: case 3: case 6: case 7: case 9: return true;
    default: return false;
  }
}

std::string onnx_type_name(int64_t onnx_type) {
  static const char* const names[] = {"undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                      "string", "bool", "float16", "float64", "uint32", "uint64", "complex64",
                                      "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
                                      "float8e5m2fnuz", "uint4", "int4", "float4e2m1"};
  if (onnx_type >= 0 && onnx_type < static_cast<int64_t>(std::size(names))) return names[onnx_type];
  return "type " + std::to_string(onnx_type);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail_input("negative dimension in shape " + shape_str(shape));
    if (d != 0 && n > max_tensor_elements / d)
      fail_input("shape " + shape_str(shape) + " has more than 2^31 elements");
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << ']';
  return os.str();
}

void Tensor::reset(DType dtype, Shape shape) {
  int64_t n = shape_numel(shape);
  dtype_ = dtype;
  shape_ = std::move(shape);
  numel_ = n;
  size_t bytes = static_cast<size_t>(n) * dtype_size(dtype);
  if (bytes_.size() < bytes) {
    // The old contents need not survive, so a reallocation starts from an empty buffer rather
    // than copying them over.
    if (bytes_.capacity() < bytes) decltype(bytes_)().swap(bytes_);
    bytes_.resize(bytes);
  }
}

void Tensor::reshape(Shape shape) {
  int64_t n = shape_numel(shape);
  if (n != numel_)
    fail_internal("reshape " + shape_str(shape_) + " to " + shape_str(shape) + " changes the element count");
  shape_ = std::move(shape);
}

namespace {

// static_cast<int64_t> where it is defined (fuzz finding: a float axes input of 5.5e19 was undefined
// behaviour), saturated outside [-2^63, 2^63), NaN as 0.
int64_t float_to_int64(float v) {
  if (std::isnan(v)) return 0;
  if (v >= 0x1p63f) return std::numeric_limits<int64_t>::max();
  if (v < -0x1p63f) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

}  // namespace

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numel_));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::i64: out[i] = data<int64_t>()[i]; break;
      case DType::i32: out[i] = data<int32_t>()[i]; break;
      case DType::i8: out[i] = data<int8_t>()[i]; break;
      case DType::u8: out[i] = data<uint8_t>()[i]; break;
      case DType::boolean: out[i] = reinterpret_cast<const uint8_t*>(raw())[i]; break;
      case DType::f32: out[i] = float_to_int64(data<float>()[i]); break;
      case DType::undefined: fail_internal("to_int64_vector on an empty tensor");
    }
  }
  return out;
}

std::vector<float> Tensor::to_float_vector() const {
  std::vector<float> out(static_cast<size_t>(numel_));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::f32: out[i] = data<float>()[i]; break;
      case DType::i64: out[i] = static_cast<float>(data<int64_t>()[i]); break;
      case DType::i32: out[i] = static_cast<float>(data<int32_t>()[i]); break;
      case DType::i8: out[i] = data<int8_t>()[i]; break;
      case DType::u8: out[i] = data<uint8_t>()[i]; break;
      case DType::boolean: out[i] = reinterpret_cast<const uint8_t*>(raw())[i]; break;
      case DType::undefined: fail_internal("to_float_vector on an empty tensor");
    }
  }
  return out;
}

}  // namespace mc
