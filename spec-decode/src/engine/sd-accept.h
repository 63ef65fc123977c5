// Lossless acceptance: the maths that decides which draft tokens are kept, written so that the
// tokens produced follow exactly the target distribution (the model's, after the sampler settings).
// Pure functions of probabilities and a random generator; unit-tested in tests/test-accept.cpp.
#pragma once

#include "llama.h"

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

// A target distribution over the tokens that survive the sampler filters (top-k, top-p, ...).
// Greedy decoding is the one-hot distribution on the argmax.
struct sd_dist {
    std::vector<llama_token> tokens; // [n]
    std::vector<float>       probs;  // [n], sum 1
};

// A drafter's distribution q, sparse: the tokens it gives a probability above 0, by ascending id.
// (Dense over the vocabulary it was 600 KB a drawn node at 152,064 tokens, zeroed and copied per
// drafted token, for the 40 or fewer the sampler filters leave.)
typedef std::vector<std::pair<llama_token, float>> sd_sparse_dist;

// q(token): 0 when the token is not there.
float sd_sparse_prob(const sd_sparse_dist & q, llama_token token);

typedef std::mt19937_64 sd_rng;

// Uniform in [0, 1).
double sd_uniform(sd_rng & rng);

// Draws a token from dist.
llama_token sd_dist_sample(const sd_dist & dist, sd_rng & rng);

// Probability of token in dist (0 when it is not there).
float sd_dist_prob(const sd_dist & dist, llama_token token);

// Inverse-CDF draw with a given uniform u in [0, 1) (tokens in the order of dist).
llama_token sd_dist_sample_u(const sd_dist & dist, double u);

// The uniform of the token drawn at index `index` of a generation with this seed: a hash of both, so
// that the draw of every position is fixed by the seed, whatever happened at other positions.
double sd_position_uniform(uint64_t seed, uint64_t index);

// Sample-then-match, the engine's rule for deterministic drafts: the target token is drawn with the
// position's uniform u, and the candidate equal to it (if any) is accepted. The token handed out is
// therefore exactly the one plain sampling draws with the same seed, and a candidate c is accepted
// with probability p(c), as with recursive rejection. Returns the index of the matching candidate,
// or -1; *drawn is the target token either way.
int32_t sd_accept_match(const sd_dist & dist, const llama_token * candidates, int32_t n_candidates, double u,
                        llama_token * drawn);

// Recursive rejection for deterministic drafts (each candidate proposed with certainty), several
// siblings allowed: candidate i is accepted with its probability under the residual distribution;
// on rejection it is removed and the residual renormalised; when all are rejected a token is drawn
// from the residual. Returns the index of the accepted candidate, or -1 with *drawn set.
// The returned token (candidate or drawn) is distributed exactly as dist.
int32_t sd_accept_deterministic(const sd_dist & dist, const llama_token * candidates, int32_t n_candidates,
                                sd_rng & rng, llama_token * drawn);

// Rejection sampling against a drafter's distribution q (q(candidate) > 0, the candidate having been
// drawn from q): accepted with probability min(1, p/q); on rejection a token
// is drawn from norm(max(0, p - q)). Returns 0 when accepted, -1 with *drawn set otherwise.
int32_t sd_accept_with_q(const sd_dist & dist, llama_token candidate, const sd_sparse_dist & q, sd_rng & rng,
                         llama_token * drawn);

// Medusa's typical acceptance, LOSSY (sd_typical_params): the candidate the target finds likeliest is
// accepted when its probability exceeds min(threshold, alpha * exp(-entropy of dist)); otherwise the
// token is drawn from dist with u. The output then no longer follows dist exactly.
int32_t sd_accept_typical(const sd_dist & dist, const llama_token * candidates, int32_t n_candidates, float threshold,
                          float alpha, double u, llama_token * drawn);
