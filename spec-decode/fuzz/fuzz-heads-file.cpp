// Medusa heads files from arbitrary bytes: sd_heads_read and sd_heads_load (against stories260K)
// must reject whatever is not a valid heads file for the model with an error, never crash. Heads
// that load are evaluated once. With LLAMASPEC_FUZZ_SEED_DIR set, valid heads files for the model
// (own and shared output projections, with an accuracy table) are written there first as seeds.
#include "spec-decode.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

static sd_model * g_model = nullptr;

static void write_seed(const std::string & path, int32_t n_heads, int32_t n_layers, bool shared, bool accuracy) {
    const sd_model_info mi = sd_model_get_info(g_model);
    sd_heads_weights w;
    w.info.n_heads = n_heads;
    w.info.n_layers = n_layers;
    w.info.n_embd = mi.n_embd;
    w.info.n_vocab = mi.n_vocab;
    w.info.shared_output = shared;
    const size_t e = (size_t) mi.n_embd;
    for (int32_t i = 0; i < n_heads * n_layers; i++) {
        w.w.emplace_back(e * e, 0.01f);
        w.b.emplace_back(e, -0.02f);
    }
    for (int32_t k = 0; !shared && k < n_heads; k++) w.out.emplace_back((size_t) mi.n_vocab * e, 0.03f);
    if (accuracy) w.info.accuracy.assign((size_t) (n_heads * SD_HEADS_RANKS), 0.05f);
    std::string error;
    if (sd_heads_save(path.c_str(), g_model, w, error) != SD_OK) {
        std::fprintf(stderr, "fuzz-heads-file: seed %s: %s\n", path.c_str(), error.c_str());
        __builtin_trap();
    }
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    sd_model_params params = sd_model_default_params();
    params.n_threads = 1;
    std::string error;
    if (sd_model_load(LLAMASPEC_FUZZ_MODEL, params, &g_model, error) != SD_OK) {
        std::fprintf(stderr, "fuzz-heads-file: %s\n", error.c_str());
        __builtin_trap();
    }
    const char * seeds = std::getenv("LLAMASPEC_FUZZ_SEED_DIR");
    if (seeds != nullptr && seeds[0] != '\0') {
        write_seed(std::string(seeds) + "/shared-1x1.gguf", 1, 1, true, false);
        write_seed(std::string(seeds) + "/shared-2x0-accuracy.gguf", 2, 0, true, true);
        write_seed(std::string(seeds) + "/own-1x0.gguf", 1, 0, false, false);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const std::string path = "/tmp/llamaspec-fuzz-heads-" + std::to_string(getpid()) + ".gguf";
    FILE * f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    std::string error;
    sd_heads_weights weights;
    if (sd_heads_read(path.c_str(), weights, error) != SD_OK && error.empty()) __builtin_trap();
    error.clear();
    sd_heads * heads = nullptr;
    const sd_status status = sd_heads_load(path.c_str(), g_model, &heads, error);
    if (status == SD_OK) {
        const sd_heads_info info = sd_heads_get_info(heads);
        std::vector<float> hidden((size_t) info.n_embd, 0.5f), logits;
        const llama_token root = 0;
        if (sd_heads_logits(heads, hidden.data(), &root, 1, logits, error) == SD_OK &&
            logits.size() != (size_t) info.n_heads * (size_t) info.n_vocab) {
            __builtin_trap();
        }
        sd_heads_free(heads);
    } else if (error.empty() || heads != nullptr) {
        __builtin_trap(); // a failure must say why and leave no heads
    }
    return 0;
}
