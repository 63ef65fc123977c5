// Embeddings: a llama.cpp context of its own with embeddings on and the chosen pooling, separate from
// the generation sessions. Texts are packed into batches, one sequence each, and each sequence's pooled
// vector is read with llama_get_embeddings_seq.
#include "model/sd-log.h"
#include "model/sd-model.h"

#include <algorithm>
#include <cmath>
#include <memory>

struct sd_embedder {
    sd_model          * model = nullptr;
    llama_context     * ctx = nullptr;
    llama_batch         batch = {};
    enum llama_pooling_type pooling = LLAMA_POOLING_TYPE_MEAN;
    uint32_t            n_ctx = 0;
    uint32_t            n_seq_max = 0;
    int32_t             n_embd = 0;
    bool                encoder_only = false; // evaluated with llama_encode (BERT-like), else llama_decode
};

const char * sd_pooling_name(enum llama_pooling_type pooling) {
    switch (pooling) {
        case LLAMA_POOLING_TYPE_NONE: return "none";
        case LLAMA_POOLING_TYPE_MEAN: return "mean";
        case LLAMA_POOLING_TYPE_CLS:  return "cls";
        case LLAMA_POOLING_TYPE_LAST: return "last";
        case LLAMA_POOLING_TYPE_RANK: return "rank";
        default:                      return "unspecified";
    }
}

sd_status sd_embedder_init(sd_model * model, enum llama_pooling_type pooling, uint32_t n_ctx, sd_embedder ** out,
                           std::string & error) {
    *out = nullptr;
    if (model == nullptr) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "no model");
    if (pooling != LLAMA_POOLING_TYPE_UNSPECIFIED && pooling != LLAMA_POOLING_TYPE_MEAN &&
        pooling != LLAMA_POOLING_TYPE_CLS && pooling != LLAMA_POOLING_TYPE_LAST) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("pooling '") + sd_pooling_name(pooling) +
                       "' gives no vector per text: use mean, cls, last or the model's own");
    }
    if (n_ctx < 8 || n_ctx > (1u << 24)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the embedding context must hold 8 to 16777216 tokens, got " +
                       std::to_string(n_ctx));
    }
    auto e = std::make_unique<sd_embedder>();
    e->model = model;
    llama_context_params cparams = llama_context_default_params();
    cparams.embeddings   = true;
    cparams.pooling_type = pooling;
    cparams.n_ctx        = n_ctx;
    cparams.n_batch      = n_ctx;
    cparams.n_ubatch     = n_ctx; // a non-causal model needs each text in one micro-batch
    cparams.n_seq_max    = 64;
    cparams.kv_unified   = true; // the sequences of a batch share the context (not n_ctx / n_seq_max each)
    // one evaluation per text, nothing kept: F32 keys and values and no flash attention cost little here
    // and keep a text's vector the same alone and in a batch
    cparams.type_k       = GGML_TYPE_F32;
    cparams.type_v       = GGML_TYPE_F32;
    cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cparams.n_threads    = model->params.n_threads;
    cparams.n_threads_batch = model->params.n_threads;
    cparams.no_perf      = true;
    if (model->rpc.active()) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "embeddings of a model split over RPC servers are not supported: "
                       "load the model without RPC servers for them");
    }
    sd_log_take_last_error();
    e->ctx = llama_init_from_model(model->model, cparams);
    if (e->ctx == nullptr) {
        const std::string why = sd_log_take_last_error();
        return sd_fail(error, SD_ERR_CONTEXT_INIT, "could not create the embedding context" + (why.empty() ? "" : ": " + why));
    }
    e->pooling = llama_pooling_type(e->ctx);
    if (e->pooling == LLAMA_POOLING_TYPE_NONE || e->pooling == LLAMA_POOLING_TYPE_RANK) {
        // the model pools nothing itself (a generative model): mean pooling, as asked for by default
        llama_free(e->ctx);
        cparams.pooling_type = LLAMA_POOLING_TYPE_MEAN;
        e->ctx = llama_init_from_model(model->model, cparams);
        if (e->ctx == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "could not create the embedding context");
        e->pooling = LLAMA_POOLING_TYPE_MEAN;
    }
    // the longest text and the most tokens per batch: llama.cpp may round the context up, but a batch
    // must fit its batch and micro-batch sizes (a larger one aborts the process)
    e->n_ctx = std::min({llama_n_ctx(e->ctx), llama_n_batch(e->ctx), llama_n_ubatch(e->ctx)});
    e->n_seq_max = llama_n_seq_max(e->ctx);
    e->n_embd = llama_model_n_embd(model->model);
    e->encoder_only = llama_model_has_encoder(model->model) && !llama_model_has_decoder(model->model);
    e->batch = llama_batch_init((int32_t) e->n_ctx, 0, 1);
    *out = e.release();
    return SD_OK;
}

void sd_embedder_free(sd_embedder * e) {
    if (e == nullptr) return;
    llama_batch_free(e->batch);
    if (e->ctx != nullptr) llama_free(e->ctx);
    delete e;
}

int32_t sd_embedder_dim(const sd_embedder * e) { return e->n_embd; }
enum llama_pooling_type sd_embedder_pooling(const sd_embedder * e) { return e->pooling; }
uint32_t sd_embedder_n_ctx(const sd_embedder * e) { return e->n_ctx; }

// Decodes the sequences in the batch and appends their vectors.
static sd_status flush(sd_embedder * e, int32_t n_seqs, bool normalize, std::vector<float> & out, std::string & error) {
    if (n_seqs == 0) return SD_OK;
    llama_memory_clear(llama_get_memory(e->ctx), true);
    sd_log_take_last_error();
    const int32_t rc = e->encoder_only ? llama_encode(e->ctx, e->batch) : llama_decode(e->ctx, e->batch);
    if (rc != 0) {
        const std::string why = sd_log_take_last_error();
        return sd_fail(error, SD_ERR_DECODE, "evaluating the texts for their embeddings failed (code " +
                       std::to_string(rc) + ")" + (why.empty() ? "" : ": " + why));
    }
    for (int32_t s = 0; s < n_seqs; s++) {
        const float * v = llama_get_embeddings_seq(e->ctx, s);
        if (v == nullptr) return sd_fail(error, SD_ERR_DECODE, "llama.cpp gave no embedding for a text");
        double norm = 0;
        for (int32_t i = 0; i < e->n_embd; i++) norm += (double) v[i] * v[i];
        const double scale = normalize && norm > 0 ? 1.0 / std::sqrt(norm) : 1.0;
        for (int32_t i = 0; i < e->n_embd; i++) out.push_back((float) (v[i] * scale));
    }
    e->batch.n_tokens = 0;
    return SD_OK;
}

static const int32_t k_pack_tokens = 64;

sd_status sd_embed(sd_embedder * e, const std::vector<std::vector<llama_token>> & inputs, bool normalize,
                   std::vector<float> & out, std::string & error) {
    out.clear();
    const int32_t n_vocab = llama_vocab_n_tokens(e->model->vocab);
    for (size_t i = 0; i < inputs.size(); i++) {
        if (inputs[i].empty()) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "text " + std::to_string(i) + " has no tokens");
        }
        if (inputs[i].size() > e->n_ctx) {
            return sd_fail(error, SD_ERR_CONTEXT_OVERFLOW, "text " + std::to_string(i) + " has " +
                           std::to_string(inputs[i].size()) + " tokens but the embedding context holds " +
                           std::to_string(e->n_ctx));
        }
        for (llama_token t : inputs[i]) {
            if (t < 0 || t >= n_vocab) {
                return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "text " + std::to_string(i) + " has token " +
                               std::to_string(t) + ", outside the vocabulary");
            }
        }
    }
    out.reserve(inputs.size() * (size_t) e->n_embd);
    e->batch.n_tokens = 0;
    int32_t n_seqs = 0;
    for (const std::vector<llama_token> & tokens : inputs) {
        // Texts are packed into batches of about k_pack_tokens: every token of a batch attends over the
        // whole batch (masked), so larger batches cost more per token than they save in calls
        // (EmbedBench: a 512-token batch was 0.75x one call per text)
        const int32_t pack = std::max<int32_t>(k_pack_tokens, (int32_t) tokens.size());
        if (e->batch.n_tokens > 0 && (e->batch.n_tokens + (int32_t) tokens.size() > std::min<int32_t>(pack, (int32_t) e->n_ctx) ||
                                      n_seqs == (int32_t) e->n_seq_max)) {
            const sd_status st = flush(e, n_seqs, normalize, out, error);
            if (st != SD_OK) return st;
            n_seqs = 0;
        }
        for (size_t p = 0; p < tokens.size(); p++) {
            const int32_t j = e->batch.n_tokens++;
            e->batch.token[j]     = tokens[p];
            e->batch.pos[j]       = (llama_pos) p;
            e->batch.n_seq_id[j]  = 1;
            e->batch.seq_id[j][0] = n_seqs;
            e->batch.logits[j]    = true; // every token's output feeds the pooling
        }
        n_seqs++;
    }
    return flush(e, n_seqs, normalize, out, error);
}
