// Gemm and MatMul on the GEMM kernels of the convolutions: the panel GEMM (panel_gemm.h), or with
// Gemm's transB the row dot products (row_dot.h). Tasks are fixed row and column blocks (and batch
// entries), and every output is summed in its own order, so results depend neither on the thread
// count nor on the batch.
#include <algorithm>
#include <vector>

#include "core/ops/kernel_util.h"
#include "core/ops/panel_gemm.h"
#include "core/ops/row_dot.h"

namespace mc {

namespace {

constexpr int64_t rows_per_task = 64;
// Output columns per task, so that a classifier at batch 1 is not one task that leaves the other
// threads idle (tests/test_ops.cpp checks that the split changes no bit).
constexpr int64_t task_columns = 256;

// Blocks of task_columns over n output columns (at least one).
int64_t column_blocks(int64_t n) { return std::max<int64_t>(1, (n + task_columns - 1) / task_columns); }

void check_float(const InferContext& ctx, size_t i) {
  if (ctx.input(i).dtype != DType::f32)
    ctx.unsupported(std::string("element type ") + dtype_name(ctx.input(i).dtype) + " is not supported");
}

}  // namespace

void infer_Gemm(InferContext& ctx) {
  check_float(ctx, 0);
  check_float(ctx, 1);
  const auto& a = ctx.input(0).shape;
  const auto& b = ctx.input(1).shape;
  if (a.size() != 2 || b.size() != 2) ctx.fail("A and B must be 2-D, got " + shape_str(a) + " and " + shape_str(b));
  bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) ctx.fail("inner dimensions differ: " + shape_str(a) + " x " + shape_str(b));
  if (ctx.has_input(2)) {
    check_float(ctx, 2);
    Shape bc = broadcast_shapes(ctx, {m, n}, ctx.in[2].shape);
    if (bc != Shape{m, n}) ctx.fail("C of shape " + shape_str(ctx.in[2].shape) + " does not broadcast to [M,N]");
  }
  ctx.out = {TensorType{DType::f32, {m, n}}};
}

void run_Gemm(RunContext& ctx) {
  const Tensor& a = *ctx.in[0];
  const Tensor& b = *ctx.in[1];
  bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  float alpha = ctx.node.attr_float("alpha", 1.0f), beta = ctx.node.attr_float("beta", 1.0f);
  const int64_t m = ctx.out[0]->dim(0), n = ctx.out[0]->dim(1);
  const int64_t k = ta ? a.dim(0) : a.dim(1);
  // The rows of op(A): A itself, or with transA a transposed copy (A is the small operand).
  std::vector<float> a_rows;
  const float* pa = a.data<float>();
  if (ta) {
    a_rows.resize(static_cast<size_t>(m * k));
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < k; ++c) a_rows[static_cast<size_t>(r * k + c)] = pa[c * m + r];
    pa = a_rows.data();
  }
  const float* pb = b.data<float>();
  float* py = ctx.out[0]->data<float>();
  const Tensor* c = ctx.node.has_input(2) ? ctx.in[2] : nullptr;
  const int64_t blocks = (m + rows_per_task - 1) / rows_per_task, col_blocks = column_blocks(n);
  ctx.pool.parallel_for(blocks * col_blocks, [&](int64_t t) {
    const int64_t r0 = t / col_blocks * rows_per_task, rows = std::min(rows_per_task, m - r0);
    const int64_t c0 = t % col_blocks * task_columns, cols = std::min(task_columns, n - c0);
    float* y = py + r0 * n + c0;
    // Both forms sum each output in an order of its own (row_dot.h, panel_gemm.h), whatever the
    // rows beside it: a row of a batch gets the bits it gets alone.
    if (k == 0) {
      for (int64_t i = 0; i < rows; ++i) std::fill_n(y + i * n, cols, 0.0f);
    } else if (tb) {
      row_dot(pa + r0 * k, rows, pb + c0 * k, cols, k, y, n, nullptr);
    } else {
      panel_gemm(pa + r0 * k, rows, k, pb + c0, n, cols, y, n, nullptr, std::nullopt);
    }
    if (alpha != 1.0f)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) y[i * n + j] *= alpha;
    if (c) {
      const float* pc = c->data<float>();
      Shape cs = c->shape();
      while (cs.size() < 2) cs.insert(cs.begin(), 1);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          int64_t ci = cs[0] == 1 ? 0 : r0 + i, cj = cs[1] == 1 ? 0 : c0 + j;
          y[i * n + j] += beta * pc[ci * cs[1] + cj];
        }
    }
  });
}

// MatMul with numpy semantics: 1-D operands are promoted and the added dim removed again;
// leading (batch) dims broadcast.
void infer_MatMul(InferContext& ctx) {
  check_float(ctx, 0);
  check_float(ctx, 1);
  Shape a = ctx.input(0).shape, b = ctx.input(1).shape;
  if (a.empty() || b.empty()) ctx.fail("MatMul inputs must have rank 1 or more");
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (a.back() != b[b.size() - 2]) ctx.fail("inner dimensions differ: " + shape_str(ctx.in[0].shape) + " x " + shape_str(ctx.in[1].shape));
  Shape batch = broadcast_shapes(ctx, Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  Shape out = batch;
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  ctx.out = {TensorType{DType::f32, out}};
}

void run_MatMul(RunContext& ctx) {
  Shape a = ctx.in[0]->shape(), b = ctx.in[1]->shape();
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  Shape batch_a(a.begin(), a.end() - 2), batch_b(b.begin(), b.end() - 2);
  size_t rank = std::max(batch_a.size(), batch_b.size());
  while (batch_a.size() < rank) batch_a.insert(batch_a.begin(), 1);
  while (batch_b.size() < rank) batch_b.insert(batch_b.begin(), 1);
  Shape batch(rank);
  for (size_t i = 0; i < rank; ++i) batch[i] = std::max(batch_a[i], batch_b[i]);
  const int64_t batches = shape_numel(batch);
  auto sa = row_major_strides(batch_a), sb = row_major_strides(batch_b), so = row_major_strides(batch);
  const float* pa = ctx.in[0]->data<float>();
  const float* pb = ctx.in[1]->data<float>();
  float* py = ctx.out[0]->data<float>();
  // The convolutions' panel GEMM (panel_gemm.h), every output its products summed in order, so
  // neither the blocks, the thread count nor the rows beside it (the batch) change a bit; measured on
  // MobileNetV2's classifier (1280 x 1000), batch 8, 1 thread: 1123 us with Eigen, 481 us at 2
  // threads with the panel GEMM split into column blocks. One row runs in one-row tiles 256 columns
  // wide: 210-230 us against 175 for Eigen's matrix-vector product (and 317 in 6-row tiles), whose
  // bits at one row differ from its bits at more.
  const int64_t row_blocks = (m + rows_per_task - 1) / rows_per_task;
  const int64_t col_blocks = column_blocks(n);
  ctx.pool.parallel_for(batches * row_blocks * col_blocks, [&](int64_t task) {
    const int64_t cb = task % col_blocks, t = task / col_blocks;
    const int64_t c0 = cb * task_columns, cols = std::min(task_columns, n - c0);
    int64_t bi = t / row_blocks, r0 = (t % row_blocks) * rows_per_task, rows = std::min(rows_per_task, m - r0);
    int64_t oa = 0, ob = 0, rem = bi;
    for (size_t d = 0; d < rank; ++d) {
      int64_t idx = so[d] ? rem / so[d] : 0;
      rem = so[d] ? rem % so[d] : rem;
      oa += (batch_a[d] == 1 ? 0 : idx) * sa[d];
      ob += (batch_b[d] == 1 ? 0 : idx) * sb[d];
    }
    if (k == 0) {
      for (int64_t r = 0; r < rows; ++r) std::fill_n(py + bi * m * n + (r0 + r) * n + c0, cols, 0.0f);
      return;
    }
    panel_gemm(pa + oa * m * k + r0 * k, rows, k, pb + ob * k * n + c0, n, cols, py + bi * m * n + r0 * n + c0, n,
               nullptr, std::nullopt);
  });
}

}  // namespace mc
