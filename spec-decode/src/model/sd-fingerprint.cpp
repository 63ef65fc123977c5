// A model's identity (its fingerprint) and its output projection, read from its file.
#include "model/sd-model.h"
#include "model/sd-gguf.h"
#include "model/sd-log.h"

#include <cinttypes>
#include <cstring>

static void fnv(uint64_t & h, const void * data, size_t n) {
    const uint8_t * p = static_cast<const uint8_t *>(data);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
}

// FNV-1a over the architecture, every token's text, and the output projection's type, shape and
// first 4 MiB: enough to tell models apart, cheap to read.
sd_status sd_fingerprint_file(const char * path, std::string & out, std::string & error) {
    sd_gguf_ptr g = sd_gguf_open(path);
    if (!g) return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("cannot read the model's GGUF metadata: ") + path);
    uint64_t h = 0xcbf29ce484222325ULL;
    const std::string arch = sd_gguf_str(g.get(), "general.architecture");
    fnv(h, arch.data(), arch.size() + 1);
    const int64_t tokens = gguf_find_key(g.get(), "tokenizer.ggml.tokens");
    if (tokens >= 0 && gguf_get_kv_type(g.get(), tokens) == GGUF_TYPE_ARRAY &&
        gguf_get_arr_type(g.get(), tokens) == GGUF_TYPE_STRING) {
        const size_t n = gguf_get_arr_n(g.get(), tokens);
        for (size_t i = 0; i < n; i++) {
            const char * t = gguf_get_arr_str(g.get(), tokens, i);
            fnv(h, t, std::strlen(t) + 1);
        }
    }
    sd_gguf_tensor t;
    if (!sd_gguf_output_tensor(g.get(), t)) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("the model has no output projection: ") + path);
    }
    fnv(h, &t.type, sizeof(t.type));
    fnv(h, t.ne, sizeof(int64_t) * GGML_MAX_DIMS);
    std::vector<uint8_t> bytes(std::min(t.size, (size_t) 4 << 20));
    sd_file_ptr f(std::fopen(path, "rb"));
    if (!sd_file_read(f.get(), t.offset, bytes.data(), bytes.size())) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("cannot read the model's output projection: ") + path);
    }
    fnv(h, bytes.data(), bytes.size());
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016" PRIx64, h);
    out = hex;
    return SD_OK;
}

sd_status sd_model_fingerprint(const sd_model * model, std::string & out, std::string & error) {
    std::call_once(model->fingerprint_once, [model] {
        if (sd_fingerprint_file(model->path.c_str(), model->fingerprint, model->fingerprint_error) != SD_OK) {
            model->fingerprint.clear();
        }
    });
    if (model->fingerprint.empty()) return sd_fail(error, SD_ERR_MODEL_LOAD, model->fingerprint_error);
    out = model->fingerprint;
    return SD_OK;
}

// FNV-1a over every tensor's name, type and shape and 16 slices of 4 KiB spread over its data (the
// first and the last among them): every weight of a fine-tune or a merged adapter differs from its base
// model's, so any of its tensors tells them apart, while at most 64 KiB per tensor is read.
static sd_status weights_id_file(const char * path, std::string & out, std::string & error) {
    sd_gguf_ptr g = sd_gguf_open(path);
    sd_file_ptr f(std::fopen(path, "rb"));
    if (!g || !f) return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("cannot read the model's GGUF file: ") + path);
    uint64_t h = 0xcbf29ce484222325ULL;
    const size_t slice = 4096, n_slices = 16;
    std::vector<uint8_t> bytes(slice);
    for (int64_t i = 0; i < gguf_get_n_tensors(g.get()); i++) {
        const sd_gguf_tensor t = sd_gguf_tensor_at(g.get(), i);
        fnv(h, t.name.data(), t.name.size() + 1);
        fnv(h, &t.type, sizeof(t.type));
        fnv(h, t.ne, sizeof(int64_t) * GGML_MAX_DIMS);
        const size_t n = std::min(slice, t.size);
        for (size_t k = 0; k < n_slices && n > 0; k++) {
            const size_t at = t.offset + (t.size - n) * k / (n_slices - 1);
            if (!sd_file_read(f.get(), at, bytes.data(), n)) {
                return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("cannot read the model's tensor ") + t.name + ": " + path);
            }
            fnv(h, bytes.data(), n);
        }
    }
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016" PRIx64, h);
    out = hex;
    return SD_OK;
}

sd_status sd_model_weights_id(const sd_model * model, std::string & out, std::string & error) {
    std::call_once(model->weights_id_once, [model] {
        if (weights_id_file(model->path.c_str(), model->weights_id, model->weights_id_error) != SD_OK) {
            model->weights_id.clear();
        }
    });
    if (model->weights_id.empty()) return sd_fail(error, SD_ERR_MODEL_LOAD, model->weights_id_error);
    out = model->weights_id;
    return SD_OK;
}

sd_status sd_model_output_tensor(const sd_model * model, sd_gguf_tensor & out, std::string & error) {
    const char * path = model->path.c_str();
    sd_gguf_ptr g = sd_gguf_open(path);
    if (!g || !sd_gguf_output_tensor(g.get(), out)) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("cannot read the model's output projection: ") + path);
    }
    if (out.ne[0] != llama_model_n_embd(model->model) || out.ne[1] != llama_vocab_n_tokens(model->vocab) ||
        (out.type != GGML_TYPE_F32 && ggml_get_type_traits(out.type)->to_float == nullptr)) {
        return sd_fail(error, SD_ERR_MODEL_LOAD,
                       std::string("the model's output projection has an unexpected shape or type: ") + path);
    }
    return SD_OK;
}

sd_status sd_model_output_f32(const sd_model * model, std::vector<float> & out, std::string & error) {
    sd_gguf_tensor t;
    sd_status status = sd_model_output_tensor(model, t, error);
    if (status != SD_OK) return status;
    sd_file_ptr f(std::fopen(model->path.c_str(), "rb"));
    if (!sd_gguf_read_f32(f.get(), t, out)) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, "cannot read the model's output projection: " + model->path);
    }
    return SD_OK;
}
