// Prompt lookup: text that appeared before tends to appear again (code, quotes, names, edits).
#include "draft/sd-drafter.h"
#include "draft/sd-corpus.h"

#include <algorithm>
#include <unordered_map>

struct sd_drafter_lookup : sd_drafter {
    sd_lookup_params params;

    std::shared_ptr<const sd_corpus_data> corpus; // the index's mapping, kept while this drafter lives

    explicit sd_drafter_lookup(const sd_lookup_params & p) : params(p), corpus(sd_corpus_share(p.corpus)) {
        params.corpus = nullptr; // never read through the handle, which may be freed before this drafter
    }

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
        if (corpus) draft_corpus(history, max_nodes, max_depth, out);
    }

    // What followed the longest matching suffix in the corpus: one branch per distinct next token, the
    // most frequent first, each the continuation of its first occurrence among the sampled matches.
    void draft_corpus(const std::vector<llama_token> & history, int32_t max_nodes, int32_t max_depth,
                      sd_draft_tree & out) {
        if (history.empty() || sd_tree_size(out) >= max_nodes) return;
        const int32_t ngram = sd_corpus_continuations(corpus.get(), history.data(), (int32_t) history.size(),
                                                      params.min_ngram, params.max_ngram, max_depth, 64, matches);
        if (ngram == 0) return;
        std::unordered_map<llama_token, int32_t> count;
        for (const sd_corpus_match & m : matches) count[m.tokens[0]]++;
        std::vector<size_t> order(matches.size());
        for (size_t i = 0; i < order.size(); i++) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return count[matches[a].tokens[0]] > count[matches[b].tokens[0]]; });
        int32_t branches = 0;
        for (size_t i : order) {
            const sd_corpus_match & m = matches[i];
            if (branches >= params.max_branches || sd_tree_size(out) >= max_nodes) break;
            if (count[m.tokens[0]] < 0) continue; // one branch per first token
            const float share = (float) count[m.tokens[0]] / (float) matches.size();
            count[m.tokens[0]] = -1;
            int32_t parent = -1;
            for (int32_t d = 0; d < m.len && sd_tree_size(out) < max_nodes; d++) {
                const int32_t child = sd_tree_find_child(out, parent, m.tokens[d]);
                if (child >= 0) {
                    parent = child;
                    continue;
                }
                const float conf = share * std::min(0.9f, 0.3f + 0.12f * (float) ngram) * (d == 0 ? 1.0f : 0.9f);
                parent = sd_tree_add(out, m.tokens[d], parent, conf, sd_corpus_bucket(d + 1, share));
            }
            branches++;
        }
    }

    std::vector<sd_corpus_match> matches; // scratch

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
