#include "formats/onnx_model.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <limits>

#include "core/shape_inference.h"
#include "formats/external_data.h"
#include "formats/file_io.h"

namespace mc {

namespace {

bool default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// A tensor whose raw little-endian bytes are in a side file (formats/external_data.h); `external` is
// null for a model not read from a file.
Tensor external_tensor(const onnx::TensorProto& p, DType dtype, const Shape& shape, const std::string& label, ExternalDataReader* external) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& kv : p.external_data()) entries.emplace_back(kv.key(), kv.value());
  const ExternalDataRef ref = parse_external_data_ref(entries, label);
  if (p.has_raw_data() || p.float_data_size() || p.int32_data_size() || p.int64_data_size())
    fail_input(label + ": has both external data and data in the model");
  if (!external)
    fail_input(label + ": its data is in external file '" + ref.location + "', which cannot be located for a model not read from a file");
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  external->check(ref, bytes, label);  // before allocating: a declared shape alone must not allocate
  Tensor t(dtype, shape);
  external->read(ref, bytes, t.raw(), label);
  return t;
}

Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& context, ExternalDataReader* external) {
  std::string label = p.name().empty() ? context : context + ": tensor '" + p.name() + "'";
  if (p.has_segment()) fail_unsupported(label + " is segmented, which is not supported");
  if (!dtype_supported(p.data_type()))
    fail_unsupported(label + " has element type " + std::to_string(p.data_type()) + " (" + onnx_type_name(p.data_type()) +
                     "), which is not supported");
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) fail_input(label + " has a negative dimension");
  // The data must be in the file: check its size against the shape before allocating the tensor,
  // so a few bytes declaring a 2^31-element tensor cannot make us allocate 8 GiB.
  int64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const Error& e) {
    fail_input(label + ": " + e.what());
  }
  const DType dtype = static_cast<DType>(p.data_type());
  const size_t n = static_cast<size_t>(numel);
  if (p.data_location() == onnx::TensorProto::EXTERNAL) return external_tensor(p, dtype, shape, label, external);
  if (p.has_raw_data()) {
    if (p.raw_data().size() != n * dtype_size(dtype))
      fail_input(label + ": raw data has " + std::to_string(p.raw_data().size()) + " bytes, shape " +
                 shape_str(shape) + " needs " + std::to_string(n * dtype_size(dtype)));
    Tensor t(dtype, shape);
    if (n) std::memcpy(t.raw(), p.raw_data().data(), t.byte_size());
    return t;
  }
  auto size_mismatch = [&](size_t got) {
    fail_input(label + " has " + std::to_string(got) + " values, shape " + shape_str(shape) + " needs " + std::to_string(n));
  };
  size_t values = 0;
  switch (dtype) {
    case DType::f32: values = static_cast<size_t>(p.float_data_size()); break;
    case DType::i64: values = static_cast<size_t>(p.int64_data_size()); break;
    case DType::i32: case DType::i8: case DType::u8: case DType::boolean: values = static_cast<size_t>(p.int32_data_size()); break;
    case DType::undefined: fail_internal("undefined dtype");
  }
  if (values != n) size_mismatch(values);
  Tensor t(dtype, shape);
  switch (t.dtype()) {
    case DType::f32:
      for (size_t i = 0; i < n; ++i) t.data<float>()[i] = p.float_data(static_cast<int>(i));
      break;
    case DType::i64:
      for (size_t i = 0; i < n; ++i) t.data<int64_t>()[i] = p.int64_data(static_cast<int>(i));
      break;
    case DType::i32: case DType::i8: case DType::u8: case DType::boolean: {
      for (size_t i = 0; i < n; ++i) {
        int32_t v = p.int32_data(static_cast<int>(i));
        if (t.dtype() == DType::i32) t.data<int32_t>()[i] = v;
        else if (t.dtype() == DType::i8) t.data<int8_t>()[i] = static_cast<int8_t>(v);
        else reinterpret_cast<uint8_t*>(t.raw())[i] = static_cast<uint8_t>(v);
      }
      break;
    }
    case DType::undefined: fail_internal("undefined dtype");
  }
  return t;
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.byte_size()));
}

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& v, const std::string& context) {
  ValueInfo info;
  info.name = v.name();
  if (!v.type().has_tensor_type())
    fail_unsupported(context + ": value '" + v.name() + "' is not a tensor");
  const auto& tt = v.type().tensor_type();
  if (!dtype_supported(tt.elem_type()))
    fail_unsupported(context + ": value '" + v.name() + "' has unsupported element type " +
                     std::to_string(tt.elem_type()) + " (" + onnx_type_name(tt.elem_type()) + ")");
  info.dtype = static_cast<DType>(tt.elem_type());
  info.shape_known = tt.has_shape();
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0) fail_input(context + ": value '" + v.name() + "' has a negative dimension");
      info.shape.push_back(d.dim_value());
      info.dim_params.emplace_back();
    } else {
      info.shape.push_back(-1);
      info.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "?");
    }
  }
  return info;
}

void value_info_to_proto(const ValueInfo& info, onnx::ValueInfoProto* v) {
  v->set_name(info.name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(info.dtype));
  if (!info.shape_known) return;
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < info.shape.size(); ++i) {
    auto* d = shape->add_dim();
    if (info.shape[i] >= 0) d->set_dim_value(info.shape[i]);
    else d->set_dim_param(i < info.dim_params.size() && !info.dim_params[i].empty() ? info.dim_params[i] : "N");
  }
}

Attribute attribute_from_proto(const onnx::AttributeProto& a, const Node& node, const std::string& context, ExternalDataReader* external) {
  Attribute out;
  switch (a.type()) {
    case onnx::AttributeProto::FLOAT: out.type = AttrType::floating; out.f = a.f(); break;
    case onnx::AttributeProto::INT: out.type = AttrType::integer; out.i = a.i(); break;
    case onnx::AttributeProto::STRING: out.type = AttrType::string; out.s = a.s(); break;
    case onnx::AttributeProto::TENSOR: {
      // An attribute's tensor is usually unnamed: its messages then name the node and attribute.
      const std::string where = a.t().name().empty() ? context + ": " + node.describe() + ", attribute '" + a.name() + "'" : context;
      out.type = AttrType::tensor;
      out.t = tensor_from_proto(a.t(), where, external);
      break;
    }
    case onnx::AttributeProto::FLOATS: out.type = AttrType::floats; out.floats.assign(a.floats().begin(), a.floats().end()); break;
    case onnx::AttributeProto::INTS: out.type = AttrType::integers; out.ints.assign(a.ints().begin(), a.ints().end()); break;
    case onnx::AttributeProto::STRINGS: out.type = AttrType::strings; out.strings.assign(a.strings().begin(), a.strings().end()); break;
    default:
      fail_unsupported(context + ": " + node.describe() + ": attribute '" + a.name() + "' of type " +
                       onnx::AttributeProto::AttributeType_Name(a.type()) + " is not supported");
  }
  return out;
}

void attribute_to_proto(const std::string& name, const Attribute& a, onnx::AttributeProto* p) {
  p->set_name(name);
  switch (a.type) {
    case AttrType::floating: p->set_type(onnx::AttributeProto::FLOAT); p->set_f(a.f); break;
    case AttrType::integer: p->set_type(onnx::AttributeProto::INT); p->set_i(a.i); break;
    case AttrType::string: p->set_type(onnx::AttributeProto::STRING); p->set_s(a.s); break;
    case AttrType::tensor: p->set_type(onnx::AttributeProto::TENSOR); tensor_to_proto(a.t, "", p->mutable_t()); break;
    case AttrType::floats: p->set_type(onnx::AttributeProto::FLOATS); for (float f : a.floats) p->add_floats(f); break;
    case AttrType::integers: p->set_type(onnx::AttributeProto::INTS); for (int64_t i : a.ints) p->add_ints(i); break;
    case AttrType::strings: p->set_type(onnx::AttributeProto::STRINGS); for (const auto& s : a.strings) p->add_strings(s); break;
  }
}

}  // namespace

Model parse_onnx(std::span<const std::byte> bytes, const std::string& name, ExternalDataReader* external) {
  Model model = parse_onnx_unchecked(bytes, name, external);
  check_imported(model, name);
  return model;
}

Model parse_onnx_unchecked(std::span<const std::byte> bytes, const std::string& name, ExternalDataReader* external) {
  if (bytes.empty()) fail_input(name + ": empty file, not an ONNX model");
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    fail_unsupported(name + ": models over 2 GiB are not supported");
  onnx::ModelProto proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    fail_input(name + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt)");
  if (!proto.has_graph() || proto.ir_version() <= 0)
    fail_input(name + ": not an ONNX model (no ir_version or graph)");
  Model model;
  model.ir_version = proto.ir_version();
  model.producer_name = proto.producer_name();
  model.producer_version = proto.producer_version();
  model.doc = proto.doc_string();
  for (const auto& kv : proto.metadata_props()) model.metadata.emplace_back(kv.key(), kv.value());
  model.opset = -1;
  for (const auto& op : proto.opset_import())
    if (default_domain(op.domain())) model.opset = op.version();
  if (model.opset < 0) {
    // Valid, but not ours: a graph of custom-domain ops only (ai.onnx.preview.training, ...) need
    // not import the default domain.
    for (const auto& np : proto.graph().node())
      if (!default_domain(np.domain()))
        fail_unsupported(name + ": unsupported op '" + np.domain() + "." + np.op_type() + "' in node '" + np.name() + "'");
    fail_input(name + ": the model imports no default-domain opset");
  }
  if (model.opset < min_opset || model.opset > max_opset)
    fail_unsupported(name + ": opset " + std::to_string(model.opset) + " is not supported (supported: " +
                     std::to_string(min_opset) + " to " + std::to_string(max_opset) + ")");

  const auto& gp = proto.graph();
  Graph& g = model.graph;
  g.name = gp.name();
  for (const auto& init : gp.initializer()) {
    if (g.initializers.count(init.name())) fail_input(name + ": initializer '" + init.name() + "' is defined twice");
    g.initializers.emplace(init.name(), tensor_from_proto(init, name, external));
  }
  if (gp.sparse_initializer_size() > 0) fail_unsupported(name + ": sparse initializers are not supported");
  for (const auto& in : gp.input()) {
    if (g.initializers.count(in.name())) continue;  // IR < 4 lists initializers as inputs too
    g.inputs.push_back(value_info_from_proto(in, name));
  }
  for (const auto& out : gp.output()) g.outputs.push_back(value_info_from_proto(out, name));
  for (const auto& np : gp.node()) {
    Node node;
    node.name = np.name();
    node.op = np.op_type();
    node.inputs.assign(np.input().begin(), np.input().end());
    node.outputs.assign(np.output().begin(), np.output().end());
    if (!default_domain(np.domain()))
      fail_unsupported(name + ": unsupported op '" + np.domain() + "." + node.op + "' in node '" + node.name +
                       "' (opset " + std::to_string(model.opset) + ")");
    for (const auto& a : np.attribute()) {
      if (!a.ref_attr_name().empty())
        fail_unsupported(name + ": " + node.describe() + ": attribute references are not supported");
      node.attrs[a.name()] = attribute_from_proto(a, node, name, external);
    }
    g.nodes.push_back(std::move(node));
  }
  return model;
}

void check_imported(Model& model, const std::string& name) {
  Graph& g = model.graph;
  for (const auto& node : g.nodes) {
    const OpKernel* kernel = find_kernel(node.op);
    if (!kernel)
      fail_unsupported(name + ": unsupported op '" + node.op + "' in node '" + (node.name.empty() ? "(unnamed)" : node.name) +
                       "' (opset " + std::to_string(model.opset) + ")");
    // An op newer than the opset the model imports is not part of the model's ONNX: invalid.
    if (model.opset < kernel->since)
      fail_input(name + ": " + node.describe() + ": the op does not exist before opset " + std::to_string(kernel->since) +
                 " (the model imports opset " + std::to_string(model.opset) + ")");
    // Every operator has an output, and the kernels write their first (a fuzzed Relu without outputs
    // reached a kernel writing to none).
    if (node.outputs.empty())
      fail_input(name + ": node '" + (node.name.empty() ? "(unnamed)" : node.name) + "' (" + node.op + ") has no outputs");
  }
  if (g.outputs.empty()) fail_input(name + ": the graph has no outputs (nothing for it to compute)");
  // Shapes are checked here, once, so that every command refuses the same models with the file named
  // (a Conv whose weights do not fit its input, a Reshape to an impossible shape, ...).
  try {
    g.sort();
    infer_shapes(model, 1);
  } catch (const Error& e) {
    const std::string what = e.what();
    throw Error(e.kind(), what.rfind(name + ":", 0) == 0 ? what : name + ": " + what);
  }
}

Model load_onnx(const std::string& path) {
  auto bytes = read_binary_file(path);
  ExternalDataReader external(path);
  return parse_onnx(bytes, path == "-" ? "<stdin>" : path, &external);
}

Tensor parse_onnx_tensor(std::span<const std::byte> bytes, const std::string& name) {
  onnx::TensorProto proto;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    fail_input(name + ": not a valid ONNX tensor");
  return tensor_from_proto(proto, name, nullptr);
}

namespace {

onnx::ModelProto model_proto(const Model& model) {
  onnx::ModelProto proto;
  proto.set_ir_version(model.ir_version);
  proto.set_producer_name(model.producer_name.empty() ? "mcompress" : model.producer_name);
  proto.set_producer_version(model.producer_version.empty() ? MCOMPRESS_VERSION : model.producer_version);
  if (!model.doc.empty()) proto.set_doc_string(model.doc);
  for (const auto& [k, v] : model.metadata) {
    auto* kv = proto.add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(model.opset);
  auto* gp = proto.mutable_graph();
  const Graph& g = model.graph;
  gp->set_name(g.name.empty() ? "mcompress" : g.name);
  for (const auto& in : g.inputs) value_info_to_proto(in, gp->add_input());
  for (const auto& out : g.outputs) value_info_to_proto(out, gp->add_output());
  for (const auto& [n, init] : g.initializers) tensor_to_proto(init.values, n, gp->add_initializer());
  for (const auto& node : g.nodes) {
    auto* np = gp->add_node();
    np->set_name(node.name);
    np->set_op_type(node.op);
    for (const auto& i : node.inputs) np->add_input(i);
    for (const auto& o : node.outputs) np->add_output(o);
    for (const auto& [an, a] : node.attrs) attribute_to_proto(an, a, np->add_attribute());
  }
  return proto;
}

std::string serialized(const onnx::ModelProto& proto) {
  if (proto.ByteSizeLong() > static_cast<size_t>(std::numeric_limits<int>::max()))
    fail_unsupported("the ONNX model is over 2 GiB, which protobuf cannot write (export --external-data keeps weights out of it)");
  std::string out;
  if (!proto.SerializeToString(&out)) fail_internal("ONNX serialization failed");
  return out;
}

}  // namespace

std::string serialize_onnx(const Model& model) { return serialized(model_proto(model)); }

OnnxWithExternalData serialize_onnx_external(const Model& model, const std::string& location) {
  onnx::ModelProto proto = model_proto(model);
  OnnxWithExternalData out;
  for (auto& t : *proto.mutable_graph()->mutable_initializer()) {
    if (t.raw_data().size() < external_data_min_bytes) continue;
    out.data.resize((out.data.size() + external_data_alignment - 1) / external_data_alignment * external_data_alignment, '\0');
    const size_t offset = out.data.size();
    out.data += t.raw_data();
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    for (const auto& [key, value] : {std::pair<const char*, std::string>{"location", location}, {"offset", std::to_string(offset)},
                                     {"length", std::to_string(out.data.size() - offset)}}) {
      auto* kv = t.add_external_data();
      kv->set_key(key);
      kv->set_value(value);
    }
    ++out.tensors;
  }
  out.model = serialized(proto);
  return out;
}

bool looks_like_onnx(std::span<const std::byte> head) {
  // ModelProto starts with field 1 (ir_version, varint: tag 0x08) in every exporter we know;
  // .mcz files start with their magic.
  return !head.empty() && static_cast<unsigned char>(head[0]) == 0x08;
}

}  // namespace mc
