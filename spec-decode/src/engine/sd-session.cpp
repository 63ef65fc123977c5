#include "engine/sd-session.h"
#include "model/sd-log.h"

sd_status sd_session_init(sd_model * model, const sd_session_params & params, sd_session ** out, std::string & error) {
    *out = nullptr;
    sd_context * ctx = nullptr;
    const sd_status status = sd_context_init(model, params, &ctx, error);
    if (status != SD_OK) {
        return status;
    }
    sd_session * s = new sd_session();
    s->ctx = ctx;
    *out = s;
    return SD_OK;
}

void sd_session_free(sd_session * s) {
    if (s == nullptr) {
        return;
    }
    sd_context * ctx = s->ctx;
    delete s; // the drafters first: a draft model's context runs on the session's threads
    sd_context_free(ctx);
}

uint32_t sd_session_n_ctx(const sd_session * s) {
    return s->ctx->n_ctx;
}

const sd_model * sd_session_model(const sd_session * s) {
    return s->ctx->model;
}

int32_t sd_session_threads(const sd_session * s) {
    return s->ctx->n_threads_set;
}

int32_t sd_sessions_decoding(void) {
    return sd_threads_active(llama_time_us());
}

const std::vector<llama_token> & sd_session_cached_tokens(const sd_session * s) {
    return s->ctx->cached;
}

void sd_session_reset(sd_session * s) {
    sd_context_reset(s->ctx);
    s->gen.active = false;
    s->gen.have_logits = false;
    s->gen.prompt_logits.clear();
}

void sd_session_cancel(sd_session * s) {
    s->ctx->cancel.store(true);
}

sd_stats sd_generation_stats(const sd_session * s) {
    return s->gen.stats;
}

void sd_session_drop_draft_model(sd_session * s, const sd_model * draft) {
    if (s == nullptr) {
        return;
    }
    const sd_drafter * dropped = sd_drafters_drop_draft_model(s->drafters, draft);
    if (dropped != nullptr && s->gen.active && s->gen.drafter == dropped) {
        s->gen.drafter = nullptr;
        s->gen.draft_lost = true; // the next step reports it
    }
}

sd_status sd_session_logits(sd_session * s, const std::vector<llama_token> & tokens, std::vector<float> & out,
                            std::string & error) {
    if (s->gen.active) {
        return sd_fail(error, SD_ERR_STATE, "a generation is running");
    }
    sd_status status = sd_context_check_prompt(s->ctx, tokens, error);
    if (status != SD_OK) {
        return status;
    }
    s->ctx->cancel.store(false);
    bool cancelled = false;
    status = sd_context_load(s->ctx, tokens, &cancelled, nullptr, error);
    if (status != SD_OK) {
        return status;
    }
    if (cancelled) {
        return sd_fail(error, SD_ERR_STATE, "cancelled");
    }
    const float * logits = llama_get_logits_ith(s->ctx->ctx, -1);
    out.assign(logits, logits + s->ctx->n_vocab);
    return SD_OK;
}

sd_status sd_session_measure_decode_cost(sd_session * s, const std::vector<int32_t> & batch_sizes, int32_t depth,
                                         int32_t reps, std::vector<double> & out_us, std::string & error) {
    out_us.clear();
    sd_context * c = s->ctx;
    if (s->gen.active) {
        return sd_fail(error, SD_ERR_STATE, "cannot measure while a generation runs");
    }
    if (depth < 1 || reps < 1) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "depth and reps must be >= 1");
    }
    for (int32_t n : batch_sizes) {
        if (n < 1 || (uint32_t) n > c->n_batch || (uint32_t) (depth + n) > c->n_ctx) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                           "batch size " + std::to_string(n) + " at depth " + std::to_string(depth) +
                           " does not fit (batch " + std::to_string(c->n_batch) + ", context " +
                           std::to_string(c->n_ctx) + ")");
        }
    }
    // Ordinary text tokens: cycle through the vocabulary after the first few special ids.
    std::vector<llama_token> fill((size_t) depth);
    for (int32_t i = 0; i < depth; i++) {
        fill[(size_t) i] = (llama_token) (3 + (int64_t) i * 7919 % (c->n_vocab - 3));
    }
    sd_session_reset(s);
    c->cancel.store(false);
    bool cancelled = false;
    sd_status status = sd_context_eval(c, fill.data(), fill.size(), false, &cancelled, error);
    if (status == SD_OK && cancelled) {
        status = sd_fail(error, SD_ERR_STATE, "cancelled");
    }
    if (status == SD_OK) {
        status = sd_context_measure_cost(c, batch_sizes, reps, reps, out_us, error);
    }
    sd_session_reset(s);
    return status;
}

sd_status sd_session_prepare_cost(sd_session * s, std::string & error) {
    if (!s->budget.cost.empty()) return SD_OK;
    const sd_context * c = s->ctx;
    // The powers of two up to 8, one decode each: the curve's outline, which the steps fill in. CPU
    // kernels work in blocks, so the curve is not linear between powers of two, but a size priced too
    // low between them is learnt from the first step the budget runs with it (and a point set too high
    // is forgotten, SD_COST_FORGET). Measuring every size up to 6, then 8, 12 and 16 made a session's
    // first generation spend about 35 single-token decodes before its first token; these, about 13.
    //
    // The single token is measured three times, the fastest kept: every size is priced against it, and
    // a generation whose every step drafts runs it next only SD_COST_SINGLE steps later. One decode
    // measured in a stall (1.2-2x the usual time in 5 of 38 sessions' first generations on the
    // 2-core build machine) made drafting look up to twice as cheap as it was for those 32 steps: with
    // the perfect drafter and the Q8_0 cost-scaled model, a single token priced at 32.6 ms where it
    // took 22.
    std::vector<int32_t> sizes;
    for (int32_t n : {1, 2, 4, 8}) {
        if ((uint32_t) n <= c->n_batch && c->cached.size() + (size_t) n < c->n_ctx) sizes.push_back(n);
    }
    std::vector<double> us;
    const sd_status status = sd_context_measure_cost(s->ctx, sizes, 3, 1, us, error);
    if (status != SD_OK) return status;
    for (size_t i = 0; i < sizes.size(); i++) s->budget.cost.us[sizes[i]] = us[i];
    return SD_OK;
}

void sd_session_pass_hidden(sd_session * s, const std::vector<int32_t> & rows, int32_t last_pos) {
    sd_drafter * d = s->gen.drafter;
    if (d == nullptr || !d->wants_hidden()) return;
    std::vector<const float *> x;
    for (int32_t row : rows) x.push_back(sd_context_hidden(s->ctx, row));
    d->hidden(x.data(), (int32_t) x.size(), s->ctx->n_embd, last_pos);
}
