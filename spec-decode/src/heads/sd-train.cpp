// Training Medusa heads by self-distillation.
//
// 1. The base model reads the corpus (and, optionally, its own greedy continuations of corpus
//    openings) with hidden states on; every position keeps its hidden state h_t and the model's
//    greedy prediction g_t (the argmax of its logits, a guess for token t + 1).
// 2. Head k learns g_{t+k+1} from h_t: the model's own guess for the token k + 2 positions after t,
//    which is what the verifier will accept. Blocks start as identities (W = 0, b = 0) and each
//    head's output projection as a copy of the base model's, so an untrained head repeats the base
//    model's next-token guess one position too late; the held-out table before training shows it.
// 3. AdamW through ggml-opt on the graph of sd_heads_graph with a static allocation: our own batches
//    fill the input and one label tensor per head (one-hot rows built from token ids per batch), the
//    loss is the cross-entropy summed over the heads.
// 4. Held-out documents give each head's rank accuracies, written into the file for the static tree.
//
// Regressive heads (sd-heads.h) read the text's own tokens while training (teacher forcing): head k
// at position t reads the tokens at t + 1 .. t + 1 + k, the ones the base model's guess g_{t+k+1}
// followed. Their token tables start at zero, so an untrained regressive head is a Medusa head.
// Held-out accuracy is measured the same way: it is head k's accuracy given that the tokens before
// it are right, which is when a chain reaches it.
//
// A feature drafter (sd-heads.h) is trained as it drafts: its recurrence unrolled over K depths, each
// depth reading its own prediction of the hidden state from the depth before and the text's token,
// with the cross-entropy of every depth's logits plus feature_weight times the mean squared distance
// of every predicted hidden state to the model's own at that position. With an attention window, each
// example's window holds the model's hidden states at the positions before it in its sequence (with
// the text's tokens after them); a quarter of the examples keep only a random number of the latest
// entries, as while drafting, where the window fills as the generation goes.
#include "engine/sd-context.h"
#include "engine/sd-settings.h"
#include "heads/sd-heads.h"
#include "model/sd-log.h"
#include "model/sd-model.h"

#include "ggml-backend.h"
#include "ggml-opt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace {

// What the base model produced while reading: per position its hidden state and greedy token,
// sequence after sequence; examples are positions whose K targets lie in the same sequence.
struct train_data {
    int32_t n_embd  = 0;
    int32_t n_heads = 0;
    std::vector<float>       hidden; // [n_pos * n_embd]
    std::vector<llama_token> greedy; // [n_pos]
    std::vector<llama_token> token;  // [n_pos] the token read at each position
    std::vector<int32_t>     at;     // [n_pos] the position's index in its sequence
    std::vector<int64_t>     train;  // example positions
    std::vector<int64_t>     eval;

    int64_t n_pos() const { return (int64_t) greedy.size(); }
    llama_token target(int64_t pos, int32_t k) const { return greedy[(size_t) (pos + k + 1)]; }
    // what regressive head k reads at pos: the token after pos for k = 0 (the draft's root)
    llama_token read(int64_t pos, int32_t k) const { return token[(size_t) (pos + k + 1)]; }

    // The attention window of the example at pos, `window` entries: entry j is position pos - j with the
    // text's token after it, valid when it lies in pos's sequence and j < keep.
    void window_of(int64_t pos, int32_t window, int32_t keep, float * h, llama_token * tok, uint8_t * valid) const {
        for (int32_t j = 0; j < window; j++) {
            valid[j] = j < keep && at[(size_t) pos] - j >= 0;
            tok[j] = valid[j] ? token[(size_t) (pos - j + 1)] : 0;
            if (valid[j]) std::memcpy(&h[(size_t) j * n_embd], &hidden[(size_t) (pos - j) * n_embd], sizeof(float) * n_embd);
            else std::fill(&h[(size_t) j * n_embd], &h[(size_t) (j + 1) * n_embd], 0.0f);
        }
    }
};

// One run: parameters, clock, report and the progress callback.
struct train_run {
    const sd_train_params & params;
    sd_train_report &       report;
    sd_train_progress_cb    progress;
    void *                  user;
    int64_t                 t_start_us;

    double seconds() const { return (double) (llama_time_us() - t_start_us) / 1e6; }
    double budget() const { return params.max_minutes > 0 ? params.max_minutes * 60.0 : INFINITY; }

    // false when the callback asked to stop (report.cancelled is then set)
    bool tell(sd_train_phase phase, int64_t done, int64_t total, float loss = 0.0f, float lr = 0.0f) {
        if (progress == nullptr) return true;
        const sd_train_progress p = {phase, done, total, loss, lr, seconds()};
        if (!progress(p, user)) report.cancelled = true;
        return !report.cancelled;
    }
};

sd_status check_params(const sd_train_params & p, const char * out_path, std::string & error) {
    if (p.corpus.empty()) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "corpus path is empty");
    if (out_path == nullptr || out_path[0] == '\0') return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "output path is empty");
    return sd_train_params_check(p, error);
}

llama_token argmax(const float * logits, int32_t n) {
    int32_t best = 0;
    for (int32_t v = 1; v < n; v++) if (logits[v] > logits[best]) best = v;
    return best;
}

// Evaluates a sequence (from an empty cache) and appends its hidden states and greedy tokens; its
// examples go to the training or the held-out list.
sd_status read_sequence(sd_context * c, const std::vector<llama_token> & seq, bool held_out, train_data & d,
                        std::string & error) {
    sd_context_reset(c);
    c->capture = true;
    const int64_t first = d.n_pos();
    for (size_t i = 0; i < seq.size(); i += c->n_batch) {
        const size_t n = std::min((size_t) c->n_batch, seq.size() - i);
        bool cancelled = false;
        sd_status status = sd_context_eval(c, seq.data() + i, n, true, &cancelled, error);
        if (status == SD_OK && cancelled) status = sd_fail(error, SD_ERR_STATE, "cancelled while reading the corpus");
        if (status != SD_OK) return status;
        for (size_t j = 0; j < n; j++) {
            const float * h = sd_context_hidden(c, (int32_t) j);
            const float * l = llama_get_logits_ith(c->ctx, (int32_t) j);
            if (h == nullptr || l == nullptr) {
                return sd_fail(error, SD_ERR_DECODE, "llama.cpp gave no hidden state or logits while reading the corpus");
            }
            d.hidden.insert(d.hidden.end(), h, h + d.n_embd);
            d.greedy.push_back(argmax(l, c->n_vocab));
            d.token.push_back(seq[i + j]);
            d.at.push_back((int32_t) (i + j));
        }
    }
    std::vector<int64_t> & examples = held_out ? d.eval : d.train;
    for (int64_t t = first; t + d.n_heads < d.n_pos(); t++) examples.push_back(t);
    return SD_OK;
}

// The base model's greedy continuation of prompt (the prompt and at most n tokens; it ends early at
// the end of text or of the context), generated by a session.
sd_status generate(sd_session * session, const std::vector<llama_token> & prompt, int32_t n,
                   std::vector<llama_token> & out, std::string & error) {
    sd_generation_params params = sd_generation_default_params();
    params.temperature = 0.0f;
    params.max_tokens = n;
    sd_session_reset(session);
    sd_status status = sd_generation_begin(session, prompt, params, error);
    out = prompt;
    sd_step_result step;
    while (status == SD_OK) {
        status = sd_generation_step(session, step, error);
        out.insert(out.end(), step.tokens.begin(), step.tokens.end());
        if (step.stop != SD_STOP_NONE) break;
    }
    return status;
}

// Step 1: the base model reads the corpus (documents in order until max_tokens or 40% of the time
// budget), then, when asked, generates continuations of training documents' openings.
sd_status collect(sd_model * model, train_run & run, int32_t n_ctx, int32_t n_threads, train_data & d,
                  std::string & error) {
    const sd_train_params & p = run.params;
    std::vector<std::vector<llama_token>> docs;
    sd_status status = sd_read_documents(model, p.corpus, n_ctx, p.n_heads + 2, docs, error);
    if (status != SD_OK) return status;
    if (docs.empty()) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the corpus " + p.corpus + " has no text");

    sd_session_params sparams = sd_session_default_params();
    sparams.n_ctx = (uint32_t) n_ctx;
    sparams.n_threads = n_threads;
    sd_context * reader = nullptr;
    status = sd_context_init(model, sparams, &reader, error);
    if (status != SD_OK) return status;
    std::unique_ptr<sd_context, void (*)(sd_context *)> reader_owner(reader, sd_context_free);
    status = sd_context_enable_capture(reader, error);
    if (status != SD_OK) return status;
    const double data_budget = 0.4 * run.budget();
    std::vector<size_t> train_docs;
    for (size_t i = 0; i < docs.size(); i++) {
        if (d.n_pos() >= p.max_tokens || run.seconds() > data_budget) {
            run.report.time_limited = run.seconds() > data_budget;
            break;
        }
        // held out: an even spread of the documents, the given share of them
        const bool held_out = std::floor((double) (i + 1) * p.holdout) > std::floor((double) i * p.holdout);
        if (!held_out) train_docs.push_back(i);
        status = read_sequence(reader, docs[i], held_out, d, error);
        if (status != SD_OK) return status;
        if (!run.tell(SD_TRAIN_READ, (int64_t) i + 1, (int64_t) docs.size())) return SD_OK;
    }
    if (!p.self_generated) return SD_OK;

    sd_session * writer = nullptr;
    status = sd_session_init(model, sparams, &writer, error);
    if (status != SD_OK) return status;
    std::unique_ptr<sd_session, void (*)(sd_session *)> writer_owner(writer, sd_session_free);
    const int64_t n_gen = std::min<int64_t>(p.max_generated, (int64_t) train_docs.size());
    std::vector<llama_token> seq;
    for (int64_t i = 0; i < n_gen; i++) {
        if (d.n_pos() >= p.max_tokens + p.max_tokens / 2 || run.seconds() > data_budget) {
            run.report.time_limited = run.seconds() > data_budget;
            break;
        }
        const std::vector<llama_token> & doc = docs[train_docs[(size_t) i]];
        const std::vector<llama_token> prompt(doc.begin(), doc.begin() + (long) std::min<size_t>(16, doc.size() / 2));
        status = generate(writer, prompt, p.n_generate, seq, error);
        if (status == SD_OK && (int32_t) seq.size() >= p.n_heads + 2) status = read_sequence(reader, seq, false, d, error);
        if (status != SD_OK) return status;
        if (!run.tell(SD_TRAIN_GENERATE, i + 1, n_gen)) return SD_OK;
    }
    return SD_OK;
}

// The heads being trained: their weights (owned by an sd_heads_data, so that the engine's evaluator
// runs them), the inputs of one batch, the backends and the optimizer.
struct heads_trainer {
    std::shared_ptr<sd_heads_data> heads;
    ggml_context *        ctx_in     = nullptr; // batch inputs: hidden states and one label tensor per head
    ggml_backend_buffer_t buf_in     = nullptr;
    ggml_tensor *         h_in       = nullptr; // [n_embd, batch]
    std::vector<ggml_tensor *> labels;           // [n_heads] x [n_vocab, batch]
    std::vector<ggml_tensor *> tokens;           // regressive: [n_heads] x I32 [batch], what head k reads
    std::vector<ggml_tensor *> features;         // feature drafter: [n_heads] x [n_embd, batch], the model's
                                                 // hidden state depth k predicts
    sd_heads_window       window;                // a feature drafter's attention window (sd-heads.h)
    std::vector<ggml_backend_t> backends;        // the heads' device, then the CPU when that is another
    ggml_backend_sched_t  sched      = nullptr;
    ggml_context *        ctx_compute = nullptr;
    ggml_opt_context_t    opt        = nullptr;

    // learning-rate schedule, read by the optimizer-params callback before each step
    float   lr = 0, warmup = 0, weight_decay = 0;
    int32_t step = 0, steps_total = 1;

    ~heads_trainer() {
        if (opt != nullptr) ggml_opt_free(opt);
        if (ctx_compute != nullptr) ggml_free(ctx_compute);
        if (sched != nullptr) ggml_backend_sched_free(sched);
        for (size_t i = backends.size(); i-- > 0;) ggml_backend_free(backends[i]);
        if (buf_in != nullptr) ggml_backend_buffer_free(buf_in);
        if (ctx_in != nullptr) ggml_free(ctx_in);
    }

    float lr_at(int32_t s) const {
        const int32_t n_warm = std::max(1, (int32_t) std::lround(warmup * (float) steps_total));
        if (s < n_warm) return lr * (float) (s + 1) / (float) n_warm;
        const float progress = std::min(1.0f, (float) (s - n_warm) / (float) std::max(1, steps_total - n_warm));
        return lr * (0.1f + 0.9f * 0.5f * (1.0f + std::cos(3.14159265f * progress)));
    }
};

ggml_opt_optimizer_params optimizer_params(void * user) {
    const heads_trainer * t = static_cast<const heads_trainer *>(user);
    ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
    p.adamw.alpha = t->lr_at(t->step);
    p.adamw.wd    = t->weight_decay;
    return p;
}

sd_status trainer_init(sd_model * model, const sd_train_params & p, int32_t n_threads, heads_trainer & t,
                       std::string & error) {
    const int32_t n_embd = llama_model_n_embd(model->model);
    const int32_t n_vocab = llama_vocab_n_tokens(model->vocab);
    std::vector<float> output;
    sd_status status = sd_model_output_f32(model, output, error);
    if (status != SD_OK) return status;

    t.heads = std::make_shared<sd_heads_data>();
    sd_heads_data & h = *t.heads;
    h.info.n_heads  = p.n_heads;
    h.info.n_layers = p.n_layers;
    h.info.n_embd   = n_embd;
    h.info.n_vocab  = n_vocab;
    h.info.regressive = p.regressive || p.feature;
    h.info.feature = p.feature;
    h.info.window = p.attention;
    h.device = sd_heads_device(model);
    const int32_t sets = sd_heads_sets(h.info);
    const size_t n_weights = (size_t) sets * (2 * (size_t) p.n_layers + 2) + 5;
    ggml_init_params wparams = {ggml_tensor_overhead() * n_weights, nullptr, /*no_alloc =*/ true};
    h.ctx = ggml_init(wparams);
    ggml_init_params iparams = {ggml_tensor_overhead() * (3 * (size_t) p.n_heads + 4), nullptr, /*no_alloc =*/ true};
    t.ctx_in = ggml_init(iparams);
    if (h.ctx == nullptr || t.ctx_in == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "out of memory creating the heads' tensors");
    h.tensors.n_heads = p.n_heads;
    h.tensors.n_layers = p.n_layers;
    h.tensors.feature = p.feature;
    h.tensors.window = p.attention;
    for (int32_t k = 0; k < sets; k++) {
        for (int32_t l = 0; l < p.n_layers; l++) {
            ggml_tensor * w = ggml_new_tensor_2d(h.ctx, GGML_TYPE_F32, n_embd, n_embd);
            ggml_tensor * b = ggml_new_tensor_1d(h.ctx, GGML_TYPE_F32, n_embd);
            ggml_format_name(w, "medusa.%d.%d.weight", k, l);
            ggml_format_name(b, "medusa.%d.%d.bias", k, l);
            h.tensors.w.push_back(w);
            h.tensors.b.push_back(b);
        }
        ggml_tensor * o = ggml_new_tensor_2d(h.ctx, GGML_TYPE_F32, n_embd, n_vocab);
        ggml_format_name(o, "medusa.%d.output.weight", k);
        h.tensors.out.push_back(o);
        if (h.info.regressive) {
            ggml_tensor * e = ggml_new_tensor_2d(h.ctx, GGML_TYPE_F32, n_embd, n_vocab);
            ggml_format_name(e, "medusa.%d.token.weight", k);
            h.tensors.tok.push_back(e);
        }
    }
    if (p.attention > 0) {
        for (int32_t j = 0; j < 4; j++) {
            h.tensors.attn[j] = ggml_new_tensor_2d(h.ctx, GGML_TYPE_F32, n_embd, n_embd);
            ggml_set_name(h.tensors.attn[j], SD_HEADS_ATTN_NAMES[j]);
        }
        h.tensors.attn_pos = ggml_new_tensor_1d(h.ctx, GGML_TYPE_F32, p.attention);
        ggml_set_name(h.tensors.attn_pos, SD_HEADS_ATTN_POS_NAME);
        t.window.hidden = ggml_new_tensor_2d(t.ctx_in, GGML_TYPE_F32, n_embd, (int64_t) p.attention * p.batch);
        t.window.tokens = ggml_new_tensor_1d(t.ctx_in, GGML_TYPE_I32, (int64_t) p.attention * p.batch);
        t.window.mask = ggml_new_tensor_2d(t.ctx_in, GGML_TYPE_F32, p.attention, p.batch);
        ggml_set_name(t.window.hidden, "window.hidden");
        ggml_set_name(t.window.tokens, "window.tokens");
        ggml_set_name(t.window.mask, "window.mask");
        ggml_set_input(t.window.hidden);
        ggml_set_input(t.window.tokens);
        ggml_set_input(t.window.mask);
    }
    t.h_in = ggml_new_tensor_2d(t.ctx_in, GGML_TYPE_F32, n_embd, p.batch);
    ggml_set_name(t.h_in, "hidden");
    ggml_set_input(t.h_in);
    for (int32_t k = 0; k < p.n_heads; k++) {
        ggml_tensor * l = ggml_new_tensor_2d(t.ctx_in, GGML_TYPE_F32, n_vocab, p.batch);
        ggml_format_name(l, "labels.%d", k);
        ggml_set_input(l);
        t.labels.push_back(l);
        if (h.info.regressive) {
            ggml_tensor * r = ggml_new_tensor_1d(t.ctx_in, GGML_TYPE_I32, p.batch);
            ggml_format_name(r, "tokens.%d", k);
            ggml_set_input(r);
            t.tokens.push_back(r);
        }
        if (p.feature) {
            ggml_tensor * f = ggml_new_tensor_2d(t.ctx_in, GGML_TYPE_F32, n_embd, p.batch);
            ggml_format_name(f, "features.%d", k);
            ggml_set_input(f);
            t.features.push_back(f);
        }
    }
    ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(h.device);
    h.buffer = ggml_backend_alloc_ctx_tensors_from_buft(h.ctx, buft);
    t.buf_in = ggml_backend_alloc_ctx_tensors_from_buft(t.ctx_in, buft);
    if (h.buffer == nullptr || t.buf_in == nullptr) {
        return sd_fail(error, SD_ERR_CONTEXT_INIT, std::string("cannot allocate the heads for training on ") +
                       ggml_backend_dev_name(h.device));
    }
    // identity blocks (W = 0, b = 0), output projections copied from the base model, token tables 0
    ggml_backend_buffer_clear(h.buffer, 0);
    for (ggml_tensor * o : h.tensors.out) ggml_backend_tensor_set(o, output.data(), 0, ggml_nbytes(o));
    for (ggml_tensor * w : h.tensors.w) ggml_set_param(w);
    for (ggml_tensor * b : h.tensors.b) ggml_set_param(b);
    for (ggml_tensor * o : h.tensors.out) ggml_set_param(o);
    for (ggml_tensor * e : h.tensors.tok) ggml_set_param(e);
    // attention: random query, key and value projections (zero ones would get no gradient), the output
    // projection zero, so that the untrained drafter is the one without attention
    if (p.attention > 0) {
        std::mt19937 rng(p.seed ^ 0x5eedu);
        std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt((float) n_embd));
        std::vector<float> m((size_t) n_embd * (size_t) n_embd);
        for (int32_t j = 0; j < 3; j++) {
            for (float & x : m) x = normal(rng);
            ggml_backend_tensor_set(h.tensors.attn[j], m.data(), 0, ggml_nbytes(h.tensors.attn[j]));
        }
        for (ggml_tensor * a : h.tensors.attn) ggml_set_param(a);
        ggml_set_param(h.tensors.attn_pos);
    }

    ggml_backend_t backend = ggml_backend_dev_init(h.device, nullptr);
    if (backend == nullptr) {
        return sd_fail(error, SD_ERR_CONTEXT_INIT, std::string("cannot start a backend on ") + ggml_backend_dev_name(h.device));
    }
    t.backends.push_back(backend);
    if (ggml_backend_dev_type(h.device) != GGML_BACKEND_DEVICE_TYPE_CPU) {
        ggml_backend_t cpu = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
        if (cpu == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "cannot start the CPU backend");
        t.backends.push_back(cpu);
    }
    for (ggml_backend_t b : t.backends) sd_backend_set_threads(b, n_threads);
    t.sched = ggml_backend_sched_new(t.backends.data(), nullptr, (int) t.backends.size(), 4 * GGML_DEFAULT_GRAPH_SIZE,
                                     false, false);

    // The forward graph: the heads' logits and the loss; ggml-opt adds the backward pass and AdamW.
    // Its graphs have GGML_DEFAULT_GRAPH_SIZE nodes, which the largest heads (16 x 8 blocks) fit.
    const size_t n_tensors = 8 * (size_t) GGML_DEFAULT_GRAPH_SIZE;
    ggml_init_params cparams = {ggml_tensor_overhead() * n_tensors + 3 * ggml_graph_overhead_custom(GGML_DEFAULT_GRAPH_SIZE, true),
                                nullptr, /*no_alloc =*/ true};
    t.ctx_compute = ggml_init(cparams);
    if (t.sched == nullptr || t.ctx_compute == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "cannot set up the training graph");
    const std::vector<ggml_tensor *> forced(t.tokens.empty() ? t.tokens.end() : t.tokens.begin() + 1, t.tokens.end());
    std::vector<ggml_tensor *> predicted;
    std::vector<ggml_tensor *> logits = sd_heads_graph(t.ctx_compute, h.tensors, t.h_in,
                                                       t.tokens.empty() ? nullptr : t.tokens[0], forced, nullptr,
                                                       &predicted, p.attention > 0 ? &t.window : nullptr);
    ggml_tensor * loss = nullptr;
    for (int32_t k = 0; k < p.n_heads; k++) {
        ggml_tensor * ce = ggml_cross_entropy_loss(t.ctx_compute, logits[(size_t) k], t.labels[(size_t) k]);
        loss = loss == nullptr ? ce : ggml_add(t.ctx_compute, loss, ce);
    }
    for (size_t k = 0; k < t.features.size() && p.feature_weight > 0; k++) {
        ggml_tensor * d = ggml_sub(t.ctx_compute, predicted[k], t.features[k]);
        ggml_tensor * mse = ggml_scale(t.ctx_compute, ggml_sum(t.ctx_compute, ggml_sqr(t.ctx_compute, d)),
                                       p.feature_weight / ((float) n_embd * (float) p.batch));
        loss = ggml_add(t.ctx_compute, loss, mse);
    }
    ggml_set_name(loss, "loss_heads");

    t.lr = p.lr;
    t.warmup = p.warmup;
    t.weight_decay = p.weight_decay;
    ggml_opt_params oparams = ggml_opt_default_params(t.sched, GGML_OPT_LOSS_TYPE_SUM);
    oparams.ctx_compute     = t.ctx_compute;
    oparams.inputs          = t.h_in;
    oparams.outputs         = loss;
    oparams.get_opt_pars    = optimizer_params;
    oparams.get_opt_pars_ud = &t;
    oparams.optimizer       = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
    t.opt = ggml_opt_init(oparams);
    if (t.opt == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "cannot set up the optimizer");
    return SD_OK;
}

// Per head: hits per rank and summed cross-entropy over the held-out examples (at most max_eval of
// them, evenly spread).
struct eval_result {
    int64_t n = 0;
    std::vector<int64_t> hits; // [n_heads * SD_HEADS_RANKS]
    std::vector<double>  loss; // [n_heads]
};

sd_status evaluate(sd_heads_evaluator & e, const train_data & d, int32_t max_eval, train_run & run, eval_result & r,
                   std::string & error) {
    const int32_t n_heads = e.data->info.n_heads;
    const int32_t n_vocab = e.data->info.n_vocab;
    const int64_t n = std::min<int64_t>(max_eval, (int64_t) d.eval.size());
    r = eval_result();
    r.hits.assign((size_t) n_heads * SD_HEADS_RANKS, 0);
    r.loss.assign((size_t) n_heads, 0.0);
    const int32_t chunk = 256;
    std::vector<float> hidden((size_t) chunk * (size_t) d.n_embd), logits;
    std::vector<int64_t> pos((size_t) chunk);
    std::vector<llama_token> tokens((size_t) chunk * (size_t) n_heads);
    // an attention window: every held-out example's whole window
    const int32_t W = e.data->info.window;
    std::vector<float> win_hidden((size_t) chunk * (size_t) W * (size_t) d.n_embd);
    std::vector<llama_token> win_tokens((size_t) chunk * (size_t) W);
    std::vector<uint8_t> win_valid((size_t) chunk * (size_t) W);
    const sd_heads_window_input win = {win_hidden.data(), win_tokens.data(), win_valid.data()};
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        const int32_t m = (int32_t) std::min<int64_t>(chunk, n - i0);
        for (int32_t i = 0; i < m; i++) {
            pos[(size_t) i] = d.eval[(size_t) ((i0 + i) * (int64_t) d.eval.size() / n)];
            std::memcpy(&hidden[(size_t) i * d.n_embd], &d.hidden[(size_t) pos[(size_t) i] * d.n_embd], sizeof(float) * d.n_embd);
            for (int32_t k = 0; k < n_heads; k++) tokens[(size_t) (i * n_heads + k)] = d.read(pos[(size_t) i], k);
            if (W > 0) {
                d.window_of(pos[(size_t) i], W, W, &win_hidden[(size_t) i * W * d.n_embd], &win_tokens[(size_t) i * W],
                            &win_valid[(size_t) i * W]);
            }
        }
        sd_status status = sd_heads_evaluate(e, hidden.data(), tokens.data(), n_heads, m, logits, nullptr, error,
                                             W > 0 ? &win : nullptr);
        if (status != SD_OK) return status;
        for (int32_t i = 0; i < m; i++) {
            for (int32_t k = 0; k < n_heads; k++) {
                const float * l = &logits[((size_t) i * n_heads + k) * n_vocab];
                const llama_token y = d.target(pos[(size_t) i], k);
                int32_t rank = 0;
                float max = l[0];
                for (int32_t v = 0; v < n_vocab; v++) {
                    rank += l[v] > l[y] || (l[v] == l[y] && v < y);
                    max = std::max(max, l[v]);
                }
                double sum = 0;
                for (int32_t v = 0; v < n_vocab; v++) sum += std::exp((double) (l[v] - max));
                r.loss[(size_t) k] += std::log(sum) + max - l[y];
                if (rank < SD_HEADS_RANKS) r.hits[(size_t) (k * SD_HEADS_RANKS + rank)]++;
            }
        }
        r.n += m;
        if (!run.tell(SD_TRAIN_EVAL, r.n, n)) return SD_OK;
    }
    return SD_OK;
}

void eval_report(const eval_result & r, int32_t n_heads, std::vector<float> & top1, std::vector<float> & top5,
                 std::vector<float> & loss, std::vector<float> * accuracy) {
    top1.assign((size_t) n_heads, 0.0f);
    top5.assign((size_t) n_heads, 0.0f);
    loss.assign((size_t) n_heads, 0.0f);
    if (accuracy != nullptr) accuracy->assign((size_t) n_heads * SD_HEADS_RANKS, 0.0f);
    if (r.n == 0) return;
    for (int32_t k = 0; k < n_heads; k++) {
        int64_t cum = 0;
        for (int32_t rank = 0; rank < SD_HEADS_RANKS; rank++) {
            const int64_t hits = r.hits[(size_t) (k * SD_HEADS_RANKS + rank)];
            cum += hits;
            if (rank == 0) top1[(size_t) k] = (float) hits / (float) r.n;
            if (rank == 4) top5[(size_t) k] = (float) cum / (float) r.n;
            if (accuracy != nullptr) (*accuracy)[(size_t) (k * SD_HEADS_RANKS + rank)] = (float) hits / (float) r.n;
        }
        loss[(size_t) k] = (float) (r.loss[(size_t) k] / (double) r.n);
    }
}

// Step 3: the optimizer loop. Stops early when the callback cancels or the time budget runs out.
sd_status optimize(heads_trainer & t, const train_data & d, train_run & run, double eval_seconds, std::string & error) {
    const sd_train_params & p = run.params;
    const int32_t n_embd = d.n_embd;
    const int32_t n_vocab = t.heads->info.n_vocab;
    std::mt19937 rng(p.seed);
    std::vector<int64_t> order(d.train);
    std::shuffle(order.begin(), order.end(), rng);
    size_t next = 0;
    std::vector<float> hidden((size_t) p.batch * n_embd);
    std::vector<std::vector<float>> labels((size_t) p.n_heads, std::vector<float>((size_t) p.batch * n_vocab, 0.0f));
    std::vector<llama_token> set((size_t) p.n_heads * p.batch, 0); // the ones in labels, to clear them again
    std::vector<std::vector<int32_t>> tokens(t.tokens.size(), std::vector<int32_t>((size_t) p.batch));
    std::vector<std::vector<float>> features(t.features.size(), std::vector<float>((size_t) p.batch * n_embd));
    const int32_t W = p.attention;
    std::vector<float> win_hidden((size_t) W * (size_t) p.batch * n_embd), win_mask((size_t) W * (size_t) p.batch);
    std::vector<llama_token> win_tokens((size_t) W * (size_t) p.batch);
    std::vector<uint8_t> win_valid((size_t) W * (size_t) p.batch);
    std::uniform_int_distribution<int32_t> quarter(0, 3), keep_any(1, std::max(1, W));
    std::vector<float> losses;
    t.steps_total = p.n_steps;
    const double t0 = run.seconds();
    // time left for optimizing: the budget less the final evaluation (timed before training) and a margin
    const double deadline = run.budget() - 1.2 * eval_seconds - 1.0;
    for (t.step = 0; t.step < t.steps_total; t.step++) {
        for (int32_t j = 0; j < p.batch; j++) {
            if (next == order.size()) {
                std::shuffle(order.begin(), order.end(), rng);
                next = 0;
            }
            const int64_t pos = order[next++];
            std::memcpy(&hidden[(size_t) j * n_embd], &d.hidden[(size_t) pos * n_embd], sizeof(float) * n_embd);
            for (int32_t k = 0; k < p.n_heads; k++) {
                std::vector<float> & l = labels[(size_t) k];
                llama_token & old = set[(size_t) (k * p.batch + j)];
                l[(size_t) j * n_vocab + old] = 0.0f;
                old = d.target(pos, k);
                l[(size_t) j * n_vocab + old] = 1.0f;
                if (!tokens.empty()) tokens[(size_t) k][(size_t) j] = d.read(pos, k);
                if (!features.empty()) {
                    std::memcpy(&features[(size_t) k][(size_t) j * n_embd], &d.hidden[(size_t) (pos + k + 1) * n_embd],
                                sizeof(float) * n_embd);
                }
            }
            if (W > 0) {
                const int32_t keep = quarter(rng) == 0 ? keep_any(rng) : W;
                d.window_of(pos, W, keep, &win_hidden[(size_t) j * W * n_embd], &win_tokens[(size_t) j * W],
                            &win_valid[(size_t) j * W]);
                for (int32_t i = 0; i < W; i++) win_mask[(size_t) (j * W + i)] = sd_heads_window_mask(win_valid[(size_t) (j * W + i)] != 0);
            }
        }
        if (W > 0) {
            ggml_backend_tensor_set(t.window.hidden, win_hidden.data(), 0, ggml_nbytes(t.window.hidden));
            ggml_backend_tensor_set(t.window.tokens, win_tokens.data(), 0, ggml_nbytes(t.window.tokens));
            ggml_backend_tensor_set(t.window.mask, win_mask.data(), 0, ggml_nbytes(t.window.mask));
        }
        ggml_backend_tensor_set(t.h_in, hidden.data(), 0, ggml_nbytes(t.h_in));
        for (int32_t k = 0; k < p.n_heads; k++) {
            ggml_backend_tensor_set(t.labels[(size_t) k], labels[(size_t) k].data(), 0, ggml_nbytes(t.labels[(size_t) k]));
        }
        for (size_t k = 0; k < tokens.size(); k++) {
            ggml_backend_tensor_set(t.tokens[k], tokens[k].data(), 0, ggml_nbytes(t.tokens[k]));
        }
        for (size_t k = 0; k < features.size(); k++) {
            ggml_backend_tensor_set(t.features[k], features[k].data(), 0, ggml_nbytes(t.features[k]));
        }
        ggml_opt_alloc(t.opt, /*backward =*/ true);
        ggml_opt_eval(t.opt, nullptr);
        float loss = 0;
        ggml_backend_tensor_get(ggml_opt_loss(t.opt), &loss, 0, sizeof(loss));
        if (!std::isfinite(loss)) {
            return sd_fail(error, SD_ERR_DECODE, "training diverged at step " + std::to_string(t.step + 1) +
                           " (loss " + std::to_string(loss) + "); try a lower learning rate");
        }
        losses.push_back(loss);
        run.report.steps = t.step + 1;
        run.report.examples += p.batch;
        // with a time budget, the schedule is fitted to it once the speed is known
        const double now = run.seconds();
        if (t.step == 9 && std::isfinite(deadline)) {
            const double per_step = (now - t0) / 10.0;
            const int64_t fit = 10 + (int64_t) std::max(0.0, (deadline - now) / per_step);
            if (fit < t.steps_total) {
                t.steps_total = (int32_t) std::max<int64_t>(fit, 11);
                run.report.time_limited = true;
            }
        }
        if (!run.tell(SD_TRAIN_OPTIMIZE, t.step + 1, t.steps_total, loss, t.lr_at(t.step))) return SD_OK;
        if (now > deadline && t.step + 1 < t.steps_total) {
            run.report.time_limited = true;
            break;
        }
    }
    run.report.loss_first = losses.front();
    const size_t tail = std::max<size_t>(1, losses.size() / 20);
    double sum = 0;
    for (size_t i = losses.size() - tail; i < losses.size(); i++) sum += losses[i];
    run.report.loss = (float) (sum / (double) tail);
    return SD_OK;
}

sd_status save(sd_model * model, const heads_trainer & t, const std::vector<float> & accuracy, const char * out_path,
               std::string & error) {
    const sd_heads_data & h = *t.heads;
    sd_heads_weights w;
    w.info = h.info;
    w.info.accuracy = accuracy;
    auto get = [](const ggml_tensor * x) {
        std::vector<float> v((size_t) ggml_nelements(x));
        ggml_backend_tensor_get(x, v.data(), 0, ggml_nbytes(x));
        return v;
    };
    for (size_t i = 0; i < h.tensors.w.size(); i++) {
        w.w.push_back(get(h.tensors.w[i]));
        w.b.push_back(get(h.tensors.b[i]));
    }
    for (const ggml_tensor * o : h.tensors.out) w.out.push_back(get(o));
    for (const ggml_tensor * e : h.tensors.tok) w.tok.push_back(get(e));
    if (h.info.window > 0) {
        for (const ggml_tensor * a : h.tensors.attn) w.attn.push_back(get(a));
        w.attn_pos = get(h.tensors.attn_pos);
    }
    return sd_heads_save(out_path, model, w, error);
}

} // namespace

sd_status sd_read_documents(const sd_model * model, const std::string & path, int32_t n_ctx, int32_t min_len,
                            std::vector<std::vector<llama_token>> & docs, std::string & error) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    if (in) buffer << in.rdbuf();
    if (!in || in.bad()) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "cannot read the corpus " + path);
    const std::string text = buffer.str();
    size_t pos = 0;
    std::vector<llama_token> tokens;
    while (pos < text.size()) {
        size_t end = text.find("<|endoftext|>", pos);
        if (end == std::string::npos) end = text.size();
        const size_t b = text.find_first_not_of(" \t\r\n", pos);
        if (b != std::string::npos && b < end) {
            const size_t e = text.find_last_not_of(" \t\r\n", end - 1);
            sd_status status = sd_tokenize(model, text.substr(b, e + 1 - b), true, false, tokens, error);
            if (status != SD_OK) return status;
            for (size_t w = 0; w < tokens.size(); w += (size_t) n_ctx) {
                const size_t n = std::min(tokens.size() - w, (size_t) n_ctx);
                if ((int32_t) n >= min_len) docs.emplace_back(tokens.begin() + (long) w, tokens.begin() + (long) (w + n));
            }
        }
        pos = end + std::strlen("<|endoftext|>");
    }
    return SD_OK;
}

sd_status sd_heads_train(sd_model * model, const sd_train_params & params, const char * out_path,
                         sd_train_report & report, sd_train_progress_cb progress, void * user, std::string & error) {
    report = sd_train_report();
    if (model == nullptr) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "training needs a model");
    sd_status status = check_params(params, out_path, error);
    if (status != SD_OK) return status;
    train_run run{params, report, progress, user, llama_time_us()};
    const int32_t n_threads = params.n_threads != 0 ? params.n_threads : model->params.n_threads;
    const int32_t n_ctx = params.n_ctx != 0 ? params.n_ctx : std::min(512, std::max(32, llama_model_n_ctx_train(model->model)));

    // 1. hidden states and greedy tokens of the base model
    train_data d;
    d.n_embd = llama_model_n_embd(model->model);
    d.n_heads = params.n_heads;
    status = collect(model, run, n_ctx, n_threads, d, error);
    if (status != SD_OK || report.cancelled) return status;
    report.seconds_data = run.seconds();
    report.n_tokens = d.n_pos();
    report.n_train = (int64_t) d.train.size();
    if (report.n_train < params.batch || (int64_t) d.eval.size() < 100) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the corpus is too short: " + std::to_string(report.n_train) +
                       " training and " + std::to_string(d.eval.size()) + " held-out examples from " + params.corpus +
                       "; training needs at least batch (" + std::to_string(params.batch) +
                       ") training and 100 held-out examples");
    }

    // 2. the heads, their evaluator and the optimizer; the untrained heads' accuracy for comparison
    heads_trainer t;
    status = trainer_init(model, params, n_threads, t, error);
    if (status != SD_OK) return status;
    std::unique_ptr<sd_heads_evaluator> e;
    status = sd_heads_evaluator_init(t.heads, n_threads, nullptr, e, error);
    if (status != SD_OK) return status;
    eval_result r;
    const double t_eval = run.seconds();
    status = evaluate(*e, d, params.max_eval, run, r, error);
    if (status != SD_OK || report.cancelled) return status;
    const double eval_seconds = run.seconds() - t_eval;
    eval_report(r, params.n_heads, report.top1_before, report.top5_before, report.eval_loss_before, nullptr);

    // 3. training
    const double t_train = run.seconds();
    status = optimize(t, d, run, eval_seconds, error);
    if (status != SD_OK || report.cancelled) return status;
    report.seconds_train = run.seconds() - t_train;

    // 4. held-out accuracy, then the file
    status = evaluate(*e, d, params.max_eval, run, r, error);
    if (status != SD_OK || report.cancelled) return status;
    report.n_eval = r.n;
    eval_report(r, params.n_heads, report.top1, report.top5, report.eval_loss, &report.accuracy);
    e.reset();
    status = save(model, t, report.accuracy, out_path, error);
    report.seconds = run.seconds();
    return status;
}
