// llamaspec-logitsbench: what reading one row of logits costs the engine at a given vocabulary size,
// the way it reads them now (sd-sampling.h's sd_logits_* helpers) beside the way it read them before
// (a copy into llama.cpp's candidates, a full softmax in double, a heap or a partial sort over every
// token). The bench models have stories260K's 512 tokens, where these costs hide; real models have
// 32,000 to 260,000.
//
//   llamaspec-logitsbench [--vocab 512,32000,152064] [--rounds 15] [--seed 1]
//
// Sampling uses the engine's default filters (top-k 40, top-p 0.95, min-p 0.05) at temperature 0.8.
// Logits are drawn from a normal distribution (sd 3); each row of the table is the median time of
// one call over --rounds rounds of about 20 ms each (and the fastest and slowest round).
#include "engine/sd-sampling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

volatile int64_t g_sink = 0; // keeps the compiler from dropping the work

double now_us() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median, fastest and slowest time per call over the rounds.
struct timing {
    double median = 0, lo = 0, hi = 0;
};

timing time_calls(const std::function<int64_t()> & call, int32_t rounds) {
    // calls per round: about 20 ms
    const double t0 = now_us();
    g_sink = g_sink + call();
    const double one = std::max(0.05, now_us() - t0);
    const int32_t n = std::max(1, (int32_t) (20000.0 / one));
    std::vector<double> per_call;
    for (int32_t r = 0; r < rounds; r++) {
        const double start = now_us();
        int64_t acc = 0;
        for (int32_t i = 0; i < n; i++) acc += call();
        per_call.push_back((now_us() - start) / n);
        g_sink = g_sink + acc;
    }
    std::sort(per_call.begin(), per_call.end());
    return {per_call[per_call.size() / 2], per_call.front(), per_call.back()};
}

// The code these calls replaced, kept here to measure against.
int64_t before_greedy_pick(const float * l, int32_t n, std::vector<llama_token_data> & scratch) {
    const llama_token_data_array arr = sd_filter_apply(nullptr, l, n, scratch);
    const float margin = sd_top2_margin(arr);
    return sd_argmax(arr) + (margin > 0 ? 1 : 0);
}

int64_t before_draft_choice(const float * l, int32_t n, std::vector<llama_token_data> & scratch, sd_dist & dist) {
    sd_softmax(sd_filter_apply(nullptr, l, n, scratch), n, dist);
    llama_token top = -1, second = -1;
    float p_top = 0, p_second = 0;
    for (size_t i = 0; i < dist.tokens.size(); i++) {
        const llama_token t = dist.tokens[i];
        if (top < 0 || l[t] > l[top]) {
            second = top;
            p_second = p_top;
            top = t;
            p_top = dist.probs[i];
        } else if (second < 0 || l[t] > l[second]) {
            second = t;
            p_second = dist.probs[i];
        }
    }
    return top + second + (p_top + p_second > 0.5f ? 1 : 0);
}

int64_t before_draft_sampled(const float * l, int32_t n, llama_sampler * filter, std::vector<llama_token_data> & scratch,
                             sd_dist & dist, std::vector<float> & q, double u) {
    sd_softmax(sd_filter_apply(filter, l, n, scratch), n, dist);
    q.assign((size_t) n, 0.0f);
    for (size_t i = 0; i < dist.tokens.size(); i++) q[(size_t) dist.tokens[i]] = dist.probs[i];
    double acc = 0;
    llama_token token = -1;
    for (int32_t t = 0; t < n; t++) {
        if (q[(size_t) t] <= 0.0f) continue;
        acc += q[(size_t) t];
        token = t;
        if (u < acc) break;
    }
    return token;
}

int64_t before_top_k(const float * l, int32_t n, int32_t k) {
    std::vector<std::pair<float, int32_t>> best;
    best.reserve((size_t) k + 1);
    const auto cmp = [](const std::pair<float, int32_t> & a, const std::pair<float, int32_t> & b) { return a > b; };
    for (int32_t t = 0; t < n; t++) {
        if ((int32_t) best.size() < k) {
            best.push_back({l[t], t});
            std::push_heap(best.begin(), best.end(), cmp);
        } else if (l[t] > best.front().first) {
            std::pop_heap(best.begin(), best.end(), cmp);
            best.back() = {l[t], t};
            std::push_heap(best.begin(), best.end(), cmp);
        }
    }
    std::sort(best.begin(), best.end(), [](const auto & a, const auto & b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    return best[0].second;
}

int64_t before_head(const float * l, int32_t n, int32_t k, std::vector<int32_t> & order, float * probs) {
    order.resize((size_t) n);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
    const float max = l[order[0]];
    double sum = 0;
    for (int32_t v = 0; v < n; v++) sum += std::exp((double) (l[v] - max));
    for (int32_t r = 0; r < k; r++) probs[r] = (float) (std::exp((double) (l[order[(size_t) r]] - max)) / sum);
    return order[0];
}

// ... and the calls that replaced them.
int64_t after_draft_choice(const float * l, int32_t n) {
    llama_token second = -1;
    const llama_token top = sd_logits_argmax(l, n, &second);
    const double sum = sd_logits_exp_sum(l, n, l[top]);
    const double p_top = 1.0 / sum, p_second = std::exp((double) (l[second] - l[top])) / sum;
    return top + second + (p_top + p_second > 0.5 ? 1 : 0);
}

int64_t after_draft_sampled(const float * l, int32_t n, llama_sampler * filter, int32_t first_k,
                            std::vector<llama_token_data> & scratch, std::vector<std::pair<float, int32_t>> & top_scratch,
                            sd_dist & dist, sd_sparse_dist & q, double u) {
    sd_softmax(sd_filter_apply_top(filter, first_k, l, n, scratch, top_scratch), n, dist);
    q.clear();
    for (size_t i = 0; i < dist.tokens.size(); i++) {
        if (dist.probs[i] > 0.0f) q.push_back({dist.tokens[i], dist.probs[i]});
    }
    std::sort(q.begin(), q.end());
    double acc = 0;
    llama_token token = -1;
    for (const auto & e : q) {
        acc += e.second;
        token = e.first;
        if (u < acc) break;
    }
    return token;
}

int64_t after_head(const float * l, int32_t n, int32_t k, std::vector<std::pair<float, int32_t>> & top_scratch,
                   llama_token * tokens, float * probs) {
    sd_logits_top_k(l, n, k, top_scratch, tokens);
    const float max = l[tokens[0]];
    const double sum = sd_logits_exp_sum(l, n, max);
    for (int32_t r = 0; r < k; r++) probs[r] = (float) (std::exp((double) (l[tokens[r]] - max)) / sum);
    return tokens[0];
}

std::vector<int32_t> parse_list(const char * s) {
    std::vector<int32_t> out;
    for (const char * p = s; *p != '\0';) {
        char * end = nullptr;
        const long v = std::strtol(p, &end, 10);
        if (end == p || v < 2 || v > 10000000) return {};
        out.push_back((int32_t) v);
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') return {};
    }
    return out;
}

int usage(const char * why) {
    std::fprintf(stderr, "%s\nusage: llamaspec-logitsbench [--vocab 512,32000,152064] [--rounds 15] [--seed 1]\n", why);
    return 2;
}

} // namespace

int main(int argc, char ** argv) {
    std::vector<int32_t> vocabs = {512, 32000, 152064};
    int32_t rounds = 15;
    unsigned seed = 1;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (i + 1 >= argc) return usage(("missing the value of " + a).c_str());
        if (a == "--vocab") {
            vocabs = parse_list(argv[++i]);
            if (vocabs.empty()) return usage("--vocab takes sizes from 2 to 10,000,000, separated by commas");
        } else if (a == "--rounds") {
            rounds = std::atoi(argv[++i]);
            if (rounds < 1 || rounds > 1000) return usage("--rounds takes 1 to 1000");
        } else if (a == "--seed") {
            seed = (unsigned) std::strtoul(argv[++i], nullptr, 10);
        } else {
            return usage(("unknown option " + a).c_str());
        }
    }
    const int32_t k = 8;
    std::printf("time of one call in microseconds, median over %d rounds [fastest, slowest]; logits ~ N(0, 3), seed %u\n",
                rounds, seed);
    std::printf("%-9s %-48s %-30s %-30s %s\n", "vocab", "what the engine does", "before", "now", "before/now");
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (int32_t n : vocabs) {
        std::vector<float> logits((size_t) n);
        for (float & x : logits) x = normal(rng);
        const float * l = logits.data();
        std::vector<llama_token_data> scratch;
        sd_dist dist;
        std::vector<int32_t> order;
        std::vector<std::pair<float, int32_t>> top_scratch;
        std::vector<llama_token> tokens((size_t) k);
        std::vector<float> probs((size_t) k);
        // the engine's default filters when sampling: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8
        sd_generation_params params = sd_generation_default_params();
        params.temperature = 0.8f;
        llama_sampler * sampled = sd_filter_init(n, params, false);
        const int32_t first_k = sd_filter_first_k(params, false);
        std::vector<float> dense_q;
        sd_sparse_dist sparse_q;
        struct row {
            const char * what;
            std::function<int64_t()> before, now;
        };
        const std::vector<row> rows = {
            {"greedy token and margin (each node visited)", [&] { return before_greedy_pick(l, n, scratch); },
             [&] {
                 llama_token second = -1;
                 const llama_token best = sd_logits_argmax(l, n, &second);
                 return (int64_t) best + (l[best] - l[second] > 0 ? 1 : 0);
             }},
            {"sampled distribution, temperature 0.8 (each node)", [&] {
                 sd_softmax(sd_filter_apply(sampled, l, n, scratch), n, dist);
                 return (int64_t) dist.tokens.size();
             },
             [&] {
                 sd_softmax(sd_filter_apply_top(sampled, first_k, l, n, scratch, top_scratch), n, dist);
                 return (int64_t) dist.tokens.size();
             }},
            {"draft model's greedy choice (each drafted token)", [&] { return before_draft_choice(l, n, scratch, dist); },
             [&] { return after_draft_choice(l, n); }},
            {"draft model's sampled choice and q (each token)",
             [&] { return before_draft_sampled(l, n, sampled, scratch, dist, dense_q, 0.5); },
             [&] { return after_draft_sampled(l, n, sampled, first_k, scratch, top_scratch, dist, sparse_q, 0.5); }},
            {"top 8 (Token Recycling, each row evaluated)", [&] { return before_top_k(l, n, k); },
             [&] {
                 sd_logits_top_k(l, n, k, top_scratch, tokens.data());
                 return (int64_t) tokens[0];
             }},
            {"a head's top 8 and probabilities (each draft)", [&] { return before_head(l, n, k, order, probs.data()); },
             [&] { return after_head(l, n, k, top_scratch, tokens.data(), probs.data()); }},
            {"argmax (lookahead, each window column)",
             [&] { return (int64_t) (std::max_element(l, l + n) - l); },
             [&] { return (int64_t) sd_logits_argmax(l, n); }},
        };
        for (const row & r : rows) {
            const timing b = time_calls(r.before, rounds);
            const timing a = time_calls(r.now, rounds);
            char before[64], after[64];
            std::snprintf(before, sizeof before, "%9.2f [%.2f, %.2f]", b.median, b.lo, b.hi);
            std::snprintf(after, sizeof after, "%9.2f [%.2f, %.2f]", a.median, a.lo, a.hi);
            std::printf("%-9d %-48s %-30s %-30s %.1fx\n", n, r.what, before, after, b.median / a.median);
        }
        llama_sampler_free(sampled);
    }
    return 0;
}
