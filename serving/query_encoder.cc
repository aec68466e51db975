#include "serving/query_encoder.h"

#include <cmath>
#include <filesystem>

#include "hybrec/kernels/error.h"

namespace hybrec::serving {

QueryEncoder::QueryEncoder(const trainer::Dataset& data, const std::string& text_model)
    : name_(data.text_encoder), dim_(data.text_dim) {
  HYBREC_CHECK(dim_ > 0, "serving: dataset ", data.name, " has no item text vectors");
  if (name_ == trainer::kHashingEncoder) {
    hashing_ = std::make_unique<trainer::HashingEncoder>(data.item_text, dim_);
    return;
  }
  HYBREC_CHECK(!text_model.empty(), "serving: the dataset's text vectors come from \"", name_,
               "\"; query text needs that model: pass --text-model DIR");
  std::filesystem::path dir(text_model);
  if (!dir.has_filename()) dir = dir.parent_path();  // "models/x/"
  const std::string dir_name = dir.filename().string();
  HYBREC_CHECK(dir_name == name_, "serving: --text-model ", text_model, " is \"", dir_name,
               "\" but the dataset's text vectors come from \"", name_, "\"");
  bert_ = std::make_unique<text::BertEncoder>(text_model);
  HYBREC_CHECK(bert_->dim() == dim_, "serving: --text-model ", text_model, " gives dim ",
               bert_->dim(), ", the dataset's text vectors have dim ", dim_);
}

QueryEncoder::~QueryEncoder() = default;

std::vector<float> QueryEncoder::encode(const std::string& text) const {
  if (hashing_ != nullptr) return hashing_->encode(text);
  std::vector<float> q;
  {
    std::lock_guard<std::mutex> lock(bert_mutex_);
    q = bert_->encode_one(text);
  }
  // The encoder normalises when its model says so; the fused score needs a
  // unit vector either way.
  double norm = 0;
  for (const float v : q) norm += static_cast<double>(v) * v;
  if (norm > 0) {
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& v : q) v *= inv;
  }
  return q;
}

}  // namespace hybrec::serving
