#include "serving/ann/ivf_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>

#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::serving::ann {

struct IvfIndex::Faiss {
  Faiss(int64_t dim, int64_t nlist)
      : quantizer(dim), index(&quantizer, dim, nlist, faiss::METRIC_INNER_PRODUCT) {}
  faiss::IndexFlatIP quantizer;  // the centroids; must outlive `index`
  faiss::IndexIVFFlat index;
};

IvfIndex::IvfIndex(const float* rows, int64_t num_rows, int64_t dim, const IvfOptions& options) {
  HYBREC_CHECK(dim >= 1, "IvfIndex: dim ", dim, " must be >= 1");
  HYBREC_CHECK(options.nlist >= 1 && options.nlist <= num_rows, "IvfIndex: nlist ", options.nlist,
               " must be in [1, ", num_rows, "] (the number of rows)");
  HYBREC_CHECK(options.train_iterations >= 1 && options.train_points_per_list >= 1,
               "IvfIndex: train_iterations ", options.train_iterations,
               " and train_points_per_list ", options.train_points_per_list, " must be >= 1");
  faiss_ = std::make_unique<Faiss>(dim, options.nlist);
  faiss::IndexIVFFlat& index = faiss_->index;
  index.cp.niter = static_cast<int>(options.train_iterations);
  index.cp.seed = static_cast<int>(options.seed & 0x7fffffff);
  // Unit-length centroids: a list's rank for a query is then the inner
  // product with its direction, which is what maximum-inner-product search
  // wants (FAISS's default for this metric, set here so it is not implicit).
  index.cp.spherical = true;
  // FAISS's default of 256 rows per centroid makes the k-means of a
  // 1M-item catalogue take minutes on two cores; 64 keeps the centroids
  // useful (recall is measured at build) at a quarter of the cost.
  index.cp.max_points_per_centroid = static_cast<int>(options.train_points_per_list);
  // Small catalogues are clustered anyway: FAISS's warning about fewer than
  // 39 rows per list says nothing the build's recall does not.
  index.cp.min_points_per_centroid = 1;
  index.train(num_rows, rows);
  index.add(num_rows, rows);
}

IvfIndex::~IvfIndex() = default;

int64_t IvfIndex::nlist() const { return static_cast<int64_t>(faiss_->index.nlist); }
int64_t IvfIndex::num_rows() const { return faiss_->index.ntotal; }
int64_t IvfIndex::dim() const { return faiss_->index.d; }

void IvfIndex::search(const float* queries, int64_t num_queries, int64_t count, int64_t nprobe,
                      int64_t* ids) const {
  HYBREC_CHECK(count >= 1, "IvfIndex::search: count ", count, " must be >= 1");
  HYBREC_CHECK(nprobe >= 1 && nprobe <= nlist(), "IvfIndex::search: nprobe ", nprobe,
               " must be in [1, ", nlist(), "]");
  if (num_queries == 0) return;
  faiss::SearchParametersIVF params;
  params.nprobe = static_cast<std::size_t>(nprobe);
  std::vector<float> scores(static_cast<std::size_t>(num_queries * count));
  faiss_->index.search(num_queries, queries, count, scores.data(), ids, &params);
}

}  // namespace hybrec::serving::ann
