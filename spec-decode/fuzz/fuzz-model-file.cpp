// Model loading from arbitrary bytes: our checks (size, GGUF magic) and llama.cpp's GGUF parser
// behind them must reject whatever is not a model with an error, never crash. A loaded model (the
// fuzzer may find one, starting from a real model as seed) must answer its info.
#include "spec-decode.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const std::string path = "/tmp/llamaspec-fuzz-model-" + std::to_string(getpid()) + ".gguf";
    FILE * f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    sd_model_params params = sd_model_default_params();
    params.n_threads = 1;
    sd_model * model = nullptr;
    std::string error;
    const sd_status status = sd_model_load(path.c_str(), params, &model, error);
    if (status == SD_OK) {
        (void) sd_model_get_info(model);
        sd_model_free(model);
    } else if (error.empty() || model != nullptr) {
        __builtin_trap(); // a failure must say why and leave no model
    }
    return 0;
}
