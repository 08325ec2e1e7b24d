// Exact draws from a Dirichlet-multinomial mixture, one independent random stream per sample.
#ifndef FASTDMM_SAMPLE_H
#define FASTDMM_SAMPLE_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "parallel.h"

namespace fastdmm {

// The random stream of one sample: xoshiro256** (Blackman & Vigna 2018) whose state is
// derived from (seed, stream) by SplitMix64 mixing, so a sample's draws depend on
// nothing but the seed and its index: not on the thread that draws it, nor on the
// other samples.
class SampleRng {
 public:
  SampleRng(const std::uint64_t seed[2], std::uint64_t stream);

  std::uint64_t next() {
    const std::uint64_t result = rotate(state_[1] * 5u, 7) * 9u;
    const std::uint64_t shifted = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= shifted;
    state_[3] = rotate(state_[3], 45);
    return result;
  }

  // Uniform on the open interval (0, 1): the midpoints of 2^53 equal cells, so that
  // log(u) is always finite and negative.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }

  // Uniform integer in [0, n), n >= 1, exactly (Lemire's multiply-and-reject).
  std::uint32_t below(std::uint32_t n);

  // Standard normal (Marsaglia's polar method; the second value of a pair is kept
  // for the next call).
  double normal();

 private:
  static std::uint64_t rotate(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// The constants of Marsaglia & Tsang's (2000) Gamma sampler for one shape. Shapes
// below 1 are drawn as G(a) = G(a + 1) U^(1 / a), on the log scale.
struct GammaShape {
  GammaShape() = default;
  explicit GammaShape(double shape);
  double shape = 1.0;
  double log_shape = 0.0;
  double d = 2.0 / 3.0;  // b - 1/3 for b = shape, or shape + 1 below 1
  double c = 0.0;        // 1 / sqrt(9 d)
  double log_d = 0.0;
  bool boosted = false;  // shape < 1
};

// log of a Gamma(shape, 1) draw, for any shape > 0. For shapes below 1 the value is
// log G(a + 1) + log(U) / a, finite where G(a) itself underflows to 0; it is -Inf only
// where even the logarithm overflows (a tiny shape). `log_uniform` receives log(U)
// (or +Inf for shapes >= 1, whose draws are never -Inf), which ranks such draws.
double draw_log_gamma(const GammaShape& shape, SampleRng& rng, double* log_uniform);

// Of draws whose logarithm overflowed to -Inf, the largest is the one with the smallest
// log(-log U) - log(a): log G = log G(a + 1) - exp(that), and the log G(a + 1) terms
// (a few units) cannot reorder values that differ by more than 1e308.
inline double log_gamma_rank(double log_uniform, double log_shape) {
  return std::log(-log_uniform) - log_shape;
}

// Binomial(n, p) draw, exact: inversion when n min(p, 1 - p) < 10, otherwise
// Hormann's transformed rejection (BTRD; Hormann 1993, J. Stat. Comput. Simul. 46)
// with the exact acceptance test.
std::int64_t draw_binomial(std::int64_t n, double p, SampleRng& rng);

// What to draw: n_samples samples, sample i from component component[i] (0-based)
// with depth[i] >= 0 counts. alpha is n_taxa x n_components, column-major, finite and
// > 0, with finite column sums. Sample i's draws come from SampleRng(seed, i).
struct MixtureDraw {
  std::size_t n_samples = 0;
  std::size_t n_taxa = 0;
  std::size_t n_components = 0;
  const double* alpha = nullptr;
  const int* component = nullptr;
  const int* depth = nullptr;
  std::uint64_t seed[2] = {0, 0};
};

// The non-zero counts of the samples [first, end), row by row: sample
// first + r has row_length[r] entries, each a (taxon, count) pair stored as two
// LEB128 varints in `bytes` (3 bytes for a typical entry, against 8 as two integers:
// the blocks hold the whole table until it is compressed), in no particular taxon
// order.
struct SampleBlock {
  std::size_t first = 0;
  std::size_t end = 0;
  std::vector<std::uint32_t> row_length;
  std::vector<std::uint8_t> bytes;
  std::size_t n_entries = 0;
};

// The drawn table, by blocks of samples.
struct SampledTable {
  std::size_t n_samples = 0;
  std::size_t n_taxa = 0;
  std::vector<SampleBlock> blocks;
  std::int64_t nnz = 0;
};

// Blocks of samples are the unit of parallel work. Every sample has its own stream, so
// the blocks (and the threads that draw them) do not affect the result. The first
// loop draws kFirstLoopBlocks blocks of kFirstBlockSamples samples; later loops draw
// kLoopBlocks blocks sized to hold about kBlockBytes each (so that their buffers can
// be backed by huge pages), between kFirstBlockSamples and kMaxBlockSamples samples.
constexpr std::size_t kFirstBlockSamples = 1024;
constexpr std::size_t kFirstLoopBlocks = 64;
constexpr std::size_t kLoopBlocks = 16;
constexpr double kBlockBytes = 4194304.0;
constexpr std::size_t kMaxBlockSamples = 65536;

// Groups of blocks compress_columns() scatters in parallel.
constexpr std::size_t kCompressGroups = 16;

// Draws the table: per sample, proportions from the Dirichlet of its component and
// counts from the multinomial (see sample.cpp for the exact method). check_interrupt
// is called on the calling thread before each parallel loop (it may throw).
SampledTable sample_mixture(const MixtureDraw& draw, const Executor& executor,
                            const std::function<void()>& check_interrupt = [] {});

// Writes the table in compressed-column form (column_start has n_taxa + 1 entries;
// row_index 0-based and increasing within each column), releasing the blocks as it
// goes. Requires table.nnz <= INT_MAX; the outputs hold table.nnz entries.
void compress_columns(SampledTable& table, const Executor& executor, int* column_start,
                      int* row_index, double* value);

}  // namespace fastdmm

#endif
