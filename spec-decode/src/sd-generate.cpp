// The generation loop. Every step evaluates the current token together with a draft tree (empty
// for plain decoding) in one llama_decode, walks the tree accepting what the target distribution
// allows, commits the accepted path to the KV cache and hands out the accepted tokens plus one more
// drawn from the target distribution after them (the bonus token).
#include "sd-session.h"
#include "sd-internal.h"
#include "sd-heads.h"

#include <algorithm>
#include <cmath>

// The drafter for these settings; the session keeps drafters (and what they learnt) across generations.
static sd_status drafter_for(sd_session * s, const sd_speculation_params & p, sd_drafter ** out, std::string & error) {
    *out = nullptr;
    if (p.type == SD_SPEC_NONE) return SD_OK;
    if (p.type == SD_SPEC_MEDUSA) {
        if (p.medusa.heads->model != s->model) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the Medusa heads were loaded for another model (" +
                           p.medusa.heads->model->path + "), this session's model is " + s->model->path);
        }
        if (!s->medusa || s->medusa_heads != p.medusa.heads->data || s->medusa_static != p.medusa.static_tree ||
            s->medusa_top_k != p.medusa.top_k) {
            s->medusa.reset();
            s->medusa_heads.reset();
            sd_drafter * d = sd_drafter_medusa_init(p.medusa.heads->data, p.medusa.static_tree, p.medusa.top_k,
                                                    llama_n_threads(s->ctx), s->threadpool, error);
            if (d == nullptr) return SD_ERR_CONTEXT_INIT;
            s->medusa.reset(d);
            s->medusa_heads = p.medusa.heads->data;
            s->medusa_static = p.medusa.static_tree;
            s->medusa_top_k = p.medusa.top_k;
        }
        *out = s->medusa.get();
        return SD_OK;
    }
    if (p.type == SD_SPEC_DRAFT_MODEL) {
        if (!s->draft || s->draft_model != p.draft.model) {
            s->draft.reset(); // its context first: it may share this session's threads
            s->draft.reset(sd_drafter_draft_model_init(s, p.draft.model));
            s->draft_model = p.draft.model;
        }
        *out = s->draft.get();
        return SD_OK;
    }
    // lookup keeps no state: rebuilt with each generation's settings
    s->lookup.reset(sd_drafter_lookup_init(p.lookup.min_ngram, p.lookup.max_ngram, p.lookup.max_branches));
    if (!s->recycling || s->recycling_k != p.recycling.k) {
        s->recycling.reset(sd_drafter_recycling_init(p.recycling.k, s->n_vocab));
        s->recycling_k = p.recycling.k;
    }
    const int32_t wng[3] = {p.lookahead.w, p.lookahead.n, p.lookahead.g};
    if (!s->lookahead || !std::equal(wng, wng + 3, s->lookahead_wng)) {
        s->lookahead.reset(sd_drafter_lookahead_init(p.lookahead.w, p.lookahead.n, p.lookahead.g));
        std::copy(wng, wng + 3, s->lookahead_wng);
    }
    s->automatic.reset(sd_drafter_auto_init(s->lookup.get(), s->recycling.get(), s->lookahead.get()));
    switch (p.type) {
        case SD_SPEC_LOOKUP:    *out = s->lookup.get(); break;
        case SD_SPEC_RECYCLING: *out = s->recycling.get(); break;
        case SD_SPEC_LOOKAHEAD: *out = s->lookahead.get(); break;
        default:                *out = s->automatic.get(); break;
    }
    return SD_OK;
}

// Hands the hidden state of output row `row` of the last decode (-1 = the last) to a drafter that
// wants it.
static void pass_hidden(sd_session * s, int32_t row) {
    if (s->drafter == nullptr || !s->drafter->wants_hidden()) return;
    const int32_t n_embd = llama_model_n_embd(s->model->model);
    if (row < 0) row = s->hidden_n - 1;
    const bool ok = row >= 0 && row < s->hidden_n && s->hidden.size() == (size_t) s->hidden_n * (size_t) n_embd;
    s->drafter->hidden(ok ? &s->hidden[(size_t) row * (size_t) n_embd] : nullptr, n_embd);
}

// Measures the device's decode cost for the batch sizes the budget considers, once per session.
static sd_status cost_prepare(sd_session * s, std::string & error) {
    if (!s->cost.empty()) return SD_OK;
    std::vector<int32_t> sizes;
    for (int32_t n = 1; n <= 16; n *= 2) {
        if ((uint32_t) n <= s->n_batch && s->cached.size() + (size_t) n < s->n_ctx) sizes.push_back(n);
    }
    std::vector<double> us;
    sd_status status = sd_measure_cost_here(s, sizes, 1, us, error);
    if (status != SD_OK) return status;
    for (size_t i = 0; i < sizes.size(); i++) s->cost.us[sizes[i]] = us[i];
    return SD_OK;
}

sd_status sd_generation_begin(sd_session * s, const std::vector<llama_token> & prompt,
                              const sd_generation_params & params, std::string & error) {
    s->active = false;
    s->t_first_token_us = 0;
    s->cancel.store(false);
    sd_status status = sd_generation_params_check(params, error);
    if (status == SD_OK) status = sd_check_prompt(s, prompt, error);
    if (status == SD_OK && params.spec.type == SD_SPEC_DRAFT_MODEL) {
        status = sd_model_vocab_compatible(s->model, params.spec.draft.model, error);
    }
    if (status != SD_OK) return status;
    s->draft_lost = false;

    s->stats = sd_stats();
    s->stats.n_prompt = (int32_t) prompt.size();
    s->t_start_us = llama_time_us();

    status = drafter_for(s, params.spec, &s->drafter, error);
    if (status != SD_OK) return status;
    s->capture = false;  // not while the cost is measured
    s->hidden_n = 0;

    // The decode cost is measured before the prompt is evaluated: measuring overwrites the logits.
    if (params.spec.type != SD_SPEC_NONE && params.spec.adaptive) {
        status = cost_prepare(s, error);
        if (status != SD_OK) return status;
    }
    bool cancelled = false;
    s->capture = s->drafter != nullptr && s->drafter->wants_hidden();
    status = sd_cache_load(s, prompt, &cancelled, error, &s->stats.n_prompt_reused);
    if (status != SD_OK) return status;
    // Cancelled during the prompt: the first step reports SD_STOP_CANCELLED (the flag stays set).
    s->have_logits = !cancelled;
    if (!cancelled) pass_hidden(s, -1);

    s->params = params;
    s->seed = params.seed == LLAMA_DEFAULT_SEED ? ((uint64_t) std::random_device()() << 32) ^ (uint64_t) llama_time_us()
                                                : (uint64_t) params.seed;
    s->rng.seed(s->seed);
    if (s->drafter != nullptr && !cancelled) {
        status = s->drafter->begin(prompt, params, s->seed, error); // a draft model evaluates the prompt too
        if (status != SD_OK) return status;
    }
    s->stats.t_prompt_us = llama_time_us() - s->t_start_us;

    if (s->filter != nullptr) llama_sampler_free(s->filter);
    s->filter = sd_filter_init(s->model, params);
    s->greedy = params.temperature == 0.0f;
    const size_t n_history = std::min(prompt.size(), (size_t) std::max(params.repeat_last_n, 0));
    for (size_t i = prompt.size() - n_history; i < prompt.size(); i++) {
        llama_sampler_accept(s->filter, prompt[i]);
    }
    sd_text_stream_reset(s->text, params.stop);
    s->last = LLAMA_TOKEN_NULL;
    s->active = true;
    return SD_OK;
}

static void finish(sd_session * s, sd_step_result & result, sd_stop_reason reason) {
    sd_text_stream_flush(s->text, result.text);
    result.stop = reason;
    s->active = false;
    s->capture = false;
    if (s->t_first_token_us > 0) {
        s->stats.t_gen_us = llama_time_us() - s->t_first_token_us;
    }
}

// Drafts the step's tree and cuts it to what the budget, the context and the sequences allow.
static sd_status draft_tree(sd_session * s, std::string & error) {
    sd_tree_clear(s->tree);
    sd_aux_clear(s->aux);
    const sd_speculation_params & p = s->params.spec;
    // room in the context: the root and the deepest node must fit
    const int32_t room = (int32_t) s->n_ctx - (int32_t) s->cached.size() - 1;
    const int32_t max_depth = std::min(p.max_depth, room);
    if (s->drafter == nullptr || max_depth < 1) return SD_OK;
    if (p.adaptive && s->draft_skip > 0) {
        // the budget kept nothing lately: drafting would only cost time
        s->draft_skip--;
        return SD_OK;
    }
    // the batch must fit in the batch size and in the free cells of the KV cache (room + 1)
    const int32_t max_nodes = std::min({p.max_nodes, (int32_t) s->n_batch - 1, room});
    std::vector<llama_token> & history = s->cached; // the root is appended for the call only
    history.push_back(s->last);
    s->drafter->draft(history, std::min(max_nodes * 2, 2 * SD_MAX_LEAVES), max_depth, s->tree);
    history.pop_back();
    const sd_status status = s->drafter->take_error(error);
    if (status != SD_OK) return status;
    const int32_t per_column = s->drafter->aux_column_tokens();
    // An empty draft costs nothing, except a draft model's: its decodes ran, and the budget backs off.
    if (sd_tree_size(s->tree) == 0 && per_column == 0 && s->drafter != s->draft.get()) return SD_OK;

    static const sd_cost_model flat = [] { // without the budget every node is worth its cost
        sd_cost_model m;
        for (int32_t n = 1; n <= SD_MAX_LEAVES + 1; n++) m.us[n] = 1.0;
        return m;
    }();
    double expected = 0;
    const std::vector<bool> keep = sd_budget_select(s->tree, s->accept, p.adaptive ? s->cost : flat, max_nodes,
                                                    s->max_leaves, &expected);
    s->tree = sd_tree_subset(s->tree, keep);
    if (per_column > 0) {
        // the auxiliary columns fit beside the tree: one sequence each, and room in the batch and context
        const int32_t n_nodes = sd_tree_size(s->tree);
        const int32_t max_columns = std::min({s->drafter->aux_columns(), s->max_leaves - sd_tree_leaves(s->tree),
                                              ((int32_t) s->n_batch - 1 - n_nodes) / per_column,
                                              (room - n_nodes) / per_column, room - per_column + 1});
        const int32_t columns = max_columns <= 0 ? 0
                              : p.adaptive ? sd_budget_columns(s->cost, n_nodes, expected, s->drafter->aux_value(),
                                                               per_column, max_columns)
                                           : max_columns;
        if (columns > 0) s->drafter->aux(columns, s->aux);
    }
    if (p.adaptive) {
        // back off exponentially (1, 2, 4 .. 16 steps) while the budget keeps nothing; draft again at
        // once when it keeps something
        if (sd_tree_size(s->tree) == 0 && s->aux.n_columns == 0) {
            s->draft_pause = std::min(16, std::max(1, s->draft_pause * 2));
            s->draft_skip = s->draft_pause;
        } else {
            s->draft_pause = 0;
        }
    }
    return SD_OK;
}

// Medusa's typical acceptance (lossy): the candidate the target finds likeliest is accepted when its
// probability exceeds min(threshold, alpha * exp(-entropy)); otherwise the token is drawn with u.
static int32_t accept_typical(sd_session * s, const std::vector<llama_token> & candidates, double u, llama_token * drawn) {
    const sd_dist & d = s->dist;
    double entropy = 0;
    for (float p : d.probs) {
        if (p > 0.0f) entropy -= (double) p * std::log((double) p);
    }
    const double threshold = std::min((double) s->params.spec.typical.threshold,
                                      (double) s->params.spec.typical.alpha * std::exp(-entropy));
    int32_t best = -1;
    float best_p = 0.0f;
    for (size_t c = 0; c < candidates.size(); c++) {
        const float p = sd_dist_prob(d, candidates[c]);
        if (p > best_p) {
            best_p = p;
            best = (int32_t) c;
        }
    }
    if (best >= 0 && (double) best_p > threshold) {
        *drawn = candidates[(size_t) best];
        return best;
    }
    *drawn = sd_dist_sample_u(d, u);
    return -1;
}

// Evaluates root + tree, accepts, commits the KV cache. Appends the produced tokens to `out`
// (accepted nodes, then the bonus token) and leaves the bonus token in s->last.
static sd_status verify_step(sd_session * s, std::vector<llama_token> & out, bool * cancelled, std::string & error) {
    *cancelled = false;
    const sd_draft_tree & tree = s->tree;
    const int32_t n_nodes = sd_tree_size(tree);
    const llama_pos root_pos = (llama_pos) s->cached.size();
    llama_memory_t mem = llama_get_memory(s->ctx);

    // Each leaf is a sequence (1..n_leaves); a node belongs to the sequences of the leaves below it.
    std::vector<int32_t> depth = sd_tree_depths(tree);
    std::vector<std::vector<llama_seq_id>> seqs((size_t) n_nodes);
    std::vector<bool> has_child((size_t) n_nodes, false);
    for (int32_t i = 0; i < n_nodes; i++) {
        if (tree.parent[(size_t) i] >= 0) has_child[(size_t) tree.parent[(size_t) i]] = true;
    }
    int32_t n_leaves = 0;
    for (int32_t i = n_nodes - 1; i >= 0; i--) {
        if (!has_child[(size_t) i]) seqs[(size_t) i].push_back(++n_leaves);
        const int32_t p = tree.parent[(size_t) i];
        if (p >= 0) seqs[(size_t) p].insert(seqs[(size_t) p].end(), seqs[(size_t) i].begin(), seqs[(size_t) i].end());
    }
    // The drafter's auxiliary columns are the sequences after the leaves.
    const sd_aux_batch & aux = s->aux;
    const int32_t n_aux = (int32_t) aux.token.size();
    const int32_t n_paths = n_leaves + aux.n_columns;
    for (llama_seq_id q = 1; q <= n_paths; q++) {
        llama_memory_seq_cp(mem, 0, q, -1, -1); // the path sees the text
    }

    llama_batch & b = s->batch;
    b.n_tokens = 1 + n_nodes + n_aux;
    b.token[0] = s->last;
    b.pos[0] = root_pos;
    b.n_seq_id[0] = 1 + n_paths;
    for (int32_t q = 0; q <= n_paths; q++) b.seq_id[0][q] = q;
    b.logits[0] = true;
    for (int32_t i = 0; i < n_nodes; i++) {
        const int32_t j = 1 + i;
        b.token[j] = tree.token[(size_t) i];
        b.pos[j] = root_pos + depth[(size_t) i];
        b.n_seq_id[j] = (int32_t) seqs[(size_t) i].size();
        for (size_t q = 0; q < seqs[(size_t) i].size(); q++) b.seq_id[j][q] = seqs[(size_t) i][q];
        b.logits[j] = true;
    }
    for (int32_t i = 0; i < n_aux; i++) {
        const int32_t j = 1 + n_nodes + i;
        b.token[j] = aux.token[(size_t) i];
        b.pos[j] = root_pos + aux.offset[(size_t) i];
        b.n_seq_id[j] = 0;
        for (int32_t c = aux.col_first[(size_t) i]; c <= aux.col_last[(size_t) i]; c++) {
            b.seq_id[j][b.n_seq_id[j]++] = n_leaves + 1 + c;
        }
        b.logits[j] = true;
    }

    const int64_t t0 = llama_time_us();
    // the hidden states are read only when the next step drafts (not while the budget pauses drafting)
    s->capture = s->drafter != nullptr && s->drafter->wants_hidden() && !(s->params.spec.adaptive && s->draft_skip > 0);
    if (!s->capture) s->hidden_n = 0; // no stale hidden state for the drafter
    const int32_t rc = sd_llama_decode(s, b);
    llama_synchronize(s->ctx);
    const double t_decode = (double) (llama_time_us() - t0);
    s->stats.t_verify_us += (int64_t) t_decode;
    auto drop_paths = [&] {
        for (llama_seq_id q = 1; q <= n_paths; q++) llama_memory_seq_rm(mem, q, -1, -1);
        llama_memory_seq_rm(mem, 0, root_pos, -1);
    };
    if (rc != 0) {
        drop_paths();
        if (rc == 2) {
            *cancelled = true;
            return SD_OK;
        }
        std::string reason = sd_log_take_last_error();
        return sd_fail(error, SD_ERR_DECODE, "llama_decode failed with code " + std::to_string(rc) + " at position " +
                       std::to_string(root_pos) + (reason.empty() ? "" : ": " + reason));
    }

    // Walk the tree from the root.
    std::vector<int32_t> accepted;
    int32_t node = -1; // -1 = root, batch index 0
    llama_token bonus = LLAMA_TOKEN_NULL;
    std::vector<int32_t> children;
    std::vector<llama_token> child_tokens;
    while (true) {
        const float * logits = llama_get_logits_ith(s->ctx, node + 1);
        sd_target_dist(s, logits, s->dist);
        children.clear();
        child_tokens.clear();
        for (int32_t i = 0; i < n_nodes; i++) {
            if (tree.parent[(size_t) i] == node) {
                children.push_back(i);
                child_tokens.push_back(tree.token[(size_t) i]);
            }
        }
        s->margins.push_back(s->margin);
        // the index of the token this visit hands out, counted from the start of the generation
        const uint64_t index = (uint64_t) s->stats.n_generated + accepted.size();
        llama_token drawn = LLAMA_TOKEN_NULL;
        int32_t pick = -1;
        if (s->params.spec.typical.enabled && !s->greedy) {
            pick = accept_typical(s, child_tokens, sd_position_uniform(s->seed, index), &drawn);
        } else if (!s->greedy && children.size() == 1 && sd_tree_node_drawn(tree, children[0])) {
            // the only candidate was drawn from the drafter's q: rejection sampling against q
            pick = sd_accept_with_q(s->dist, child_tokens[0], tree.q[(size_t) children[0]], s->rng, &drawn);
        } else {
            pick = sd_accept_match(s->dist, child_tokens.data(), (int32_t) child_tokens.size(),
                                   sd_position_uniform(s->seed, index), &drawn);
        }
        for (size_t c = 0; c < children.size(); c++) {
            s->accept.observe(tree.bucket[(size_t) children[c]], (int32_t) c == pick);
        }
        if (pick < 0) {
            bonus = drawn;
            break;
        }
        node = children[(size_t) pick];
        accepted.push_back(node);
        llama_sampler_accept(s->filter, tree.token[(size_t) node]);
    }
    llama_sampler_accept(s->filter, bonus);
    pass_hidden(s, accepted.empty() ? 0 : 1 + accepted.back());

    if (s->drafter != nullptr) {
        std::vector<const float *> rows;
        if (s->drafter->wants_logits()) {
            for (int32_t j = 0; j <= n_nodes; j++) rows.push_back(llama_get_logits_ith(s->ctx, j));
        }
        std::vector<const float *> aux_rows((size_t) n_aux);
        for (int32_t i = 0; i < n_aux; i++) aux_rows[(size_t) i] = llama_get_logits_ith(s->ctx, 1 + n_nodes + i);
        s->drafter->observe({b.token, rows.empty() ? nullptr : rows.data(), 1 + n_nodes, s->n_vocab, &tree,
                             accepted.data(), (int32_t) accepted.size(), aux_rows.data(), n_aux});
    }

    // Commit: sequence 0 keeps the root and the accepted path, nothing else of the tree.
    for (llama_seq_id q = n_leaves + 1; q <= n_paths; q++) llama_memory_seq_rm(mem, q, -1, -1);
    const int32_t k = (int32_t) accepted.size();
    if (k == 0) {
        for (llama_seq_id q = 1; q <= n_leaves; q++) llama_memory_seq_rm(mem, q, -1, -1);
    } else {
        const llama_seq_id keep = seqs[(size_t) accepted.back()][0];
        llama_memory_seq_rm(mem, keep, root_pos + k + 1, -1);
        for (llama_seq_id q = 1; q <= n_leaves; q++) {
            if (q != keep) llama_memory_seq_rm(mem, q, -1, -1);
        }
        llama_memory_seq_cp(mem, keep, 0, root_pos + 1, root_pos + k + 1);
        llama_memory_seq_rm(mem, keep, -1, -1);
    }
    s->cached.push_back(s->last);
    for (int32_t a : accepted) {
        s->cached.push_back(tree.token[(size_t) a]);
        out.push_back(tree.token[(size_t) a]);
    }
    out.push_back(bonus);
    s->stats.n_drafted += n_nodes;
    s->stats.n_aux += n_aux;
    s->stats.n_accepted += k;
    s->last = bonus;
    return SD_OK;
}

sd_status sd_generation_step(sd_session * s, sd_step_result & result, std::string & error) {
    result.tokens.clear();
    result.text.clear();
    result.margins.clear();
    result.stop = SD_STOP_NONE;
    if (!s->active) {
        return sd_fail(error, SD_ERR_STATE, "no generation is running (call sd_generation_begin first)");
    }
    if (s->draft_lost) {
        s->active = false;
        return sd_fail(error, SD_ERR_STATE, "the draft model was released while the generation was using it");
    }
    if (s->cancel.load()) {
        finish(s, result, SD_STOP_CANCELLED);
        return SD_OK;
    }

    std::vector<llama_token> produced;
    s->margins.clear();
    if (s->have_logits) {
        // the first token comes from the prompt's logits
        sd_target_dist(s, llama_get_logits_ith(s->ctx, -1), s->dist);
        s->margins.push_back(s->margin);
        const llama_token token = sd_dist_sample_u(s->dist, sd_position_uniform(s->seed, 0));
        llama_sampler_accept(s->filter, token);
        produced.push_back(token);
        s->last = token;
        s->have_logits = false;
    } else {
        if (s->cached.size() + 1 > s->n_ctx) {
            finish(s, result, SD_STOP_CONTEXT_FULL);
            return SD_OK;
        }
        const int64_t t0 = llama_time_us();
        sd_status status = draft_tree(s, error);
        s->stats.t_draft_us += llama_time_us() - t0;
        if (status != SD_OK) {
            s->active = false;
            return status;
        }
        bool cancelled = false;
        status = verify_step(s, produced, &cancelled, error);
        if (status == SD_OK && !cancelled && s->drafter != nullptr && s->params.spec.adaptive) {
            // the whole step - drafting, evaluation, acceptance - is what a step of this size costs
            s->cost.observe(1 + sd_tree_size(s->tree) + (int32_t) s->aux.token.size(), (double) (llama_time_us() - t0));
        }
        if (cancelled) {
            finish(s, result, SD_STOP_CANCELLED);
            return SD_OK;
        }
        if (status != SD_OK) {
            s->active = false;
            return status;
        }
    }
    s->stats.n_steps++;
    if (s->stats.n_generated == 0) {
        s->t_first_token_us = llama_time_us();
        s->stats.t_first_us = s->t_first_token_us - s->t_start_us;
    }

    // Hand the tokens out one by one: a stop condition can end the step early, and then the KV cache
    // is cut back to what was handed out (the last token handed out is never in the cache).
    const size_t n_before = s->cached.size() - (produced.size() - 1);
    for (size_t i = 0; i < produced.size(); i++) {
        const llama_token token = produced[i];
        sd_stop_reason stop = SD_STOP_NONE;
        if (llama_vocab_is_eog(s->model->vocab, token)) {
            stop = SD_STOP_END_OF_TEXT;
        } else {
            s->stats.n_generated++;
            result.tokens.push_back(token);
            if (s->params.record_margins) result.margins.push_back(s->margins[i]);
            std::string piece;
            sd_status status = sd_token_to_piece(s->model, token, false, piece, error);
            if (status != SD_OK) {
                s->active = false;
                return status;
            }
            if (sd_text_stream_push(s->text, piece, result.text)) {
                stop = SD_STOP_STOP_STRING;
            } else if (s->stats.n_generated >= s->params.max_tokens) {
                stop = SD_STOP_MAX_TOKENS;
            } else if (i + 1 == produced.size() && s->cached.size() >= s->n_ctx) {
                stop = SD_STOP_CONTEXT_FULL; // no position left for the token just drawn
            }
        }
        if (stop != SD_STOP_NONE) {
            if (i + 1 < produced.size()) {
                // tokens after this one were accepted but are not handed out
                sd_cache_truncate(s, n_before + i);
                s->last = token;
                s->stats.n_accepted -= (int32_t) (produced.size() - 1 - i);
            }
            finish(s, result, stop);
            return SD_OK;
        }
    }
    if (s->t_first_token_us > 0) {
        s->stats.t_gen_us = llama_time_us() - s->t_first_token_us;
    }
    return SD_OK;
}
