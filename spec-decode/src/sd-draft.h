// Draft trees and the drafter interface.
//
// A drafter proposes, for the next step, a tree of candidate continuations of the current token
// (the root, which is not part of the tree). Chain drafts are trees with one branch. The verifier
// evaluates root and tree in one llama_decode and keeps the longest path the target model agrees with.
#pragma once

#include "llama.h"

#include <cstdint>
#include <string>
#include <vector>

struct sd_draft_tree {
    std::vector<llama_token> token;  // [n] the node's token
    std::vector<int32_t>     parent; // [n] parent node, -1 = the root; parent[i] < i
    std::vector<float>       conf;   // [n] the drafter's estimate that the node is accepted given its parent is
    std::vector<int32_t>     bucket; // [n] the drafter's category of the node; acceptance is learnt per bucket
                                     //     (lookup 0..99, recycling 100..199: shared by all strategies)
};

void    sd_tree_clear(sd_draft_tree & tree);
int32_t sd_tree_size(const sd_draft_tree & tree);

// Adds a node; returns its index.
int32_t sd_tree_add(sd_draft_tree & tree, llama_token token, int32_t parent, float conf, int32_t bucket);

// The child of `parent` (-1 = root) with this token, or -1.
int32_t sd_tree_find_child(const sd_draft_tree & tree, int32_t parent, llama_token token);

// Depth of each node (children of the root have depth 1).
std::vector<int32_t> sd_tree_depths(const sd_draft_tree & tree);

// Keeps only the nodes with keep[i] true (a kept node's parent must be kept) and renumbers them.
sd_draft_tree sd_tree_subset(const sd_draft_tree & tree, const std::vector<bool> & keep);

// What a drafter sees of a verification step, to learn from the target model's own predictions.
struct sd_step_view {
    const llama_token * tokens;   // [n] input tokens of the batch: the root first, then the tree's nodes
    const float * const * logits; // [n] the target model's logits after each input token
    int32_t             n;
    int32_t             n_vocab;
};

struct sd_drafter {
    virtual ~sd_drafter() = default;

    virtual const char * name() const = 0;

    // Proposes a tree of at most max_nodes nodes and at most max_depth levels continuing `history`
    // (the prompt and every generated token, the root last).
    virtual void draft(const std::vector<llama_token> & history, int32_t max_nodes, int32_t max_depth,
                       sd_draft_tree & out) = 0;

    // Sees the step's logits (all positions, accepted or not) once it was evaluated.
    virtual void observe(const sd_step_view & /*step*/) {}

    // Whether observe() needs the logits of every position (they are then copied out of llama.cpp).
    virtual bool wants_logits() const { return false; }
};

// Prompt lookup: matches the last n tokens (n from max_ngram down to min_ngram) earlier in the history
// and proposes what followed; up to max_branches distinct matches become sibling branches.
sd_drafter * sd_drafter_lookup_init(int32_t min_ngram, int32_t max_ngram, int32_t max_branches);

// Token Recycling (Luo et al. 2024): an adjacency matrix holding, for each token, the top-k tokens the
// target model predicted after it, refreshed from every step's logits; the draft is a walk over the
// matrix along a static tree template.
// k successors are kept per token (at most 8).
sd_drafter * sd_drafter_recycling_init(int32_t k, int32_t n_vocab);

// Both of the above in one tree: their candidates are merged and the budget keeps the nodes whose
// learnt acceptance pays for their cost. The drafters are not owned.
sd_drafter * sd_drafter_auto_init(sd_drafter * lookup, sd_drafter * recycling);
