#include "engine/sd-accept.h"

#include <algorithm>
#include <cmath>

double sd_uniform(sd_rng & rng) {
    // 53 random bits -> [0, 1)
    return (double) (rng() >> 11) * (1.0 / 9007199254740992.0);
}

static llama_token sample_weights(const std::vector<llama_token> & tokens, const std::vector<double> & w, double total,
                                  sd_rng & rng) {
    const double u = sd_uniform(rng) * total;
    double acc = 0;
    for (size_t i = 0; i < tokens.size(); i++) {
        acc += w[i];
        if (u < acc) return tokens[i];
    }
    // rounding: the last token with weight
    for (size_t i = tokens.size(); i-- > 0;) {
        if (w[i] > 0) return tokens[i];
    }
    return tokens.empty() ? LLAMA_TOKEN_NULL : tokens[0];
}

llama_token sd_dist_sample(const sd_dist & dist, sd_rng & rng) {
    std::vector<double> w(dist.probs.begin(), dist.probs.end());
    double total = 0;
    for (double v : w) total += v;
    return sample_weights(dist.tokens, w, total, rng);
}

llama_token sd_dist_sample_u(const sd_dist & dist, double u) {
    double total = 0;
    for (float p : dist.probs) total += p;
    const double target = u * total;
    double acc = 0;
    for (size_t i = 0; i < dist.tokens.size(); i++) {
        acc += dist.probs[i];
        if (target < acc) return dist.tokens[i];
    }
    for (size_t i = dist.tokens.size(); i-- > 0;) {
        if (dist.probs[i] > 0) return dist.tokens[i];
    }
    return dist.tokens.empty() ? LLAMA_TOKEN_NULL : dist.tokens[0];
}

double sd_position_uniform(uint64_t seed, uint64_t index) {
    // splitmix64 of the seed and the index
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

int32_t sd_accept_match(const sd_dist & dist, const llama_token * candidates, int32_t n_candidates, double u,
                        llama_token * drawn) {
    *drawn = sd_dist_sample_u(dist, u);
    for (int32_t c = 0; c < n_candidates; c++) {
        if (candidates[c] == *drawn) return c;
    }
    return -1;
}

float sd_dist_prob(const sd_dist & dist, llama_token token) {
    for (size_t i = 0; i < dist.tokens.size(); i++) {
        if (dist.tokens[i] == token) return dist.probs[i];
    }
    return 0.0f;
}

int32_t sd_accept_deterministic(const sd_dist & dist, const llama_token * candidates, int32_t n_candidates,
                                sd_rng & rng, llama_token * drawn) {
    std::vector<double> residual(dist.probs.begin(), dist.probs.end());
    double total = 0;
    for (double v : residual) total += v;
    for (int32_t c = 0; c < n_candidates; c++) {
        size_t idx = dist.tokens.size();
        for (size_t i = 0; i < dist.tokens.size(); i++) {
            if (dist.tokens[i] == candidates[c]) { idx = i; break; }
        }
        if (idx == dist.tokens.size() || residual[idx] <= 0) {
            continue; // probability 0: always rejected, and the residual does not change
        }
        if (sd_uniform(rng) * total < residual[idx]) {
            return c;
        }
        total -= residual[idx];
        residual[idx] = 0;
    }
    *drawn = sample_weights(dist.tokens, residual, total, rng);
    return -1;
}

float sd_sparse_prob(const sd_sparse_dist & q, llama_token token) {
    const auto it = std::lower_bound(q.begin(), q.end(), token,
                                     [](const std::pair<llama_token, float> & e, llama_token t) { return e.first < t; });
    return it != q.end() && it->first == token ? it->second : 0.0f;
}

int32_t sd_accept_with_q(const sd_dist & dist, llama_token candidate, const sd_sparse_dist & q, sd_rng & rng,
                         llama_token * drawn) {
    const double p_c = sd_dist_prob(dist, candidate);
    const double q_c = sd_sparse_prob(q, candidate);
    if (q_c > 0 && sd_uniform(rng) * q_c < p_c) {
        return 0;
    }
    std::vector<double> residual(dist.tokens.size());
    double total = 0;
    for (size_t i = 0; i < dist.tokens.size(); i++) {
        const llama_token t = dist.tokens[i];
        const double qt = sd_sparse_prob(q, t);
        residual[i] = std::max(0.0, (double) dist.probs[i] - qt);
        total += residual[i];
    }
    if (total <= 0) {
        // p <= q everywhere and p(c) < q(c) only by rounding: fall back to p itself
        *drawn = sd_dist_sample(dist, rng);
        return -1;
    }
    *drawn = sample_weights(dist.tokens, residual, total, rng);
    return -1;
}

int32_t sd_accept_typical(const sd_dist & dist, const llama_token * candidates, int32_t n_candidates, float threshold,
                          float alpha, double u, llama_token * drawn) {
    double entropy = 0;
    for (float p : dist.probs) {
        if (p > 0.0f) entropy -= (double) p * std::log((double) p);
    }
    const double bar = std::min((double) threshold, (double) alpha * std::exp(-entropy));
    int32_t best = -1;
    float best_p = 0.0f;
    for (int32_t c = 0; c < n_candidates; c++) {
        const float p = sd_dist_prob(dist, candidates[c]);
        if (p > best_p) {
            best_p = p;
            best = c;
        }
    }
    if (best >= 0 && (double) best_p > bar) {
        *drawn = candidates[best];
        return best;
    }
    *drawn = sd_dist_sample_u(dist, u);
    return -1;
}
