#pragma once
// Calibration statistics for state pruning, gathered while the model runs over calibration text:
// a Backend wrapper reads the inputs of each scan call (Δ before softplus, A, B, C, x) and
// accumulates per layer, per state and per channel/head sums. Streaming: memory is O(layers x
// (d_state + d_inner)), whatever the number of calibration tokens.
#include <cstdint>
#include <vector>

#include "perfmamba/backend/backend.hpp"
#include "perfmamba/model/mamba_lm.hpp"

namespace perfmamba {

struct LayerCalibration {
  int64_t tokens = 0;
  std::vector<double> delta_sum;        // per channel (Mamba-1) or head (Mamba-2): sum of Δ
  std::vector<double> decay_activity;   // per state: sum over tokens, channels of 1 - exp(Δ A[:, n])
  std::vector<double> drive;            // per state: sum of Δ |x| |B_n| (Mamba-1) / Δ |B_n| (Mamba-2)
  std::vector<double> readout;          // per state: sum of |C_n|
  std::vector<double> delta_state;      // per state: the delta-state score's sum (see state_pruning.hpp)
  std::vector<double> channel_drive;    // per channel (Mamba-1) / head (Mamba-2): sum of the SSM gain times ‖x‖
                                        // (see channel_pruning.hpp)
};

struct Calibration {
  std::vector<LayerCalibration> layers;
  int64_t tokens = 0;
};

// Runs `ids` through the model in windows of `window` tokens (fresh state each) on the CPU.
Calibration calibrate(MambaLM& model, const std::vector<int32_t>& ids, int window);

}  // namespace perfmamba
