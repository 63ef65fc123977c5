// Automatic threads on the real model: a try of another thread count that is stopped at its limit
// (llama.cpp aborts the computation and takes the batch out of the KV cache) is decoded again on
// the current count, and the output is exactly what a session on fixed threads generates, greedy
// and sampled, plain and speculative. The test makes every try stop: tiny limits, and a try of
// fewer threads due before every step.
#include "sd-test-generate.h"
#include "engine/sd-session.h"

#include <chrono>
#include <cstdio>
#include <thread>
#include <string>
#include <vector>

int main() {
    std::string error;
    sd_model * model = nullptr;
    sd_model_params mp = sd_model_default_params();  // n_threads 0: automatic
    if (sd_model_load(sd_test_model_path().c_str(), mp, &model, error) != SD_OK) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    sd_session_params fixed_params = sd_session_default_params();
    fixed_params.n_threads = 1;
    sd_session * fixed = nullptr;
    sd_session * automatic = nullptr;
    CHECK(sd_session_init(model, fixed_params, &fixed, error) == SD_OK);
    CHECK(sd_session_init(model, sd_session_default_params(), &automatic, error) == SD_OK);
    if (fixed == nullptr || automatic == nullptr) return sd_test_finish("test-threads-model");

    // two threads to try fewer of, whatever the machine's cores; every try's decode stopped at once
    sd_threads & t = automatic->ctx->threads;
    CHECK(t.automatic);
    CHECK(!fixed->ctx->threads.automatic);
    sd_threads_free(t);
    sd_threads_init(t, 2, true);
    t.try_limit = 0;
    t.try_limit_us = 1;

    // the references first: while the fixed session decodes, the automatic one would share the
    // cores with it (one thread, nothing fewer to try)
    struct run_case { std::vector<llama_token> prompt; sd_generation_params params; std::string label;
                      std::vector<llama_token> want; };
    std::vector<run_case> cases;
    const char * prompts[] = {"Once upon a time", "Tom and his mom went to the park. Tom and his mom"};
    for (const char * text : prompts) {
        std::vector<llama_token> prompt;
        CHECK(sd_tokenize(model, text, true, false, prompt, error) == SD_OK);
        for (int sampled = 0; sampled < 2; sampled++) {
            for (int lookup = 0; lookup < 2; lookup++) {
                sd_generation_params p = sd_generation_default_params();
                p.max_tokens = 96;
                p.temperature = sampled ? 0.8f : 0.0f;
                p.seed = 7;
                if (lookup) p.spec.type = SD_SPEC_LOOKUP;
                sd_session_reset(fixed);
                cases.push_back({prompt, p, std::string(text) + (sampled ? ", sampled" : ", greedy") +
                                 (lookup ? ", lookup" : ", plain"), sd_test_generate(fixed, prompt, p).tokens});
            }
        }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(2 * SD_THREADS_ACTIVE_US));
    for (const run_case & c : cases) {
        sd_session_reset(automatic);
        const int32_t stopped = t.n_stopped;
        const std::vector<llama_token> got =
            sd_test_generate(automatic, c.prompt, c.params, [&] { t.next_down_us = 0; }).tokens;
        CHECK(c.want.size() == 96);
        CHECK(got == c.want);
        CHECK(t.n_stopped > stopped);  // the path under test ran
        std::printf("%s: %zu tokens, %d tries stopped\n", c.label.c_str(), got.size(), t.n_stopped - stopped);
    }
    sd_session_free(automatic);
    sd_session_free(fixed);
    sd_model_free(model);
    return sd_test_finish("test-threads-model");
}
