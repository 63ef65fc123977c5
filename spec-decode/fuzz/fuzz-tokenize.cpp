// Text from users into the model: tokenizing arbitrary bytes (invalid UTF-8 included), with and
// without special-token parsing, detokenizing the result, and rendering arbitrary chat messages.
// Checks: no crash; detokenizing what was tokenized succeeds.
#include "spec-decode.h"

#include <cstdint>
#include <string>
#include <vector>

static sd_model * g_model = nullptr;

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    sd_model_params params = sd_model_default_params();
    params.n_threads = 1;
    std::string error;
    if (sd_model_load(LLAMASPEC_FUZZ_MODEL, params, &g_model, error) != SD_OK) {
        std::fprintf(stderr, "fuzz-tokenize: %s\n", error.c_str());
        __builtin_trap();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);
    std::string error;
    for (bool special : {false, true}) {
        std::vector<llama_token> tokens;
        if (sd_tokenize(g_model, text, special, special, tokens, error) != SD_OK) continue;
        std::string back;
        if (sd_detokenize(g_model, tokens, special, back, error) != SD_OK) __builtin_trap();
    }
    const size_t half = size / 2;
    std::vector<sd_chat_message> messages = {{"system", text.substr(0, half)}, {"user", text.substr(half)},
                                             {text.substr(0, std::min<size_t>(half, 9)), text}};
    std::string rendered;
    bool fallback = false;
    (void) sd_chat_apply(g_model, messages, true, rendered, &fallback, error);
    return 0;
}
