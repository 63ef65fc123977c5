// Prompt lookup: text that appeared before tends to appear again (code, quotes, names, edits).
#include "draft/sd-drafter.h"

#include <algorithm>

struct sd_drafter_lookup : sd_drafter {
    sd_lookup_params params;

    explicit sd_drafter_lookup(const sd_lookup_params & p) : params(p) {}

    const char * name() const override { return "lookup"; }

    void draft(const sd_draft_request & request, sd_draft_tree & out) override {
        sd_tree_clear(out);
        const std::vector<llama_token> & history = request.history;
        const int32_t max_nodes = request.max_nodes, max_depth = request.max_depth;
        const int32_t n = (int32_t) history.size();
        int32_t branches = 0;
        for (int32_t ngram = std::min(params.max_ngram, n - 1); ngram >= params.min_ngram; ngram--) {
            const llama_token * pattern = history.data() + n - ngram;
            // most recent occurrence first; the match must be followed by at least one token
            for (int32_t j = n - ngram - 1; j >= 0 && branches < params.max_branches; j--) {
                if (!std::equal(pattern, pattern + ngram, history.data() + j)) continue;
                const int32_t from = j + ngram;
                const int32_t len = std::min(max_depth, n - from);
                if (add_branch(out, history.data() + from, len, ngram, max_nodes)) branches++;
                if (sd_tree_size(out) >= max_nodes) return;
            }
        }
    }

    // Merges a continuation into the tree; returns true when it added a new first token or path.
    static bool add_branch(sd_draft_tree & tree, const llama_token * tokens, int32_t len, int32_t ngram,
                           int32_t max_nodes) {
        int32_t parent = -1;
        bool added = false;
        for (int32_t d = 0; d < len && sd_tree_size(tree) < max_nodes; d++) {
            const int32_t child = sd_tree_find_child(tree, parent, tokens[d]);
            if (child >= 0) {
                parent = child;
                continue;
            }
            // longer matches predict better; deeper tokens a little worse
            const float conf = std::min(0.9f, 0.3f + 0.12f * (float) ngram) * (d == 0 ? 1.0f : 0.9f);
            parent = sd_tree_add(tree, tokens[d], parent, conf, lookup_bucket(ngram, d + 1));
            added = true;
        }
        return added;
    }

    static int32_t lookup_bucket(int32_t ngram, int32_t depth) {
        return SD_BUCKET_LOOKUP + std::min(ngram, 4) * 16 + std::min(depth, 15);
    }
};

sd_drafter * sd_drafter_lookup_init(const sd_lookup_params & params) {
    return new sd_drafter_lookup(params);
}
