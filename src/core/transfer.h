// Transfers on a frozen partition: samples and groups of samples moved between two components, both refitted (DESIGN.md section 8).
#ifndef FASTDMM_TRANSFER_H
#define FASTDMM_TRANSFER_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "counts.h"
#include "em.h"
#include "hellinger_kmeans.h"
#include "known_optima.h"
#include "mstep.h"
#include "parallel.h"

namespace fastdmm {

// A transfer of `samples` (one or more, all members of component `from`) to
// component `to`, with the change in NLE it promises: the change at fixed
// parameters (the samples' log evidence and the weights' term) less what
// refitting the two components without and with them gains: for a single,
// each of its taxa that no other member of the component counts refitted
// alone at fixed total alpha (so too each taxon whose Newton step would leave
// the quadratic model's trust region), Newton decrements of its other taxa's
// terms and second-order terms for the rest (transfer.cpp, refit_gain()); for
// a group, the two components' Newton decrements. A single's `spread` is the
// part of its promised gain the second-order terms make up (0 for a group).
struct TransferCandidate {
  std::vector<std::uint32_t> samples;
  std::size_t from = 0, to = 0;
  double predicted = 0.0;
  double spread = 0.0;
};

// The candidates of a state, each list in increasing order of predicted change
// (ties keep the order of the pairs (from, to), then of the samples). For every
// ordered pair (a, b) of components of positive weight, a with at least two
// members (samples whose arg-max posterior is a), a's members are ordered by the
// fixed-parameter cost e_ia - e_ib of moving them: `singles` holds each member
// alone; `groups` the nodes of a's bisection tree, or each prefix of two to
// members - 1 of them in that order (see TransferSettings; a group that moves
// together is what a frozen partition of replicate-like samples needs).
// (transfer_moves() ranks them, the groups only once no single improves the
// state; transfer.cpp.)
struct TransferCandidates {
  std::vector<TransferCandidate> singles;
  std::vector<TransferCandidate> groups;
  // A component's members but one node of its bisection tree: the node stays
  // as its own community type and the rest joins the other component.
  std::vector<TransferCandidate> rests;
  std::vector<std::size_t> members;  // per component: the samples labelled with it
};

// Samples reassigned between components a and b (samples[m] to component
// to[m], each a or b), a and b refitted by `optimiser` from their current
// parameters, or from start_alpha's when given (2 x S log-alphas: a's, then
// b's): returns the NLE at the result, computed from the state's `evidence`
// (log_evidence() at its parameters) with a's and b's columns replaced. Fills
// `trial`'s posteriors (the state's next_posterior with the samples' rows
// one-hot), parameters and weights; `trial` is not evaluated.
double try_reassignment(const Counts& counts, const EmState& state,
                        const std::vector<double>& evidence, std::size_t a, std::size_t b,
                        const std::vector<std::uint32_t>& samples,
                        const std::vector<std::uint32_t>& to, const OptimiserOptions& optimiser,
                        const Executor& executor, EmState& trial, int& unconverged,
                        const double* start_alpha = nullptr);

// The confirmation of a trial from try_reassignment() whose NLE `trial_nle` is
// lower than the state's by more than EM's threshold: the trial (its
// unconverged M-steps set to `unconverged_msteps`) is evaluated in full and,
// when still lower, EM runs on from it, it replaces `state` and is added to
// `kept`. Returns whether it was kept; `nle_after` is the trial's full NLE
// when it was evaluated, else trial_nle, and `em_iterations` the EM run's.
bool keep_if_lower(const Counts& counts, EmState& state, EmState& trial, double trial_nle,
                   int unconverged_msteps, const EmSettings& em,
                   const OptimiserOptions& optimiser, const Executor& executor,
                   const FitHooks& hooks, AcceptedMoves& kept, double& nle_after,
                   int& em_iterations);

// A trial that keep_if_lower() did not keep, judged after EM (DESIGN.md
// section 8, "Groups judged after EM"): `trial` evaluated and EM run from it,
// stopped as soon as EM is bound for an NLE not below the state's by more than
// `same` relative (Aitken's estimate, EmSettings::target) or has given the
// state's arg-max partition back. When it ends below the state's NLE by more
// than EM's threshold, EM runs on to convergence and the result replaces
// `state` (added to `kept`); returns whether it did. `nle_after` and
// `em_iterations` receive the NLE where EM stopped and its iterations.
bool keep_after_em(const Counts& counts, EmState& state, EmState& trial, int unconverged_msteps,
                   const EmSettings& em, double same, const OptimiserOptions& optimiser,
                   const Executor& executor, const FitHooks& hooks, AcceptedMoves& kept,
                   double& nle_after, int& em_iterations);

// Divisions of components by the model (model_division()) by their members
// (sorted), for one search: a division depends on the members alone, so the
// starts of a search share them whichever start makes one first. Safe to use
// from starts running side by side.
class ModelDivisions {
 public:
  using Halves = std::vector<std::vector<std::uint32_t>>;
  // The division of `members`, made by make() when not known yet (outside
  // the lock; a division two starts make at once is the same).
  template <class Make>
  Halves get(const std::vector<std::uint32_t>& members, Make&& make) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      const auto known = made_.find(members);
      if (known != made_.end()) return known->second;
    }
    Halves halves = make();
    const std::lock_guard<std::mutex> lock(mutex_);
    made_.emplace(members, halves);
    return halves;
  }

 private:
  std::mutex mutex_;
  std::map<std::vector<std::uint32_t>, Halves> made_;
};

struct TransferSettings {
  EmSettings em;            // the fit's EM settings: EM runs on from an accepted transfer
  int max_failures = 20;    // failed trials of groups and rests before they are given up
  // The rests get max_failures failed trials of their own, however many the
  // groups used: the replicated search sets this at k = 2, where by default
  // no kick follows a descent and the rests are the only escape left.
  bool rests_own_failures = false;
  int max_trials = 100000;  // trials at most in one call
  // Every single tried, in the order of refit_gain()'s promise, until none
  // lowers the NLE (Hartigan's exchange with the two components refitted);
  // otherwise the singles that promise a decrease or go to a component of one
  // member.
  bool all_singles = false;
  OptimiserOptions optimiser;
  // The samples' content fingerprints (sample_fingerprints() of the table) and
  // square-root proportions. When both are given, the groups of a component of
  // kTreeMembers or more members are the nodes of its bisection tree
  // (bisection_nodes()); otherwise, and for smaller components, the prefixes of
  // its members in their order of cost. The ranking walks the roots' row view
  // when they have one (else it makes its own).
  const std::vector<std::uint64_t>* fingerprint = nullptr;
  const SquareRootProportions* roots = nullptr;
  // Where the search keeps the components' divisions by the model (the trees
  // add their halves as nodes); null: each tree makes its own.
  ModelDivisions* divisions = nullptr;
  // A group's or rest's trial that the refit alone does not lower is judged
  // after EM from it (keep_after_em()); the search sets this for its own
  // transfers, not for those inside a division by the model.
  bool groups_after_em = false;
  // That EM stops once it is bound for an NLE not lower than the state's by
  // more than this, relative (the replicated search's tolerance).
  double same_optimum = 1e-6;
  // Division moves: once no single, group or rest improves the state, each
  // half of each component's division by the model (model_division(), kept in
  // `divisions`) is moved to each other component and judged after EM (as a
  // group is), whatever the ranking would promise; the first that lowers the
  // NLE is kept. The replicated search sets this for a pass at the end of
  // each start (search.cpp); it needs `fingerprint` and `roots`.
  bool division_moves = false;
  // Each ranking after the first takes what did not change from the last
  // (Ranking, transfer.cpp); false computes every ranking in full, which
  // gives the same rankings (for tests).
  bool reuse_rankings = true;
  // A trial's refit starts each taxon the moved samples bring into the
  // receiving component at the minimiser of its own term (trial_start(),
  // transfer.cpp); false starts it at the component's value for the taxa it
  // does not count. The refits converge to the same optimum (for tests).
  bool join_start = true;
};

struct TransferRecord {
  int from = 0, to = 0;     // components, 0-based, at the time
  int samples = 0;          // moved
  double predicted = 0.0;   // the ranking's promise (change in NLE)
  double nle_before = 0.0, nle_after = 0.0;  // nle_after: the trial's NLE (before EM runs on)
  bool accepted = false;
  int em_iterations = 0;    // EM run on after an accepted transfer
};

struct TransferResult : AcceptedMoves {
  std::vector<TransferRecord> trials;
  bool exhausted = false;            // the last ranking's candidates all failed (a local optimum)
};

// Components' bisection trees (bisection_nodes()) by their members (sorted):
// a component whose members have not changed keeps its tree.
struct BisectionTrees {
  std::map<std::vector<std::uint32_t>, std::vector<std::vector<std::uint32_t>>> nodes;
};

// The trials that failed, each keyed on its samples and the members its two
// components had then (a 64-bit hash). EM runs on from every accepted move and
// shifts all parameters a little, but a trial whose two components still have
// the same members gives the same answer to within that shift: it is not
// refitted again. Kept by the caller across calls (one start's local search).
struct TransferMemo {
  std::unordered_set<std::uint64_t> failed;
  BisectionTrees trees;
  // Split-merge's failed trials, by the same reasoning (split_merge.h).
  std::unordered_set<std::uint64_t> split_merge_failed;
};

// Each component's key in the memos of failed trials (TransferMemo): the sum
// of splitmix64_first(i) over its samples i (label[i] its component), so that
// a key names a set of members whatever the component's number.
std::vector<std::uint64_t> member_keys(const std::vector<std::size_t>& label, std::size_t K);

// Groups of a component with at least this many members are the nodes of its
// bisection tree and the halves of its division by the model (when the
// samples' geometry is given, TransferSettings).
constexpr std::size_t kTreeMembers = 4;

// Seed of the bisection trees' 2-means: their draws are keyed on it and on
// the samples' content, so a tree does not depend on the order of the samples.
constexpr std::uint64_t kTreeSeed = 0x7472656573ULL;

// The nodes of the bisection tree of `members` (samples, in any order): they
// are divided in two by 2-means in Hellinger geometry (hellinger_kmeans(), along
// their rows when `roots` has them, at most 10 Lloyd rounds, its draws keyed on a
// fixed seed and the samples' `fingerprint`, so that the tree does not depend
// on their order up to rounding), each part of three or more again. Every part
// of two or more samples is a node (sorted); the whole, the parts of one
// sample and the halves of a part that 2-means cannot divide (identical
// samples) are not. Replicate-like samples, which only fit another component
// together, tend to fall in one node (DESIGN.md section 8, "Groups from the
// samples' own structure"). `between_rounds` as for hellinger_kmeans().
std::vector<std::vector<std::uint32_t>> bisection_nodes(const Counts& counts,
                                                        const SquareRootProportions& roots,
                                                        const std::vector<std::uint64_t>& fingerprint,
                                                        std::vector<std::uint32_t> members,
                                                        const Executor& executor,
                                                        const std::function<void()>& between_rounds = [] {});

// The division of `members` (sorted, 0-based) that the model itself finds
// (DESIGN.md section 8, "Divisions by the model"): 2-means in Hellinger
// geometry divides them as the root of their bisection tree does, then the
// members are taken as a table of their own (subset_table()) and that division
// is moved by EM and transfers with two components (singles, then prefixes as
// groups), as a start of the search is. 2-means divides by distance, the
// search by likelihood, and on deep tables EM alone keeps the division it
// starts from. Returns the two halves (sorted), or nothing when 2-means cannot
// divide the members (identical samples). `em` and `optimiser` are the fit's;
// `between_rounds` is called between 2-means rounds and EM iterations
// (interrupt checks).
std::vector<std::vector<std::uint32_t>> model_division(
    const Counts& counts, const SquareRootProportions& roots,
    const std::vector<std::uint64_t>& fingerprint, const std::vector<std::uint32_t>& members,
    const EmSettings& em, const OptimiserOptions& optimiser, const Executor& executor,
    const std::function<void()>& between_rounds = [] {});

// Transfers on `state` (in place): the candidates are ranked, then tried in
// turn: every single that promises a decrease or goes to a component of one
// member (with all_singles every single), in the order of their promise; then
// the singles whose promised loss is smaller than the promise's second-order
// part (`spread`); then groups, then the rests (a component less one node of
// its tree), until max_failures of both failed (with rests_own_failures, of
// each) or they promise no decrease. A
// trial refits the two components on their new members (warm started M-steps,
// run to the optimiser's convergence) and computes the exact NLE at the
// result; the first that lowers the NLE by more than the EM threshold is kept,
// EM runs on from it, and the state is ranked again. A candidate in `memo`
// (this call's own when null) counts as failed without a trial, and is not
// recorded. Ends at a ranking whose trials all fail, after
// max_trials trials, or, with `known`, when an accepted transfer reaches one of
// those optima (at_known_optimum). With division_moves, a ranking whose
// trials all fail is followed by the division moves (TransferSettings), which
// are recorded with a NaN promise.
TransferResult transfer_moves(const Counts& counts, EmState& state,
                              const TransferSettings& settings, const Executor& executor,
                              const FitHooks& hooks, TransferMemo* memo = nullptr,
                              const KnownOptima* known = nullptr);

}  // namespace fastdmm

#endif
