#pragma once
// Shared by the CUDA backend's tests (this folder): a fixture that skips without a device and
// moves vectors to and from it, and the golden-fixture checks. The kernels are checked against the
// CPU kernels (themselves tested against float64) on fresh random inputs at odd shapes.
// Tolerances: relative L2 error <= 1e-5 per f32 op (2e-5 for the SSD and norms over groups wider
// than 8192), <= 1e-4 for f32 model logits; with bf16 GEMMs or bf16 SSD products <= 1e-2 (bf16
// keeps 8 bits of mantissa).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/io/safetensors.hpp"
#include "perfmamba/model/load.hpp"
#include "perfmamba/model/mamba_lm.hpp"
#include "testing.hpp"

namespace perfmamba::cuda_testing {
using testing::Rng;

inline bool have_device() { return cuda_device_count() > 0; }
#define PM_NEED_CUDA() \
  if (!::perfmamba::cuda_testing::have_device()) GTEST_SKIP() << "no CUDA device"

inline Tensor to_device(const std::vector<float>& v) {
  Tensor t = Tensor::empty({int64_t(v.size())});
  std::copy(v.begin(), v.end(), t.f32());
  return t.to(Device::CUDA);
}
// The same values in bf16 on the device.
inline Tensor to_device_bf16(const std::vector<float>& v) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::BF16);
  convert_from_f32(v.data(), DType::BF16, t.raw(), v.size());
  return t.to(Device::CUDA);
}
// A device tensor (f32 or bf16) as f32 values on the host; waits for the device.
inline std::vector<float> to_host(Backend& be, const Tensor& t) {
  be.synchronize();
  Tensor h = t.to(Device::CPU);
  std::vector<float> v(size_t(h.numel()));
  convert_to_f32(h.dtype(), h.raw(), v.data(), v.size());
  return v;
}
inline float round_to_bf16(float f) {  // nearest even, as __float2bfloat16_rn (finite inputs)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

// Prefill of all but the last token, then one decode step: the last position's reference logits.
inline void expect_decode_matches(MambaLM& m, const std::vector<int32_t>& ids, const Tensor& want, int B,
                           int L, double tol) {
  const int V = int(want.dim(2));
  std::vector<int32_t> head, last;
  for (int b = 0; b < B; ++b) {
    head.insert(head.end(), ids.begin() + b * L, ids.begin() + b * L + L - 1);
    last.push_back(ids[size_t(b) * L + L - 1]);
  }
  InferenceState st = m.new_state(B);
  m.prefill(head.data(), B, L - 1, st, false);
  Tensor step = m.decode(last.data(), st);
  std::vector<float> want_last;
  for (int b = 0; b < B; ++b)
    want_last.insert(want_last.end(), want.f32() + (size_t(b) * L + L - 1) * V,
                     want.f32() + (size_t(b) * L + L) * V);
  EXPECT_LT(testing::rel_error(step.f32(), want_last.data(), want_last.size()), tol);
}

// A golden fixture's logits through `be`: prefill of the whole input, and the last position
// again as one decode step after a prefill of the rest.
inline void expect_golden(Backend& be, const char* name, double tol) {
  SCOPED_TRACE(name);
  const std::string dir = testing::fixtures_dir() + "/golden/" + name;
  SafetensorsFile ref(dir + "/reference.safetensors");
  Tensor ids64 = entry_to_tensor(*ref.find("input_ids"));
  Tensor want = entry_to_f32(*ref.find("logits"));
  const int B = int(ids64.dim(0)), L = int(ids64.dim(1));
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < ids64.numel(); ++i)
    ids.push_back(int32_t(static_cast<const int64_t*>(ids64.raw())[i]));
  LoadedModel lm = load_model(dir, be);
  InferenceState st = lm.model->new_state(B);
  Tensor got = lm.model->prefill(ids.data(), B, L, st, true);
  EXPECT_LT(testing::rel_error(got.f32(), want.f32(), size_t(want.numel())), tol);
  expect_decode_matches(*lm.model, ids, want, B, L, tol);
}

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    PM_NEED_CUDA();
    be_ = make_cuda_backend();
  }
  // Host vector -> device tensor (kept alive by the fixture)
  float* dev(const std::vector<float>& v) {
    Tensor h = Tensor::empty({int64_t(v.size())});
    std::copy(v.begin(), v.end(), h.f32());
    keep_.push_back(h.to(Device::CUDA));
    return keep_.back().f32();
  }
  std::vector<float> host(const float* d, size_t n) {
    be_->synchronize();
    Tensor t = Tensor::empty({int64_t(n)}, DType::F32, Device::CUDA);
    device_memory(Device::CUDA).copy(t.raw(), d, n * 4, 2);
    Tensor h = t.to(Device::CPU);
    return std::vector<float>(h.f32(), h.f32() + n);
  }
  std::unique_ptr<Backend> be_;
  std::vector<Tensor> keep_;
};


}  // namespace perfmamba::cuda_testing
