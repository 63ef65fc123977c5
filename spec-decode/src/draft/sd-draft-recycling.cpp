// Token Recycling (Luo et al. 2024, "Turning Trash into Treasure"): the target model's own top-k
// predictions after each token, seen in earlier steps (accepted or not), are kept in an adjacency
// matrix and recycled as drafts. Drafting walks the matrix from the current token along a static
// tree template.
#include "draft/sd-drafter.h"
#include "engine/sd-sampling.h"

#include <algorithm>
#include <cstring>
#include <queue>

// The static template: nodes (parent, rank) in best-first order, built once by expanding the node
// with the highest prior acceptance, assuming that the rank-r successor is right with probability
// k_rank_prior[r]. Pruning the template to a budget keeps a prefix, which is again a tree.
static const float k_rank_prior[8] = {0.45f, 0.15f, 0.08f, 0.05f, 0.035f, 0.025f, 0.02f, 0.015f};

struct sd_template_node {
    int32_t parent; // template index, -1 = root
    int32_t rank;
    int32_t depth;
    float   prior;  // product of rank priors along the path
};

static std::vector<sd_template_node> template_build(int32_t k, int32_t n_nodes) {
    struct candidate {
        float prior;
        int32_t parent, rank, depth;
        bool operator<(const candidate & o) const { return prior < o.prior; }
    };
    std::vector<sd_template_node> nodes;
    std::priority_queue<candidate> queue;
    queue.push({k_rank_prior[0], -1, 0, 1});
    while (!queue.empty() && (int32_t) nodes.size() < n_nodes) {
        const candidate c = queue.top();
        queue.pop();
        nodes.push_back({c.parent, c.rank, c.depth, c.prior});
        const int32_t index = (int32_t) nodes.size() - 1;
        // its next sibling, and its own first child
        if (c.rank + 1 < k) {
            const float parent_prior = c.parent < 0 ? 1.0f : nodes[(size_t) c.parent].prior;
            queue.push({parent_prior * k_rank_prior[c.rank + 1], c.parent, c.rank + 1, c.depth});
        }
        queue.push({c.prior * k_rank_prior[0], index, 0, c.depth + 1});
    }
    return nodes;
}

struct sd_drafter_recycling : sd_drafter {
    int32_t k;
    int32_t n_vocab;
    std::vector<llama_token> matrix; // [n_vocab * k], -1 = unknown
    std::vector<sd_template_node> tmpl;

    sd_drafter_recycling(int32_t k_, int32_t n_vocab_)
        : k(std::max(1, std::min(k_, 8))), n_vocab(n_vocab_), matrix((size_t) n_vocab_ * (size_t) k, -1),
          tmpl(template_build(k, 80)) {}

    const char * name() const override { return "recycling"; }

    bool wants_logits() const override { return true; }

    // The matrix, as it is in memory (the file records the byte order, engine/sd-session-file.cpp).
    std::string learnt() const override {
        return std::string(reinterpret_cast<const char *>(matrix.data()), matrix.size() * sizeof(llama_token));
    }

    bool relearn(const std::string & data) override {
        if (data.size() != matrix.size() * sizeof(llama_token)) return false;
        std::vector<llama_token> m(matrix.size());
        std::memcpy(m.data(), data.data(), data.size());
        for (llama_token t : m) {
            if (t < -1 || t >= n_vocab) return false;
        }
        matrix.swap(m);
        return true;
    }

    void draft(const sd_draft_request & request, sd_draft_tree & out) override {
        sd_tree_clear(out);
        const std::vector<llama_token> & history = request.history;
        const int32_t max_nodes = request.max_nodes, max_depth = request.max_depth;
        if (history.empty()) return;
        const llama_token root = history.back();
        if (root < 0 || root >= n_vocab) return;
        std::vector<int32_t> node_of(tmpl.size(), -1); // template index -> tree node
        std::vector<llama_token> token_of(tmpl.size(), -1);
        for (size_t t = 0; t < tmpl.size() && sd_tree_size(out) < max_nodes; t++) {
            const sd_template_node & tn = tmpl[t];
            if (tn.depth > max_depth) continue;
            llama_token from = root;
            int32_t parent = -1;
            if (tn.parent >= 0) {
                parent = node_of[(size_t) tn.parent];
                if (parent < 0) continue; // the parent had no successor to recycle
                from = token_of[(size_t) tn.parent];
            }
            const llama_token next = matrix[(size_t) from * (size_t) k + (size_t) tn.rank];
            if (next < 0 || sd_tree_find_child(out, parent, next) >= 0) continue;
            node_of[t] = sd_tree_add(out, next, parent, k_rank_prior[tn.rank],
                                      SD_BUCKET_RECYCLING + std::min(tn.depth, 7) * 8 + tn.rank);
            token_of[t] = next;
        }
    }

    void observe(const sd_step_view & step) override {
        top.resize((size_t) k);
        for (int32_t i = 0; i < step.n; i++) {
            const llama_token input = step.tokens[i];
            if (input < 0 || input >= n_vocab || step.logits[i] == nullptr) continue;
            sd_logits_top_k(step.logits[i], std::min(step.n_vocab, n_vocab), k, top_scratch, top.data());
            std::copy(top.begin(), top.end(), matrix.begin() + (long) ((size_t) input * (size_t) k));
        }
    }

private:
    std::vector<std::pair<float, int32_t>> top_scratch; // sd_logits_top_k's scratch
    std::vector<llama_token>               top;         // a row of the matrix
};

sd_drafter * sd_drafter_recycling_init(const sd_recycling_params & params, int32_t n_vocab) {
    return new sd_drafter_recycling(params.k, n_vocab);
}
