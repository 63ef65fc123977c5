// specbench's results, and their three outputs: the table on stdout, JSON, and an SVG chart.
#pragma once

#include "bench-prompts.h"
#include "llama.h"

#include <cstdint>
#include <string>
#include <vector>

// One prompt generated with one strategy.
struct bench_run {
    int32_t n_prompt    = 0;
    int32_t n_generated = 0;
    int32_t n_steps     = 0;
    int32_t n_drafted   = 0;
    int32_t n_accepted  = 0;
    int32_t n_aux       = 0; // lookahead window tokens evaluated
    double  t_decode_us = 0; // from the end of the prompt to the last token
    double  t_first_us  = 0; // from the start to the first token (time to first token)
    std::vector<llama_token> tokens;
    std::vector<float>       margins; // top-1 minus top-2 logit where each token was drawn

    double tokens_per_second() const { return t_decode_us > 0 ? n_generated * 1e6 / t_decode_us : 0; }
};

// Where a strategy's greedy output first differs from plain decoding's.
struct bench_divergence {
    int32_t prompt;
    int32_t position;     // index in the generated tokens
    llama_token plain_token;
    llama_token other_token;
    float   top2_gap;     // plain decoding's top-1 minus top-2 logit at that position
};

struct bench_result {
    std::string set;      // prompt set name
    std::string strategy;
    std::vector<bench_run> runs;             // one per prompt, in prompt order
    std::vector<bench_divergence> divergences;
};

struct bench_stat {
    double mean   = 0;
    double stddev = 0;
};

struct bench_report {
    std::string model_path;
    std::string model_description;
    uint64_t    model_params = 0;
    std::string draft_model_path;      // the draft model of the draft strategies; empty when none
    int32_t     threads      = 0;
    int32_t     n_tokens     = 0;     // tokens generated per prompt (at most)
    float       temperature  = 0;
    std::string system_info;           // llama_print_system_info
    std::string devices;               // ggml's backend devices (the model runs on the first GPU, if any)
    std::string date;
    int32_t     cost_depth = 0;
    std::vector<int32_t> cost_batch;
    std::vector<double>  cost_us;
    std::vector<bench_prompt_set> sets;
    std::vector<bench_result> results; // plain first within each set
};

// Mean and spread over prompts of a strategy's tokens/s divided by plain's on the same prompt.
bench_stat bench_speedup(const bench_report & report, const bench_result & result);
bench_stat bench_tokens_per_second(const bench_result & result);

void bench_print_table(const bench_report & report);
bool bench_write_json(const bench_report & report, const std::string & path, std::string & error);
bool bench_write_svg(const bench_report & report, const std::string & path, std::string & error);
