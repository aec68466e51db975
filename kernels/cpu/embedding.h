// CPU backend of the embedding ops (hybrec/kernels/embedding.h has the
// contract). Called by api/embedding.cc after argument checks: sizes are
// valid, required pointers are non-null and indices/offsets have been
// validated when the device asked for it.
#pragma once

#include <cstdint>

#include "hybrec/kernels/embedding.h"

namespace hybrec::kernels::cpu {

void embedding_gather(const float* table, int64_t dim, const int64_t* indices, int64_t n,
                      float* out);
void embedding_bag_forward(const float* table, int64_t dim, const EmbeddingBags& bags, float* out);
int64_t embedding_bag_backward(const EmbeddingBags& bags, const float* grad_out, int64_t num_rows,
                               int64_t dim, int64_t* unique_ids, float* unique_grads);
void rowwise_adagrad_update(float* table, float* state, int64_t dim, const int64_t* unique_ids,
                            const float* unique_grads, int64_t num_unique,
                            const RowwiseAdagradParams& params);
void adam_update(float* table, float* m, float* v, int64_t dim, const int64_t* unique_ids,
                 const float* unique_grads, int64_t num_unique, const AdamParams& params);
void embedding_bag_backward_adagrad(const EmbeddingBags& bags, const float* grad_out, float* table,
                                    float* state, int64_t num_rows, int64_t dim,
                                    const RowwiseAdagradParams& params);

}  // namespace hybrec::kernels::cpu
