// Draft model: a second, smaller model with the target's vocabulary guesses the next tokens in a
// context of its own. Its KV cache follows the text: before each draft it is made to hold the target's
// tokens and the root (the common prefix is kept, the rejected rest removed, only what is missing
// evaluated), then the chain is extended one draft decode per token.
#include "sd-session.h"
#include "sd-internal.h"

#include <algorithm>
#include <cmath>

// What the draft model proposes at one position.
struct sd_draft_choice {
    llama_token token  = LLAMA_TOKEN_NULL; // the chain's token (argmax, or drawn from q)
    float       p_top  = 0.0f;             // probability of the draft model's top token
    llama_token second = LLAMA_TOKEN_NULL; // greedy: the runner-up
    float       p_second = 0.0f;
};

static int32_t draft_bucket(bool greedy, float p) {
    return (greedy ? 300 : 310) + std::min(9, std::max(0, (int32_t) (p * 10.0f)));
}

struct sd_drafter_draft_model : sd_drafter {
    sd_session * target;
    sd_model   * model;
    sd_session * ctx = nullptr; // the draft model's context, created by the first begin()

    // the generation's settings
    bool            greedy   = true;
    bool            adaptive = true;
    float           p_min    = 0.0f;
    float           p_branch = 0.0f;
    llama_sampler * filter   = nullptr; // sampling: top-k, top-p, min-p, temperature (no penalties)
    sd_rng          rng;

    sd_status   status = SD_OK; // of the last draft()
    std::string error;

    std::vector<llama_token_data> cur; // scratch
    std::vector<float>            q;   // sampling: the distribution of the last choice

    sd_drafter_draft_model(sd_session * t, sd_model * m) : target(t), model(m) {}

    ~sd_drafter_draft_model() override {
        if (filter != nullptr) llama_sampler_free(filter);
        sd_session_free(ctx);
    }

    const char * name() const override { return "draft-model"; }

    sd_status begin(const std::vector<llama_token> & prompt, const sd_generation_params & params, uint64_t seed,
                    std::string & err) override {
        if (ctx == nullptr) {
            std::string reason;
            const sd_status st = sd_session_init(model, target->sparams, &ctx, reason);
            if (st != SD_OK) {
                return sd_fail(err, st, "could not create the draft model's context: " + reason);
            }
            sd_session_follow(ctx, target);
        }
        greedy   = params.temperature == 0.0f;
        adaptive = params.spec.adaptive;
        p_min    = params.spec.draft.p_min;
        p_branch = params.spec.draft.p_branch;
        if (filter != nullptr) llama_sampler_free(filter);
        filter = nullptr;
        if (!greedy) {
            sd_generation_params without_penalties = params;
            without_penalties.repeat_penalty = 1.0f;
            filter = sd_filter_init(model, without_penalties);
        }
        rng.seed(seed ^ 0xD1B54A32D192ED03ull); // independent of the verifier's draws
        status = SD_OK;
        // the prompt now, so that drafting's cost per step is what the budget sees
        bool cancelled = false;
        if (known(prompt)) {
            const sd_status st = sd_cache_load(ctx, prompt, &cancelled, error, nullptr);
            if (st != SD_OK) return sd_fail(err, st, "the draft model failed on the prompt: " + error);
        }
        return SD_OK;
    }

    sd_status take_error(std::string & err) override {
        const sd_status st = status;
        if (st != SD_OK) err = "the draft model failed: " + error;
        status = SD_OK;
        return st;
    }

    // Whether the draft model has every token (its vocabulary may be a little smaller than the target's).
    bool known(const std::vector<llama_token> & tokens) const {
        const int32_t n_vocab = ctx->n_vocab;
        for (llama_token t : tokens) {
            if (t < 0 || t >= n_vocab) return false;
        }
        return !tokens.empty();
    }

    // The draft model's choice after its last evaluated token. Only tokens the target has are proposed.
    // Sampling fills q (over the target's vocabulary) and draws the token from it.
    sd_draft_choice choose() {
        sd_draft_choice c;
        const float * logits = llama_get_logits_ith(ctx->ctx, -1);
        const int32_t n_draft = ctx->n_vocab;
        const int32_t n_common = std::min(n_draft, target->n_vocab);
        if (greedy) {
            float max_logit = -INFINITY;
            for (int32_t t = 0; t < n_draft; t++) max_logit = std::max(max_logit, logits[t]);
            double sum = 0;
            for (int32_t t = 0; t < n_draft; t++) sum += std::exp((double) (logits[t] - max_logit));
            for (int32_t t = 0; t < n_common; t++) {
                if (c.token < 0 || logits[t] > logits[c.token]) {
                    c.second = c.token;
                    c.token = t;
                } else if (c.second < 0 || logits[t] > logits[c.second]) {
                    c.second = t;
                }
            }
            if (c.token >= 0) c.p_top = (float) (std::exp((double) (logits[c.token] - max_logit)) / sum);
            if (c.second >= 0) c.p_second = (float) (std::exp((double) (logits[c.second] - max_logit)) / sum);
            return c;
        }
        cur.resize((size_t) n_draft);
        for (int32_t t = 0; t < n_draft; t++) cur[(size_t) t] = {t, logits[t], 0.0f};
        llama_token_data_array arr = {cur.data(), cur.size(), -1, false};
        llama_sampler_apply(filter, &arr);
        float max_logit = -INFINITY;
        for (size_t i = 0; i < arr.size; i++) {
            if (arr.data[i].id < n_common) max_logit = std::max(max_logit, arr.data[i].logit);
        }
        q.assign((size_t) target->n_vocab, 0.0f);
        if (max_logit == -INFINITY) return c;
        double sum = 0;
        for (size_t i = 0; i < arr.size; i++) {
            const llama_token t = arr.data[i].id;
            if (t >= n_common || arr.data[i].logit == -INFINITY) continue;
            q[(size_t) t] = (float) std::exp((double) (arr.data[i].logit - max_logit));
            sum += q[(size_t) t];
        }
        for (float & v : q) {
            v = (float) (v / sum);
            c.p_top = std::max(c.p_top, v);
        }
        // inverse CDF over q itself: the node must carry exactly the distribution it was drawn from
        double u = sd_uniform(rng), acc = 0;
        for (int32_t t = 0; t < target->n_vocab; t++) {
            if (q[(size_t) t] <= 0.0f) continue;
            acc += q[(size_t) t];
            c.token = t;
            if (u < acc) break;
        }
        return c;
    }

    void draft(const std::vector<llama_token> & history, int32_t max_nodes, int32_t max_depth,
               sd_draft_tree & out) override {
        sd_tree_clear(out);
        if (ctx == nullptr || status != SD_OK || !known(history)) return;
        bool cancelled = false;
        status = sd_cache_load(ctx, history, &cancelled, error, nullptr);
        if (status != SD_OK || cancelled) return;
        // With the budget the chain stops where one more node no longer raises the expected tokens per
        // unit of time (the budget's own rule, so no draft decode is spent on nodes it would cut); the
        // rule looks only at the nodes so far, never at what is drawn after them (see sd_budget_select).
        double tokens = 1.0, path = 1.0;
        double best_rate = adaptive ? 1.0 / target->cost.cost(1) : 0.0;
        int32_t parent = -1;
        for (int32_t depth = 1; depth <= max_depth && sd_tree_size(out) < max_nodes; depth++) {
            sd_draft_choice c = choose();
            if (c.token < 0 || c.p_top < p_min) break;
            const int32_t bucket = draft_bucket(greedy, c.p_top);
            if (adaptive) {
                path *= target->accept.estimate(bucket, c.p_top);
                const double rate = (tokens + path) / target->cost.cost(sd_tree_size(out) + 2);
                if (rate <= best_rate) break;
                best_rate = rate;
                tokens += path;
            }
            const int32_t node = sd_tree_add(out, c.token, parent, c.p_top, bucket);
            if (!greedy) {
                out.q[(size_t) node].swap(q);
            } else if (c.p_top < p_branch && c.second >= 0 && sd_tree_size(out) < max_nodes) {
                sd_tree_add(out, c.second, parent, c.p_second, draft_bucket(true, c.p_second));
            }
            parent = node;
            if (depth == max_depth || sd_tree_size(out) >= max_nodes) break; // the last token needs no decode
            status = sd_decode_tokens(ctx, &c.token, 1, &cancelled, error);
            if (status != SD_OK || cancelled) break; // the chain so far stays valid
        }
    }
};

sd_drafter * sd_drafter_draft_model_init(sd_session * target, sd_model * draft) {
    return new sd_drafter_draft_model(target, draft);
}
