// CUDA backend of the embedding ops (hybrec/kernels/embedding.h has the
// contract). Plain C++ so api/embedding.cc can include it without CUDA
// headers; `stream` is a cudaStream_t. Called after argument checks: sizes
// are valid, required pointers are non-null and the work is not empty.
#pragma once

#include <cstdint>

#include "hybrec/kernels/embedding.h"

namespace hybrec::kernels::cuda {

// First violations found on the device (-1: none). Synchronises the stream.
struct BagsViolation {
  int64_t offset_position = -1;  // first b in [0, count] breaking the CSR rules
  int64_t index_position = -1;   // first p with indices[p] outside [0, num_rows)
};
// offsets may be null (then only the indices are checked).
BagsViolation find_bag_violation(const int64_t* indices, int64_t num_indices, int64_t num_rows,
                                 const int64_t* offsets, int64_t count, void* stream);

void embedding_gather(const float* table, int64_t dim, const int64_t* indices, int64_t n,
                      float* out, void* stream);
void embedding_bag_forward(const float* table, int64_t dim, const EmbeddingBags& bags, float* out,
                           void* stream);
int64_t embedding_bag_backward(const EmbeddingBags& bags, const float* grad_out, int64_t num_rows,
                               int64_t dim, int64_t* unique_ids, float* unique_grads, void* stream);
void rowwise_adagrad_update(float* table, float* state, int64_t dim, const int64_t* unique_ids,
                            const float* unique_grads, int64_t num_unique,
                            const RowwiseAdagradParams& params, void* stream);
void adam_update(float* table, float* m, float* v, int64_t dim, const int64_t* unique_ids,
                 const float* unique_grads, int64_t num_unique, const AdamParams& params,
                 void* stream);
void embedding_bag_backward_adagrad(const EmbeddingBags& bags, const float* grad_out, float* table,
                                    float* state, int64_t num_rows, int64_t dim,
                                    const RowwiseAdagradParams& params, void* stream);

}  // namespace hybrec::kernels::cuda
