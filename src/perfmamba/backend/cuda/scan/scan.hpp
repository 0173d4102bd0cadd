#pragma once
// The recurrences: Mamba-1's selective scan and Mamba-2's SSD (recurrent, one token, chunked).
#include <cublas_v2.h>

#include "perfmamba/backend/ops.hpp"

namespace perfmamba::cuda {

// y in f32 or bf16 (p.y's type; bf16 packed, ldy = d_inner).
void selective_scan(const SelectiveScanParams& p);
// One token a sequence (len 1) where d_state is a multiple of 4 up to 128 and A, B, C and the
// state are 16-byte aligned; false (nothing launched) otherwise. selective_scan tries it first.
bool scan_token_step(const SelectiveScanParams& p);
void ssd_recurrent(const SsdParams& p);
// One token a sequence (len 1) where d_state is a multiple of 4 up to 256 and B, C and the state
// are 16-byte aligned; false (nothing launched) otherwise. ssd_recurrent tries it first.
bool ssd_token_step(const SsdParams& p);
// Chunked SSD for prefill: products on bf16 tensor cores when bf16, else f32 batched GEMMs on
// `blas`; one chunk or less runs ssd_recurrent.
void ssd_chunked(const SsdParams& p, cublasHandle_t blas, bool bf16);

}  // namespace perfmamba::cuda
