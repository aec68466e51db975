#include "trainer/pipelines/embed_dataset.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

EmbedReport embed_dataset(const text::BertEncoder& encoder, const std::string& path,
                          TextField field, int64_t batch, const EmbedStart& on_start,
                          const text::BertEncoder::Progress& progress) {
  Dataset d = read_dataset(path);
  const bool items = field == TextField::kItems;
  const std::vector<std::string>& texts = items ? d.item_text : d.user_text;
  HYBREC_CHECK(!texts.empty() || items, "dataset ", path,
               " has no /users/text to embed (--field users)");
  std::vector<std::string> present;
  std::vector<int64_t> rows;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) continue;
    present.push_back(texts[i]);
    rows.push_back(static_cast<int64_t>(i));
  }
  EmbedReport report;
  report.texts = static_cast<int64_t>(texts.size());
  report.embedded = static_cast<int64_t>(present.size());
  report.dim = encoder.dim();
  report.encoder = std::filesystem::path(encoder.config().dir).filename().string();
  if (on_start) on_start(report);

  const int64_t dim = report.dim;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> vectors(present.size() * static_cast<std::size_t>(dim));
  encoder.encode(present, batch, vectors.data(), progress);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<float> table(texts.size() * static_cast<std::size_t>(dim), 0.0f);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(vectors.data() + i * dim, dim, table.data() + rows[i] * dim);
  }
  set_text_embeddings(d, field, dim, std::move(table), report.encoder);
  write_dataset(d, path);  // through a temporary name, then a rename
  return report;
}

}  // namespace hybrec::trainer
