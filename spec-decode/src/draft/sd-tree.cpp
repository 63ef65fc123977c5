#include "draft/sd-tree.h"

#include <algorithm>

void sd_tree_clear(sd_draft_tree & tree) {
    tree.token.clear();
    tree.parent.clear();
    tree.conf.clear();
    tree.bucket.clear();
    tree.q.clear();
}

void sd_aux_clear(sd_aux_batch & aux) {
    aux.token.clear();
    aux.offset.clear();
    aux.col_first.clear();
    aux.col_last.clear();
    aux.n_columns = 0;
}

int32_t sd_tree_size(const sd_draft_tree & tree) {
    return (int32_t) tree.token.size();
}

int32_t sd_tree_add(sd_draft_tree & tree, llama_token token, int32_t parent, float conf, int32_t bucket) {
    tree.token.push_back(token);
    tree.parent.push_back(parent);
    tree.conf.push_back(conf);
    tree.bucket.push_back(bucket);
    tree.q.resize(tree.token.size());
    return (int32_t) tree.token.size() - 1;
}

bool sd_tree_node_drawn(const sd_draft_tree & tree, int32_t i) {
    return i >= 0 && (size_t) i < tree.q.size() && !tree.q[(size_t) i].empty();
}

bool sd_tree_has_drawn(const sd_draft_tree & tree) {
    for (int32_t i = 0; i < sd_tree_size(tree); i++) {
        if (sd_tree_node_drawn(tree, i)) return true;
    }
    return false;
}

int32_t sd_tree_find_child(const sd_draft_tree & tree, int32_t parent, llama_token token) {
    for (size_t i = 0; i < tree.token.size(); i++) {
        if (tree.parent[i] == parent && tree.token[i] == token) return (int32_t) i;
    }
    return -1;
}

std::vector<int32_t> sd_tree_depths(const sd_draft_tree & tree) {
    std::vector<int32_t> depth(tree.token.size());
    for (size_t i = 0; i < tree.token.size(); i++) {
        depth[i] = tree.parent[i] < 0 ? 1 : depth[(size_t) tree.parent[i]] + 1;
    }
    return depth;
}

sd_draft_tree sd_tree_subset(const sd_draft_tree & tree, const std::vector<bool> & keep) {
    sd_draft_tree out;
    std::vector<int32_t> index(tree.token.size(), -1);
    for (size_t i = 0; i < tree.token.size(); i++) {
        if (!keep[i]) continue;
        const int32_t p = tree.parent[i];
        if (p >= 0 && index[(size_t) p] < 0) continue; // parent dropped: the node cannot stay
        index[i] = sd_tree_add(out, tree.token[i], p < 0 ? -1 : index[(size_t) p], tree.conf[i], tree.bucket[i]);
        if (sd_tree_node_drawn(tree, (int32_t) i)) out.q[(size_t) index[i]] = tree.q[i];
    }
    return out;
}

int32_t sd_tree_leaves(const sd_draft_tree & tree) {
    std::vector<bool> has_child(tree.token.size(), false);
    for (int32_t p : tree.parent) {
        if (p >= 0) has_child[(size_t) p] = true;
    }
    return (int32_t) std::count(has_child.begin(), has_child.end(), false);
}
