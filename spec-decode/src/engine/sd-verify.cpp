#include "engine/sd-verify.h"
#include "model/sd-model.h"

namespace {

// Sequences of a tree: each leaf gets one (1..n_leaves), and a node belongs to those of the leaves
// below it.
struct tree_sequences {
    std::vector<std::vector<llama_seq_id>> of_node;
    int32_t n_leaves = 0;
};

tree_sequences assign_sequences(const sd_draft_tree & tree) {
    const int32_t n = sd_tree_size(tree);
    tree_sequences s;
    s.of_node.resize((size_t) n);
    std::vector<bool> has_child((size_t) n, false);
    for (int32_t i = 0; i < n; i++) {
        if (tree.parent[(size_t) i] >= 0) has_child[(size_t) tree.parent[(size_t) i]] = true;
    }
    for (int32_t i = n - 1; i >= 0; i--) {
        std::vector<llama_seq_id> & mine = s.of_node[(size_t) i];
        if (!has_child[(size_t) i]) mine.push_back(++s.n_leaves);
        const int32_t p = tree.parent[(size_t) i];
        if (p >= 0) s.of_node[(size_t) p].insert(s.of_node[(size_t) p].end(), mine.begin(), mine.end());
    }
    return s;
}

void batch_set(llama_batch & b, int32_t j, llama_token token, llama_pos pos) {
    b.token[j] = token;
    b.pos[j] = pos;
    b.n_seq_id[j] = 0;
    b.logits[j] = true;
}

// The step's batch: the root (in every path's sequence), the tree's nodes, the auxiliary tokens.
void fill_batch(llama_batch & b, llama_token root, llama_pos root_pos, const sd_draft_tree & tree,
                const tree_sequences & seqs, const sd_aux_batch & aux, int32_t n_paths) {
    const int32_t n_nodes = sd_tree_size(tree);
    const std::vector<int32_t> depth = sd_tree_depths(tree);
    b.n_tokens = 1 + n_nodes + (int32_t) aux.token.size();
    batch_set(b, 0, root, root_pos);
    for (int32_t q = 0; q <= n_paths; q++) b.seq_id[0][b.n_seq_id[0]++] = q;
    for (int32_t i = 0; i < n_nodes; i++) {
        const int32_t j = 1 + i;
        batch_set(b, j, tree.token[(size_t) i], root_pos + depth[(size_t) i]);
        for (llama_seq_id q : seqs.of_node[(size_t) i]) b.seq_id[j][b.n_seq_id[j]++] = q;
    }
    for (size_t i = 0; i < aux.token.size(); i++) {
        const int32_t j = 1 + n_nodes + (int32_t) i;
        batch_set(b, j, aux.token[i], root_pos + aux.offset[i]);
        for (int32_t c = aux.col_first[i]; c <= aux.col_last[i]; c++) b.seq_id[j][b.n_seq_id[j]++] = seqs.n_leaves + 1 + c;
    }
}

// Walks the tree from the root: at each visited node the target distribution after it decides which
// child, if any, is accepted. Returns the accepted nodes, root to leaf; *bonus is the token drawn
// where the walk stopped (LLAMA_TOKEN_NULL when the grammar allows none there).
std::vector<int32_t> walk(sd_session * s, const sd_draft_tree & tree, llama_token * bonus) {
    sd_generation & g = s->gen;
    const int32_t n_nodes = sd_tree_size(tree);
    std::vector<int32_t> accepted;
    std::vector<int32_t> children;
    std::vector<llama_token> child_tokens;
    int32_t node = -1; // -1 = root, batch index 0
    while (true) {
        g.sampler.dist(llama_get_logits_ith(s->ctx->ctx, node + 1), s->ctx->n_vocab, g.dist);
        if (g.sampler.dead_end) {
            *bonus = LLAMA_TOKEN_NULL; // the grammar allows nothing after the accepted path
            return accepted;
        }
        children.clear();
        child_tokens.clear();
        for (int32_t i = 0; i < n_nodes; i++) {
            if (tree.parent[(size_t) i] == node) {
                children.push_back(i);
                child_tokens.push_back(tree.token[(size_t) i]);
            }
        }
        g.margins.push_back(g.sampler.margin);
        // the index of the token this visit hands out, counted from the start of the generation
        const double u = sd_position_uniform(g.seed, (uint64_t) g.stats.n_generated + accepted.size());
        const sd_typical_params & typical = g.params.spec.typical;
        const int32_t n_children = (int32_t) children.size();
        llama_token drawn = LLAMA_TOKEN_NULL;
        int32_t pick = -1;
        if (typical.enabled && !g.sampler.greedy) {
            pick = sd_accept_typical(g.dist, child_tokens.data(), n_children, typical.threshold, typical.alpha, u, &drawn);
        } else if (!g.sampler.greedy && n_children == 1 && sd_tree_node_drawn(tree, children[0])) {
            // the only candidate was drawn from the drafter's q: rejection sampling against q
            pick = sd_accept_with_q(g.dist, child_tokens[0], tree.q[(size_t) children[0]], g.rng, &drawn);
        } else {
            pick = sd_accept_match(g.dist, child_tokens.data(), n_children, u, &drawn);
        }
        for (int32_t c = 0; c < n_children; c++) {
            s->budget.rates.observe(tree.bucket[(size_t) children[(size_t) c]], c == pick);
        }
        if (pick < 0) {
            *bonus = drawn;
            return accepted;
        }
        node = children[(size_t) pick];
        accepted.push_back(node);
        g.sampler.accept(tree.token[(size_t) node]);
    }
}

// Shows the drafter the evaluated step: the logits of every tree position when it wants them, those
// of its auxiliary tokens, and what was accepted.
void show_drafter(sd_session * s, const llama_batch & b, const sd_draft_tree & tree,
                  const std::vector<int32_t> & accepted, int32_t n_aux) {
    sd_drafter * d = s->gen.drafter;
    if (d == nullptr) return;
    llama_context * ctx = s->ctx->ctx;
    const int32_t n_nodes = sd_tree_size(tree);
    std::vector<const float *> rows;
    if (d->wants_logits()) {
        for (int32_t j = 0; j <= n_nodes; j++) rows.push_back(llama_get_logits_ith(ctx, j));
    }
    std::vector<const float *> aux_rows((size_t) n_aux);
    for (int32_t i = 0; i < n_aux; i++) aux_rows[(size_t) i] = llama_get_logits_ith(ctx, 1 + n_nodes + i);
    d->observe({b.token, rows.empty() ? nullptr : rows.data(), 1 + n_nodes, s->ctx->n_vocab, &tree,
                accepted.data(), (int32_t) accepted.size(), aux_rows.data(), n_aux});
}

// Sequence 0 gains the accepted path; the paths' sequences are emptied from the root's next position
// on (what only they held is freed) and keep the text up to the root. Each call passes over the
// cache's cells but changes only the step's.
void commit(sd_context * c, llama_pos root_pos, const tree_sequences & seqs, const std::vector<int32_t> & accepted,
            int32_t n_paths) {
    llama_memory_t mem = llama_get_memory(c->ctx);
    const int32_t k = (int32_t) accepted.size();
    if (k > 0) llama_memory_seq_cp(mem, seqs.of_node[(size_t) accepted.back()][0], 0, root_pos + 1, root_pos + k + 1);
    for (llama_seq_id q = 1; q <= n_paths; q++) {
        llama_memory_seq_rm(mem, q, root_pos + 1, -1);
        c->text_upto[(size_t) q] = root_pos + 1;
    }
}

} // namespace

sd_status sd_verify_step(sd_session * s, std::vector<llama_token> & out, bool * cancelled, std::string & error) {
    *cancelled = false;
    sd_context * c = s->ctx;
    sd_generation & g = s->gen;
    const sd_draft_tree & tree = g.tree;
    const int32_t n_nodes = sd_tree_size(tree);
    const int32_t n_aux = (int32_t) g.aux.token.size();
    const llama_pos root_pos = (llama_pos) c->cached.size();
    llama_memory_t mem = llama_get_memory(c->ctx);

    const tree_sequences seqs = assign_sequences(tree);
    const int32_t n_paths = seqs.n_leaves + g.aux.n_columns;
    // the paths see the text: their sequences get what it gained since they last had it
    sd_context_share_text(c, n_paths + 1);
    fill_batch(c->batch, g.last, root_pos, tree, seqs, g.aux, n_paths);

    const int64_t t0 = llama_time_us();
    // the hidden states are read only when the next step drafts (not while the budget pauses drafting)
    c->capture = g.drafter != nullptr && g.drafter->wants_hidden() && !(g.params.spec.adaptive && s->budget.paused());
    if (!c->capture) c->hidden_n = 0; // no stale hidden state for the drafter
    const int32_t rc = sd_context_decode(c, c->batch);
    if (!c->model->rpc.active()) llama_synchronize(c->ctx); // over RPC the decode has synchronized
    g.stats.t_verify_us += llama_time_us() - t0;
    g.stats.n_threads = c->n_threads_set;
    if (rc != 0) {
        llama_memory_seq_rm(mem, -1, root_pos, -1); // the root and the draft, from every sequence
        if (rc == 2) {
            *cancelled = true;
            return SD_OK;
        }
        return sd_context_decode_error(rc, (size_t) root_pos, error);
    }

    llama_token bonus = LLAMA_TOKEN_NULL;
    const std::vector<int32_t> accepted = walk(s, tree, &bonus);
    if (bonus != LLAMA_TOKEN_NULL) g.sampler.accept(bonus);
    std::vector<int32_t> path_rows = {0}; // the root's row, then the accepted nodes'
    for (int32_t a : accepted) path_rows.push_back(1 + a);
    sd_session_pass_hidden(s, path_rows, (int32_t) root_pos + (int32_t) accepted.size());
    show_drafter(s, c->batch, tree, accepted, n_aux);
    commit(c, root_pos, seqs, accepted, n_paths);

    c->cached.push_back(g.last);
    for (int32_t a : accepted) {
        c->cached.push_back(tree.token[(size_t) a]);
        out.push_back(tree.token[(size_t) a]);
    }
    if (bonus != LLAMA_TOKEN_NULL) {
        out.push_back(bonus);
    } else {
        g.grammar_end = true; // every token of out is in the cache; the step ends the generation
    }
    g.stats.n_drafted += n_nodes;
    g.stats.n_aux += n_aux;
    g.stats.n_accepted += (int32_t) accepted.size();
    g.last = bonus;
    return SD_OK;
}
