// How much top-1 a compressed model loses against the float model on the same images, with an
// upper bound a budget (--max-drop) can be held to.
//
// With labels (paired): each image is right or wrong for each model; b images the float model gets
// right and the candidate wrong, c the other way round, of N. The drop is p_b - p_c, and the bound is
// Tango's score upper limit for a difference of paired proportions (Tango 1998, Statistics in
// Medicine 17:891): the largest delta whose score statistic
//   Z(delta) = (b - c - N delta) / sqrt(N (2 p~_c + delta (1 - delta)))
// (p~_c the maximum-likelihood p_c given delta) stays above -z at the confidence. It is unconditional:
// it accounts for how many images change, not only for how the changed ones split (the first version
// bounded the split given the number of changes, McNemar-style, which a candidate that happened to
// change one image of 100 passed at a 1-point budget). With no image changed it is z^2 / (N + z^2):
// 1.6 points on 100 images at 0.9, so a 1-point budget needs at least 163 decision images.
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
// at `confidence` (Tango's score interval, as above, each side at (1 + confidence) / 2): a - b in points.
struct PairedDifference {
  double top1_a = 0, top1_b = 0;
  double difference = 0;     // top1_a - top1_b, points
  double low = 0, high = 0;  // interval, points
  double confidence = 0;
  int64_t images = 0, a_only = 0, b_only = 0;
};
PairedDifference paired_difference(const std::vector<uint8_t>& a_correct, const std::vector<uint8_t>& b_correct, double confidence);

// Tango's score statistic and its one-sided upper limit on p_b - p_c (a fraction), as above.
double tango_score(int64_t b, int64_t c, int64_t n, double delta);
double tango_upper_limit(int64_t b, int64_t c, int64_t n, double confidence);
// The fewest decision images with which a candidate that changes no answer has a bound of at most
// max_drop points: ceil(z^2 (1 - p) / p), p = max_drop / 100.
int64_t images_to_certify(double max_drop, double confidence);

// Clopper-Pearson one-sided upper limit of a binomial proportion: the pi with P(X <= k | n, pi) =
// 1 - confidence (1 when k = n). Exposed for tests.
double binomial_upper_limit(int64_t k, int64_t n, double confidence);
// The standard normal quantile (confidence 0.9 -> 1.2816).
double normal_quantile(double p);

// Refuses (usage) a confidence outside (0.5, 1): `flag` names it in the message.
void check_confidence(double confidence, const std::string& flag);

}  // namespace mc
