// Early exit (Kangaroo, Liu et al. 2024): a draft model made of the model's own first K blocks, an
// adapter block and the model's output head, written as a GGUF model of the same architecture so that
// it drafts through the draft-model strategy on llama.cpp's public API.
//
// 1. The file: every key of the model, the block count set to K + 1 (per-layer arrays cut the same
//    way), blocks 0 .. K - 1 as they are, the model's last block renamed to block K (the adapter), and
//    the token embedding, output norm and output head.
// 2. Training (with a corpus): the drafter reads the corpus and the adapter's FFN input ("ffn_inp-K",
//    the residual after its attention) is captured at every position; the model reads the same text
//    and gives its greedy token there. The adapter's FFN and FFN norm are trained on
//
//      y = x + W_down (SiLU(W_gate n) * W_up n),  n = rmsnorm(x) * g_ffn;  logits = O (rmsnorm(y) * g_out)
//
//    against those tokens (cross-entropy, AdamW through ggml-opt); the attention stays the last
//    block's, so the captured inputs stay valid. Every tenth of the run the held-out agreement with the
//    model's greedy tokens is measured and the best weights so far kept (the copied adapter counts: a
//    drafter that training made worse is not written). The trained tensors are written in the model's
//    types for them (quantized like the model's, without an importance matrix), else F32.
//
// Kangaroo's adapter is a whole trained block; ours trains its FFN half.
#include "engine/sd-context.h"
#include "engine/sd-settings.h"
#include "heads/sd-heads.h"
#include "model/sd-gguf.h"
#include "model/sd-log.h"
#include "model/sd-model.h"

#include "ggml-backend.h"
#include "ggml-opt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>

namespace {

// An integer key of any integer type; -1 when missing.
int64_t int_key(const gguf_context * g, const std::string & key) {
    const int64_t id = gguf_find_key(g, key.c_str());
    if (id < 0) return -1;
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
        case GGUF_TYPE_INT32:  return gguf_get_val_i32(g, id);
        case GGUF_TYPE_UINT64: return (int64_t) gguf_get_val_u64(g, id);
        case GGUF_TYPE_INT64:  return gguf_get_val_i64(g, id);
        case GGUF_TYPE_UINT16: return gguf_get_val_u16(g, id);
        default: return -1;
    }
}

// Bytes of one array element of a GGUF type (0 for strings and arrays).
size_t element_size(gguf_type type) {
    switch (type) {
        case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
        case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
        case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
        case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
        default: return 0;
    }
}

// "blk.N.rest" -> N (and rest); -1 for other names.
int64_t block_of(const std::string & name, std::string & rest) {
    if (name.rfind("blk.", 0) != 0) return -1;
    const size_t dot = name.find('.', 4);
    if (dot == std::string::npos) return -1;
    rest = name.substr(dot + 1);
    return std::atoll(name.substr(4, dot - 4).c_str());
}

// F32 values as a tensor of `type` (F32, F16, BF16 or a quantized type), rows of ne0 values.
std::vector<uint8_t> encode(ggml_type type, const std::vector<float> & v, int64_t ne0) {
    const int64_t nrows = (int64_t) v.size() / ne0;
    std::vector<uint8_t> out(ggml_row_size(type, ne0) * (size_t) nrows);
    if (type == GGML_TYPE_F32) {
        std::memcpy(out.data(), v.data(), out.size());
    } else if (type == GGML_TYPE_F16) {
        ggml_fp32_to_fp16_row(v.data(), reinterpret_cast<ggml_fp16_t *>(out.data()), (int64_t) v.size());
    } else if (type == GGML_TYPE_BF16) {
        ggml_fp32_to_bf16_row(v.data(), reinterpret_cast<ggml_bf16_t *>(out.data()), (int64_t) v.size());
    } else {
        ggml_quantize_chunk(type, v.data(), out.data(), 0, nrows, ne0, nullptr);
    }
    return out;
}

// The type a trained tensor is written in: the model's own for that tensor when F32 values convert
// to it without an importance matrix, else F32.
ggml_type trained_type(ggml_type model_type) {
    if (model_type == GGML_TYPE_F16 || model_type == GGML_TYPE_BF16) return model_type;
    if (ggml_is_quantized(model_type) && !ggml_quantize_requires_imatrix(model_type)) return model_type;
    return GGML_TYPE_F32;
}

// Writes the drafter: the model's keys and tensors as described at the top, with `trained` (name ->
// F32 values) in place of the adapter tensors of the same name, in the model's types for them.
sd_status write_drafter(const char * path, const gguf_context * in, FILE * fin, const std::string & arch, int64_t n_layer,
                        int32_t k, const std::map<std::string, std::vector<float>> & trained, std::string & error) {
    sd_gguf_ptr out(gguf_init_empty());
    gguf_set_kv(out.get(), in);
    const std::string prefix = arch + ".";
    // per-layer arrays: the first K values and the last block's
    for (int64_t i = 0; i < gguf_get_n_kv(in); i++) {
        const std::string key = gguf_get_key(in, i);
        if (key.rfind(prefix, 0) != 0 || gguf_get_kv_type(in, i) != GGUF_TYPE_ARRAY ||
            gguf_get_arr_n(in, i) != (size_t) n_layer) {
            continue;
        }
        const gguf_type type = gguf_get_arr_type(in, i);
        const size_t size = element_size(type);
        if (size == 0) continue;
        const uint8_t * data = static_cast<const uint8_t *>(gguf_get_arr_data(in, i));
        std::vector<uint8_t> cut(data, data + size * (size_t) k);
        cut.insert(cut.end(), data + size * (size_t) (n_layer - 1), data + size * (size_t) n_layer);
        gguf_set_arr_data(out.get(), key.c_str(), type, cut.data(), (size_t) k + 1);
    }
    gguf_set_val_u32(out.get(), (prefix + "block_count").c_str(), (uint32_t) k + 1);
    const std::string name = sd_gguf_str(in, "general.name");
    gguf_set_val_str(out.get(), "general.name", ((name.empty() ? arch : name) + " early exit " +
                                                 std::to_string(k) + "+1").c_str());
    gguf_set_val_u32(out.get(), "llamaspec.early_exit.layers", (uint32_t) k);

    struct planned { int64_t src; std::string name; };
    std::vector<planned> plan;
    for (int64_t i = 0; i < gguf_get_n_tensors(in); i++) {
        const std::string t = gguf_get_tensor_name(in, i);
        std::string rest;
        const int64_t b = block_of(t, rest);
        if (b < 0 || b < k) plan.push_back({i, t});
        else if (b == n_layer - 1) plan.push_back({i, "blk." + std::to_string(k) + "." + rest});
    }
    ggml_init_params ip = {(plan.size() + 1) * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
    ggml_context * meta = ggml_init(ip);
    std::unique_ptr<ggml_context, void (*)(ggml_context *)> meta_owner(meta, ggml_free);
    for (const planned & p : plan) {
        const ggml_type type = gguf_get_tensor_type(in, p.src);
        ggml_tensor * t = ggml_new_tensor(meta, trained.count(p.name) != 0 ? trained_type(type) : type, GGML_MAX_DIMS,
                                          gguf_get_tensor_ne(in, p.src));
        ggml_set_name(t, p.name.c_str());
        gguf_add_tensor(out.get(), t);
    }
    const std::string tmp = std::string(path) + ".partial";
    auto fail = [&](const std::string & why) {
        std::remove(tmp.c_str());
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, why);
    };
    if (!gguf_write_to_file(out.get(), tmp.c_str(), /*only_meta =*/ true)) return fail(std::string("cannot write ") + path);
    sd_file_ptr f(std::fopen(tmp.c_str(), "ab"));
    if (!f) return fail(std::string("cannot write ") + path);
    const uint64_t meta_size = gguf_get_meta_size(out.get());
    const size_t alignment = gguf_get_alignment(out.get());
    uint64_t pos = meta_size;
    std::vector<uint8_t> bytes;
    auto pad = [&](uint64_t to) {
        static const char zeros[64] = {0};
        while (pos < to) {
            const size_t n = (size_t) std::min<uint64_t>(sizeof(zeros), to - pos);
            if (std::fwrite(zeros, 1, n, f.get()) != n) return false;
            pos += n;
        }
        return true;
    };
    for (size_t i = 0; i < plan.size(); i++) {
        const auto it = trained.find(plan[i].name);
        const sd_gguf_tensor src = sd_gguf_tensor_at(in, plan[i].src);
        if (it != trained.end()) {
            bytes = encode(trained_type(src.type), it->second, src.ne[0]);
        } else {
            bytes.resize(src.size);
            if (!sd_file_read(fin, src.offset, bytes.data(), bytes.size())) return fail("cannot read tensor " + src.name);
        }
        const uint64_t start = meta_size + gguf_get_tensor_offset(out.get(), (int64_t) i);
        if (bytes.size() != gguf_get_tensor_size(out.get(), (int64_t) i) || !pad(start) ||
            std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) {
            return fail(std::string("cannot write ") + path);
        }
        pos += bytes.size();
    }
    if (!pad((pos + alignment - 1) / alignment * alignment) || std::fclose(f.release()) != 0) {
        return fail(std::string("cannot write ") + path);
    }
    if (std::rename(tmp.c_str(), path) != 0) return fail(std::string("cannot write ") + path);
    return SD_OK;
}

// What the drafter reads and what the model answers: per position the adapter's FFN input and the
// model's greedy token.
struct exit_data {
    int32_t n_embd = 0;
    std::vector<float>       x;
    std::vector<llama_token> label;
    std::vector<int64_t>     train, eval;
};

// Progress: phase, done, total, loss; false when the run is to stop.
typedef std::function<bool(sd_train_phase, int64_t, int64_t, float)> exit_progress;

sd_status collect(sd_model * model, sd_model * drafter, int32_t k, const sd_early_exit_params & p, int32_t n_threads,
                  const exit_progress & tell, exit_data & d, std::string & error) {
    std::vector<std::vector<llama_token>> docs;
    sd_status status = sd_read_documents(model, p.corpus, 256, 2, docs, error);
    if (status != SD_OK) return status;
    sd_session_params sp = sd_session_default_params();
    sp.n_ctx = 256;
    sp.n_threads = n_threads;
    sd_context * target = nullptr;
    sd_context * reader = nullptr;
    status = sd_context_init(model, sp, &target, error);
    std::unique_ptr<sd_context, void (*)(sd_context *)> target_owner(target, sd_context_free);
    if (status == SD_OK) status = sd_context_init(drafter, sp, &reader, error);
    std::unique_ptr<sd_context, void (*)(sd_context *)> reader_owner(reader, sd_context_free);
    if (status == SD_OK) status = sd_context_enable_capture(reader, error);
    if (status != SD_OK) return status;
    const std::string name = "ffn_inp-" + std::to_string(k);
    reader->capture_name = name.c_str();
    reader->capture = true;
    for (size_t i = 0; i < docs.size() && (int64_t) d.label.size() < p.max_tokens; i++) {
        const std::vector<llama_token> & doc = docs[i];
        sd_context_reset(target);
        sd_context_reset(reader);
        bool cancelled = false;
        status = sd_context_eval(target, doc.data(), doc.size(), true, &cancelled, error);
        if (status != SD_OK) return status;
        std::vector<llama_token> labels(doc.size());
        for (size_t j = 0; j < doc.size(); j++) {
            const float * l = llama_get_logits_ith(target->ctx, (int32_t) j);
            labels[j] = (llama_token) (std::max_element(l, l + target->n_vocab) - l);
        }
        status = sd_context_eval(reader, doc.data(), doc.size(), true, &cancelled, error);
        if (status != SD_OK) return status;
        if (reader->hidden_n != (int32_t) doc.size() || reader->hidden.size() != doc.size() * (size_t) d.n_embd) {
            return sd_fail(error, SD_ERR_DECODE, "llama.cpp gave no " + name + " for the corpus (" +
                           std::to_string(reader->hidden_n) + " rows for " + std::to_string(doc.size()) + " tokens)");
        }
        const bool held_out = std::floor((double) (i + 1) * p.holdout) > std::floor((double) i * p.holdout);
        for (size_t j = 0; j < doc.size(); j++) (held_out ? d.eval : d.train).push_back((int64_t) d.label.size() + (int64_t) j);
        d.x.insert(d.x.end(), reader->hidden.begin(), reader->hidden.end());
        d.label.insert(d.label.end(), labels.begin(), labels.end());
        if (!tell(SD_TRAIN_READ, std::min<int64_t>((int64_t) d.label.size(), p.max_tokens), p.max_tokens, 0.0f)) break;
    }
    reader->capture = false;
    reader->capture_name = "result_norm";
    return SD_OK;
}

// The adapter's FFN being trained, with the frozen norm and head, on the CPU.
struct exit_trainer {
    ggml_context *        ctx_w = nullptr;
    ggml_backend_buffer_t buf_w = nullptr;
    ggml_tensor *gate = nullptr, *up = nullptr, *down = nullptr, *fnorm = nullptr, *onorm = nullptr, *out = nullptr;
    ggml_context *        ctx_in = nullptr;
    ggml_backend_buffer_t buf_in = nullptr;
    ggml_tensor *         x = nullptr;
    ggml_backend_t        backend = nullptr;
    ggml_backend_sched_t  sched = nullptr;
    ggml_context *        ctx_compute = nullptr;
    ggml_opt_context_t    opt = nullptr;
    float                 lr = 0;

    ~exit_trainer() {
        if (opt != nullptr) ggml_opt_free(opt);
        if (ctx_compute != nullptr) ggml_free(ctx_compute);
        if (sched != nullptr) ggml_backend_sched_free(sched);
        if (backend != nullptr) ggml_backend_free(backend);
        if (buf_in != nullptr) ggml_backend_buffer_free(buf_in);
        if (ctx_in != nullptr) ggml_free(ctx_in);
        if (buf_w != nullptr) ggml_backend_buffer_free(buf_w);
        if (ctx_w != nullptr) ggml_free(ctx_w);
    }
};

ggml_opt_optimizer_params exit_optimizer(void * user) {
    ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
    p.adamw.alpha = static_cast<const exit_trainer *>(user)->lr;
    return p;
}

// Reads tensor `name` of the model's file as F32 into t's shape; false when missing or mis-shaped.
bool load_f32(const gguf_context * g, FILE * f, const std::string & name, std::vector<float> & out, int64_t ne0, int64_t ne1) {
    sd_gguf_tensor t;
    return sd_gguf_find_tensor(g, name.c_str(), t) && t.ne[0] == ne0 && t.ne[1] == ne1 && sd_gguf_read_f32(f, t, out);
}

// Sets up the training of the adapter's FFN (ff wide) and FFN norm, starting from the model's last block.
sd_status trainer_init(sd_model * model, const gguf_context * g, FILE * f, int64_t n_layer, int64_t ff, float eps,
                       const sd_early_exit_params & p, int32_t n_threads, exit_trainer & t, std::string & error) {
    const int64_t d = llama_model_n_embd(model->model), V = llama_vocab_n_tokens(model->vocab);
    const std::string last = "blk." + std::to_string(n_layer - 1) + ".";
    std::vector<float> gate, up, down, fnorm, onorm, out;
    if (!load_f32(g, f, last + "ffn_gate.weight", gate, d, ff) || !load_f32(g, f, last + "ffn_up.weight", up, d, ff) ||
        !load_f32(g, f, last + "ffn_down.weight", down, ff, d) || !load_f32(g, f, last + "ffn_norm.weight", fnorm, d, 1) ||
        !load_f32(g, f, "output_norm.weight", onorm, d, 1)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "cannot read the model's last FFN and output norm as F32 (" +
                       model->path + ")");
    }
    sd_status status = sd_model_output_f32(model, out, error);
    if (status != SD_OK) return status;

    ggml_init_params wp = {8 * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
    t.ctx_w = ggml_init(wp);
    t.gate  = ggml_new_tensor_2d(t.ctx_w, GGML_TYPE_F32, d, ff);
    t.up    = ggml_new_tensor_2d(t.ctx_w, GGML_TYPE_F32, d, ff);
    t.down  = ggml_new_tensor_2d(t.ctx_w, GGML_TYPE_F32, ff, d);
    t.fnorm = ggml_new_tensor_1d(t.ctx_w, GGML_TYPE_F32, d);
    t.onorm = ggml_new_tensor_1d(t.ctx_w, GGML_TYPE_F32, d);
    t.out   = ggml_new_tensor_2d(t.ctx_w, GGML_TYPE_F32, d, V);
    ggml_init_params ip = {2 * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
    t.ctx_in = ggml_init(ip);
    t.x = ggml_new_tensor_2d(t.ctx_in, GGML_TYPE_F32, d, p.batch);
    ggml_set_input(t.x);
    t.backend = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    if (t.backend == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "cannot start the CPU backend");
    sd_backend_set_threads(t.backend, n_threads);
    ggml_backend_buffer_type_t buft = ggml_backend_get_default_buffer_type(t.backend);
    t.buf_w = ggml_backend_alloc_ctx_tensors_from_buft(t.ctx_w, buft);
    t.buf_in = ggml_backend_alloc_ctx_tensors_from_buft(t.ctx_in, buft);
    if (t.buf_w == nullptr || t.buf_in == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "out of memory for the adapter's training");
    ggml_backend_tensor_set(t.gate, gate.data(), 0, ggml_nbytes(t.gate));
    ggml_backend_tensor_set(t.up, up.data(), 0, ggml_nbytes(t.up));
    ggml_backend_tensor_set(t.down, down.data(), 0, ggml_nbytes(t.down));
    ggml_backend_tensor_set(t.fnorm, fnorm.data(), 0, ggml_nbytes(t.fnorm));
    ggml_backend_tensor_set(t.onorm, onorm.data(), 0, ggml_nbytes(t.onorm));
    ggml_backend_tensor_set(t.out, out.data(), 0, ggml_nbytes(t.out));
    for (ggml_tensor * w : {t.gate, t.up, t.down, t.fnorm}) ggml_set_param(w);

    t.sched = ggml_backend_sched_new(&t.backend, nullptr, 1, GGML_DEFAULT_GRAPH_SIZE, false, false);
    const size_t n_tensors = 4 * (size_t) GGML_DEFAULT_GRAPH_SIZE;
    ggml_init_params cp = {ggml_tensor_overhead() * n_tensors + 3 * ggml_graph_overhead_custom(GGML_DEFAULT_GRAPH_SIZE, true),
                           nullptr, /*no_alloc =*/ true};
    t.ctx_compute = ggml_init(cp);
    if (t.sched == nullptr || t.ctx_compute == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "cannot set up the adapter's training");
    ggml_context * c = t.ctx_compute;
    ggml_tensor * n = ggml_mul(c, ggml_rms_norm(c, t.x, eps), t.fnorm);
    ggml_tensor * a = ggml_mul(c, ggml_silu(c, ggml_mul_mat(c, t.gate, n)), ggml_mul_mat(c, t.up, n));
    ggml_tensor * y = ggml_add(c, t.x, ggml_mul_mat(c, t.down, a));
    ggml_tensor * logits = ggml_mul_mat(c, t.out, ggml_mul(c, ggml_rms_norm(c, y, eps), t.onorm));
    t.lr = p.lr;
    ggml_opt_params op = ggml_opt_default_params(t.sched, GGML_OPT_LOSS_TYPE_CROSS_ENTROPY);
    op.ctx_compute     = c;
    op.inputs          = t.x;
    op.outputs         = logits;
    op.get_opt_pars    = exit_optimizer;
    op.get_opt_pars_ud = &t;
    op.optimizer       = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
    t.opt = ggml_opt_init(op);
    if (t.opt == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "cannot set up the optimizer");
    return SD_OK;
}

// Fills the batch with the examples at positions ex[0..batch) (one-hot labels) and runs a step
// (backward) or a forward pass; the result accumulates loss and correct predictions.
void run_batch(exit_trainer & t, const exit_data & d, const int64_t * ex, int32_t batch, bool backward,
               ggml_opt_result_t result) {
    const int32_t V = (int32_t) t.out->ne[1];
    std::vector<float> x((size_t) batch * d.n_embd), labels((size_t) batch * V, 0.0f);
    for (int32_t j = 0; j < batch; j++) {
        std::memcpy(&x[(size_t) j * d.n_embd], &d.x[(size_t) ex[j] * d.n_embd], sizeof(float) * d.n_embd);
        labels[(size_t) j * V + d.label[(size_t) ex[j]]] = 1.0f;
    }
    ggml_opt_alloc(t.opt, backward);
    ggml_backend_tensor_set(ggml_opt_inputs(t.opt), x.data(), 0, x.size() * sizeof(float));
    ggml_backend_tensor_set(ggml_opt_labels(t.opt), labels.data(), 0, labels.size() * sizeof(float));
    ggml_opt_eval(t.opt, result);
}

// Held-out agreement: the share of held-out positions whose prediction is the model's greedy token
// (whole batches only: the graph has a fixed batch size).
float agreement(exit_trainer & t, const exit_data & d, int32_t batch) {
    ggml_opt_result_t r = ggml_opt_result_init();
    for (size_t i = 0; i + (size_t) batch <= d.eval.size(); i += (size_t) batch) run_batch(t, d, &d.eval[i], batch, false, r);
    double acc = 0, unc = 0;
    ggml_opt_result_accuracy(r, &acc, &unc);
    ggml_opt_result_free(r);
    return std::isfinite(acc) ? (float) acc : 0.0f;
}

} // namespace

sd_status sd_early_exit_make(sd_model * model, const sd_early_exit_params & p, const char * out_path,
                             sd_early_exit_report & report, sd_train_progress_cb progress, void * user,
                             std::string & error) {
    report = sd_early_exit_report();
    const int64_t t_start = llama_time_us();
    const exit_progress tell = [&](sd_train_phase phase, int64_t done, int64_t total, float loss) {
        if (progress == nullptr || report.cancelled) return !report.cancelled;
        const sd_train_progress at = {phase, done, total, loss, phase == SD_TRAIN_OPTIMIZE ? p.lr : 0.0f,
                                      (double) (llama_time_us() - t_start) / 1e6};
        if (!progress(at, user)) report.cancelled = true;
        return !report.cancelled;
    };
    if (model == nullptr) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "early exit needs a model");
    if (out_path == nullptr || out_path[0] == '\0') return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "output path is empty");
    if (sd_early_exit_params_check(p, error) != SD_OK) return SD_ERR_INVALID_ARGUMENT;
    sd_gguf_ptr g = sd_gguf_open(model->path.c_str());
    sd_file_ptr f(std::fopen(model->path.c_str(), "rb"));
    if (!g || !f) return sd_fail(error, SD_ERR_MODEL_LOAD, "cannot read the model file " + model->path);
    const std::string arch = sd_gguf_str(g.get(), "general.architecture");
    const int64_t n_layer = int_key(g.get(), arch + ".block_count");
    report.n_layers_model = (int32_t) n_layer;
    if (n_layer < 2 || p.n_layers < 1 || p.n_layers >= n_layer) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "early exit keeps 1 .. " + std::to_string(n_layer - 1) +
                       " of the model's " + std::to_string(n_layer) + " blocks, not " + std::to_string(p.n_layers));
    }
    const std::string last = "blk." + std::to_string(n_layer - 1) + ".";
    int64_t n_ff = 0; // the FFN's width, from its gate
    for (const char * part : {"ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "ffn_norm.weight"}) {
        sd_gguf_tensor t;
        if (!sd_gguf_find_tensor(g.get(), (last + part).c_str(), t)) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "early exit needs llama-style blocks: the model has no " +
                           last + part);
        }
        if (n_ff == 0) n_ff = t.ne[1];
    }
    report.model_bytes = sd_file_size(f.get());
    auto finish = [&](sd_status status) {
        report.file_bytes = status == SD_OK ? sd_file_size(sd_file_ptr(std::fopen(out_path, "rb")).get()) : 0;
        report.seconds = (double) (llama_time_us() - t_start) / 1e6;
        return status;
    };
    if (p.corpus.empty()) return finish(write_drafter(out_path, g.get(), f.get(), arch, n_layer, p.n_layers, {}, error));

    // training: the untrained drafter (a file of its own, gone once loaded) reads the corpus and the
    // model answers, then the adapter's FFN learns; only the result is written to out_path
    const int32_t n_threads = p.n_threads != 0 ? p.n_threads : model->params.n_threads;
    sd_model_params mp = model->params;
    mp.n_threads = n_threads;
    const std::string untrained = std::string(out_path) + ".untrained";
    sd_status status = write_drafter(untrained.c_str(), g.get(), f.get(), arch, n_layer, p.n_layers, {}, error);
    sd_model * drafter = nullptr;
    if (status == SD_OK) status = sd_model_load(untrained.c_str(), mp, &drafter, error);
    std::remove(untrained.c_str());
    if (status != SD_OK) return status;
    std::unique_ptr<sd_model, void (*)(sd_model *)> drafter_owner(drafter, sd_model_free);
    exit_data d;
    d.n_embd = llama_model_n_embd(model->model);
    status = collect(model, drafter, p.n_layers, p, n_threads, tell, d, error);
    drafter_owner.reset();
    if (status != SD_OK || report.cancelled) return status;
    if ((int64_t) d.train.size() < p.batch || (int64_t) d.eval.size() < p.batch) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the corpus is too short: " + std::to_string(d.train.size()) +
                       " training and " + std::to_string(d.eval.size()) + " held-out positions from " + p.corpus +
                       "; early exit needs at least a batch (" + std::to_string(p.batch) + ") of each");
    }
    report.n_train = (int64_t) d.train.size();
    report.n_eval = (int64_t) d.eval.size() / p.batch * p.batch;
    const float eps = [&] {
        const int64_t id = gguf_find_key(g.get(), (arch + ".attention.layer_norm_rms_epsilon").c_str());
        return id >= 0 && gguf_get_kv_type(g.get(), id) == GGUF_TYPE_FLOAT32 ? gguf_get_val_f32(g.get(), id) : 1e-5f;
    }();
    exit_trainer t;
    status = trainer_init(model, g.get(), f.get(), n_layer, n_ff, eps, p, n_threads, t, error);
    if (status != SD_OK) return status;
    report.agreement_before = agreement(t, d, p.batch);
    if (!tell(SD_TRAIN_EVAL, 1, 1, 0.0f)) return SD_OK;
    // the held-out agreement every tenth of the run; the best weights are kept (from the copied
    // adapter on: a drafter that training made worse is not written)
    auto get = [](const ggml_tensor * x) {
        std::vector<float> v((size_t) ggml_nelements(x));
        ggml_backend_tensor_get(x, v.data(), 0, ggml_nbytes(x));
        return v;
    };
    const std::string adapter = "blk." + std::to_string(p.n_layers) + ".";
    std::map<std::string, std::vector<float>> best;
    auto keep = [&] {
        best[adapter + "ffn_gate.weight"] = get(t.gate);
        best[adapter + "ffn_up.weight"]   = get(t.up);
        best[adapter + "ffn_down.weight"] = get(t.down);
        best[adapter + "ffn_norm.weight"] = get(t.fnorm);
    };
    keep();
    report.agreement_after = report.agreement_before;
    const int32_t check_every = std::max(1, p.n_steps / 10);
    std::mt19937 rng(p.seed);
    std::vector<int64_t> order(d.train);
    std::shuffle(order.begin(), order.end(), rng);
    size_t next = 0;
    std::vector<float> losses;
    std::vector<int64_t> batch((size_t) p.batch);
    for (report.steps = 0; report.steps < p.n_steps; report.steps++) {
        for (int32_t j = 0; j < p.batch; j++) {
            if (next == order.size()) {
                std::shuffle(order.begin(), order.end(), rng);
                next = 0;
            }
            batch[(size_t) j] = order[next++];
        }
        run_batch(t, d, batch.data(), p.batch, true, nullptr);
        float loss = 0;
        ggml_backend_tensor_get(ggml_opt_loss(t.opt), &loss, 0, sizeof(loss));
        if (!std::isfinite(loss)) {
            return sd_fail(error, SD_ERR_DECODE, "training diverged at step " + std::to_string(report.steps + 1) +
                           "; try a lower learning rate");
        }
        losses.push_back(loss);
        if (!tell(SD_TRAIN_OPTIMIZE, report.steps + 1, p.n_steps, loss)) return SD_OK;
        if ((report.steps + 1) % check_every == 0 || report.steps + 1 == p.n_steps) {
            const float a = agreement(t, d, p.batch);
            if (a > report.agreement_after) {
                report.agreement_after = a;
                report.best_step = report.steps + 1;
                keep();
            }
        }
    }
    report.loss_first = losses.front();
    const size_t tail = std::max<size_t>(1, losses.size() / 20);
    double sum = 0;
    for (size_t i = losses.size() - tail; i < losses.size(); i++) sum += losses[i];
    report.loss = (float) (sum / (double) tail);
    // the copied adapter stays as it was in the model's types when training never improved on it
    if (report.best_step == 0) best.clear();
    return finish(write_drafter(out_path, g.get(), f.get(), arch, n_layer, p.n_layers, best, error));
}
