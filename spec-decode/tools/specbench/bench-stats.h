// Statistics over prompts shared by specbench and bench-table: medians, and speed ratios with
// percentile bootstrap intervals. Means and standard deviations are not used: one disturbed run can
// move a mean (and its standard deviation) anywhere, while a median over prompts barely moves. Also
// the one convention of strategy names both read: the "-fixed" suffix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

// One generation: tokens produced and the seconds they took.
struct bench_sample {
    double tokens  = 0;
    double seconds = 0;

    double tokens_per_second() const { return seconds > 0 ? tokens / seconds : 0; }
};

// A value with a 95 % interval (lo = hi = value when there are too few prompts to resample).
struct bench_interval {
    double value;
    double lo;
    double hi;
};

// Speed of runs relative to baseline runs on the same prompts (runs[i] against base[i]).
struct bench_ratio {
    int32_t        n;      // prompts with a usable pair
    bench_interval median; // median over prompts of tokens/s divided by the baseline's tokens/s
    bench_interval sum;    // summed tokens over summed seconds, divided by the same for the baseline
                           // (greedy: the ratio of summed times)
};

// Intervals: percentile bootstrap over prompts (prompts resampled with replacement, the same
// indices for both statistics, 2,000 resamples, 2.5th and 97.5th percentiles) with a fixed seed,
// so the same numbers give the same interval.
const int32_t bench_bootstrap_resamples = 2000;

// The median; NAN when values is empty.
double bench_median(std::vector<double> values);

// The median of the runs' tokens per second; NAN when there are none.
double bench_median_tokens_per_second(const std::vector<bench_sample> & runs);

// Pairs with seconds <= 0 on either side are left out.
bench_ratio bench_ratio_of(const std::vector<bench_sample> & runs, const std::vector<bench_sample> & base);

// How far from 1 the plain-vs-plain ratio's interval reaches: max(|lo - 1|, |hi - 1|) of the
// median's interval. A strategy that drafted nothing runs plain decoding, so its ratio should stay
// within this of 1.
double bench_noise_floor(const bench_ratio & plain_vs_plain);

// True when a strategy's median ratio lies outside what its work allows by more than the noise floor:
// one that drafted nothing runs plain decoding, so its ratio should be 1; and none can beat its
// tokens per step, tokens / (tokens - accepted), since a step that verifies a draft costs at least a
// plain step. Beyond that the speedup (or, with nothing drafted, the slowdown) is noise or overhead,
// not speculation. tokens: the tokens generated; accepted: the drafted tokens accepted among them.
bool bench_suspect(int64_t drafted, int64_t tokens, int64_t accepted, const bench_ratio & ratio, double noise_floor);

// The most a chain drafter can gain on a cost curve: a step that verifies a chain of k drafted tokens
// costs cost(k + 1) and yields 1 + a + a^2 + ... + a^k tokens on average when each drafted token is
// accepted with probability a given the ones before it; plain decoding yields 1 token for cost(1).
// Drafting is counted as free, so no drafter with that acceptance does better on this curve.
struct bench_ceiling {
    double  acceptance; // a
    int32_t chain;      // the best k (0: no chain beats plain decoding)
    double  speedup;    // (expected tokens / cost(k + 1)) / (1 / cost(1)) at that k
};

// For k = 0 .. max_chain, with cost(n) interpolated linearly between the measured batch sizes (sizes
// ascending, sizes[0] = 1); chains whose batch lies beyond the last size are not considered.
bench_ceiling bench_chain_ceiling(const std::vector<int32_t> & sizes, const std::vector<double> & cost,
                                  double acceptance, int32_t max_chain);

// The acceptances specbench reports the ceiling at.
inline const std::vector<double> bench_ceiling_acceptances = {1.0, 0.95, 0.9, 0.8, 0.7};

// Removes a strategy name's "-fixed" suffix (the hardware-aware budget turned off: lookup-fixed,
// draft:LABEL-fixed); true when it had one.
bool bench_strip_fixed(std::string & strategy);

// How a measured ratio stands against a target: met when its value reaches the target, within the
// noise when only its 95 % interval does (the prompts cannot tell it from the target), short when the
// whole interval lies below it, unknown without a value. A value without an interval (lo = hi =
// value) is met or short. not_judged: the measurement's row is marked suspect (bench_suspect), so
// the machine, not the engine, may have set its value (bench_judge never returns it; the caller does).
enum class bench_verdict { met, within_noise, short_of, unknown, not_judged };

bench_verdict bench_judge(const bench_interval & measured, double target);
const char * bench_verdict_text(bench_verdict v);
