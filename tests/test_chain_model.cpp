// The differentiable chain of block reconstruction (core/chain_model.h): gradients checked against
// finite differences, activation quantization and its random dropping.
#include <doctest/doctest.h>

#include <cmath>

#include "core/chain_model.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"

using namespace mc;

namespace {

// An inverted-residual block: 1x1 (4 -> 8) -> Relu6 -> depthwise 3x3 (8 groups) -> Relu6 -> 1x1 (8 -> 4),
// plus the skip; or, with `dense`, a plain 3x3 conv (2 groups) between.
Chain block(bool dense) {
  Chain c;
  c.taps = 9;
  c.residual = true;
  ChainLayer expand{4, 8, 1, false, {}, true, 0, 6};
  ChainLayer spatial{8, 8, dense ? 2 : 8, true, {}, true, 0, 6};
  ChainLayer project{8, 4, 1, false, {}, false, 0, 0};
  c.layers = {expand, spatial, project};
  return c;
}

ChainParams random_params(const Chain& c, test::TestRandom& random) {
  ChainParams p;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    p.weights.push_back(random.values(static_cast<size_t>(c.weight_count(i)), 1.2f));
    p.biases.push_back(random.values(static_cast<size_t>(c.layers[i].outputs), 0.5f));
  }
  return p;
}

ChainSamples random_samples(const Chain& c, int64_t count, test::TestRandom& random) {
  ChainSamples s;
  s.count = count;
  s.input = random.values(static_cast<size_t>(count * c.taps * c.input_channels()), 4.0f);
  s.skip = random.values(static_cast<size_t>(count * c.output_channels()), 2.0f);
  s.target = random.values(static_cast<size_t>(count * c.output_channels()), 2.0f);
  s.valid.assign(static_cast<size_t>(count * c.taps), 1);
  // Some padding taps: the first sample sits in a corner.
  for (int64_t t : {0, 1, 2, 3, 6}) s.valid[static_cast<size_t>(t)] = 0;
  return s;
}

void check_gradients(const Chain& c) {
  test::TestRandom random{7};
  ChainParams p = random_params(c, random);
  const ChainSamples s = random_samples(c, 6, random);
  const auto batch = test::indices(s.count);
  const ChainParams grad = ChainPass(c, p, s, batch).backward();
  int checked = 0;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    for (int which = 0; which < 2; ++which) {
      auto& values = which == 0 ? p.weights[i] : p.biases[i];
      const auto& g = which == 0 ? grad.weights[i] : grad.biases[i];
      for (size_t e = 0; e < values.size(); e += 3) {
        const float keep = values[e], h = 2e-3f;
        values[e] = keep + h;
        const double up = ChainPass(c, p, s, batch).loss();
        values[e] = keep - h;
        const double down = ChainPass(c, p, s, batch).loss();
        values[e] = keep;
        const double numeric = (up - down) / (2 * h);
        CHECK(g[e] == doctest::Approx(numeric).epsilon(1e-2).scale(1.0));
        ++checked;
      }
    }
  }
  CHECK(checked > 30);
}

}  // namespace

TEST_CASE("test_chain_model: gradients of an inverted-residual block match finite differences") { check_gradients(block(false)); }

TEST_CASE("test_chain_model: gradients of a grouped 3x3 conv between 1x1 layers match finite differences") { check_gradients(block(true)); }

TEST_CASE("test_chain_model: a padding tap reads zero whatever the layers before compute there") {
  test::TestRandom random{3};
  const Chain c = block(false);
  const ChainParams p = random_params(c, random);
  ChainSamples s = random_samples(c, 1, random);
  const double before = ChainPass(c, p, s, {0}).loss();
  // Changing the input at a padding tap (tap 0) changes nothing; at an inside tap it does.
  for (int64_t ch = 0; ch < 4; ++ch) s.input[static_cast<size_t>(ch)] += 3.0f;
  CHECK(ChainPass(c, p, s, {0}).loss() == before);
  for (int64_t ch = 0; ch < 4; ++ch) s.input[static_cast<size_t>(4 * 4 + ch)] += 3.0f;
  CHECK(ChainPass(c, p, s, {0}).loss() != before);
}

TEST_CASE("test_chain_model: activation quantization rounds as QuantizeLinear does; dropping it everywhere is the float chain") {
  FakeQuant q{true, 0.5f, 10, 0, 255};
  CHECK(q(1.25f) == 1.0f);   // 2.5 rounds to even: 2 -> (12 - 10) * 0.5
  CHECK(q(1.75f) == 2.0f);   // 3.5 -> 4
  CHECK(q(-6.0f) == -5.0f);  // saturates at 0 - 10
  CHECK(q(200.0f) == (255 - 10) * 0.5f);
  CHECK(q.passes(100.0f));
  CHECK_FALSE(q.passes(200.0f));

  test::TestRandom random{11};
  Chain c = block(false);
  const ChainParams p = random_params(c, random);
  const ChainSamples s = random_samples(c, 5, random);
  const double plain = ChainPass(c, p, s, test::indices(5)).loss();
  for (auto& l : c.layers) l.input_quant = FakeQuant{true, 0.25f, 128, 0, 255};
  const double quantized = ChainPass(c, p, s, test::indices(5)).loss();
  CHECK(quantized != plain);
  CHECK(ChainPass(c, p, s, test::indices(5), 1.0, 5).loss() == plain);
  CHECK(ChainPass(c, p, s, test::indices(5), 0.0, 5).loss() == quantized);
  const double half = ChainPass(c, p, s, test::indices(5), 0.5, 5).loss();
  CHECK(half != plain);
  CHECK(half != quantized);
  CHECK(ChainPass(c, p, s, test::indices(5), 0.5, 5).loss() == half);  // the same seed, the same drops
}
