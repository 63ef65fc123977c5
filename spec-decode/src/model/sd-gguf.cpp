#include "model/sd-gguf.h"
#include "model/sd-log.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

sd_gguf_ptr sd_gguf_open(const char * path) {
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    return sd_gguf_ptr(gguf_init_from_file(path, params));
}

std::string sd_gguf_str(const gguf_context * g, const char * key) {
    const int64_t id = gguf_find_key(g, key);
    return id >= 0 && gguf_get_kv_type(g, id) == GGUF_TYPE_STRING ? gguf_get_val_str(g, id) : "";
}

sd_gguf_tensor sd_gguf_tensor_at(const gguf_context * g, int64_t id) {
    sd_gguf_tensor t;
    t.name = gguf_get_tensor_name(g, id);
    t.type = gguf_get_tensor_type(g, id);
    const int64_t * ne = gguf_get_tensor_ne(g, id);
    for (int i = 0; i < GGML_MAX_DIMS; i++) t.ne[i] = ne[i];
    t.offset = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id);
    t.size = gguf_get_tensor_size(g, id);
    return t;
}

bool sd_gguf_find_tensor(const gguf_context * g, const char * name, sd_gguf_tensor & out) {
    const int64_t id = gguf_find_tensor(g, name);
    if (id < 0) return false;
    out = sd_gguf_tensor_at(g, id);
    return true;
}

bool sd_gguf_output_tensor(const gguf_context * g, sd_gguf_tensor & out) {
    return sd_gguf_find_tensor(g, "output.weight", out) || sd_gguf_find_tensor(g, "token_embd.weight", out);
}

bool sd_gguf_read_f32(FILE * f, const sd_gguf_tensor & t, std::vector<float> & out) {
    const int64_t n = t.ne[0] * t.ne[1];
    const ggml_type_traits * traits = ggml_get_type_traits(t.type);
    if (t.type != GGML_TYPE_F32 && traits->to_float == nullptr) return false;
    std::vector<uint8_t> bytes(t.size);
    if (!sd_file_read(f, t.offset, bytes.data(), bytes.size())) return false;
    out.resize((size_t) n);
    if (t.type == GGML_TYPE_F32) {
        std::memcpy(out.data(), bytes.data(), (size_t) n * sizeof(float));
    } else {
        traits->to_float(bytes.data(), out.data(), n);
    }
    return true;
}

bool sd_file_read(FILE * f, size_t offset, void * dst, size_t n) {
    return f != nullptr && std::fseek(f, (long) offset, SEEK_SET) == 0 && std::fread(dst, 1, n, f) == n;
}

size_t sd_file_size(FILE * f) {
    if (f == nullptr || std::fseek(f, 0, SEEK_END) != 0) return 0;
    const long end = std::ftell(f);
    return end < 0 ? 0 : (size_t) end;
}

sd_status sd_check_gguf_file(const char * path, const char * what, std::string & error) {
    const std::string w = what;
    struct stat st;
    if (stat(path, &st) != 0) {
        return sd_fail(error, SD_ERR_MODEL_LOAD,
                       w + " file not found: " + path + " (" + std::strerror(errno) + ")");
    }
    if (S_ISDIR(st.st_mode)) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, w + " path is a directory, not a GGUF file: " + path);
    }
    if (!S_ISREG(st.st_mode)) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, w + " path is not a regular file: " + path);
    }
    sd_file_ptr f(std::fopen(path, "rb"));
    if (!f) {
        return sd_fail(error, SD_ERR_MODEL_LOAD,
                       "cannot read " + w + " file: " + path + " (" + std::strerror(errno) + ")");
    }
    char magic[4] = {0, 0, 0, 0};
    if (std::fread(magic, 1, sizeof(magic), f.get()) < sizeof(magic)) {
        return sd_fail(error, SD_ERR_MODEL_LOAD,
                       w + " file is not a GGUF file (only " + std::to_string(st.st_size) + " bytes): " + path);
    }
    if (std::memcmp(magic, "GGUF", 4) != 0) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, w + " file is not a GGUF file (no GGUF magic): " + path);
    }
    return SD_OK;
}
