#pragma once
// Bridging: after pruning, adjust each layer's out_proj so that the block writes to the residual
// stream what the unpruned block wrote, on calibration text. Both bridges fold into weights the
// model already has (out_proj, and its bias), so inference costs what the pruned model costs.
//
//   fold      out_proj bias += mean_t(full block output) - mean_t(pruned block output): the
//             removed part's average contribution, exact in expectation.
//   lsq       out_proj weight refit by ridge regression: W' = argmin ‖Y_p W'^T - T‖² + λ‖W' - W‖²,
//             T the full block's outputs, Y_p the pruned block's out_proj inputs, λ = ridge ·
//             mean(diag(Y_p^T Y_p)).
//   lsq+fold  both at once (centred regression plus bias).
// Statistics stream over windows: per layer Y_p^T Y_p and Y_p^T T (d_inner' x d_inner' and
// d_inner' x d_model doubles), whatever the number of tokens. The pruned model's layers see the
// pruned model's own activations, so each layer's bridge also absorbs the drift of the layers
// below it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "perfmamba/model/mamba_lm.hpp"

namespace perfmamba {

enum class BridgeKind { None, Fold, Lsq, LsqFold };
std::optional<BridgeKind> parse_bridge(const std::string& s);

struct BridgeReport {
  // Per layer, on the calibration text: ‖pruned block output - full block output‖² / ‖full‖²,
  // before and after its bridge (the layers below already bridged in both).
  std::vector<double> error_before, error_after;
};

// `full` is the unpruned model, (pc, pw) the pruned one; pw's out_proj (and bias, adding one when
// the model had none: use_bias) is replaced. Runs on the CPU.
BridgeReport bridge_pruned(MambaLM& full, MambaConfig& pc, ModelWeights& pw, const std::vector<int32_t>& ids,
                           int window, BridgeKind kind, double ridge);

}  // namespace perfmamba
