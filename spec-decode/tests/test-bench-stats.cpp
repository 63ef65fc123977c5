// The statistics of specbench and bench-table: medians, speed ratios with bootstrap intervals, the
// noise floor and the mark for strategies that drafted nothing yet depart from 1. One disturbed
// plain run must not make a speedup (the failure of the mean ± sd these replaced).
#include "bench-stats.h"
#include "sd-test.h"

#include <cmath>
#include <string>

static bool near(double a, double b) { return std::fabs(a - b) < 1e-9; }

int main() {
    CHECK(std::isnan(bench_median({})));
    CHECK(near(bench_median({3, 1, 2}), 2));
    CHECK(near(bench_median({4, 1, 3, 2}), 2.5));

    // 20 prompts, 128 tokens each at 30 tokens/s
    std::vector<bench_sample> plain, same, twice;
    for (int i = 0; i < 20; i++) {
        const double s = 128.0 / 30.0 * (1.0 + 0.01 * (i % 5)); // a little variation between prompts
        plain.push_back({128, s});
        same.push_back({128, s});
        twice.push_back({128, s / 2});
    }
    CHECK(near(bench_median_tokens_per_second(plain), 128.0 / (128.0 / 30.0 * 1.02)));

    const bench_ratio r1 = bench_ratio_of(same, plain);
    CHECK(r1.n == 20);
    CHECK(near(r1.median.value, 1) && near(r1.median.lo, 1) && near(r1.median.hi, 1));
    CHECK(near(r1.sum.value, 1) && near(r1.sum.lo, 1) && near(r1.sum.hi, 1));
    const bench_ratio r2 = bench_ratio_of(twice, plain);
    CHECK(near(r2.median.value, 2) && near(r2.sum.value, 2));

    // one plain run disturbed 20-fold: the median ratio stays 1, the summed one moves, and its
    // interval reaches down to 1
    std::vector<bench_sample> disturbed = plain;
    disturbed[7].seconds *= 20;
    const bench_ratio r3 = bench_ratio_of(same, disturbed);
    CHECK(near(r3.median.value, 1));
    CHECK(r3.sum.value > 1.5);
    CHECK(r3.sum.lo <= 1.0 + 1e-9 && r3.sum.hi >= r3.sum.value);
    // the same numbers give the same interval
    const bench_ratio r4 = bench_ratio_of(same, disturbed);
    CHECK(r4.sum.lo == r3.sum.lo && r4.sum.hi == r3.sum.hi);

    // pairs without time are left out
    std::vector<bench_sample> missing = same;
    missing[3].seconds = 0;
    CHECK(bench_ratio_of(missing, plain).n == 19);
    CHECK(bench_ratio_of({}, {}).n == 0 && std::isnan(bench_ratio_of({}, {}).median.value));

    // noise floor from plain-vs-plain, and the mark
    std::vector<bench_sample> plain_again = plain;
    for (size_t i = 0; i < plain_again.size(); i++) plain_again[i].seconds *= i % 2 == 0 ? 1.03 : 0.98;
    const double noise = bench_noise_floor(bench_ratio_of(plain_again, plain));
    CHECK(noise > 0.01 && noise < 0.04);
    CHECK(bench_suspect(0, 2560, 0, r2, noise));       // drafted nothing, 2x: not a speedup
    CHECK(!bench_suspect(0, 2560, 0, r1, noise));      // drafted nothing, at 1: fine
    CHECK(!bench_suspect(10, 2560, 1280, r2, noise));  // 2 tokens a step: 2x may be real
    CHECK(bench_suspect(10, 2560, 5, r2, noise));      // 2x from 1.002 tokens a step: noise
    CHECK(!bench_suspect(10, 2560, 5, r1, noise));     // drafted, at 1: fine
    CHECK(!bench_suspect(10, 2560, 2560, r2, noise));  // no steps counted: no bound
    CHECK(!bench_suspect(10, 0, 0, r2, noise));        // no tokens counted: no bound
    // 22 nodes drafted, none accepted, 1.125x (a disturbed run of plain decoding): marked
    std::vector<bench_sample> faster = plain;
    for (bench_sample & x : faster) x.seconds /= 1.125;
    CHECK(bench_suspect(22, 2540, 0, bench_ratio_of(faster, plain), noise));
    CHECK(!bench_suspect(22, 2540, 0, bench_ratio_of(faster, plain), 0.2)); // within a wide noise floor

    // the chain ceiling: a flat curve gains the whole chain when every token is accepted
    const std::vector<int32_t> sizes = {1, 2, 4, 8, 16};
    const bench_ceiling flat = bench_chain_ceiling(sizes, {10, 10, 10, 10, 10}, 1.0, 8);
    CHECK(flat.chain == 8 && near(flat.speedup, 9));
    // the batch limits the chain: k + 1 <= 16
    CHECK(bench_chain_ceiling(sizes, {10, 10, 10, 10, 10}, 1.0, 32).chain == 15);
    // a linear curve (cost n): no chain beats plain decoding, whatever the acceptance
    const bench_ceiling linear = bench_chain_ceiling(sizes, {1, 2, 4, 8, 16}, 1.0, 16);
    CHECK(linear.chain == 0 && near(linear.speedup, 1));
    // interpolated between points: cost(3) = 1.5 on {1: 1, 2: 1, 4: 2}; a = 0.5: chain 1 gives
    // 1.5 / 1 = 1.5, chain 2 gives 1.75 / 1.5, chain 3 1.875 / 2
    const bench_ceiling half = bench_chain_ceiling({1, 2, 4}, {1, 1, 2}, 0.5, 16);
    CHECK(half.chain == 1 && near(half.speedup, 1.5));
    // a curve like this CPU's (b2 1.2, b4 1.9, b8 3.1, b16 5.0): a perfect drafter gains 16 / 5 at
    // k = 15; one right 80 % of the time gains at most 2.44 / 1.55 at k = 2 (cost(3) = 1.55)
    const std::vector<double> cpu = {1, 1.2, 1.9, 3.1, 5.0};
    const bench_ceiling perfect = bench_chain_ceiling(sizes, cpu, 1.0, 16);
    CHECK(perfect.chain == 15 && near(perfect.speedup, 16 / 5.0));
    const bench_ceiling real = bench_chain_ceiling(sizes, cpu, 0.8, 16);
    CHECK(real.chain == 2 && near(real.speedup, 2.44 / 1.55));
    // malformed curves: nothing to gain
    CHECK(bench_chain_ceiling({}, {}, 1.0, 8).speedup == 1.0);
    CHECK(bench_chain_ceiling({2, 4}, {1, 2}, 1.0, 8).chain == 0);
    // strategy names: the "-fixed" suffix, and nothing else, comes off
    std::string name = "draft:realistic-fixed";
    CHECK(bench_strip_fixed(name) && name == "draft:realistic");
    name = "auto";
    CHECK(!bench_strip_fixed(name) && name == "auto");
    name = "-fixed"; // no strategy before it
    CHECK(!bench_strip_fixed(name) && name == "-fixed");
    // verdicts against a target: the value reaches it, only the interval does, neither
    CHECK(bench_judge({1.30, 1.20, 1.40}, 1.3) == bench_verdict::met);
    CHECK(bench_judge({1.31, 1.31, 1.31}, 1.3) == bench_verdict::met);
    CHECK(bench_judge({0.99, 0.95, 1.02}, 1.0) == bench_verdict::within_noise);
    CHECK(bench_judge({0.99, 0.95, 0.998}, 1.0) == bench_verdict::short_of);
    CHECK(bench_judge({1.29, 1.29, 1.29}, 1.3) == bench_verdict::short_of); // no interval: met or short
    CHECK(bench_judge({NAN, NAN, NAN}, 1.0) == bench_verdict::unknown);
    CHECK(bench_judge({1.0, 1.0, 1.0}, NAN) == bench_verdict::unknown);
    CHECK(std::string(bench_verdict_text(bench_verdict::within_noise)) == "within the noise");
    CHECK(std::string(bench_verdict_text(bench_verdict::not_judged)) == "not judged: the row is marked !");
    // a ratio of prompts whose strategy ran 3 % slower is short of "never below plain" once the
    // bootstrap interval excludes 1; plain decoding against itself (half the prompts 3 % slower, half 2 %
    // faster) is within the noise
    std::vector<bench_sample> slower = plain;
    for (bench_sample & x : slower) x.seconds *= 1.03;
    CHECK(bench_judge(bench_ratio_of(slower, plain).median, 1.0) == bench_verdict::short_of);
    CHECK(bench_judge(bench_ratio_of(plain_again, plain).median, 1.0) == bench_verdict::within_noise);

    return sd_test_finish("test-bench-stats");
}
