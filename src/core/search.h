// The search for the best optimum: starts, em-EM screening, split-merge moves and the subsample (DESIGN.md sections 5 and 7).
#ifndef FASTDMM_SEARCH_H
#define FASTDMM_SEARCH_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "counts.h"
#include "em.h"
#include "mstep.h"
#include "parallel.h"
#include "moves.h"
#include "split_merge.h"
#include "starts.h"

namespace fastdmm {

struct SearchOptions {
  std::size_t n_components = 1;
  EmSettings em;  // runs to convergence
  OptimiserOptions optimiser;
  int kmeans_max_iterations = 1000;  // the reference's soft k-means
  double kmeans_tolerance = 1e-6;
  // em-EM (Biernacki, Celeux & Govaert 2003): with more starts than n_continue,
  // every start gets screen_iterations EM iterations and only the n_continue
  // lowest NLEs run on to convergence.
  int screen_iterations = 10;
  std::size_t n_continue = 1;
  // Split-merge moves (Ueda et al. 2000) on the best fit, for k >= 3: at most
  // max_moves accepted; a round that tries max_tries candidates without a
  // success ends the search.
  bool split_merge = false;
  int max_moves = 0;
  int max_tries = 5;
  // Transfers (transfer.h) after the split-merge moves, alternated with them
  // until neither improves (moves.h), on tables (or subsamples) of at most
  // transfer_samples samples.
  bool transfers = false;
  std::size_t transfer_samples = 5000;
  int transfer_failures = 20;
  bool all_singles = false;  // every single transfer tried (TransferSettings)
  // Re-splits (resplit.h) once neither split-merge nor transfers improves a
  // state, for k >= 3, on the same tables as transfers: each pair's pool gets
  // resplit_starts starts of its own.
  bool resplits = false;
  int resplit_starts = 3;
  // Kicks (kick_search(), moves.h) on each start of the replicated search once
  // no move improves it, until this many in a row fail (0: none); run when
  // split-merge or transfers are on (the moves a kicked state needs).
  int kicks = 0;
  // Division moves (TransferSettings::division_moves) on each start of the
  // replicated search once its kicks end, kicks again after any that is kept,
  // until a pass keeps none; run when transfers are.
  bool divisions = false;
  // The start that completes the replication (replicates - 1 earlier starts,
  // taken in order, ended at the best optimum with every move exhausted) ends
  // as soon as its descent or a kept kick reaches that optimum, instead of
  // kicking on from it (search.cpp, StartBoard).
  bool settle = false;
  // Reuse settled M-steps (OptimiserOptions::settled_change) in every search
  // but the reference's algorithm (one reference or given start).
  bool reuse_msteps = true;
  // Each start of the replicated search keeps its E-step columns by lambda
  // (evidence.h's ColumnCache): the same fits; false remakes every column, for
  // comparisons (options(fastdmm.column_cache = FALSE)).
  bool column_cache = true;
  // Replication (DESIGN.md section 8): with replicates > 0 the starts run one
  // after another, each to convergence and then moved until no move improves
  // it, until `replicates` of them have reached the best optimum (NLEs within
  // replicate_tolerance relative of the lowest) or max_starts have run (0: a
  // number sized by the table's cost, start_budget / (k (non-zeros + pairs +
  // samples) (1 + kicks run)), between min_starts and the number of starts
  // given). 0: the starts are screened (em-EM) and the best moved.
  int replicates = 0;
  std::size_t max_starts = 0;
  // Starts of the replicated search run side by side on this many threads of
  // their own, each start on one (search.cpp, search_replicated()); 0 or 1: one
  // start after another, each on the executor's threads. Same result either way.
  std::size_t concurrent_starts = 0;
  std::size_t min_starts = 4;
  double start_budget = 1.5e6;
  double replicate_tolerance = 1e-6;
  // A replicated search on a table large enough to be subsampled is the
  // screened search of its first screened_starts starts instead.
  std::size_t screened_starts = 10;
  std::uint32_t seed = 0;  // keys the 2-means draws of split moves and the subsample
  // Searches other than one reference (or given) start work on a subsample of
  // this many samples, chosen by content, when the table has at least twice as
  // many, and are then refined on all samples (DESIGN.md section 7). 0: never.
  std::size_t subsample_size = 0;
};

// How the search used the table.
struct SubsampleRecord {
  std::size_t samples = 0;      // in the table
  std::size_t subsample = 0;    // the search worked on (samples when not subsampled)
  double subsample_nle = 0.0;   // the subsample's best NLE (NaN when not subsampled)
  int refine_iterations = 0;    // EM iterations on all samples after the subsample
};

struct StartRecord {
  StartKind kind = StartKind::reference;
  std::uint32_t seed = 0;
  double start_nle = 0.0;   // after the start's first M-step
  double screen_nle = 0.0;  // after screening (NaN when not screened)
  bool continued = false;   // run on towards convergence
  bool abandoned = false;   // stopped once it could no longer beat the best
  double final_nle = 0.0;   // NaN when not continued
  double moved_nle = 0.0;   // after the moves (replicated search; NaN otherwise)
  int kicks = -1;           // kicks the start ran (replicated search; -1 otherwise)
  int em_iterations = 0;
  bool converged = false;
  int kmeans_iterations = 0;  // soft k-means (reference) or Lloyd (k-means++) iterations
};

// How a replicated search went (all zero for a screened search).
struct ReplicationRecord {
  int replicates = 0;       // asked for
  int max_starts = 0;       // the budget
  int starts_run = 0;
  int at_best = 0;          // starts that reached the best optimum
  int optima = 0;           // distinct optima the starts reached
  int optima_seen_once = 0; // of those, reached by one start only (Good-Turing's f1)
};

// The best state found and the records of the way there.
struct SearchResult {
  EmState state;  // the best state: converged EM on every sample
  std::vector<StartRecord> starts;
  std::vector<MoveTrial> moves;   // the best start's (or the best state's) moves
  int moves_tried[kMoveKinds] = {};  // every start's, by MoveKind
  int moves_accepted[kMoveKinds] = {};
  ReplicationRecord replication;
  std::size_t best_start = 0;
  std::vector<double> nle_trace;  // the best start's iterations, then each accepted move
  int em_iterations = 0;          // iterations behind the final state
  int total_em_iterations = 0;    // every iteration spent by the search
  int extrapolations = 0;         // accepted SQUAREM steps behind the final state
  bool converged = false;
  int kmeans_iterations = 0;      // of the best start
  SubsampleRecord search;
};

// The whole search for one k: on the table, or on a subsample then refined on the
// table. Its progress runs to 0.95 of the fit's; fit_dmm() (fit.h) reports the rest.
SearchResult search_dmm(const Counts& counts, const std::vector<StartSpec>& starts,
                        const SearchOptions& options, const Executor& executor,
                        const FitHooks& hooks);

}  // namespace fastdmm

#endif
