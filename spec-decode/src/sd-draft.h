// Draft trees and the drafter interface.
//
// A drafter proposes, for the next step, a tree of candidate continuations of the current token
// (the root, which is not part of the tree). Chain drafts are trees with one branch. The verifier
// evaluates root and tree in one llama_decode and keeps the longest path the target model agrees with.
#pragma once

#include "spec-decode.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct sd_draft_tree {
    std::vector<llama_token> token;  // [n] the node's token
    std::vector<int32_t>     parent; // [n] parent node, -1 = the root; parent[i] < i
    std::vector<float>       conf;   // [n] the drafter's estimate that the node is accepted given its parent is
    std::vector<int32_t>     bucket; // [n] the drafter's category of the node; acceptance is learnt per bucket
                                     //     (lookup 0..99, recycling 100..199, draft model 300..319: shared
                                     //     by all strategies)
    std::vector<std::vector<float>> q; // [n] the distribution (dense over the target's vocabulary) the
                                       //     node's token was drawn from; empty for deterministic nodes
};

void    sd_tree_clear(sd_draft_tree & tree);
int32_t sd_tree_size(const sd_draft_tree & tree);

// Adds a node; returns its index.
int32_t sd_tree_add(sd_draft_tree & tree, llama_token token, int32_t parent, float conf, int32_t bucket);

// Whether node i was drawn from a distribution q (then tree.q[i] holds it).
bool sd_tree_node_drawn(const sd_draft_tree & tree, int32_t i);

// Whether any node was drawn from a distribution.
bool sd_tree_has_drawn(const sd_draft_tree & tree);

// The child of `parent` (-1 = root) with this token, or -1.
int32_t sd_tree_find_child(const sd_draft_tree & tree, int32_t parent, llama_token token);

// Number of leaves (nodes without children).
int32_t sd_tree_leaves(const sd_draft_tree & tree);

// Depth of each node (children of the root have depth 1).
std::vector<int32_t> sd_tree_depths(const sd_draft_tree & tree);

// Keeps only the nodes with keep[i] true (a kept node's parent must be kept) and renumbers them.
sd_draft_tree sd_tree_subset(const sd_draft_tree & tree, const std::vector<bool> & keep);

// Tokens a drafter adds to a step's batch beside the tree for its own use (lookahead's Jacobi window).
// They form columns: each column is a sequence that sees the text and the root; a token belongs to
// the columns col_first..col_last and sits `offset` positions after the root.
struct sd_aux_batch {
    std::vector<llama_token> token;
    std::vector<int32_t>     offset;
    std::vector<int32_t>     col_first;
    std::vector<int32_t>     col_last;
    int32_t                  n_columns = 0;
};

void sd_aux_clear(sd_aux_batch & aux);

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

    // Proposes a tree of at most max_nodes nodes and at most max_depth levels continuing `history`
    // (the prompt and every generated token, the root last).
    virtual void draft(const std::vector<llama_token> & history, int32_t max_nodes, int32_t max_depth,
                       sd_draft_tree & out) = 0;

    // Sees the evaluated step: its logits (all positions, accepted or not) and what was accepted.
    virtual void observe(const sd_step_view & /*step*/) {}

    // Whether observe() needs the logits of every tree position.
    virtual bool wants_logits() const { return false; }

    // Whether draft() needs the target model's last hidden state (the embeddings after the final
    // norm at the position whose logits gave the root); hidden() then receives it before each draft.
    virtual bool wants_hidden() const { return false; }
    virtual void hidden(const float * /*h*/, int32_t /*n_embd*/) {}

    // Auxiliary tokens: a full set has aux_columns() columns of aux_column_tokens() tokens each; the
    // budget chooses how many columns a step evaluates (0 to all).
    virtual int32_t aux_columns() const { return 0; }
    virtual int32_t aux_column_tokens() const { return 0; }

    // What one evaluated auxiliary token is worth, in draft tokens accepted later (learnt).
    virtual double aux_value() const { return 0.0; }

    // The auxiliary tokens of the first n_columns columns (called after draft(), before the step).
    virtual void aux(int32_t /*n_columns*/, sd_aux_batch & out) { sd_aux_clear(out); }
};

// Prompt lookup: matches the last n tokens (n from max_ngram down to min_ngram) earlier in the history
// and proposes what followed; up to max_branches distinct matches become sibling branches.
sd_drafter * sd_drafter_lookup_init(int32_t min_ngram, int32_t max_ngram, int32_t max_branches);

// Token Recycling (Luo et al. 2024): an adjacency matrix holding, for each token, the top-k tokens the
// target model predicted after it, refreshed from every step's logits; the draft is a walk over the
// matrix along a static tree template.
// k successors are kept per token (at most 8).
sd_drafter * sd_drafter_recycling_init(int32_t k, int32_t n_vocab);

// Lookahead decoding (Fu et al. 2024): a Jacobi window of w columns and n - 1 levels of guesses is
// evaluated beside the tree each step; every column's trajectory leaves an n-gram in a pool, and up to
// g pooled n-grams starting with the current token become the draft.
sd_drafter * sd_drafter_lookahead_init(int32_t w, int32_t n, int32_t g);

// Medusa heads (Cai et al. 2024): head k predicts the token k + 1 after the root from the target's
// last hidden state; the draft is a tree over the heads' top_k candidates per depth, grown best-first
// by the heads' probabilities (dynamic) or by their measured per-rank accuracy (static, Medusa's
// sparse tree; a prior when the file has no accuracies). Fails (nullptr, error set) when the heads'
// backend cannot start.
struct sd_heads_data;
struct ggml_threadpool;
sd_drafter * sd_drafter_medusa_init(const std::shared_ptr<sd_heads_data> & heads, bool static_tree, int32_t top_k,
                                    int32_t n_threads, ggml_threadpool * threadpool, std::string & error);

// Draft model: a second model with the same vocabulary continues the text in its own context (kept by
// the target session, whose settings, threads and cancellation it shares; its KV cache follows the
// accepted tokens). It proposes a chain, one draft decode per token, stopping where its top token is
// less likely than spec.draft_p_min, at max_depth, or where the budget says a longer chain does not
// pay. Greedy: the chain is its argmax, with the runner-up as a sibling leaf where the top token is
// less likely than spec.draft_p_branch. Sampling: each token is drawn from its distribution q (the
// generation's temperature, top-k, top-p and min-p without penalties), stored in the node, so that the
// verifier accepts by rejection sampling against q. conf is the top token's draft probability, buckets
// 300 + its decile (greedy) and 310 + its decile (sampling).
sd_drafter * sd_drafter_draft_model_init(sd_session * target, sd_model * draft);

// All of the above in one tree: their candidates are merged and the budget keeps the nodes whose
// learnt acceptance pays for their cost, and the lookahead window when its value does. The drafters
// are not owned.
sd_drafter * sd_drafter_auto_init(sd_drafter * lookup, sd_drafter * recycling, sd_drafter * lookahead);
