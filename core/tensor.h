// Dense tensors: an element type, a shape and a byte buffer. Only fp32 and the integer types that
// shape arithmetic needs are computed on today; compressed encodings live in formats/ and are
// decoded into these before execution.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <utility>
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
// The name of any ONNX TensorProto.DataType ("float16", "float8e4m3fn", "int4", ...; the names of
// dtype_name for the types above), for messages about element types mcompress does not compute on.
std::string onnx_type_name(int64_t onnx_type);

using Shape = std::vector<int64_t>;

// Number of elements of a shape; fails (input error) on negative dims or if the count would exceed
// the cap that protects every allocation made from untrusted shapes.
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);

// 2^31 elements (8 GiB of fp32): far beyond any MobileNet-class tensor, well inside memory limits.
inline constexpr int64_t max_tensor_elements = int64_t{1} << 31;

// A std::allocator whose value-less construct() default-initializes: growing a byte buffer with
// resize() then leaves the new bytes as they are instead of zero-filling them.
template <typename T> struct uninitialized_allocator : std::allocator<T> {
  template <typename U> struct rebind {
    using other = uninitialized_allocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U> void construct(U* p) noexcept { ::new (static_cast<void*>(p)) U; }
  template <typename U, typename... Args> void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int8_t>() { return DType::i8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }

class Tensor {
 public:
  Tensor() = default;
  // A zero-filled tensor.
  Tensor(DType dtype, Shape shape) {
    reset(dtype, std::move(shape));
    if (!bytes_.empty()) std::memset(bytes_.data(), 0, bytes_.size());
  }
  // Copies hold only the elements, not a larger recycled buffer behind them.
  Tensor(const Tensor& other)
      : dtype_(other.dtype_), shape_(other.shape_), numel_(other.numel_),
        bytes_(other.bytes_.begin(), other.bytes_.begin() + static_cast<std::ptrdiff_t>(other.byte_size())) {}
  Tensor& operator=(const Tensor& other) {
    if (this != &other) {
      Tensor copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

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

  // Reallocates only when the byte size grows past the capacity and never shrinks the buffer, so
  // a recycled tensor keeps its capacity; contents are unspecified afterwards (not zeroed).
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
  // Bytes usable without reallocating: the largest size this tensor has been reset to.
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
  // float32 contents are truncated toward zero, saturated to the int64 range, NaN as 0 (a float where
  // an integer is expected is a malformed model: the op's own checks then reject the value).
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
  // Its size is the capacity (the high-water mark of byte_size()); only the first byte_size()
  // bytes are the tensor's.
  std::vector<std::byte, uninitialized_allocator<std::byte>> bytes_;
};

}  // namespace mc
