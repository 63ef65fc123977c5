// Early exit (Kangaroo, Liu et al. 2024): a draft model made of the model's own first K blocks, an
// adapter block and the model's output head, written as a GGUF model of the same architecture so that
// it drafts through the draft-model strategy on llama.cpp's public API.
//
// 1. The file: every key of the model, the block count set to K + 1 (per-layer arrays cut the same
//    way), blocks 0 .. K - 1 as they are, the model's last block renamed to block K (the adapter), and
//    the token embedding, output norm and output head.
// 2. Training (with a corpus): the drafter reads the corpus and the adapter's input is captured at
//    every position; the model reads the same text and gives its greedy token there. With attention
//    the whole adapter block is trained, as Kangaroo's is: the input is block K - 1's output
//    ("l_out-{K-1}") and the graph is llama.cpp's llama block,
//
//      x' = x + W_o attn(rope(W_q n), rope(W_k n), W_v n),  n = rmsnorm(x) * g_attn
//
//    (causal softmax attention, grouped heads, llama.cpp's rotary embedding), then the FFN below.
//    A step is one sequence of `batch` positions: whole documents (read in pieces of at most `batch`
//    tokens, so each starts at position 0 as it did when captured), the last one cut where the
//    sequence ends; a mask keeps each document's attention to itself. The attention's weights move
//    at a tenth of the learning rate (k_attention_step). By default (attention off) only the FFN half
//    trains, on single positions: the input is the adapter's FFN input ("ffn_inp-K", the
//    residual after its attention, which stays the last block's) and
//
//      y = x + W_down (SiLU(W_gate n) * W_up n),  n = rmsnorm(x) * g_ffn;  logits = O (rmsnorm(y) * g_out)
//
//    Either way: cross-entropy against the model's tokens, AdamW through ggml-opt. Every tenth of the
//    run the held-out agreement with the model's greedy tokens is measured and the best weights so
//    far kept (the copied adapter counts: a drafter that training made worse is not written). The
//    trained tensors are written in the model's types for them (quantized like the model's, without
//    an importance matrix), else F32.
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

// What the drafter reads and what the model answers: per position the adapter's input (its FFN input
// when only the FFN trains, the block's input with attention) and the model's greedy token; the
// documents as ranges of positions.
struct exit_data {
    int32_t n_embd = 0;
    std::vector<float>       x;
    std::vector<llama_token> label;
    std::vector<int64_t>     train, eval;           // positions
    std::vector<int64_t>     doc_begin, doc_len;    // per document
    std::vector<int64_t>     train_docs, eval_docs; // documents
};

// Progress: phase, done, total, loss; false when the run is to stop.
typedef std::function<bool(sd_train_phase, int64_t, int64_t, float)> exit_progress;

// The captured tensor: llama.cpp's name for the adapter's input in the drafter's graph.
std::string adapter_input(int32_t k, bool attention) {
    return attention ? "l_out-" + std::to_string(k - 1) : "ffn_inp-" + std::to_string(k);
}

sd_status collect(sd_model * model, sd_model * drafter, int32_t k, const sd_early_exit_params & p, int32_t n_threads,
                  const exit_progress & tell, exit_data & d, std::string & error) {
    std::vector<std::vector<llama_token>> docs;
    const int32_t n_doc = p.attention ? std::min<int32_t>(256, p.batch) : 256;
    sd_status status = sd_read_documents(model, p.corpus, n_doc, 2, docs, error);
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
    const std::string name = adapter_input(k, p.attention);
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
        (held_out ? d.eval_docs : d.train_docs).push_back((int64_t) d.doc_begin.size());
        d.doc_begin.push_back((int64_t) d.label.size());
        d.doc_len.push_back((int64_t) doc.size());
        for (size_t j = 0; j < doc.size(); j++) (held_out ? d.eval : d.train).push_back((int64_t) d.label.size() + (int64_t) j);
        d.x.insert(d.x.end(), reader->hidden.begin(), reader->hidden.end());
        d.label.insert(d.label.end(), labels.begin(), labels.end());
        if (!tell(SD_TRAIN_READ, std::min<int64_t>((int64_t) d.label.size(), p.max_tokens), p.max_tokens, 0.0f)) break;
    }
    reader->capture = false;
    reader->capture_name = "result_norm";
    return SD_OK;
}

// The adapter being trained (its FFN, or the whole block), with the frozen output norm and head, on
// the CPU. With attention the batch is one sequence: pos and mask say where each document in it starts.
struct exit_trainer {
    bool                  attention = false;
    ggml_context *        ctx_w = nullptr;
    ggml_backend_buffer_t buf_w = nullptr;
    std::map<std::string, ggml_tensor *> trained; // the adapter's tensors by their names in the block
    // The attention's tensors train as W = W0 + k_attention_step * D, D (the parameter in `trained`)
    // from zero: a tenth of the learning rate for them (the copied weights in `base`)
    std::map<std::string, ggml_tensor *> base;
    ggml_tensor *onorm = nullptr, *out = nullptr, *rope_freqs = nullptr;
    ggml_context *        ctx_in = nullptr;
    ggml_backend_buffer_t buf_in = nullptr;
    ggml_tensor *x = nullptr, *pos = nullptr, *mask = nullptr;
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

// The attention's share of the learning rate. Measured on stories260K widened to 2048 / 5632 (K = 2,
// 120 steps x 128 on 6,000 positions): at the FFN's rate (1e-3) the whole block diverged (loss 3.6 ->
// 4.5, held-out agreement never above the copy's 0.22), at 1e-4 for all of it agreement reached 0.45,
// below the FFN alone at 1e-3 (0.55); the attention's scores move with the square of its weights.
constexpr float k_attention_step = 0.1f;

ggml_opt_optimizer_params exit_optimizer(void * user) {
    ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
    p.adamw.alpha = static_cast<const exit_trainer *>(user)->lr;
    return p;
}

// The attention of a llama block as llama.cpp computes it, in hyperparameters read from the file.
struct exit_attention {
    int64_t n_head = 0, n_head_kv = 0, head_dim = 0, n_rot = 0, n_ctx_orig = 0;
    int     rope_mode = 0;
    float   freq_base = 10000.0f, freq_scale = 1.0f, kq_scale = 0;
};

float float_key(const gguf_context * g, const std::string & key, float def) {
    const int64_t id = gguf_find_key(g, key.c_str());
    return id >= 0 && gguf_get_kv_type(g, id) == GGUF_TYPE_FLOAT32 ? gguf_get_val_f32(g, id) : def;
}

// The attention's shape, or an error naming why the block cannot be trained whole: only llama blocks
// (norm, Q, K, V and output projections without biases, RoPE, softmax attention, SwiGLU FFN) can.
sd_status attention_shape(const sd_model * model, const gguf_context * g, const std::string & arch, int64_t n_layer,
                          exit_attention & a, std::string & error) {
    const std::string why = "training the adapter's attention needs a llama model's block";
    const std::string hint = "; set attention to 0 to train its FFN only";
    if (arch != "llama") return sd_fail(error, SD_ERR_INVALID_ARGUMENT, why + " (this model is " + arch + ")" + hint);
    const std::string last = "blk." + std::to_string(n_layer - 1) + ".";
    static const char * const parts[] = {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                                         "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight",
                                         "ffn_down.weight"};
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        const std::string t = gguf_get_tensor_name(g, i);
        if (t.rfind(last, 0) != 0) continue;
        const std::string rest = t.substr(last.size());
        if (std::find(std::begin(parts), std::end(parts), rest) == std::end(parts)) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, why + " (the last block also has " + t + ")" + hint);
        }
    }
    const int64_t d = llama_model_n_embd(model->model);
    a.n_head = int_key(g, arch + ".attention.head_count");
    a.n_head_kv = int_key(g, arch + ".attention.head_count_kv");
    if (a.n_head_kv < 0) a.n_head_kv = a.n_head;
    if (a.n_head <= 0 || a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0 || d % a.n_head != 0) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, why + " (head counts per layer are not supported)" + hint);
    }
    a.head_dim = d / a.n_head;
    const int64_t key_length = int_key(g, arch + ".attention.key_length");
    const int64_t value_length = int_key(g, arch + ".attention.value_length");
    if ((key_length >= 0 && key_length != a.head_dim) || (value_length >= 0 && value_length != a.head_dim)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, why + " (heads wider than n_embd / n_head)" + hint);
    }
    a.n_rot = int_key(g, arch + ".rope.dimension_count");
    if (a.n_rot < 0) a.n_rot = a.head_dim;
    a.n_ctx_orig = std::max<int64_t>(0, int_key(g, arch + ".context_length"));
    const llama_rope_type rope = llama_model_rope_type(model->model);
    if (rope != LLAMA_ROPE_TYPE_NORM && rope != LLAMA_ROPE_TYPE_NEOX) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, why + " (its rotary embedding is multi-section)" + hint);
    }
    a.rope_mode = (int) rope;
    a.freq_base = float_key(g, arch + ".rope.freq_base", 10000.0f);
    a.freq_scale = llama_model_rope_freq_scale_train(model->model);
    a.kq_scale = float_key(g, arch + ".attention.scale", 0.0f);
    if (a.kq_scale == 0.0f) a.kq_scale = 1.0f / std::sqrt((float) a.head_dim);
    return SD_OK;
}

// Reads tensor `name` of the model's file as F32 into t's shape; false when missing or mis-shaped.
bool load_f32(const gguf_context * g, FILE * f, const std::string & name, std::vector<float> & out, int64_t ne0, int64_t ne1) {
    sd_gguf_tensor t;
    return sd_gguf_find_tensor(g, name.c_str(), t) && t.ne[0] == ne0 && t.ne[1] == ne1 && sd_gguf_read_f32(f, t, out);
}

// x's expansion of n_kv heads to n_kv * g (head h reads kv head h / g, as in llama.cpp): x is
// [a, b, n_kv] and comes back [a, b, n_kv * g].
ggml_tensor * repeat_heads(ggml_context * c, ggml_tensor * x, int64_t g) {
    if (g == 1) return x;
    const int64_t a = x->ne[0], b = x->ne[1], n_kv = x->ne[2];
    ggml_tensor * flat = ggml_reshape_3d(c, ggml_cont(c, x), a * b, 1, n_kv);
    ggml_tensor * wide = ggml_repeat(c, flat, ggml_new_tensor_3d(c, GGML_TYPE_F32, a * b, g, n_kv));
    return ggml_reshape_3d(c, wide, a, b, n_kv * g);
}

// Sets up the training of the adapter (its FFN, ff wide, and FFN norm; with attention the whole
// block), starting from the model's last block.
sd_status trainer_init(sd_model * model, const gguf_context * g, FILE * f, const std::string & arch, int64_t n_layer,
                       int64_t ff, float eps, const sd_early_exit_params & p, int32_t n_threads, exit_trainer & t,
                       std::string & error) {
    const int64_t d = llama_model_n_embd(model->model), V = llama_vocab_n_tokens(model->vocab);
    t.attention = p.attention;
    exit_attention a;
    if (p.attention) {
        const sd_status status = attention_shape(model, g, arch, n_layer, a, error);
        if (status != SD_OK) return status;
    }
    const int64_t q_width = a.n_head * a.head_dim, kv_width = a.n_head_kv * a.head_dim;
    struct part { const char * name; int64_t ne0, ne1; };
    std::vector<part> parts = {{"ffn_gate.weight", d, ff}, {"ffn_up.weight", d, ff}, {"ffn_down.weight", ff, d},
                               {"ffn_norm.weight", d, 1}};
    if (p.attention) {
        parts.insert(parts.end(), {{"attn_norm.weight", d, 1}, {"attn_q.weight", d, q_width}, {"attn_k.weight", d, kv_width},
                                   {"attn_v.weight", d, kv_width}, {"attn_output.weight", q_width, d}});
    }
    const std::string last = "blk." + std::to_string(n_layer - 1) + ".";
    std::map<std::string, std::vector<float>> values;
    std::vector<float> onorm, out, freqs;
    for (const part & w : parts) {
        if (!load_f32(g, f, last + w.name, values[w.name], w.ne0, w.ne1)) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "cannot read the model's " + last + w.name + " as F32 (" +
                           model->path + ")");
        }
    }
    if (!load_f32(g, f, "output_norm.weight", onorm, d, 1)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "cannot read the model's output norm as F32 (" + model->path + ")");
    }
    sd_gguf_tensor rf;
    const bool has_freqs = p.attention && sd_gguf_find_tensor(g, "rope_freqs.weight", rf);
    if (has_freqs && !load_f32(g, f, "rope_freqs.weight", freqs, a.n_rot / 2, 1)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "cannot read the model's rope_freqs as F32 (" + model->path + ")");
    }
    sd_status status = sd_model_output_f32(model, out, error);
    if (status != SD_OK) return status;

    ggml_init_params wp = {24 * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
    t.ctx_w = ggml_init(wp);
    for (const part & w : parts) {
        t.trained[w.name] = ggml_new_tensor_2d(t.ctx_w, GGML_TYPE_F32, w.ne0, w.ne1);
        if (std::strncmp(w.name, "attn_", 5) == 0) t.base[w.name] = ggml_new_tensor_2d(t.ctx_w, GGML_TYPE_F32, w.ne0, w.ne1);
    }
    t.onorm = ggml_new_tensor_1d(t.ctx_w, GGML_TYPE_F32, d);
    t.out   = ggml_new_tensor_2d(t.ctx_w, GGML_TYPE_F32, d, V);
    if (has_freqs) t.rope_freqs = ggml_new_tensor_1d(t.ctx_w, GGML_TYPE_F32, a.n_rot / 2);
    ggml_init_params ip = {4 * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true};
    t.ctx_in = ggml_init(ip);
    t.x = ggml_new_tensor_2d(t.ctx_in, GGML_TYPE_F32, d, p.batch);
    ggml_set_input(t.x);
    if (p.attention) {
        t.pos = ggml_new_tensor_1d(t.ctx_in, GGML_TYPE_I32, p.batch);
        t.mask = ggml_new_tensor_2d(t.ctx_in, GGML_TYPE_F32, p.batch, p.batch);
        ggml_set_input(t.pos);
        ggml_set_input(t.mask);
    }
    t.backend = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    if (t.backend == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "cannot start the CPU backend");
    sd_backend_set_threads(t.backend, n_threads);
    ggml_backend_buffer_type_t buft = ggml_backend_get_default_buffer_type(t.backend);
    t.buf_w = ggml_backend_alloc_ctx_tensors_from_buft(t.ctx_w, buft);
    t.buf_in = ggml_backend_alloc_ctx_tensors_from_buft(t.ctx_in, buft);
    if (t.buf_w == nullptr || t.buf_in == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "out of memory for the adapter's training");
    for (auto & w : t.trained) {
        const auto b = t.base.find(w.first);
        if (b != t.base.end()) {
            ggml_backend_tensor_set(b->second, values[w.first].data(), 0, ggml_nbytes(b->second));
            ggml_backend_tensor_memset(w.second, 0, 0, ggml_nbytes(w.second));
        } else {
            ggml_backend_tensor_set(w.second, values[w.first].data(), 0, ggml_nbytes(w.second));
        }
        ggml_set_param(w.second);
    }
    ggml_backend_tensor_set(t.onorm, onorm.data(), 0, ggml_nbytes(t.onorm));
    ggml_backend_tensor_set(t.out, out.data(), 0, ggml_nbytes(t.out));
    if (has_freqs) ggml_backend_tensor_set(t.rope_freqs, freqs.data(), 0, ggml_nbytes(t.rope_freqs));

    t.sched = ggml_backend_sched_new(&t.backend, nullptr, 1, GGML_DEFAULT_GRAPH_SIZE, false, false);
    const size_t n_tensors = 4 * (size_t) GGML_DEFAULT_GRAPH_SIZE;
    ggml_init_params cp = {ggml_tensor_overhead() * n_tensors + 3 * ggml_graph_overhead_custom(GGML_DEFAULT_GRAPH_SIZE, true),
                           nullptr, /*no_alloc =*/ true};
    t.ctx_compute = ggml_init(cp);
    if (t.sched == nullptr || t.ctx_compute == nullptr) return sd_fail(error, SD_ERR_CONTEXT_INIT, "cannot set up the adapter's training");
    ggml_context * c = t.ctx_compute;
    auto W = [&](const char * name) {
        const auto b = t.base.find(name);
        ggml_tensor * w = t.trained.at(name);
        return b == t.base.end() ? w : ggml_add(c, b->second, ggml_scale(c, w, k_attention_step));
    };
    ggml_tensor * x = t.x;
    if (p.attention) {
        // llama.cpp's llama block: x + Wo attn(rope(Wq n), rope(Wk n), Wv n), n = rmsnorm(x) * g_attn,
        // causal within each document of the sequence (the mask), positions from each one's start
        const int64_t S = p.batch;
        ggml_tensor * n = ggml_mul(c, ggml_rms_norm(c, x, eps), W("attn_norm.weight"));
        auto rope = [&](ggml_tensor * v, int64_t heads) {
            return ggml_rope_ext(c, ggml_reshape_3d(c, v, a.head_dim, heads, S), t.pos, t.rope_freqs, (int) a.n_rot,
                                 a.rope_mode, (int) a.n_ctx_orig, a.freq_base, a.freq_scale, 0.0f, 1.0f, 32.0f, 1.0f);
        };
        ggml_tensor * q = rope(ggml_mul_mat(c, W("attn_q.weight"), n), a.n_head);        // [hd, H, S]
        ggml_tensor * k = rope(ggml_mul_mat(c, W("attn_k.weight"), n), a.n_head_kv);     // [hd, Hkv, S]
        ggml_tensor * v = ggml_reshape_3d(c, ggml_mul_mat(c, W("attn_v.weight"), n), a.head_dim, a.n_head_kv, S);
        const int64_t group = a.n_head / a.n_head_kv;
        q = ggml_permute(c, q, 0, 2, 1, 3);                                              // [hd, S, H]
        k = repeat_heads(c, ggml_permute(c, k, 0, 2, 1, 3), group);                      // [hd, S, H]
        v = repeat_heads(c, ggml_cont(c, ggml_permute(c, v, 1, 2, 0, 3)), group);        // [S, hd, H]
        ggml_tensor * kq = ggml_soft_max_ext(c, ggml_mul_mat(c, k, q), t.mask, a.kq_scale, 0.0f); // [S_k, S_q, H]
        ggml_tensor * kqv = ggml_permute(c, ggml_mul_mat(c, v, kq), 0, 2, 1, 3);         // [hd, H, S]
        ggml_tensor * attn = ggml_reshape_2d(c, ggml_cont(c, kqv), a.head_dim * a.n_head, S);
        x = ggml_add(c, x, ggml_mul_mat(c, W("attn_output.weight"), attn));
    }
    ggml_tensor * n = ggml_mul(c, ggml_rms_norm(c, x, eps), W("ffn_norm.weight"));
    ggml_tensor * h = ggml_mul(c, ggml_silu(c, ggml_mul_mat(c, W("ffn_gate.weight"), n)), ggml_mul_mat(c, W("ffn_up.weight"), n));
    ggml_tensor * y = ggml_add(c, x, ggml_mul_mat(c, W("ffn_down.weight"), h));
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

// One sequence of `batch` positions for training the whole block: document docs[at] whole (documents
// are at most a batch long), then the beginnings of the documents after it until the batch is full.
// Returns (document, length) pairs; the first is the one counted in held-out agreement.
std::vector<std::pair<int64_t, int64_t>> pack(const exit_data & d, const std::vector<int64_t> & docs, size_t at,
                                              int64_t batch) {
    std::vector<std::pair<int64_t, int64_t>> seq;
    for (size_t i = at; batch > 0; i = (i + 1) % docs.size()) {
        const int64_t len = std::min(d.doc_len[(size_t) docs[i]], batch);
        seq.emplace_back(docs[i], len);
        batch -= len;
    }
    return seq;
}

// Runs a sequence (backward: a training step); returns how many of the first document's positions
// the adapter predicted as the model does.
int64_t run_sequence(exit_trainer & t, const exit_data & d, const std::vector<std::pair<int64_t, int64_t>> & seq,
                     int32_t batch, bool backward) {
    const int32_t V = (int32_t) t.out->ne[1];
    std::vector<float> x((size_t) batch * d.n_embd), labels((size_t) batch * V, 0.0f);
    std::vector<float> mask((size_t) batch * batch, -INFINITY);
    std::vector<int32_t> pos((size_t) batch);
    size_t o = 0;
    for (const auto & s : seq) {
        const int64_t begin = d.doc_begin[(size_t) s.first];
        std::memcpy(&x[o * d.n_embd], &d.x[(size_t) begin * d.n_embd], sizeof(float) * d.n_embd * (size_t) s.second);
        for (size_t m = 0; m < (size_t) s.second; m++) {
            labels[(o + m) * V + d.label[(size_t) begin + m]] = 1.0f;
            pos[o + m] = (int32_t) m;
            std::fill(&mask[(o + m) * batch + o], &mask[(o + m) * batch + o + m + 1], 0.0f);
        }
        o += (size_t) s.second;
    }
    ggml_opt_alloc(t.opt, backward);
    ggml_backend_tensor_set(ggml_opt_inputs(t.opt), x.data(), 0, x.size() * sizeof(float));
    ggml_backend_tensor_set(ggml_opt_labels(t.opt), labels.data(), 0, labels.size() * sizeof(float));
    ggml_backend_tensor_set(t.pos, pos.data(), 0, pos.size() * sizeof(int32_t));
    ggml_backend_tensor_set(t.mask, mask.data(), 0, mask.size() * sizeof(float));
    if (backward) {
        ggml_opt_eval(t.opt, nullptr);
        return 0;
    }
    ggml_opt_result_t r = ggml_opt_result_init();
    ggml_opt_eval(t.opt, r);
    std::vector<int32_t> pred((size_t) batch);
    ggml_opt_result_pred(r, pred.data());
    ggml_opt_result_free(r);
    const int64_t n = seq.front().second, begin = d.doc_begin[(size_t) seq.front().first];
    int64_t correct = 0;
    for (int64_t m = 0; m < n; m++) correct += pred[(size_t) m] == d.label[(size_t) (begin + m)];
    return correct;
}

// Held-out agreement: the share of held-out positions whose prediction is the model's greedy token
// (FFN only: whole batches of positions, the graph's batch size being fixed; with attention: every
// held-out document, each starting its own sequence).
float agreement(exit_trainer & t, const exit_data & d, int32_t batch) {
    if (t.attention) {
        int64_t correct = 0, total = 0;
        for (size_t i = 0; i < d.eval_docs.size(); i++) {
            correct += run_sequence(t, d, pack(d, d.eval_docs, i, batch), batch, false);
            total += d.doc_len[(size_t) d.eval_docs[i]];
        }
        return total > 0 ? (float) correct / (float) total : 0.0f;
    }
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
    if (p.attention) {
        exit_attention shape;
        if (attention_shape(model, g.get(), arch, n_layer, shape, error) != SD_OK) return SD_ERR_INVALID_ARGUMENT;
    }

    // training: the untrained drafter (a file of its own, gone once loaded) reads the corpus and the
    // model answers, then the adapter learns; only the result is written to out_path
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
    if (p.attention && (d.train_docs.empty() || d.eval_docs.empty())) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the corpus is too short: " + std::to_string(d.train_docs.size()) +
                       " training and " + std::to_string(d.eval_docs.size()) + " held-out documents from " + p.corpus +
                       "; early exit needs at least one of each");
    }
    if (!p.attention && ((int64_t) d.train.size() < p.batch || (int64_t) d.eval.size() < p.batch)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the corpus is too short: " + std::to_string(d.train.size()) +
                       " training and " + std::to_string(d.eval.size()) + " held-out positions from " + p.corpus +
                       "; early exit needs at least a batch (" + std::to_string(p.batch) + ") of each");
    }
    report.n_train = (int64_t) d.train.size();
    report.n_eval = p.attention ? (int64_t) d.eval.size() : (int64_t) d.eval.size() / p.batch * p.batch;
    const float eps = [&] {
        const int64_t id = gguf_find_key(g.get(), (arch + ".attention.layer_norm_rms_epsilon").c_str());
        return id >= 0 && gguf_get_kv_type(g.get(), id) == GGUF_TYPE_FLOAT32 ? gguf_get_val_f32(g.get(), id) : 1e-5f;
    }();
    exit_trainer t;
    status = trainer_init(model, g.get(), f.get(), arch, n_layer, n_ff, eps, p, n_threads, t, error);
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
        for (const auto & w : t.trained) {
            std::vector<float> v = get(w.second);
            const auto b = t.base.find(w.first);
            if (b != t.base.end()) {
                const std::vector<float> w0 = get(b->second);
                for (size_t i = 0; i < v.size(); i++) v[i] = w0[i] + k_attention_step * v[i];
            }
            best[adapter + w.first] = std::move(v);
        }
    };
    keep();
    report.agreement_after = report.agreement_before;
    const int32_t check_every = std::max(1, p.n_steps / 10);
    std::mt19937 rng(p.seed);
    std::vector<int64_t> order(p.attention ? d.train_docs : d.train); // documents or positions
    std::shuffle(order.begin(), order.end(), rng);
    size_t next = 0;
    std::vector<float> losses;
    std::vector<int64_t> batch((size_t) p.batch);
    for (report.steps = 0; report.steps < p.n_steps; report.steps++) {
        if (p.attention) {
            if (next == order.size()) {
                std::shuffle(order.begin(), order.end(), rng);
                next = 0;
            }
            run_sequence(t, d, pack(d, order, next++, p.batch), p.batch, true);
        } else {
            for (int32_t j = 0; j < p.batch; j++) {
                if (next == order.size()) {
                    std::shuffle(order.begin(), order.end(), rng);
                    next = 0;
                }
                batch[(size_t) j] = order[next++];
            }
            run_batch(t, d, batch.data(), p.batch, true, nullptr);
        }
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
