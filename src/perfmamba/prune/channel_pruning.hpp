#pragma once
// Structured pruning of the SSM path's width: Mamba-1 inner channels (d_inner) or Mamba-2 heads.
// A removed channel / head leaves every weight that reads or writes it — in_proj rows (x and z),
// conv channels, x_proj columns, dt_proj rows, A_log, D, dt bias, the gated norm's weights and
// out_proj columns — so the whole block narrows, not only the scan.
//
// Scores (higher = more important), per layer, over calibration tokens t:
//   delta-channel  mean_t gain_t ‖x_t‖ · ‖W_out[:, channel]‖ (Mamba-2: W_out's columns of the head,
//                  scaled by the gated norm's weights), where the SSM gain
//                      gain_t = |D| + Σ_n Δ_t |B_tn| |C_tn| / (1 - exp(Δ_t A_n))
//                  is how strongly the channel's output answers a sustained input: a state
//                  receives Δ B x per step and keeps exp(Δ A) of itself, so it settles at
//                  Δ B x / (1 - exp(Δ A)) and is read out through C. Δ sets both the write and
//                  the decay: fast channels (large Δ) respond with ~Δ|B||C|, slow ones with
//                  ~|B||C|/|A|.
//   magnitude      ‖W_in[x rows of e]‖ · ‖W_out[:, e]‖ (Mamba-2: over the head's channels)
//   random         uniform, seeded
// Mamba-2 removes the same number of heads from every group, so the groups (which share B and C
// and are normalised together) keep equal sizes.
#include <cstdint>
#include <vector>

#include "perfmamba/model/weights.hpp"
#include "perfmamba/prune/calibration.hpp"
#include "perfmamba/prune/state_pruning.hpp"

namespace perfmamba {

// [layer][channel (Mamba-1) or head (Mamba-2)]
LayerScores channel_scores(PruneMethod m, const MambaConfig& c, const ModelWeights& w, const Calibration* cal,
                           uint64_t seed);

// Kept channel / head indices per layer, ascending: round(count (1 - ratio)) per layer (Mamba-2:
// per group), or by global rank of score / layer mean. Each layer (group) keeps at least one.
std::vector<std::vector<int>> select_channels(const MambaConfig& c, const LayerScores& scores, double ratio,
                                              bool global);

// Slices the weights to the kept channels / heads (per-layer d_inner / n_heads). Mamba-2's gated
// norm weights are scaled by sqrt(old group size / new group size), so the norm of the kept
// channels is what it was with the removed ones at zero (up to its epsilon).
void prune_channels(MambaConfig& c, ModelWeights& w, const std::vector<std::vector<int>>& keep);

}  // namespace perfmamba
