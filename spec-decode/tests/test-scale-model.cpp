// A cost-scaled model predicts exactly what the original does: stories260K widened to D=256 (with
// wider FFN and extra layers, F32) gives the same greedy continuation for several prompts.
#include "spec-decode.h"
#include "sd-test.h"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

static std::vector<llama_token> greedy(sd_model * model, const std::string & prompt, int32_t n) {
    std::string error;
    sd_session * session = nullptr;
    sd_session_params sparams;
    sparams.n_ctx = 256;
    if (sd_session_init(model, sparams, &session, error) != SD_OK) {
        std::fprintf(stderr, "session: %s\n", error.c_str());
        return {};
    }
    std::vector<llama_token> tokens, out;
    sd_tokenize(model, prompt, true, false, tokens, error);
    sd_generation_params params;
    params.temperature = 0.0f;
    params.max_tokens  = n;
    sd_step_result step;
    if (sd_generation_begin(session, tokens, params, error) == SD_OK) {
        while (sd_generation_step(session, step, error) == SD_OK) {
            out.insert(out.end(), step.tokens.begin(), step.tokens.end());
            if (step.stop != SD_STOP_NONE) break;
        }
    }
    sd_session_free(session);
    return out;
}

int main() {
    const std::string original_path = sd_test_model_path();
    const std::string scaled_path = "/tmp/llamaspec-test-scaled-" + std::to_string(getpid()) + ".gguf";
    const std::string cmd = std::string(LLAMASPEC_SCALE_MODEL) + " --input '" + original_path + "' --output '" +
                            scaled_path + "' --hidden 256 --ffn 688 --layers 8 2>/dev/null";
    CHECK(std::system(cmd.c_str()) == 0);

    std::string error;
    sd_model_params mparams;
    mparams.n_threads = 2;
    sd_model * original = nullptr;
    sd_model * scaled = nullptr;
    CHECK(sd_model_load(original_path.c_str(), mparams, &original, error) == SD_OK);
    CHECK(sd_model_load(scaled_path.c_str(), mparams, &scaled, error) == SD_OK);
    std::remove(scaled_path.c_str());
    if (original == nullptr || scaled == nullptr) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    const sd_model_info info = sd_model_get_info(scaled);
    CHECK(info.n_embd == 256);
    CHECK(info.n_layer == 8);
    CHECK(info.n_params > 4 * sd_model_get_info(original).n_params);

    for (const char * prompt : {"Once upon a time", "Tom and Sue went to the park.", "The little dog was sad because"}) {
        const std::vector<llama_token> a = greedy(original, prompt, 64);
        const std::vector<llama_token> b = greedy(scaled, prompt, 64);
        CHECK(!a.empty());
        CHECK(a == b);
        if (a != b) {
            std::fprintf(stderr, "greedy continuations differ for \"%s\"\n", prompt);
        }
    }

    // Bad arguments are refused with an error, not a crash.
    const std::string bad = std::string(LLAMASPEC_SCALE_MODEL) + " --input '" + original_path +
                            "' --output /tmp/never.gguf --hidden 100 --ffn 688 --layers 8 2>/dev/null";
    CHECK(std::system(bad.c_str()) != 0);

    sd_model_free(scaled);
    sd_model_free(original);
    return sd_test_finish("test-scale-model");
}
