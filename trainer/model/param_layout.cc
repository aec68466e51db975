#include "trainer/model/param_layout.h"

#include <string>

#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {

ParamLayout make_param_layout(const ModelConfig& c, std::vector<DenseTensor>* tensors) {
  ParamLayout layout;
  tensors->clear();
  int64_t offset = 0;
  auto add = [&](const std::string& name, int64_t rows, int64_t cols) {
    tensors->push_back(DenseTensor{name, offset, rows, cols});
    const int64_t at = offset;
    offset += rows * cols;
    return at;
  };
  const int64_t d = c.dim;
  if (c.use_id && c.unseen_items == UnseenItems::kLearned) {
    layout.new_item = add("new_item", d, 1);
  }
  if (c.use_text) layout.adapter = add("adapter", d, c.text_dim);
  if (c.use_history) {
    layout.positions = add("positions", c.history_len, d);
    const int64_t f = ffn_hidden(c);
    for (int64_t k = 0; k < c.layers; ++k) {
      const std::string p = "encoder." + std::to_string(k) + ".";
      EncoderLayerOffsets o;
      o.qkv_w = add(p + "qkv.weight", 3 * d, d);
      o.qkv_b = add(p + "qkv.bias", 3 * d, 1);
      o.out_w = add(p + "out.weight", d, d);
      o.out_b = add(p + "out.bias", d, 1);
      o.ln1_g = add(p + "ln1.gamma", d, 1);
      o.ln1_b = add(p + "ln1.beta", d, 1);
      o.ffn1_w = add(p + "ffn1.weight", f, d);
      o.ffn1_b = add(p + "ffn1.bias", f, 1);
      o.ffn2_w = add(p + "ffn2.weight", d, f);
      o.ffn2_b = add(p + "ffn2.bias", d, 1);
      o.ln2_g = add(p + "ln2.gamma", d, 1);
      o.ln2_b = add(p + "ln2.beta", d, 1);
      layout.layers.push_back(o);
    }
  }
  layout.bilinear = add("bilinear", d, d);
  if (c.use_text_score) {
    layout.text_scale = add("text_scale", 1, 1);
    layout.lambda = add("lambda", 1, 1);
  }
  layout.total = offset;
  return layout;
}

}  // namespace hybrec::trainer
