#pragma once
// Structured pruning of the SSM state dimension: score each state of each layer, choose the states
// to keep, and slice the weights so that the smaller model runs natively (no zero padding).
//
// Scores (higher = more important), per layer and state n, over calibration tokens t:
//   delta-state  Mamba-1: mean_{t,e} (1 - exp(Δ_te A_en)) |B_tn| |C_tn|   (decay activity x drive x readout)
//                Mamba-2: mean_{t,h} Δ_th |B_tgn| |C_tgn|                  (A is per head: Δ-weighted drive x readout)
//   magnitude    ||W_B[n]|| ||W_C[n]||, the rows of x_proj (Mamba-1) / in_proj (Mamba-2) that
//                produce B_n and C_n, summed over groups
//   random       uniform, seeded
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "perfmamba/model/weights.hpp"
#include "perfmamba/prune/calibration.hpp"

namespace perfmamba {

// delta-state scores states, delta-channel channels / heads (channel_pruning.hpp); magnitude and
// random apply to either axis.
enum class PruneMethod { DeltaState, DeltaChannel, Magnitude, Random };
std::optional<PruneMethod> parse_prune_method(const std::string& s);

using LayerScores = std::vector<std::vector<double>>;  // [layer][state]

LayerScores state_scores(PruneMethod m, const MambaConfig& c, const ModelWeights& w, const Calibration* cal,
                         uint64_t seed);

// Keeps round(N (1 - ratio)) states per layer (uniform), or ranks all states of all layers by
// their score divided by the layer's mean score (global). Each layer keeps at least one state.
// Returns the kept state indices per layer, ascending.
std::vector<std::vector<int>> select_states(const LayerScores& scores, double ratio, bool global);

// The config and weights with only the kept states (per-layer d_state).
void prune_states(MambaConfig& c, ModelWeights& w, const std::vector<std::vector<int>>& keep);

}  // namespace perfmamba
