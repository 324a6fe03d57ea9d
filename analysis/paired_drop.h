// How much top-1 a compressed model loses against the float model on the same images, with an
// upper bound a budget (--max-drop) can be held to.
//
// With labels (paired, exact): each image is right or wrong for each model. Only the discordant
// pairs carry information about the difference (McNemar): b images the float model gets right and
// the candidate wrong, c the other way round, n = b + c. Given n, b is binomial(n, pi) and the drop is
// (b - c) / N = (2 pi - 1) n / N. The bound takes pi's one-sided Clopper-Pearson upper limit at the
// confidence (exact for the binomial) with n / N as observed: bound = (2 pi_U - 1) n / N, in points.
// It is exact conditionally on the number of discordant pairs; docs/BUDGET.md measures how often it
// is exceeded on images the decision never saw.
//
// Without labels (the float model's output distribution p standing in for the unknown label): each
// image costs p[argmax p] - p[argmax q], the expected loss of top-1 accuracy; the estimate is their
// mean and the bound the mean plus z standard errors, z the normal quantile of the confidence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mc {

struct DropBound {
  double estimate = 0;    // points of top-1 lost (negative: gained)
  double bound = 0;       // one-sided upper bound at `confidence`, points
  double confidence = 0;  // e.g. 0.9
  int64_t images = 0;
  bool labels = false;
  // With labels: images right for the float model only (b) and for the candidate only (c).
  int64_t float_only = 0, candidate_only = 0;
};

// `float_correct[i]`, `candidate_correct[i]`: whether each model's top-1 is right on image i.
DropBound labelled_drop(const std::vector<uint8_t>& float_correct, const std::vector<uint8_t>& candidate_correct, double confidence);
// `cost[i]`: the expected top-1 loss on image i, in [0, 1] (analysis/sensitivity.h EndToEnd).
DropBound label_free_drop(const std::vector<double>& cost, double confidence);

// The paired difference of two models' top-1 on the same labelled images with a two-sided interval
// at `confidence` (Clopper-Pearson on the discordant pairs, as above): a - b in points.
struct PairedDifference {
  double top1_a = 0, top1_b = 0;
  double difference = 0;     // top1_a - top1_b, points
  double low = 0, high = 0;  // interval, points
  double confidence = 0;
  int64_t images = 0, a_only = 0, b_only = 0;
};
PairedDifference paired_difference(const std::vector<uint8_t>& a_correct, const std::vector<uint8_t>& b_correct, double confidence);

// Clopper-Pearson one-sided upper limit of a binomial proportion: the pi with P(X <= k | n, pi) =
// 1 - confidence (1 when k = n). Exposed for tests.
double binomial_upper_limit(int64_t k, int64_t n, double confidence);
// The standard normal quantile (confidence 0.9 -> 1.2816).
double normal_quantile(double p);

// Refuses (usage) a confidence outside (0.5, 1): `flag` names it in the message.
void check_confidence(double confidence, const std::string& flag);

}  // namespace mc
