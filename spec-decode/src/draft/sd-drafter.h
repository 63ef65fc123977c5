// The drafter interface. A drafter proposes, for the next step, a tree of candidate continuations of
// the current token; the verifier (engine/sd-verify.h) evaluates it and shows the drafter what the
// target model predicted, so that drafters can learn.
#pragma once

#include "draft/sd-tree.h"
#include "spec-decode.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct sd_budget;
struct sd_context;
struct sd_heads_data;
struct ggml_threadpool;

// Buckets: the category of a draft node, whose acceptance the budget learns (engine/sd-budget.h).
// Each drafter owns the range from its value up to the next one:
enum sd_bucket : int32_t {
    SD_BUCKET_LOOKUP      = 0,   // + min(n-gram, 4) * 16 + min(depth, 15): matches in the text itself
    SD_BUCKET_CORPUS      = 80,  // sd_corpus_bucket: prompt lookup's matches in a corpus index
    SD_BUCKET_RECYCLING   = 100, // + min(depth, 7) * 8 + rank
    SD_BUCKET_LOOKAHEAD   = 200, // + min(depth, 99)
    SD_BUCKET_DRAFT_MODEL = 300, // + decile of the node's draft probability: + 0 greedy, + 10 drawn, + 20 runner-up
    SD_BUCKET_MEDUSA      = 400, // + head * 10 + decile of the head's probability (16 heads at most)
    SD_BUCKET_END         = 600,
};

// Whether a bucket lies in the range of a drafter's base bucket.
bool sd_bucket_in(int32_t bucket, sd_bucket base);

// The base bucket of the range a bucket lies in (SD_BUCKET_END for buckets outside every range).
sd_bucket sd_bucket_base(int32_t bucket);

// The kind of node a bucket holds, the group whose acceptance record a bucket starts from: for the
// draft model (top token, drawn token, runner-up) and Medusa (one head) the buckets' decade, whose ten
// buckets differ only by the decile of the drafter's probability; for the other drafters the range
// itself.
int32_t sd_bucket_kind(int32_t bucket);

// The decile of a probability, 0..9.
int32_t sd_decile(float p);

// The bucket of a node drafted from a corpus index at `depth` (1 = the first level) on a branch whose
// first token continued `share` of the corpus's sampled matches: SD_BUCKET_CORPUS + class * 5 +
// min(depth, 5) - 1, the class the quarter of the share (0..3). The corpus is a kind of its own, so its
// record and exploration are not the text's lookups' (which the budget tries and learns far more often),
// and a branch most matches agree on is learnt apart from a rare one.
int32_t sd_corpus_bucket(int32_t depth, float share);

// What one draft asks of a drafter.
struct sd_draft_request {
    const std::vector<llama_token> & history;   // the prompt and every generated token, the root last
    int32_t                          max_nodes; // at most this many nodes
    int32_t                          max_depth; // and this many levels
    const sd_budget *                budget;    // the session's budget, NULL when it is off: a drafter
                                                // that pays for every node (a draft model) stops where
                                                // one more would not pay
    llama_sampler *                  grammar = nullptr; // the generation's grammar after the root, NULL
                                                // when there is none; a drafter may clone it to propose
                                                // only allowed tokens (it must not change it)
};

// What a drafter sees of a verification step, to learn from the target model's own predictions.
struct sd_step_view {
    const llama_token * tokens;   // [n] input tokens of the batch: the root first, then the tree's nodes
    const float * const * logits; // [n] the target model's logits after each input token; nullptr
                                  //     unless the drafter wants_logits()
    int32_t             n;
    int32_t             n_vocab;
    const sd_draft_tree * tree;   // the tree that was evaluated
    const int32_t *     accepted; // [n_accepted] its accepted nodes, root to leaf
    int32_t             n_accepted;
    const float * const * aux_logits; // [n_aux] logits after each auxiliary token, in the order given
    int32_t             n_aux;
};

struct sd_drafter {
    virtual ~sd_drafter() = default;

    virtual const char * name() const = 0;

    // Prepares a generation of `prompt` with these settings and the generation's seed (the draft model:
    // its context, its sampling filters, the prompt in its KV cache). A failure ends sd_generation_begin.
    virtual sd_status begin(const std::vector<llama_token> & /*prompt*/, const sd_generation_params & /*params*/,
                            uint64_t /*seed*/, std::string & /*error*/) { return SD_OK; }

    // The failure of the last draft() (a draft model's llama_decode), then forgotten; SD_OK when none.
    virtual sd_status take_error(std::string & /*error*/) { return SD_OK; }

    // Proposes a tree continuing the request's history.
    virtual void draft(const sd_draft_request & request, sd_draft_tree & out) = 0;

    // Sees the evaluated step: its logits (all positions, accepted or not) and what was accepted.
    virtual void observe(const sd_step_view & /*step*/) {}

    // Whether observe() needs the logits of every tree position.
    virtual bool wants_logits() const { return false; }

    // What the drafter has learnt, for a saved session (engine/sd-session-file.cpp); empty when it
    // keeps nothing worth saving.
    virtual std::string learnt() const { return {}; }

    // Takes back what learnt() returned, from a drafter made with the same settings; false (and nothing
    // changed) when the data does not fit.
    virtual bool relearn(const std::string & data) { return data.empty(); }

    // Whether draft() needs the target model's last hidden state (the embeddings after the final
    // norm at the position whose logits gave the root); hidden() then receives, before each draft, the
    // hidden states of the positions the last evaluation kept (the prompt's last; a step's root and
    // accepted nodes), oldest first: rows[i] is the text's position last_pos - n + 1 + i, rows[n - 1]
    // the one whose logits gave the root. A row is null when the evaluation did not keep it.
    virtual bool wants_hidden() const { return false; }
    virtual void hidden(const float * const * /*rows*/, int32_t /*n*/, int32_t /*n_embd*/, int32_t /*last_pos*/) {}

    // Auxiliary tokens: a full set has aux_columns() columns of aux_column_tokens() tokens each; the
    // budget chooses how many columns a step evaluates (0 to all).
    virtual int32_t aux_columns() const { return 0; }
    virtual int32_t aux_column_tokens() const { return 0; }

    // What one evaluated auxiliary token is worth, in draft tokens accepted later (learnt).
    virtual double aux_value() const { return 0.0; }

    // The auxiliary tokens of the first n_columns columns (called after draft(), before the step).
    virtual void aux(int32_t /*n_columns*/, sd_aux_batch & out) { sd_aux_clear(out); }

    // Whether drafting costs evaluations even when it proposes nothing (a draft model): the budget
    // then backs off after empty drafts too.
    virtual bool costs_when_empty() const { return false; }
};

// Prompt lookup: matches the last n tokens (n from max_ngram down to min_ngram) earlier in the history
// and proposes what followed; up to max_branches distinct matches become sibling branches.
sd_drafter * sd_drafter_lookup_init(const sd_lookup_params & params);

// Token Recycling (Luo et al. 2024): an adjacency matrix holding, for each token, the top-k tokens the
// target model predicted after it, refreshed from every step's logits; the draft is a walk over the
// matrix along a static tree template.
sd_drafter * sd_drafter_recycling_init(const sd_recycling_params & params, int32_t n_vocab);

// Lookahead decoding (Fu et al. 2024): a Jacobi window of w columns and n - 1 levels of guesses is
// evaluated beside the tree each step; every column's trajectory leaves an n-gram in a pool, and up to
// g pooled n-grams starting with the current token become the draft.
sd_drafter * sd_drafter_lookahead_init(const sd_lookahead_params & params);

// Medusa heads (Cai et al. 2024): head k predicts the token k + 1 after the root from the target's
// last hidden state; the draft is a tree over the heads' top_k candidates per depth, grown best-first
// by the heads' probabilities (dynamic) or by their measured per-rank accuracy (static, Medusa's
// sparse tree; a prior when the file has no accuracies). On the CPU the heads compute on `threadpool`
// (the session's) or, without one, on n_threads threads of their own; with `follow` (the session's
// thread count, which automatic threads change) on that many threads, read before each evaluation.
// Fails (nullptr, error set) when the heads' backend cannot start.
sd_drafter * sd_drafter_medusa_init(const std::shared_ptr<sd_heads_data> & heads, const sd_medusa_params & params,
                                    int32_t n_threads, ggml_threadpool * threadpool,
                                    const std::atomic<int32_t> * follow, std::string & error);

// Draft model: a second model with the same vocabulary continues the text in a context of its own,
// made like `target` (its settings) and following it (its threads and cancellation); its KV cache
// follows the accepted tokens. It proposes a chain, one draft decode per token, stopping where its
// top token is less likely than p_min, at max_depth, or where the request's budget says a longer
// chain does not pay. Greedy: the chain is its argmax, with the runner-up as a sibling leaf where the
// top token is less likely than p_branch. Sampling: each token is drawn from its distribution q
// (the generation's temperature, top-k, top-p and min-p without penalties), stored in the node, so
// that the verifier accepts by rejection sampling against q.
sd_drafter * sd_drafter_draft_model_init(sd_context * target, sd_model * draft);

// All of the above but the model-based ones in one tree: their candidates are merged and the budget
// keeps the nodes whose learnt acceptance pays for their cost, and the lookahead window when its
// value does. The drafters are not owned.
sd_drafter * sd_drafter_auto_init(sd_drafter * lookup, sd_drafter * recycling, sd_drafter * lookahead);
