#include "analysis/paired_drop.h"

#include <cmath>
#include <cstdint>

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

double tango_score(int64_t b, int64_t c, int64_t n, double delta) {
  const double nb = static_cast<double>(b), nc = static_cast<double>(c), nn = static_cast<double>(n);
  // Restricted maximum-likelihood estimate of p_c given p_b - p_c = delta.
  const double qa = 2 * nn, qb = -nb - nc + (2 * nn - nb + nc) * delta, qc = -nc * delta * (1 - delta);
  const double p_c = std::max(0.0, (std::sqrt(std::max(0.0, qb * qb - 4 * qa * qc)) - qb) / (2 * qa));
  const double variance = nn * (2 * p_c + delta * (1 - delta));
  const double numerator = nb - nc - nn * delta;
  if (variance <= 0) return numerator > 0 ? INFINITY : numerator < 0 ? -INFINITY : 0.0;
  return numerator / std::sqrt(variance);
}

double tango_upper_limit(int64_t b, int64_t c, int64_t n, double confidence) {
  if (n <= 0) return 1.0;
  const double z = normal_quantile(confidence);
  // The score falls as delta rises: bisect from the observed difference up for -z.
  double lo = static_cast<double>(b - c) / static_cast<double>(n), hi = 1.0;
  if (lo >= 1.0) return 1.0;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (tango_score(b, c, n, mid) > -z) lo = mid;
    else hi = mid;
  }
  return hi;
}

int64_t images_to_certify(double max_drop, double confidence) {
  const double p = max_drop / 100.0, z = normal_quantile(confidence);
  if (p >= 1) return 1;
  if (p <= 0) return INT64_MAX;
  auto needed = static_cast<int64_t>(std::ceil(z * z * (1 - p) / p));
  // The closed form and the bisection can disagree in the last digit: settle on the bound itself.
  while (needed > 1 && 100.0 * tango_upper_limit(0, 0, needed - 1, confidence) <= max_drop) --needed;
  while (100.0 * tango_upper_limit(0, 0, needed, confidence) > max_drop) ++needed;
  return needed;
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
  d.estimate = 100.0 * static_cast<double>(d.float_only - d.candidate_only) / static_cast<double>(d.images);
  d.bound = 100.0 * tango_upper_limit(d.float_only, d.candidate_only, d.images, confidence);
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
  // Two-sided Tango score interval: each limit one-sided at (1 + confidence) / 2; the lower limit of
  // a - b is minus the upper limit of b - a.
  const double side = 0.5 * (1.0 + confidence);
  p.high = 100.0 * tango_upper_limit(p.a_only, p.b_only, p.images, side);
  p.low = -100.0 * tango_upper_limit(p.b_only, p.a_only, p.images, side);
  return p;
}

}  // namespace mc
