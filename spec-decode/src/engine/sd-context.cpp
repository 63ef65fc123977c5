#include "engine/sd-context.h"
#include "engine/sd-settings.h"
#include "model/sd-log.h"
#include "model/sd-model.h"

#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <memory>

static bool abort_requested(void * data) {
    sd_context * c = static_cast<sd_context *>(data);
    if (c->deadline_us != 0 && llama_time_us() > c->deadline_us) {
        c->deadline_hit = true;
        return true;
    }
    return c->cancel.load(std::memory_order_relaxed) ||
           (c->cancel_also != nullptr && c->cancel_also->load(std::memory_order_relaxed));
}

// The CPU backend's threadpool functions. With dynamically loaded backends (Debian's packages) they
// are not linkable, so they are looked up in the CPU backend's registry, as llama-bench does.
typedef ggml_threadpool * (*threadpool_new_fn)(ggml_threadpool_params * params);
typedef void (*threadpool_free_fn)(ggml_threadpool * threadpool);

static void * cpu_proc_address(const char * name) {
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    ggml_backend_reg_t reg = cpu != nullptr ? ggml_backend_dev_backend_reg(cpu) : nullptr;
    return reg != nullptr ? ggml_backend_reg_get_proc_address(reg, name) : nullptr;
}

static ggml_threadpool * threadpool_init(int32_t n_threads) {
    auto fn = (threadpool_new_fn) cpu_proc_address("ggml_threadpool_new");
    if (fn == nullptr) {
        return nullptr;
    }
    ggml_threadpool_params params = ggml_threadpool_params_default(n_threads);
    return fn(&params);
}

static void threadpool_free(ggml_threadpool * threadpool) {
    auto fn = (threadpool_free_fn) cpu_proc_address("ggml_threadpool_free");
    if (threadpool != nullptr && fn != nullptr) {
        fn(threadpool);
    }
}

// The graph callback: while c->capture is set, copies the final norm's output ("result_norm",
// [n_embd, outputs of the ubatch]) of each computation into c->hidden. Asked about every node, it
// wants only that one, so the graph is computed in two parts instead of one.
static bool capture_hidden(ggml_tensor * t, bool ask, void * user) {
    sd_context * c = static_cast<sd_context *>(user);
    if (!c->capture || std::strcmp(t->name, c->capture_name) != 0) return false;
    if (ask) return true;
    c->hidden.resize((size_t) ggml_nelements(t));
    if (t->type == GGML_TYPE_F32 && ggml_is_contiguous(t)) {
        ggml_backend_tensor_get(t, c->hidden.data(), 0, ggml_nbytes(t));
        c->hidden_n = (int32_t) t->ne[1];
    } else {
        c->hidden_n = 0;
    }
    return true;
}

// The cache holds no text any more (emptied, or a new context): neither sequence 0 nor any path's.
static void forget_text(sd_context * c) {
    c->cached.clear();
    std::fill(c->text_upto.begin(), c->text_upto.end(), 0);
}

sd_status sd_context_init(sd_model * model, const sd_session_params & params, sd_context ** out, std::string & error) {
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

    sd_context * c = new sd_context();
    c->model = model;

    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx           = n_ctx;
    cparams.n_batch         = n_batch;
    cparams.n_ubatch        = n_batch;
    // one unified cache, so that draft paths share the text's cells instead of copying them
    cparams.n_seq_max       = n_seq;
    cparams.kv_unified      = true;
    // Flash attention computes a token's attention differently depending on how many tokens share
    // the batch, so near-ties can flip between plain decoding and a verification step; strict
    // numerics turn it off (and keep keys and values in F32) so that they cannot.
    const int32_t flash_attn = params.strict_numerics ? SD_FLASH_ATTN_OFF : params.flash_attn;
    cparams.flash_attn_type = flash_attn == SD_FLASH_ATTN_ON  ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                            : flash_attn == SD_FLASH_ATTN_OFF ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                                              : LLAMA_FLASH_ATTN_TYPE_AUTO;
    if (params.kv_f32 || params.strict_numerics) {
        cparams.type_k = GGML_TYPE_F32;
        cparams.type_v = GGML_TYPE_F32;
    }
    cparams.n_threads       = n_threads;
    cparams.n_threads_batch = n_threads;
    // Hidden states for drafters that read them (Medusa heads) and for training are copied from the
    // graph as it is computed, by a callback installed when first needed (sd_context_enable_capture).
    cparams.no_perf             = true;
    cparams.abort_callback      = abort_requested;
    cparams.abort_callback_data = c;

    sd_log_take_last_error();
    {
        auto made = std::make_shared<llama_context *>(nullptr);
        llama_model * lm = model->model;
        const sd_status status = sd_rpc_call(&model->rpc, [made, lm, cparams] { *made = llama_init_from_model(lm, cparams); },
                                             error);
        if (status != SD_OK) return status; // c is left to a call that may still be running
        c->ctx = *made;
    }
    if (c->ctx == nullptr) {
        std::string reason = sd_log_take_last_error();
        delete c;
        return sd_fail(error, SD_ERR_CONTEXT_INIT,
                       "llama.cpp could not create a context of " + std::to_string(n_ctx) + " tokens" +
                       (reason.empty() ? "" : ": " + reason));
    }
    c->cparams = cparams;
    c->n_ctx = llama_n_ctx(c->ctx);
    c->params = params;
    c->params.n_ctx = c->n_ctx;
    c->params.n_threads = n_threads;
    c->n_batch = std::min(llama_n_batch(c->ctx), llama_n_ubatch(c->ctx));
    c->n_vocab = llama_vocab_n_tokens(model->vocab);
    c->n_embd = llama_model_n_embd(model->model);
    c->max_leaves = (int32_t) llama_n_seq_max(c->ctx) - 2;
    c->seq_scratch = (llama_seq_id) llama_n_seq_max(c->ctx) - 1;
    c->text_upto.assign((size_t) llama_n_seq_max(c->ctx), 0);
    c->batch = llama_batch_init((int32_t) c->n_batch, 0, (int32_t) llama_n_seq_max(c->ctx));
    c->threadpool = threadpool_init(n_threads);
    if (c->threadpool != nullptr) {
        llama_attach_threadpool(c->ctx, c->threadpool, c->threadpool);
    }
    c->n_threads_set = n_threads;
    sd_threads_init(c->threads, n_threads, params.n_threads == 0 && model->threads_automatic);
    *out = c;
    return SD_OK;
}

sd_status sd_context_enable_capture(sd_context * c, std::string & error) {
    if (c->can_capture) return SD_OK;
    // llama.cpp's own embeddings output would make every prompt token an output (logits for all of
    // them) and cannot be switched on in a live context; the graph callback copies what we need
    llama_context_params cparams = c->cparams;
    cparams.cb_eval           = capture_hidden;
    cparams.cb_eval_user_data = c;
    sd_log_take_last_error();
    auto made = std::make_shared<llama_context *>(nullptr);
    llama_model * lm = c->model->model;
    const sd_status status = sd_rpc_call(&c->model->rpc, [made, lm, cparams] { *made = llama_init_from_model(lm, cparams); },
                                         error);
    if (status != SD_OK) return status;
    llama_context * ctx = *made;
    if (ctx == nullptr) {
        const std::string reason = sd_log_take_last_error();
        return sd_fail(error, SD_ERR_CONTEXT_INIT, "llama.cpp could not make the context again with the hidden-state "
                       "capture" + (reason.empty() ? std::string() : ": " + reason));
    }
    if (c->threadpool != nullptr) llama_detach_threadpool(c->ctx);
    llama_context * old = c->ctx;
    std::string ignored;
    sd_rpc_call(&c->model->rpc, [old] { llama_free(old); }, ignored);
    c->ctx = ctx;
    if (c->threadpool != nullptr) llama_attach_threadpool(c->ctx, c->threadpool, c->threadpool);
    c->cparams = cparams;
    c->n_threads_set = cparams.n_threads;
    forget_text(c);
    c->can_capture = true;
    return SD_OK;
}

void sd_context_free(sd_context * c) {
    if (c == nullptr) {
        return;
    }
    sd_rpc_link & rpc = c->model->rpc;
    if (rpc.active() && rpc.broken) {
        // its server went away: freeing would talk to it, and a call may still be waiting on it
        return;
    }
    if (c->leader == nullptr) sd_threads_free(c->threads);
    if (c->threadpool != nullptr) {
        llama_detach_threadpool(c->ctx);
    }
    llama_context * ctx = c->ctx;
    std::string ignored;
    if (sd_rpc_call(&rpc, [ctx] { llama_free(ctx); }, ignored) != SD_OK) return;
    llama_batch_free(c->batch);
    if (c->owns_threadpool) {
        threadpool_free(c->threadpool);
    }
    delete c;
}

void sd_context_follow(sd_context * c, sd_context * leader) {
    if (leader->threadpool != nullptr) {
        if (c->threadpool != nullptr) {
            llama_detach_threadpool(c->ctx);
            if (c->owns_threadpool) threadpool_free(c->threadpool);
        }
        c->threadpool = leader->threadpool;
        c->owns_threadpool = false;
        llama_attach_threadpool(c->ctx, c->threadpool, c->threadpool);
    }
    c->cancel_also = &leader->cancel;
    if (c->leader == nullptr) sd_threads_follow(c->threads);
    c->leader = leader;
}

void sd_context_reset(sd_context * c) {
    llama_context * ctx = c->ctx;
    std::string ignored; // a server gone away fails the next decode
    sd_rpc_call(&c->model->rpc, [ctx] { llama_memory_clear(llama_get_memory(ctx), true); }, ignored);
    forget_text(c);
}

void sd_context_truncate(sd_context * c, size_t n) {
    if (n < c->cached.size()) {
        llama_memory_seq_rm(llama_get_memory(c->ctx), -1, (llama_pos) n, -1); // every sequence of the text
        c->cached.resize(n);
        for (llama_pos & upto : c->text_upto) upto = std::min(upto, (llama_pos) n);
    }
}

void sd_context_share_text(sd_context * c, int32_t n_seqs) {
    llama_memory_t mem = llama_get_memory(c->ctx);
    const llama_pos end = (llama_pos) c->cached.size();
    for (llama_seq_id q = 1; q < n_seqs; q++) {
        llama_pos & upto = c->text_upto[(size_t) q];
        if (upto < end) llama_memory_seq_cp(mem, 0, q, upto, end);
        upto = end;
    }
}

// CPU time of the calling thread, which takes part in the CPU backend's computation: a thread
// that other programs keep off its core gets less of it than the time that passes.
static int64_t thread_cpu_us() {
    timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_threads(sd_context * c, int32_t n_threads) {
    if (n_threads != c->n_threads_set) {
        llama_set_n_threads(c->ctx, n_threads, n_threads);
        c->n_threads_set = n_threads;
    }
}

// Removes from the KV cache what decoding `batch` added: for each of its sequences, every position
// from the batch's first for that sequence on.
static void forget_batch(sd_context * c, const llama_batch & batch) {
    std::vector<std::pair<llama_seq_id, llama_pos>> first;
    for (int32_t i = 0; i < batch.n_tokens; i++) {
        for (int32_t k = 0; k < batch.n_seq_id[i]; k++) {
            const llama_seq_id q = batch.seq_id[i][k];
            auto it = std::find_if(first.begin(), first.end(), [q](const auto & f) { return f.first == q; });
            if (it == first.end()) first.emplace_back(q, batch.pos[i]);
            else it->second = std::min(it->second, batch.pos[i]);
        }
    }
    llama_memory_t mem = llama_get_memory(c->ctx);
    for (const auto & f : first) llama_memory_seq_rm(mem, f.first, f.second, -1);
}

namespace {
// sd_context_decode's code when the model's RPC server went away (SD_ERR_RPC, message below)
const int32_t k_rpc_failed = -1000;
thread_local std::string t_rpc_error;
}

// llama_decode; for a model on RPC servers with its completion, on sd_rpc_call's terms.
static int32_t decode(sd_context * c, const llama_batch & batch) {
    sd_rpc_link & rpc = c->model->rpc;
    if (!rpc.active()) return llama_decode(c->ctx, batch);
    auto code = std::make_shared<int32_t>(k_rpc_failed);
    llama_context * ctx = c->ctx;
    const llama_batch b = batch; // its arrays belong to the context or the verifier, kept on failure
    const sd_status status = sd_rpc_call(&rpc, [code, ctx, b] {
        const int32_t r = llama_decode(ctx, b);
        if (r == 0) llama_synchronize(ctx);
        *code = r;
    }, t_rpc_error);
    return status == SD_OK ? *code : k_rpc_failed;
}

int32_t sd_context_decode(sd_context * c, const llama_batch & batch) {
    sd_log_cancel_scope quiet(c->cancel_also != nullptr ? c->cancel_also : &c->cancel, &c->deadline_hit);
    if (c->leader != nullptr) c->threads.n_cap = c->leader->n_threads_set.load();
    int64_t t0 = llama_time_us();
    int64_t cpu0 = thread_cpu_us();
    int64_t limit_us = 0;
    int32_t n_threads = sd_threads_begin(c->threads, batch.n_tokens, t0, true, &limit_us);
    set_threads(c, n_threads);
    // A try of another thread count that runs far longer than the count in use would (on a busy
    // machine the threads can wait for each other for milliseconds at every operation) is stopped;
    // llama.cpp then takes the batch out of the KV cache, and it is decoded again as usual.
    c->deadline_us = limit_us > 0 ? t0 + limit_us : 0;
    c->deadline_hit = false;
    if (c->before_decode != nullptr) c->before_decode(batch.n_tokens, c->before_decode_data);
    int32_t code = decode(c, batch);
    c->deadline_us = 0;
    if (code == 2 && c->deadline_hit && !abort_requested(c)) {
        // after llama.cpp's abort, decoding a draft tree's batch (tokens in several sequences) again
        // failed (-1, the sequences' positions did not continue): every sequence is cut back here
        forget_batch(c, batch);
        const int64_t t1 = llama_time_us();
        sd_threads_end(c->threads, {batch.n_tokens, n_threads, t1 - t0, 0, t1, true});
        t0 = t1;
        cpu0 = thread_cpu_us();
        n_threads = sd_threads_begin(c->threads, batch.n_tokens, t0, false, &limit_us);
        set_threads(c, n_threads);
        c->deadline_hit = false;
        code = decode(c, batch);
    }
    // a GPU backend returns before it has finished (over RPC, decode() has waited)
    if (code == 0 && !c->model->rpc.active()) llama_synchronize(c->ctx);
    const int64_t t1 = llama_time_us();
    sd_threads_end(c->threads, {batch.n_tokens, n_threads, code == 0 ? t1 - t0 : -1, thread_cpu_us() - cpu0, t1, false});
    return code;
}

sd_status sd_context_decode_error(int32_t code, size_t position, std::string & error) {
    const std::string reason = sd_log_take_last_error();
    if (code == k_rpc_failed) return sd_fail(error, SD_ERR_RPC, t_rpc_error);
    return sd_fail(error, SD_ERR_DECODE, "llama_decode failed with code " + std::to_string(code) + " at position " +
                   std::to_string(position) + (reason.empty() ? "" : ": " + reason));
}

sd_status sd_context_eval(sd_context * c, const llama_token * tokens, size_t n, bool all_logits, bool * cancelled,
                          std::string & error) {
    *cancelled = false;
    for (size_t i = 0; i < n; i += c->n_batch) {
        const size_t n_chunk = std::min((size_t) c->n_batch, n - i);
        c->batch.n_tokens = (int32_t) n_chunk;
        for (size_t j = 0; j < n_chunk; j++) {
            c->batch.token[j]     = tokens[i + j];
            c->batch.pos[j]       = (llama_pos) (c->cached.size() + j);
            c->batch.n_seq_id[j]  = 1;
            c->batch.seq_id[j][0] = 0;
            c->batch.logits[j]    = all_logits || i + j == n - 1;
        }
        const int32_t rc = sd_context_decode(c, c->batch);
        if (rc != 0) {
            // An aborted or failed decode may leave part of the batch in the cache: drop it, so the
            // cache holds exactly the tokens we know of.
            llama_memory_seq_rm(llama_get_memory(c->ctx), -1, (llama_pos) c->cached.size(), -1);
            if (rc == 2) {
                *cancelled = true;
                return SD_OK;
            }
            return sd_context_decode_error(rc, c->cached.size(), error);
        }
        c->cached.insert(c->cached.end(), tokens + i, tokens + i + n_chunk);
    }
    return SD_OK;
}

sd_status sd_context_load(sd_context * c, const std::vector<llama_token> & tokens, bool * cancelled,
                          int32_t * n_reused, std::string & error) {
    size_t n_keep = 0;
    while (n_keep < c->cached.size() && n_keep < tokens.size() && c->cached[n_keep] == tokens[n_keep]) {
        n_keep++;
    }
    n_keep = std::min(n_keep, tokens.size() - 1);
    sd_context_truncate(c, n_keep);
    if (n_reused != nullptr) *n_reused = (int32_t) n_keep;
    return sd_context_eval(c, tokens.data() + n_keep, tokens.size() - n_keep, false, cancelled, error);
}

sd_status sd_context_check_prompt(const sd_context * c, const std::vector<llama_token> & prompt, std::string & error) {
    if (prompt.empty()) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the prompt has no tokens");
    }
    for (size_t i = 0; i < prompt.size(); i++) {
        if (prompt[i] < 0 || prompt[i] >= c->n_vocab) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                           "prompt token " + std::to_string(prompt[i]) + " at index " + std::to_string(i) +
                           " is outside the vocabulary [0, " + std::to_string(c->n_vocab) + ")");
        }
    }
    if (prompt.size() >= c->n_ctx) {
        return sd_fail(error, SD_ERR_CONTEXT_OVERFLOW,
                       "the prompt has " + std::to_string(prompt.size()) + " tokens but the context holds " +
                       std::to_string(c->n_ctx) + " (at least one more is needed to generate)");
    }
    return SD_OK;
}

sd_status sd_context_measure_cost(sd_context * c, const std::vector<int32_t> & sizes, int32_t reps_first,
                                  int32_t reps, std::vector<double> & out_us, std::string & error) {
    out_us.clear();
    llama_memory_t mem = llama_get_memory(c->ctx);
    const llama_pos depth = (llama_pos) c->cached.size();
    llama_memory_seq_cp(mem, 0, c->seq_scratch, -1, -1);
    sd_status status = SD_OK;
    for (size_t k = 0; k < sizes.size(); k++) {
        const int32_t n = sizes[k];
        double best = 0;
        // r == 0 is a warm-up, for the first size only: a first decode of another size took 0-8 % more
        // than its next (stories260K scaled to 2048 x 16 on 2 cores), and warming up every size doubled
        // what a session's first generation spends measuring (about 2 s of its first token there)
        const int32_t n_reps = k == 0 ? reps_first : reps;
        for (int32_t r = k == 0 ? 0 : 1; r <= n_reps && status == SD_OK; r++) {
            c->batch.n_tokens = n;
            for (int32_t j = 0; j < n; j++) {
                c->batch.token[j]     = c->cached.empty() ? 1 : c->cached[(size_t) j % c->cached.size()];
                c->batch.pos[j]       = depth + j;
                c->batch.n_seq_id[j]  = 1;
                c->batch.seq_id[j][0] = c->seq_scratch;
                c->batch.logits[j]    = true;
            }
            const int64_t t0 = llama_time_us();
            const int32_t rc = sd_context_decode(c, c->batch);
            if (!c->model->rpc.active()) llama_synchronize(c->ctx);
            const double t = (double) (llama_time_us() - t0);
            if (rc == k_rpc_failed) {
                status = sd_fail(error, SD_ERR_RPC, t_rpc_error);
                break;
            }
            llama_memory_seq_rm(mem, c->seq_scratch, depth, -1);
            if (rc != 0) {
                status = sd_fail(error, rc == 2 ? SD_ERR_STATE : SD_ERR_DECODE,
                                 "measuring the decode cost failed with code " + std::to_string(rc));
            } else if (r == 1 || (r > 1 && t < best)) {
                best = t;
            }
        }
        if (status != SD_OK) break;
        out_us.push_back(best);
    }
    llama_memory_seq_rm(mem, c->seq_scratch, -1, -1);
    return status;
}

const float * sd_context_hidden(const sd_context * c, int32_t row) {
    if (row < 0) row = c->hidden_n - 1;
    const bool ok = row >= 0 && row < c->hidden_n && c->hidden.size() == (size_t) c->hidden_n * (size_t) c->n_embd;
    return ok ? &c->hidden[(size_t) row * (size_t) c->n_embd] : nullptr;
}
