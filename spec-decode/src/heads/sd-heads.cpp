// Medusa heads: the GGUF heads file (docs/medusa-heads.md), loading onto a ggml backend,
// evaluation, and writing.
#include "heads/sd-heads.h"
#include "model/sd-gguf.h"
#include "model/sd-log.h"
#include "model/sd-model.h"

#include "ggml-alloc.h"
#include "ggml-cpu.h"
#include "gguf.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

static const char * const K_ARCH        = "general.architecture";
static const char * const K_NAME        = "general.name";
static const char * const K_HEADS       = "medusa.head_count";
static const char * const K_LAYERS      = "medusa.block_count";
static const char * const K_EMBD        = "medusa.embedding_length";
static const char * const K_VOCAB       = "medusa.vocab_size";
static const char * const K_SHARED      = "medusa.shared_output";
static const char * const K_REGRESSIVE  = "medusa.regressive";
static const char * const K_FEATURE     = "medusa.feature";
static const char * const K_WINDOW      = "medusa.attention_window";
static const char * const K_FINGERPRINT = "medusa.base_fingerprint";
static const char * const K_BASE_NAME   = "medusa.base_name";
static const char * const K_ACCURACY    = "medusa.accuracy";

static std::string w_name(int32_t k, int32_t l) { return "medusa." + std::to_string(k) + "." + std::to_string(l) + ".weight"; }
static std::string b_name(int32_t k, int32_t l) { return "medusa." + std::to_string(k) + "." + std::to_string(l) + ".bias"; }
static std::string o_name(int32_t k)            { return "medusa." + std::to_string(k) + ".output.weight"; }
static std::string t_name(int32_t k)            { return "medusa." + std::to_string(k) + ".token.weight"; }

//
// The heads file
//

// Parses and checks a heads file's metadata and tensor index.
static sd_status parse_heads(const char * path, sd_heads_info & info, std::vector<sd_gguf_tensor> & tensors,
                             std::string & error) {
    sd_status status = sd_check_gguf_file(path, "heads", error);
    if (status != SD_OK) return status;
    sd_log_take_last_error();
    sd_gguf_ptr g = sd_gguf_open(path);
    const std::string where = std::string(" (") + path + ")";
    if (!g) {
        std::string reason = sd_log_take_last_error();
        return sd_fail(error, SD_ERR_MODEL_LOAD, "not a valid GGUF file" + where + (reason.empty() ? "" : ": " + reason));
    }
    const std::string arch = sd_gguf_str(g.get(), K_ARCH);
    if (arch != "medusa") {
        return sd_fail(error, SD_ERR_MODEL_LOAD, "not a Medusa heads file: general.architecture is '" + arch +
                       "', expected 'medusa'" + where);
    }
    auto get_u32 = [&](const char * key, int32_t lo, int32_t hi, int32_t & v) -> bool {
        const int64_t id = gguf_find_key(g.get(), key);
        if (id < 0 || gguf_get_kv_type(g.get(), id) != GGUF_TYPE_UINT32) {
            sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file lacks ") + key + " (uint32)" + where);
            return false;
        }
        const uint32_t u = gguf_get_val_u32(g.get(), id);
        if (u < (uint32_t) lo || u > (uint32_t) hi) {
            sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file has ") + key + " = " + std::to_string(u) +
                    ", expected " + std::to_string(lo) + ".." + std::to_string(hi) + where);
            return false;
        }
        v = (int32_t) u;
        return true;
    };
    info = sd_heads_info();
    if (!get_u32(K_HEADS, 1, SD_HEADS_MAX, info.n_heads) || !get_u32(K_LAYERS, 0, SD_HEADS_MAX_LAYERS, info.n_layers) ||
        !get_u32(K_EMBD, 1, SD_HEADS_MAX_EMBD, info.n_embd) || !get_u32(K_VOCAB, 1, SD_HEADS_MAX_VOCAB, info.n_vocab)) {
        return SD_ERR_MODEL_LOAD;
    }
    const int64_t shared = gguf_find_key(g.get(), K_SHARED);
    info.shared_output = shared >= 0 && gguf_get_kv_type(g.get(), shared) == GGUF_TYPE_BOOL && gguf_get_val_bool(g.get(), shared);
    const int64_t regressive = gguf_find_key(g.get(), K_REGRESSIVE);
    if (regressive >= 0 && gguf_get_kv_type(g.get(), regressive) != GGUF_TYPE_BOOL) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file has a ") + K_REGRESSIVE + " that is not a bool" + where);
    }
    info.regressive = regressive >= 0 && gguf_get_val_bool(g.get(), regressive);
    const int64_t feature = gguf_find_key(g.get(), K_FEATURE);
    if (feature >= 0 && gguf_get_kv_type(g.get(), feature) != GGUF_TYPE_BOOL) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file has a ") + K_FEATURE + " that is not a bool" + where);
    }
    info.feature = feature >= 0 && gguf_get_val_bool(g.get(), feature);
    if (info.feature && !info.regressive) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file has ") + K_FEATURE + " without " + K_REGRESSIVE +
                       " (a feature drafter reads tokens)" + where);
    }
    if (gguf_find_key(g.get(), K_WINDOW) >= 0) {
        if (!get_u32(K_WINDOW, 0, SD_HEADS_MAX_WINDOW, info.window)) return SD_ERR_MODEL_LOAD;
        if (info.window > 0 && !info.feature) {
            return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file has ") + K_WINDOW + " without " + K_FEATURE +
                           " (only a feature drafter attends)" + where);
        }
    }
    info.fingerprint = sd_gguf_str(g.get(), K_FINGERPRINT);
    if (info.fingerprint.empty()) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file lacks ") + K_FINGERPRINT + where);
    }
    info.base_name = sd_gguf_str(g.get(), K_BASE_NAME);
    const int64_t acc = gguf_find_key(g.get(), K_ACCURACY);
    if (acc >= 0) {
        if (gguf_get_kv_type(g.get(), acc) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g.get(), acc) != GGUF_TYPE_FLOAT32 ||
            gguf_get_arr_n(g.get(), acc) != (size_t) (info.n_heads * SD_HEADS_RANKS)) {
            return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file has a malformed ") + K_ACCURACY +
                           " (expected " + std::to_string(info.n_heads * SD_HEADS_RANKS) + " floats)" + where);
        }
        const float * a = static_cast<const float *>(gguf_get_arr_data(g.get(), acc));
        info.accuracy.assign(a, a + info.n_heads * SD_HEADS_RANKS);
        for (float x : info.accuracy) {
            if (!(x >= 0.0f && x <= 1.0f)) {
                return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("heads file has accuracies outside [0, 1] in ") +
                               K_ACCURACY + where);
            }
        }
    }

    const size_t file_size = sd_file_size(sd_file_ptr(std::fopen(path, "rb")).get());
    tensors.clear();
    auto want = [&](const std::string & name, int64_t ne0, int64_t ne1, bool matrix) -> bool {
        const int64_t id = gguf_find_tensor(g.get(), name.c_str());
        if (id < 0) {
            sd_fail(error, SD_ERR_MODEL_LOAD, "heads file lacks tensor " + name + where);
            return false;
        }
        const int64_t * ne = gguf_get_tensor_ne(g.get(), id);
        if (ne[0] != ne0 || ne[1] != ne1 || ne[2] != 1 || ne[3] != 1) {
            sd_fail(error, SD_ERR_MODEL_LOAD, "heads tensor " + name + " has shape [" + std::to_string(ne[0]) + ", " +
                    std::to_string(ne[1]) + "], expected [" + std::to_string(ne0) + ", " + std::to_string(ne1) + "]" + where);
            return false;
        }
        const ggml_type type = gguf_get_tensor_type(g.get(), id);
        if (matrix ? !(type == GGML_TYPE_F32 || type == GGML_TYPE_F16 || type == GGML_TYPE_BF16 || ggml_is_quantized(type))
                   : type != GGML_TYPE_F32) {
            sd_fail(error, SD_ERR_MODEL_LOAD, "heads tensor " + name + " has type " + ggml_type_name(type) +
                    (matrix ? ", expected F32, F16, BF16 or a quantized type" : ", expected F32") + where);
            return false;
        }
        const sd_gguf_tensor t = sd_gguf_tensor_at(g.get(), id);
        if (t.offset + t.size > file_size) {
            sd_fail(error, SD_ERR_MODEL_LOAD, "heads file is truncated: tensor " + name + " ends past the end of the file" + where);
            return false;
        }
        tensors.push_back(t);
        return true;
    };
    for (int32_t k = 0; k < sd_heads_sets(info); k++) {
        for (int32_t l = 0; l < info.n_layers; l++) {
            if (!want(w_name(k, l), info.n_embd, info.n_embd, true) || !want(b_name(k, l), info.n_embd, 1, false)) {
                return SD_ERR_MODEL_LOAD;
            }
        }
        if (!info.shared_output && !want(o_name(k), info.n_embd, info.n_vocab, true)) return SD_ERR_MODEL_LOAD;
        if (info.regressive && !want(t_name(k), info.n_embd, info.n_vocab, true)) return SD_ERR_MODEL_LOAD;
    }
    if (info.window > 0) {
        for (const char * name : SD_HEADS_ATTN_NAMES) {
            if (!want(name, info.n_embd, info.n_embd, true)) return SD_ERR_MODEL_LOAD;
        }
        if (!want(SD_HEADS_ATTN_POS_NAME, info.window, 1, false)) return SD_ERR_MODEL_LOAD;
    }
    return SD_OK;
}

sd_heads_data::~sd_heads_data() {
    if (buffer != nullptr) ggml_backend_buffer_free(buffer);
    if (ctx != nullptr) ggml_free(ctx);
}

ggml_backend_dev_t sd_heads_device(const sd_model * model) {
    if (model->params.n_gpu_layers != 0) {
        ggml_backend_dev_t gpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU);
        if (gpu != nullptr) return gpu;
    }
    return ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
}

// The attention's projections Q, K, V, O_a (file tensors ft[0..3]) merged for inference into Q^T K and
// O_a V (ggml layout [n_embd, n_embd], the input dimension first), computed once on the CPU in F32 with
// n_threads threads.
static sd_status merge_attention(FILE * f, const char * path, const sd_gguf_tensor * ft, int32_t n_embd,
                                 int32_t n_threads, std::vector<float> & key, std::vector<float> & value, std::string & error) {
    const size_t d = (size_t) n_embd;
    ggml_init_params params = {16 * ggml_tensor_overhead() + ggml_graph_overhead(), nullptr, /*no_alloc =*/ true};
    ggml_context * ctx = ggml_init(params);
    ggml_backend_t cpu = ggml_backend_dev_init(ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU), nullptr);
    ggml_backend_buffer_t buffer = nullptr;
    auto done = [&](sd_status status) {
        if (buffer != nullptr) ggml_backend_buffer_free(buffer);
        if (cpu != nullptr) ggml_backend_free(cpu);
        if (ctx != nullptr) ggml_free(ctx);
        return status;
    };
    if (ctx == nullptr || cpu == nullptr) {
        return done(sd_fail(error, SD_ERR_MODEL_LOAD, "cannot start the CPU to merge the heads' attention"));
    }
    ggml_tensor * m[4];
    for (ggml_tensor *& x : m) x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_embd, n_embd);
    // (Q^T K)[a][b] = sum_o Q[o][a] K[o][b] and (O_a V)[o][b] = sum_m O_a[o][m] V[m][b], where ggml's
    // tensor X [n_embd, n_embd] holds X[o][i] at column o, row i
    auto transposed = [&](ggml_tensor * x) { return ggml_cont(ctx, ggml_transpose(ctx, x)); };
    ggml_tensor * k = ggml_mul_mat(ctx, transposed(m[1]), transposed(m[0]));
    ggml_tensor * v = ggml_mul_mat(ctx, transposed(m[2]), m[3]);
    ggml_cgraph * gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, k);
    ggml_build_forward_expand(gf, v);
    buffer = ggml_backend_alloc_ctx_tensors(ctx, cpu);
    if (buffer == nullptr) return done(sd_fail(error, SD_ERR_MODEL_LOAD, "out of memory merging the heads' attention"));
    std::vector<float> host;
    for (size_t j = 0; j < 4; j++) {
        if (!sd_gguf_read_f32(f, ft[j], host)) {
            return done(sd_fail(error, SD_ERR_MODEL_LOAD, "cannot read tensor " + ft[j].name + " from " + path));
        }
        ggml_backend_tensor_set(m[j], host.data(), 0, d * d * sizeof(float));
    }
    sd_backend_set_threads(cpu, n_threads);
    if (ggml_backend_graph_compute(cpu, gf) != GGML_STATUS_SUCCESS) {
        return done(sd_fail(error, SD_ERR_MODEL_LOAD, "cannot merge the heads' attention projections"));
    }
    key.resize(d * d);
    value.resize(d * d);
    ggml_backend_tensor_get(k, key.data(), 0, d * d * sizeof(float));
    ggml_backend_tensor_get(v, value.data(), 0, d * d * sizeof(float));
    return done(SD_OK);
}

sd_status sd_heads_load(const char * path, const sd_model * model, sd_heads ** out, std::string & error) {
    *out = nullptr;
    if (path == nullptr || path[0] == '\0') return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "heads path is empty");
    if (model == nullptr) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "heads need the model they are for");
    auto data = std::make_shared<sd_heads_data>();
    std::vector<sd_gguf_tensor> tensors;
    sd_status status = parse_heads(path, data->info, tensors, error);
    if (status != SD_OK) return status;
    const sd_heads_info & info = data->info;
    const int32_t n_embd = llama_model_n_embd(model->model);
    const int32_t n_vocab = llama_vocab_n_tokens(model->vocab);
    const std::string where = std::string(" (") + path + ")";
    if (info.n_embd != n_embd) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the heads are for hidden size " + std::to_string(info.n_embd) +
                       ", the model has " + std::to_string(n_embd) + where);
    }
    if (info.n_vocab != n_vocab) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the heads are for a vocabulary of " + std::to_string(info.n_vocab) +
                       " tokens, the model has " + std::to_string(n_vocab) + where);
    }
    std::string fingerprint;
    status = sd_model_fingerprint(model, fingerprint, error);
    if (status != SD_OK) return status;
    if (info.fingerprint != fingerprint) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                       "the heads were made for another model (" +
                       (info.base_name.empty() ? std::string("fingerprint ") : "'" + info.base_name + "', fingerprint ") +
                       info.fingerprint + "; this model's is " + fingerprint + ")" + where);
    }

    // the base model's output projection, when the heads share it
    sd_gguf_tensor base_out;
    if (info.shared_output) {
        status = sd_model_output_tensor(model, base_out, error);
        if (status != SD_OK) return status;
        base_out.name = "medusa.shared.output.weight";
    }

    // the attention's four projections (the file's last tensors but one) are loaded merged into two
    const size_t n_attn = info.window > 0 ? 4 : 0, first_attn = tensors.size() - 1 - n_attn;
    const size_t n_tensors = tensors.size() + 1;
    ggml_init_params params = {ggml_tensor_overhead() * n_tensors, nullptr, /*no_alloc =*/ true};
    data->ctx = ggml_init(params);
    if (data->ctx == nullptr) return sd_fail(error, SD_ERR_MODEL_LOAD, "out of memory creating the heads' tensors");
    auto make = [&](const sd_gguf_tensor & ft) {
        ggml_tensor * t = ft.ne[1] == 1 && ft.type == GGML_TYPE_F32 && ft.name.find(".bias") != std::string::npos
                        ? ggml_new_tensor_1d(data->ctx, ft.type, ft.ne[0])
                        : ggml_new_tensor_2d(data->ctx, ft.type, ft.ne[0], ft.ne[1]);
        ggml_set_name(t, ft.name.c_str());
        return t;
    };
    std::vector<ggml_tensor *> made;
    for (size_t i = 0; i < tensors.size(); i++) {
        made.push_back(i >= first_attn && i < first_attn + n_attn ? nullptr : make(tensors[i]));
    }
    ggml_tensor * shared_out = info.shared_output ? make(base_out) : nullptr;
    ggml_tensor * merged[2] = {};
    for (size_t j = 0; j < 2 && n_attn > 0; j++) {
        merged[j] = ggml_new_tensor_2d(data->ctx, GGML_TYPE_F32, info.n_embd, info.n_embd);
        ggml_set_name(merged[j], j == 0 ? "medusa.0.attn_key.merged" : "medusa.0.attn_value.merged");
    }

    data->device = sd_heads_device(model);
    data->buffer = ggml_backend_alloc_ctx_tensors_from_buft(data->ctx, ggml_backend_dev_buffer_type(data->device));
    if (data->buffer == nullptr) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("cannot allocate the heads' weights on ") +
                       ggml_backend_dev_name(data->device));
    }
    std::vector<uint8_t> bytes;
    auto upload = [&](FILE * f, const char * file, const sd_gguf_tensor & ft, ggml_tensor * t) -> bool {
        bytes.resize(ft.size);
        if (f == nullptr || ggml_nbytes(t) != ft.size || !sd_file_read(f, ft.offset, bytes.data(), bytes.size())) {
            sd_fail(error, SD_ERR_MODEL_LOAD, std::string("cannot read tensor ") + ft.name + " from " + file);
            return false;
        }
        ggml_backend_tensor_set(t, bytes.data(), 0, bytes.size());
        return true;
    };
    sd_file_ptr heads_file(std::fopen(path, "rb"));
    for (size_t i = 0; i < tensors.size(); i++) {
        if (made[i] != nullptr && !upload(heads_file.get(), path, tensors[i], made[i])) return SD_ERR_MODEL_LOAD;
    }
    if (n_attn > 0) {
        std::vector<float> key, value;
        status = merge_attention(heads_file.get(), path, &tensors[first_attn], info.n_embd, model->params.n_threads,
                                 key, value, error);
        if (status != SD_OK) return status;
        ggml_backend_tensor_set(merged[0], key.data(), 0, key.size() * sizeof(float));
        ggml_backend_tensor_set(merged[1], value.data(), 0, value.size() * sizeof(float));
    }
    if (shared_out != nullptr) {
        sd_file_ptr model_file(std::fopen(model->path.c_str(), "rb"));
        if (!upload(model_file.get(), model->path.c_str(), base_out, shared_out)) return SD_ERR_MODEL_LOAD;
    }

    sd_heads_tensors & ht = data->tensors;
    ht.n_heads = info.n_heads;
    ht.n_layers = info.n_layers;
    ht.feature = info.feature;
    size_t next = 0;
    for (int32_t k = 0; k < sd_heads_sets(info); k++) {
        for (int32_t l = 0; l < info.n_layers; l++) {
            ht.w.push_back(made[next++]);
            ht.b.push_back(made[next++]);
        }
        ht.out.push_back(info.shared_output ? shared_out : made[next++]);
        if (info.regressive) ht.tok.push_back(made[next++]);
    }
    ht.window = info.window;
    if (info.window > 0) {
        next += n_attn;
        ht.attn_pos = made[next++];
        ht.attn_key = merged[0];
        ht.attn_value = merged[1];
    }
    *out = new sd_heads{data, model};
    return SD_OK;
}

void sd_heads_free(sd_heads * heads) {
    delete heads;
}

sd_heads_info sd_heads_get_info(const sd_heads * heads) {
    return heads->data->info;
}

//
// Evaluation
//

std::vector<ggml_tensor *> sd_heads_graph(ggml_context * ctx, const sd_heads_tensors & t, ggml_tensor * h,
                                          ggml_tensor * root, const std::vector<ggml_tensor *> & forced,
                                          std::vector<ggml_tensor *> * chain, std::vector<ggml_tensor *> * features,
                                          sd_heads_window * win) {
    std::vector<ggml_tensor *> logits;
    // the token head k reads: the root first, then the text's own tokens or the previous head's argmax
    auto token_for = [&](int32_t k) {
        if (k == 0) return root;
        if (!forced.empty()) return forced[(size_t) k - 1];
        ggml_tensor * token = ggml_argmax(ctx, logits.back());
        if (chain != nullptr) chain->push_back(token);
        return token;
    };
    // a head's residual blocks, weights from block `first` on
    auto blocks = [&](ggml_tensor * x, size_t first) {
        for (int32_t l = 0; l < t.n_layers; l++) {
            ggml_tensor * y = ggml_add(ctx, ggml_mul_mat(ctx, t.w[first + (size_t) l], x), t.b[first + (size_t) l]);
            x = ggml_add(ctx, x, ggml_silu(ctx, y));
        }
        return x;
    };
    if (t.feature) {
        // the attention window's keys [n_embd, W, n] and values, transposed [W, n_embd, n]
        const int64_t n_embd = h->ne[0], n = h->ne[1], W = t.window;
        const bool merged = t.attn_key != nullptr;
        ggml_tensor * keys = nullptr, * values_t = nullptr;
        if (W > 0) {
            // the entries given as hidden states first, then those given as keys and values
            ggml_tensor * k = win->keys, * v = win->values;
            if (win->hidden != nullptr) {
                ggml_tensor * c = ggml_add(ctx, win->hidden, ggml_get_rows(ctx, t.tok[0], win->tokens));
                win->fresh_keys = ggml_mul_mat(ctx, merged ? t.attn_key : t.attn[1], c);
                win->fresh_values = ggml_mul_mat(ctx, merged ? t.attn_value : t.attn[2], c);
                k = k == nullptr ? win->fresh_keys : ggml_concat(ctx, win->fresh_keys, k, 1);
                v = v == nullptr ? win->fresh_values : ggml_concat(ctx, win->fresh_values, v, 1);
            }
            keys = ggml_reshape_3d(ctx, k, n_embd, W, n);
            values_t = ggml_cont(ctx, ggml_permute(ctx, ggml_reshape_3d(ctx, v, n_embd, W, n), 1, 0, 2, 3));
        }
        // u plus what it gathers from the window
        auto attend = [&](ggml_tensor * u) {
            if (W == 0) return u;
            ggml_tensor * q = ggml_reshape_3d(ctx, merged ? u : ggml_mul_mat(ctx, t.attn[0], u), n_embd, 1, n);
            ggml_tensor * s = ggml_reshape_2d(ctx, ggml_mul_mat(ctx, keys, q), W, n);
            s = ggml_add(ctx, ggml_add(ctx, ggml_scale(ctx, s, 1.0f / std::sqrt((float) n_embd)), t.attn_pos), win->mask);
            ggml_tensor * a = ggml_reshape_3d(ctx, ggml_soft_max(ctx, s), W, 1, n);
            ggml_tensor * o = ggml_reshape_2d(ctx, ggml_mul_mat(ctx, values_t, a), n_embd, n);
            return ggml_add(ctx, u, merged ? o : ggml_mul_mat(ctx, t.attn[3], o));
        };
        ggml_tensor * f = h;
        for (int32_t k = 0; k < t.n_heads; k++) {
            f = blocks(attend(ggml_add(ctx, f, ggml_get_rows(ctx, t.tok[0], token_for(k)))), 0);
            if (features != nullptr) features->push_back(f);
            logits.push_back(ggml_mul_mat(ctx, t.out[0], f));
        }
        return logits;
    }
    ggml_tensor * r = nullptr; // the token tables' rows read so far
    for (int32_t k = 0; k < t.n_heads; k++) {
        ggml_tensor * x = h;
        if (!t.tok.empty()) {
            ggml_tensor * row = ggml_get_rows(ctx, t.tok[(size_t) k], token_for(k));
            r = r == nullptr ? row : ggml_add(ctx, r, row);
            x = ggml_add(ctx, h, r);
        }
        x = blocks(x, (size_t) k * (size_t) t.n_layers);
        logits.push_back(ggml_mul_mat(ctx, t.out[(size_t) k], x));
    }
    return logits;
}

size_t sd_heads_graph_size(int32_t n_heads, int32_t n_layers, int32_t window) {
    // per head: 4 nodes a block and the output, plus 2 weights a block and the output when trained;
    // regressive heads: a token input, its argmax, the table, its row and two sums; an attention
    // window: 14 nodes a depth, 18 for the keys and values, its 5 inputs and 5 weights
    return (size_t) n_heads * (6 * (size_t) n_layers + 3 + 6 + (window > 0 ? 14 : 0)) + 8 + (window > 0 ? 28 : 0);
}

sd_heads_evaluator::~sd_heads_evaluator() {
    if (galloc != nullptr) ggml_gallocr_free(galloc);
    if (backend != nullptr) ggml_backend_free(backend);
}

ggml_backend_set_n_threads_t sd_backend_threads_fn(ggml_backend_dev_t dev) {
    ggml_backend_reg_t reg = dev != nullptr ? ggml_backend_dev_backend_reg(dev) : nullptr;
    return reg != nullptr ? (ggml_backend_set_n_threads_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads")
                          : nullptr;
}

void sd_backend_set_threads(ggml_backend_t backend, int32_t n) {
    ggml_backend_set_n_threads_t fn = sd_backend_threads_fn(ggml_backend_get_device(backend));
    if (fn != nullptr && n > 0) fn(backend, n);
}

void sd_heads_evaluator_threads(sd_heads_evaluator & e, int32_t n) {
    if (e.set_n_threads != nullptr && n > 0 && n != e.n_threads) {
        e.set_n_threads(e.backend, n);
        e.n_threads = n;
    }
}

sd_status sd_heads_evaluator_init(const std::shared_ptr<sd_heads_data> & data, int32_t n_threads,
                                  ggml_threadpool * threadpool, std::unique_ptr<sd_heads_evaluator> & out,
                                  std::string & error) {
    auto e = std::make_unique<sd_heads_evaluator>();
    e->data = data;
    e->backend = ggml_backend_dev_init(data->device, nullptr);
    if (e->backend == nullptr) {
        return sd_fail(error, SD_ERR_CONTEXT_INIT, std::string("cannot start a backend on ") +
                       ggml_backend_dev_name(data->device) + " for the heads");
    }
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(data->device);
    e->set_n_threads = sd_backend_threads_fn(data->device);
    sd_heads_evaluator_threads(*e, n_threads);
    typedef void (*set_threadpool_fn)(ggml_backend_t, ggml_threadpool_t);
    auto set_threadpool = (set_threadpool_fn) ggml_backend_reg_get_proc_address(reg, "ggml_backend_cpu_set_threadpool");
    if (threadpool != nullptr && set_threadpool != nullptr &&
        ggml_backend_dev_type(data->device) == GGML_BACKEND_DEVICE_TYPE_CPU) {
        set_threadpool(e->backend, threadpool);
    }
    e->galloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(e->backend));
    const size_t n_nodes = sd_heads_graph_size(data->info.n_heads, data->info.n_layers, data->info.window);
    e->meta.resize(ggml_tensor_overhead() * n_nodes + ggml_graph_overhead_custom(n_nodes, false));
    out = std::move(e);
    return SD_OK;
}

sd_status sd_heads_evaluate(sd_heads_evaluator & e, const float * hidden, const llama_token * tokens, int32_t n_tokens,
                            int32_t n, std::vector<float> & out, std::vector<llama_token> * chain, std::string & error,
                            const sd_heads_window_input * window) {
    const sd_heads_info & info = e.data->info;
    if (info.regressive && (tokens == nullptr || (n_tokens != 1 && n_tokens != info.n_heads))) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "regressive heads need the token after each hidden state");
    }
    if (info.regressive) {
        for (int64_t i = 0; i < (int64_t) n * n_tokens; i++) {
            if (tokens[i] < 0 || tokens[i] >= info.n_vocab) {
                return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "token " + std::to_string(tokens[i]) +
                               " is outside the heads' vocabulary of " + std::to_string(info.n_vocab));
            }
        }
    }
    ggml_init_params params = {e.meta.size(), e.meta.data(), /*no_alloc =*/ true};
    ggml_context * ctx = ggml_init(params);
    ggml_tensor * h = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, info.n_embd, n);
    ggml_set_input(h);
    // regressive heads: the tokens, one row of n per token a head reads ([n, n_tokens], token-major)
    ggml_tensor * tok = info.regressive ? ggml_new_tensor_2d(ctx, GGML_TYPE_I32, n, n_tokens) : nullptr;
    ggml_tensor * root = nullptr;
    std::vector<ggml_tensor *> forced, argmax;
    if (tok != nullptr) {
        ggml_set_input(tok);
        root = ggml_view_1d(ctx, tok, n, 0);
        for (int32_t j = 1; j < n_tokens; j++) forced.push_back(ggml_view_1d(ctx, tok, n, (size_t) j * tok->nb[1]));
    }
    // an attention window: given, or each row's own hidden state and root alone; with keys and values
    // kept from before (one row), entries n_fresh.. are read from those
    const int32_t W = info.window;
    const int32_t n_fresh = W > 0 && window != nullptr && window->n_fresh >= 0 ? window->n_fresh : W;
    if (W > 0 && window != nullptr && window->n_fresh >= 0 &&
        (n != 1 || n_fresh > W || (n_fresh < W && (window->keys == nullptr || window->values == nullptr)))) {
        ggml_free(ctx);
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "an attention window's kept keys and values need one row, at most " +
                       std::to_string(W) + " fresh entries (" + std::to_string(window->n_fresh) +
                       " given) and the keys and values of the others");
    }
    sd_heads_window win;
    std::vector<float> win_hidden, win_mask, win_keys, win_values;
    std::vector<int32_t> win_tokens;
    if (W > 0) {
        const size_t ne = (size_t) info.n_embd, n_kept = (size_t) (W - n_fresh);
        win_hidden.assign((size_t) n_fresh * (size_t) n * ne, 0.0f);
        win_tokens.assign((size_t) n_fresh * (size_t) n, 0);
        win_mask.assign((size_t) W * (size_t) n, sd_heads_window_mask(false));
        win_keys.assign(n_kept * ne, 0.0f);
        win_values.assign(n_kept * ne, 0.0f);
        for (int32_t i = 0; i < n; i++) {
            for (int32_t j = 0; j < W; j++) {
                const size_t at = (size_t) i * W + j;
                const bool valid = window != nullptr ? (j == 0 || window->valid[at] != 0) : j == 0;
                if (!valid) continue;
                win_mask[at] = sd_heads_window_mask(true);
                if (j >= n_fresh) { // one row: at == j
                    std::memcpy(&win_keys[(at - (size_t) n_fresh) * ne], &window->keys[at * ne], ne * sizeof(float));
                    std::memcpy(&win_values[(at - (size_t) n_fresh) * ne], &window->values[at * ne], ne * sizeof(float));
                    continue;
                }
                const float * x = window != nullptr ? &window->hidden[at * ne] : &hidden[(size_t) i * ne];
                const llama_token y = window != nullptr ? window->tokens[at] : tokens[(size_t) i * n_tokens];
                if (y < 0 || y >= info.n_vocab) {
                    ggml_free(ctx);
                    return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "token " + std::to_string(y) +
                                   " in the attention window is outside the heads' vocabulary of " + std::to_string(info.n_vocab));
                }
                const size_t to = (size_t) i * (size_t) n_fresh + (size_t) j;
                std::memcpy(&win_hidden[to * ne], x, ne * sizeof(float));
                win_tokens[to] = y;
            }
        }
        if (n_fresh > 0) {
            win.hidden = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, info.n_embd, (int64_t) n_fresh * n);
            win.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, (int64_t) n_fresh * n);
            ggml_set_input(win.hidden);
            ggml_set_input(win.tokens);
        }
        if (n_kept > 0) {
            win.keys = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, info.n_embd, (int64_t) n_kept);
            win.values = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, info.n_embd, (int64_t) n_kept);
            ggml_set_input(win.keys);
            ggml_set_input(win.values);
        }
        win.mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, W, n);
        ggml_set_input(win.mask);
    }
    std::vector<ggml_tensor *> logits = sd_heads_graph(ctx, e.data->tensors, h, root, forced, &argmax, nullptr,
                                                       W > 0 ? &win : nullptr);
    const size_t n_nodes = sd_heads_graph_size(info.n_heads, info.n_layers, W);
    ggml_cgraph * gf = ggml_new_graph_custom(ctx, n_nodes, false);
    for (ggml_tensor * t : logits) {
        ggml_set_output(t);
        ggml_build_forward_expand(gf, t);
    }
    for (ggml_tensor * t : argmax) {
        ggml_set_output(t);
        ggml_build_forward_expand(gf, t);
    }
    const bool want_fresh = window != nullptr && window->n_fresh > 0 && window->fresh_keys != nullptr &&
                            window->fresh_values != nullptr;
    if (want_fresh) {
        // outputs keep their memory only in a plan made for them: the allocator would reuse the last
        // plan of a graph of the same sizes, where these two may share it
        ggml_set_output(win.fresh_keys);
        ggml_set_output(win.fresh_values);
    }
    if ((want_fresh && !ggml_gallocr_reserve(e.galloc, gf)) || !ggml_gallocr_alloc_graph(e.galloc, gf)) {
        ggml_free(ctx);
        return sd_fail(error, SD_ERR_DECODE, "cannot allocate the heads' computation");
    }
    ggml_backend_tensor_set(h, hidden, 0, sizeof(float) * (size_t) info.n_embd * (size_t) n);
    if (win.hidden != nullptr) {
        ggml_backend_tensor_set(win.hidden, win_hidden.data(), 0, win_hidden.size() * sizeof(float));
        ggml_backend_tensor_set(win.tokens, win_tokens.data(), 0, win_tokens.size() * sizeof(int32_t));
    }
    if (win.keys != nullptr) {
        ggml_backend_tensor_set(win.keys, win_keys.data(), 0, win_keys.size() * sizeof(float));
        ggml_backend_tensor_set(win.values, win_values.data(), 0, win_values.size() * sizeof(float));
    }
    if (win.mask != nullptr) ggml_backend_tensor_set(win.mask, win_mask.data(), 0, win_mask.size() * sizeof(float));
    if (tok != nullptr) {
        std::vector<int32_t> rows((size_t) n * (size_t) n_tokens);
        for (int32_t i = 0; i < n; i++) {
            for (int32_t j = 0; j < n_tokens; j++) rows[(size_t) j * n + i] = tokens[(size_t) i * n_tokens + j];
        }
        ggml_backend_tensor_set(tok, rows.data(), 0, rows.size() * sizeof(int32_t));
    }
    if (ggml_backend_graph_compute(e.backend, gf) != GGML_STATUS_SUCCESS) {
        ggml_free(ctx);
        return sd_fail(error, SD_ERR_DECODE, "the heads' computation failed");
    }
    if (chain != nullptr) {
        chain->assign(argmax.size() * (size_t) n, 0);
        std::vector<int32_t> row((size_t) n);
        for (size_t k = 0; k < argmax.size(); k++) {
            ggml_backend_tensor_get(argmax[k], row.data(), 0, row.size() * sizeof(int32_t));
            for (int32_t i = 0; i < n; i++) (*chain)[(size_t) i * argmax.size() + k] = row[(size_t) i];
        }
    }
    if (want_fresh) {
        const size_t bytes = ggml_nbytes(win.fresh_keys);
        ggml_backend_tensor_get(win.fresh_keys, window->fresh_keys, 0, bytes);
        ggml_backend_tensor_get(win.fresh_values, window->fresh_values, 0, bytes);
    }
    const size_t nv = (size_t) info.n_vocab;
    out.resize((size_t) n * (size_t) info.n_heads * nv);
    std::vector<float> tmp(nv * (size_t) n);
    for (int32_t k = 0; k < info.n_heads; k++) {
        ggml_backend_tensor_get(logits[(size_t) k], tmp.data(), 0, tmp.size() * sizeof(float));
        for (int32_t i = 0; i < n; i++) {
            std::memcpy(&out[((size_t) i * info.n_heads + k) * nv], &tmp[(size_t) i * nv], nv * sizeof(float));
        }
    }
    ggml_free(ctx);
    return SD_OK;
}

sd_status sd_heads_logits(const sd_heads * heads, const float * hidden, const llama_token * root, int32_t n,
                          std::vector<float> & out, std::string & error) {
    if (n < 1) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "no hidden states given");
    std::unique_ptr<sd_heads_evaluator> e;
    sd_status status = sd_heads_evaluator_init(heads->data, 0, nullptr, e, error);
    if (status != SD_OK) return status;
    return sd_heads_evaluate(*e, hidden, root, 1, n, out, nullptr, error);
}

//
// Writing and reading host copies
//

sd_status sd_heads_sizes_check(const sd_heads_info & i, std::string & error) {
    if (i.n_heads < 1 || i.n_heads > SD_HEADS_MAX || i.n_layers < 0 || i.n_layers > SD_HEADS_MAX_LAYERS ||
        i.n_embd < 1 || i.n_embd > SD_HEADS_MAX_EMBD || i.n_vocab < 1 || i.n_vocab > SD_HEADS_MAX_VOCAB) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "heads need 1.." + std::to_string(SD_HEADS_MAX) + " heads, 0.." +
                       std::to_string(SD_HEADS_MAX_LAYERS) + " blocks, a hidden size in 1.." +
                       std::to_string(SD_HEADS_MAX_EMBD) + " and a vocabulary in 1.." + std::to_string(SD_HEADS_MAX_VOCAB));
    }
    return SD_OK;
}

static sd_status check_weights(const sd_heads_info & i, const sd_heads_weights & w, std::string & error) {
    const sd_status status = sd_heads_sizes_check(i, error);
    if (status != SD_OK) return status;
    if (i.feature && !i.regressive) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "a feature drafter must be regressive");
    if (i.window < 0 || i.window > SD_HEADS_MAX_WINDOW || (i.window > 0 && !i.feature)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "an attention window (" + std::to_string(i.window) +
                       ") must be 0, or 1.." + std::to_string(SD_HEADS_MAX_WINDOW) + " for a feature drafter");
    }
    const size_t sets = (size_t) sd_heads_sets(i);
    const size_t nl = sets * (size_t) i.n_layers;
    const size_t ee = (size_t) i.n_embd * (size_t) i.n_embd;
    const size_t ve = (size_t) i.n_vocab * (size_t) i.n_embd;
    bool ok = w.w.size() == nl && w.b.size() == nl && w.out.size() == (i.shared_output ? 0 : sets) &&
              w.tok.size() == (i.regressive ? sets : 0);
    for (size_t j = 0; ok && j < nl; j++) ok = w.w[j].size() == ee && w.b[j].size() == (size_t) i.n_embd;
    for (size_t j = 0; ok && j < w.out.size(); j++) ok = w.out[j].size() == ve;
    for (size_t j = 0; ok && j < w.tok.size(); j++) ok = w.tok[j].size() == ve;
    ok = ok && w.attn.size() == (i.window > 0 ? 4u : 0u) && w.attn_pos.size() == (size_t) i.window;
    for (size_t j = 0; ok && j < w.attn.size(); j++) ok = w.attn[j].size() == ee;
    if (!ok) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "heads weights do not have the sizes their info gives");
    if (!i.accuracy.empty() && i.accuracy.size() != (size_t) (i.n_heads * SD_HEADS_RANKS)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "heads accuracy must have n_heads x " +
                       std::to_string(SD_HEADS_RANKS) + " values");
    }
    return SD_OK;
}

// Writes weights with the metadata i (sizes as in w.info) without copying the weights.
static sd_status write_heads(const char * path, const sd_heads_info & i, const sd_heads_weights & w, std::string & error) {
    sd_status status = check_weights(i, w, error);
    if (status != SD_OK) return status;
    sd_gguf_ptr g(gguf_init_empty());
    gguf_set_val_str(g.get(), K_ARCH, "medusa");
    gguf_set_val_str(g.get(), K_NAME, ("Medusa heads" + (i.base_name.empty() ? "" : " for " + i.base_name)).c_str());
    gguf_set_val_u32(g.get(), K_HEADS, (uint32_t) i.n_heads);
    gguf_set_val_u32(g.get(), K_LAYERS, (uint32_t) i.n_layers);
    gguf_set_val_u32(g.get(), K_EMBD, (uint32_t) i.n_embd);
    gguf_set_val_u32(g.get(), K_VOCAB, (uint32_t) i.n_vocab);
    gguf_set_val_bool(g.get(), K_SHARED, i.shared_output);
    if (i.regressive) gguf_set_val_bool(g.get(), K_REGRESSIVE, true);
    if (i.feature) gguf_set_val_bool(g.get(), K_FEATURE, true);
    if (i.window > 0) gguf_set_val_u32(g.get(), K_WINDOW, (uint32_t) i.window);
    gguf_set_val_str(g.get(), K_FINGERPRINT, i.fingerprint.c_str());
    gguf_set_val_str(g.get(), K_BASE_NAME, i.base_name.c_str());
    if (!i.accuracy.empty()) gguf_set_arr_data(g.get(), K_ACCURACY, GGUF_TYPE_FLOAT32, i.accuracy.data(), i.accuracy.size());

    const size_t n_tensors = w.w.size() + w.b.size() + w.out.size() + w.tok.size() + w.attn.size() + 1;
    ggml_init_params params = {ggml_tensor_overhead() * (n_tensors + 1), nullptr, /*no_alloc =*/ true};
    ggml_context * ctx = ggml_init(params);
    auto add = [&](const std::string & name, const std::vector<float> & v, int64_t ne0, int64_t ne1) {
        ggml_tensor * t = ne1 == 0 ? ggml_new_tensor_1d(ctx, GGML_TYPE_F32, ne0) : ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne0, ne1);
        ggml_set_name(t, name.c_str());
        gguf_add_tensor(g.get(), t);
        gguf_set_tensor_data(g.get(), name.c_str(), v.data());
    };
    for (int32_t k = 0; k < sd_heads_sets(i); k++) {
        for (int32_t l = 0; l < i.n_layers; l++) {
            const size_t j = (size_t) (k * i.n_layers + l);
            add(w_name(k, l), w.w[j], i.n_embd, i.n_embd);
            add(b_name(k, l), w.b[j], i.n_embd, 0);
        }
        if (!i.shared_output) add(o_name(k), w.out[(size_t) k], i.n_embd, i.n_vocab);
        if (i.regressive) add(t_name(k), w.tok[(size_t) k], i.n_embd, i.n_vocab);
    }
    if (i.window > 0) {
        for (size_t j = 0; j < 4; j++) add(SD_HEADS_ATTN_NAMES[j], w.attn[j], i.n_embd, i.n_embd);
        add(SD_HEADS_ATTN_POS_NAME, w.attn_pos, i.window, 0);
    }
    const std::string tmp = std::string(path) + ".tmp";
    const bool written = gguf_write_to_file(g.get(), tmp.c_str(), false);
    ggml_free(ctx);
    if (!written || std::rename(tmp.c_str(), path) != 0) {
        std::remove(tmp.c_str());
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("cannot write the heads file ") + path);
    }
    return SD_OK;
}

sd_status sd_heads_save_raw(const char * path, const sd_heads_weights & w, std::string & error) {
    return write_heads(path, w.info, w, error);
}

sd_status sd_heads_save(const char * path, const sd_model * model, const sd_heads_weights & w, std::string & error) {
    if (model == nullptr) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "heads need the model they are for");
    const int32_t n_embd = llama_model_n_embd(model->model);
    const int32_t n_vocab = llama_vocab_n_tokens(model->vocab);
    if (w.info.n_embd != n_embd || w.info.n_vocab != n_vocab) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "heads of hidden size " + std::to_string(w.info.n_embd) +
                       " and vocabulary " + std::to_string(w.info.n_vocab) + " do not fit the model (" +
                       std::to_string(n_embd) + ", " + std::to_string(n_vocab) + ")");
    }
    sd_heads_info info = w.info; // the weights themselves are not copied (imported heads can be GBs)
    sd_status status = sd_model_fingerprint(model, info.fingerprint, error);
    if (status != SD_OK) return status;
    info.base_name = sd_model_get_info(model).name;
    return write_heads(path, info, w, error);
}

sd_status sd_heads_read(const char * path, sd_heads_weights & out, std::string & error) {
    std::vector<sd_gguf_tensor> tensors;
    sd_heads_weights w;
    sd_status status = parse_heads(path, w.info, tensors, error);
    if (status != SD_OK) return status;
    sd_file_ptr f(std::fopen(path, "rb"));
    size_t next = 0;
    auto read = [&](std::vector<float> & dst) -> bool {
        const sd_gguf_tensor & ft = tensors[next++];
        if (!sd_gguf_read_f32(f.get(), ft, dst)) {
            sd_fail(error, SD_ERR_MODEL_LOAD, "cannot read tensor " + ft.name + " from " + path);
            return false;
        }
        return true;
    };
    const int32_t sets = sd_heads_sets(w.info);
    const size_t nl = (size_t) sets * (size_t) w.info.n_layers;
    w.w.resize(nl);
    w.b.resize(nl);
    w.out.resize(w.info.shared_output ? 0 : (size_t) sets);
    w.tok.resize(w.info.regressive ? (size_t) sets : 0);
    for (int32_t k = 0; k < sets; k++) {
        for (int32_t l = 0; l < w.info.n_layers; l++) {
            const size_t j = (size_t) (k * w.info.n_layers + l);
            if (!read(w.w[j]) || !read(w.b[j])) return SD_ERR_MODEL_LOAD;
        }
        if (!w.info.shared_output && !read(w.out[(size_t) k])) return SD_ERR_MODEL_LOAD;
        if (w.info.regressive && !read(w.tok[(size_t) k])) return SD_ERR_MODEL_LOAD;
    }
    if (w.info.window > 0) {
        w.attn.resize(4);
        for (std::vector<float> & a : w.attn) {
            if (!read(a)) return SD_ERR_MODEL_LOAD;
        }
        if (!read(w.attn_pos)) return SD_ERR_MODEL_LOAD;
    }
    out = std::move(w);
    return SD_OK;
}
