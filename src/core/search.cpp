// The search: starts, em-EM screening and continuation, split-merge on the best, and the subsample with its refinement.
#include "search.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <utility>

#include "hash.h"
#include "ordered_tasks.h"

namespace fastdmm {

namespace {

// True when `candidate` is lower than `incumbent` by more than rounding: NLEs
// within 1e-9 relative are ties, which go to the earlier candidate.
bool clearly_lower(double candidate, double incumbent) {
  return candidate < incumbent - 1e-9 * std::fabs(incumbent);
}

struct Candidate {
  std::size_t start = 0;
  EmState state;
  EmRun run;
};

// Runs EM as run_em() does, reporting each iteration as progress towards an end
// that is not known in advance (1 - 0.9^iterations of the range).
EmRun run_em_reporting(const Counts& counts, EmState& state, const EmSettings& settings,
                       const OptimiserOptions& options, const Executor& executor,
                       const FitHooks& hooks, const ProgressRange& progress,
                       const char* phase) {
  FitHooks reporting = hooks;
  int done = 0;
  reporting.check_interrupt = [&hooks, &progress, &done, phase] {
    hooks.check_interrupt();
    ++done;
    progress.report(1.0 - std::pow(0.9, done), phase);
  };
  return run_em(counts, state, settings, options, executor, reporting);
}

// The moves a search makes on a converged state: split-merge (for k >= 3) and,
// on tables of at most transfer_samples samples, transfers, as the options say.
// At k = 2 a start of the replicated search gives the rests of the transfers'
// trees failures of their own: a kick there (emptying one component and
// splitting the other) is a new start rather than a change of the state, so
// the rests are the start's only escape from an optimum that the groups do not
// leave.
LocalSearchSettings moves_settings(const Counts& counts, const SearchOptions& options) {
  LocalSearchSettings settings;
  settings.split_merge = options.split_merge;
  MoveSettings& split_merge = settings.split_merge_settings;
  split_merge.em = options.em;
  split_merge.screen_iterations = options.screen_iterations;
  split_merge.max_moves = options.max_moves;
  split_merge.max_tries = options.max_tries;
  split_merge.seed = options.seed;
  split_merge.optimiser = options.optimiser;
  settings.transfers = options.transfers && counts.n_samples <= options.transfer_samples;
  TransferSettings& transfer = settings.transfer_settings;
  transfer.em = options.em;
  transfer.max_failures = options.transfer_failures;
  transfer.all_singles = options.all_singles;
  transfer.groups_after_em = true;
  transfer.same_optimum = options.replicate_tolerance;
  transfer.optimiser = options.optimiser;
  settings.resplits = options.resplits && counts.n_samples <= options.transfer_samples;
  ResplitSettings& resplit = settings.resplit_settings;
  resplit.em = options.em;
  resplit.optimiser = options.optimiser;
  resplit.starts = options.resplit_starts;
  resplit.seed = options.seed;
  transfer.rests_own_failures = options.replicates > 0 && options.n_components == 2;
  return settings;
}

// Kicks a start of the replicated search ends with (0: none): options.kicks,
// when the local search `moves` has moves to run on a kicked state.
int start_kicks(const LocalSearchSettings& moves, const SearchOptions& options) {
  if (options.replicates <= 0) return 0;
  return moves.transfers || moves.split_merge ? std::max(0, options.kicks) : 0;
}

// What the k-means++ starts, the split plans, the kicks and the transfers'
// bisection trees need of the table, and the samples' fingerprints that
// re-splits key their pools on and the trees draw by (each empty when nothing
// uses it). Where transfers run (tables of at most transfer_samples samples)
// the square-root proportions keep the table's row view, which the transfers'
// rankings walk and on which 2-means of some samples (split plans, kicks,
// trees) costs what those samples hold.
struct TableGeometry {
  std::vector<std::uint64_t> fingerprint;
  SquareRootProportions roots;
};

TableGeometry table_geometry(const Counts& counts, const std::vector<StartSpec>& starts,
                             const SearchOptions& options, const Executor& executor) {
  const LocalSearchSettings moves = moves_settings(counts, options);
  // Kicks split by k-means++ too.
  bool roots = options.split_merge || start_kicks(moves, options) > 0 || moves.transfers;
  for (const auto& start : starts) roots |= start.kind == StartKind::kmeanspp;
  std::vector<std::uint64_t> fingerprint;
  if (roots || moves.resplits) fingerprint = sample_fingerprints(counts, executor);
  if (!roots) return {std::move(fingerprint), SquareRootProportions(Counts())};
  return {std::move(fingerprint), SquareRootProportions(counts, moves.transfers)};
}

// Makes the first state of every start and, when there are more starts than
// n_continue, screens each with `screen` iterations of EM (a start stops early once
// it cannot fall below the best start so far). Returns the n_continue best
// candidates in order of NLE (all of them, unscreened, otherwise).
std::vector<Candidate> screen_starts(const Counts& counts, const std::vector<StartSpec>& starts,
                                     const TableGeometry& geometry, const SearchOptions& options,
                                     const EmSettings& screen, const Executor& executor,
                                     const FitHooks& hooks, const ProgressRange& progress,
                                     SearchResult& result) {
  const bool screening = starts.size() > options.n_continue;
  StartSettings start_settings;
  start_settings.n_components = options.n_components;
  start_settings.optimiser = options.optimiser;
  start_settings.kmeans_max_iterations = options.kmeans_max_iterations;
  start_settings.kmeans_tolerance = options.kmeans_tolerance;
  start_settings.report = starts.size() == 1;
  const double nan = std::nan("");
  // Screening keeps only the n_continue best states in memory.
  std::vector<Candidate> kept;
  for (std::size_t s = 0; s < starts.size(); ++s) {
    StartRecord& record = result.starts[s];
    record.kind = starts[s].kind;
    record.seed = starts[s].seed;
    record.screen_nle = nan;
    record.final_nle = nan;
    Candidate candidate;
    candidate.start = s;
    candidate.state = start_state(counts, starts[s], geometry.roots, geometry.fingerprint,
                                  start_settings, executor, hooks, record.kmeans_iterations);
    record.start_nle = candidate.state.nle;
    if (!screening) {
      kept.push_back(std::move(candidate));
      continue;
    }
    // A start whose NLE cannot fall below the best start's so far stops early:
    // the best one's NLE only falls further.
    EmSettings race = screen;
    if (!kept.empty()) race.target = kept.front().state.nle;
    candidate.run = run_em(counts, candidate.state, race, options.optimiser, executor, hooks);
    record.abandoned = candidate.run.abandoned;
    record.screen_nle = candidate.state.nle;
    record.em_iterations = candidate.run.iterations;
    record.converged = candidate.run.converged;
    result.total_em_iterations += candidate.run.iterations;
    if (hooks.verbose) {
      hooks.message(format_message("  start %.0f: NLE %.4f after screening", s + 1.0,
                                   candidate.state.nle) +
                    " (" + start_kind_name(starts[s].kind) + ")");
    }
    // Drop the histograms: the next E-step rebuilds them.
    candidate.state.histograms.clear();
    std::size_t position = kept.size();
    while (position > 0 && clearly_lower(candidate.state.nle, kept[position - 1].state.nle)) {
      --position;
    }
    if (position < options.n_continue) {
      kept.insert(kept.begin() + static_cast<std::ptrdiff_t>(position), std::move(candidate));
      if (kept.size() > options.n_continue) kept.pop_back();
    }
    progress.report((s + 1.0) / starts.size(), "screening starts");
  }
  return kept;
}

// Runs the kept candidates on towards convergence with `full` settings: the best
// screened one to convergence, the others only while they can still end below
// the best so far (kept is in order of screened NLE). Returns the index of the
// best in `kept` (ties go to the earlier start).
std::size_t continue_candidates(const Counts& counts, std::vector<Candidate>& kept,
                                const SearchOptions& options, const EmSettings& full,
                                bool single, const Executor& executor, const FitHooks& hooks,
                                const ProgressRange& progress, SearchResult& result) {
  const int max_iterations = options.em.max_iterations;
  std::size_t best = 0;
  for (std::size_t c = 0; c < kept.size(); ++c) {
    Candidate& candidate = kept[c];
    StartRecord& record = result.starts[candidate.start];
    record.continued = true;
    EmSettings race = full;
    race.max_iterations = max_iterations - candidate.run.iterations;
    if (c > 0) race.target = kept[best].state.nle;
    const std::vector<double>& trace = candidate.run.nle_trace;
    const std::size_t n = trace.size();
    const ProgressRange this_run = progress.part(static_cast<double>(c) / kept.size(),
                                                 (c + 1.0) / kept.size());
    if (c > 0 && n >= 3 &&
        aitken_limit(trace[n - 3], trace[n - 2], trace[n - 1]) >
            race.target + convergence_threshold(full, race.target)) {
      record.abandoned = true;
    } else if (!candidate.run.converged && race.max_iterations > 0) {
      EmRun more = run_em_reporting(counts, candidate.state, race, options.optimiser, executor,
                                    hooks, this_run, "running starts on");
      record.abandoned = more.abandoned;
      candidate.run.iterations += more.iterations;
      candidate.run.converged = more.converged;
      candidate.run.extrapolations += more.extrapolations;
      candidate.run.nle_trace.insert(candidate.run.nle_trace.end(), more.nle_trace.begin(),
                                     more.nle_trace.end());
      result.total_em_iterations += more.iterations;
    }
    this_run.report(1.0, "running starts on");
    record.final_nle = candidate.state.nle;
    record.em_iterations = candidate.run.iterations;
    record.converged = candidate.run.converged;
    if (hooks.verbose && !single) {
      hooks.message(format_message("  start %.0f: NLE %.4f after %.0f iterations",
                                   candidate.start + 1.0, candidate.state.nle,
                                   candidate.run.iterations));
    }
    if (c > 0) {
      const Candidate& incumbent = kept[best];
      const bool lower = clearly_lower(candidate.state.nle, incumbent.state.nle);
      const bool tie = !lower && !clearly_lower(incumbent.state.nle, candidate.state.nle);
      if (lower || (tie && candidate.start < incumbent.start)) best = c;
    }
  }
  return best;
}

// Counts a local search's trials and EM iterations into `result`.
void count_moves(const LocalSearchResult& moved, SearchResult& result) {
  result.total_em_iterations += moved.total_em_iterations;
  for (int kind = 0; kind < kMoveKinds; ++kind) {
    result.moves_tried[kind] += moved.tried[kind];
    result.moves_accepted[kind] += moved.accepted[kind];
  }
}

// Moves on `state` (local_search(), moves.h).
LocalSearchResult move_state(const Counts& counts, const TableGeometry& geometry,
                             EmState& state, const SearchOptions& options,
                             const Executor& executor, const FitHooks& hooks,
                             const ProgressRange& progress) {
  return local_search(counts, geometry.roots, geometry.fingerprint, state,
                      moves_settings(counts, options), executor, hooks, progress);
}

// Searches one table: starts, screening, continuation, then moves on the best.
// Fills `result` (its state the best state found).
void search_screened(const Counts& counts, const std::vector<StartSpec>& starts,
                     const TableGeometry& geometry, const SearchOptions& options,
                     const Executor& executor, const FitHooks& hooks,
                     const ProgressRange& progress, SearchResult& result) {
  result.starts.assign(starts.size(), StartRecord());
  for (StartRecord& record : result.starts) record.moved_nle = std::nan("");
  const bool single = starts.size() == 1;

  // max_iter bounds every EM run of the search: a start's screening and
  // continuation together, and each split-merge trial.
  EmSettings full = options.em;
  full.verbose_iterations = single;
  EmSettings screen = options.em;
  screen.max_iterations = std::min(options.screen_iterations, options.em.max_iterations);
  screen.verbose_iterations = false;
  const bool screening = starts.size() > options.n_continue;
  const ProgressRange screening_progress = progress.part(0.0, screening ? 0.4 : 0.0);
  const ProgressRange continuing = progress.part(screening ? 0.4 : 0.0, 0.75);
  const ProgressRange moving = progress.part(0.75, 1.0);

  std::vector<Candidate> kept = screen_starts(counts, starts, geometry, options, screen,
                                              executor, hooks, screening_progress, result);
  if (hooks.verbose && single) hooks.message("  Expectation Maximization");
  const std::size_t best = continue_candidates(counts, kept, options, full, single, executor,
                                               hooks, continuing, result);
  Candidate chosen = std::move(kept[best]);
  kept.clear();
  result.best_start = chosen.start;
  result.kmeans_iterations = result.starts[chosen.start].kmeans_iterations;
  result.nle_trace = std::move(chosen.run.nle_trace);
  result.em_iterations = chosen.run.iterations;
  result.extrapolations = chosen.run.extrapolations;
  result.converged = chosen.run.converged;
  result.state = std::move(chosen.state);

  LocalSearchResult moved =
      move_state(counts, geometry, result.state, options, executor, hooks, moving);
  count_moves(moved, result);
  result.moves = std::move(moved.trials);
  result.nle_trace.insert(result.nle_trace.end(), moved.accepted_nle.begin(),
                          moved.accepted_nle.end());
  result.em_iterations += moved.em_iterations;
  result.extrapolations += moved.extrapolations;
  if (moved.any_accepted) result.converged = moved.converged;
  progress.report(1.0, "search done");
}

// The number of starts a replicated search may run: options.max_starts, or
// (0) start_budget / (k (non-zeros + pairs + samples) (1 + kicks)), the cost of
// a start and its kicks in units of one E-step and M-step, between min_starts
// and the starts given.
std::size_t start_limit(const Counts& counts, const SearchOptions& options,
                        std::size_t given) {
  if (options.max_starts > 0) return std::min(options.max_starts, given);
  const double unit = static_cast<double>(options.n_components) *
                      static_cast<double>(counts.nnz() + counts.n_pairs() + counts.n_samples);
  // A start's kicks cost about a start each: it runs at least `kicks` of them.
  const double affordable =
      std::floor(options.start_budget / std::max(1.0, unit) /
                 (1.0 + start_kicks(moves_settings(counts, options), options)));
  const double limit = std::max(static_cast<double>(options.min_starts), affordable);
  return static_cast<std::size_t>(std::min(limit, static_cast<double>(given)));
}

// What the starts of the replicated search taken so far tell the starts still
// running, shared between them and the calling thread (which takes the starts
// in order and alone writes here). `certified`: the states where a taken
// start ended with every move exhausted (its kicks and, with divisions, its
// division moves; divide_start() skips the pass of a start that ends at one).
// The closing state: the best optimum so far when replicates - 1 taken starts
// reached it and the state is certified; with options.settle a start that
// reaches it when every start before it has been taken completes the
// replication there (DESIGN.md section 8, "The last replicate").
class StartBoard {
 public:
  StartBoard(double tolerance, int replicates, bool settle)
      : tolerance_(tolerance), replicates_(replicates), settle_(settle),
        certified_(tolerance), closing_(tolerance) {}

  bool settles() const { return settle_ && replicates_ >= 2; }

  bool certified(const EmState& state) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return certified_.contains(state);
  }
  void certify(const EmState& state) {
    const std::lock_guard<std::mutex> lock(mutex_);
    certified_.add(state);
  }
  // Start `s` has been taken; `best` is the best state so far, reached by
  // `at_best` of the starts taken.
  void taken(std::size_t s, const EmState& best, int at_best) {
    const std::lock_guard<std::mutex> lock(mutex_);
    closing_ = KnownOptima(tolerance_);
    if (at_best >= replicates_ - 1 && certified_.contains(best)) closing_.add(best);
    taken_ = s + 1;
  }
  // Whether every start before `s` has been taken: from then on the closing
  // state start `s` may complete is final.
  bool decided(std::size_t s) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return taken_ == s;
  }
  // Whether start `s`, at a state with this partition and NLE, completes the
  // replication there: every start before it has been taken and the state is
  // the closing state.
  bool completes(std::size_t s, const std::vector<std::uint32_t>& partition,
                 double nle) const {
    if (!settles()) return false;
    const std::lock_guard<std::mutex> lock(mutex_);
    return taken_ == s && closing_.contains(partition, nle);
  }

 private:
  double tolerance_;
  int replicates_;
  bool settle_;
  mutable std::mutex mutex_;
  KnownOptima certified_, closing_;
  std::size_t taken_ = 0;
};

// A state a start's search stood at (after its descent, after a kept kick),
// known by what tells whether it completes the replication (its partition,
// KnownOptima::partition_of(), and NLE), with the start's moves up to it: a
// start that completes the replication there ends there, and needs no more
// of the state (search_replicated()). 4 bytes a sample and a row per move the
// start tried, where a copy of the state would take k (taxa + pairs) doubles.
struct StartPoint {
  std::vector<std::uint32_t> partition;
  double nle = 0.0;
  LocalSearchResult moved;
};

StartPoint point_at(const EmState& state, const LocalSearchResult& moved) {
  return {KnownOptima::partition_of(state), state.nle, moved};
}

// The first of start s's `points` at which it completes the replication
// (StartBoard::completes()), or points.size() when none does.
std::size_t completing_point(const StartBoard& board, std::size_t s,
                             const std::vector<StartPoint>& points) {
  std::size_t p = 0;
  while (p < points.size() && !board.completes(s, points[p].partition, points[p].nle)) ++p;
  return p;
}

// One start of the replicated search, run to convergence and moved: its
// record, EM run, moves and final state.
struct StartOutcome {
  StartRecord record;
  EmRun run;
  LocalSearchResult moved;
  EmState state;
  // The failed transfers of the start's descent and kicks, for its division
  // moves (divide_start()).
  TransferMemo transfers_failed;
  // With StartBoard::settles(): the states the start stood at, in order, while
  // it could not yet tell whether they complete the replication (the search
  // takes the start at the first that does).
  std::vector<StartPoint> points;
};

// The kicks of a start with seed `seed` (none when max_failures is 0).
KickSettings start_kick_settings(const LocalSearchSettings& moves, const SearchOptions& options,
                                 std::uint64_t seed) {
  KickSettings kicks;
  kicks.max_failures = start_kicks(moves, options);
  kicks.em = options.em;
  kicks.optimiser = options.optimiser;
  kicks.tolerance = options.replicate_tolerance;
  kicks.seed = splitmix64_first(0x6b69636b73ULL ^ seed);
  return kicks;
}

// Gives `state` a fresh cache of E-step columns (evidence.h) for `counts`, with
// options.column_cache; its workspace's own tables, which the cache replaces,
// are released.
void attach_column_cache(const Counts& counts, const SearchOptions& options, EmState& state) {
  if (!options.column_cache) return;
  state.workspace->estep = EStepWorkspace();
  state.workspace->estep.cache = column_cache_for(counts, options.n_components);
}

StartOutcome run_start(const Counts& counts, const StartSpec& spec, std::size_t s,
                       const TableGeometry& geometry, const SearchOptions& options,
                       const StartSettings& start_settings, const EmSettings& full,
                       const Executor& executor, const FitHooks& hooks,
                       const ProgressRange& progress, ModelDivisions* divisions,
                       const StartBoard& board) {
  StartOutcome outcome;
  StartRecord& record = outcome.record;
  record.kind = spec.kind;
  record.seed = spec.seed;
  record.screen_nle = std::nan("");
  record.continued = true;
  outcome.state = start_state(counts, spec, geometry.roots, geometry.fingerprint,
                              start_settings, executor, hooks, record.kmeans_iterations);
  record.start_nle = outcome.state.nle;
  // The start's states (its EM, moves, kicks' and trials' states share the
  // workspace) take E-step columns made for an earlier state from one cache,
  // dropped when the start ends (so that only running starts hold one).
  attach_column_cache(counts, options, outcome.state);
  outcome.run = run_em(counts, outcome.state, full, options.optimiser, executor, hooks);
  record.final_nle = outcome.state.nle;
  record.em_iterations = outcome.run.iterations;
  record.converged = outcome.run.converged;
  LocalSearchSettings moves = moves_settings(counts, options);
  moves.transfer_settings.divisions = divisions;
  // One memo of failed transfers for the start's descent and its kicks': a kick
  // that falls back to an optimum met before finds its transfers there tried.
  TransferMemo& transfers_failed = outcome.transfers_failed;
  outcome.moved = local_search(counts, geometry.roots, geometry.fingerprint, outcome.state,
                               moves, executor, hooks, progress, &transfers_failed);
  const KickSettings kicks = start_kick_settings(moves, options, spec.seed);
  // The start stops kicking once a state it stood at completes the
  // replication; the search takes it at the first such state (search_replicated()).
  const bool settling = board.settles() && kicks.max_failures > 0;
  const auto completes = [&] {
    // Read before the points are: once every start before this one has been
    // taken, the closing state is final, and points that do not complete the
    // replication now never will. They are dropped, so that a start keeps
    // points only while a start before it has not been taken.
    const bool decided = board.decided(s);
    if (completing_point(board, s, outcome.points) < outcome.points.size()) return true;
    if (decided) outcome.points.clear();
    return false;
  };
  if (settling) outcome.points.push_back(point_at(outcome.state, outcome.moved));
  if (kicks.max_failures > 0 && !(settling && completes())) {
    AfterKick after_kick;
    if (settling) {
      after_kick = [&](const EmState& at, const LocalSearchResult& moved, bool kept) {
        if (kept) outcome.points.push_back(point_at(at, moved));
        return completes();
      };
    }
    kick_search(counts, geometry.roots, geometry.fingerprint, outcome.state, moves, kicks,
                executor, hooks, outcome.moved, &transfers_failed, after_kick);
  }
  record.moved_nle = outcome.state.nle;
  if (outcome.moved.any_accepted) record.converged = outcome.moved.converged;
  outcome.state.workspace->estep.cache.reset();
  return outcome;
}

// Division moves on the end of a start of the replicated search (DESIGN.md
// section 8, "Division moves"), as the search takes it, in start order: a pass
// of them (TransferSettings::division_moves) with the descent run on after one
// is kept, then the start's kicks, until a pass keeps none. A start that ended
// at a state an earlier start's pass left as it was (certified on `board`: the
// same partition and NLE, where that pass's descent ended with every move
// exhausted) skips its pass, which would try the same trials from the same
// state (the search certifies every start's end where its moves are exhausted,
// search_replicated()). Starts are taken in order whatever the threads, so the
// result does not depend on them.
void divide_start(const Counts& counts, const TableGeometry& geometry,
                  const SearchOptions& options, ModelDivisions* divisions,
                  const StartBoard& board, const Executor& executor, const FitHooks& hooks,
                  const ProgressRange& progress, std::size_t s, StartOutcome& outcome) {
  LocalSearchSettings moves = moves_settings(counts, options);
  if (!options.divisions || !moves.transfers || board.certified(outcome.state)) return;
  moves.transfer_settings.divisions = divisions;
  LocalSearchSettings dividing = moves;
  dividing.transfer_settings.division_moves = true;
  const KickSettings kicks = start_kick_settings(moves, options, outcome.record.seed);
  TransferMemo& transfers_failed = outcome.transfers_failed;
  attach_column_cache(counts, options, outcome.state);
  for (;;) {
    const LocalSearchResult pass =
        local_search(counts, geometry.roots, geometry.fingerprint, outcome.state, dividing,
                     executor, hooks, progress, &transfers_failed);
    append_search(outcome.moved, pass);
    if (!pass.any_accepted || kicks.max_failures <= 0) break;
    // Kicks that keep nothing leave the pass's own end, where no move improves.
    const std::size_t kept = outcome.moved.accepted_nle.size();
    kick_search(counts, geometry.roots, geometry.fingerprint, outcome.state, moves, kicks,
                executor, hooks, outcome.moved, &transfers_failed);
    if (outcome.moved.accepted_nle.size() == kept) break;
  }
  outcome.state.workspace->estep.cache.reset();
  StartRecord& record = outcome.record;
  if (outcome.state.nle != record.moved_nle && hooks.verbose) {
    hooks.message(format_message("  start %.0f: NLE %.4f after division moves", s + 1.0,
                                 outcome.state.nle));
  }
  record.moved_nle = outcome.state.nle;
  if (outcome.moved.any_accepted) record.converged = outcome.moved.converged;
}

// What a start run on a thread of its own wrote through FitHooks::message.
struct ConcurrentOutcome {
  StartOutcome outcome;
  std::vector<std::string> messages;
};

// Runs starts 0..limit-1 of the replicated search and hands each outcome to
// take(s, outcome) in start order until take returns false. With
// options.concurrent_starts >= 2 the starts run side by side, each on a thread
// of its own with a serial executor (run_ordered(), ordered_tasks.h); their
// verbose lines are written when they are taken, and their interrupt check is
// the calling thread's cancellation. Otherwise one after another on `executor`.
void run_starts(const Counts& counts, const std::vector<StartSpec>& starts, std::size_t limit,
                const TableGeometry& geometry, const SearchOptions& options,
                const StartSettings& start_settings, const EmSettings& full,
                const Executor& executor, const FitHooks& hooks,
                const std::function<ProgressRange(std::size_t)>& part,
                const std::function<bool(std::size_t, StartOutcome&)>& take,
                ModelDivisions* divisions, const StartBoard& board) {
  const std::size_t workers =
      options.concurrent_starts >= 2 && limit >= 2 ? std::min(options.concurrent_starts, limit)
                                                   : 0;
  if (workers == 0) {
    run_ordered<StartOutcome>(
        limit, 0,
        [&](std::size_t s, const std::atomic<bool>&) {
          return run_start(counts, starts[s], s, geometry, options, start_settings, full,
                           executor, hooks, part(s), divisions, board);
        },
        take, hooks.check_interrupt);
    return;
  }
  const SerialExecutor serial;
  const FitHooks quiet;
  run_ordered<ConcurrentOutcome>(
      limit, workers,
      [&](std::size_t s, const std::atomic<bool>& cancelled) {
        // No R from this thread: lines are kept for the calling thread, and
        // the interrupt check is the calling thread's cancellation.
        ConcurrentOutcome done;
        FitHooks own;
        own.verbose = hooks.verbose;
        own.message = [&done](const std::string& line) { done.messages.push_back(line); };
        own.check_interrupt = [&cancelled] {
          if (cancelled.load()) throw TaskCancelled();
        };
        done.outcome = run_start(counts, starts[s], s, geometry, options, start_settings, full,
                                 serial, own, ProgressRange{&quiet, 0.0, 1.0}, divisions,
                                 board);
        return done;
      },
      [&](std::size_t s, ConcurrentOutcome& done) {
        for (const std::string& line : done.messages) hooks.message(line);
        return take(s, done.outcome);
      },
      hooks.check_interrupt);
}

// The replicated search (DESIGN.md section 8): starts run to convergence and
// each moved until no move improves it, taken in order until `replicates` of
// them have reached the best optimum or the start limit is reached. Starts are
// the same optimum when their NLEs are within replicate_tolerance relative;
// the best state is the lowest NLE (ties, to 1e-9 relative: the earlier
// start), except that the start that completes the replication counts at the
// best optimum and keeps no state (StartPoint). Starts run side
// by side (run_starts()) are taken in the same order, and a start's outcome
// does not depend on the executor, so the search stops at the same start with
// the same result whatever the number of threads.
void search_replicated(const Counts& counts, const std::vector<StartSpec>& starts,
                       const TableGeometry& geometry, const SearchOptions& options,
                       const Executor& executor, const FitHooks& hooks,
                       const ProgressRange& progress, SearchResult& result) {
  const std::size_t limit = start_limit(counts, options, starts.size());
  ReplicationRecord& replication = result.replication;
  replication.replicates = options.replicates;
  replication.max_starts = static_cast<int>(limit);
  StartSettings start_settings;
  start_settings.n_components = options.n_components;
  start_settings.optimiser = options.optimiser;
  start_settings.kmeans_max_iterations = options.kmeans_max_iterations;
  start_settings.kmeans_tolerance = options.kmeans_tolerance;
  start_settings.report = false;
  EmSettings full = options.em;
  full.verbose_iterations = false;
  const auto same = [&options](double a, double b) {
    return std::fabs(a - b) <= options.replicate_tolerance * std::fabs(b);
  };
  // The components' divisions by the model, shared by the starts: a start's
  // components often have the members another start's had (at the optima
  // several reach), and a division depends on the members alone.
  ModelDivisions divisions;
  // Where the starts taken so far ended (StartBoard).
  StartBoard board(options.replicate_tolerance, options.replicates, options.settle);
  // Distinct optima (their lowest NLE) and how many starts reached each.
  std::vector<std::pair<double, int>> optima;
  bool have_best = false;
  const auto part = [&progress, limit](std::size_t s) {
    return progress.part(static_cast<double>(s) / limit, (s + 1.0) / limit);
  };
  const auto take = [&](std::size_t s, StartOutcome& outcome) {
    // The first state the start stood at that completes the replication is
    // where it ends: the same whether the start stopped there or (running
    // beside the start before it) kicked on before that one was taken. That
    // state is the closing one, the best optimum, certified already: the
    // start has no division moves to run there and, the same optimum as the
    // best state within the replication's tolerance, does not take its place;
    // its partition and NLE are all the search keeps of it (StartPoint).
    const std::size_t p = completing_point(board, s, outcome.points);
    const bool completed = p < outcome.points.size();
    if (completed) {
      outcome.moved = std::move(outcome.points[p].moved);
      outcome.record.moved_nle = outcome.points[p].nle;
      outcome.record.converged =
          outcome.moved.any_accepted ? outcome.moved.converged : outcome.run.converged;
    }
    outcome.points.clear();
    // Written here, once the start's end is known, so that the lines are the
    // same on any number of threads.
    if (hooks.verbose) {
      hooks.message(format_message("  start %.0f: NLE %.4f after EM, %.4f after moves", s + 1.0,
                                   outcome.record.final_nle, outcome.record.moved_nle));
    }
    if (!completed) {
      divide_start(counts, geometry, options, &divisions, board, executor, hooks, part(s), s,
                   outcome);
      // Where its moves are exhausted, the start's end is certified: a later
      // start ending there skips its division moves, and may settle there.
      if (outcome.moved.at_local_optimum) board.certify(outcome.state);
    }
    outcome.record.kicks = outcome.moved.tried[static_cast<int>(MoveKind::kick)];
    result.starts.push_back(outcome.record);
    result.total_em_iterations += outcome.run.iterations;
    count_moves(outcome.moved, result);
    const double nle = outcome.record.moved_nle;
    // Which optimum this start reached. The start that completes the
    // replication reached the best state's (its NLE is within the tolerance of
    // the best's, not necessarily of the optimum's lowest).
    const double reached = completed ? result.state.nle : nle;
    std::size_t o = 0;
    while (o < optima.size() && !same(reached, optima[o].first)) ++o;
    if (o == optima.size()) {
      optima.push_back({nle, 1});
    } else {
      ++optima[o].second;
      if (!completed) optima[o].first = std::min(optima[o].first, nle);
    }
    if (!have_best || (!completed && clearly_lower(nle, result.state.nle))) {
      have_best = true;
      const LocalSearchResult& moved = outcome.moved;
      result.best_start = s;
      result.kmeans_iterations = outcome.record.kmeans_iterations;
      result.nle_trace = std::move(outcome.run.nle_trace);
      result.nle_trace.insert(result.nle_trace.end(), moved.accepted_nle.begin(),
                              moved.accepted_nle.end());
      result.em_iterations = outcome.run.iterations + moved.em_iterations;
      result.extrapolations = outcome.run.extrapolations + moved.extrapolations;
      result.converged = moved.any_accepted ? moved.converged : outcome.run.converged;
      result.moves = std::move(outcome.moved.trials);
      result.state = std::move(outcome.state);
    }
    std::size_t best = 0;
    while (!same(result.state.nle, optima[best].first)) ++best;
    board.taken(s, result.state, optima[best].second);
    replication.starts_run = static_cast<int>(s + 1);
    replication.at_best = optima[best].second;
    part(s).report(1.0, "replicating starts");
    return replication.at_best < options.replicates;
  };

  run_starts(counts, starts, limit, geometry, options, start_settings, full, executor, hooks,
             part, take, &divisions, board);
  replication.optima = static_cast<int>(optima.size());
  for (const auto& optimum : optima) replication.optima_seen_once += optimum.second == 1 ? 1 : 0;
  if (hooks.verbose) {
    hooks.message(format_message("  best optimum reached by %.0f of %.0f starts",
                                 replication.at_best, replication.starts_run));
  }
  progress.report(1.0, "search done");
}

// Searches one table, replicated or screened as the options say.
void search_table(const Counts& counts, const std::vector<StartSpec>& starts,
                  const SearchOptions& options, const Executor& executor, const FitHooks& hooks,
                  const ProgressRange& progress, SearchResult& result) {
  result.starts.clear();
  result.moves.clear();
  const TableGeometry geometry = table_geometry(counts, starts, options, executor);
  hooks.check_interrupt();
  if (options.replicates > 0) {
    search_replicated(counts, starts, geometry, options, executor, hooks, progress, result);
  } else {
    search_screened(counts, starts, geometry, options, executor, hooks, progress, result);
  }
}

// The samples the search works on (DESIGN.md section 7): those whose keys
// splitmix64_first(fingerprint ^ seed key) are among the `size` smallest, in
// increasing row order. Keys follow content, so the same samples are chosen whatever
// the order of the rows; identical samples share a key and are taken or left together.
std::vector<std::uint32_t> choose_subsample(const std::vector<std::uint64_t>& fingerprint,
                                            std::size_t size, std::uint32_t seed) {
  const std::size_t N = fingerprint.size();
  const std::uint64_t seed_key =
      splitmix64_first(0x5ab5a3b1e5ULL ^ static_cast<std::uint64_t>(seed));
  std::vector<std::uint64_t> keys(N);
  for (std::size_t i = 0; i < N; ++i) keys[i] = splitmix64_first(fingerprint[i] ^ seed_key);
  std::vector<std::uint64_t> sorted = keys;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(size - 1),
                   sorted.end());
  const std::uint64_t cut = sorted[size - 1];
  std::vector<std::uint32_t> rows;
  rows.reserve(size);
  for (std::size_t i = 0; i < N; ++i) {
    if (keys[i] <= cut) rows.push_back(static_cast<std::uint32_t>(i));
  }
  return rows;
}

// The starts restricted to the subsample's rows (a given start keeps its rows of
// the posterior).
std::vector<StartSpec> subsample_starts(const std::vector<StartSpec>& starts,
                                        const std::vector<std::uint32_t>& rows, std::size_t K) {
  std::vector<StartSpec> part_starts = starts;
  for (StartSpec& start : part_starts) {
    if (start.kind != StartKind::given) continue;
    std::vector<double> posterior(rows.size() * K);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      std::copy(&start.posterior[rows[r] * K], &start.posterior[rows[r] * K] + K,
                &posterior[r * K]);
    }
    start.posterior = std::move(posterior);
  }
  return part_starts;
}

// Refinement on every sample from the subsample's best state `found` (of
// `subsample` samples), weights scaled to the whole table: with deep samples the
// full-data posteriors are settled by the first E-step, so few iterations remain.
void refine_on_all(const Counts& counts, EmState found, std::size_t subsample,
                   const SearchOptions& options, const Executor& executor, const FitHooks& hooks,
                   const ProgressRange& progress, SearchResult& result) {
  const std::size_t N = counts.n_samples;
  EmState state;
  state.n_components = options.n_components;
  state.log_alpha = std::move(found.log_alpha);
  state.weights = std::move(found.weights);
  for (double& w : state.weights) w *= static_cast<double>(N) / static_cast<double>(subsample);
  found = EmState();
  evaluate_state(counts, state, executor);
  hooks.check_interrupt();
  if (hooks.verbose) {
    hooks.message(format_message("  refining on all %.0f samples from NLE %.4f",
                                 static_cast<double>(N), state.nle));
  }
  EmSettings refine = options.em;
  refine.verbose_iterations = false;
  const EmRun run = run_em_reporting(counts, state, refine, options.optimiser, executor, hooks,
                                     progress, "refining on all samples");
  result.search.refine_iterations = run.iterations;
  result.total_em_iterations += run.iterations;
  result.nle_trace = run.nle_trace;
  result.em_iterations = run.iterations;
  result.extrapolations = run.extrapolations;
  result.converged = run.converged;
  result.state = std::move(state);
}

}  // namespace

SearchResult search_dmm(const Counts& counts, const std::vector<StartSpec>& starts,
                        const SearchOptions& options, const Executor& executor,
                        const FitHooks& hooks) {
  const std::size_t N = counts.n_samples, K = options.n_components;
  SearchResult result;
  const ProgressRange whole{&hooks, 0.0, 1.0};
  // nstart = 1 from the reference's (or a given) start is the reference's
  // algorithm on every sample; any other search works on a subsample when the
  // table has at least twice as many samples, then refines on all of them.
  const bool plain_start = starts.size() == 1 && starts[0].kind != StartKind::kmeanspp;
  const bool subsample = !plain_start && options.subsample_size > 0 &&
                         N >= 2 * options.subsample_size;
  result.search.samples = N;
  // Searches reuse settled M-steps (em.h) unless told not to; one reference
  // start is the reference's algorithm, which runs every M-step.
  SearchOptions searching = options;
  if (!plain_start && options.reuse_msteps) searching.optimiser.settled_change = kSettledChange;
  if (!subsample) {
    result.search.subsample = N;
    search_table(counts, starts, searching, executor, hooks, whole.part(0.0, 0.95), result);
    return result;
  }

  const std::vector<std::uint32_t> rows =
      choose_subsample(sample_fingerprints(counts, executor), options.subsample_size, options.seed);
  hooks.check_interrupt();
  const Counts part = subset_table(counts, rows, executor);
  hooks.check_interrupt();
  // A table large enough to be subsampled is searched as it was before
  // replication: the first screened_starts starts, screened (em-EM), the best
  // moved. Replicating starts run to convergence on 20,000 samples costs more
  // than the subsample saves, and such tables' types are found by the screened
  // search (DESIGN.md section 7).
  SearchOptions part_options = searching;
  std::vector<StartSpec> chosen_starts = starts;
  if (options.replicates > 0) {
    part_options.replicates = 0;
    if (chosen_starts.size() > options.screened_starts) chosen_starts.resize(options.screened_starts);
  }
  const std::vector<StartSpec> part_starts = subsample_starts(chosen_starts, rows, K);
  if (hooks.verbose) {
    hooks.message(format_message("  searching a subsample of %.0f of %.0f samples",
                                 static_cast<double>(rows.size()), static_cast<double>(N)));
  }
  search_table(part, part_starts, part_options, executor, hooks, whole.part(0.0, 0.6), result);
  result.search.subsample = rows.size();
  result.search.subsample_nle = result.state.nle;
  refine_on_all(counts, std::move(result.state), rows.size(), options, executor, hooks,
                whole.part(0.6, 0.95), result);
  return result;
}

}  // namespace fastdmm
