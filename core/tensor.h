// Dense tensors: an element type, a shape and a byte buffer. Only fp32 and the integer types that
// shape arithmetic needs are computed on today; compressed encodings live in formats/ and are
// decoded into these before execution.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace mc {

// Values match ONNX TensorProto.DataType so import/export is a cast.
enum class DType : int32_t {
  undefined = 0,
  f32 = 1,
  u8 = 2,
  i8 = 3,
  i32 = 6,
  i64 = 7,
  boolean = 9,
};

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool dtype_supported(int32_t onnx_type);

using Shape = std::vector<int64_t>;

// Number of elements of a shape; fails (input error) on negative dims or if the count would exceed
// the cap that protects every allocation made from untrusted shapes.
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);

// 2^31 elements (8 GiB of fp32): far beyond any MobileNet-class tensor, well inside memory limits.
inline constexpr int64_t max_tensor_elements = int64_t{1} << 31;

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int8_t>() { return DType::i8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape) { reset(dtype, std::move(shape)); }

  static Tensor scalar_f32(float v) {
    Tensor t(DType::f32, {});
    t.data<float>()[0] = v;
    return t;
  }
  template <typename T> static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    Tensor t(dtype_of<T>(), std::move(shape));
    if (static_cast<size_t>(t.numel()) != values.size()) fail_internal("from_vector: size mismatch");
    if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
    return t;
  }

  // Reallocates only when the byte size grows; contents are unspecified afterwards.
  void reset(DType dtype, Shape shape);
  // Changes the shape keeping the contents; the element count must stay the same.
  void reshape(Shape shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return numel_; }
  size_t byte_size() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool empty() const { return dtype_ == DType::undefined; }
  size_t capacity_bytes() const { return bytes_.size(); }

  void* raw() { return bytes_.data(); }
  const void* raw() const { return bytes_.data(); }

  template <typename T> T* data() {
    check_type<T>();
    return reinterpret_cast<T*>(bytes_.data());
  }
  template <typename T> const T* data() const {
    check_type<T>();
    return reinterpret_cast<const T*>(bytes_.data());
  }
  template <typename T> std::span<T> span() { return {data<T>(), static_cast<size_t>(numel_)}; }
  template <typename T> std::span<const T> span() const {
    return {data<T>(), static_cast<size_t>(numel_)};
  }

  // Integer contents widened to int64 (for shape-like inputs: Reshape shape, Slice starts, ...).
  std::vector<int64_t> to_int64_vector() const;
  // fp32 contents (converting integer types); used by tests and tools.
  std::vector<float> to_float_vector() const;

 private:
  template <typename T> void check_type() const {
    if (dtype_ != dtype_of<T>())
      fail_internal(std::string("tensor holds ") + dtype_name(dtype_) + ", accessed as " +
                    dtype_name(dtype_of<T>()));
  }
  DType dtype_ = DType::undefined;
  Shape shape_;
  int64_t numel_ = 0;
  // std::vector<std::byte> storage comes from operator new, 16-byte aligned, enough for Eigen's
  // unaligned maps and for SSE loads.
  std::vector<std::byte> bytes_;
};

}  // namespace mc
