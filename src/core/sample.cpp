// Exact draws from a Dirichlet-multinomial mixture (rdmm(sparse = TRUE)).
//
// Sample i, of component k (alpha = alpha_k, A = sum_j alpha_j) and depth J, draws
// proportions p ~ Dirichlet(alpha) and counts x ~ Multinomial(J, p). With the small
// alphas of real fits (most ~0.01) almost every proportion is astronomically small,
// so drawing one Gamma variate per taxon is wasted work. Instead:
//   - the taxa whose expected count J alpha_j / A is at most kUrnBallsPerTaxon form a
//     group U (the taxa of smallest alpha). By the Dirichlet's aggregation property,
//     (p_j for j outside U, p_U = sum_{j in U} p_j) ~ Dirichlet(alpha_j, A_U), and the
//     proportions within U are Dirichlet(alpha_U), independent of them;
//   - so Gamma variates are drawn (on the log scale, normalised in log space) for the
//     taxa outside U and one for the group, and the multinomial over these cells is
//     drawn by conditional binomials;
//   - the group's count m is then split over U from its marginal, DM(m, alpha_U), by
//     a Polya urn: ball t + 1 (t = 0, 1, ...) is a fresh draw from alpha_U / A_U with
//     probability A_U / (A_U + t), else a copy of a uniformly chosen earlier ball
//     (Blackwell & MacQueen 1973). That costs O(m), about J A_U / A, rather than
//     O(|U|) Gamma draws. When m is large against |U| (m > kUrnFallback |U|) the group
//     is split by Gamma variates and binomials over its own taxa instead.
// Every step is exact (to double precision); the split into U only decides which exact
// method draws what, so any split gives the same distribution.
#include "sample.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "hash.h"
#include "memory.h"
#include "special.h"

namespace fastdmm {

namespace {



constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();

// Taxa with expected count J alpha_j / A up to this go to the urn (a ball costs a few
// ns; a Gamma variate and a binomial some 50 ns).
constexpr double kUrnBallsPerTaxon = 8.0;
// Above this many balls per urn taxon, the group is split by Gamma variates instead
// (bounds the urn's time and memory for deep samples).
constexpr double kUrnFallback = 64.0;

// log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2]: the remainder of
// Stirling's series for log Gamma(k + 1), from its asymptotic expansion (terms
// 1/(12 z) - 1/(360 z^3) + 1/(1260 z^5) - 1/(1680 z^7), z = k + 1; the next term is
// below 4e-13 for k >= 10) or, for small k, from lgamma itself.
double stirling_remainder(double k) {
  const double z = k + 1.0;
  if (k < 10.0) {
    return log_gamma(z) - ((k + 0.5) * std::log(z) - z + 0.91893853320467274178);
  }
  const double z2 = 1.0 / (z * z);
  return (1.0 / 12.0 - z2 * (1.0 / 360.0 - z2 * (1.0 / 1260.0 - z2 / 1680.0))) / z;
}

// Binomial(n, q), q <= 1/2, n q < 10: inversion from 0, with the ratio
// P(k) / P(k - 1) = ((n + 1) / k - 1) q / (1 - q). Mean n q + 1 steps.
std::int64_t binomial_inversion(std::int64_t n, double q, SampleRng& rng) {
  const double odds = q / (1.0 - q);
  const double scaled = static_cast<double>(n + 1) * odds;
  const double at_zero = std::exp(static_cast<double>(n) * std::log1p(-q));
  for (;;) {
    double u = rng.uniform();
    double mass = at_zero;
    std::int64_t k = 0;
    // The probabilities summed in double precision may fall short of u by rounding
    // (by about 1e-16): such a u is drawn again rather than given to any value.
    while (u > mass && mass > 0.0 && k < n) {
      u -= mass;
      ++k;
      mass *= scaled / static_cast<double>(k) - odds;
    }
    if (u <= mass) return k;
  }
}

// Binomial(n, q), q <= 1/2, n q >= 10: BTRD. A uniform u on (-1/2, 1/2) maps to
// k = floor((2 a / us + b) u + c), us = 1/2 - |u|, whose density in k is the hat
// alpha / (a / us^2 + b) (the derivative of the map); v uniform on (0, 1) accepts k when
// v alpha / (a / us^2 + b) <= P(k) / P(m), m the mode. The box us >= 0.07, v <= v_r lies
// under the target and is accepted at once.
std::int64_t binomial_btrd(std::int64_t n, double q, SampleRng& rng) {
  const double nd = static_cast<double>(n);
  const double spq = std::sqrt(nd * q * (1.0 - q));
  const double b = 1.15 + 2.53 * spq;
  const double a = -0.0873 + 0.0248 * b + 0.01 * q;
  const double c = nd * q + 0.5;
  const double v_r = 0.92 - 4.2 / b;
  const double alpha = (2.83 + 5.1 / b) * spq;
  const double odds = q / (1.0 - q);
  const double m = std::floor((nd + 1.0) * q);
  // log P(k) / P(m) = h + (n + 1) log((n - m + 1) / (n - k + 1))
  //                   + (k + 1/2) log((n - k + 1) odds / (k + 1)) - fc(k) - fc(n - k),
  // by Stirling's formula with remainders fc (every term of moderate size, so no
  // cancellation even for n near 2^31). h is computed when first needed: most draws
  // are accepted in the box.
  double h = 0.0;
  bool have_h = false;
  for (;;) {
    const double u = rng.uniform() - 0.5;
    double v = rng.uniform();
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2.0 * a / us + b) * u + c);
    if (!(k >= 0.0 && k <= nd)) continue;
    if (us >= 0.07 && v <= v_r) return static_cast<std::int64_t>(k);
    v = std::log(v * alpha / (a / (us * us) + b));
    if (!have_h) {
      h = (m + 0.5) * std::log((m + 1.0) / (odds * (nd - m + 1.0))) + stirling_remainder(m) +
          stirling_remainder(nd - m);
      have_h = true;
    }
    const double bound = h + (nd + 1.0) * std::log((nd - m + 1.0) / (nd - k + 1.0)) +
                         (k + 0.5) * std::log((nd - k + 1.0) * odds / (k + 1.0)) -
                         stirling_remainder(k) - stirling_remainder(nd - k);
    if (v <= bound) return static_cast<std::int64_t>(k);
  }
}

// Per component: its taxa in increasing order of alpha (ties by index), their
// cumulative sums (the urn's base distribution, and A_U for every prefix), Gamma
// constants, and a guide table for the urn's fresh draws.
struct ComponentPlan {
  std::vector<std::uint32_t> taxon;
  std::vector<double> alpha;
  std::vector<double> cumulative;
  std::vector<GammaShape> shape;
  double total = 0.0;
  // Guide table (Chen & Asau 1974) over the first guide_taxa cumulative sums, the
  // largest group any sample of the component uses: guide[b] is the first rank r with
  // cumulative[r] > b * guide_width, so the search for a target starts at most a few
  // ranks before its answer.
  std::size_t guide_taxa = 0;
  double guide_width = 0.0;
  std::vector<std::uint32_t> guide;
};

// Taxa with alpha_j <= kUrnBallsPerTaxon A / J go to the urn: a prefix of the plan's
// ranks, as many as group_size() says.
std::size_t group_size(const ComponentPlan& plan, std::int64_t depth) {
  const double limit = kUrnBallsPerTaxon * plan.total / static_cast<double>(depth);
  return static_cast<std::size_t>(std::upper_bound(plan.alpha.begin(), plan.alpha.end(), limit) -
                                  plan.alpha.begin());
}

// `smallest_depth`: the smallest positive depth of the component's samples (0 if
// none), whose group is the largest.
ComponentPlan plan_component(const double* alpha, std::size_t n_taxa, std::int64_t smallest_depth) {
  ComponentPlan plan;
  plan.taxon.resize(n_taxa);
  std::iota(plan.taxon.begin(), plan.taxon.end(), 0u);
  std::stable_sort(plan.taxon.begin(), plan.taxon.end(),
                   [alpha](std::uint32_t x, std::uint32_t y) { return alpha[x] < alpha[y]; });
  plan.alpha.resize(n_taxa);
  plan.cumulative.resize(n_taxa);
  plan.shape.resize(n_taxa);
  double sum = 0.0;
  for (std::size_t r = 0; r < n_taxa; ++r) {
    const double a = alpha[plan.taxon[r]];
    plan.alpha[r] = a;
    sum += a;  // smallest first: every prefix sum is as accurate as it can be
    plan.cumulative[r] = sum;
    plan.shape[r] = GammaShape(a);
  }
  plan.total = sum;
  if (smallest_depth > 0) plan.guide_taxa = group_size(plan, smallest_depth);
  if (plan.guide_taxa > 0) {
    const std::size_t n_guide = plan.guide_taxa;
    plan.guide_width = plan.cumulative[n_guide - 1] / static_cast<double>(n_guide);
    plan.guide.resize(n_guide);
    std::size_t r = 0;
    for (std::size_t b = 0; b < n_guide; ++b) {
      const double threshold = static_cast<double>(b) * plan.guide_width;
      while (r + 1 < n_guide && plan.cumulative[r] <= threshold) ++r;
      plan.guide[b] = static_cast<std::uint32_t>(r);
    }
  }
  return plan;
}

// The first rank r < n_group with cumulative[r] > target (target < cumulative[n_group - 1],
// n_group <= guide_taxa), or n_group - 1 if rounding put target at the group's total.
std::size_t search_rank(const ComponentPlan& plan, std::size_t n_group, double target) {
  const std::size_t n_guide = plan.guide_taxa;
  std::size_t b = std::min(n_guide - 1, static_cast<std::size_t>(target / plan.guide_width));
  // The bucket's threshold must not exceed the target, whatever the division rounded.
  while (b > 0 && static_cast<double>(b) * plan.guide_width > target) --b;
  std::size_t r = std::min<std::size_t>(plan.guide[b], n_group - 1);
  while (r + 1 < n_group && plan.cumulative[r] <= target) ++r;
  return r;
}

// Work space of one parallel task.
struct Scratch {
  explicit Scratch(std::size_t n_taxa)
      : log_gamma(n_taxa + 1), log_uniform(n_taxa + 1), weight(n_taxa + 1),
        remaining_weight(n_taxa + 1), cell_count(n_taxa + 1), shapes(n_taxa + 1),
        taxon_count(n_taxa, 0) {}
  std::vector<double> log_gamma, log_uniform, weight, remaining_weight;
  std::vector<std::int64_t> cell_count;
  std::vector<const GammaShape*> shapes;
  std::vector<std::int64_t> taxon_count;
  std::vector<std::uint32_t> touched;
  std::vector<std::uint32_t> balls;
};

// Multinomial(total, p) over the cells shapes[0..n_cells), p ~ Dirichlet(shapes):
// Gamma variates on the log scale, normalised by their largest, then conditional
// binomials x_c ~ Bin(remaining, w_c / sum_{c' >= c} w_c'), stopping once nothing
// remains. Writes scratch.cell_count[0..n_cells).
void split_by_gamma(std::size_t n_cells, std::int64_t total, SampleRng& rng, Scratch& s) {
  double largest = kNegativeInfinity;
  for (std::size_t c = 0; c < n_cells; ++c) {
    s.log_gamma[c] = draw_log_gamma(*s.shapes[c], rng, &s.log_uniform[c]);
    largest = std::max(largest, s.log_gamma[c]);
    s.cell_count[c] = 0;
  }
  if (largest == kNegativeInfinity) {
    // Every logarithm overflowed (tiny shapes): the proportions are one-hot in double
    // precision, on the largest draw, found from the ranks (see log_gamma_rank).
    std::size_t best = 0;
    double best_rank = std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < n_cells; ++c) {
      const double rank = log_gamma_rank(s.log_uniform[c], s.shapes[c]->log_shape);
      if (rank < best_rank) {
        best_rank = rank;
        best = c;
      }
    }
    s.cell_count[best] = total;
    return;
  }
  for (std::size_t c = 0; c < n_cells; ++c) s.weight[c] = std::exp(s.log_gamma[c] - largest);
  // Suffix sums, smallest cells first; w_c <= sum_{c' >= c} w_c' holds in floating
  // point too, so each conditional probability is at most 1, and the last cell of
  // positive weight gets exactly 1 (all that remains).
  double suffix = 0.0;
  for (std::size_t c = n_cells; c-- > 0;) {
    suffix += s.weight[c];
    s.remaining_weight[c] = suffix;
  }
  std::int64_t remaining = total;
  for (std::size_t c = 0; c < n_cells && remaining > 0; ++c) {
    if (s.weight[c] == 0.0) continue;
    const std::int64_t x = draw_binomial(remaining, s.weight[c] / s.remaining_weight[c], rng);
    s.cell_count[c] = x;
    remaining -= x;
  }
}

// Unsigned LEB128: 7 bits per byte, low bits first, the high bit marking a byte that
// is followed by another. Writes at most 10 bytes at `out`; returns the end.
std::uint8_t* put_varint(std::uint8_t* out, std::uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<std::uint8_t>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<std::uint8_t>(value);
  return out;
}

std::uint64_t get_varint(const std::uint8_t*& in) {
  std::uint64_t value = 0;
  int shift = 0;
  for (;;) {
    const std::uint8_t byte = *in++;
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) return value;
    shift += 7;
  }
}

void add_count(Scratch& s, std::uint32_t taxon, std::int64_t count) {
  if (s.taxon_count[taxon] == 0) s.touched.push_back(taxon);
  s.taxon_count[taxon] += count;
}

// DM(m, alpha_U) over the group U = the first n_group taxa of the plan, by the Polya
// urn, or by Gamma variates when m is large against the group.
void split_group(const ComponentPlan& plan, std::size_t n_group, std::int64_t m, SampleRng& rng,
                 Scratch& s) {
  if (static_cast<double>(m) > kUrnFallback * static_cast<double>(n_group)) {
    for (std::size_t r = 0; r < n_group; ++r) s.shapes[r] = &plan.shape[n_group - 1 - r];
    split_by_gamma(n_group, m, rng, s);
    for (std::size_t r = 0; r < n_group; ++r) {
      if (s.cell_count[r] > 0) add_count(s, plan.taxon[n_group - 1 - r], s.cell_count[r]);
    }
    return;
  }
  const double group_total = plan.cumulative[n_group - 1];
  s.balls.resize(static_cast<std::size_t>(m));
  for (std::int64_t t = 0; t < m; ++t) {
    std::uint32_t rank;
    if (t == 0 || rng.uniform() * (group_total + static_cast<double>(t)) < group_total) {
      // A fresh ball, rank r with probability alpha_r / A_U: the first cumulative sum
      // above u A_U. The product can round up to A_U itself when u is within 2^-53 of
      // 1, which is the last rank's share.
      rank = static_cast<std::uint32_t>(search_rank(plan, n_group, rng.uniform() * group_total));
    } else {
      rank = s.balls[rng.below(static_cast<std::uint32_t>(t))];
    }
    s.balls[static_cast<std::size_t>(t)] = rank;
    add_count(s, plan.taxon[rank], 1);
  }
}

// One sample's counts, appended to the block.
void draw_sample(const ComponentPlan& plan, std::int64_t depth, SampleRng& rng, Scratch& s,
                 SampleBlock& block) {
  const std::size_t n_taxa = plan.taxon.size();
  if (depth > 0) {
    const std::size_t n_group = group_size(plan, depth);
    // Cells: the group first (if any), then the other taxa by decreasing alpha.
    GammaShape group_shape;
    std::size_t n_cells = 0;
    if (n_group > 0) {
      group_shape = GammaShape(plan.cumulative[n_group - 1]);
      s.shapes[n_cells++] = &group_shape;
    }
    for (std::size_t r = n_taxa; r-- > n_group;) s.shapes[n_cells++] = &plan.shape[r];
    split_by_gamma(n_cells, depth, rng, s);
    const std::size_t offset = n_group > 0 ? 1 : 0;
    // Taxa outside the group first (split_group reuses the cell scratch).
    for (std::size_t c = offset; c < n_cells; ++c) {
      if (s.cell_count[c] > 0) add_count(s, plan.taxon[n_taxa - 1 - (c - offset)], s.cell_count[c]);
    }
    if (n_group > 0 && s.cell_count[0] > 0) split_group(plan, n_group, s.cell_count[0], rng, s);
  }
  for (const std::uint32_t taxon : s.touched) {
    std::uint8_t entry[20];
    std::uint8_t* end = put_varint(entry, taxon);
    end = put_varint(end, static_cast<std::uint64_t>(s.taxon_count[taxon]));
    block.bytes.insert(block.bytes.end(), entry, end);
    s.taxon_count[taxon] = 0;
  }
  block.row_length.push_back(static_cast<std::uint32_t>(s.touched.size()));
  block.n_entries += s.touched.size();
  s.touched.clear();
}

}  // namespace

SampleRng::SampleRng(const std::uint64_t seed[2], std::uint64_t stream) {
  std::uint64_t key = splitmix64_finalise(splitmix64_finalise(seed[0] + kSplitMix64Gamma * (stream + 1)) ^ seed[1]);
  for (std::uint64_t& word : state_) {
    key += kSplitMix64Gamma;
    word = splitmix64_finalise(key);
  }
  // xoshiro's one forbidden state; SplitMix64 outputs make it practically impossible.
  if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0) state_[0] = 1;
}

std::uint32_t SampleRng::below(std::uint32_t n) {
  std::uint64_t product = (next() >> 32) * static_cast<std::uint64_t>(n);
  std::uint32_t low = static_cast<std::uint32_t>(product);
  if (low < n) {
    const std::uint32_t threshold = static_cast<std::uint32_t>(-n) % n;  // 2^32 mod n
    while (low < threshold) {
      product = (next() >> 32) * static_cast<std::uint64_t>(n);
      low = static_cast<std::uint32_t>(product);
    }
  }
  return static_cast<std::uint32_t>(product >> 32);
}

double SampleRng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double x, y, r2;
  do {
    x = 2.0 * uniform() - 1.0;
    y = 2.0 * uniform() - 1.0;
    r2 = x * x + y * y;
  } while (r2 >= 1.0 || r2 == 0.0);
  const double scale = std::sqrt(-2.0 * std::log(r2) / r2);
  spare_ = y * scale;
  has_spare_ = true;
  return x * scale;
}

GammaShape::GammaShape(double a) : shape(a), log_shape(std::log(a)), boosted(a < 1.0) {
  d = (boosted ? a + 1.0 : a) - 1.0 / 3.0;
  c = 1.0 / std::sqrt(9.0 * d);
  log_d = std::log(d);
}

double draw_log_gamma(const GammaShape& g, SampleRng& rng, double* log_uniform) {
  // Marsaglia & Tsang (2000): d v with v = (1 + c x)^3, x standard normal, accepted
  // with probability exp(x^2 / 2 + d - d v + d log v) (squeeze 1 - 0.0331 x^4 first).
  double log_value;
  for (;;) {
    const double x = rng.normal();
    double v = 1.0 + g.c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    const double u = rng.uniform();
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2 ||
        std::log(u) < 0.5 * x2 + g.d * (1.0 - v + std::log(v))) {
      log_value = g.log_d + std::log(v);
      break;
    }
  }
  if (!g.boosted) {
    *log_uniform = std::numeric_limits<double>::infinity();
    return log_value;
  }
  // log G(a) = log G(a + 1) + log(U) / a; -Inf when log(U) / a overflows.
  const double lu = std::log(rng.uniform());
  *log_uniform = lu;
  return log_value + lu / g.shape;
}

std::int64_t draw_binomial(std::int64_t n, double p, SampleRng& rng) {
  if (n <= 0 || !(p > 0.0)) return 0;
  if (p >= 1.0) return n;
  const bool flip = p > 0.5;
  const double q = flip ? 1.0 - p : p;  // exact (Sterbenz)
  const std::int64_t k = static_cast<double>(n) * q < 10.0 ? binomial_inversion(n, q, rng)
                                                            : binomial_btrd(n, q, rng);
  return flip ? n - k : k;
}

SampledTable sample_mixture(const MixtureDraw& draw, const Executor& executor,
                            const std::function<void()>& check_interrupt) {
  std::vector<std::int64_t> smallest_depth(draw.n_components, 0);
  for (std::size_t i = 0; i < draw.n_samples; ++i) {
    std::int64_t& smallest = smallest_depth[static_cast<std::size_t>(draw.component[i])];
    if (draw.depth[i] > 0 && (smallest == 0 || draw.depth[i] < smallest)) smallest = draw.depth[i];
  }
  std::vector<ComponentPlan> plans;
  plans.reserve(draw.n_components);
  for (std::size_t k = 0; k < draw.n_components; ++k) {
    plans.push_back(plan_component(draw.alpha + k * draw.n_taxa, draw.n_taxa, smallest_depth[k]));
  }
  SampledTable table;
  table.n_samples = draw.n_samples;
  table.n_taxa = draw.n_taxa;
  // Loops of blocks, with an interrupt check before each. The first loop's blocks are
  // small; later blocks are sized, and reserve room, by the bytes per sample drawn so
  // far (a guess: it decides only how the samples are grouped and how often a block's
  // vector grows, never what it holds).
  double bytes_per_sample = 0.0;
  std::size_t bytes = 0;
  std::size_t next_sample = 0;
  while (next_sample < draw.n_samples) {
    check_interrupt();
    const bool first_loop = next_sample == 0;
    std::size_t block_samples = kFirstBlockSamples;
    if (!first_loop && bytes_per_sample > 0.0) {
      const double wanted = std::ceil(kBlockBytes / bytes_per_sample);
      block_samples = wanted >= static_cast<double>(kMaxBlockSamples)
                          ? kMaxBlockSamples
                          : std::max(kFirstBlockSamples, static_cast<std::size_t>(wanted));
    }
    const std::size_t loop_blocks = first_loop ? kFirstLoopBlocks : kLoopBlocks;
    const std::size_t loop_first_block = table.blocks.size();
    for (std::size_t b = 0; b < loop_blocks && next_sample < draw.n_samples; ++b) {
      SampleBlock block;
      block.first = next_sample;
      next_sample = std::min(draw.n_samples, next_sample + block_samples);
      block.end = next_sample;
      block.row_length.reserve(block.end - block.first);
      table.blocks.push_back(std::move(block));
    }
    const std::size_t reserve =
        static_cast<std::size_t>(1.05 * bytes_per_sample * static_cast<double>(block_samples));
    executor.parallel_for(
        table.blocks.size() - loop_first_block,
        [&](std::size_t begin, std::size_t end) {
          Scratch scratch(draw.n_taxa);
          for (std::size_t b = loop_first_block + begin; b < loop_first_block + end; ++b) {
            SampleBlock& block = table.blocks[b];
            block.bytes.reserve(reserve);
            prefer_huge_pages(block.bytes.data(), block.bytes.capacity());
            for (std::size_t i = block.first; i < block.end; ++i) {
              SampleRng rng(draw.seed, i);
              draw_sample(plans[static_cast<std::size_t>(draw.component[i])], draw.depth[i], rng,
                          scratch, block);
            }
          }
        },
        1);
    for (std::size_t b = loop_first_block; b < table.blocks.size(); ++b) {
      bytes += table.blocks[b].bytes.size();
    }
    bytes_per_sample = static_cast<double>(bytes) / static_cast<double>(next_sample);
  }
  for (const SampleBlock& block : table.blocks) {
    table.nnz += static_cast<std::int64_t>(block.n_entries);
  }
  return table;
}

void compress_columns(SampledTable& table, const Executor& executor, int* column_start,
                      int* row_index, double* value) {
  // Consecutive groups of blocks, each scattered by one task: group g's rows of column
  // j go after those of the groups before it, so every column's rows come out in
  // increasing order, as a serial pass would write them.
  const std::size_t n_taxa = table.n_taxa;
  const std::size_t n_blocks = table.blocks.size();
  const std::size_t n_groups = std::min<std::size_t>(n_blocks, kCompressGroups);
  auto group_begin = [&](std::size_t g) { return g * n_blocks / n_groups; };
  std::vector<std::int64_t> offset(n_groups * n_taxa, 0);  // counts, then start positions
  executor.parallel_for(
      n_groups,
      [&](std::size_t begin, std::size_t end) {
        for (std::size_t g = begin; g < end; ++g) {
          std::int64_t* count = offset.data() + g * n_taxa;
          for (std::size_t b = group_begin(g); b < group_begin(g + 1); ++b) {
            const SampleBlock& block = table.blocks[b];
            const std::uint8_t* in = block.bytes.data();
            for (std::size_t entry = 0; entry < block.n_entries; ++entry) {
              ++count[get_varint(in)];
              get_varint(in);  // the count
            }
          }
        }
      },
      1);
  std::int64_t position = 0;
  for (std::size_t j = 0; j < n_taxa; ++j) {
    column_start[j] = static_cast<int>(position);
    for (std::size_t g = 0; g < n_groups; ++g) {
      const std::int64_t count = offset[g * n_taxa + j];
      offset[g * n_taxa + j] = position;
      position += count;
    }
  }
  column_start[n_taxa] = static_cast<int>(position);
  executor.parallel_for(
      n_groups,
      [&](std::size_t begin, std::size_t end) {
        for (std::size_t g = begin; g < end; ++g) {
          std::int64_t* next = offset.data() + g * n_taxa;
          for (std::size_t b = group_begin(g); b < group_begin(g + 1); ++b) {
            SampleBlock& block = table.blocks[b];
            const std::uint8_t* in = block.bytes.data();
            for (std::size_t r = 0; r < block.row_length.size(); ++r) {
              const int row = static_cast<int>(block.first + r);
              for (std::uint32_t e = 0; e < block.row_length[r]; ++e) {
                const std::uint64_t taxon = get_varint(in);
                const std::int64_t at = next[taxon]++;
                row_index[at] = row;
                value[at] = static_cast<double>(get_varint(in));
              }
            }
            block = SampleBlock();  // release this block's memory
          }
        }
      },
      1);
}

}  // namespace fastdmm
