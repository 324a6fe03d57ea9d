// Deterministic mutation testing of the two readers of untrusted bytes: thousands of damaged copies
// of a small .mcz and of a small ONNX model (fixed seed, std::mt19937_64), each fed through the whole
// loading path. Property: every input is either accepted or rejected with an mc::Error of kind input
// or unsupported; any other error kind, any other exception, a crash (the suite also runs under
// ASan/UBSan) or an allocation beyond what the input could justify fails the test.
//
// The .mcz mutations come three ways: on the raw file (the checksums catch almost all), followed by
// refresh_checksums (so the parsers behind the checksums see them), and inside one section with the
// file laid out again (so insertions and deletions reach the parsers too).
//
// Also the regression driver for the fuzzers (tests/fuzz): every seed and every saved finding under
// tests/fuzz/corpus and tests/fuzz/regressions is replayed with the same property.
#include <doctest/doctest.h>

#include <array>
#include <filesystem>
#include <random>

#include "core/executor.h"
#include "core/shape_inference.h"
#include "formats/file_io.h"
#include "formats/onnx_model.h"
#include "tests/helpers.h"
#include "tests/mcz_test_util.h"
#include "tests/test_util.h"

using namespace mc;
using namespace mc::test;

namespace {

constexpr uint64_t mutation_seed = 0x6d637a2d6d757461;  // "mcz-muta"

// Decoding allocates in proportion to the element counts the tensor table declares, which a file
// may legitimately make large (a constant tensor codes to a few bytes); mutants declaring more than
// this are only parsed, as in the fuzz targets.
constexpr uint64_t max_decoded_elements = uint64_t{1} << 22;
// No mutant of a few-KB file has a reason to allocate more than this in one piece.
constexpr size_t allocation_limit = size_t{256} << 20;
// Mutated models are run only when all their values together are this small.
constexpr int64_t max_run_elements = int64_t{1} << 16;

enum class Mutation { overwrite, bit_flip, truncate, insert, erase, interesting_value };
constexpr Mutation mutations[] = {Mutation::overwrite, Mutation::bit_flip, Mutation::truncate,
                                  Mutation::insert, Mutation::erase, Mutation::interesting_value};
const char* mutation_name(Mutation m) {
  switch (m) {
    case Mutation::overwrite: return "overwrite";
    case Mutation::bit_flip: return "bit flip";
    case Mutation::truncate: return "truncate";
    case Mutation::insert: return "insert";
    case Mutation::erase: return "erase";
    case Mutation::interesting_value: return "interesting value";
  }
  return "?";
}

// Values that sit on the limits readers enforce, as LEB128 varints (what most size fields are).
constexpr uint64_t interesting[] = {0, 1, 2, 3, 4, 7, 8, 9, 64, 65, 127, 128, 255, 256, 65535, 65536, 65537,
                                    (uint64_t{1} << 20) + 1, (uint64_t{1} << 31) - 1, uint64_t{1} << 31,
                                    (uint64_t{1} << 31) + 1, uint64_t{1} << 32, uint64_t{1} << 40,
                                    uint64_t{1} << 63, ~uint64_t{0}, ~uint64_t{0} - 1};

size_t below(std::mt19937_64& rng, size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); }

// Applies one mutation of kind `m` to `b`, describing it in `what`.
void mutate(std::vector<std::byte>& b, Mutation m, std::mt19937_64& rng, std::string& what) {
  const size_t pos = below(rng, b.size() + (m == Mutation::insert ? 1 : 0));
  what = std::string(mutation_name(m)) + " at " + std::to_string(pos);
  switch (m) {
    case Mutation::overwrite: {
      const size_t n = std::min(b.size() - pos, 1 + below(rng, 4));
      for (size_t i = 0; i < n; ++i) b[pos + i] = static_cast<std::byte>(rng());
      what += " of " + std::to_string(n) + " bytes";
      break;
    }
    case Mutation::bit_flip: {
      if (b.empty()) break;
      const int bit = static_cast<int>(below(rng, 8));
      b[pos] ^= static_cast<std::byte>(1u << bit);
      what += " bit " + std::to_string(bit);
      break;
    }
    case Mutation::truncate:
      b.resize(pos);
      break;
    case Mutation::insert: {
      const size_t n = 1 + below(rng, 8);
      std::vector<std::byte> ins(n);
      for (auto& v : ins) v = static_cast<std::byte>(rng());
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), ins.begin(), ins.end());
      what += " of " + std::to_string(n) + " bytes";
      break;
    }
    case Mutation::erase: {
      const size_t n = std::min(b.size() - pos, 1 + below(rng, 8));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(pos), b.begin() + static_cast<std::ptrdiff_t>(pos + n));
      what += " of " + std::to_string(n) + " bytes";
      break;
    }
    case Mutation::interesting_value: {
      const uint64_t v = interesting[below(rng, std::size(interesting))];
      const auto bytes = leb128(v);
      for (size_t i = 0; i < bytes.size() && pos + i < b.size(); ++i) b[pos + i] = bytes[i];
      what += " = " + std::to_string(v);
      break;
    }
  }
}

struct Tally {
  int inputs = 0;
  int accepted = 0;        // read (and decoded or run) without error
  int input_errors = 0;
  int unsupported = 0;
  int parsed = 0;          // got past read_mcz / parse_onnx
  int tensor_table_errors = 0;
  int graph_errors = 0;
  int decode_errors = 0;
  int ran = 0;             // ONNX: executed
  int failures = 0;        // property violations
};

void record_error(const Error& e, const std::string& what, Tally& tally) {
  const std::string message = e.what();
  if (e.kind() == ErrorKind::input) ++tally.input_errors;
  else if (e.kind() == ErrorKind::unsupported) ++tally.unsupported;
  else {
    ++tally.failures;
    FAIL_CHECK(what << ": error of kind " << static_cast<int>(e.kind()) << " (only input or unsupported are allowed): " << message);
  }
  if (message.find("tensor table") != std::string::npos) ++tally.tensor_table_errors;
  if (message.find("graph section") != std::string::npos) ++tally.graph_errors;
}

uint64_t declared_elements(const McFile& f) {
  uint64_t n = 0;
  for (const auto& t : f.tensors) n += t.weights();
  return n;
}

// Feeds one .mcz through read_mcz and decode_mcz; records the outcome, and a failure if the
// property does not hold.
void check_mcz(const std::vector<std::byte>& file, const std::string& what, Tally& tally) {
  ++tally.inputs;
  bool parsed = false;
  try {
    AllocationLimit limit(allocation_limit);
    McFile f = read_mcz(file, "mutant.mcz");
    parsed = true;
    ++tally.parsed;
    if (declared_elements(f) <= max_decoded_elements) decode_mcz(f, "mutant.mcz");
    ++tally.accepted;
  } catch (const Error& e) {
    if (parsed) ++tally.decode_errors;
    record_error(e, what, tally);
  } catch (const std::exception& e) {
    ++tally.failures;
    FAIL_CHECK(what << ": unexpected exception (not mc::Error): " << e.what());
  }
}

// Parses, infers shapes and, if the model is small enough, runs it once on batch 1.
void check_onnx(const std::vector<std::byte>& bytes, const std::string& what, Tally& tally) {
  ++tally.inputs;
  try {
    AllocationLimit limit(allocation_limit);
    Model m = parse_onnx(bytes, "mutant.onnx");
    ++tally.parsed;
    InferredGraph inferred = infer_shapes(m, 1);
    int64_t elements = 0;
    for (const auto& [name, type] : inferred.types) elements += shape_numel(type.shape);
    if (elements <= max_run_elements) {
      std::vector<Tensor> inputs;
      for (const auto& in : m.graph.inputs) {
        Tensor t(in.dtype, concrete_input_shape(in, 1));
        if (t.dtype() == DType::f32)
          for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i % 13) * 0.25f - 1.5f;
        inputs.push_back(std::move(t));
      }
      ExecutorOptions options;
      options.threads = 1;
      Executor executor(m, options);
      executor.run(inputs);
      ++tally.ran;
    }
    ++tally.accepted;
  } catch (const Error& e) {
    record_error(e, what, tally);
  } catch (const std::exception& e) {
    ++tally.failures;
    FAIL_CHECK(what << ": unexpected exception (not mc::Error): " << e.what());
  }
}

// "6000 inputs: 900 accepted, 4900 input errors, ..." (categories that occurred).
std::string describe(const Tally& t) {
  std::string out = std::to_string(t.inputs) + " inputs";
  const std::pair<const char*, int> counts[] = {
      {"accepted", t.accepted}, {"input errors", t.input_errors}, {"unsupported", t.unsupported},
      {"parsed", t.parsed}, {"tensor-table errors", t.tensor_table_errors}, {"graph-section errors", t.graph_errors},
      {"decode errors", t.decode_errors}, {"ran", t.ran}};
  const char* separator = ": ";
  for (const auto& [label, n] : counts) {
    if (n == 0) continue;
    out += separator + std::to_string(n) + " " + label;
    separator = ", ";
  }
  return out;
}

}  // namespace

TEST_CASE("test_mutation: the unmutated inputs are accepted") {
  Tally tally;
  for (bool fp16 : {false, true}) check_mcz(small_mcz(fp16), "original", tally);
  check_onnx(to_bytes(serialize_onnx(tiny_conv_model())), "original", tally);
  check_onnx(to_bytes(serialize_onnx(varied_model())), "original", tally);
  CHECK(tally.accepted == 4);
  CHECK(tally.ran == 2);
}

TEST_CASE("test_mutation: mutated .mcz files are accepted or rejected cleanly") {
  std::mt19937_64 rng(mutation_seed);
  const auto original = small_mcz();
  const auto sections = extract_sections(original);
  constexpr int per_way = 2000;
  Tally raw, refreshed, in_section;
  std::string what;
  for (int i = 0; i < per_way; ++i) {
    const Mutation m = mutations[below(rng, std::size(mutations))];
    auto file = original;
    mutate(file, m, rng, what);
    check_mcz(file, "raw #" + std::to_string(i) + " " + what, raw);
  }
  for (int i = 0; i < per_way; ++i) {
    const Mutation m = mutations[below(rng, std::size(mutations))];
    auto file = original;
    mutate(file, m, rng, what);
    refresh_checksums(file);
    check_mcz(file, "refreshed #" + std::to_string(i) + " " + what, refreshed);
  }
  for (int i = 0; i < per_way; ++i) {
    const Mutation m = mutations[below(rng, std::size(mutations))];
    auto s = sections;
    // Mostly the tensor table and the graph: the payload's bytes are mostly free-form weights.
    const size_t index = std::array<size_t, 8>{0, 0, 0, 1, 1, 1, 2, 3}[below(rng, 8)];
    mutate(s[index].bytes, m, rng, what);
    check_mcz(assemble_mcz(s), "in section " + std::to_string(sections[index].kind) + " #" + std::to_string(i) + " " + what, in_section);
  }
  MESSAGE("raw: " << describe(raw));
  MESSAGE("refreshed: " << describe(refreshed));
  MESSAGE("in section: " << describe(in_section));
  CHECK(raw.failures + refreshed.failures + in_section.failures == 0);
  // The mutations reach the parsers behind the checksums, and some decode to a valid model.
  CHECK(refreshed.tensor_table_errors > 0);
  CHECK(in_section.tensor_table_errors > 50);
  CHECK(in_section.graph_errors > 50);
  CHECK(in_section.decode_errors > 10);
  CHECK(in_section.accepted > 10);
}

TEST_CASE("test_mutation: mutated ONNX models are accepted or rejected cleanly, and run if accepted") {
  std::mt19937_64 rng(mutation_seed + 1);
  constexpr int per_model = 2000;
  for (const auto& [name, model] : {std::pair<std::string, Model>{"tiny_conv", tiny_conv_model()},
                                    std::pair<std::string, Model>{"varied", varied_model()}}) {
    const auto original = to_bytes(serialize_onnx(model));
    Tally tally;
    std::string what;
    for (int i = 0; i < per_model; ++i) {
      const Mutation m = mutations[below(rng, std::size(mutations))];
      auto bytes = original;
      mutate(bytes, m, rng, what);
      check_onnx(bytes, name + " #" + std::to_string(i) + " " + what, tally);
    }
    MESSAGE(name << ": " << describe(tally));
    CHECK(tally.failures == 0);
    CHECK(tally.parsed > per_model / 10);
    CHECK(tally.ran > per_model / 20);
  }
}

TEST_CASE("test_mutation: an ONNX initializer declaring 2^30 elements without data fails before allocating") {
  // Regression: the importer allocated the tensor (4 GiB here) before comparing its data to its shape.
  auto bytes = to_bytes(serialize_onnx(tiny_conv_model()));
  std::vector<std::byte> tensor = {std::byte{0x08}};  // TensorProto.dims
  auto dim = leb128(uint64_t{1} << 30);
  tensor.insert(tensor.end(), dim.begin(), dim.end());
  for (int v : {0x10, 0x01, 0x42, 0x01, int{'h'}}) tensor.push_back(static_cast<std::byte>(v));  // data_type 1, name "h"
  const std::vector<std::byte> graph_head = {std::byte{0x3a}, static_cast<std::byte>(tensor.size() + 2),  // ModelProto.graph
                                             std::byte{0x2a}, static_cast<std::byte>(tensor.size())};     // GraphProto.initializer
  bytes.insert(bytes.end(), graph_head.begin(), graph_head.end());
  bytes.insert(bytes.end(), tensor.begin(), tensor.end());
  try {
    AllocationLimit limit(64u << 20);
    parse_onnx(bytes, "huge.onnx");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()) == "huge.onnx: tensor 'h' has 0 values, shape [1073741824] needs 1073741824");
  }
}

TEST_CASE("test_mutation: fuzz corpora and saved fuzzer findings replay cleanly") {
  namespace fs = std::filesystem;
  const fs::path fuzz = source_dir() / "tests" / "fuzz";
  Tally mcz, onnx;
  for (const char* dir : {"corpus", "regressions"}) {
    for (const char* format : {"mcz", "onnx"}) {
      const fs::path path = fuzz / dir / format;
      if (!fs::exists(path)) continue;
      for (const auto& entry : fs::directory_iterator(path)) {
        if (!entry.is_regular_file()) continue;
        const auto bytes = read_binary_file(entry.path().string());
        const std::string what = entry.path().lexically_relative(fuzz).string();
        if (std::string(format) == "mcz") {
          check_mcz(bytes, what, mcz);
          // The fuzz target also tries each input made consistent (size, trailer, checksums).
          auto fixed = bytes;
          make_consistent(fixed);
          if (fixed != bytes) check_mcz(fixed, what + " (made consistent)", mcz);
        } else {
          check_onnx(bytes, what, onnx);
        }
      }
    }
  }
  CHECK(mcz.inputs >= 10);
  CHECK(onnx.inputs >= 5);
  CHECK(mcz.failures + onnx.failures == 0);
}
