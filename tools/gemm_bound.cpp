// The GEMM-only bound of a training step: every matrix product of src/model/cpu_step.cpp for one
// batch (forward, weight gradients and input gradients; AuxK's second pass, taken only while units
// are dead, aside), with the same shapes, transposes, chunking across threads, slices and sgemm
// (oneDNN's), and nothing else. No step that does these products can be
// faster, so scripts/bench.sh divides sae's images/s by this program's to say how close it gets.
//
//   build/sae_gemm_bound [--threads T] [--batch B] [--seconds S]
//
// Prints one JSON line: {"threads": T, "batch": B, "ms_per_batch": ..., "images_per_s": ...,
// "flop_per_image": ...}, the last the products' floating-point operations per image.

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int64_t kMinImagesPerChunk = 16;  // as in src/model/cpu_step.cpp
constexpr int64_t kSliceImages = 16;        // as in src/model/cpu_step.cpp

/// One product C (m, n) = op(A) (m, k) . op(B) (k, n), row-major.
struct Gemm {
  char trans_a, trans_b;
  int64_t m, n, k;
};

/// The step's products for a chunk of `b` images, as cpu_step.cpp runs them: the convolutions
/// (enc1, enc2, dec2, dec3) slice by slice, the dense layers (enc3, dec1) over the chunk.
std::vector<Gemm> step_products(int64_t b) {
  std::vector<Gemm> out;
  const auto each_slice = [&](const auto& products_of) {
    for (int64_t first = 0; first < b; first += kSliceImages) {
      const int64_t s = std::min(kSliceImages, b - first);
      for (const Gemm& g : products_of(s * 196, s * 49)) out.push_back(g);  // 14x14, 7x7 pixels
    }
  };
  // forward: enc1, enc2; enc3; dec1
  each_slice([](int64_t big, int64_t small) {
    return std::vector<Gemm>{{'N', 'T', big, 16, 9}, {'N', 'T', small, 32, 144}};
  });
  out.push_back({'N', 'T', b, 64, 1568});
  out.push_back({'N', 'N', b, 1568, 64});
  // dec2, dec3 forward, then their weight and input gradients
  each_slice([](int64_t big, int64_t small) {
    return std::vector<Gemm>{{'N', 'N', small, 144, 32}, {'N', 'N', big, 9, 16},
                             {'T', 'N', 16, 9, big},     {'N', 'T', big, 16, 9},
                             {'T', 'N', 32, 144, small}, {'N', 'T', small, 32, 144}};
  });
  // dec1's and enc3's input gradients
  out.push_back({'N', 'T', b, 64, 1568});
  out.push_back({'N', 'N', b, 1568, 64});
  // enc2's weight and input gradients, enc1's weight gradient
  each_slice([](int64_t big, int64_t small) {
    return std::vector<Gemm>{
        {'T', 'N', 32, 144, small}, {'N', 'N', small, 144, 32}, {'T', 'N', 16, 9, big}};
  });
  // dec1's and enc3's weight gradients
  out.push_back({'T', 'N', 64, 1568, b});
  out.push_back({'T', 'N', 64, 1568, b});
  return out;
}

/// Runs the products once on buffers large enough for all of them.
void run(const std::vector<Gemm>& products, std::vector<float>& a, std::vector<float>& b,
         std::vector<float>& c) {
  for (const Gemm& g : products) {
    const int64_t lda = g.trans_a == 'N' ? g.k : g.m;
    const int64_t ldb = g.trans_b == 'N' ? g.n : g.k;
    dnnl_sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
               c.data(), g.n);
  }
}

int64_t flag(int argc, char** argv, const char* name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t threads = std::max<int64_t>(1, flag(argc, argv, "--threads", 1));
  const int64_t batch = std::max<int64_t>(1, flag(argc, argv, "--batch", 100));
  const double seconds =
      static_cast<double>(std::max<int64_t>(1, flag(argc, argv, "--seconds", 2)));
  const int64_t chunks = std::max<int64_t>(1, std::min(threads, batch / kMinImagesPerChunk));
  omp_set_num_threads(static_cast<int>(threads));

  int64_t rounds = 0;
  double elapsed = 0.0;
#pragma omp parallel num_threads(static_cast <int>(chunks))
  {
    const int64_t c = omp_get_thread_num();
    const auto products = step_products(batch * (c + 1) / chunks - batch * c / chunks);
    size_t size = 0;
    for (const Gemm& g : products) size = std::max<size_t>(size, g.m * g.k + g.k * g.n + g.m * g.n);
    std::vector<float> a(size, 0.5f), b(size, 0.25f), out(size);
    run(products, a, b, out);  // warm-up: oneDNN generates its kernels on first use
#pragma omp barrier
    const auto start = std::chrono::steady_clock::now();
    for (int64_t r = 0;; ++r) {
      run(products, a, b, out);
      int stop = 0;
#pragma omp master
      {
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        rounds = r + 1;
      }
#pragma omp barrier
      stop = elapsed >= seconds;
#pragma omp barrier
      if (stop) break;
    }
  }
  const double ms = elapsed / static_cast<double>(rounds) * 1e3;
  double flop = 0.0;  // multiply-adds count 2, over every chunk's products
  for (int64_t c = 0; c < chunks; ++c) {
    for (const Gemm& g : step_products(batch * (c + 1) / chunks - batch * c / chunks)) {
      flop += 2.0 * static_cast<double>(g.m * g.n * g.k);
    }
  }
  std::printf(
      "{\"threads\": %lld, \"batch\": %lld, \"ms_per_batch\": %.4f, \"images_per_s\": %.1f, "
      "\"flop_per_image\": %.0f}\n",
      static_cast<long long>(threads), static_cast<long long>(batch), ms,
      static_cast<double>(batch) / (ms / 1e3), flop / static_cast<double>(batch));
  return 0;
}
