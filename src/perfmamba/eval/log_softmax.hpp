#pragma once
// The log-probability of one token under a row of logits, shared by perplexity and zero-shot
// scoring.

namespace perfmamba {

// log softmax(row)[target] over `vocab` logits, the sum of exponentials in double. is_max
// (optional) is set to whether target is the row's first largest logit.
double log_softmax_at(const float* row, int vocab, int target, bool* is_max = nullptr);

}  // namespace perfmamba
