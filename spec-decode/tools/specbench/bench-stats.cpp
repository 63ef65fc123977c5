#include "bench-stats.h"

#include <algorithm>
#include <cmath>

double bench_median(std::vector<double> values) {
    if (values.empty()) return NAN;
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double bench_median_tokens_per_second(const std::vector<bench_sample> & runs) {
    std::vector<double> values;
    for (const bench_sample & r : runs) {
        if (r.seconds > 0) values.push_back(r.tokens_per_second());
    }
    return bench_median(values);
}

// The q-th quantile (0..1) of sorted values, linearly interpolated.
static double quantile(const std::vector<double> & sorted, double q) {
    if (sorted.empty()) return NAN;
    const double pos = q * (double) (sorted.size() - 1);
    const size_t i = (size_t) pos;
    const double f = pos - (double) i;
    return i + 1 < sorted.size() ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

static uint64_t splitmix64(uint64_t & state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// The two statistics of bench_ratio over the pairs idx[0..n).
static void ratio_stats(const std::vector<bench_sample> & a, const std::vector<bench_sample> & b,
                        const std::vector<size_t> & idx, double & median, double & sum) {
    std::vector<double> ratios;
    double ta = 0, sa = 0, tb = 0, sb = 0;
    for (size_t i : idx) {
        ratios.push_back(a[i].tokens_per_second() / b[i].tokens_per_second());
        ta += a[i].tokens;
        sa += a[i].seconds;
        tb += b[i].tokens;
        sb += b[i].seconds;
    }
    median = bench_median(ratios);
    sum = sa > 0 && sb > 0 && tb > 0 ? (ta / sa) / (tb / sb) : NAN;
}

bench_ratio bench_ratio_of(const std::vector<bench_sample> & runs, const std::vector<bench_sample> & base) {
    std::vector<bench_sample> a, b;
    for (size_t i = 0; i < runs.size() && i < base.size(); i++) {
        if (runs[i].seconds > 0 && base[i].seconds > 0 && base[i].tokens > 0) {
            a.push_back(runs[i]);
            b.push_back(base[i]);
        }
    }
    bench_ratio r = {(int32_t) a.size(), {NAN, NAN, NAN}, {NAN, NAN, NAN}};
    if (a.empty()) return r;
    std::vector<size_t> idx(a.size());
    for (size_t i = 0; i < idx.size(); i++) idx[i] = i;
    ratio_stats(a, b, idx, r.median.value, r.sum.value);
    r.median.lo = r.median.hi = r.median.value;
    r.sum.lo = r.sum.hi = r.sum.value;
    if (a.size() < 2) return r;

    std::vector<double> medians, sums;
    uint64_t state = 0x5eed;
    for (int32_t k = 0; k < bench_bootstrap_resamples; k++) {
        for (size_t & i : idx) i = (size_t) (splitmix64(state) % a.size());
        double m = NAN, s = NAN;
        ratio_stats(a, b, idx, m, s);
        medians.push_back(m);
        if (std::isfinite(s)) sums.push_back(s);
    }
    std::sort(medians.begin(), medians.end());
    std::sort(sums.begin(), sums.end());
    r.median.lo = quantile(medians, 0.025);
    r.median.hi = quantile(medians, 0.975);
    r.sum.lo = quantile(sums, 0.025);
    r.sum.hi = quantile(sums, 0.975);
    return r;
}

double bench_noise_floor(const bench_ratio & plain_vs_plain) {
    if (!std::isfinite(plain_vs_plain.median.lo) || !std::isfinite(plain_vs_plain.median.hi)) return NAN;
    return std::max(std::fabs(plain_vs_plain.median.lo - 1), std::fabs(plain_vs_plain.median.hi - 1));
}

bool bench_suspect(int64_t drafted, int64_t tokens, int64_t accepted, const bench_ratio & ratio, double noise_floor) {
    if (!std::isfinite(ratio.median.value) || !std::isfinite(noise_floor)) return false;
    if (drafted == 0) return std::fabs(ratio.median.value - 1) > noise_floor;
    const int64_t steps = tokens - std::max<int64_t>(accepted, 0);
    if (tokens <= 0 || steps <= 0) return false; // nothing to bound it by
    return ratio.median.value - (double) tokens / (double) steps > noise_floor;
}

bench_ceiling bench_chain_ceiling(const std::vector<int32_t> & sizes, const std::vector<double> & cost,
                                  double acceptance, int32_t max_chain) {
    bench_ceiling best{acceptance, 0, 1.0};
    if (sizes.empty() || sizes.size() != cost.size() || sizes[0] != 1 || cost[0] <= 0) return best;
    double tokens = 1.0, path = 1.0;
    for (int32_t k = 1; k <= max_chain && k + 1 <= sizes.back(); k++) {
        path *= acceptance;
        tokens += path;
        const int32_t n = k + 1;
        size_t hi = 0;
        while (sizes[hi] < n) hi++;
        double c = cost[hi];
        if (sizes[hi] > n) {
            const double f = (double) (n - sizes[hi - 1]) / (double) (sizes[hi] - sizes[hi - 1]);
            c = cost[hi - 1] + f * (cost[hi] - cost[hi - 1]);
        }
        const double speedup = tokens / (c / cost[0]);
        if (speedup > best.speedup) best = {acceptance, k, speedup};
    }
    return best;
}

bool bench_strip_fixed(std::string & strategy) {
    const std::string fixed = "-fixed";
    if (strategy.size() <= fixed.size() || strategy.compare(strategy.size() - fixed.size(), fixed.size(), fixed) != 0) {
        return false;
    }
    strategy.resize(strategy.size() - fixed.size());
    return true;
}

bench_verdict bench_judge(const bench_interval & measured, double target) {
    if (!std::isfinite(measured.value) || !std::isfinite(target)) return bench_verdict::unknown;
    if (measured.value >= target) return bench_verdict::met;
    if (std::isfinite(measured.hi) && measured.hi >= target) return bench_verdict::within_noise;
    return bench_verdict::short_of;
}

const char * bench_verdict_text(bench_verdict v) {
    switch (v) {
        case bench_verdict::met:          return "met";
        case bench_verdict::within_noise: return "within the noise";
        case bench_verdict::short_of:     return "short";
        case bench_verdict::not_judged:   return "not judged: the row is marked !";
        case bench_verdict::unknown:      break;
    }
    return "-";
}
