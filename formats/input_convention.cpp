#include "formats/input_convention.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/text.h"

namespace mc {

namespace {

std::vector<std::string> split_items(const std::string& spec) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t end = spec.find(';', pos);
    const std::string item = spec.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (!item.empty()) items.push_back(item);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return items;
}

int64_t whole_number(const std::string& item, const std::string& value, int64_t lo, int64_t hi) {
  const auto v = parse_double(value);
  if (!v || *v != std::floor(*v) || *v < static_cast<double>(lo) || *v > static_cast<double>(hi))
    fail_usage("input convention '" + item + "': expected a whole number in " + std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<int64_t>(*v);
}

}  // namespace

std::string input_spec(const InputConvention& c) {
  std::string spec = c.preprocess.kind == Preprocess::Kind::none ? "" : preprocess_name(c.preprocess);
  auto add = [&](const std::string& item) { spec += (spec.empty() ? "" : ";") + item; };
  if (c.layout) add(std::string("layout=") + layout_name(*c.layout));
  if (c.input_size > 0) add("size=" + std::to_string(c.input_size));
  if (c.crop_ratio != 0.875) add("crop-ratio=" + format_number(c.crop_ratio));
  if (c.label_offset >= 0) add("label-offset=" + std::to_string(c.label_offset));
  return spec;
}

InputConvention parse_input_spec(const std::string& spec) {
  InputConvention c;
  std::string mean, stddev;
  bool bgr = false;
  for (const std::string& item : split_items(spec)) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (eq == std::string::npos && key == "bgr") bgr = true;
    else if (eq == std::string::npos) {
      if (c.preprocess.kind != Preprocess::Kind::none) fail_usage("input convention '" + spec + "': two preprocessing names");
      c.preprocess = parse_preprocess(key);
    } else if (key == "mean") mean = value;
    else if (key == "std") stddev = value;
    else if (key == "layout") c.layout = parse_layout(value);
    else if (key == "size") c.input_size = static_cast<int>(whole_number(item, value, 1, 8192));
    else if (key == "label-offset") c.label_offset = static_cast<int>(whole_number(item, value, 0, 1000));
    else if (key == "crop-ratio") {
      const auto v = parse_double(value);
      if (!v || !(*v > 0 && *v <= 1)) fail_usage("--crop-ratio must be in (0, 1], got '" + value + "'");
      c.crop_ratio = *v;
    } else
      fail_usage("input convention '" + spec + "': unknown item '" + item + "'");
  }
  if (!mean.empty()) {
    if (c.preprocess.kind != Preprocess::Kind::none)
      fail_usage("--mean/--std replace --preprocess " + preprocess_name(c.preprocess) + ": give one or the other");
    c.preprocess = custom_preprocess(mean, stddev, bgr);
  } else if (!stddev.empty() || bgr)
    fail_usage(std::string(bgr ? "--bgr" : "--std") + " needs --mean R,G,B");
  return c;
}

std::optional<Layout> detect_layout(const Model& model) {
  if (model.graph.inputs.size() != 1 || model.graph.inputs[0].shape.size() != 4) return std::nullopt;
  const ValueInfo& in = model.graph.inputs[0];
  const bool channels_first = in.shape[1] == 3, channels_last = in.shape[3] == 3;
  if (channels_first != channels_last) return channels_last ? Layout::nhwc : Layout::nchw;
  for (const Node& n : model.graph.nodes)
    for (const std::string& v : n.inputs)
      if (v == in.name)
        return n.op == "Transpose" && n.attr_ints("perm") == std::vector<int64_t>{0, 3, 1, 2} ? Layout::nhwc : Layout::nchw;
  return Layout::nchw;
}

ImageConfig fit_image_config(const InputConvention& c, const Model& model, const std::string& name) {
  ImageConfig image;
  image.preprocess = c.preprocess;
  const std::optional<Layout> detected = detect_layout(model);
  image.layout = c.layout.value_or(detected.value_or(Layout::nchw));
  int crop = 0;
  if (model.graph.inputs.size() == 1 && model.graph.inputs[0].shape.size() == 4) {
    const ValueInfo& in = model.graph.inputs[0];
    const Shape& s = in.shape;
    const bool nhwc = image.layout == Layout::nhwc;
    const int64_t channels = nhwc ? s[3] : s[1];
    if (channels > 0 && channels != 3)
      fail_usage(name + ": input '" + in.name + "' is " + shape_str(s) + ": with --layout " + layout_name(image.layout) +
                 " that is " + std::to_string(channels) + " channels, not 3 (" +
                 (c.layout ? "leave --layout out to detect it" : "give --layout") + ")");
    const int64_t h = nhwc ? s[1] : s[2], w = nhwc ? s[2] : s[3];
    if (h > 0 && w > 0) {
      if (h != w) fail_unsupported(name + ": input '" + in.name + "' is " + shape_str(s) + ": only square image inputs are supported");
      crop = static_cast<int>(h);
      if (c.input_size > 0 && c.input_size != crop)
        fail_usage(name + ": --input-size " + std::to_string(c.input_size) + " does not fit input '" + in.name + "', which is " +
                   std::to_string(h) + "x" + std::to_string(w));
    }
  }
  if (crop == 0) crop = c.input_size > 0 ? c.input_size : 224;
  image.crop = crop;
  image.resize_short = resize_for(crop, c.crop_ratio);
  return image;
}

int64_t model_classes(const Model& model) {
  if (model.graph.outputs.empty()) return 0;
  const Shape& s = model.graph.outputs[0].shape;
  return s.empty() || s.back() <= 0 ? 0 : s.back();
}

int64_t label_offset_for(const InputConvention& c, int64_t classes) {
  if (c.label_offset >= 0) return c.label_offset;
  return classes == 1001 ? 1 : 0;
}

}  // namespace mc
