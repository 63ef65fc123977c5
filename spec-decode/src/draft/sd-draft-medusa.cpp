// Medusa heads as a drafter. The heads read the target's last hidden state; head k's candidates
// fill depth k + 1 of the tree (the heads do not see the tokens between, so every node at a depth
// has the same candidates). The tree is grown best-first over (depth, rank) paths: by the product
// of the heads' probabilities (dynamic) or of their measured accuracy per rank (static).
// Regressive heads read the root and the chain of the previous heads' best tokens, so their
// candidates hold only below that chain: the tree is the chain with its siblings.
// A feature drafter with an attention window keeps the hidden states of the last `window` positions it
// was shown, by position, and gives each draft the ones still in the window. It keeps their keys and
// values too (they depend on the position's hidden state and the token after it alone), so that a
// draft computes those of the positions new since the last draft only.
#include "draft/sd-drafter.h"
#include "engine/sd-sampling.h"
#include "heads/sd-heads.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <queue>

namespace {

// Default accuracy per (head, rank) when the heads file has none: of the order Medusa reports for
// trained heads (head 1 top-1 about 0.6), falling with the head and the rank.
float prior_accuracy(int32_t k, int32_t r) {
    return 0.6f * std::pow(0.75f, (float) k) * std::pow(0.45f, (float) r);
}

struct medusa_drafter final : sd_drafter {
    std::unique_ptr<sd_heads_evaluator> eval;
    int32_t n_heads = 0;
    int32_t n_vocab = 0;
    int32_t n_embd  = 0;
    int32_t top_k   = 0;
    bool    static_tree = false;
    bool    regressive = false;
    std::vector<llama_token> chain; // regressive: the tokens heads 1.. read (heads 0.. proposed)
    std::vector<float> accuracy;   // [n_heads * SD_HEADS_RANKS]

    std::vector<float> h;          // the last hidden state
    bool               have_h = false;
    int32_t            h_pos = -1; // its position in the text
    // an attention window: ring of the last hidden states shown, slot p % window for position p
    int32_t              window = 0;
    std::vector<float>   ring;      // [window * n_embd]
    std::vector<int32_t> ring_pos;  // [window] the position a slot holds, -1 = none
    // the keys and values computed for a slot's hidden state and the token after it
    std::vector<float>       ring_keys, ring_values; // [window * n_embd]
    std::vector<int32_t>     kv_pos;    // [window] the position they were computed for, -1 = none
    std::vector<llama_token> kv_token;  // [window] the token after it they were computed with
    std::vector<float>       win_hidden; // the window of one draft, entry j = position h_pos - j
    std::vector<llama_token> win_tokens;
    std::vector<uint8_t>     win_valid;
    std::vector<float>       win_keys, win_values;     // entries' kept keys and values
    std::vector<float>       fresh_keys, fresh_values; // those computed by the draft
    std::vector<float> logits;     // [n_heads * n_vocab]
    std::vector<std::vector<llama_token>> cand_token; // [n_heads][top_k]
    std::vector<std::vector<float>>       cand_prob;  // [n_heads][top_k]
    std::vector<std::pair<float, int32_t>> top_scratch; // sd_logits_top_k's scratch
    std::string error;
    const std::atomic<int32_t> * follow = nullptr; // the session's thread count

    const char * name() const override { return static_tree ? "medusa-static" : "medusa"; }
    bool wants_hidden() const override { return true; }

    void hidden(const float * const * rows, int32_t n, int32_t embd, int32_t last_pos) override {
        have_h = n > 0 && rows[n - 1] != nullptr && embd == n_embd;
        if (have_h) h.assign(rows[n - 1], rows[n - 1] + embd);
        h_pos = last_pos;
        for (int32_t i = 0; window > 0 && embd == n_embd && i < n; i++) {
            const int32_t p = last_pos - n + 1 + i;
            if (rows[i] == nullptr || p < 0) continue;
            const size_t slot = (size_t) (p % window);
            ring_pos[slot] = p;
            kv_pos[slot] = -1;
            std::memcpy(&ring[slot * (size_t) n_embd], rows[i], sizeof(float) * (size_t) n_embd);
        }
    }

    // A generation starts: what the window held belongs to another text, except the prompt's last
    // hidden state, shown just before.
    sd_status begin(const std::vector<llama_token> & /*prompt*/, const sd_generation_params & /*params*/,
                    uint64_t /*seed*/, std::string & /*error*/) override {
        for (int32_t slot = 0; slot < window; slot++) {
            if (ring_pos[(size_t) slot] != h_pos) ring_pos[(size_t) slot] = -1;
        }
        return SD_OK;
    }

    // The window of a draft whose root follows position h_pos in history: the entries up to the last
    // one without kept keys and values as hidden states, the rest as their keys and values.
    const sd_heads_window_input * window_input(const std::vector<llama_token> & history) {
        // entry 0 is h and the root; without the positions to match them, the window is that alone
        if (window == 0 || h_pos < 0 || (size_t) h_pos + 2 != history.size()) return nullptr;
        const size_t ne = (size_t) n_embd;
        int32_t n_fresh = 0;
        for (int32_t j = 0; j < window; j++) {
            const int32_t p = h_pos - j;
            const size_t slot = p >= 0 ? (size_t) (p % window) : 0;
            const bool valid = p >= 0 && ring_pos[slot] == p && (size_t) p + 1 < history.size();
            win_valid[(size_t) j] = valid;
            win_tokens[(size_t) j] = valid ? history[(size_t) p + 1] : 0;
            if (valid && (kv_pos[slot] != p || kv_token[slot] != win_tokens[(size_t) j])) n_fresh = j + 1;
        }
        if (!win_valid[0]) return nullptr;
        for (int32_t j = 0; j < window; j++) {
            if (!win_valid[(size_t) j]) continue;
            const size_t slot = (size_t) ((h_pos - j) % window), at = (size_t) j * ne;
            if (j < n_fresh) {
                std::memcpy(&win_hidden[at], &ring[slot * ne], sizeof(float) * ne);
            } else {
                std::memcpy(&win_keys[at], &ring_keys[slot * ne], sizeof(float) * ne);
                std::memcpy(&win_values[at], &ring_values[slot * ne], sizeof(float) * ne);
            }
        }
        win = {win_hidden.data(), win_tokens.data(), win_valid.data(), n_fresh, win_keys.data(), win_values.data(),
               fresh_keys.data(), fresh_values.data()};
        return &win;
    }
    sd_heads_window_input win = {};

    // Keeps the keys and values the draft computed for the window's fresh entries.
    void keep_fresh() {
        const size_t ne = (size_t) n_embd;
        for (int32_t j = 0; j < win.n_fresh; j++) {
            if (!win_valid[(size_t) j]) continue;
            const int32_t p = h_pos - j;
            const size_t slot = (size_t) (p % window);
            std::memcpy(&ring_keys[slot * ne], &fresh_keys[(size_t) j * ne], sizeof(float) * ne);
            std::memcpy(&ring_values[slot * ne], &fresh_values[(size_t) j * ne], sizeof(float) * ne);
            kv_pos[slot] = p;
            kv_token[slot] = win_tokens[(size_t) j];
        }
    }

    // Softmax of each head and its top_k candidates for the text's next token (its last is the root).
    bool candidates(const std::vector<llama_token> & history) {
        const llama_token root = history.back();
        if (follow != nullptr) sd_heads_evaluator_threads(*eval, follow->load(std::memory_order_relaxed));
        const sd_heads_window_input * w = window_input(history);
        if (sd_heads_evaluate(*eval, h.data(), &root, 1, 1, logits, &chain, error, w) != SD_OK) return false;
        if (w != nullptr) keep_fresh();
        for (int32_t k = 0; k < n_heads; k++) {
            const float * l = &logits[(size_t) k * (size_t) n_vocab];
            std::vector<llama_token> & tokens = cand_token[(size_t) k];
            tokens.resize((size_t) top_k);
            sd_logits_top_k(l, n_vocab, top_k, top_scratch, tokens.data());
            const float max = l[tokens[0]];
            const double sum = sd_logits_exp_sum(l, n_vocab, max);
            cand_prob[(size_t) k].resize((size_t) top_k);
            for (int32_t r = 0; r < top_k; r++) {
                cand_prob[(size_t) k][(size_t) r] = (float) (std::exp((double) (l[tokens[(size_t) r]] - max)) / sum);
            }
            // the chain's token first: the next head read it (it differs only where logits tie)
            if (regressive && k + 1 < n_heads && cand_token[(size_t) k][0] != chain[(size_t) k]) {
                auto & c = cand_token[(size_t) k];
                const auto it = std::find(c.begin(), c.end(), chain[(size_t) k]);
                if (it == c.end()) return false;
                std::swap(*it, c[0]);
                std::swap(cand_prob[(size_t) k][(size_t) (it - c.begin())], cand_prob[(size_t) k][0]);
            }
        }
        return true;
    }

    void draft(const sd_draft_request & request, sd_draft_tree & out) override {
        sd_tree_clear(out);
        const int32_t max_nodes = request.max_nodes, max_depth = request.max_depth;
        if (!have_h || request.history.empty() || !candidates(request.history)) return;
        have_h = false; // a hidden state drafts once
        const int32_t depth_limit = std::min(n_heads, max_depth);
        // best-first: a node's score is the product of its path's scores; a popped node is added to
        // the tree and offers its children (the next head's candidates) and its next sibling
        struct entry {
            double  score;
            int32_t parent; // tree node, -1 = root
            int32_t depth;  // 1-based
            int32_t rank;
            double  parent_score;
            bool operator<(const entry & o) const { return score < o.score; }
        };
        auto score = [&](int32_t depth, int32_t rank) -> double {
            const int32_t k = depth - 1;
            return static_tree ? (rank < SD_HEADS_RANKS ? accuracy[(size_t) (k * SD_HEADS_RANKS + rank)] : 0.0)
                               : cand_prob[(size_t) k][(size_t) rank];
        };
        std::priority_queue<entry> heap;
        heap.push({score(1, 0), -1, 1, 0, 1.0});
        while (!heap.empty() && sd_tree_size(out) < max_nodes) {
            const entry e = heap.top();
            heap.pop();
            if (e.score <= 0.0) break;
            const int32_t k = e.depth - 1;
            const float p = cand_prob[(size_t) k][(size_t) e.rank];
            const int32_t bucket = SD_BUCKET_MEDUSA + k * 10 + sd_decile(p);
            const int32_t node = sd_tree_add(out, cand_token[(size_t) k][(size_t) e.rank], e.parent,
                                             static_tree ? (float) score(e.depth, e.rank) : p, bucket);
            if (e.rank + 1 < top_k) {
                heap.push({e.parent_score * score(e.depth, e.rank + 1), e.parent, e.depth, e.rank + 1, e.parent_score});
            }
            if (e.depth < depth_limit && (!regressive || e.rank == 0)) {
                heap.push({e.score * score(e.depth + 1, 0), node, e.depth + 1, 0, e.score});
            }
        }
    }
};

} // namespace

sd_drafter * sd_drafter_medusa_init(const std::shared_ptr<sd_heads_data> & heads, const sd_medusa_params & params,
                                    int32_t n_threads, ggml_threadpool * threadpool,
                                    const std::atomic<int32_t> * follow, std::string & error) {
    auto d = std::make_unique<medusa_drafter>();
    d->follow = follow;
    if (sd_heads_evaluator_init(heads, n_threads, threadpool, d->eval, error) != SD_OK) return nullptr;
    const sd_heads_info & info = heads->info;
    d->n_heads = info.n_heads;
    d->n_vocab = info.n_vocab;
    d->n_embd = info.n_embd;
    d->top_k = std::max(1, std::min(params.top_k, info.n_vocab));
    d->static_tree = params.static_tree;
    d->regressive = info.regressive;
    d->accuracy = info.accuracy;
    if (d->accuracy.empty()) {
        for (int32_t k = 0; k < info.n_heads; k++) {
            for (int32_t r = 0; r < SD_HEADS_RANKS; r++) d->accuracy.push_back(prior_accuracy(k, r));
        }
    }
    d->window = info.window;
    d->ring.assign((size_t) info.window * (size_t) info.n_embd, 0.0f);
    d->ring_pos.assign((size_t) info.window, -1);
    const size_t wn = (size_t) info.window * (size_t) info.n_embd;
    d->ring_keys.assign(wn, 0.0f);
    d->ring_values.assign(wn, 0.0f);
    d->kv_pos.assign((size_t) info.window, -1);
    d->kv_token.assign((size_t) info.window, 0);
    d->win_keys.assign(wn, 0.0f);
    d->win_values.assign(wn, 0.0f);
    d->fresh_keys.assign(wn, 0.0f);
    d->fresh_values.assign(wn, 0.0f);
    d->win_hidden.assign((size_t) info.window * (size_t) info.n_embd, 0.0f);
    d->win_tokens.assign((size_t) info.window, 0);
    d->win_valid.assign((size_t) info.window, 0);
    d->cand_token.resize((size_t) info.n_heads);
    d->cand_prob.resize((size_t) info.n_heads);
    return d.release();
}
