// A context: one llama_context, the tokens in its KV cache, its threads, and the hidden states of
// its last computation when asked for. A session generates with one; a draft model's drafter keeps
// one on the draft model; training reads the corpus through one.
#pragma once

#include "spec-decode.h"
#include "engine/sd-threads.h"

#include <atomic>
#include <vector>

struct ggml_threadpool;

// Sequences: 0 holds the text; draft paths use 1..SD_MAX_LEAVES; the last one is scratch space for
// measuring decode costs without touching sequence 0.
static constexpr int32_t SD_MAX_LEAVES = 64;
static constexpr int32_t SD_N_SEQ = SD_MAX_LEAVES + 2;

struct sd_context {
    sd_model        * model      = nullptr;
    llama_context   * ctx        = nullptr;
    llama_batch       batch      = {};
    ggml_threadpool * threadpool = nullptr; // kept for the context: without one, ggml starts threads per decode
    bool              owns_threadpool = true; // false: it runs on the threads of the context it follows
    sd_session_params params;                // as created, n_ctx and n_threads resolved
    sd_threads        threads;               // how many of them its decodes use (sd-threads.h)
    std::atomic<int32_t> n_threads_set{0};   // what llama.cpp was last told (read from other threads)
    const sd_context * leader = nullptr;     // the context it follows (sd_context_follow), whose thread count it uses
    uint32_t          n_ctx      = 0;
    uint32_t          n_batch    = 0;
    int32_t           n_vocab    = 0;
    int32_t           n_embd     = 0;
    int32_t           max_leaves = 0;       // draft paths the context has sequences for
    llama_seq_id      seq_scratch = 0;      // the last sequence

    std::vector<llama_token> cached; // tokens in the KV cache (sequence 0, positions 0..n-1)
    // How much of the text each draft path's sequence holds: sequence q (1 and up) holds the text's
    // positions 0 .. text_upto[q] - 1, and sequence 0 all of it. A step's paths get what they lack
    // from sequence 0 just before the step (sd_context_share_text), so a copy adds only the cells the
    // text gained since that sequence's last step, and text evaluated while no path is drafted (the
    // prompt, steps without a draft) goes into sequence 0 alone. (llama.cpp's copy of a whole
    // sequence and its removal change every cell of the text: 150 us a path and step at 2,048 tokens
    // of text, 785 us at 8,000, on this machine's CPU; and a token in many sequences adds an entry
    // to llama.cpp's position map of each, which steps without a draft would pay for nothing.)
    std::vector<llama_pos>   text_upto;

    // The final norm's output ("result_norm") of every computation while `capture` is set: one row
    // of n_embd floats per output of the batch. It needs llama.cpp's graph callback, which slows every
    // computation a little, so the context is made without it and remade with it the first time it
    // is needed (sd_context_enable_capture).
    bool               can_capture = false;
    bool               capture = false;
    const char *       capture_name = "result_norm"; // the graph tensor captured (tools may ask for another)
    llama_context_params cparams = {};      // as made, for remaking it
    std::vector<float> hidden;
    int32_t            hidden_n = 0;

    std::atomic<bool>         cancel{false};
    int64_t                   deadline_us = 0;  // a try of another thread count stops here (sd-threads.h)
    std::atomic<bool>         deadline_hit{false};
    const std::atomic<bool> * cancel_also = nullptr; // the context followed: its cancellation stops this one too

    // Tests only: called before every llama_decode of sd_context_decode with the batch's size (a test
    // simulates a stall of the machine with it). Null in the library.
    void (*before_decode)(int32_t n_tokens, void * data) = nullptr;
    void * before_decode_data = nullptr;
};

sd_status sd_context_init(sd_model * model, const sd_session_params & params, sd_context ** out, std::string & error);
void      sd_context_free(sd_context * c);

// Makes the context able to capture hidden states (see sd_context::can_capture): the first time, the
// llama_context is made again with the graph callback, so the KV cache is emptied.
sd_status sd_context_enable_capture(sd_context * c, std::string & error);

// Makes c run its decodes on the threads of `leader` and stop when leader is cancelled (a draft
// model's context follows its target's; they never decode at the same time).
void sd_context_follow(sd_context * c, sd_context * leader);

// Forgets the KV cache.
void sd_context_reset(sd_context * c);

// Drops the KV cache from position n on.
void sd_context_truncate(sd_context * c, size_t n);

// Brings sequences 1 .. n_seqs - 1 up to the whole text (positions 0 .. cached.size() - 1), each
// by copying from sequence 0 only the positions it lacks.
void sd_context_share_text(sd_context * c, int32_t n_seqs);

// llama_decode; the errors llama.cpp logs when a requested cancellation aborts the computation are
// logged as debug lines. Returns llama_decode's code (2: aborted).
int32_t sd_context_decode(sd_context * c, const llama_batch & batch);

// The error of a failed llama_decode at a position, with what llama.cpp logged.
sd_status sd_context_decode_error(int32_t code, size_t position, std::string & error);

// Evaluates tokens after the cached ones in batches of n_batch, with logits for the last one only
// (or for every one when all_logits). *cancelled tells an abort through the cancel flag apart from
// a failure; the cache then holds exactly the tokens before the batch that failed.
sd_status sd_context_eval(sd_context * c, const llama_token * tokens, size_t n, bool all_logits, bool * cancelled,
                          std::string & error);

// Makes the cache hold exactly `tokens`, evaluating only what is not there yet (at least the last,
// so that its logits are fresh). *n_reused (may be NULL) receives the length of the prefix kept.
sd_status sd_context_load(sd_context * c, const std::vector<llama_token> & tokens, bool * cancelled,
                          int32_t * n_reused, std::string & error);

// The checks of a prompt: not empty, every token in the vocabulary, room for one more token.
sd_status sd_context_check_prompt(const sd_context * c, const std::vector<llama_token> & prompt, std::string & error);

// Times llama_decode for each batch size on the scratch sequence at the current depth, leaving
// sequence 0 untouched; one warm-up (of the first size), then `reps_first` measured runs of the first
// size and `reps` of each other; the fastest of each is kept.
sd_status sd_context_measure_cost(sd_context * c, const std::vector<int32_t> & sizes, int32_t reps_first,
                                  int32_t reps, std::vector<double> & out_us, std::string & error);

// The hidden state of output row `row` of the last computation (-1 = the last row), or NULL when
// none was captured.
const float * sd_context_hidden(const sd_context * c, int32_t row);
