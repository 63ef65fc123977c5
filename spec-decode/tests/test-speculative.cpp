// Speculation end to end on the test model (label: model):
// - greedy: every strategy's output equals plain decoding's, 20 corpus prompts x 128 tokens; a
//   divergence is tolerated only where plain decoding's top-2 logits differ by less than 1e-4
//   (batch-size numerics), and such positions are printed;
// - sampling: the distribution of generated tokens at positions where drafts are verified matches
//   plain sampling (two-sample chi-square, 5,000 generations per strategy), and with the same seed
//   speculation hands out exactly plain sampling's tokens;
// - KV cache: after a long speculative generation the cache gives the same logits as a fresh
//   evaluation of the same tokens, and plain decoding continues exactly as from a fresh start;
// - draft model: the test model drafting for itself and a copy with perturbed weights drafting for
//   it (greedy equivalence, and sampling by rejection against the draft distribution q), vocabulary
//   mismatches named in the error, and a draft model dropped during a generation.
#include "spec-decode.h"
#include "sd-test.h"
#include "sd-test-generate.h"
#include "sd-test-model-copy.h"
#include "sd-test-heads.h"

#include "ggml.h"
#include "gguf.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <unistd.h>

// LLAMASPEC_TEST_QUICK=1 (set by ci/sanitize, where everything runs several times slower) runs a
// smaller version: 3 prompts, 500 samples, 10 seeds.
static bool quick() {
    const char * q = std::getenv("LLAMASPEC_TEST_QUICK");
    return q != nullptr && q[0] == '1';
}

// LLAMASPEC_TEST_THREADS overrides the 2 threads: with ggml's OpenMP threads, every operation ends
// in a barrier, and on a machine loaded by other work each barrier can wait a scheduler time slice.
static int32_t test_threads() {
    const char * t = std::getenv("LLAMASPEC_TEST_THREADS");
    const int32_t n = t != nullptr ? std::atoi(t) : 0;
    return n > 0 ? n : 2;
}

struct strategy {
    const char *  name;
    sd_spec_type  type;
    bool          adaptive;
    sd_model *    draft; // for SD_SPEC_DRAFT_MODEL
};

static const strategy k_strategies[] = {
    {"lookup", SD_SPEC_LOOKUP, true},       {"recycling", SD_SPEC_RECYCLING, true}, {"auto", SD_SPEC_AUTO, true},
    {"lookup-fixed", SD_SPEC_LOOKUP, false}, {"recycling-fixed", SD_SPEC_RECYCLING, false},
    {"auto-fixed", SD_SPEC_AUTO, false},    {"lookahead", SD_SPEC_LOOKAHEAD, true},
    {"lookahead-fixed", SD_SPEC_LOOKAHEAD, false}, {"medusa", SD_SPEC_MEDUSA, true},
    {"medusa-fixed", SD_SPEC_MEDUSA, false},
};

// Medusa heads for the medusa strategies (identity heads: see sd-test-heads.h), and regressive ones
// for the strategies named medusa-regressive and generations that set g_use_regressive.
static sd_heads * g_heads = nullptr;
static sd_heads * g_regressive_heads = nullptr;
static bool g_use_regressive = false;
static sd_heads * g_feature_heads = nullptr; // a feature drafter, for the strategies named medusa-feature
static bool g_use_feature = false;
static sd_heads * g_attention_heads = nullptr; // one with an attention window, for those named medusa-attention
static bool g_use_attention = false;

// A corpus index of the test corpus (the stories the prompts open), for the lookup-corpus strategies
// and for generations that set g_use_corpus.
static sd_corpus * g_corpus = nullptr;
static bool g_use_corpus = false;

// The test model with every weight of its first layer's FFN output scaled by a fixed pseudo-random
// factor in [0.2, 1.8]: a different model with the same vocabulary, which agrees with the original
// often but not always (a drafter whose q differs from the target's p).
static std::string write_perturbed_model() {
    return write_model_copy("perturbed", [](gguf_context *, ggml_context * data) {
        ggml_tensor * t = ggml_get_tensor(data, "blk.0.ffn_down.weight");
        CHECK(t != nullptr && t->type == GGML_TYPE_F32);
        if (t == nullptr || t->type != GGML_TYPE_F32) return;
        float * w = (float *) t->data;
        for (int64_t i = 0; i < ggml_nelements(t); i++) {
            const double noise = std::sin((double) i * 12.9898) * 43758.5453;
            w[i] *= (float) (0.2 + 1.6 * (noise - std::floor(noise)));
        }
    });
}

// First sentences of the first n stories.
static std::vector<std::string> story_openings(size_t n) {
    std::ifstream in(sd_test_corpus_path());
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    std::vector<std::string> out;
    size_t pos = 0;
    while (out.size() < n && pos < text.size()) {
        size_t end = text.find("<|endoftext|>", pos);
        if (end == std::string::npos) end = text.size();
        std::string story = text.substr(pos, end - pos);
        const size_t b = story.find_first_not_of(" \n");
        const size_t dot = story.find(". ", b == std::string::npos ? 0 : b);
        if (b != std::string::npos && dot != std::string::npos) out.push_back(story.substr(b, dot + 1 - b));
        pos = end + 13;
    }
    return out;
}

// The largest top-2 margin at which greedy speculative output may depart from plain greedy output in
// the default numerics (flash attention on): batched and single evaluation of the test model differ
// by less than this.
static const float k_default_max_margin = 0.01f;

// A generation with the Medusa heads of the medusa strategies at hand.
static run_result generate(sd_session * session, const std::vector<llama_token> & prompt, sd_generation_params params) {
    params.spec.medusa.heads = g_use_attention ? g_attention_heads : g_use_feature ? g_feature_heads
                             : g_use_regressive ? g_regressive_heads : g_heads;
    if (g_use_corpus) params.spec.lookup.corpus = g_corpus;
    return sd_test_generate(session, prompt, params);
}

// Every strategy's greedy output against plain greedy decoding on the same session. A divergence is
// tolerated only where plain decoding's top-2 margin is below max_margin (0 in strict numerics: none
// is), and each one is reported with its margin.
//
// With a grammar (GBNF) every run, plain and speculative, generates under it, and `valid` checks each
// run's text.
static void greedy_equivalence(sd_model * model, sd_session * session, sd_model * other_draft, const char * numerics,
                               float max_margin, const std::string & grammar = "",
                               const std::function<bool(const std::string &)> & valid = {}) {
    const size_t n_prompts = quick() ? 3 : 20;
    const std::vector<std::string> prompts = story_openings(n_prompts);
    CHECK(prompts.size() == n_prompts);
    std::string error;
    int32_t near_ties = 0;
    std::vector<strategy> strategies(std::begin(k_strategies), std::end(k_strategies));
    strategies.push_back({"draft", SD_SPEC_DRAFT_MODEL, true, model});
    strategies.push_back({"draft-fixed", SD_SPEC_DRAFT_MODEL, false, model});
    strategies.push_back({"draft-other-fixed", SD_SPEC_DRAFT_MODEL, false, other_draft});
    strategies.push_back({"lookup-corpus", SD_SPEC_LOOKUP, true});
    strategies.push_back({"lookup-corpus-fixed", SD_SPEC_LOOKUP, false});
    strategies.push_back({"auto-corpus", SD_SPEC_AUTO, true});
    strategies.push_back({"medusa-regressive", SD_SPEC_MEDUSA, true});
    strategies.push_back({"medusa-regressive-fixed", SD_SPEC_MEDUSA, false});
    strategies.push_back({"medusa-feature-fixed", SD_SPEC_MEDUSA, false});
    strategies.push_back({"medusa-attention", SD_SPEC_MEDUSA, true});
    strategies.push_back({"medusa-attention-fixed", SD_SPEC_MEDUSA, false});
    std::vector<std::vector<llama_token>> tokenized(prompts.size());
    std::vector<run_result> plains;
    for (size_t i = 0; i < prompts.size(); i++) {
        sd_tokenize(model, prompts[i], true, false, tokenized[i], error);
        sd_generation_params params = sd_generation_default_params();
        params.temperature = 0.0f;
        params.max_tokens  = 128;
        params.grammar     = grammar;
        plains.push_back(generate(session, tokenized[i], params));
    }
    const auto check_text = [&](const run_result & r, const char * what, size_t i) {
        if (!valid) return;
        std::string text;
        sd_detokenize(model, r.tokens, false, text, error);
        if (!valid(text)) {
            std::printf("%s, prompt %zu: the text breaks the grammar: \"%s\"\n", what, i, text.c_str());
            CHECK(false);
        }
    };
    for (size_t i = 0; i < plains.size(); i++) check_text(plains[i], "plain", i);
    for (const strategy & st : strategies) {
        int64_t drafted = 0, accepted = 0;
        for (size_t i = 0; i < prompts.size(); i++) {
            const std::vector<llama_token> & prompt = tokenized[i];
            const run_result & plain = plains[i];
            sd_generation_params params = sd_generation_default_params();
            params.temperature = 0.0f;
            params.max_tokens  = 128;
            params.spec.type     = st.type;
            params.spec.adaptive = st.adaptive;
            params.spec.draft.model = st.draft;
            params.grammar = grammar;
            g_use_corpus = std::strstr(st.name, "corpus") != nullptr;
            g_use_regressive = std::strstr(st.name, "regressive") != nullptr;
            g_use_feature = std::strstr(st.name, "feature") != nullptr;
            g_use_attention = std::strstr(st.name, "attention") != nullptr;
            const run_result spec = generate(session, prompt, params);
            g_use_corpus = false;
            g_use_regressive = false;
            g_use_feature = false;
            g_use_attention = false;
            check_text(spec, st.name, i);
            drafted += spec.stats.n_drafted;
            accepted += spec.stats.n_accepted;
            size_t pos = 0;
            while (pos < plain.tokens.size() && pos < spec.tokens.size() && plain.tokens[pos] == spec.tokens[pos]) pos++;
            if (pos == plain.tokens.size() && pos == spec.tokens.size()) continue;
            const float margin = pos < plain.margins.size() ? plain.margins[pos] : INFINITY;
            std::printf("%s numerics, %s: prompt %zu diverges at token %zu, plain's top-2 margin %.2e%s\n", numerics,
                        st.name, i, pos, margin, margin < max_margin ? " (near-tie: tolerated)" : "");
            if (margin < max_margin) {
                near_ties++;
            } else {
                CHECK(false); // a divergence that batch-size numerics cannot explain
            }
        }
        std::printf("greedy %s%s %-16s: %lld drafted, %lld accepted\n", numerics, grammar.empty() ? "" : " grammar",
                    st.name, (long long) drafted, (long long) accepted);
        // Without the budget the strategy must really speculate. With it, whether drafts pay depends on
        // this machine's timing at the moment (the budget may rightly draft nothing), so that is
        // reported, not asserted: performance belongs to specbench.
        if (!st.adaptive) CHECK(accepted > 0);
    }
    std::printf("greedy equivalence, %s numerics: %d near-tie divergences tolerated (margin below %.2g)\n", numerics,
                near_ties, max_margin);
}

// Two-sample chi-square of two count tables; categories with a pooled count under 10 are merged.
static bool same_distribution(const std::map<llama_token, int> & a, const std::map<llama_token, int> & b, int na,
                              int nb, double * stat_out, int * df_out) {
    std::map<llama_token, std::pair<double, double>> cells;
    for (const auto & kv : a) cells[kv.first].first += kv.second;
    for (const auto & kv : b) cells[kv.first].second += kv.second;
    std::vector<std::pair<double, double>> merged;
    std::pair<double, double> rest{0, 0};
    for (const auto & kv : cells) {
        if (kv.second.first + kv.second.second >= 10) merged.push_back(kv.second);
        else { rest.first += kv.second.first; rest.second += kv.second.second; }
    }
    if (rest.first + rest.second > 0) merged.push_back(rest);
    double stat = 0;
    for (const auto & c : merged) {
        const double total = c.first + c.second;
        const double ea = total * na / (double) (na + nb), eb = total * nb / (double) (na + nb);
        stat += (c.first - ea) * (c.first - ea) / ea + (c.second - eb) * (c.second - eb) / eb;
    }
    const int df = (int) merged.size() - 1;
    // Wilson-Hilferty approximation of the chi-square quantile at p = 1e-3 (z = 3.090)
    const double k = 2.0 / (9.0 * df);
    const double crit = df * std::pow(1 - k + 3.090 * std::sqrt(k), 3);
    *stat_out = stat;
    *df_out = df;
    return stat < crit;
}

struct sample_counts {
    std::map<llama_token, int> second, third;
    int n = 0;
    int64_t drafted = 0, accepted = 0;
};

static sample_counts sample(sd_session * session, const std::vector<llama_token> & prompt, sd_spec_type type,
                            float temperature, int n, uint32_t seed0, sd_model * draft = nullptr,
                            const std::string & grammar = "") {
    sample_counts c;
    for (int i = 0; i < n; i++) {
        sd_generation_params params = sd_generation_default_params();
        params.temperature = temperature;
        params.top_k = 0;
        params.top_p = 1.0f;
        params.min_p = 0.0f;
        params.max_tokens = 3;
        params.seed = seed0 + (uint32_t) i;
        params.spec.type = type;
        params.spec.adaptive = false; // evaluate every draft: the acceptance rules are exercised most
        // a small lookahead window keeps the 5,000 generations short
        params.spec.lookahead.w = 4;
        params.spec.lookahead.n = 3;
        params.spec.lookahead.g = 4;
        // a draft model drafts every position counted (2 and 3), and no further
        params.spec.draft.model = draft;
        params.spec.draft.p_min = 0.0f;
        if (type == SD_SPEC_DRAFT_MODEL) params.spec.max_depth = 2;
        params.grammar = grammar;
        const run_result r = generate(session, prompt, params);
        if (r.tokens.size() < 3) continue;
        c.second[r.tokens[1]]++;
        c.third[r.tokens[2]]++;
        c.n++;
        c.drafted += r.stats.n_drafted;
        c.accepted += r.stats.n_accepted;
    }
    return c;
}

static void exact_sampling(sd_model * model, sd_session * session, sd_model * other_draft) {
    // A prompt that repeats itself, so that lookup and recycling both have drafts to offer.
    std::vector<llama_token> prompt;
    std::string error;
    sd_tokenize(model, "Tom had a red ball. Tom had a red ball. Tom had a red ball. Tom had a", true, false, prompt, error);
    const int n = quick() ? 500 : 5000;
    const sample_counts plain = sample(session, prompt, SD_SPEC_NONE, 1.0f, n, 1000000);
    // the second and third tokens follow plain sampling's distribution, and drafts were really
    // proposed and accepted
    const auto check_same = [&](const std::string & what, const sample_counts & spec) {
        double stat2, stat3;
        int df2, df3;
        const bool ok2 = same_distribution(plain.second, spec.second, plain.n, spec.n, &stat2, &df2);
        const bool ok3 = same_distribution(plain.third, spec.third, plain.n, spec.n, &stat3, &df3);
        std::printf("sampling %s: %lld drafted, %lld accepted; token 2 chi2 %.1f (df %d), token 3 chi2 %.1f (df %d)\n",
                    what.c_str(), (long long) spec.drafted, (long long) spec.accepted, stat2, df2, stat3, df3);
        CHECK(spec.accepted > n / 50);
        CHECK(ok2);
        CHECK(ok3);
    };
    for (sd_spec_type type : {SD_SPEC_LOOKUP, SD_SPEC_RECYCLING, SD_SPEC_AUTO, SD_SPEC_LOOKAHEAD, SD_SPEC_MEDUSA}) {
        check_same(std::string("type ") + std::to_string((int) type), sample(session, prompt, type, 1.0f, n, 2000000));
    }
    // Lookup drafting from the corpus index as well: deterministic drafts, accepted by rejection sampling
    g_use_corpus = true;
    const sample_counts corpus = sample(session, prompt, SD_SPEC_LOOKUP, 1.0f, n, 3000000);
    g_use_corpus = false;
    check_same("lookup with the corpus", corpus);
    // Regressive Medusa heads: a chain of the heads' best tokens with siblings, accepted by recursive
    // rejection sampling
    g_use_regressive = true;
    const sample_counts regressive = sample(session, prompt, SD_SPEC_MEDUSA, 1.0f, n, 5000000);
    g_use_regressive = false;
    check_same("regressive heads", regressive);
    // Feature drafters, without and with an attention window: chains like the regressive heads'
    g_use_feature = true;
    const sample_counts feature = sample(session, prompt, SD_SPEC_MEDUSA, 1.0f, n, 6000000);
    g_use_attention = true;
    const sample_counts attention = sample(session, prompt, SD_SPEC_MEDUSA, 1.0f, n, 7000000);
    g_use_feature = false;
    g_use_attention = false;
    check_same("feature drafter", feature);
    check_same("feature drafter with attention", attention);
    // Draft model: chains drawn from the draft model's q, each verified by rejection sampling against q.
    // Drafting for itself q is p up to batch-size rounding, so nearly every draft is accepted; the
    // perturbed copy's q differs from p, so drafts are rejected too and the residual max(0, p - q) is drawn.
    for (sd_model * draft : {model, other_draft}) {
        const sample_counts spec = sample(session, prompt, SD_SPEC_DRAFT_MODEL, 1.0f, n, 4000000, draft);
        double stat2, stat3;
        int df2, df3;
        const bool ok2 = same_distribution(plain.second, spec.second, plain.n, spec.n, &stat2, &df2);
        const bool ok3 = same_distribution(plain.third, spec.third, plain.n, spec.n, &stat3, &df3);
        std::printf("sampling draft model (%s): %lld drafted, %lld accepted; token 2 chi2 %.1f (df %d), token 3 chi2 %.1f (df %d)\n",
                    draft == model ? "itself" : "perturbed", (long long) spec.drafted, (long long) spec.accepted, stat2,
                    df2, stat3, df3);
        // Every generation drafts position 2 (and 3); a step cut by max_tokens counts the last token it hands
        // out as its bonus, so at most one accepted draft is counted per generation: position 2's.
        CHECK(spec.drafted >= n);
        if (draft == model) {
            CHECK(spec.accepted > n * 9 / 10);
        } else {
            CHECK(spec.accepted > n / 10);
            CHECK(spec.accepted < n * 98 / 100); // position 2 was rejected at times: the residual was drawn
        }
        CHECK(ok2);
        CHECK(ok3);
    }
    // Its draws come from the seed: the same seed gives the same tokens.
    for (uint32_t seed = 0; seed < 5; seed++) {
        sd_generation_params params = sd_generation_default_params();
        params.temperature = 0.9f;
        params.max_tokens = 48;
        params.seed = seed;
        params.spec.type = SD_SPEC_DRAFT_MODEL;
        params.spec.draft.model = other_draft;
        params.spec.adaptive = false;
        const run_result a = generate(session, prompt, params);
        const run_result b = generate(session, prompt, params);
        CHECK(a.tokens == b.tokens);
        CHECK(a.stats.n_accepted > 0);
    }
    // Draws are fixed per position by the seed, so with the same seed speculation hands out exactly the
    // tokens plain sampling does.
    int identical = 0;
    const uint32_t n_seeds = quick() ? 10 : 100;
    for (uint32_t seed = 0; seed < n_seeds; seed++) {
        sd_generation_params params = sd_generation_default_params();
        params.temperature = 0.9f;
        params.max_tokens = 48;
        params.seed = seed;
        const run_result a = generate(session, prompt, params);
        params.spec.type = seed % 2 == 0 ? SD_SPEC_AUTO : SD_SPEC_LOOKUP;
        params.spec.adaptive = false;
        const run_result b = generate(session, prompt, params);
        identical += a.tokens == b.tokens ? 1 : 0;
    }
    std::printf("same seed, plain vs speculative sampling: %d of %u identical\n", identical, n_seeds);
    CHECK(identical == (int) n_seeds);

    // The test has power: a different temperature is detected.
    const sample_counts cooler = sample(session, prompt, SD_SPEC_NONE, 0.7f, n, 3000000);
    double stat;
    int df;
    const bool same = same_distribution(plain.second, cooler.second, plain.n, cooler.n, &stat, &df);
    std::printf("power check: temperature 0.7 vs 1.0, token 2 chi2 %.1f (df %d)\n", stat, df);
    CHECK(!same);
}

// A session's first generation with the budget measures the decode cost after the prompt, which
// overwrites the prompt's logits: the first token must still come from the prompt's own, greedy and
// sampled, and the prompt's cache must be intact.
static void cost_after_prompt(sd_model * model) {
    std::string error;
    sd_session_params sparams = sd_session_default_params();
    sparams.n_ctx = 512;
    sparams.strict_numerics = true;
    std::vector<llama_token> prompt;
    sd_tokenize(model, "Once upon a time, there was a little dog named Max. Max", true, false, prompt, error);
    for (float temperature : {0.0f, 0.9f}) {
        sd_generation_params params = sd_generation_default_params();
        params.temperature = temperature;
        params.seed = 12345;
        params.max_tokens = 32;
        sd_session * plain_session = nullptr;
        sd_session * spec_session = nullptr;
        CHECK(sd_session_init(model, sparams, &plain_session, error) == SD_OK);
        CHECK(sd_session_init(model, sparams, &spec_session, error) == SD_OK);
        if (plain_session == nullptr || spec_session == nullptr) return;
        const run_result plain = generate(plain_session, prompt, params);
        params.spec.type = SD_SPEC_LOOKUP; // with the budget: the first generation measures the cost
        const run_result spec = generate(spec_session, prompt, params);
        std::printf("cost measured after the prompt (temperature %.1f): %zu tokens, first %d / %d\n", temperature,
                    spec.tokens.size(), spec.tokens.empty() ? -1 : spec.tokens[0], plain.tokens.empty() ? -1 : plain.tokens[0]);
        CHECK(!plain.tokens.empty() && spec.tokens == plain.tokens);
        sd_session_free(plain_session);
        sd_session_free(spec_session);
    }
}

static void kv_consistency(sd_model * model) {
    std::string error;
    sd_session_params sparams = sd_session_default_params();
    sparams.n_ctx = 1024;
    sparams.strict_numerics = true;
    sd_session * spec_session = nullptr;
    sd_session * fresh = nullptr;
    CHECK(sd_session_init(model, sparams, &spec_session, error) == SD_OK);
    CHECK(sd_session_init(model, sparams, &fresh, error) == SD_OK);
    if (spec_session == nullptr || fresh == nullptr) return;

    std::vector<llama_token> prompt;
    sd_tokenize(model, "Lily and Ben went to the park. Lily and Ben", true, false, prompt, error);
    sd_generation_params params = sd_generation_default_params();
    params.temperature = 0.0f;
    params.max_tokens = 400;
    params.spec.type = SD_SPEC_AUTO;
    params.spec.adaptive = false; // wide trees: many rejected nodes to clean up
    const run_result spec = generate(spec_session, prompt, params);
    CHECK(spec.stats.n_accepted > 0);

    // The speculative session's cache holds prompt + generated tokens but the last.
    std::vector<llama_token> all = prompt;
    all.insert(all.end(), spec.tokens.begin(), spec.tokens.end());
    const std::vector<llama_token> & cached = sd_session_cached_tokens(spec_session);
    CHECK(cached.size() + 1 == all.size());
    CHECK(std::equal(cached.begin(), cached.end(), all.begin()));

    std::vector<float> from_cache, from_scratch;
    CHECK(sd_session_logits(spec_session, all, from_cache, error) == SD_OK); // evaluates only the last token
    CHECK(sd_session_logits(fresh, all, from_scratch, error) == SD_OK);      // evaluates everything
    float max_diff = 0;
    for (size_t i = 0; i < from_cache.size() && i < from_scratch.size(); i++) {
        max_diff = std::max(max_diff, std::fabs(from_cache[i] - from_scratch[i]));
    }
    std::printf("KV consistency after %zu tokens: max logit difference %.2e\n", all.size(), max_diff);
    CHECK(!from_cache.empty() && max_diff < 1e-3f);

    // Continuing plain decoding from the speculative cache equals continuing from a fresh one.
    params.spec.type = SD_SPEC_NONE;
    params.max_tokens = 64;
    const run_result a = generate(spec_session, all, params);
    sd_session_reset(fresh);
    const run_result b = generate(fresh, all, params);
    CHECK(a.tokens == b.tokens);
    sd_session_free(spec_session);
    sd_session_free(fresh);
}

// Vocabulary checks: a draft model whose token texts or BOS token differ is refused with an error naming
// the difference, by sd_model_vocab_compatible and by sd_generation_begin; so are a missing draft
// model and draft probabilities out of range.
static void draft_model_errors(sd_model * model, sd_session * session) {
    std::string error;
    std::vector<llama_token> prompt;
    sd_tokenize(model, "Once upon a time", true, false, prompt, error);
    sd_generation_params params = sd_generation_default_params();
    params.temperature = 0.0f;
    params.max_tokens = 8;
    params.spec.type = SD_SPEC_DRAFT_MODEL;
    CHECK(sd_generation_begin(session, prompt, params, error) == SD_ERR_INVALID_ARGUMENT);
    std::printf("no draft model: %s\n", error.c_str());
    CHECK(error.find("spec.draft.model") != std::string::npos);
    params.spec.draft.model = model;
    params.spec.draft.p_min = 1.5f;
    CHECK(sd_generation_begin(session, prompt, params, error) == SD_ERR_INVALID_ARGUMENT);
    CHECK(error.find("spec.draft.p_min") != std::string::npos);
    params.spec.draft.p_min = 0.3f;
    CHECK(sd_model_vocab_compatible(model, model, error) == SD_OK);

    const std::string renamed = write_model_copy("renamed", [](gguf_context * gguf, ggml_context *) {
        const int64_t key = gguf_find_key(gguf, "tokenizer.ggml.tokens");
        std::vector<std::string> texts;
        for (size_t i = 0; i < gguf_get_arr_n(gguf, key); i++) texts.push_back(gguf_get_arr_str(gguf, key, i));
        for (size_t i = 300; i < 310 && i < texts.size(); i++) texts[i] = "renamed" + std::to_string(i);
        std::vector<const char *> ptrs;
        for (const std::string & t : texts) ptrs.push_back(t.c_str());
        gguf_set_arr_str(gguf, "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
    });
    const std::string rebos = write_model_copy("bos", [](gguf_context * gguf, ggml_context *) {
        gguf_set_val_u32(gguf, "tokenizer.ggml.bos_token_id", 2);
    });
    sd_model * bad = nullptr;
    CHECK(sd_model_load(renamed.c_str(), sd_model_default_params(), &bad, error) == SD_OK);
    if (bad != nullptr) {
        CHECK(sd_model_vocab_compatible(model, bad, error) == SD_ERR_INVALID_ARGUMENT);
        std::printf("renamed tokens: %s\n", error.c_str());
        CHECK(error.find("token 300 is 'renamed300' in the draft model") != std::string::npos);
        params.spec.draft.model = bad;
        error.clear();
        CHECK(sd_generation_begin(session, prompt, params, error) == SD_ERR_INVALID_ARGUMENT);
        CHECK(error.find("vocabulary does not match") != std::string::npos);
        sd_model_free(bad);
        bad = nullptr;
    }
    CHECK(sd_model_load(rebos.c_str(), sd_model_default_params(), &bad, error) == SD_OK);
    if (bad != nullptr) {
        CHECK(sd_model_vocab_compatible(model, bad, error) == SD_ERR_INVALID_ARGUMENT);
        std::printf("other BOS: %s\n", error.c_str());
        CHECK(error.find("BOS/EOS") != std::string::npos);
        sd_model_free(bad);
    }
    // a corpus index is refused by a model of another vocabulary
    CHECK(sd_model_load(renamed.c_str(), sd_model_default_params(), &bad, error) == SD_OK);
    if (bad != nullptr) {
        char dir[] = "/tmp/llamaspec-corpus-XXXXXX";
        CHECK(mkdtemp(dir) != nullptr);
        const std::string index = std::string(dir) + "/c.lsidx";
        CHECK(sd_corpus_build(model, sd_test_corpus_path().c_str(), index.c_str(), nullptr, error) == SD_OK);
        sd_corpus * c = nullptr;
        CHECK(sd_corpus_load(index.c_str(), bad, &c, error) == SD_ERR_INVALID_ARGUMENT && c == nullptr);
        std::printf("corpus index for another vocabulary: %s\n", error.c_str());
        CHECK(error.find("another vocabulary") != std::string::npos);
        std::remove(index.c_str());
        rmdir(dir);
        sd_model_free(bad);
    }
    remove_copy(renamed);
    remove_copy(rebos);
}

// Corpus index files: built, loaded and described; every bad file refused with its reason.
static void corpus_files(sd_model * model) {
    std::string error;
    char dir[] = "/tmp/llamaspec-corpus-XXXXXX";
    CHECK(mkdtemp(dir) != nullptr);
    const std::string d = dir, index = d + "/c.lsidx", text = d + "/text.txt";
    {
        std::ofstream out(text);
        out << "Tom had a red ball. Tom liked to play with the ball.\nOne day the ball went up a tree.\n";
    }
    sd_corpus_info info;
    CHECK(sd_corpus_build(model, text.c_str(), index.c_str(), &info, error) == SD_OK);
    CHECK(info.n_tokens > 10 && info.file_bytes == 40 + info.n_tokens * 8);
    sd_corpus * c = nullptr;
    CHECK(sd_corpus_load(index.c_str(), model, &c, error) == SD_OK);
    if (c != nullptr) {
        CHECK(sd_corpus_get_info(c).n_tokens == info.n_tokens);
        sd_corpus_free(c);
    }
    const std::string bytes = [&] {
        std::ifstream in(index, std::ios::binary);
        std::stringstream b;
        b << in.rdbuf();
        return b.str();
    }();
    const auto refused = [&](const std::string & path, const char * why) {
        sd_corpus * bad = nullptr;
        error.clear();
        const sd_status st = sd_corpus_load(path.c_str(), model, &bad, error);
        std::printf("corpus index %s: %s\n", why, error.c_str());
        CHECK(st == SD_ERR_INVALID_ARGUMENT && bad == nullptr);
        CHECK(error.find(why) != std::string::npos);
    };
    const auto write = [&](const std::string & content) {
        std::ofstream out(d + "/bad.lsidx", std::ios::binary | std::ios::trunc);
        out << content;
    };
    refused(d + "/missing.lsidx", "No such file");
    refused(d, "is not a file");
    write("hello");
    refused(d + "/bad.lsidx", "is not a llamaspec corpus index");
    write(std::string(200, 'x'));
    refused(d + "/bad.lsidx", "is not a llamaspec corpus index");
    write(bytes.substr(0, bytes.size() - 12));
    refused(d + "/bad.lsidx", "is truncated or damaged");
    std::string damaged = bytes;
    damaged[50] ^= 0x5a;
    write(damaged);
    refused(d + "/bad.lsidx", "its checksum does not match");
    std::string newer = bytes;
    newer[8] = 2;
    write(newer);
    refused(d + "/bad.lsidx", "format version 2");
    CHECK(sd_corpus_build(model, (d + "/none.txt").c_str(), index.c_str(), nullptr, error) == SD_ERR_INVALID_ARGUMENT);
    CHECK(error.find("none.txt") != std::string::npos);
    {
        std::ofstream out(text, std::ios::trunc);
    }
    CHECK(sd_corpus_build(model, text.c_str(), index.c_str(), nullptr, error) == SD_ERR_INVALID_ARGUMENT);
    CHECK(error.find("fewer than 2 tokens") != std::string::npos);
    // the failed builds left the index as it was
    sd_corpus * again = nullptr;
    CHECK(sd_corpus_load(index.c_str(), model, &again, error) == SD_OK);
    sd_corpus_free(again);
    for (const char * f : {"/c.lsidx", "/bad.lsidx", "/text.txt"}) std::remove((d + f).c_str());
    rmdir(dir);
}

// A draft model dropped while a generation uses it: the next step fails with SD_ERR_STATE and the
// session goes on working (the context on the draft model is created again when needed).
static void draft_model_dropped(sd_model * model, sd_session * session) {
    std::string error;
    std::vector<llama_token> prompt;
    sd_tokenize(model, "Tom had a red ball. Tom had a", true, false, prompt, error);
    sd_generation_params params = sd_generation_default_params();
    params.temperature = 0.0f;
    params.max_tokens = 32;
    params.spec.type = SD_SPEC_DRAFT_MODEL;
    params.spec.draft.model = model;
    params.spec.adaptive = false;
    CHECK(sd_generation_begin(session, prompt, params, error) == SD_OK);
    sd_step_result step;
    CHECK(sd_generation_step(session, step, error) == SD_OK);
    CHECK(sd_generation_step(session, step, error) == SD_OK);
    sd_session_drop_draft_model(session, model);
    CHECK(sd_generation_step(session, step, error) == SD_ERR_STATE);
    std::printf("dropped draft model: %s\n", error.c_str());
    CHECK(error.find("draft model") != std::string::npos);
    const run_result again = generate(session, prompt, params);
    CHECK(again.stats.n_accepted > 0);
    params.spec.type = SD_SPEC_NONE;
    CHECK(generate(session, prompt, params).tokens == again.tokens);
}

// Speculation up to a full context: trees and lookahead's window are cut to the cells left, the
// generation stops with SD_STOP_CONTEXT_FULL and hands out plain decoding's tokens.
static void context_full(sd_model * model) {
    std::string error;
    sd_session_params sparams = sd_session_default_params();
    sparams.n_ctx = 96;
    sparams.strict_numerics = true;
    sd_session * session = nullptr;
    CHECK(sd_session_init(model, sparams, &session, error) == SD_OK);
    if (session == nullptr) return;
    std::vector<llama_token> prompt;
    sd_tokenize(model, "Tom had a red ball. Tom had a red ball. Tom had a", true, false, prompt, error);
    sd_generation_params params = sd_generation_default_params();
    params.temperature = 0.0f;
    params.max_tokens = 1000;
    const run_result plain = generate(session, prompt, params);
    CHECK(plain.stop == SD_STOP_CONTEXT_FULL);
    for (sd_spec_type type : {SD_SPEC_AUTO, SD_SPEC_LOOKAHEAD}) {
        params.spec.type = type;
        params.spec.adaptive = false;
        const run_result spec = generate(session, prompt, params);
        std::printf("context full, type %d: %zu tokens (plain %zu), %d accepted, %d window tokens\n", (int) type,
                    spec.tokens.size(), plain.tokens.size(), spec.stats.n_accepted, spec.stats.n_aux);
        CHECK(spec.stop == SD_STOP_CONTEXT_FULL);
        CHECK(spec.tokens == plain.tokens);
        CHECK(spec.stats.n_accepted > 0);
    }
    sd_session_free(session);
}

// Structured output: grammars under every strategy.
static void grammars(sd_model * model, sd_session * session, sd_model * other_draft) {
    std::string error;
    // Bad grammars fail before anything is evaluated, with llama.cpp's parser message.
    const std::pair<const char *, const char *> bad[] = {
        {"root ::= \"a\" missing", "Undefined rule identifier 'missing'"}, {"root ::= \"unterminated", ""}, {"other ::= \"a\"", ""},
        {"root ::= [a-", ""}, {"root ::= root \"a\"", ""},
        {"root ::= \"a\"{99999999}", "at most 10000"}, {"root ::= \"a\"{2,12345678901}", "at most 10000"},
    };
    std::vector<llama_token> prompt;
    sd_tokenize(model, "Once upon a time", true, false, prompt, error);
    sd_session_reset(session);
    for (const auto & b : bad) {
        error.clear();
        CHECK(sd_grammar_check(model, b.first, error) == SD_ERR_INVALID_ARGUMENT);
        std::printf("bad grammar '%s': %s\n", b.first, error.c_str());
        CHECK(error.find("the grammar ") == 0);
        if (b.second[0] != '\0') CHECK(error.find(b.second) != std::string::npos);
        sd_generation_params params = sd_generation_default_params();
        params.grammar = b.first;
        CHECK(sd_generation_begin(session, prompt, params, error) == SD_ERR_INVALID_ARGUMENT);
        CHECK(sd_session_cached_tokens(session).empty()); // nothing was evaluated
    }
    CHECK(sd_grammar_check(model, "root ::= \"a\"", error) == SD_OK);

    // A grammar that allows no token after "Once" (llama.cpp's grammars never allow a token whose text
    // is NUL): the generation ends there with SD_STOP_GRAMMAR, under every strategy.
    for (sd_spec_type type : {SD_SPEC_NONE, SD_SPEC_LOOKUP, SD_SPEC_DRAFT_MODEL, SD_SPEC_MEDUSA}) {
        sd_generation_params params = sd_generation_default_params();
        params.temperature = 0.0f;
        params.max_tokens = 32;
        params.grammar = "root ::= \"Once\" [\\x00]";
        params.spec.type = type;
        params.spec.adaptive = false;
        params.spec.draft.model = model;
        const run_result r = generate(session, prompt, params);
        std::string text;
        sd_detokenize(model, r.tokens, false, text, error);
        CHECK(r.stop == SD_STOP_GRAMMAR);
        CHECK_EQ_STR(text, "Once");
    }

    // Greedy output under a grammar equals plain constrained greedy output, for every strategy; the
    // grammars: stories without capital letters (drafts with one are dropped), and a record.
    greedy_equivalence(model, session, other_draft, "strict", 0.0f, "root ::= [^A-Z]*", [](const std::string & t) {
        for (char ch : t) {
            if (ch >= 'A' && ch <= 'Z') return false;
        }
        return true;
    });
    greedy_equivalence(model, session, other_draft, "strict", 0.0f,
                       "root ::= \" {\\\"name\\\": \\\"\" [a-z]{1,12} \"\\\", \\\"story\\\": \\\"\" [a-z ,.]{1,60} \"\\\"}\"",
                       [](const std::string & t) {
                           // at most 98 characters: the record is complete within the 128 tokens
                           static const std::regex form(" ?\\{\"name\": \"[a-z]{1,12}\", \"story\": \"[a-z ,.]{1,60}\"\\}");
                           return std::regex_match(t, form);
                       });

    // Sampling keeps the constrained distribution: tokens 2 and 3 under a grammar, plain against
    // speculation, the draft model's drawn chains included (kept when the grammar forbids them: the
    // target rejects them).
    std::vector<llama_token> tom;
    sd_tokenize(model, "Tom had a red ball. Tom had a red ball. Tom had a red ball. Tom had a", true, false, tom, error);
    const std::string lower = "root ::= [^A-Z.]*";
    const int n = quick() ? 500 : 3000;
    const sample_counts plain = sample(session, tom, SD_SPEC_NONE, 1.0f, n, 5000000, nullptr, lower);
    for (sd_spec_type type : {SD_SPEC_LOOKUP, SD_SPEC_DRAFT_MODEL}) {
        for (sd_model * draft : {model, other_draft}) {
            if (type != SD_SPEC_DRAFT_MODEL && draft != model) continue;
            const sample_counts spec = sample(session, tom, type, 1.0f, n, 6000000, draft, lower);
            double stat2, stat3;
            int df2, df3;
            const bool ok2 = same_distribution(plain.second, spec.second, plain.n, spec.n, &stat2, &df2);
            const bool ok3 = same_distribution(plain.third, spec.third, plain.n, spec.n, &stat3, &df3);
            std::printf("sampling with a grammar, type %d%s: %lld drafted, %lld accepted; token 2 chi2 %.1f (df %d), "
                        "token 3 chi2 %.1f (df %d)\n", (int) type, draft == model ? "" : " (perturbed draft)",
                        (long long) spec.drafted, (long long) spec.accepted, stat2, df2, stat3, df3);
            CHECK(spec.accepted > 0);
            CHECK(ok2);
            CHECK(ok3);
        }
    }
}

int main() {
    std::string error;
    sd_model_params mparams = sd_model_default_params();
    mparams.n_threads = test_threads();
    sd_model * model = nullptr;
    if (sd_model_load(sd_test_model_path().c_str(), mparams, &model, error) != SD_OK) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    // Strict numerics (flash attention off, F32 keys and values): batched and single evaluation agree,
    // so no divergence is tolerated. With F16 keys and values, values computed in batches of
    // different sizes round to different halves, which moved near-ties by up to 4e-4 (seen).
    sd_session_params sparams = sd_session_default_params();
    sparams.n_ctx = 512;
    sparams.strict_numerics = true;
    sd_session * session = nullptr;
    CHECK(sd_session_init(model, sparams, &session, error) == SD_OK);
    g_heads = identity_heads_load(model, 4, true);
    CHECK(g_heads != nullptr);
    g_regressive_heads = heads_load(model, regressive_heads(model, 4, 1, true, 0.05f));
    CHECK(g_regressive_heads != nullptr && sd_heads_get_info(g_regressive_heads).regressive);
    g_feature_heads = heads_load(model, feature_heads(model, 4, 1, 0.05f));
    CHECK(g_feature_heads != nullptr && sd_heads_get_info(g_feature_heads).feature);
    g_attention_heads = heads_load(model, feature_attention_heads(model, 4, 1, 0.05f, 8));
    CHECK(g_attention_heads != nullptr && sd_heads_get_info(g_attention_heads).window == 8);
    char corpus_dir[] = "/tmp/llamaspec-corpus-XXXXXX";
    CHECK(mkdtemp(corpus_dir) != nullptr);
    const std::string index = std::string(corpus_dir) + "/stories.lsidx";
    CHECK(sd_corpus_build(model, sd_test_corpus_path().c_str(), index.c_str(), nullptr, error) == SD_OK);
    CHECK(sd_corpus_load(index.c_str(), model, &g_corpus, error) == SD_OK);
    std::remove(index.c_str());
    rmdir(corpus_dir);
    const std::string perturbed = write_perturbed_model();
    sd_model * other_draft = nullptr;
    CHECK(sd_model_load(perturbed.c_str(), mparams, &other_draft, error) == SD_OK);
    CHECK(sd_model_vocab_compatible(model, other_draft, error) == SD_OK);
    if (other_draft == nullptr) other_draft = model;
    greedy_equivalence(model, session, other_draft, "strict", 0.0f);
    {
        // The default numerics (flash attention as llama.cpp chooses, F16 keys and values): a
        // verification step may round a near-tie differently from plain decoding.
        sd_session_params dparams = sd_session_default_params();
        dparams.n_ctx = 512;
        sd_session * fast = nullptr;
        CHECK(sd_session_init(model, dparams, &fast, error) == SD_OK);
        if (fast != nullptr) greedy_equivalence(model, fast, other_draft, "default", k_default_max_margin);
        sd_session_free(fast);
    }
    exact_sampling(model, session, other_draft);
    grammars(model, session, other_draft);
    draft_model_errors(model, session);
    draft_model_dropped(model, session);
    corpus_files(model);
    sd_session_free(session);
    if (other_draft != model) sd_model_free(other_draft);
    remove_copy(perturbed);
    cost_after_prompt(model);
    kv_consistency(model);
    context_full(model);
    sd_heads_free(g_heads);
    sd_heads_free(g_regressive_heads);
    sd_heads_free(g_feature_heads);
    sd_heads_free(g_attention_heads);
    sd_corpus_free(g_corpus);
    sd_model_free(model);
    return sd_test_finish("test-speculative");
}
