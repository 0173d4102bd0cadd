#pragma once
// Shared test helpers: fresh random inputs (seed printed on failure), float64 comparisons.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace perfmamba::testing {

// A new seed per test run unless PERFMAMBA_TEST_SEED is set, so every run draws fresh inputs
// and a failure can be replayed.
inline uint64_t test_seed() {
  if (const char* s = std::getenv("PERFMAMBA_TEST_SEED")) return std::stoull(s);
  static const uint64_t seed = std::random_device{}();
  return seed;
}

class Rng {
 public:
  explicit Rng(uint64_t salt = 0) : gen_(test_seed() * 1000003 + salt) {}
  float normal(float std = 1.0f) { return std::normal_distribution<float>(0.0f, std)(gen_); }
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen_); }
  int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
  std::vector<float> normals(size_t n, float std = 1.0f) {
    std::vector<float> v(n);
    for (auto& x : v) x = normal(std);
    return v;
  }
  std::vector<float> uniforms(size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }

 private:
  std::mt19937_64 gen_;
};

// ||a - b|| / ||b|| over n elements; NaN anywhere gives +inf.
template <class A, class B>
double rel_error(const A* a, const B* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    if (std::isnan(d)) return INFINITY;
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}
template <class A, class B>
double rel_error(const std::vector<A>& a, const std::vector<B>& b) {
  EXPECT_EQ(a.size(), b.size());
  return rel_error(a.data(), b.data(), std::min(a.size(), b.size()));
}

#define PM_SEED_TRACE() SCOPED_TRACE("PERFMAMBA_TEST_SEED=" + std::to_string(perfmamba::testing::test_seed()))

// Compiled-in paths, overridable by environment variables (binaries built here and run on the
// GPU machine find the repository elsewhere).
inline std::string path_or_env(const char* env, const char* compiled) {
  const char* v = std::getenv(env);
  return v && *v ? v : compiled;
}
inline std::string fixtures_dir() { return path_or_env("PERFMAMBA_FIXTURES", PERFMAMBA_FIXTURES); }

}  // namespace perfmamba::testing

namespace perfmamba::testing {
inline std::string shared_data_dir() { return path_or_env("PERFMAMBA_SHARED_DATA", PERFMAMBA_SHARED_DATA); }
inline std::string models_dir() { return path_or_env("PERFMAMBA_MODELS", PERFMAMBA_MODELS); }
}  // namespace perfmamba::testing
