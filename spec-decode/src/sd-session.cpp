// A session: one llama_context and the tokens in its KV cache.
#include "sd-session.h"
#include "sd-internal.h"

#include "ggml-backend.h"

#include <cstring>

#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <algorithm>
#include <cmath>

static bool sd_abort_requested(void * data) {
    const sd_session * s = static_cast<sd_session *>(data);
    return s->cancel.load(std::memory_order_relaxed) ||
           (s->cancel_also != nullptr && s->cancel_also->load(std::memory_order_relaxed));
}

// The CPU backend's threadpool functions. With dynamically loaded backends (Debian's packages) they
// are not linkable, so they are looked up in the CPU backend's registry, as llama-bench does.
typedef ggml_threadpool * (*sd_threadpool_new_fn)(ggml_threadpool_params * params);
typedef void (*sd_threadpool_free_fn)(ggml_threadpool * threadpool);

static void * cpu_proc_address(const char * name) {
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    ggml_backend_reg_t reg = cpu != nullptr ? ggml_backend_dev_backend_reg(cpu) : nullptr;
    return reg != nullptr ? ggml_backend_reg_get_proc_address(reg, name) : nullptr;
}

// The graph callback: while s->capture is set, copies the final norm's output ("result_norm",
// [n_embd, outputs of the ubatch]) of each computation into s->hidden. Asked about every node, it
// wants only that one, so the graph is computed in two parts instead of one.
static bool capture_hidden(ggml_tensor * t, bool ask, void * user) {
    sd_session * s = static_cast<sd_session *>(user);
    if (!s->capture || std::strcmp(t->name, "result_norm") != 0) return false;
    if (ask) return true;
    s->hidden.resize((size_t) ggml_nelements(t));
    if (t->type == GGML_TYPE_F32 && ggml_is_contiguous(t)) {
        ggml_backend_tensor_get(t, s->hidden.data(), 0, ggml_nbytes(t));
        s->hidden_n = (int32_t) t->ne[1];
    } else {
        s->hidden_n = 0;
    }
    return true;
}

static ggml_threadpool * threadpool_init(int32_t n_threads) {
    auto fn = (sd_threadpool_new_fn) cpu_proc_address("ggml_threadpool_new");
    if (fn == nullptr) {
        return nullptr;
    }
    ggml_threadpool_params params = ggml_threadpool_params_default(n_threads);
    return fn(&params);
}

static void threadpool_free(ggml_threadpool * threadpool) {
    auto fn = (sd_threadpool_free_fn) cpu_proc_address("ggml_threadpool_free");
    if (threadpool != nullptr && fn != nullptr) {
        fn(threadpool);
    }
}

sd_status sd_session_init(sd_model * model, const sd_session_params & params, sd_session ** out, std::string & error) {
    *out = nullptr;
    sd_status status = sd_session_params_check(params, error);
    if (status != SD_OK) {
        return status;
    }
    // the model's defaults, checked by the same table when the model was loaded
    const uint32_t n_ctx = params.n_ctx != 0 ? params.n_ctx : model->params.n_ctx;
    const int32_t  n_threads = params.n_threads != 0 ? params.n_threads : model->params.n_threads;
    if (n_ctx < 8) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the model's default context size " + std::to_string(n_ctx) +
                       " is below 8 tokens: give the session a context size");
    }
    // One sequence per draft path plus the text and a scratch sequence, but never more sequences than
    // batch slots: llama.cpp asserts (aborting the process) otherwise.
    const uint32_t n_seq = (uint32_t) std::min<size_t>({(size_t) SD_N_SEQ, llama_max_parallel_sequences(),
                                                        (size_t) std::max(2u, n_ctx / 2)});
    const uint32_t n_batch = std::max(n_seq, std::min(params.n_batch != 0 ? params.n_batch : 512u, n_ctx));

    sd_session * s = new sd_session();
    s->model   = model;
    s->n_ctx   = n_ctx;
    s->n_batch = n_batch;

    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx           = n_ctx;
    cparams.n_batch         = n_batch;
    cparams.n_ubatch        = n_batch;
    // one unified cache, so that draft paths share the text's cells instead of copying them
    cparams.n_seq_max       = n_seq;
    cparams.kv_unified      = true;
    // Flash attention computes a token's attention differently depending on how many tokens share
    // the batch; near-ties can then flip between plain decoding and a verification step (greedy
    // margins up to 3e-3 were seen on the test model). Off by default, so that speculation gives
    // plain decoding's output.
    cparams.flash_attn_type = params.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    if (params.kv_f32) {
        cparams.type_k = GGML_TYPE_F32;
        cparams.type_v = GGML_TYPE_F32;
    }
    cparams.n_threads       = n_threads;
    cparams.n_threads_batch = n_threads;
    // hidden states for drafters that read them (Medusa heads): copied from the graph as it is
    // computed (see capture_hidden). llama.cpp's own embeddings output would make every prompt
    // token an output (logits for all of them), and cannot be switched on in a live context.
    cparams.cb_eval           = capture_hidden;
    cparams.cb_eval_user_data = s;
    cparams.no_perf         = true;
    cparams.abort_callback      = sd_abort_requested;
    cparams.abort_callback_data = s;

    sd_log_take_last_error();
    s->ctx = llama_init_from_model(model->model, cparams);
    if (s->ctx == nullptr) {
        std::string reason = sd_log_take_last_error();
        delete s;
        return sd_fail(error, SD_ERR_CONTEXT_INIT,
                       "llama.cpp could not create a context of " + std::to_string(n_ctx) + " tokens" +
                       (reason.empty() ? "" : ": " + reason));
    }
    s->n_ctx = llama_n_ctx(s->ctx);
    s->sparams = params;
    s->sparams.n_ctx = s->n_ctx;
    s->sparams.n_threads = n_threads;
    s->n_batch = std::min(llama_n_batch(s->ctx), llama_n_ubatch(s->ctx));
    s->n_vocab = llama_vocab_n_tokens(model->vocab);
    s->max_leaves = (int32_t) llama_n_seq_max(s->ctx) - 2;
    s->seq_scratch = (llama_seq_id) llama_n_seq_max(s->ctx) - 1;
    s->batch = llama_batch_init((int32_t) s->n_batch, 0, (int32_t) llama_n_seq_max(s->ctx));
    s->threadpool = threadpool_init(n_threads);
    if (s->threadpool != nullptr) {
        llama_attach_threadpool(s->ctx, s->threadpool, s->threadpool);
    }
    *out = s;
    return SD_OK;
}

void sd_session_free(sd_session * s) {
    if (s == nullptr) {
        return;
    }
    s->draft.reset(); // its context may use this session's threads
    if (s->filter != nullptr) {
        llama_sampler_free(s->filter);
    }
    llama_batch_free(s->batch);
    if (s->threadpool != nullptr) {
        llama_detach_threadpool(s->ctx);
    }
    llama_free(s->ctx);
    if (s->owns_threadpool) {
        threadpool_free(s->threadpool);
    }
    delete s;
}

void sd_session_follow(sd_session * s, sd_session * target) {
    if (target->threadpool != nullptr) {
        if (s->threadpool != nullptr) {
            llama_detach_threadpool(s->ctx);
            if (s->owns_threadpool) threadpool_free(s->threadpool);
        }
        s->threadpool = target->threadpool;
        s->owns_threadpool = false;
        llama_attach_threadpool(s->ctx, s->threadpool, s->threadpool);
    }
    s->cancel_also = &target->cancel;
}

void sd_session_drop_draft_model(sd_session * s, const sd_model * draft) {
    if (s == nullptr || (draft != nullptr && draft != s->draft_model)) {
        return;
    }
    if (s->active && s->drafter != nullptr && s->drafter == s->draft.get()) {
        s->drafter = nullptr;
        s->draft_lost = true; // the next step reports it
    }
    s->draft.reset();
    s->draft_model = nullptr;
}

uint32_t sd_session_n_ctx(const sd_session * s) {
    return s->n_ctx;
}

const std::vector<llama_token> & sd_session_cached_tokens(const sd_session * s) {
    return s->cached;
}

void sd_session_reset(sd_session * s) {
    llama_memory_clear(llama_get_memory(s->ctx), true);
    s->cached.clear();
    s->active = false;
    s->have_logits = false;
}

void sd_session_cancel(sd_session * s) {
    s->cancel.store(true);
}

sd_stats sd_generation_stats(const sd_session * s) {
    return s->stats;
}

// Drops the KV cache from position n on.
void sd_cache_truncate(sd_session * s, size_t n) {
    if (n < s->cached.size()) {
        llama_memory_seq_rm(llama_get_memory(s->ctx), 0, (llama_pos) n, -1);
        s->cached.resize(n);
    }
}

// Evaluates tokens after the cached ones in batches of n_batch; logits for the last one only.
// *cancelled tells an abort through sd_session_cancel apart from a failure.
int32_t sd_llama_decode(sd_session * s, const llama_batch & batch) {
    sd_log_cancel_scope quiet(s->cancel_also != nullptr ? s->cancel_also : &s->cancel);
    return llama_decode(s->ctx, batch);
}

sd_status sd_decode_tokens(sd_session * s, const llama_token * tokens, size_t n, bool * cancelled,
                               std::string & error) {
    *cancelled = false;
    for (size_t i = 0; i < n; i += s->n_batch) {
        const size_t n_chunk = std::min((size_t) s->n_batch, n - i);
        s->batch.n_tokens = (int32_t) n_chunk;
        for (size_t j = 0; j < n_chunk; j++) {
            s->batch.token[j]     = tokens[i + j];
            s->batch.pos[j]       = (llama_pos) (s->cached.size() + j);
            s->batch.n_seq_id[j]  = 1;
            s->batch.seq_id[j][0] = 0;
            s->batch.logits[j]    = (i + j == n - 1);
        }
        const int32_t rc = sd_llama_decode(s, s->batch);
        if (rc != 0) {
            // An aborted or failed decode may leave part of the batch in the cache: drop it, so the
            // cache holds exactly the tokens we know of.
            llama_memory_seq_rm(llama_get_memory(s->ctx), 0, (llama_pos) s->cached.size(), -1);
            if (rc == 2) {
                *cancelled = true;
                return SD_OK;
            }
            std::string reason = sd_log_take_last_error();
            return sd_fail(error, SD_ERR_DECODE,
                           "llama_decode failed with code " + std::to_string(rc) + " at position " +
                           std::to_string(s->cached.size()) + (reason.empty() ? "" : ": " + reason));
        }
        s->cached.insert(s->cached.end(), tokens + i, tokens + i + n_chunk);
    }
    return SD_OK;
}

// Makes the cache hold exactly `tokens`, evaluating only what is not already there (at least the
// last token, so that its logits are fresh). Returns SD_OK with *cancelled set on cancellation.
sd_status sd_cache_load(sd_session * s, const std::vector<llama_token> & tokens, bool * cancelled,
                            std::string & error, int32_t * n_reused) {
    size_t n_keep = 0;
    while (n_keep < s->cached.size() && n_keep < tokens.size() && s->cached[n_keep] == tokens[n_keep]) {
        n_keep++;
    }
    n_keep = std::min(n_keep, tokens.size() - 1);
    sd_cache_truncate(s, n_keep);
    if (n_reused != nullptr) *n_reused = (int32_t) n_keep;
    return sd_decode_tokens(s, tokens.data() + n_keep, tokens.size() - n_keep, cancelled, error);
}

sd_status sd_check_prompt(const sd_session * s, const std::vector<llama_token> & prompt, std::string & error) {
    if (prompt.empty()) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the prompt has no tokens");
    }
    const int32_t n_vocab = llama_vocab_n_tokens(s->model->vocab);
    for (size_t i = 0; i < prompt.size(); i++) {
        if (prompt[i] < 0 || prompt[i] >= n_vocab) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                           "prompt token " + std::to_string(prompt[i]) + " at index " + std::to_string(i) +
                           " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
        }
    }
    if (prompt.size() >= s->n_ctx) {
        return sd_fail(error, SD_ERR_CONTEXT_OVERFLOW,
                       "the prompt has " + std::to_string(prompt.size()) + " tokens but the context holds " +
                       std::to_string(s->n_ctx) + " (at least one more is needed to generate)");
    }
    return SD_OK;
}

sd_status sd_session_logits(sd_session * s, const std::vector<llama_token> & tokens, std::vector<float> & out,
                            std::string & error) {
    if (s->active) {
        return sd_fail(error, SD_ERR_STATE, "a generation is running");
    }
    sd_status status = sd_check_prompt(s, tokens, error);
    if (status != SD_OK) {
        return status;
    }
    s->cancel.store(false);
    bool cancelled = false;
    status = sd_cache_load(s, tokens, &cancelled, error, nullptr);
    if (status != SD_OK) {
        return status;
    }
    if (cancelled) {
        return sd_fail(error, SD_ERR_STATE, "cancelled");
    }
    const float * logits = llama_get_logits_ith(s->ctx, -1);
    out.assign(logits, logits + llama_vocab_n_tokens(s->model->vocab));
    return SD_OK;
}

sd_status sd_session_measure_decode_cost(sd_session * s, const std::vector<int32_t> & batch_sizes, int32_t depth,
                                         int32_t reps, std::vector<double> & out_us, std::string & error) {
    out_us.clear();
    if (s->active) {
        return sd_fail(error, SD_ERR_STATE, "cannot measure while a generation runs");
    }
    if (depth < 1 || reps < 1) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "depth and reps must be >= 1");
    }
    for (int32_t n : batch_sizes) {
        if (n < 1 || (uint32_t) n > s->n_batch || (uint32_t) (depth + n) > s->n_ctx) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                           "batch size " + std::to_string(n) + " at depth " + std::to_string(depth) +
                           " does not fit (batch " + std::to_string(s->n_batch) + ", context " +
                           std::to_string(s->n_ctx) + ")");
        }
    }
    // Ordinary text tokens: cycle through the vocabulary after the first few special ids.
    std::vector<llama_token> fill((size_t) depth);
    for (int32_t i = 0; i < depth; i++) {
        fill[(size_t) i] = (llama_token) (3 + (int64_t) i * 7919 % (s->n_vocab - 3));
    }
    sd_session_reset(s);
    s->cancel.store(false);
    bool cancelled = false;
    sd_status status = sd_decode_tokens(s, fill.data(), fill.size(), &cancelled, error);
    if (status == SD_OK && cancelled) {
        status = sd_fail(error, SD_ERR_STATE, "cancelled");
    }
    if (status == SD_OK) {
        status = sd_measure_cost_here(s, batch_sizes, reps, out_us, error);
    }
    sd_session_reset(s);
    return status;
}

sd_status sd_measure_cost_here(sd_session * s, const std::vector<int32_t> & sizes, int32_t reps,
                               std::vector<double> & out_us, std::string & error) {
    out_us.clear();
    llama_memory_t mem = llama_get_memory(s->ctx);
    const llama_pos depth = (llama_pos) s->cached.size();
    llama_memory_seq_cp(mem, 0, s->seq_scratch, -1, -1);
    sd_status status = SD_OK;
    for (int32_t n : sizes) {
        double best = 0;
        for (int32_t r = 0; r <= reps && status == SD_OK; r++) {
            s->batch.n_tokens = n;
            for (int32_t j = 0; j < n; j++) {
                s->batch.token[j]     = s->cached.empty() ? 1 : s->cached[(size_t) j % s->cached.size()];
                s->batch.pos[j]       = depth + j;
                s->batch.n_seq_id[j]  = 1;
                s->batch.seq_id[j][0] = s->seq_scratch;
                s->batch.logits[j]    = true;
            }
            const int64_t t0 = llama_time_us();
            const int32_t rc = sd_llama_decode(s, s->batch);
            llama_synchronize(s->ctx);
            const double t = (double) (llama_time_us() - t0);
            llama_memory_seq_rm(mem, s->seq_scratch, depth, -1);
            if (rc != 0) {
                status = sd_fail(error, rc == 2 ? SD_ERR_STATE : SD_ERR_DECODE,
                                 "measuring the decode cost failed with code " + std::to_string(rc));
            } else if (r == 1 || (r > 1 && t < best)) {
                best = t; // r == 0 is the warm-up (graph allocation for a new batch shape)
            }
        }
        if (status != SD_OK) break;
        out_us.push_back(best);
    }
    llama_memory_seq_rm(mem, s->seq_scratch, -1, -1);
    return status;
}
