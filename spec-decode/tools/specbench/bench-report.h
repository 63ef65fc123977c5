// specbench's results, and their outputs: the table on stdout, JSON, an SVG chart, and one line per
// run for tables that join other tools' measurements (bench-table).
#pragma once

#include "bench-prompts.h"
#include "bench-stats.h"
#include "llama.h"

#include <cstdint>
#include <string>
#include <vector>

// The strategy name under which plain decoding's second run of each prompt is recorded: plain
// decoding runs first and again after the strategies, and the ratio of the two is the noise floor.
extern const char * const bench_plain_repeat;

// One prompt generated with one strategy.
struct bench_run {
    int32_t n_prompt    = 0;
    int32_t n_generated = 0;
    int32_t n_steps     = 0;
    int32_t n_drafted   = 0;
    int32_t n_accepted  = 0;
    int32_t n_aux       = 0; // lookahead window tokens evaluated
    double  t_decode_us = 0; // from the end of the prompt to the last token
    double  t_gen_us    = 0; // from the first token to the last
    double  t_first_us  = 0; // from the start to the first token (time to first token)
    double  t_draft_us  = 0; // of t_gen_us: drafting and the budget's cut
    double  t_verify_us = 0; // of t_gen_us: evaluating the model (llama_decode)
    std::vector<llama_token> tokens;
    std::vector<float>       margins; // top-1 minus top-2 logit where each token was drawn

    // The speed measured: the tokens after the first over the time from the first to the last. The
    // first token is drawn from the logits of the prompt's evaluation without a decode of its own;
    // counting it would credit a token that cost nothing, which llama-bench's and llama.cpp's tools,
    // whose timed decodes include every token's, do not.
    bench_sample sample() const {
        return n_generated > 1 ? bench_sample{(double) (n_generated - 1), t_gen_us / 1e6} : bench_sample{0, 0};
    }
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
    std::string strategy; // "plain", bench_plain_repeat, "lookup", ..., "draft:LABEL"
    std::vector<bench_run> runs;             // one per prompt, in prompt order
    std::vector<bench_divergence> divergences;
};

// A draft model, by the label strategies name it with ("draft:LABEL").
struct bench_drafter {
    std::string label;
    std::string path;
};

struct bench_report {
    std::string model_path;
    std::string model_description;
    uint64_t    model_params = 0;
    std::vector<bench_drafter> drafters;
    std::vector<bench_drafter> heads;  // Medusa heads files by label ("medusa" the first)
    int32_t     threads      = 0;
    int32_t     n_tokens     = 0;     // tokens generated per prompt (at most)
    int32_t     n_ctx        = 0;
    std::string flash_attn   = "auto"; // as the sessions were asked: auto (llama.cpp's choice), on or off
    bool        kv_f32       = false;
    bool        mmap         = true;   // the models' files mapped (false: read into memory)
    int32_t     max_depth    = 0;     // spec.max_depth of every strategy
    float       temperature  = 0;     // 0: greedy, and every strategy's output is checked against plain's
    int32_t     top_k        = 0;     // the sampler's settings (used when temperature > 0)
    float       top_p        = 1;
    float       min_p        = 0;
    uint32_t    seed         = 0;     // every run of every prompt starts from this seed
    std::string system_info;           // llama_print_system_info
    std::string grammar;               // the GBNF file every run generated under, empty: none
    std::string devices;               // ggml's backend devices (the model runs on the first GPU, if any)
    std::string date;
    int32_t     cost_depth = 0;
    std::vector<int32_t> cost_batch;
    std::vector<double>  cost_us;
    std::vector<bench_prompt_set> sets;
    std::vector<bench_result> results; // per set: plain first, bench_plain_repeat last
};

// One row of the table: totals over prompts and the speed against plain decoding.
struct bench_summary {
    int64_t     generated = 0, steps = 0, drafted = 0, accepted = 0, aux = 0;
    double      tokens_per_second = 0; // median over prompts
    double      ttft_ms = 0;           // median over prompts
    bench_ratio ratio;                 // against plain decoding of the same prompts: both plain runs
                                       // together; bench_plain_repeat against the first plain run
                                       // (the noise floor); n = 0 for plain itself
    double      noise_floor = 0;       // the set's (bench_noise_floor of bench_plain_repeat)
    bool        suspect = false;       // bench_suspect: departs from 1 having drafted nothing, or beats its tokens per step
    // Where a timed step's time went, in ms per step over all prompts (the steps after the first, which
    // comes with the prompt): drafting and the budget's cut, llama_decode, and the rest (acceptance,
    // sampling, the drafters' bookkeeping, the KV cache's commit).
    double      step_draft_ms = 0, step_decode_ms = 0, step_rest_ms = 0;
};

bench_summary bench_summarise(const bench_report & report, const bench_result & result);

void bench_print_table(const bench_report & report);
bool bench_write_json(const bench_report & report, const std::string & path, std::string & error);
bool bench_write_svg(const bench_report & report, const std::string & path, std::string & error);

// One tab-separated line per run (bench-table's input; a header line first):
//   tool config drafter temperature set prompt tokens seconds drafted accepted
// with tool "llamaspec", config the strategy, drafter its label or "-".
bool bench_write_runs(const bench_report & report, const std::string & path, std::string & error);
