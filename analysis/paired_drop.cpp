#include "analysis/paired_drop.h"

#include <cmath>

#include "core/error.h"
#include "core/text.h"

namespace mc {

namespace {

// P(X <= k) for X ~ binomial(n, p), summed in log space (n is at most a few thousand images).
double binomial_cdf(int64_t k, int64_t n, double p) {
  if (p <= 0) return 1;
  if (p >= 1) return k >= n ? 1 : 0;
  const double lp = std::log(p), lq = std::log1p(-p);
  double sum = 0;
  for (int64_t i = 0; i <= k; ++i) {
    const double log_term = std::lgamma(static_cast<double>(n + 1)) - std::lgamma(static_cast<double>(i + 1)) -
                            std::lgamma(static_cast<double>(n - i + 1)) + static_cast<double>(i) * lp + static_cast<double>(n - i) * lq;
    sum += std::exp(log_term);
  }
  return std::min(1.0, sum);
}

// Clopper-Pearson lower limit: the p with P(X >= k | n, p) = 1 - confidence (0 when k = 0).
double binomial_lower_limit(int64_t k, int64_t n, double confidence) {
  return k <= 0 ? 0.0 : 1.0 - binomial_upper_limit(n - k, n, confidence);
}

}  // namespace

double binomial_upper_limit(int64_t k, int64_t n, double confidence) {
  if (n <= 0 || k >= n) return 1.0;
  // P(X <= k | p) falls from 1 to 0 as p goes from 0 to 1: bisect for 1 - confidence.
  double lo = static_cast<double>(k) / static_cast<double>(n), hi = 1.0;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (binomial_cdf(k, n, mid) > 1.0 - confidence) lo = mid;
    else hi = mid;
  }
  return hi;
}

double normal_quantile(double p) {
  double lo = -12, hi = 12;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

void check_confidence(double confidence, const std::string& flag) {
  if (!(confidence > 0.5 && confidence < 1))
    fail_usage(flag + " must be between 0.5 and 1 (exclusive), got " + format_number(confidence));
}

DropBound labelled_drop(const std::vector<uint8_t>& float_correct, const std::vector<uint8_t>& candidate_correct, double confidence) {
  if (float_correct.size() != candidate_correct.size()) fail_internal("labelled_drop: the two models were judged on different images");
  DropBound d;
  d.confidence = confidence;
  d.labels = true;
  d.images = static_cast<int64_t>(float_correct.size());
  for (size_t i = 0; i < float_correct.size(); ++i) {
    d.float_only += float_correct[i] && !candidate_correct[i];
    d.candidate_only += !float_correct[i] && candidate_correct[i];
  }
  if (d.images == 0) return d;
  const double n = static_cast<double>(d.float_only + d.candidate_only), images = static_cast<double>(d.images);
  d.estimate = 100.0 * static_cast<double>(d.float_only - d.candidate_only) / images;
  if (n > 0) {
    const double pi_upper = binomial_upper_limit(d.float_only, d.float_only + d.candidate_only, confidence);
    d.bound = 100.0 * (2.0 * pi_upper - 1.0) * n / images;
  }
  return d;
}

DropBound label_free_drop(const std::vector<double>& cost, double confidence) {
  DropBound d;
  d.confidence = confidence;
  d.images = static_cast<int64_t>(cost.size());
  if (cost.empty()) return d;
  double mean = 0;
  for (double c : cost) mean += c;
  mean /= static_cast<double>(cost.size());
  double var = 0;
  for (double c : cost) var += (c - mean) * (c - mean);
  const double se = cost.size() > 1 ? std::sqrt(var / static_cast<double>(cost.size() - 1) / static_cast<double>(cost.size())) : 0.0;
  d.estimate = 100.0 * mean;
  d.bound = 100.0 * (mean + normal_quantile(confidence) * se);
  return d;
}

PairedDifference paired_difference(const std::vector<uint8_t>& a_correct, const std::vector<uint8_t>& b_correct, double confidence) {
  if (a_correct.size() != b_correct.size()) fail_internal("paired_difference: the two models were judged on different images");
  PairedDifference p;
  p.confidence = confidence;
  p.images = static_cast<int64_t>(a_correct.size());
  int64_t a_right = 0, b_right = 0;
  for (size_t i = 0; i < a_correct.size(); ++i) {
    a_right += a_correct[i] != 0;
    b_right += b_correct[i] != 0;
    p.a_only += a_correct[i] && !b_correct[i];
    p.b_only += !a_correct[i] && b_correct[i];
  }
  if (p.images == 0) return p;
  const double images = static_cast<double>(p.images);
  p.top1_a = 100.0 * static_cast<double>(a_right) / images;
  p.top1_b = 100.0 * static_cast<double>(b_right) / images;
  p.difference = p.top1_a - p.top1_b;
  const int64_t n = p.a_only + p.b_only;
  if (n > 0) {
    // Two-sided: each limit at (1 + confidence) / 2.
    const double side = 0.5 * (1.0 + confidence);
    const double lo = binomial_lower_limit(p.a_only, n, side), hi = binomial_upper_limit(p.a_only, n, side);
    p.low = 100.0 * (2.0 * lo - 1.0) * static_cast<double>(n) / images;
    p.high = 100.0 * (2.0 * hi - 1.0) * static_cast<double>(n) / images;
  }
  return p;
}

}  // namespace mc
