// An inverted-file index over the rows of a matrix for maximum inner product
// search: FAISS's IndexIVFFlat (METRIC_INNER_PRODUCT), kept behind this
// header so that FAISS is confined to the serving/ann room.
//
// Building clusters the rows into nlist lists (spherical k-means on a
// subsample) and files every row, uncompressed, under its nearest centroid.
// A search scores a query against the centroids, scans the rows of the
// nprobe best lists exactly and returns the best `count` of them: with
// nprobe == nlist it sees every row, so its result is the exact top `count`.
//
// search() is const and may run on many threads at once; each call uses
// FAISS's OpenMP loop over its queries.
#pragma once

#include <cstdint>
#include <memory>

namespace hybrec::serving::ann {

struct IvfOptions {
  int64_t nlist = 0;                   // > 0 and <= the number of rows
  int64_t train_iterations = 10;       // k-means iterations
  int64_t train_points_per_list = 64;  // the k-means subsample: this many rows per list at most
  uint64_t seed = 1234;                // k-means initialisation and subsample
};

class IvfIndex {
 public:
  // Copies rows [num_rows, dim] (row-major) into the index; row r gets id r.
  IvfIndex(const float* rows, int64_t num_rows, int64_t dim, const IvfOptions& options);
  ~IvfIndex();
  IvfIndex(const IvfIndex&) = delete;
  IvfIndex& operator=(const IvfIndex&) = delete;

  int64_t nlist() const;
  int64_t num_rows() const;
  int64_t dim() const;

  // For each of num_queries queries [num_queries, dim], the ids of the best
  // `count` rows by inner product among the nprobe lists nearest it, best
  // first, into ids [num_queries, count]; -1 past the rows those lists hold.
  // 1 <= nprobe <= nlist, count >= 1.
  void search(const float* queries, int64_t num_queries, int64_t count, int64_t nprobe,
              int64_t* ids) const;

 private:
  struct Faiss;
  std::unique_ptr<Faiss> faiss_;
};

}  // namespace hybrec::serving::ann
