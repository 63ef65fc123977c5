// A session: a context (engine/sd-context.h), the drafters and the budget it keeps across
// generations, and the state of the running generation. engine/sd-generate.cpp runs the generation
// loop, engine/sd-verify.cpp verifies each step's draft.
#pragma once

#include "draft/sd-drafters.h"
#include "engine/sd-accept.h"
#include "engine/sd-budget.h"
#include "engine/sd-context.h"
#include "engine/sd-sampling.h"
#include "model/sd-text.h"
#include "spec-decode.h"

// The running (or last) generation.
struct sd_generation {
    bool                 active = false;
    sd_generation_params params;
    sd_drafter         * drafter = nullptr;   // nullptr: plain decoding
    bool                 draft_lost = false;  // the draft model was dropped while the generation used it
    sd_sampler           sampler;             // the target distribution of each token
    uint64_t             seed = 0;            // draws: sd_position_uniform(seed, index of the token)
    sd_rng               rng;                 // draws of rejection sampling against a drafter's q
    sd_text_stream       text;
    llama_token          last = LLAMA_TOKEN_NULL; // sampled, not yet in the KV cache
    bool                 have_logits = false;     // logits of the last decode are unsampled
    std::vector<float>   prompt_logits;           // the prompt's, kept aside while the cost was measured
    bool                 grammar_end = false;     // the grammar allowed no token: the step's tokens end it
    sd_stats             stats;
    int64_t              t_start_us = 0;
    int64_t              t_first_token_us = 0;

    // scratch space of a step
    sd_draft_tree        tree;
    sd_aux_batch         aux;      // the drafter's auxiliary tokens
    double               forecast = 1.0; // tokens the budget forecast for the step (sd_forecast)
    bool                 attempted = false; // the budget asked the drafter to draft in this step
    sd_dist              dist;
    std::vector<float>   margins;  // of the tokens the step produced, when params.record_margins
};

struct sd_session {
    sd_context  * ctx = nullptr;
    sd_drafters   drafters;
    sd_budget     budget;
    sd_generation gen;
};

// Measures the device's decode cost for the batch sizes the budget considers, once per session, at the
// depth of the session's cache (overwriting the logits of its last decode).
sd_status sd_session_prepare_cost(sd_session * s, std::string & error);

// Hands the hidden states of output rows `rows` of the last computation (-1 = the last), the text's
// positions last_pos - rows.size() + 1 .. last_pos in order, to the generation's drafter, when it
// wants them.
void sd_session_pass_hidden(sd_session * s, const std::vector<int32_t> & rows, int32_t last_pos);
