// The raw-logit helpers (sd-sampling.h: sd_logits_argmax, sd_logits_top_k, sd_logits_exp_sum) against
// plain reference implementations, and the greedy sampler's shortcut (no grammar, no penalties) against
// its general path, over logits that stress what the helpers skip: sizes around the block of 32, ties
// (integer logits), -infinity, ascending and descending runs, normally distributed logits at real
// vocabulary sizes.
#ifndef LLAMASPEC_DEFAULT_TEST_MODEL
#define LLAMASPEC_DEFAULT_TEST_MODEL ""
#endif

#include "sd-test.h"

#include "engine/sd-sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

// The references: a scan a logit at a time, and sorting by (logit descending, id ascending).
static llama_token ref_argmax(const std::vector<float> & l, llama_token * second) {
    std::vector<int32_t> ids;
    for (int32_t t = 0; t < (int32_t) l.size(); t++) {
        if (l[(size_t) t] > -INFINITY) ids.push_back(t);
    }
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return l[(size_t) a] > l[(size_t) b]; });
    *second = ids.size() > 1 ? ids[1] : -1;
    return ids.empty() ? -1 : ids[0];
}

static std::vector<llama_token> ref_top_k(const std::vector<float> & l, int32_t k) {
    std::vector<int32_t> ids((size_t) l.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return l[(size_t) a] > l[(size_t) b]; });
    std::vector<llama_token> out((size_t) k, -1);
    for (int32_t i = 0; i < k && i < (int32_t) ids.size(); i++) out[(size_t) i] = ids[(size_t) i];
    return out;
}

static double ref_exp_sum(const std::vector<float> & l, float max) {
    double s = 0;
    for (float x : l) s += std::exp((double) x - (double) max);
    return s;
}

enum shape { NORMAL, TIES, WITH_INF, ASCENDING, DESCENDING, ALL_EQUAL };
static const char * shape_name[] = {"normal", "ties", "with -inf", "ascending", "descending", "all equal"};

static std::vector<float> make(shape s, int32_t n, std::mt19937 & rng) {
    std::normal_distribution<float> normal(0.0f, 3.0f);
    std::uniform_int_distribution<int> small(-3, 3);
    std::vector<float> l((size_t) n);
    for (int32_t t = 0; t < n; t++) {
        switch (s) {
            case NORMAL:     l[(size_t) t] = normal(rng); break;
            case TIES:       l[(size_t) t] = (float) small(rng); break;
            case WITH_INF:   l[(size_t) t] = rng() % 3 == 0 ? -INFINITY : normal(rng); break;
            case ASCENDING:  l[(size_t) t] = 0.01f * (float) t; break;
            case DESCENDING: l[(size_t) t] = -0.01f * (float) t; break;
            case ALL_EQUAL:  l[(size_t) t] = 1.5f; break;
        }
    }
    return l;
}

int main() {
    std::mt19937 rng(12345);
    const std::vector<int32_t> sizes = {1, 2, 3, 7, 31, 32, 33, 63, 64, 65, 100, 512, 1000, 32000, 152064};
    int32_t cases = 0, argmax_wrong = 0, top_k_wrong = 0;
    double worst_sum = 0;
    std::vector<std::pair<float, int32_t>> heap;
    for (int s = NORMAL; s <= ALL_EQUAL; s++) {
        for (int32_t n : sizes) {
            for (int rep = 0; rep < (n > 10000 ? 2 : 20); rep++) {
                const std::vector<float> l = make((shape) s, n, rng);
                cases++;
                llama_token second = -2, ref_second = -2;
                const llama_token best = sd_logits_argmax(l.data(), n, &second);
                const llama_token ref_best = ref_argmax(l, &ref_second);
                if (best != ref_best || second != ref_second) {
                    if (argmax_wrong++ < 5) {
                        std::fprintf(stderr, "argmax %s n=%d: %d/%d, reference %d/%d\n", shape_name[s], n, best, second,
                                     ref_best, ref_second);
                    }
                }
                CHECK(sd_logits_argmax(l.data(), n) == ref_best); // without the runner-up
                for (int32_t k : {1, 2, 8, 40}) {
                    std::vector<llama_token> out((size_t) k, -2);
                    sd_logits_top_k(l.data(), n, k, heap, out.data());
                    if (out != ref_top_k(l, k) && top_k_wrong++ < 5) {
                        std::fprintf(stderr, "top_k %s n=%d k=%d differs from the reference\n", shape_name[s], n, k);
                    }
                }
                if (ref_best >= 0) {
                    const float max = l[(size_t) ref_best];
                    const double ref = ref_exp_sum(l, max);
                    worst_sum = std::max(worst_sum, std::fabs(sd_logits_exp_sum(l.data(), n, max) - ref) / ref);
                }
            }
        }
    }
    std::printf("%d cases: argmax wrong %d, top_k wrong %d, exp sum's worst relative error %.3g\n", cases,
                argmax_wrong, top_k_wrong, worst_sum);
    CHECK(argmax_wrong == 0);
    CHECK(top_k_wrong == 0);
    CHECK(worst_sum < 1e-5);

    // nothing to choose from
    {
        llama_token second = -2;
        CHECK(sd_logits_argmax(nullptr, 0, &second) == -1 && second == -1);
        const std::vector<float> none(40, -INFINITY);
        CHECK(sd_logits_argmax(none.data(), 40, &second) == -1 && second == -1);
        std::vector<llama_token> out(3, -2);
        const std::vector<float> two = {0.5f, 2.0f};
        sd_logits_top_k(two.data(), 2, 3, heap, out.data());
        CHECK(out[0] == 1 && out[1] == 0 && out[2] == -1);
    }

    // exp's polynomial over its whole range, against exp in double
    {
        double worst = 0;
        for (int i = 0; i <= 870000; i++) {
            const float x = -0.0001f * (float) i;
            const std::vector<float> one = {x};
            const double ref = std::exp((double) x);
            worst = std::max(worst, std::fabs(sd_logits_exp_sum(one.data(), 1, 0.0f) - ref) / ref);
        }
        std::printf("exp on [-87, 0]: worst relative error %.3g\n", worst);
        CHECK(worst < 1e-5);
        const std::vector<float> far = {-1000.0f, -INFINITY};
        CHECK(sd_logits_exp_sum(far.data(), 2, 0.0f) < 1e-37);
    }

    // the greedy sampler: its shortcut gives what its general path gives (sd_filter_apply, sd_argmax,
    // sd_top2_margin), margins included
    {
        sd_generation_params params = sd_generation_default_params();
        params.temperature = 0.0f;
        params.repeat_penalty = 1.0f;
        params.record_margins = true;
        sd_sampler sampler;
        std::string error;
        CHECK(sampler.reset(nullptr, 512, params, {}, error) == SD_OK);
        std::vector<llama_token_data> scratch;
        sd_dist d;
        int32_t wrong = 0, n_cases = 0;
        for (int s = NORMAL; s <= ALL_EQUAL; s++) {
            for (int32_t n : {1, 33, 512, 32000}) {
                const std::vector<float> l = make((shape) s, n, rng);
                if (std::none_of(l.begin(), l.end(), [](float x) { return x > -INFINITY; })) continue;
                n_cases++;
                sampler.dist(l.data(), n, d);
                const llama_token_data_array arr = sd_filter_apply(nullptr, l.data(), n, scratch);
                const bool same = d.tokens.size() == 1 && d.tokens[0] == sd_argmax(arr) && d.probs[0] == 1.0f &&
                                  sampler.margin == sd_top2_margin(arr);
                if (!same && wrong++ < 5) {
                    std::fprintf(stderr, "greedy sampler %s n=%d: token %d margin %g, general path %d %g\n", shape_name[s],
                                 n, d.tokens.empty() ? -1 : d.tokens[0], sampler.margin, sd_argmax(arr), sd_top2_margin(arr));
                }
            }
        }
        std::printf("greedy sampler: %d cases, %d unlike the general path\n", n_cases, wrong);
        CHECK(wrong == 0);
    }
    // the sampled sampler: with its filters beginning with top-k, the k largest logits picked out first
    // give the distribution the whole vocabulary through the filters gives (logits without ties, where
    // which of equal logits llama.cpp's top-k keeps is its sort's choice)
    {
        sd_generation_params params = sd_generation_default_params();
        params.temperature = 0.8f;
        params.repeat_penalty = 1.0f;
        CHECK(params.top_k == 40 && sd_filter_first_k(params, false) == 40);
        sd_sampler sampler;
        std::string error;
        CHECK(sampler.reset(nullptr, 512, params, {}, error) == SD_OK);
        CHECK(sampler.first_k == 40);
        llama_sampler * filter = sd_filter_init(512, params, false);
        std::vector<llama_token_data> scratch;
        sd_dist fast, general;
        int32_t wrong = 0, n_cases = 0;
        double worst = 0;
        for (shape sh : {NORMAL, WITH_INF, ASCENDING, DESCENDING}) {
            for (int32_t n : {33, 512, 32000, 152064}) {
                const std::vector<float> l = make(sh, n, rng);
                n_cases++;
                sampler.dist(l.data(), n, fast);
                llama_token_data_array arr = sd_filter_apply(filter, l.data(), n, scratch);
                sd_softmax(arr, n, general);
                std::vector<std::pair<llama_token, float>> a, b;
                for (size_t i = 0; i < fast.tokens.size(); i++) a.push_back({fast.tokens[i], fast.probs[i]});
                for (size_t i = 0; i < general.tokens.size(); i++) b.push_back({general.tokens[i], general.probs[i]});
                std::sort(a.begin(), a.end());
                std::sort(b.begin(), b.end());
                bool same = a.size() == b.size() && !a.empty();
                for (size_t i = 0; same && i < a.size(); i++) {
                    same = a[i].first == b[i].first;
                    worst = std::max(worst, (double) std::fabs(a[i].second - b[i].second));
                }
                if (!same && wrong++ < 5) {
                    std::fprintf(stderr, "sampled %s n=%d: %zu tokens, the filters over the whole vocabulary %zu\n",
                                 shape_name[sh], n, a.size(), b.size());
                }
            }
        }
        std::printf("sampled sampler: %d cases, %d unlike the filters over the whole vocabulary, probabilities "
                    "within %.3g\n", n_cases, wrong, worst);
        CHECK(wrong == 0);
        CHECK(worst < 1e-6);
        llama_sampler_free(filter);
        // penalties first, or no top-k: no shortcut
        params.repeat_penalty = 1.1f;
        CHECK(sd_filter_first_k(params, false) == 0 && sd_filter_first_k(params, true) == 40);
        params.repeat_penalty = 1.0f;
        params.top_k = 0;
        CHECK(sd_filter_first_k(params, false) == 0);
        params.top_k = 40;
        params.temperature = 0.0f;
        CHECK(sd_filter_first_k(params, false) == 0);
    }
    return sd_test_finish("test-logits");
}
