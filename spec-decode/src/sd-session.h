// The session's state, shared by the files that implement it (sd-session.cpp: context and KV cache;
// sd-sampling.cpp: target distributions; sd-generate.cpp: the generation loop and verification).
#pragma once

#include "spec-decode.h"
#include "sd-internal.h"
#include "sd-accept.h"
#include "sd-budget.h"
#include "sd-draft.h"
#include "sd-text.h"

#include <memory>

struct ggml_threadpool;

// Sequences: 0 holds the text; draft paths use 1..SD_MAX_LEAVES; the last one is scratch space for
// measuring decode costs without touching sequence 0.
static constexpr int32_t SD_MAX_LEAVES = 64;
static constexpr int32_t SD_N_SEQ = SD_MAX_LEAVES + 2;

struct sd_session {
    sd_model        * model      = nullptr;
    llama_context   * ctx        = nullptr;
    llama_batch       batch      = {};
    ggml_threadpool * threadpool = nullptr; // kept for the session: without one, ggml starts threads per decode
    bool              owns_threadpool = true; // false: a draft model's context borrows its target's
    sd_session_params sparams;              // as created, n_ctx and n_threads resolved
    uint32_t          n_ctx      = 0;
    uint32_t          n_batch    = 0;
    int32_t           n_vocab    = 0;
    int32_t           max_leaves = 0;       // draft paths the context has sequences for
    llama_seq_id      seq_scratch = 0;      // the last sequence

    std::vector<llama_token> cached; // tokens in the KV cache (sequence 0, positions 0..n-1)

    // what speculation has learnt, kept across generations
    std::unique_ptr<sd_drafter> lookup;
    std::unique_ptr<sd_drafter> recycling;
    std::unique_ptr<sd_drafter> lookahead;
    std::unique_ptr<sd_drafter> automatic;
    int32_t                     recycling_k = 0;
    int32_t                     lookahead_wng[3] = {0, 0, 0};
    std::unique_ptr<sd_drafter> medusa;
    std::shared_ptr<sd_heads_data> medusa_heads; // what `medusa` was made for
    bool                        medusa_static = false;
    int32_t                     medusa_top_k  = 0;
    sd_accept_model             accept;
    sd_cost_model               cost;
    int32_t                     draft_skip  = 0; // steps left without drafting (back-off)
    int32_t                     draft_pause = 0; // length of the next back-off
    std::unique_ptr<sd_drafter> draft;               // the draft model's drafter and its context
    const sd_model            * draft_model = nullptr; // ... on this model

    // the running generation
    bool                  active = false;
    sd_generation_params  params;
    sd_drafter          * drafter = nullptr;  // nullptr: plain decoding
    llama_sampler       * filter  = nullptr;  // the sampler chain without its final draw
    bool                  greedy  = true;
    uint64_t              seed = 0;            // draws: sd_position_uniform(seed, index of the token)
    sd_rng                rng;                 // draws of rejection sampling against a drafter's q
    bool                  draft_lost = false;  // the draft model was dropped during the generation
    sd_text_stream        text;
    llama_token           last = LLAMA_TOKEN_NULL; // sampled, not yet in the KV cache
    bool                  have_logits = false;     // logits of the last decode are unsampled
    sd_stats              stats;
    int64_t               t_start_us = 0;
    int64_t               t_first_token_us = 0;

    // scratch space of a step
    std::vector<llama_token_data> candidates;
    sd_draft_tree                 tree;
    sd_aux_batch                  aux;        // the drafter's auxiliary tokens
    sd_dist                       dist;
    float                         margin = 0; // top-1 minus top-2 logit of the last target distribution
    std::vector<float>            margins;    // of the tokens a step produced

    // the final norm's output of the last computation, when `capture` is set (Medusa heads)
    bool                  capture = false;
    std::vector<float>    hidden;      // [hidden_n][n_embd]
    int32_t               hidden_n = 0;

    std::atomic<bool>     cancel{false};
    const std::atomic<bool> * cancel_also = nullptr; // a draft model's context is cancelled with its target
};

// Makes `s` (a draft model's context) run its decodes on the threads of `target` and stop when target is
// cancelled. Sequential use is all it needs: the target never decodes while its draft model does.
void sd_session_follow(sd_session * s, sd_session * target);

// Drops the KV cache from position n on.
void sd_cache_truncate(sd_session * s, size_t n);

// llama_decode on the session's context; the errors llama.cpp logs when a requested cancellation
// aborts the computation are logged as debug lines (see sd_log_cancel_scope).
int32_t sd_llama_decode(sd_session * s, const llama_batch & batch);

// Evaluates tokens after the cached ones in batches of n_batch; logits for the last one only.
// *cancelled tells an abort through sd_session_cancel apart from a failure.
sd_status sd_decode_tokens(sd_session * s, const llama_token * tokens, size_t n, bool * cancelled, std::string & error);

// Makes the cache hold exactly `tokens`, evaluating only what is not there yet (at least the last).
sd_status sd_cache_load(sd_session * s, const std::vector<llama_token> & tokens, bool * cancelled, std::string & error,
                        int32_t * n_reused);

sd_status sd_check_prompt(const sd_session * s, const std::vector<llama_token> & prompt, std::string & error);

// Times llama_decode for each batch size on the scratch sequence at the current depth, leaving
// sequence 0 untouched; one warm-up and `reps` measured runs per size, the fastest is kept.
sd_status sd_measure_cost_here(sd_session * s, const std::vector<int32_t> & sizes, int32_t reps,
                               std::vector<double> & out_us, std::string & error);

// The sampler filters of params (penalties, top-k, top-p, min-p, temperature) as a chain.
llama_sampler * sd_filter_init(const sd_model * model, const sd_generation_params & params);

// The target distribution after `logits` under the session's filters and their current state
// (a one-hot argmax when greedy).
void sd_target_dist(sd_session * s, const float * logits, sd_dist & out);
