// Draft trees: candidate continuations of the current token (the root, which is not part of the
// tree). Chain drafts are trees with one branch. The verifier evaluates root and tree in one
// llama_decode and keeps the longest path the target model agrees with.
#pragma once

#include "engine/sd-accept.h"
#include "spec-decode.h"

#include <cstdint>
#include <vector>

struct sd_draft_tree {
    std::vector<llama_token> token;  // [n] the node's token
    std::vector<int32_t>     parent; // [n] parent node, -1 = the root; parent[i] < i
    std::vector<float>       conf;   // [n] the drafter's estimate that the node is accepted given its parent is
    std::vector<int32_t>     bucket; // [n] the drafter's category of the node (draft/sd-drafter.h, sd_bucket);
                                     //     the budget learns acceptance per bucket
    std::vector<sd_sparse_dist> q;   // [n] the distribution the node's token was drawn from; empty for
                                     //     deterministic nodes
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

