// Heads weights from files of other formats (Medusa's safetensors): the importer found where each
// tensor lies; this reads the values and converts them to F32, a bounded chunk at a time, so that a
// file of several GB never needs a second copy in its own type.
#include "heads/sd-heads.h"
#include "model/sd-gguf.h"
#include "model/sd-log.h"

#include "ggml.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

static std::string source_name(const sd_heads_info & info, size_t i) {
    const size_t per_head = (size_t) (2 * info.n_layers + (info.shared_output ? 0 : 1));
    const size_t k = i / per_head, j = i % per_head;
    if (j == (size_t) (2 * info.n_layers)) return "head " + std::to_string(k) + " output projection";
    return "head " + std::to_string(k) + " block " + std::to_string(j / 2) + (j % 2 == 0 ? " weight" : " bias");
}

sd_status sd_heads_read_from(const char * path, const std::vector<sd_heads_source> & sources,
                             sd_heads_weights & weights, std::string & error) {
    const sd_heads_info & info = weights.info;
    const sd_status status = sd_heads_sizes_check(info, error);
    if (status != SD_OK) return status;
    const size_t per_head = (size_t) (2 * info.n_layers + (info.shared_output ? 0 : 1));
    if (sources.size() != (size_t) info.n_heads * per_head) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "expected " + std::to_string((size_t) info.n_heads * per_head) +
                       " tensor sources for the heads, got " + std::to_string(sources.size()));
    }
    sd_file_ptr f(path != nullptr ? std::fopen(path, "rb") : nullptr);
    if (!f) {
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("cannot open ") + (path != nullptr ? path : "(null)"));
    }
    const uint64_t file_size = sd_file_size(f.get());
    const std::string where = std::string(" (") + path + ")";

    const size_t ee = (size_t) info.n_embd * (size_t) info.n_embd;
    const size_t ve = (size_t) info.n_vocab * (size_t) info.n_embd;
    weights.w.assign((size_t) (info.n_heads * info.n_layers), {});
    weights.b.assign((size_t) (info.n_heads * info.n_layers), {});
    weights.out.assign(info.shared_output ? 0 : (size_t) info.n_heads, {});
    std::vector<uint8_t> chunk;
    for (size_t i = 0; i < sources.size(); i++) {
        const sd_heads_source & s = sources[i];
        const size_t k = i / per_head, j = i % per_head;
        std::vector<float> & dst = j == (size_t) (2 * info.n_layers) ? weights.out[k]
                                 : j % 2 == 0 ? weights.w[k * (size_t) info.n_layers + j / 2]
                                              : weights.b[k * (size_t) info.n_layers + j / 2];
        const size_t n = j == (size_t) (2 * info.n_layers) ? ve : j % 2 == 0 ? ee : (size_t) info.n_embd;
        if (s.type != GGML_TYPE_F32 && s.type != GGML_TYPE_F16 && s.type != GGML_TYPE_BF16) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, source_name(info, i) + " has type " +
                           std::to_string((int) s.type) + ", expected F32, F16 or BF16");
        }
        const size_t elem = ggml_type_size(s.type);
        if (s.offset > file_size || (file_size - s.offset) / elem < n) {
            return sd_fail(error, SD_ERR_MODEL_LOAD, source_name(info, i) + " (" + std::to_string(n) + " values at byte " +
                           std::to_string(s.offset) + ") ends past the end of the file" + where);
        }
        dst.resize(n);
        if (std::fseek(f.get(), (long) s.offset, SEEK_SET) != 0) {
            return sd_fail(error, SD_ERR_MODEL_LOAD, "cannot seek to " + source_name(info, i) + where);
        }
        const size_t step = (size_t) 1 << 20; // values per read
        for (size_t done = 0; done < n; done += step) {
            const size_t m = std::min(step, n - done);
            chunk.resize(m * elem);
            if (std::fread(chunk.data(), 1, chunk.size(), f.get()) != chunk.size()) {
                return sd_fail(error, SD_ERR_MODEL_LOAD, "cannot read " + source_name(info, i) + where);
            }
            if (s.type == GGML_TYPE_F32) {
                std::memcpy(dst.data() + done, chunk.data(), chunk.size());
            } else if (s.type == GGML_TYPE_F16) {
                ggml_fp16_to_fp32_row(reinterpret_cast<const ggml_fp16_t *>(chunk.data()), dst.data() + done, (int64_t) m);
            } else {
                ggml_bf16_to_fp32_row(reinterpret_cast<const ggml_bf16_t *>(chunk.data()), dst.data() + done, (int64_t) m);
            }
        }
    }
    return SD_OK;
}
