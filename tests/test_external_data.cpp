// ONNX external data (formats/external_data.h): the pair written by serialize_onnx_external reads back
// as the single file, and every unsafe or inconsistent reference is refused, before anything is read,
// with an input error naming the tensor and the side file.
#include <doctest/doctest.h>

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

#include "core/executor.h"
#include "formats/external_data.h"
#include "formats/file_io.h"
#include "formats/onnx_model.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"
#include "tests/helpers.h"

using namespace mc;
using mc::test::read_file;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// tiny_conv_model with 12 filters: its weight (1,296 bytes) goes to the side file, its bias stays.
Model wide_model() {
  Model m = test::tiny_conv_model();
  m.graph.initializers["w"] = Tensor::from_vector<float>({12, 3, 3, 3}, test::TestRandom{777}.values(12 * 3 * 3 * 3, 1.0f));
  m.graph.initializers["b"] = Tensor::from_vector<float>({12}, test::TestRandom{778}.values(12, 1.0f));
  m.graph.outputs[0].shape = {-1, 12};
  return m;
}

// dir/m.onnx: tiny_conv_model with initializer 'w' (432 bytes) stored externally under ENTRIES, and
// the side file dir/w.data holding DATA (when not empty). Returns the model's path.
std::string write_with_entries(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& entries,
                               const std::string& data) {
  const Model m = test::tiny_conv_model();
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(serialize_onnx(m)));
  for (auto& t : *proto.mutable_graph()->mutable_initializer()) {
    if (t.name() != "w") continue;
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    for (const auto& [k, v] : entries) {
      auto* kv = t.add_external_data();
      kv->set_key(k);
      kv->set_value(v);
    }
  }
  const fs::path path = dir / "m.onnx";
  write_file(path, proto.SerializeAsString());
  if (!data.empty()) write_file(dir / "w.data", data);
  return path.string();
}

// The raw bytes of tiny_conv_model's 'w'.
std::string w_bytes() {
  const Model m = test::tiny_conv_model();
  const Tensor& w = m.graph.initializers.at("w").values;
  return std::string(static_cast<const char*>(w.raw()), w.byte_size());
}

Error load_error(const std::string& path) {
  try {
    load_onnx(path);
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error for " << path);
  return Error(ErrorKind::internal, "");
}

}  // namespace

TEST_CASE("test_external_data: the written pair reads back as the single file") {
  test::TempDir dir;
  const Model m = wide_model();
  const OnnxWithExternalData pair = serialize_onnx_external(m, "m.onnx.data");
  CHECK(pair.tensors == 1);  // w (1,296 bytes); b (48 bytes) stays inline
  CHECK(pair.data.size() == 12 * 27 * 4);
  CHECK(pair.model.size() < serialize_onnx(m).size() - 1000);
  write_file(dir.path / "m.onnx", pair.model);
  write_file(dir.path / "m.onnx.data", pair.data);
  const Model back = load_onnx((dir.path / "m.onnx").string());
  CHECK(serialize_onnx(back) == serialize_onnx(m));

  // Tensors after the first start at multiples of 64 bytes.
  Model two = wide_model();
  two.graph.initializers["w2"] = Tensor::from_vector<float>({300}, test::TestRandom{9}.values(300, 1.0f));
  const OnnxWithExternalData pair2 = serialize_onnx_external(two, "two.data");
  CHECK(pair2.tensors == 2);
  CHECK(pair2.data.size() == 1344 + 1200);  // 1,296 rounded up to 1,344, then 1,200
}

TEST_CASE("test_external_data: the shared and bundled models round-trip through the pair") {
  test::TempDir dir;
  const std::string path = (test::source_dir() / "examples" / "mobilenet_v1_0.25_224.onnx").string();
  const Model m = load_onnx(path);
  const OnnxWithExternalData pair = serialize_onnx_external(m, "mn.onnx.data");
  CHECK(pair.tensors > 10);
  write_file(dir.path / "mn.onnx", pair.model);
  write_file(dir.path / "mn.onnx.data", pair.data);
  const Model back = load_onnx((dir.path / "mn.onnx").string());
  CHECK(serialize_onnx(back) == serialize_onnx(m));
}

TEST_CASE("test_external_data: valid references: offset, no length, a symbolic link inside the folder, a subfolder") {
  test::TempDir dir;
  const std::string w = w_bytes();
  // At offset 5, no length: the tensor's size is read from there.
  std::string path = write_with_entries(dir.path, {{"location", "w.data"}, {"offset", "5"}}, "abcde" + w + "tail");
  CHECK(serialize_onnx(load_onnx(path)) == serialize_onnx(test::tiny_conv_model()));
  // Through a link to a file inside the folder.
  fs::create_directory(dir.path / "sub");
  write_file(dir.path / "sub" / "real.bin", w);
  fs::create_symlink("sub/real.bin", dir.path / "link.data");
  path = write_with_entries(dir.path, {{"location", "link.data"}, {"length", std::to_string(w.size())}, {"checksum", "ignored"}}, "");
  CHECK(serialize_onnx(load_onnx(path)) == serialize_onnx(test::tiny_conv_model()));
  path = write_with_entries(dir.path, {{"location", "sub/./real.bin"}}, "");
  CHECK(serialize_onnx(load_onnx(path)) == serialize_onnx(test::tiny_conv_model()));
}

TEST_CASE("test_external_data: unsafe or inconsistent references are input errors naming the tensor and the path") {
  test::TempDir dir;
  const std::string w = w_bytes();
  const std::string side = (dir.path / "w.data").string();
  struct Bad {
    std::vector<std::pair<std::string, std::string>> entries;
    std::string data;
    std::string message_part;
  };
  const std::vector<Bad> cases = {
      {{{"location", "../w.data"}}, w, "location '../w.data' leaves the model's folder"},
      {{{"location", "sub/../../w.data"}}, w, "leaves the model's folder"},
      {{{"location", "/etc/passwd"}}, w, "location '/etc/passwd' is an absolute path"},
      {{{"location", "w.data"}, {"offset", "8"}}, w, "passes the end of '" + side + "' (432 bytes)"},
      {{{"location", "w.data"}, {"offset", "100000"}}, w, "at offset 100000"},
      {{{"location", "w.data"}, {"offset", "18446744073709551615"}}, w, "passes the end of '" + side + "'"},
      {{{"location", "w.data"}, {"length", "400"}}, w, "length 400 in '" + side + "' does not match the tensor's size (432 bytes)"},
      {{{"location", "w.data"}}, w.substr(0, 431), "passes the end of '" + side + "' (431 bytes)"},
      {{{"location", "missing.data"}}, w, "file '" + (dir.path / "missing.data").string() + "' not found"},
      {{{"location", "."}}, w, "is not a regular file"},
      {{{"location", "w.data"}, {"offset", "-1"}}, w, "offset '-1' is not a non-negative decimal integer"},
      {{{"location", "w.data"}, {"length", "12x"}}, w, "length '12x' is not"},
      {{{"location", "w.data"}, {"location", "w.data"}}, w, "key 'location' is given twice"},
      {{{"offset", "0"}}, w, "external data without a location"},
      {{{"location", ""}}, w, "external data without a location"},
  };
  for (const Bad& c : cases) {
    CAPTURE(c.message_part);
    const std::string path = write_with_entries(dir.path, c.entries, c.data);
    const Error e = load_error(path);
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find(path + ": tensor 'w'") != std::string::npos);
    CHECK(std::string(e.what()).find(c.message_part) != std::string::npos);
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
}

TEST_CASE("test_external_data: a symbolic link out of the folder is refused, as is a dangling one") {
  test::TempDir outside, dir;
  write_file(outside.path / "secret.data", w_bytes());
  fs::create_symlink(outside.path / "secret.data", dir.path / "w.data");
  std::string path = write_with_entries(dir.path, {{"location", "w.data"}}, "");
  Error e = load_error(path);
  CHECK(e.kind() == ErrorKind::input);
  CHECK(std::string(e.what()).find("tensor 'w': external data file '" + (dir.path / "w.data").string() + "' resolves to '") != std::string::npos);
  CHECK(std::string(e.what()).find("outside the model's folder") != std::string::npos);
  // A link to a folder outside, then a file in it.
  fs::create_directory_symlink(outside.path, dir.path / "out");
  path = write_with_entries(dir.path, {{"location", "out/secret.data"}}, "");
  CHECK(std::string(load_error(path).what()).find("outside the model's folder") != std::string::npos);
  fs::create_symlink(dir.path / "nothing", dir.path / "dangling.data");
  path = write_with_entries(dir.path, {{"location", "dangling.data"}}, "");
  CHECK(std::string(load_error(path).what()).find("symbolic link to a missing file") != std::string::npos);
}

TEST_CASE("test_external_data: a model without a folder (standard input, memory) cannot have external data") {
  test::TempDir dir;
  const std::string path = write_with_entries(dir.path, {{"location", "w.data"}}, w_bytes());
  const auto bytes = read_binary_file(path);
  ExternalDataReader stdin_reader("-");
  try {
    parse_onnx(bytes, "<stdin>", &stdin_reader);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()) ==
          "<stdin>: tensor 'w': its data is in external file 'w.data', which cannot be located for a model read from standard input "
          "(give the model's path instead)");
  }
  try {
    parse_onnx(bytes, "mem.onnx");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find("mem.onnx: tensor 'w': its data is in external file 'w.data'") == 0);
  }
}

TEST_CASE("test_external_data: a huge declared shape is refused before anything is allocated") {
  test::TempDir dir;
  const std::string path = write_with_entries(dir.path, {{"location", "w.data"}}, w_bytes());
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(read_file(path)));
  for (auto& t : *proto.mutable_graph()->mutable_initializer())
    if (t.name() == "w") {
      t.clear_dims();
      for (int64_t d : {1 << 20, 1 << 10, 1 << 6}) t.add_dims(d);  // 2^36 floats
    }
  write_file(path, proto.SerializeAsString());
  const Error e = load_error(path);
  CHECK((e.kind() == ErrorKind::input || e.kind() == ErrorKind::unsupported));
  CHECK(std::string(e.what()).find("tensor 'w'") != std::string::npos);
}

TEST_CASE("test_external_data: write_binary_files leaves nothing when one file cannot be written") {
  test::TempDir dir;
  const std::string a = "aaaa", b = "bbbb";
  auto span = [](const std::string& s) { return std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()); };
  CHECK_THROWS_AS(write_binary_files({{(dir.path / "a.data").string(), span(a)}, {(dir.path / "no" / "b.onnx").string(), span(b)}}), Error);
  CHECK(fs::is_empty(dir.path));
  write_binary_files({{(dir.path / "a.data").string(), span(a)}, {(dir.path / "b.onnx").string(), span(b)}});
  CHECK(read_file(dir.path / "a.data") == a);
  CHECK(read_file(dir.path / "b.onnx") == b);
}

TEST_CASE("test_external_data: a Constant node's tensor may be external data too") {
  test::TempDir dir;
  Model m = test::tiny_conv_model();
  Attribute value;
  value.type = AttrType::tensor;
  value.t = m.graph.initializers.at("b").values;
  m.graph.initializers.erase("b");
  m.graph.nodes.insert(m.graph.nodes.begin(), Node{"bias", "Constant", {}, {"b"}, {}});
  m.graph.nodes.front().attrs["value"] = value;
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(serialize_onnx(m)));
  onnx::TensorProto* t = proto.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_t();
  const std::string bias = t->raw_data();
  t->clear_raw_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = t->add_external_data();
  kv->set_key("location");
  kv->set_value("bias.bin");
  write_file(dir.path / "m.onnx", proto.SerializeAsString());
  write_file(dir.path / "bias.bin", bias);
  const Model back = load_onnx((dir.path / "m.onnx").string());
  CHECK(serialize_onnx(back) == serialize_onnx(m));
  fs::remove(dir.path / "bias.bin");
  CHECK(std::string(load_error((dir.path / "m.onnx").string()).what()).find("m.onnx: node 'bias' (Constant), attribute 'value': external data file '" + (dir.path / "bias.bin").string() + "' not found") != std::string::npos);
}

TEST_CASE("test_external_data: more than 4 GiB of external data is unsupported, refused before allocating") {
  test::TempDir dir;
  const std::string path = write_with_entries(dir.path, {{"location", "w.data"}}, w_bytes());
  fs::resize_file(dir.path / "w.data", (uint64_t{5} << 30));  // sparse: no disk space used
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(read_file(path)));
  for (auto& t : *proto.mutable_graph()->mutable_initializer())
    if (t.name() == "w") {
      t.clear_dims();
      t.add_dims((int64_t{1} << 30) + 16);  // 4 GiB + 64 bytes of float32
    }
  write_file(path, proto.SerializeAsString());
  const Error e = load_error(path);
  CHECK(e.kind() == ErrorKind::unsupported);
  CHECK(std::string(e.what()).find("tensor 'w': external data in '" + (dir.path / "w.data").string() + "' brings the model's tensors over 4 GiB") !=
        std::string::npos);
}
