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
