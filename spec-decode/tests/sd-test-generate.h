// Runs one whole generation through the engine for the tests: tokens, margins, stats, stop reason.
#pragma once

#include "sd-test.h"
#include "spec-decode.h"

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

struct run_result {
    std::vector<llama_token> tokens;
    std::vector<float>       margins;
    sd_stats                 stats;
    sd_stop_reason           stop = SD_STOP_NONE;
};

// Generates until the generation stops; a failing call is a failed check (and ends the run).
// before_step (when given) runs before each step.
static inline run_result sd_test_generate(sd_session * session, const std::vector<llama_token> & prompt,
                                          sd_generation_params params,
                                          const std::function<void()> & before_step = {}) {
    run_result r;
    std::string error;
    params.record_margins = true;
    if (sd_generation_begin(session, prompt, params, error) != SD_OK) {
        std::fprintf(stderr, "begin: %s\n", error.c_str());
        CHECK(false);
        return r;
    }
    sd_step_result step;
    while (true) {
        if (before_step) before_step();
        if (sd_generation_step(session, step, error) != SD_OK) {
            std::fprintf(stderr, "step: %s\n", error.c_str());
            CHECK(false);
            break;
        }
        r.tokens.insert(r.tokens.end(), step.tokens.begin(), step.tokens.end());
        r.margins.insert(r.margins.end(), step.margins.begin(), step.margins.end());
        if (step.stop != SD_STOP_NONE) {
            r.stop = step.stop;
            break;
        }
    }
    r.stats = sd_generation_stats(session);
    return r;
}
