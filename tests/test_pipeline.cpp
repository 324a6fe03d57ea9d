// The pass pipeline as one architecture (issue 13): typed options checked before anything runs,
// the IR's one-object weights and the checks after every pass, the analysis manager's caching,
// recipes as rows, and the property that matters to users: for any valid pipeline, the accuracy a
// written file stores is what `eval` of that file measures, and export by default runs what eval ran.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "analysis/eval.h"
#include "analysis/paired_drop.h"
#include "app/compressed_file.h"
#include "core/executor.h"
#include "core/text.h"
#include "formats/mcz.h"
#include "formats/mcz_metadata.h"
#include "formats/onnx_model.h"
#include "formats/qdq_export.h"
#include "passes/budget.h"
#include "passes/pass.h"
#include "passes/recipe.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

using test::expect_error;


// Eight fit images, six held out, and a labelled folder of the same inputs (labels: the float
// model's top-1 on even images, a fixed other class on odd ones, so top-1 is neither 0 nor 100).
struct SmallData {
  test::TempDir fit_dir, held_dir, eval_dir;
  CalibrationSet fit, held;
  explicit SmallData(const Model& m) {
    test::write_small_inputs(fit_dir.path, 8);
    test::write_small_inputs(held_dir.path, 6);
    fit = calibration_set(fit_dir.path.string(), 8, 0, test::small_image_config(), m);
    held = calibration_set(held_dir.path.string(), 6, 1, test::small_image_config(), m);
    const auto inputs = test::write_small_inputs(eval_dir.path, 10);
    Executor exec(m);
    std::ofstream labels(eval_dir.path / "labels.tsv");
    for (size_t i = 0; i < inputs.size(); ++i) {
      Tensor x = inputs[i];
      x.reshape({1, 3, 8, 8});
      const Tensor y = exec.run({x})[0];
      const int64_t top = top_k(y.data<float>(), y.numel(), 1)[0];
      labels << "img" << i << ".npy\t" << (i % 2 == 0 ? top : (top + 1) % y.numel()) << "\n";
    }
  }
  EvalRequest eval_request() const { return EvalRequest{eval_dir.path.string(), 0, test::small_image_config(), -1, 1, {}}; }
};

PassContext context_for(const SmallData& data) {
  PassContext ctx;
  ctx.threads = 1;
  ctx.calibration = data.fit;
  ctx.held_out = data.held;
  return ctx;
}

}  // namespace

TEST_CASE("test_pipeline: every declared default is a valid value and every pass prints back the same pipeline") {
  for (const auto& p : registered_passes()) {
    CAPTURE(p.name);
    CHECK_FALSE(p.description.empty());
    std::string all;
    for (const auto& o : p.options) {
      CAPTURE(o.name);
      CHECK_FALSE(o.doc.empty());
      CHECK_FALSE(o.usage().empty());
      if (!o.default_value.empty()) all += (all.empty() ? "" : ";") + o.name + "=" + o.default_value;
    }
    // Every default parses as a value of its own option. Rules between options (exactly one of
    // two) can make the full set invalid; then each option is tried alone.
    try {
      auto parsed = parse_pipeline(p.name + (all.empty() ? "" : "<" + all + ">"));
      CHECK(pipeline_string(parse_pipeline(pipeline_string(parsed))) == pipeline_string(parsed));
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::usage);
      for (const auto& o : p.options)
        if (!o.default_value.empty()) {
          try {
            parse_pipeline(p.name + "<" + o.name + "=" + o.default_value + ">");
          } catch (const Error& alone) {
            // Only a rule or a required option may refuse a valid default.
            const std::string what = alone.what();
            CHECK_MESSAGE((what.find("needs") != std::string::npos || what.find("exactly one") != std::string::npos), what);
          }
        }
    }
  }
}

TEST_CASE("test_pipeline: bad options fail while parsing, naming the pass and the option") {
  expect_error([] { parse_pipeline("fold-bn,equalize,equalize<iterations=abc>"); }, ErrorKind::usage,
               "pass 'equalize': option 'iterations=abc' needs a whole number");
  expect_error([] { parse_pipeline("quantize-int8<bits=9>"); }, ErrorKind::usage, "pass 'quantize-int8': option 'bits=9' must be a whole number from 2 to 8");
  expect_error([] { parse_pipeline("quantize-int8<method=round>"); }, ErrorKind::usage, "option 'method=round' must be one of gptq|rtn");
  expect_error([] { parse_pipeline("quantize-int8<damping=-1>"); }, ErrorKind::usage, "option 'damping=-1' must be from 0 to 10");
  expect_error([] { parse_pipeline("quantize-int8<layers=pointwise+fancy>"); }, ErrorKind::usage, "option 'layers=pointwise+fancy'");
  expect_error([] { parse_pipeline("quantize-int8<method=rtn;method=gptq>"); }, ErrorKind::usage, "option 'method' is given twice");
  expect_error([] { parse_pipeline("ternarize<skip-classifier=maybe>"); }, ErrorKind::usage, "must be true or false");
  expect_error([] { parse_pipeline("sparse-quantize<bits=8+x>"); }, ErrorKind::usage, "needs numbers joined by '+'");
  expect_error([] { parse_pipeline("split-hybrid<terms=2>"); }, ErrorKind::usage, "pass 'split-hybrid': needs exactly one of fraction=... or max-drop=...");
  expect_error([] { parse_pipeline("split-hybrid<fraction=0.2;max-drop=1>"); }, ErrorKind::usage, "exactly one of");
  expect_error([] { parse_pipeline("prune-magnitude"); }, ErrorKind::usage, "pass 'prune-magnitude': needs option 'sparsity'");
  expect_error([] { parse_pipeline("prune-nm<n=4;m=4>"); }, ErrorKind::usage, "option n=4 must be less than m=4");
  expect_error([] { parse_pipeline("prune-obs<allocation=uniform;max-drop=1>"); }, ErrorKind::usage, "allocation=uniform needs sparsity");
  // Valid forms of the same options.
  CHECK(parse_pipeline("quantize-int8<bits=4;method=rtn;layers=pointwise+fc>").size() == 1);
  CHECK(parse_pipeline("prune-nm<n=1;m=8;method=magnitude>")[0].options.integer("m") == 8);
  CHECK(parse_pipeline("sparse-quantize")[0].options.numbers("bits") == std::vector<double>{8, 6, 5, 4, 3});
}

TEST_CASE("test_pipeline: a pass that rewrites float weights cannot follow one that encodes them") {
  expect_error([] { parse_pipeline("fold-bn,quantize-int8<method=rtn>,equalize"); }, ErrorKind::usage,
               "pass 'equalize' rewrites float weights and cannot run after 'quantize-int8'");
  expect_error([] { parse_pipeline("quantize-activations,fold-bn"); }, ErrorKind::usage, "'fold-bn' rewrites float weights");
  CHECK(parse_pipeline("fold-bn,equalize,quantize-int8,prune-magnitude<sparsity=0.5>").size() == 4);
}

TEST_CASE("test_pipeline: a pass that needs calibration images is refused before the first pass runs") {
  Model m = test::tiny_pointwise_model();
  const Model before = m;
  PassContext ctx;
  expect_error([&] { run_pipeline(m, parse_pipeline("fc-to-gemm,prune-magnitude<sparsity=0.5>,ternarize"), ctx); }, ErrorKind::usage,
               "pass 'ternarize' needs calibration images");
  for (const auto& [name, init] : before.graph.initializers)
    CHECK(std::memcmp(init.values.raw(), m.graph.initializer(name)->raw(), init.values.byte_size()) == 0);  // nothing ran
  CHECK_FALSE(parse_pipeline("prune-nm<method=magnitude>")[0].needs_calibration());
  CHECK(parse_pipeline("prune-nm")[0].needs_calibration());
}

TEST_CASE("test_pipeline: an initializer is one object: values and encoding change together") {
  Model m = test::tiny_pointwise_model();
  Graph& g = m.graph;
  const Tensor w1 = *g.initializer("w1");
  g.encode("w1", encode_fp16(w1));
  CHECK(g.is_encoded("w1"));
  for (int64_t i = 0; i < w1.numel(); ++i) CHECK(g.initializer("w1")->data<float>()[i] == half_to_float(float_to_half(w1.data<float>()[i])));
  CHECK(broken_initializer(g).empty());
  expect_error([&] { g.values_to_change("w1", "a pass"); }, ErrorKind::internal, "a pass: changes encoded weight 'w1'");
  expect_error([&] { g.check_not_encoded("w1", "equalize"); }, ErrorKind::unsupported, "equalize: weight 'w1' is already encoded");
  // What the pipeline's check finds: values that are not what the encoding decodes to.
  g.initializers.at("w1").values.data<float>()[3] += 0.5f;
  CHECK(broken_initializer(g).find("weight 'w1'") != std::string::npos);
  // A pruned weight that is not zero where its mask says so.
  Model p = test::tiny_pointwise_model();
  std::vector<uint8_t> mask(static_cast<size_t>(p.graph.initializer("w2")->numel()), 0);
  mask[0] = 1;
  p.graph.values_to_change("w2", "test").data<float>()[0] = 0.0f;
  p.graph.set_pruned("w2", mask);
  CHECK(broken_initializer(p.graph).empty());
  p.graph.initializers.at("w2").values.data<float>()[0] = 1.0f;
  CHECK(broken_initializer(p.graph).find("pruned weight is no longer zero") != std::string::npos);
}

TEST_CASE("test_pipeline: a pass that breaks an encoded weight or drops its encoding is an internal error naming it") {
  Model m = test::tiny_pointwise_model();
  m.graph.encode("w1", encode_fp16(*m.graph.initializer("w1")));
  const std::vector<OptionSpec> none;
  PassInfo stale{"stale-writer", [](Model& model, const PassOptions&, PassContext&) { model.graph.initializers.at("w1").values.data<float>()[0] *= 2; },
                 no_calibration(), WeightEffect::none, preserves_none, "changes an encoded weight in place", {}, {}};
  PassInfo dropper{"encoding-dropper", [](Model& model, const PassOptions&, PassContext&) { model.graph.initializers["w1"] = Tensor(*model.graph.initializer("w1")); },
                   no_calibration(), WeightEffect::none, preserves_none, "replaces an encoded weight by a plain one", {}, {}};
  for (const PassInfo* info : {&stale, &dropper}) {
    CAPTURE(info->name);
    Model copy = m;
    PassContext ctx;
    std::vector<PassInvocation> pipeline{PassInvocation{info, info->name, PassOptions::parse(info->name, "", none, {})}};
    expect_error([&] { run_pipeline(copy, pipeline, ctx); }, ErrorKind::internal, "pass '" + info->name + "' broke the IR");
  }
  // The real passes that rewrite weights refuse an encoded one instead (when called directly,
  // past the parser's order check).
  Model q = m;
  PassContext ctx;
  expect_error([&] { run_pipeline(q, parse_pipeline("equalize"), ctx); }, ErrorKind::unsupported, "equalize: weight 'w1' is already encoded");
}

TEST_CASE("test_pipeline: the analysis manager computes statistics once while passes preserve them") {
  const Model m = test::tiny_pointwise_model();
  SmallData data(m);
  {
    // quantize-int8 and ternarize fit to the statistics of the model before them: one computation.
    Model q = m;
    PassContext ctx = context_for(data);
    run_pipeline(q, parse_pipeline("quantize-int8<layers=conv>,ternarize<skip-classifier=false>"), ctx);
    CHECK(ctx.analyses.computed(AnalysisKind::calibration_statistics) == 1);
  }
  {
    // quantize-activations changes what the statistics describe: the next pass recomputes them.
    Model q = m;
    PassContext ctx = context_for(data);
    run_pipeline(q, parse_pipeline("quantize-int8<layers=conv>,quantize-activations,quantize-int8"), ctx);
    CHECK(ctx.analyses.computed(AnalysisKind::calibration_statistics) == 2);
  }
  {
    // The float reference is cached by image set: the same set once, its mirrored views once more.
    Model q = m;
    PassContext ctx = context_for(data);
    run_pipeline(q, parse_pipeline("fc-to-gemm"), ctx);
    ctx.float_reference(data.held);
    ctx.float_reference(data.held);
    CHECK(ctx.analyses.computed(AnalysisKind::float_reference) == 1);
    CalibrationSet mirrored = data.held;
    mirrored.mirrored = true;
    CHECK(ctx.float_reference(mirrored).probabilities.size() == 2 * data.held.files.size());
    CHECK(ctx.analyses.computed(AnalysisKind::float_reference) == 2);
  }
}

TEST_CASE("test_pipeline: recipes are rows: a flag names the recipes that take it") {
  RecipeOptions o;
  o.ternary_terms = 2;
  expect_error([&] { recipe_pipeline("sparse", o); }, ErrorKind::usage, "--ternary-terms does not apply to the sparse recipe (it applies to: hybrid)");
  o = {};
  o.max_drop = 2;
  CHECK(recipe_pipeline("sparse", o) == "fold-constants,fold-bn,fc-to-gemm,sparse-quantize<max-drop=2>");
  CHECK(recipe_pipeline("hybrid", o) ==
        "fold-constants,fold-bn,fc-to-gemm,quantize-int8<layers=depthwise+conv+fc>,quantize-activations,split-hybrid<max-drop=2;terms=3>,quantize-int8");
  expect_error([&] { recipe_pipeline("int8", o); }, ErrorKind::usage, "(it applies to: hybrid, sparse)");
  o.passes = "fold-bn";
  expect_error([&] { recipe_pipeline(custom_recipe, o); }, ErrorKind::usage, "--max-drop has no effect with --passes");
  o.max_drop.reset();
  expect_error([&] { recipe_pipeline("int8", o); }, ErrorKind::usage, "--passes replaces the recipe");
  CHECK(recipe_pipeline(custom_recipe, o) == "fold-bn");
  // Every recipe's pipeline parses, and a recipe needs calibration exactly when one of its passes does.
  for (const auto& name : recipe_names()) {
    CAPTURE(name);
    const std::string text = recipe_pipeline(name, {});
    const bool needs = !text.empty() && first_needing_calibration(parse_pipeline(text));
    CHECK(recipe_needs_calibration(name, {}) == needs);
  }
}

// The property: whatever valid pipeline runs, the file written stores the accuracy that eval of the
// file measures, its bytes decode to the model that was measured, and the default export computes
// exactly what eval runs. Pipelines are drawn at random from the registry (fixed seed): passes in
// random order and number, options at random values in their declared ranges. Invalid ones must be
// refused with a usage or unsupported error, never an internal one.
TEST_CASE("test_pipeline: random pipelines from the registry write files whose stored accuracy is eval of the file") {
  const Model m = test::tiny_pointwise_model();
  SmallData data(m);
  std::mt19937_64 random(20261206);
  auto pick = [&](size_t n) { return static_cast<size_t>(random() % n); };
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * static_cast<double>(random() % 1000) / 1000.0; };
  std::vector<const PassInfo*> canonical, others;
  for (const auto& p : registered_passes()) (p.weights == WeightEffect::rewrites_float ? canonical : others).push_back(&p);
  auto random_options = [&](const PassInfo& p) {
    std::string body;
    auto add = [&](const std::string& kv) { body += (body.empty() ? "" : ";") + kv; };
    std::vector<std::string> one_of_pick;
    for (const auto& r : p.rules)
      if (r.kind == OptionRule::Kind::exactly_one) one_of_pick.push_back(pick(2) ? r.a : r.b);
    for (const auto& o : p.options) {
      bool in_rule = false;
      for (const auto& r : p.rules) in_rule = in_rule || (r.kind == OptionRule::Kind::exactly_one && (r.a == o.name || r.b == o.name));
      const bool give = in_rule ? std::find(one_of_pick.begin(), one_of_pick.end(), o.name) != one_of_pick.end() : (o.required || pick(3) == 0);
      if (!give) continue;
      std::string v;
      switch (o.type) {
        case OptionType::number: v = format_number(std::min(uniform(o.min, std::min(o.max, 4.0)), o.max_open ? o.max * 0.95 : o.max)); break;
        case OptionType::integer: v = std::to_string(static_cast<int64_t>(o.min) + static_cast<int64_t>(pick(static_cast<size_t>(std::min(o.max, o.min + 4) - o.min + 1)))); break;
        case OptionType::choice: {
          std::vector<std::string> c;
          size_t pos = 0;
          while (true) {
            size_t bar = o.choices.find('|', pos);
            c.push_back(o.choices.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
            if (bar == std::string::npos) break;
            pos = bar + 1;
          }
          v = c[pick(c.size())];
          break;
        }
        case OptionType::flag: v = pick(2) ? "true" : "false"; break;
        case OptionType::numbers: v = format_number(std::min(uniform(o.min, o.max), o.max_open ? o.max * 0.95 : o.max)) + "+" + format_number(o.min); break;
        case OptionType::layer_kinds: v = std::vector<std::string>{"all", "pointwise", "conv", "fc", "pointwise+fc"}[pick(5)]; break;
      }
      add(o.name + "=" + v);
    }
    return p.name + (body.empty() ? "" : "<" + body + ">");
  };
  int written = 0, refused = 0;
  for (int trial = 0; trial < 24; ++trial) {
    std::string text;
    for (const PassInfo* p : canonical)
      if (pick(2)) {
        if (!text.empty()) text += ',';
        text += random_options(*p);
      }
    const size_t n = 1 + pick(3);
    for (size_t i = 0; i < n; ++i) {
      if (!text.empty()) text += ',';
      text += random_options(*others[pick(others.size())]);
    }
    CAPTURE(text);
    CompressedModel compressed;
    try {
      RecipeOptions o;
      o.passes = text;
      o.calibration = data.fit;
      o.held_out = data.held;
      o.threads = 1;
      compressed = run_recipe(custom_recipe, m, o);
    } catch (const Error& e) {
      CHECK_MESSAGE((e.kind() == ErrorKind::usage || e.kind() == ErrorKind::unsupported), e.what());
      ++refused;
      continue;
    }
    McMetadata meta;
    meta.recipe = compressed.recipe;
    meta.passes = compressed.pipeline;
    EvalResult before;
    before.images = 10;
    const EvalRequest request = data.eval_request();
    const WrittenFile file = write_compressed_file(compressed, meta, "p.mcz", 1, &request, &before);
    REQUIRE(file.after);
    // Stored = eval of the bytes = what the metadata says.
    const EvalResult again = evaluate_mcz_bytes(file.bytes, "p.mcz", request);
    CHECK(again.top1_correct == file.after->top1_correct);
    CHECK(again.top5_correct == file.after->top5_correct);
    const McFile mcz = read_mcz(file.bytes, "p.mcz");
    const McMetadata stored = parse_metadata(mcz.metadata, "p.mcz");
    REQUIRE(stored.accuracy);
    CHECK(*stored.accuracy->top1_after == file.after->top1);
    // The file decodes to the weights the pipeline computed with.
    const Model decoded = decode_mcz(mcz, "p.mcz");
    for (const auto& [name, init] : compressed.model.graph.initializers) {
      CAPTURE(name);
      REQUIRE(decoded.graph.initializer(name));
      CHECK(std::memcmp(init.values.raw(), decoded.graph.initializer(name)->raw(), init.values.byte_size()) == 0);
    }
    // The default export (what eval runs, as ONNX) computes eval's outputs bit for bit.
    const Model runnable = model_to_run(decoded);
    const std::string onnx = serialize_onnx(runnable);
    const Model exported = parse_onnx(std::span<const std::byte>(reinterpret_cast<const std::byte*>(onnx.data()), onnx.size()), "x.onnx");
    Tensor x = test::write_small_inputs(data.eval_dir.path, 1)[0];
    x.reshape({1, 3, 8, 8});
    const Tensor a = Executor(runnable).run({x})[0], b = Executor(exported).run({x})[0];
    CHECK(std::memcmp(a.raw(), b.raw(), a.byte_size()) == 0);
    ++written;
  }
  MESSAGE(written << " random pipelines written and checked, " << refused << " refused with a clear error");
  CHECK(written >= 8);  // the generator must exercise the writer, not only the refusals
}

TEST_CASE("test_pipeline: paired bounds: Clopper-Pearson limits, McNemar drops, label-free bounds, intervals") {
  // Known values: with no success in n trials the 90% upper limit is 1 - 0.1^(1/n).
  CHECK(binomial_upper_limit(0, 10, 0.9) == doctest::Approx(1 - std::pow(0.1, 0.1)).epsilon(1e-9));
  CHECK(binomial_upper_limit(5, 5, 0.9) == 1.0);
  // P(X <= 3 | 10, p) = 0.1 at p = 0.5504 (a tabulated Clopper-Pearson limit).
  CHECK(binomial_upper_limit(3, 10, 0.9) == doctest::Approx(0.5504).epsilon(1e-3));
  CHECK(normal_quantile(0.9) == doctest::Approx(1.28155).epsilon(1e-5));
  CHECK(normal_quantile(0.5) == doctest::Approx(0.0).epsilon(1e-9));
  // 100 images: float right on the first 60; the candidate loses images 0..4 and gains 60, 61.
  std::vector<uint8_t> f(100, 0), c(100, 0);
  for (int i = 0; i < 60; ++i) f[static_cast<size_t>(i)] = c[static_cast<size_t>(i)] = 1;
  for (int i = 0; i < 5; ++i) c[static_cast<size_t>(i)] = 0;
  c[60] = c[61] = 1;
  const DropBound d = labelled_drop(f, c, 0.9);
  CHECK(d.float_only == 5);
  CHECK(d.candidate_only == 2);
  CHECK(d.estimate == doctest::Approx(3.0));
  // The bound is Tango's score limit: the score there is -z, and just below it above -z.
  CHECK(d.bound == doctest::Approx(100.0 * tango_upper_limit(5, 2, 100, 0.9)).epsilon(1e-12));
  CHECK(tango_score(5, 2, 100, d.bound / 100) == doctest::Approx(-normal_quantile(0.9)).epsilon(1e-6));
  CHECK(tango_score(5, 2, 100, d.bound / 100 - 1e-4) > -normal_quantile(0.9));
  CHECK(d.bound > d.estimate);
  CHECK(labelled_drop(f, c, 0.99).bound > d.bound);  // more confidence, a wider bound
  // Identical answers on N images: still a bound, z^2 / (N + z^2) (how much a candidate could lose
  // unseen), 1.6 points on 100 images; a 1-point budget at 0.9 needs 163 images.
  const double z = normal_quantile(0.9);
  CHECK(labelled_drop(f, f, 0.9).bound == doctest::Approx(100 * z * z / (100 + z * z)).epsilon(1e-6));
  CHECK(images_to_certify(1.0, 0.9) == 163);
  CHECK(100 * tango_upper_limit(0, 0, 163, 0.9) <= 1.0);
  CHECK(100 * tango_upper_limit(0, 0, 162, 0.9) > 1.0);
  // Gains lower the bound below the no-change one, losses raise it.
  CHECK(tango_upper_limit(0, 4, 100, 0.9) < tango_upper_limit(0, 0, 100, 0.9));
  CHECK(tango_upper_limit(4, 0, 100, 0.9) > tango_upper_limit(0, 0, 100, 0.9));
  // Label-free: mean + z standard errors.
  const DropBound l = label_free_drop({0.0, 0.02, 0.0, 0.04}, 0.9);
  CHECK(l.estimate == doctest::Approx(1.5));
  const double se = std::sqrt(((0.015 * 0.015) * 2 + 0.005 * 0.005 + 0.025 * 0.025) / 3 / 4);
  CHECK(l.bound == doctest::Approx(100 * (0.015 + normal_quantile(0.9) * se)).epsilon(1e-6));
  // Two-sided paired difference, a - b = the drop above with the roles as given.
  const PairedDifference p = paired_difference(f, c, 0.95);
  CHECK(p.difference == doctest::Approx(3.0));
  CHECK(p.low < 3.0);
  CHECK(p.high > 3.0);
  CHECK(p.a_only == 5);
  expect_error([] { check_confidence(0.5, "--confidence"); }, ErrorKind::usage, "--confidence must be between 0.5 and 1");
  expect_error([] { check_confidence(1.0, "--confidence"); }, ErrorKind::usage, "--confidence");
}

TEST_CASE("test_pipeline: a budget search confirms on images it never saw and keeps the most accurate file when none passes") {
  const Model m = test::tiny_pointwise_model();
  SmallData data(m);
  const std::string pipeline = "split-hybrid<max-drop=0;terms=1>,quantize-int8";
  for (bool labelled : {false, true}) {
    CAPTURE(labelled);
    Model q = m;
    PassContext ctx = context_for(data);
    if (labelled) {
      const LabelledSet val = labelled_set(data.eval_dir.path.string(), test::small_image_config(), m);
      ctx.validation = val.images;
      ctx.validation_labels = val.labels;
    }
    run_pipeline(q, parse_pipeline(pipeline), ctx);
    REQUIRE(ctx.budgets.size() == 1);
    const BudgetRecord& r = ctx.budgets[0];
    CHECK(r.pass == "split-hybrid");
    CHECK(r.max_drop == 0);
    CHECK(r.decision.labels == labelled);
    CHECK(r.decision.images == (labelled ? 10 : 3));  // every validation image / the second half of the 6 held-out images
    CHECK_FALSE(r.path.empty());
    // The chosen candidate is one of the path, judged where the decision is made.
    bool found = false;
    for (const auto& p : r.path) found = found || p.steps == r.chosen_steps;
    CHECK(found);
    if (!labelled)
      for (const auto& p : r.path)
        if (p.steps == r.chosen_steps && r.met) CHECK(p.confirm.has_value());
    if (labelled) {
      // The fixed sequence: candidates from none up, each accepted until the first failure, which ends it.
      CHECK(r.path.front().steps == 0);
      for (size_t i = 0; i + 1 < r.path.size(); ++i) {
        CHECK(r.path[i].steps < r.path[i + 1].steps);
        CHECK(r.path[i].accepted);
      }
    }
    // A budget of 0 points on a few images: met only by a candidate that changes no answer.
    if (r.met) CHECK(r.decision.bound <= 0.0);
    const auto j = to_json(r);
    for (const char* key : {"max_drop", "estimate", "bound", "confidence", "images", "labels", "met", "path"}) CHECK(j.contains(key));
  }
}

TEST_CASE("test_pipeline: the confirmation step: fixed sequence from the smallest up with labels, stepping back without") {
  // Candidates 0, 2, 5, 9 (numbers of steps): 5 fails, 9 passes (a lucky draw), 0 and 2 pass.
  auto judge = [](size_t n) {
    DropBound d;
    d.bound = n == 5 ? 2.0 : 0.5;
    d.estimate = static_cast<double>(n) / 10;
    return d;
  };
  const std::vector<size_t> candidates{9, 0, 5, 2, 5};
  const ConfirmedChoice fixed = confirm_candidates(candidates, true, 1.0, judge);
  REQUIRE(fixed.chosen.has_value());
  CHECK(fixed.decided[*fixed.chosen].first == 2);  // 5 failed: 9 is never looked at
  CHECK(fixed.decided.size() == 3);
  CHECK(fixed.decided.back().first == 5);
  const ConfirmedChoice back = confirm_candidates(candidates, false, 1.0, judge);
  REQUIRE(back.chosen.has_value());
  CHECK(back.decided[*back.chosen].first == 9);  // the largest passes first
  CHECK(back.decided.size() == 1);
  // Nothing passes: no choice, every judgement recorded (fixed sequence: only the first).
  auto none = [](size_t) { DropBound d; d.bound = 3; return d; };
  CHECK_FALSE(confirm_candidates(candidates, true, 1.0, none).chosen.has_value());
  CHECK(confirm_candidates(candidates, true, 1.0, none).decided.size() == 1);
  CHECK(confirm_candidates(candidates, false, 1.0, none).decided.size() == 4);
}
