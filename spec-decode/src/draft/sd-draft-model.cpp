// Draft model: a second, smaller model with the target's vocabulary guesses the next tokens in a
// context of its own. Its KV cache follows the text: before each draft it is made to hold the target's
// tokens and the root (the common prefix is kept, the rejected rest removed, only what is missing
// evaluated), then the chain is extended one draft decode per token. With the budget, its own decodes
// count in a chain's cost, and a draft model that cannot pay stops drafting and catching up (judge()).
#include "draft/sd-drafter.h"
#include "engine/sd-budget.h"
#include "engine/sd-context.h"
#include "engine/sd-sampling.h"
#include "model/sd-log.h"

#include <algorithm>
#include <cmath>
#include <memory>

namespace {

// What the draft model proposes at one position.
struct draft_choice {
    llama_token token  = LLAMA_TOKEN_NULL; // the chain's token (argmax, or drawn from q)
    float       p_top  = 0.0f;             // probability of the draft model's top token
    llama_token second = LLAMA_TOKEN_NULL; // greedy: the runner-up
    float       p_second = 0.0f;
};

// The kinds of node a draft model proposes, each with buckets by the decile of its probability.
enum draft_kind { DRAFT_TOP = 0, DRAFT_DRAWN = 10, DRAFT_RUNNER_UP = 20 };

int32_t draft_bucket(draft_kind kind, float p) {
    return SD_BUCKET_DRAFT_MODEL + kind + sd_decile(p);
}

struct draft_model_drafter : sd_drafter {
    sd_context * target;
    sd_model   * model;
    sd_context * ctx = nullptr; // the draft model's context, created by the first begin()

    // the generation's settings
    bool            greedy   = true;
    float           p_min    = 0.0f;
    float           p_branch = 0.0f;
    llama_sampler * filter   = nullptr; // sampling: top-k, top-p, min-p, temperature (no penalties)
    sd_rng          rng;

    sd_status   status = SD_OK; // of the last draft()
    std::string error;
    double      cost_ratio = 0; // a decode of the draft model over the model's of as many tokens (running
                                // average; 0: none yet)
    int32_t     n_decodes = 0;  // decodes timed (the first, a warm-up, is not counted)
    // With the budget (judge()): no chain can pay on this device, even accepted whole, so no drafting
    // and no catching up for the rest of the session; or drafting keeps being cut and catching up is
    // dear, so none for this generation.
    bool        too_dear  = false;
    bool        retired   = false;

    std::vector<llama_token_data> scratch;
    std::vector<std::pair<float, int32_t>> top_scratch; // sd_filter_apply_top's scratch
    int32_t                       first_k = 0;         // sd_filter_first_k of filter
    sd_dist                       dist; // of the last choice
    sd_sparse_dist                q;    // sampling: the same, as the chain's node carries it

    draft_model_drafter(sd_context * t, sd_model * m) : target(t), model(m) {}

    ~draft_model_drafter() override {
        if (filter != nullptr) llama_sampler_free(filter);
        sd_context_free(ctx);
    }

    const char * name() const override { return "draft-model"; }

    bool costs_when_empty() const override { return true; }

    sd_status begin(const std::vector<llama_token> & prompt, const sd_generation_params & params, uint64_t seed,
                    std::string & err) override {
        if (ctx == nullptr) {
            std::string reason;
            const sd_status st = sd_context_init(model, target->params, &ctx, reason);
            if (st != SD_OK) {
                return sd_fail(err, st, "could not create the draft model's context: " + reason);
            }
            sd_context_follow(ctx, target);
        }
        retired  = false;
        greedy   = params.temperature == 0.0f;
        p_min    = params.spec.draft.p_min;
        p_branch = params.spec.draft.p_branch;
        if (filter != nullptr) llama_sampler_free(filter);
        filter = greedy ? nullptr : sd_filter_init(ctx->n_vocab, params, true);
        first_k = sd_filter_first_k(params, true);
        rng.seed(seed ^ 0xD1B54A32D192ED03ull); // independent of the verifier's draws
        status = SD_OK;
        // the prompt now, so that drafting's cost per step is what the budget sees
        bool cancelled = false;
        if (!(too_dear && params.spec.adaptive) && known(prompt)) {
            const sd_status st = sd_context_load(ctx, prompt, &cancelled, nullptr, error);
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
        for (llama_token t : tokens) {
            if (t < 0 || t >= ctx->n_vocab) return false;
        }
        return !tokens.empty();
    }

    // The draft model's choice after its last evaluated token. Only tokens the target has are proposed.
    // Sampling fills q (the tokens the target has that the filters leave) and draws the token from it.
    // With a grammar (the generation's, followed along the chain) only the tokens it allows are
    // candidates: the chain's q is then the draft model's distribution restricted to them, which
    // rejection sampling verifies as exactly as any other.
    draft_choice choose(llama_sampler * grammar) {
        draft_choice c;
        const float * logits = llama_get_logits_ith(ctx->ctx, -1);
        const int32_t n_common = std::min(ctx->n_vocab, target->n_vocab);
        const auto candidates = [&](llama_sampler * filter_) {
            if (grammar == nullptr && filter_ != nullptr) {
                // the filters begin with top-k: the k largest logits only (sd_filter_apply_top)
                return sd_filter_apply_top(filter_, first_k, logits, ctx->n_vocab, scratch, top_scratch);
            }
            llama_token_data_array arr = sd_filter_apply(nullptr, logits, ctx->n_vocab, scratch);
            if (grammar != nullptr) {
                arr.size = (size_t) n_common; // the grammar knows the target's tokens (ids in order here)
                llama_sampler_apply(grammar, &arr);
            }
            if (filter_ != nullptr) llama_sampler_apply(filter_, &arr);
            return arr;
        };
        if (greedy && grammar == nullptr) {
            // the draft model's own probabilities, over its whole vocabulary, of its two likeliest tokens
            // among those the target has, read from the logits: a softmax of a copy of them cost 1.3 ms a
            // drafted token at a vocabulary of 152,064 (0.19 ms this way), and only two of its
            // probabilities were used
            llama_token second = -1;
            const llama_token top = sd_logits_argmax(logits, n_common, &second);
            if (top < 0) return c;
            float max = logits[top];
            if (ctx->n_vocab > n_common) {
                const llama_token above = sd_logits_argmax(logits + n_common, ctx->n_vocab - n_common);
                if (above >= 0) max = std::max(max, logits[n_common + above]);
            }
            const double sum = sd_logits_exp_sum(logits, ctx->n_vocab, max);
            c.token = top;
            c.p_top = (float) (std::exp((double) (logits[top] - max)) / sum);
            if (second >= 0) {
                c.second = second;
                c.p_second = (float) (std::exp((double) (logits[second] - max)) / sum);
            }
            return c;
        }
        if (greedy) {
            // the same under a grammar, over the tokens it allows
            sd_softmax(candidates(nullptr), ctx->n_vocab, dist);
            for (size_t i = 0; i < dist.tokens.size(); i++) {
                const llama_token t = dist.tokens[i];
                if (t >= n_common) continue;
                if (c.token < 0 || logits[t] > logits[c.token]) {
                    c.second = c.token;
                    c.p_second = c.p_top;
                    c.token = t;
                    c.p_top = dist.probs[i];
                } else if (c.second < 0 || logits[t] > logits[c.second]) {
                    c.second = t;
                    c.p_second = dist.probs[i];
                }
            }
            return c;
        }
        sd_softmax(candidates(filter), n_common, dist);
        q.clear();
        if (dist.tokens.empty()) return c;
        for (size_t i = 0; i < dist.tokens.size(); i++) {
            c.p_top = std::max(c.p_top, dist.probs[i]);
            if (dist.probs[i] > 0.0f) q.push_back({dist.tokens[i], dist.probs[i]});
        }
        std::sort(q.begin(), q.end());
        // inverse CDF over q itself, in the order of the ids: the node must carry exactly the
        // distribution it was drawn from
        double u = sd_uniform(rng), acc = 0;
        for (const auto & d : q) {
            acc += d.second;
            c.token = d.first;
            if (u < acc) break;
        }
        return c;
    }

    // Times one decode of the draft model that evaluated n tokens, against the model's cost of as many
    // (catching up after a pause evaluates several, and it is then the only decode of a step). A stall
    // of the machine (sd_cost_model, SD_COST_RISE) can hold any decode for 100-200 ms: the first three
    // timed keep the fastest, and later ones count at most SD_COST_RISE times the ratio so far.
    // Counted in full, one such stall against the model's 26 ms would put a ratio of 0.02 at 0.8 x
    // 0.02 + 0.2 x 7.7 = 1.56, and judge() drops a draft model whose ratio reaches 1 for the session.
    void observe_decode(int64_t t0, size_t n, const sd_cost_model & cost) {
        if (n < 1 || cost.empty()) return;
        const double r = (double) (llama_time_us() - t0) / cost.cost((int32_t) n);
        if (n_decodes++ == 0) return; // the first may allocate the graph
        if (n_decodes <= 4) {
            cost_ratio = cost_ratio == 0 ? r : std::min(cost_ratio, r);
        } else {
            cost_ratio = 0.8 * cost_ratio + 0.2 * std::min(r, SD_COST_RISE * cost_ratio);
        }
    }

    // What a single-token decode of the draft model costs, in the cost model's microseconds.
    double decode_us(const sd_cost_model & cost) const {
        return cost.empty() ? 0.0 : cost_ratio * cost.cost(1);
    }

    // Whether no chain of up to max_depth nodes would raise the rate of plain decoding even if every
    // node were accepted, counting a decode of the draft model per node.
    bool never_pays(const sd_cost_model & cost, int32_t max_depth) const {
        const sd_rate rate(cost, decode_us(cost));
        for (int32_t n = 1; n <= max_depth; n++) {
            if ((double) (n + 1) / rate.step_cost(n) > rate.best) return false;
        }
        return true;
    }

    // Drafting costs more than it can give. A draft model as slow as the target (the target itself, an
    // early exit of most of its blocks on a small model) cannot pay even if every draft were accepted:
    // no more drafting in this session. Judged at once on the draft model's own cost (a decode as dear
    // as the target's single token's never pays, whatever the curve), and on the whole cost curve only
    // once the curve has followed SD_COST_SINGLE steps: its first points are single decodes made before
    // the session's first step, and on the 2-core CPU they put a 2-token batch of the Q8_0 scaled model
    // at 2.2 single tokens where the steps then took 1.3-1.8, so stories260K drafting for it (a decode
    // 0.01-0.03 of the target's) was judged too dear for the whole session in 5 of 16 runs of a draft
    // model (one strategy in one specbench process, 3 prompts of each set).
    // One whose drafts keep being cut (the budget backed off to its longest pause) and whose catching
    // up after such a pause costs more than 3 % of plain decoding over it: none for the rest of this
    // generation. Either way it stops catching up too, which after back-offs of 16 steps still took
    // 0.2-0.4 of the model's time on stories260K, drafting nothing.
    void judge(const sd_budget & budget, int32_t max_depth) {
        if (n_decodes < 4 || budget.cost.empty()) return;
        if (cost_ratio >= 1.0 || (budget.cost.steps >= SD_COST_SINGLE && never_pays(budget.cost, max_depth))) {
            too_dear = true;
            return;
        }
        const int32_t window = SD_BUDGET_MAX_PAUSE + 1;
        const double catch_up = cost_ratio * budget.cost.cost(window), plain = window * budget.cost.cost(1);
        if (budget.pause >= SD_BUDGET_MAX_PAUSE && catch_up > 0.03 * plain) retired = true;
    }

    void draft(const sd_draft_request & request, sd_draft_tree & out) override {
        sd_tree_clear(out);
        if (ctx == nullptr || status != SD_OK || !known(request.history)) return;
        if (request.budget != nullptr && (too_dear || retired)) return; // without the budget: every step
        bool cancelled = false;
        // catching up: what the text has beyond the prefix kept (usually the last step's bonus token)
        int32_t n_kept = 0;
        const int64_t t0 = llama_time_us();
        status = sd_context_load(ctx, request.history, &cancelled, &n_kept, error);
        if (status != SD_OK || cancelled) return;
        if (request.budget != nullptr) {
            observe_decode(t0, request.history.size() - (size_t) n_kept, request.budget->cost);
            judge(*request.budget, request.max_depth);
            if (too_dear || retired) return;
        }
        // With the budget the chain grows while one more node, or a continuation projected from it,
        // raises the expected tokens per unit of time (the budget's own rate and stopping rule, so no
        // draft decode is spent on nodes it would cut; sd_rate::add_looking_ahead), each node counting
        // one decode of the draft model besides its verification (the catch-up for the first, a chain
        // decode for the others), and greedy drafts offer the runner-up beside each node for the
        // budget's cut to keep or not. Without it, the chain stops below p_min and offers runner-ups
        // below p_branch. Either way the rule looks only at the nodes so far, never at what is drawn
        // after them (see sd_budget_select).
        static const sd_cost_model no_cost;
        const sd_budget * budget = request.budget;
        sd_rate rate(budget != nullptr ? budget->cost : no_cost, budget != nullptr ? decode_us(budget->cost) : 0.0,
                     budget != nullptr ? budget->forecast.margin() : 1.0);
        double path = 1.0;
        int32_t parent = -1;
        std::unique_ptr<llama_sampler, void (*)(llama_sampler *)> grammar(
            request.grammar != nullptr ? llama_sampler_clone(request.grammar) : nullptr, llama_sampler_free);
        for (int32_t depth = 1; depth <= request.max_depth && sd_tree_size(out) < request.max_nodes; depth++) {
            draft_choice c = choose(grammar.get());
            if (c.token < 0 || (budget == nullptr && c.p_top < p_min)) break;
            const int32_t bucket = draft_bucket(greedy ? DRAFT_TOP : DRAFT_DRAWN, c.p_top);
            bool last = false;
            if (budget != nullptr) {
                const double e = budget->rates.explore(bucket, c.p_top);
                path *= e;
                const int32_t more = std::min(request.max_depth - depth, request.max_nodes - sd_tree_size(out) - 1);
                const double before = rate.best;
                if (!rate.add_looking_ahead(path, e, depth, std::max(0, more))) break;
                // a kind tried little: the first length that pays is enough (SD_EXPLORE_TRIES)
                last = budget->rates.kind_tried(bucket) < SD_EXPLORE_TRIES && rate.best > before;
            }
            const int32_t node = sd_tree_add(out, c.token, parent, c.p_top, bucket);
            if (!greedy) {
                out.q[(size_t) node].swap(q);
            } else if ((budget != nullptr || c.p_top < p_branch) && c.second >= 0 && sd_tree_size(out) < request.max_nodes) {
                sd_tree_add(out, c.second, parent, c.p_second, draft_bucket(DRAFT_RUNNER_UP, c.p_second));
            }
            parent = node;
            if (last || depth == request.max_depth || sd_tree_size(out) >= request.max_nodes) break; // the last token needs no decode
            if (grammar != nullptr) llama_sampler_accept(grammar.get(), c.token);
            const int64_t t_eval = llama_time_us();
            status = sd_context_eval(ctx, &c.token, 1, false, &cancelled, error);
            if (budget != nullptr) observe_decode(t_eval, 1, budget->cost);
            if (status != SD_OK || cancelled) break; // the chain so far stays valid
        }
    }
};

} // namespace

sd_drafter * sd_drafter_draft_model_init(sd_context * target, sd_model * draft) {
    return new draft_model_drafter(target, draft);
}
