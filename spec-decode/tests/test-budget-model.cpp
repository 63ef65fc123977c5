// The budget at a session's start, on the real model:
// - the decode-cost curve measured at its first generation with the budget (sd_session_prepare_cost)
//   has the outline's points, and the single token's price, which every size is priced against,
//   survives measured decodes that hit a stall of the machine (simulated: a measured single-token
//   decode sleeps first, sd_context::before_decode);
// - a draft model's first chains, whose kind the optimism counts as sure, stop at the first length
//   that pays (SD_EXPLORE_TRIES), and grow past it once the kind has been tried that often.
#include "sd-test-generate.h"
#include "draft/sd-drafter.h"
#include "engine/sd-session.h"
#include "model/sd-model.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int64_t k_stall_us = 300000;

// Which single-token decodes sleep, counted from the session's first (the prompt is evaluated as one
// batch of several tokens, so the first is the measurement's warm-up, the second its first run).
struct stalls {
    std::set<int32_t> at;
    int32_t           singles = 0;
};

void before_decode(int32_t n_tokens, void * data) {
    stalls & s = *(stalls *) data;
    if (n_tokens != 1) return;
    if (s.at.count(++s.singles) > 0) std::this_thread::sleep_for(std::chrono::microseconds(k_stall_us));
}

// A fresh session's first generation with the budget, the given decodes stalled: its curve's points.
std::map<int32_t, double> measured(sd_model * model, const std::vector<llama_token> & prompt, std::set<int32_t> at) {
    std::string error;
    sd_session * session = nullptr;
    CHECK(sd_session_init(model, sd_session_default_params(), &session, error) == SD_OK);
    if (session == nullptr) return {};
    stalls s;
    s.at = std::move(at);
    session->ctx->before_decode = before_decode;
    session->ctx->before_decode_data = &s;
    sd_generation_params p = sd_generation_default_params();
    p.max_tokens = 4;
    p.spec.type = SD_SPEC_LOOKUP;
    CHECK(p.spec.adaptive);
    const run_result r = sd_test_generate(session, prompt, p);
    CHECK(r.tokens.size() == 4);
    CHECK(s.singles >= 4); // the warm-up and the single token's three runs at least
    std::map<int32_t, double> us = session->budget.cost.us;
    sd_session_free(session);
    return us;
}

int32_t tree_depth(const sd_draft_tree & tree) {
    const std::vector<int32_t> depths = sd_tree_depths(tree);
    return depths.empty() ? 0 : *std::max_element(depths.begin(), depths.end());
}

// The model drafting for itself in a fresh session whose curve is set (the cost-scaled Q4_0 model's
// shape: 2 tokens 1.26 single ones, 4 1.39, 8 2.59) and whose draft model's top tokens were tried
// `tried` times, all accepted: the depth of the first drafting step's tree.
int32_t first_chain(sd_model * model, const std::vector<llama_token> & prompt, double tried) {
    std::string error;
    sd_session * session = nullptr;
    CHECK(sd_session_init(model, sd_session_default_params(), &session, error) == SD_OK);
    if (session == nullptr) return -1;
    session->budget.cost.us = {{1, 1000.0}, {2, 1260.0}, {4, 1390.0}, {8, 2590.0}}; // nothing measured
    // what was learnt is the draft model's own (sd_budget::use_source, as sd_generation_begin keys it)
    session->budget.use_source("draft model " + model->path);
    if (tried > 0) session->budget.rates.groups[sd_bucket_kind(SD_BUCKET_DRAFT_MODEL)] = {tried, tried};
    sd_generation_params p = sd_generation_default_params();
    p.max_tokens = 48;
    p.temperature = 0.0f; // greedy: the draft model's top tokens (SD_BUCKET_DRAFT_MODEL + decile)
    p.spec.type = SD_SPEC_DRAFT_MODEL;
    p.spec.draft.model = model;
    int32_t steps = 0, depth = -1;
    sd_test_generate(session, prompt, p, [&] {
        if (++steps == 3) depth = tree_depth(session->gen.tree); // the tree of step 2, the first that drafts
    });
    sd_session_free(session);
    return depth;
}

} // namespace

int main() {
    std::string error;
    sd_model * model = nullptr;
    if (sd_model_load(sd_test_model_path().c_str(), sd_model_default_params(), &model, error) != SD_OK) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    std::vector<llama_token> prompt;
    CHECK(sd_tokenize(model, "Once upon a time, there was a little girl", true, false, prompt, error) == SD_OK);

    // nothing stalled: the outline's four points, each a decode of the model (well under the stall)
    const std::map<int32_t, double> calm = measured(model, prompt, {});
    for (int32_t n : {1, 2, 4, 8}) {
        CHECK(calm.count(n) == 1);
        CHECK(calm.count(n) == 1 && calm.at(n) > 0 && calm.at(n) < k_stall_us / 3);
    }
    // the first measured run stalled, the first two, the last two: the fastest of the three is kept
    for (const std::set<int32_t> & at : {std::set<int32_t>{2}, std::set<int32_t>{2, 3}, std::set<int32_t>{3, 4}}) {
        const std::map<int32_t, double> us = measured(model, prompt, at);
        CHECK(us.count(1) == 1 && us.at(1) < k_stall_us / 3);
        std::printf("single token measured with stalled runs %d..%d: %.0f us (calm: %.0f us)\n", *at.begin(),
                    *at.rbegin(), us.count(1) ? us.at(1) : -1.0, calm.count(1) ? calm.at(1) : -1.0);
    }
    // every run stalled: the stall is what was measured (the hook reaches the measurement)
    const std::map<int32_t, double> all = measured(model, prompt, {2, 3, 4});
    CHECK(all.count(1) == 1 && all.at(1) >= k_stall_us);

    // The first chain of a kind never tried: sure nodes, and on this curve one node already pays (2
    // tokens for 1.26 single ones plus a draft decode), so one node and no more. Tried often enough,
    // the same first step drafts deeper.
    const int32_t fresh = first_chain(model, prompt, 0);
    const int32_t learnt = first_chain(model, prompt, SD_EXPLORE_TRIES);
    std::printf("first drafting step's depth: %d with the kind never tried, %d tried %.0f times\n", fresh, learnt,
                SD_EXPLORE_TRIES);
    CHECK(fresh == 1);
    CHECK(learnt >= 2);

    sd_model_free(model);
    return sd_test_finish("test-budget-model");
}
