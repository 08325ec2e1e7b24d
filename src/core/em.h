// One EM iteration as a building block, plain or SQUAREM-accelerated EM runs, and the state they carry.
#ifndef FASTDMM_EM_H
#define FASTDMM_EM_H

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "counts.h"
#include "evidence.h"
#include "mstep.h"
#include "parallel.h"

namespace fastdmm {

// Hooks called on the calling thread only, between iterations.
struct FitHooks {
  bool verbose = false;
  std::function<void(const std::string&)> message = [](const std::string&) {};
  std::function<void()> check_interrupt = [] {};
  // The share of the fit done so far (0..1, never decreasing) and its phase.
  std::function<void(double, const char*)> progress = [](double, const char*) {};
};

// Progress of one part of a fit, reported through hooks->progress as a share of
// the whole: `fraction` of this part is from + (to - from) * fraction overall.
struct ProgressRange {
  const FitHooks* hooks;
  double from, to;
  void report(double fraction, const char* phase) const {
    hooks->progress(from + (to - from) * std::min(1.0, std::max(0.0, fraction)), phase);
  }
  ProgressRange part(double a, double b) const {
    return {hooks, from + (to - from) * a, from + (to - from) * b};
  }
};

// A line for FitHooks::message from a printf format with up to three numbers.
std::string format_message(const char* format, double a, double b = 0.0, double c = 0.0);

// Buffers EM iterations reuse: shared by the states of one search, which are
// used one at a time.
struct EmWorkspace {
  EStepWorkspace estep;
  HistogramWorkspace histograms;
};

// Where EM stands: parameters, the NLE they give and the posteriors of the E-step
// at them. Matrices over samples are sample-major, [i * K + k].
struct EmState {
  std::size_t n_components = 0;
  std::vector<double> log_alpha;       // lambda[k * S + j]
  std::vector<double> weights;         // W_k = sum_i z_ik, so pi_k = W_k / N
  std::vector<double> posterior;       // z the last M-step used
  std::vector<double> next_posterior;  // z at log_alpha and weights: the next E-step's
  // Histograms of `posterior` (filled by em_step(); the Hessian reuses them).
  std::vector<ComponentHistograms> histograms;
  double nle = 0.0;
  double log_likelihood = 0.0;
  // False until an EM iteration produced `nle`: the first iteration of a run from
  // a start is never taken as converged, as in the reference (whose first change
  // is measured from 0). A moved state whose parameters are M-steps on its
  // posteriors (a transfer, split-merge or re-split trial, a kicked state) is
  // set true by the move.
  bool from_em = false;
  int unconverged_msteps = 0;  // M-steps whose optimiser stopped above 1e-3
  // Settled components, whose M-step em_step() may skip (OptimiserOptions::
  // settled_change): settled[k] says that lambda_k, kept in settled_log_alpha,
  // is a converged M-step for column k of settled_posterior. Empty: none.
  std::vector<unsigned char> settled;
  std::vector<double> settled_log_alpha;  // [k * S + j]
  std::vector<double> settled_posterior;  // [i * K + k]
  int reused_msteps = 0;  // M-steps em_step() skipped for settled components
  // near_optimum[k]: component k's last M-step in EM started converged or in
  // Newton's region, so its next one is expected to as well (run_msteps()).
  // Empty: no such M-step yet.
  std::vector<unsigned char> near_optimum;
  std::shared_ptr<EmWorkspace> workspace = std::make_shared<EmWorkspace>();
};

// Runs the M-step of every component k with optimise[k] (all when empty), warm
// started from log_alpha. Returns the number of optimisers that stopped early;
// `converged`, if given, is resized to K and says which of those run converged.
// `near_optimum`, if given (resized to K, zeros, when it is not), says which
// starts to expect near their optimum (Start::near_optimum, mstep.h), and the
// M-steps run set theirs to whether their start was, as a guess for the next.
int run_msteps(const Counts& counts, const std::vector<ComponentHistograms>& histograms,
               std::vector<double>& log_alpha, const OptimiserOptions& options,
               const Executor& executor, const std::vector<bool>& optimise = {},
               std::vector<unsigned char>* converged = nullptr,
               std::vector<unsigned char>* near_optimum = nullptr);

// How far (summed over samples) a settled component's posteriors may move
// before its M-step runs again: the searches' OptimiserOptions::settled_change.
constexpr double kSettledChange = 1e-8;

// Which components' M-steps an EM iteration to `posterior` must run: all but the
// settled ones (EmState::settled) whose lambda is still the settled one and whose
// column of `posterior` differs from the settled column by at most `change` in
// total. All when `change` is negative or nothing is settled.
std::vector<bool> components_to_refit(const EmState& state, const std::vector<double>& posterior,
                                      double change, std::size_t n_taxa);

// After M-steps on state.posterior (those with refit[k], all when refit is empty):
// the converged ones become settled, the others not.
void settle_components(EmState& state, const std::vector<bool>& refit,
                       const std::vector<unsigned char>& converged, std::size_t n_taxa);

// `to`, a state made from `from` by changing some components, takes over from's
// settled components (components_to_refit() checks each against to's lambda).
void inherit_settled(const EmState& from, EmState& to);

// Calls body(c, inner) for c = 0..n-1, one call per component. Components run
// side by side when there are at least two per thread (or too few taxa to split),
// each with a serial `inner` executor for its taxon sums; otherwise one after
// another with `inner` the executor itself, splitting the taxa. Either way the
// sums are the same.
void for_each_component(std::size_t n, std::size_t n_taxa, const Executor& executor,
                        const std::function<void(std::size_t, const Executor&)>& body);

// The NLE at state.log_alpha with state.weights, and the posteriors there.
void evaluate_state(const Counts& counts, EmState& state, const Executor& executor);

// The state's cache of E-step columns (evidence.h) when it serves `counts`, else
// nullptr.
ColumnCache* column_cache(const EmState& state, const Counts& counts);

// Each sample's arg-max component in posterior[i * K + k] (the lowest index
// among ties).
std::vector<std::size_t> arg_max_labels(const std::vector<double>& posterior, std::size_t K);

// The reference's way from a posterior to EM: lambda = log(centre) (-10 where a
// proportion centre is zero), W_k = sum_i z_ik, one M-step per component, then
// the evidence and the NLE. `centres` are mu[k * S + j].
EmState state_from_posterior(const Counts& counts, std::size_t n_components,
                             std::vector<double> posterior, const std::vector<double>& centres,
                             const OptimiserOptions& options, const Executor& executor);

// One EM iteration (the map F of DESIGN.md section 5): the E-step's posteriors (made
// when the state was evaluated), histograms, M-step warm started from its lambda,
// then the NLE and posteriors at the new parameters.
void em_step(const Counts& counts, EmState& state, const OptimiserOptions& options,
             const Executor& executor);

struct EmSettings {
  int max_iterations = 100;      // EM iterations (evaluations of F)
  double tolerance = 1e-6;       // absolute |change in NLE|
  double rel_tolerance = 0.0;    // relative floor: stop at |dNLE| <= max(tol, rel_tol |NLE|)
  bool accelerate = false;       // SQUAREM extrapolation (Varadhan & Roland 2008)
  bool verbose_iterations = false;  // the reference's "iteration %d change %f" lines
  // Abandon the run once its Aitken estimate of the converged NLE lies above
  // `target` (by more than the convergence threshold): it cannot end lower.
  double target = std::numeric_limits<double>::infinity();
  // Stop once this says so of the state after an iteration (empty: never);
  // the run is then neither converged nor abandoned.
  std::function<bool(const EmState&)> stop_if;
};

struct EmRun {
  int iterations = 0;              // evaluations of F
  bool converged = false;
  std::vector<double> nle_trace;   // after each iteration (each SQUAREM cycle when accelerated)
  int extrapolations = 0;          // accepted SQUAREM steps
  bool abandoned = false;          // stopped because it could not reach `target`
};

// What accepted moves (of any kind) did to a state's history: the NLE after each
// and the iterations of the EM run on from it. The results of the kinds of move
// and of the local search share it.
struct AcceptedMoves {
  std::vector<double> accepted_nle;  // the NLE after each accepted move and its EM
  int em_iterations = 0;             // iterations of the accepted moves' EM
  int extrapolations = 0;            // accepted SQUAREM steps of that EM
  bool converged = false;            // the last accepted move's EM converged
  // The last accepted move reached a state the caller's KnownOptima holds,
  // and the moves stopped there (known_optima.h).
  bool at_known_optimum = false;
  // One accepted move, at NLE `nle` after `run`.
  void add(double nle, const EmRun& run);
  // Another's accepted moves after these (nothing when it has none).
  void add(const AcceptedMoves& other);
};

// Aitken's estimate of where a linearly converging NLE sequence ends (Boehning et
// al. 1994; McNicholas et al. 2010): with decrements d1 = n0 - n1, d2 = n1 - n2 and
// rate a = d2 / d1 < 1, the limit is n1 - d2 / (1 - a). -Inf when the decrements
// do not shrink (no estimate).
double aitken_limit(double n0, double n1, double n2);

// |dNLE| small enough to stop: max(tol, rel_tol |NLE|).
double convergence_threshold(const EmSettings& settings, double nle);

// Runs EM from `state` until the change in NLE falls to the threshold or
// max_iterations evaluations of F are spent. The NLE never rises: an accelerated
// step is kept only when it ends lower than the plain steps it started from.
EmRun run_em(const Counts& counts, EmState& state, const EmSettings& settings,
             const OptimiserOptions& options, const Executor& executor, const FitHooks& hooks);

}  // namespace fastdmm

#endif
