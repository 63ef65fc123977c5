// The generation loop. sd_generation_begin evaluates the prompt and prepares sampling and the
// drafter; each sd_generation_step drafts a tree (empty for plain decoding), cuts it to what the
// budget, the context and the sequences allow, has the verifier evaluate and accept it
// (engine/sd-verify.cpp), and hands out the accepted tokens plus the bonus token, as text.
#include "engine/sd-session.h"
#include "engine/sd-verify.h"
#include "heads/sd-heads.h"
#include "model/sd-log.h"
#include "model/sd-model.h"

#include <algorithm>
#include <random>

sd_status sd_generation_begin(sd_session * s, const std::vector<llama_token> & prompt,
                              const sd_generation_params & params, std::string & error) {
    sd_generation & g = s->gen;
    sd_context * c = s->ctx;
    g.active = false;
    g.t_first_token_us = 0;
    c->cancel.store(false);
    sd_status status = sd_generation_params_check(params, error);
    if (status == SD_OK) status = sd_context_check_prompt(c, prompt, error);
    if (status == SD_OK && params.spec.type == SD_SPEC_MEDUSA && params.spec.medusa.heads->model != c->model) {
        status = sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the Medusa heads were loaded for another model (" +
                         params.spec.medusa.heads->model->path + "), this session's model is " + c->model->path);
    }
    if (status == SD_OK && params.spec.type == SD_SPEC_DRAFT_MODEL) {
        status = sd_model_vocab_compatible(c->model, params.spec.draft.model, error);
    }
    // the grammar is parsed before anything else happens: a bad one fails the call, not a later step
    if (status == SD_OK) status = g.sampler.reset(c->model->vocab, c->n_vocab, params, prompt, error);
    if (status != SD_OK) return status;
    g.draft_lost = false;
    g.grammar_end = false;
    // what the budget learnt about a draft model's or heads' nodes is theirs alone
    if (params.spec.type == SD_SPEC_DRAFT_MODEL) s->budget.use_source("draft model " + params.spec.draft.model->path);
    if (params.spec.type == SD_SPEC_MEDUSA) {
        s->budget.use_source("heads " + std::to_string((uintptr_t) params.spec.medusa.heads->data.get()));
    }

    g.stats = sd_stats();
    g.stats.n_prompt = (int32_t) prompt.size();
    g.t_start_us = llama_time_us();

    status = sd_drafters_get(s->drafters, c, params.spec, &g.drafter, error);
    if (status == SD_OK && g.drafter != nullptr && g.drafter->wants_hidden()) status = sd_context_enable_capture(c, error);
    if (status != SD_OK) return status;
    c->hidden_n = 0;
    g.prompt_logits.clear();

    bool cancelled = false;
    c->capture = g.drafter != nullptr && g.drafter->wants_hidden();
    status = sd_context_load(c, prompt, &cancelled, &g.stats.n_prompt_reused, error);
    if (status != SD_OK) return status;
    // Cancelled during the prompt: the first step reports SD_STOP_CANCELLED (the flag stays set).
    g.have_logits = !cancelled;
    g.params = params;
    if (!cancelled) sd_session_pass_hidden(s, {-1}, (int32_t) c->cached.size() - 1);

    // The decode cost is measured after the prompt, at the depth the generation runs at: on this
    // CPU a 2-token step costs 1.8x a single token at depth 0 but 1.4x at depth 250, where attention
    // weighs more. Measuring overwrites the prompt's logits, so they are kept aside.
    if (!cancelled && params.spec.type != SD_SPEC_NONE && params.spec.adaptive && s->budget.cost.empty()) {
        const float * logits = llama_get_logits_ith(c->ctx, -1);
        g.prompt_logits.assign(logits, logits + c->n_vocab);
        const bool capture = c->capture;
        c->capture = false;
        status = sd_session_prepare_cost(s, error);
        c->capture = capture;
        if (status != SD_OK) return status;
    }

    g.seed = params.seed == LLAMA_DEFAULT_SEED ? ((uint64_t) std::random_device()() << 32) ^ (uint64_t) llama_time_us()
                                               : (uint64_t) params.seed;
    g.rng.seed(g.seed);
    if (g.drafter != nullptr && !cancelled) {
        status = g.drafter->begin(prompt, params, g.seed, error); // a draft model evaluates the prompt too
        if (status != SD_OK) return status;
    }
    g.stats.t_prompt_us = llama_time_us() - g.t_start_us;

    sd_text_stream_reset(g.text, params.stop);
    g.last = LLAMA_TOKEN_NULL;
    g.active = true;
    return SD_OK;
}

static void finish(sd_session * s, sd_step_result & result, sd_stop_reason reason) {
    sd_generation & g = s->gen;
    sd_text_stream_flush(g.text, result.text);
    result.stop = reason;
    g.active = false;
    s->ctx->capture = false;
    if (g.t_first_token_us > 0) {
        g.stats.t_gen_us = llama_time_us() - g.t_first_token_us;
    }
}

// Drops the draft's nodes the grammar forbids after the text and their path, with their subtrees:
// the target gives them probability 0. A node drawn from the drafter's distribution is kept under
// sampling: rejection sampling against that distribution is exact only when the draw is verified
// whatever it is (the target then rejects it).
static void drop_forbidden(sd_generation & g) {
    sd_draft_tree & tree = g.tree;
    const int32_t n = sd_tree_size(tree);
    if (n == 0) return;
    std::vector<bool> keep((size_t) n, true), has_child((size_t) n, false);
    for (int32_t i = 0; i < n; i++) {
        if (tree.parent[(size_t) i] >= 0) has_child[(size_t) tree.parent[(size_t) i]] = true;
    }
    // the grammar after each allowed node with children (parent[i] < i: parents come first); none
    // after a forbidden node, whose subtree the walk cannot reach
    std::vector<llama_sampler *> after((size_t) n, nullptr);
    bool dropped = false;
    for (int32_t i = 0; i < n; i++) {
        const int32_t p = tree.parent[(size_t) i];
        llama_sampler * state = p < 0 ? g.sampler.grammar : after[(size_t) p];
        const bool reachable = p < 0 || (keep[(size_t) p] && state != nullptr);
        const bool allowed = reachable && sd_sampler::allows(state, tree.token[(size_t) i]);
        if (!allowed) {
            if (!reachable || g.sampler.greedy || !sd_tree_node_drawn(tree, i)) {
                keep[(size_t) i] = false;
                dropped = true;
            }
            continue; // a drawn node the grammar forbids stays: the target rejects it
        }
        if (has_child[(size_t) i]) {
            after[(size_t) i] = llama_sampler_clone(state);
            llama_sampler_accept(after[(size_t) i], tree.token[(size_t) i]);
        }
    }
    for (llama_sampler * a : after) {
        if (a != nullptr) llama_sampler_free(a);
    }
    if (dropped) tree = sd_tree_subset(tree, keep);
}

// Drafts the step's tree and cuts it to what the budget, the context and the sequences allow.
static sd_status draft_tree(sd_session * s, std::string & error) {
    const int64_t t0 = llama_time_us();
    sd_generation & g = s->gen;
    sd_context * c = s->ctx;
    sd_tree_clear(g.tree);
    sd_aux_clear(g.aux);
    g.forecast = 1.0;
    g.attempted = false;
    const sd_speculation_params & p = g.params.spec;
    // room in the context: the root and the deepest node must fit
    const int32_t room = (int32_t) c->n_ctx - (int32_t) c->cached.size() - 1;
    const int32_t max_depth = std::min(p.max_depth, room);
    if (g.drafter == nullptr || max_depth < 1) return SD_OK;
    if (p.adaptive && !s->budget.drafts()) return SD_OK;
    // the batch must fit in the batch size and in the free cells of the KV cache (room + 1)
    const int32_t max_nodes = std::min({p.max_nodes, (int32_t) c->n_batch - 1, room});
    std::vector<llama_token> & history = c->cached; // the root is appended for the call only
    history.push_back(g.last);
    g.attempted = true;
    g.drafter->draft({history, std::min(max_nodes * 2, 2 * SD_MAX_LEAVES), max_depth,
                      p.adaptive ? &s->budget : nullptr, g.sampler.grammar}, g.tree);
    history.pop_back();
    const sd_status status = g.drafter->take_error(error);
    if (status != SD_OK) return status;
    const int32_t per_column = g.drafter->aux_column_tokens();
    if (sd_tree_size(g.tree) == 0 && per_column == 0 && !g.drafter->costs_when_empty()) return SD_OK;

    static const sd_cost_model flat = [] { // without the budget every node is worth its cost
        sd_cost_model m;
        for (int32_t n = 1; n <= SD_MAX_LEAVES + 1; n++) m.us[n] = 1.0;
        return m;
    }();
    double expected = 0, forecast = 1.0;
    const double margin = p.adaptive ? s->budget.forecast.margin() : 1.0;
    if (g.sampler.grammar != nullptr) drop_forbidden(g);
    const std::vector<bool> keep = sd_budget_select(g.tree, s->budget.rates, p.adaptive ? s->budget.cost : flat,
                                                    max_nodes, c->max_leaves, &expected, p.adaptive, margin, &forecast);
    g.tree = sd_tree_subset(g.tree, keep);
    if (per_column > 0) {
        // the auxiliary columns fit beside the tree: one sequence each, and room in the batch and context
        const int32_t n_nodes = sd_tree_size(g.tree);
        const int32_t max_columns = std::min({g.drafter->aux_columns(), c->max_leaves - sd_tree_leaves(g.tree),
                                              ((int32_t) c->n_batch - 1 - n_nodes) / per_column,
                                              (room - n_nodes) / per_column, room - per_column + 1});
        const int32_t columns = max_columns <= 0 ? 0
                              : p.adaptive ? sd_budget_columns(s->budget.cost, n_nodes, expected, g.drafter->aux_value(),
                                                               per_column, max_columns, margin)
                                           : max_columns;
        if (columns > 0) g.drafter->aux(columns, g.aux);
        forecast += g.drafter->aux_value() * (double) g.aux.token.size();
    }
    g.forecast = forecast;
    if (p.adaptive) {
        s->budget.kept(sd_tree_size(g.tree) > 0 || g.aux.n_columns > 0, (double) (llama_time_us() - t0),
                       g.drafter->costs_when_empty());
    }
    return SD_OK;
}

// The step's tokens: the first from the prompt's logits, later ones from a verified draft.
static sd_status produce(sd_session * s, std::vector<llama_token> & produced, bool * cancelled, std::string & error) {
    sd_generation & g = s->gen;
    if (g.have_logits) {
        g.sampler.dist(g.prompt_logits.empty() ? llama_get_logits_ith(s->ctx->ctx, -1) : g.prompt_logits.data(),
                       s->ctx->n_vocab, g.dist);
        g.have_logits = false;
        g.prompt_logits.clear();
        if (g.sampler.dead_end) {
            g.grammar_end = true;
            return SD_OK;
        }
        g.margins.push_back(g.sampler.margin);
        const llama_token token = sd_dist_sample_u(g.dist, sd_position_uniform(g.seed, 0));
        g.sampler.accept(token);
        produced.push_back(token);
        g.last = token;
        return SD_OK;
    }
    const int64_t t0 = llama_time_us();
    sd_status status = draft_tree(s, error);
    const int64_t t_drafted = llama_time_us();
    g.stats.t_draft_us += t_drafted - t0;
    if (status != SD_OK) return status;
    status = sd_verify_step(s, produced, cancelled, error);
    if (status == SD_OK && !*cancelled && g.drafter != nullptr && g.params.spec.adaptive) {
        // The whole step - drafting, evaluation, acceptance - is what a step of this size costs, except
        // for a drafter that decodes to draft (a draft model): the budget prices its decodes per node
        // (sd_rate::per_node_us), and counted in the step's cost too they were paid twice.
        const int64_t from = g.drafter->costs_when_empty() ? t_drafted : t0;
        // The forecasts' record (sd_forecast) checks the step against what the budget forecast for it.
        const int32_t n_eval = 1 + sd_tree_size(g.tree) + (int32_t) g.aux.token.size();
        const double took = (double) (llama_time_us() - from);
        s->budget.forecast.observe(n_eval, g.forecast, (int32_t) produced.size(), s->budget.cost.cost(n_eval),
                                   s->budget.cost.cost(1), took, g.attempted && g.drafter->costs_when_empty());
        s->budget.cost.observe(n_eval, took);
    }
    return status;
}

sd_status sd_generation_step(sd_session * s, sd_step_result & result, std::string & error) {
    sd_generation & g = s->gen;
    sd_context * c = s->ctx;
    result.tokens.clear();
    result.text.clear();
    result.margins.clear();
    result.stop = SD_STOP_NONE;
    if (!g.active) {
        return sd_fail(error, SD_ERR_STATE, "no generation is running (call sd_generation_begin first)");
    }
    if (g.draft_lost) {
        g.active = false;
        return sd_fail(error, SD_ERR_STATE, "the draft model was released while the generation was using it");
    }
    if (c->cancel.load()) {
        finish(s, result, SD_STOP_CANCELLED);
        return SD_OK;
    }
    if (!g.have_logits && c->cached.size() + 1 > c->n_ctx) {
        finish(s, result, SD_STOP_CONTEXT_FULL);
        return SD_OK;
    }

    std::vector<llama_token> produced;
    g.margins.clear();
    bool cancelled = false;
    const sd_status status = produce(s, produced, &cancelled, error);
    if (cancelled) {
        finish(s, result, SD_STOP_CANCELLED);
        return SD_OK;
    }
    if (status != SD_OK) {
        g.active = false;
        return status;
    }
    g.stats.n_steps++;
    if (g.stats.n_generated == 0) {
        g.t_first_token_us = llama_time_us();
        g.stats.t_first_us = g.t_first_token_us - g.t_start_us;
    }

    // Hand the tokens out one by one: a stop condition can end the step early, and then the KV cache
    // is cut back to what was handed out (the last token handed out is never in the cache, except
    // after a grammar's dead end, where every produced token was evaluated and none was drawn after).
    const size_t in_cache = g.grammar_end ? produced.size() : produced.size() - 1;
    const size_t n_before = c->cached.size() - in_cache;
    for (size_t i = 0; i < produced.size(); i++) {
        const llama_token token = produced[i];
        sd_stop_reason stop = SD_STOP_NONE;
        if (llama_vocab_is_eog(c->model->vocab, token)) {
            stop = SD_STOP_END_OF_TEXT;
        } else {
            g.stats.n_generated++;
            result.tokens.push_back(token);
            if (g.params.record_margins) result.margins.push_back(g.margins[i]);
            std::string piece;
            const sd_status st = sd_token_to_piece(c->model, token, false, piece, error);
            if (st != SD_OK) {
                g.active = false;
                return st;
            }
            if (sd_text_stream_push(g.text, piece, result.text)) {
                stop = SD_STOP_STOP_STRING;
            } else if (g.stats.n_generated >= g.params.max_tokens) {
                stop = SD_STOP_MAX_TOKENS;
            } else if (i + 1 == produced.size() && c->cached.size() >= c->n_ctx) {
                stop = SD_STOP_CONTEXT_FULL; // no position left for the token just drawn
            }
        }
        if (stop != SD_STOP_NONE) {
            if (i + 1 < produced.size()) {
                // tokens after this one were accepted but are not handed out
                sd_context_truncate(c, n_before + i);
                g.last = token;
                g.stats.n_accepted -= (int32_t) (produced.size() - 1 - i);
            }
            finish(s, result, stop);
            return SD_OK;
        }
    }
    if (g.grammar_end) {
        finish(s, result, SD_STOP_GRAMMAR);
        return SD_OK;
    }
    if (g.t_first_token_us > 0) {
        g.stats.t_gen_us = llama_time_us() - g.t_first_token_us;
    }
    return SD_OK;
}
