#include "trainer/loop/item_text_encoder.h"

#include <filesystem>
#include <memory>

#include "hybrec/kernels/error.h"
#include "trainer/data/text_hash.h"
#include "trainer/text/bert_encoder.h"

namespace hybrec::trainer {

ItemTextEncoder make_item_text_encoder(const Dataset& data, const std::string& model_dir) {
  if (data.text_dim == 0) return {};
  if (data.text_encoder == kHashingEncoder) {
    auto encoder = std::make_shared<HashingEncoder>(data.item_text, data.text_dim);
    return [encoder](const std::string& text) { return encoder->encode(text); };
  }
  HYBREC_CHECK(
      !model_dir.empty(), "dataset '", data.name, "': its item text vectors were written by '",
      data.text_encoder,
      "', which new items' text needs too: set stream.text_model to that model's directory");
  auto encoder = std::make_shared<text::BertEncoder>(model_dir);
  const std::string name = std::filesystem::path(encoder->config().dir).filename().string();
  HYBREC_CHECK(name == data.text_encoder && encoder->dim() == data.text_dim, "stream.text_model ",
               model_dir, " is '", name, "' with ", encoder->dim(), " dims; dataset '", data.name,
               "' was embedded by '", data.text_encoder, "' with ", data.text_dim);
  return [encoder](const std::string& text) { return encoder->encode_one(text); };
}

}  // namespace hybrec::trainer
