// Lookahead decoding (Fu et al. 2024). Beside the tree, each step evaluates a window of guesses:
// w columns of n - 1 levels. Column c is a sequence continuing the root: the first level's tokens
// 0..c, then its own levels 1..n-2, so level l of column c sits c + l + 1 positions after the root.
// The model's prediction after a column's last level is a new guess; the column then shifts up by one
// level (a Jacobi iteration), and the n tokens it held plus the new guess form an n-gram for the pool.
// Drafts are the pooled n-grams that start with the current token.
//
// Guesses are greedy predictions, whatever the sampler: the drafts are deterministic and the
// engine's acceptance keeps the output exact.
#include "draft/sd-drafter.h"
#include "engine/sd-sampling.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

// Before anything is observed, an evaluated guess is assumed to be worth this many accepted draft
// tokens later, with the weight of this many guesses (the paper's 7B runs with w = 15, n = 5 gained
// about one token per 60 guesses).
static constexpr double PRIOR_VALUE  = 0.02;
static constexpr double PRIOR_WEIGHT = 64.0;
// Older observations fade: each step multiplies the counts by this.
static constexpr double FADE = 0.995;

struct sd_drafter_lookahead : sd_drafter {
    int32_t w, levels, g;
    std::vector<llama_token> window; // [levels][w]
    bool ready = false;
    std::unordered_map<llama_token, std::vector<std::vector<llama_token>>> pool; // first token -> up to g
                                                                                   // continuations, newest first
    int32_t n_columns = 0; // columns in the current step
    double  gained = 0;    // pooled draft tokens accepted (faded)
    double  spent  = 0;    // guesses evaluated (faded)

    sd_drafter_lookahead(int32_t w_, int32_t n_, int32_t g_) : w(w_), levels(n_ - 1), g(g_) {}

    const char * name() const override { return "lookahead"; }

    int32_t aux_columns() const override { return w; }
    int32_t aux_column_tokens() const override { return levels; }
    double  aux_value() const override { return (gained + PRIOR_VALUE * PRIOR_WEIGHT) / (spent + PRIOR_WEIGHT); }

    void draft(const sd_draft_request & request, sd_draft_tree & out) override {
        sd_tree_clear(out);
        const std::vector<llama_token> & history = request.history;
        const int32_t max_nodes = request.max_nodes, max_depth = request.max_depth;
        n_columns = 0;
        if (history.empty()) return;
        if (!ready) {
            // the first guesses: tokens of the text, picked by a fixed scramble
            window.resize((size_t) (levels * w));
            for (size_t i = 0; i < window.size(); i++) {
                window[i] = history[(size_t) ((i * 2654435761u + 7) % history.size())];
            }
            ready = true;
        }
        auto it = pool.find(history.back());
        if (it == pool.end()) return;
        for (const std::vector<llama_token> & ngram : it->second) {
            int32_t parent = -1;
            const int32_t len = std::min((int32_t) ngram.size(), max_depth);
            for (int32_t d = 0; d < len && sd_tree_size(out) < max_nodes; d++) {
                const int32_t child = sd_tree_find_child(out, parent, ngram[(size_t) d]);
                parent = child >= 0 ? child
                                    : sd_tree_add(out, ngram[(size_t) d], parent, d == 0 ? 0.3f : 0.6f,
                                                  SD_BUCKET_LOOKAHEAD + std::min(d + 1, 99));
            }
        }
    }

    void aux(int32_t n, sd_aux_batch & out) override {
        sd_aux_clear(out);
        n_columns = std::min(n, w);
        out.n_columns = n_columns;
        for (int32_t l = 0; l < levels; l++) {
            for (int32_t c = 0; c < n_columns; c++) {
                out.token.push_back(window[(size_t) (l * w + c)]);
                out.offset.push_back(1 + c + l);
                out.col_first.push_back(c);
                // the first level is shared by the columns to its right
                out.col_last.push_back(l == 0 ? n_columns - 1 : c);
            }
        }
    }

    void observe(const sd_step_view & step) override {
        gained *= FADE;
        spent *= FADE;
        for (int32_t i = 0; i < step.n_accepted; i++) {
            if (sd_bucket_in(step.tree->bucket[(size_t) step.accepted[i]], SD_BUCKET_LOOKAHEAD)) gained += 1;
        }
        if (n_columns == 0 || step.n_aux != n_columns * levels) return;
        spent += step.n_aux;
        std::vector<llama_token> ngram((size_t) levels);
        for (int32_t c = 0; c < n_columns; c++) {
            const llama_token guess = argmax(step.aux_logits[(levels - 1) * n_columns + c], step.n_vocab);
            const llama_token first = window[(size_t) c];
            for (int32_t l = 1; l < levels; l++) ngram[(size_t) (l - 1)] = window[(size_t) (l * w + c)];
            ngram[(size_t) (levels - 1)] = guess;
            remember(first, ngram);
            for (int32_t l = 0; l + 1 < levels; l++) window[(size_t) (l * w + c)] = window[(size_t) ((l + 1) * w + c)];
            window[(size_t) ((levels - 1) * w + c)] = guess;
        }
        n_columns = 0;
    }

    void remember(llama_token first, const std::vector<llama_token> & ngram) {
        std::vector<std::vector<llama_token>> & list = pool[first];
        auto same = std::find(list.begin(), list.end(), ngram);
        if (same != list.end()) list.erase(same);
        list.insert(list.begin(), ngram);
        if ((int32_t) list.size() > g) list.resize((size_t) g);
    }

    static llama_token argmax(const float * logits, int32_t n_vocab) {
        const llama_token best = sd_logits_argmax(logits, n_vocab);
        return best < 0 ? 0 : best;
    }
};

sd_drafter * sd_drafter_lookahead_init(const sd_lookahead_params & params) {
    return new sd_drafter_lookahead(params.w, params.n, params.g);
}
