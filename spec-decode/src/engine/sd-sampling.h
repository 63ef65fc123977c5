// Target distributions: llama.cpp's sampler filters (penalties, top-k, top-p, min-p, temperature)
// give the candidates and their logits; the draw itself is the engine's (engine/sd-accept.h), so
// that plain decoding and every acceptance rule sample the same distribution.
#pragma once

#include "engine/sd-accept.h"
#include "spec-decode.h"

#include <vector>

// The sampler filters of params as a chain (greedy: the penalties only); without_penalties leaves
// the repetition penalty out (a draft model's proposals).
llama_sampler * sd_filter_init(int32_t n_vocab, const sd_generation_params & params, bool without_penalties);

// The candidates logits[0..n) leave after filter (NULL: all of them), in scratch.
llama_token_data_array sd_filter_apply(llama_sampler * filter, const float * logits, int32_t n,
                                       std::vector<llama_token_data> & scratch);

// The k of the top-k filter that sd_filter_init(params, without_penalties) puts first in its chain, 0
// when the chain does not begin with one (greedy, no top-k, or the penalties first).
int32_t sd_filter_first_k(const sd_generation_params & params, bool without_penalties);

// sd_filter_apply for a chain that begins with top-k (first_k = sd_filter_first_k): the first_k
// largest logits are picked out first (the lower id first among equal logits) and the chain runs on
// them alone, instead of on a copy of the whole vocabulary that its top-k then sorts. top_scratch is the
// caller's, kept between calls.
llama_token_data_array sd_filter_apply_top(llama_sampler * filter, int32_t first_k, const float * logits, int32_t n,
                                           std::vector<llama_token_data> & scratch,
                                           std::vector<std::pair<float, int32_t>> & top_scratch);

// The softmax of the candidates with an id below n_limit and a finite logit.
void sd_softmax(const llama_token_data_array & candidates, int32_t n_limit, sd_dist & out);

// Top-1 minus top-2 logit of the candidates.
float sd_top2_margin(const llama_token_data_array & candidates);

// The argmax (the lowest id among equal logits).
llama_token sd_argmax(const llama_token_data_array & candidates);

// Raw logits, read where every step (or every drafted token) would otherwise copy or exponentiate
// a whole vocabulary: blocks that cannot change the answer are passed over with one comparison per
// logit, which the compiler vectorizes, so the cost stays small at vocabularies of 150,000 tokens.

// The argmax of logits[0..n) (the lowest id among equal logits) and, when second is not NULL, the
// runner-up (the next lowest id among logits equal to the best, else the second largest logit);
// -1 for what does not exist (no logit above -infinity, or fewer than two).
llama_token sd_logits_argmax(const float * logits, int32_t n, llama_token * second = nullptr);

// The k largest logits' ids into out[0..k), largest first, the lower id first among equal logits;
// -1 where n < k. scratch is the caller's, kept between calls.
void sd_logits_top_k(const float * logits, int32_t n, int32_t k, std::vector<std::pair<float, int32_t>> & scratch,
                     llama_token * out);

// The sum of exp(logits[i] - max) over logits[0..n), max being at least every logit: the softmax's
// denominator, each term within 4e-6 of exp's (a polynomial the compiler vectorizes; -infinity
// counts as 0 up to 1e-38).
double sd_logits_exp_sum(const float * logits, int32_t n, float max);

// What turns a target model's logits into the distribution its next token is drawn from.
struct sd_sampler {
    llama_sampler * filter = nullptr; // owned
    llama_sampler * grammar = nullptr; // owned; applied before the filters; nullptr = no grammar
    bool            dead_end = false; // the last dist() found no token the grammar allows
    bool            greedy = true;
    bool            record_margin = false;
    float           margin = 0.0f;    // of the last distribution, when record_margin
    int32_t         first_k = 0;      // sd_filter_first_k of the filter
    std::vector<llama_token_data> scratch;
    std::vector<std::pair<float, int32_t>> top_scratch;

    sd_sampler() = default;
    sd_sampler(const sd_sampler &) = delete;
    sd_sampler & operator=(const sd_sampler &) = delete;
    ~sd_sampler();

    // For a generation with these params: a new filter chain, whose penalties have seen `history`,
    // and the grammar (which starts from its root: the prompt is not matched). Fails on a grammar
    // llama.cpp cannot parse, with its parser's message.
    sd_status reset(const llama_vocab * vocab, int32_t n_vocab, const sd_generation_params & params,
                    const std::vector<llama_token> & history, std::string & error);

    // The target distribution after `logits` under the grammar, the filters and their current state
    // (a one-hot argmax when greedy). When the grammar allows no token, out is empty and dead_end set.
    void dist(const float * logits, int32_t n_vocab, sd_dist & out);

    // Tells the penalties and the grammar a token was produced.
    void accept(llama_token token);

    // Whether the grammar, in the state `state` (this sampler's grammar or a clone of it), allows token.
    static bool allows(llama_sampler * state, llama_token token);
};
