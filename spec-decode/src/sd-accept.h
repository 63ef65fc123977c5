// Lossless acceptance: the maths that decides which draft tokens are kept, written so that the
// tokens produced follow exactly the target distribution (the model's, after the sampler settings).
// Pure functions of probabilities and a random generator; unit-tested in tests/test-accept.cpp.
#pragma once

#include "llama.h"

#include <cstdint>
#include <random>
#include <vector>

// A target distribution over the tokens that survive the sampler filters (top-k, top-p, ...).
// Greedy decoding is the one-hot distribution on the argmax.
struct sd_dist {
    std::vector<llama_token> tokens; // [n]
    std::vector<float>       probs;  // [n], sum 1
};

typedef std::mt19937_64 sd_rng;

// Uniform in [0, 1).
double sd_uniform(sd_rng & rng);

// Draws a token from dist.
llama_token sd_dist_sample(const sd_dist & dist, sd_rng & rng);

// Probability of token in dist (0 when it is not there).
float sd_dist_prob(const sd_dist & dist, llama_token token);

// Recursive rejection for deterministic drafts (each candidate proposed with certainty), several
// siblings allowed: candidate i is accepted with its probability under the residual distribution;
// on rejection it is removed and the residual renormalised; when all are rejected a token is drawn
// from the residual. Returns the index of the accepted candidate, or -1 with *drawn set.
// The returned token (candidate or drawn) is distributed exactly as dist.
int32_t sd_accept_deterministic(const sd_dist & dist, const llama_token * candidates, int32_t n_candidates,
                                sd_rng & rng, llama_token * drawn);

// Rejection sampling against a drafter's distribution q (dense over the vocabulary, q[candidate] > 0,
// the candidate having been drawn from q): accepted with probability min(1, p/q); on rejection a token
// is drawn from norm(max(0, p - q)). Returns 0 when accepted, -1 with *drawn set otherwise.
int32_t sd_accept_with_q(const sd_dist & dist, llama_token candidate, const std::vector<float> & q, sd_rng & rng,
                         llama_token * drawn);
