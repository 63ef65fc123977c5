// Statistical tests of the lossless acceptance functions (sd-accept.h): whatever the draft, the
// token they output (an accepted candidate, or one drawn from the residual) must follow the target
// distribution exactly. Each case runs N >= 10^6 trials with a fixed seed and a chi-square
// goodness-of-fit test at significance 1e-4; a deliberately wrong rule (negative control) must fail
// the same test, which shows the test has the power to catch a biased rule.
#ifndef LLAMASPEC_DEFAULT_TEST_MODEL
#define LLAMASPEC_DEFAULT_TEST_MODEL ""
#endif

#include "sd-test.h"

#include "engine/sd-accept.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

static const long long N_TRIALS = 1000000;

// ----------------------------------------------------------------------------------------------
// chi-square goodness of fit

// Upper 1e-4 quantile of chi-square with df degrees of freedom (Wilson-Hilferty).
static double chi2_crit(int df) {
    const double z = 3.719;
    const double a = 2.0 / (9.0 * df);
    const double b = 1.0 - a + z * std::sqrt(a);
    return df * b * b * b;
}

static int dist_index(const sd_dist & dist, llama_token t) {
    for (size_t i = 0; i < dist.tokens.size(); i++) {
        if (dist.tokens[i] == t) return (int) i;
    }
    return -1;
}

// Counts of output tokens, by index in dist; tokens outside dist are counted apart.
struct tally {
    const sd_dist *        dist;
    std::vector<long long> counts;
    long long              outside = 0;
    long long              n       = 0;

    explicit tally(const sd_dist & d) : dist(&d), counts(d.tokens.size(), 0) {}

    void add(llama_token t) {
        n++;
        const int i = dist_index(*dist, t);
        if (i < 0) {
            outside++;
        } else {
            counts[(size_t) i]++;
        }
    }
};

struct chi2_result {
    double    stat       = 0;
    int       df         = 0;
    double    crit       = 0;
    long long impossible = 0; // outputs in categories of expected count 0 (outside dist, or prob 0)

    bool pass() const { return impossible == 0 && df >= 1 && stat < crit; }
};

static chi2_result chi2_test(const char * name, const tally & t) {
    const sd_dist & dist = *t.dist;
    double          sum  = 0;
    for (float p : dist.probs) sum += p;

    chi2_result r;
    r.impossible = t.outside;
    int n_cat    = 0;
    for (size_t i = 0; i < dist.tokens.size(); i++) {
        const double e = (double) t.n * (double) dist.probs[i] / sum;
        if (e > 0) {
            const double d = (double) t.counts[i] - e;
            r.stat += d * d / e;
            n_cat++;
        } else {
            r.impossible += t.counts[i];
        }
    }
    r.df   = n_cat - 1;
    r.crit = r.df >= 1 ? chi2_crit(r.df) : 0.0;
    std::printf("  %-58s N=%lld  chi2=%12.3f  df=%2d  crit(1e-4)=%7.3f  impossible=%lld  -> %s\n", name, t.n, r.stat,
                r.df, r.crit, r.impossible, r.pass() ? "fits" : "REJECTED");
    return r;
}

// |observed frequency - p| within 5 standard errors of a binomial proportion.
static bool freq_matches(const char * name, long long count, long long n, double p) {
    const double f  = (double) count / (double) n;
    const double se = std::sqrt(p * (1 - p) / (double) n);
    const bool   ok = p == 0 ? count == 0 : std::fabs(f - p) <= 5 * se;
    std::printf("    %-56s freq=%.6f  expected=%.6f  (5 se=%.6f)  %s\n", name, f, p, 5 * se, ok ? "ok" : "MISMATCH");
    return ok;
}

// ----------------------------------------------------------------------------------------------
// distributions

// Uneven probabilities over non-contiguous token ids.
static sd_dist make_dist_a() {
    sd_dist d;
    d.tokens = { 3, 17, 42, 5, 99, 23, 61, 8, 120, 77 };
    d.probs  = { 0.40f, 0.20f, 0.10f, 0.08f, 0.07f, 0.05f, 0.04f, 0.03f, 0.02f, 0.01f };
    return d;
}

// One token listed with probability 0 (a category of expected count 0), tokens unsorted.
static sd_dist make_dist_b() {
    sd_dist d;
    d.tokens = { 64, 11, 90, 31, 2, 57, 106, 73 };
    d.probs  = { 0.05f, 0.30f, 0.0f, 0.25f, 0.15f, 0.12f, 0.08f, 0.05f };
    return d;
}

static const size_t VOCAB = 128;

// Draws a token from a dense distribution q over the vocabulary.
static llama_token sample_q(const std::vector<double> & cum, sd_rng & rng) {
    const double u  = sd_uniform(rng) * cum.back();
    size_t       lo = 0, hi = cum.size() - 1;
    while (lo < hi) { // first index with cum > u
        const size_t mid = (lo + hi) / 2;
        if (cum[mid] > u) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return (llama_token) lo;
}

static std::vector<double> cumulative(const std::vector<float> & q) {
    std::vector<double> cum(q.size());
    double              acc = 0;
    for (size_t i = 0; i < q.size(); i++) {
        acc += q[i];
        cum[i] = acc;
    }
    return cum;
}

// Dense q over VOCAB from (token, prob) pairs.
static std::vector<float> make_q(const std::vector<std::pair<llama_token, float>> & entries) {
    std::vector<float> q(VOCAB, 0.0f);
    for (const auto & e : entries) q[(size_t) e.first] = e.second;
    return q;
}

// The sparse q sd_accept_with_q takes, from a dense one.
static sd_sparse_dist sparse_of(const std::vector<float> & q) {
    sd_sparse_dist out;
    for (size_t t = 0; t < q.size(); t++) {
        if (q[t] > 0.0f) out.push_back({(llama_token) t, q[t]});
    }
    return out;
}

// ----------------------------------------------------------------------------------------------
// cases

// sd_accept_deterministic with the given candidates, N trials; checks the output distribution and
// that candidate i is accepted with frequency p(c_i).
// Candidate c must be accepted with frequency p(c) (never when p(c) = 0), for both rules.
static void check_acceptance(const sd_dist & dist, const std::vector<llama_token> & cands,
                             const std::vector<long long> & accepted, const char * rule) {
    double sum = 0;
    for (float p : dist.probs) sum += p;
    for (size_t c = 0; c < cands.size(); c++) {
        const double p = sd_dist_prob(dist, cands[c]) / sum;
        const std::string label = std::string(rule) + " candidate " + std::to_string(c) + " (token " +
                                  std::to_string(cands[c]) + ")";
        CHECK(freq_matches(label.c_str(), accepted[c], N_TRIALS, p));
        if (p == 0) {
            CHECK(accepted[c] == 0);
        }
    }
}

// Sample-then-match with the position uniforms of a seed: the output follows dist, candidate c is
// accepted with probability p(c), and the accepted candidate is always the drawn token.
static void case_match(const char * name, const sd_dist & dist, const std::vector<llama_token> & cands,
                       uint64_t seed) {
    tally                  t(dist);
    std::vector<long long> accepted(cands.size(), 0);
    bool                   inconsistent = false;
    for (long long i = 0; i < N_TRIALS; i++) {
        llama_token   drawn = LLAMA_TOKEN_NULL;
        const int32_t r = sd_accept_match(dist, cands.data(), (int32_t) cands.size(),
                                          sd_position_uniform(seed, (uint64_t) i), &drawn);
        if (r >= 0) {
            accepted[(size_t) r]++;
            inconsistent |= cands[(size_t) r] != drawn;
        }
        t.add(drawn);
    }
    CHECK(!inconsistent);
    CHECK(chi2_test(name, t).pass());
    check_acceptance(dist, cands, accepted, "match");
}

static void case_deterministic(const char * name, const sd_dist & dist, const std::vector<llama_token> & cands,
                               uint64_t seed) {
    sd_rng                 rng(seed);
    tally                  t(dist);
    std::vector<long long> accepted(cands.size(), 0);
    bool                   bad_return = false;
    for (long long i = 0; i < N_TRIALS; i++) {
        llama_token   drawn = LLAMA_TOKEN_NULL;
        const int32_t r     = sd_accept_deterministic(dist, cands.data(), (int32_t) cands.size(), rng, &drawn);
        if (r >= 0 && r < (int32_t) cands.size()) {
            accepted[(size_t) r]++;
            t.add(cands[(size_t) r]);
        } else if (r == -1) {
            t.add(drawn);
        } else {
            bad_return = true;
        }
    }
    CHECK(!bad_return);
    const chi2_result res = chi2_test(name, t);
    CHECK(res.pass());
    check_acceptance(dist, cands, accepted, "accept");
}

// sd_accept_with_q, the candidate drawn from q each trial; checks the output distribution and the
// acceptance rate sum_t min(p(t), q(t)). Returns the acceptance rate.
static double case_with_q(const char * name, const sd_dist & dist, const std::vector<float> & q, uint64_t seed) {
    const std::vector<double> cum = cumulative(q);
    const sd_sparse_dist      sparse = sparse_of(q);
    sd_rng                    rng(seed);
    tally                     t(dist);
    long long                 n_accepted = 0;
    bool                      bad_return = false;
    for (long long i = 0; i < N_TRIALS; i++) {
        const llama_token c     = sample_q(cum, rng);
        llama_token       drawn = LLAMA_TOKEN_NULL;
        const int32_t     r     = sd_accept_with_q(dist, c, sparse, rng, &drawn);
        if (r == 0) {
            n_accepted++;
            t.add(c);
        } else if (r == -1) {
            t.add(drawn);
        } else {
            bad_return = true;
        }
    }
    CHECK(!bad_return);
    const chi2_result res = chi2_test(name, t);
    CHECK(res.pass());

    double p_sum = 0, q_sum = 0;
    for (float p : dist.probs) p_sum += p;
    for (float v : q) q_sum += v;
    double expect_acc = 0;
    for (size_t v = 0; v < q.size(); v++) {
        const double p = sd_dist_prob(dist, (llama_token) v) / p_sum;
        expect_acc += std::min(p, (double) q[v] / q_sum);
    }
    CHECK(freq_matches("acceptance rate vs sum min(p, q)", n_accepted, N_TRIALS, expect_acc));
    return (double) n_accepted / (double) N_TRIALS;
}

// The wrong rule: accept c with probability p(c), otherwise sample from the full dist (c not
// removed). Returns the chi-square result; the caller checks it is rejected.
static chi2_result case_wrong_deterministic(const char * name, const sd_dist & dist, llama_token cand, uint64_t seed) {
    sd_rng       rng(seed);
    tally        t(dist);
    const double p_c = sd_dist_prob(dist, cand);
    for (long long i = 0; i < N_TRIALS; i++) {
        if (sd_uniform(rng) < p_c) {
            t.add(cand);
        } else {
            t.add(sd_dist_sample(dist, rng));
        }
    }
    return chi2_test(name, t);
}

// The wrong rule with q: accept with min(1, p/q) but on rejection draw from p instead of the
// residual norm(max(0, p - q)).
static chi2_result case_wrong_with_q(const char * name, const sd_dist & dist, const std::vector<float> & q,
                                     uint64_t seed) {
    const std::vector<double> cum = cumulative(q);
    sd_rng                    rng(seed);
    tally                     t(dist);
    for (long long i = 0; i < N_TRIALS; i++) {
        const llama_token c   = sample_q(cum, rng);
        const double      p_c = sd_dist_prob(dist, c);
        const double      q_c = q[(size_t) c];
        if (q_c > 0 && sd_uniform(rng) * q_c < p_c) {
            t.add(c);
        } else {
            t.add(sd_dist_sample(dist, rng));
        }
    }
    return chi2_test(name, t);
}

int main() {
    const auto t0 = std::chrono::steady_clock::now();

    const sd_dist A = make_dist_a();
    const sd_dist B = make_dist_b();

    // 5. sd_dist_sample alone (sanity of the sampler and of the test)
    std::printf("sd_dist_sample:\n");
    {
        sd_rng rng(1001);
        tally  ta(A);
        for (long long i = 0; i < N_TRIALS; i++) ta.add(sd_dist_sample(A, rng));
        CHECK(chi2_test("sd_dist_sample, dist A", ta).pass());

        sd_rng rng_b(1002);
        tally  tb(B);
        for (long long i = 0; i < N_TRIALS; i++) tb.add(sd_dist_sample(B, rng_b));
        CHECK(chi2_test("sd_dist_sample, dist B (one prob-0 token)", tb).pass());
    }

    // 1. one deterministic candidate
    std::printf("sd_accept_deterministic, one candidate:\n");
    case_deterministic("likely candidate 3 (p=0.40)", A, { 3 }, 2001);
    case_deterministic("unlikely candidate 77 (p=0.01)", A, { 77 }, 2002);
    case_deterministic("candidate 1000 absent from dist (p=0)", A, { 1000 }, 2003);
    case_deterministic("candidate 90 listed with p=0, dist B", B, { 90 }, 2004);
    case_deterministic("candidate 11 (p=0.30), dist B", B, { 11 }, 2005);

    // sample-then-match, the engine's rule for deterministic drafts
    std::printf("sd_accept_match with position uniforms:\n");
    case_match("match: likely candidate 3", A, { 3 }, 7001);
    case_match("match: siblings {17, 3, 77}", A, { 17, 3, 77 }, 7002);
    case_match("match: siblings with absent and p=0 tokens, dist B", B, { 90, 1000, 11 }, 7003);
    case_match("match: no candidates", A, {}, 7004);

    // 2. several sibling candidates
    std::printf("sd_accept_deterministic, siblings:\n");
    case_deterministic("3 siblings {17, 3, 77}", A, { 17, 3, 77 }, 3001);
    case_deterministic("5 siblings {42, 1000 (absent), 3, 120, 17}", A, { 42, 1000, 3, 120, 17 }, 3002);
    case_deterministic("4 siblings {90 (p=0), 64, 31, 73}, dist B", B, { 90, 64, 31, 73 }, 3003);

    // 3. rejection sampling against a drafter's distribution q
    // the sparse q's lookup (sd_accept_with_q reads q through it)
    {
        const sd_sparse_dist q = {{3, 0.25f}, {17, 0.5f}, {400, 0.25f}};
        CHECK(sd_sparse_prob(q, 3) == 0.25f && sd_sparse_prob(q, 17) == 0.5f && sd_sparse_prob(q, 400) == 0.25f);
        CHECK(sd_sparse_prob(q, 0) == 0.0f && sd_sparse_prob(q, 4) == 0.0f && sd_sparse_prob(q, 401) == 0.0f);
        CHECK(sd_sparse_prob(sd_sparse_dist(), 3) == 0.0f && sd_sparse_prob(q, -1) == 0.0f);
    }
    std::printf("sd_accept_with_q:\n");
    {
        // q differs from p; 12 tokens, two of them (7, 50) outside the support of p
        const std::vector<float> q1 = make_q({
            { 3, 0.15f }, { 17, 0.25f }, { 42, 0.05f }, { 5, 0.12f }, { 99, 0.02f }, { 23, 0.10f },
            { 61, 0.04f }, { 8, 0.06f }, { 120, 0.05f }, { 77, 0.03f }, { 7, 0.08f }, { 50, 0.05f },
        });
        case_with_q("q != p (12 tokens, 2 outside dist)", A, q1, 4001);

        // q == p: every candidate is accepted
        std::vector<float> q_eq(VOCAB, 0.0f);
        for (size_t i = 0; i < A.tokens.size(); i++) q_eq[(size_t) A.tokens[i]] = A.probs[i];
        const double acc = case_with_q("q == p", A, q_eq, 4002);
        std::printf("    acceptance rate with q == p: %.6f\n", acc);
        CHECK(acc > 0.999);

        // p has support where q has none (99, 8, 120 have q = 0); q has mass on 7, 50, 11 (p = 0)
        const std::vector<float> q2 = make_q({
            { 3, 0.50f }, { 17, 0.10f }, { 42, 0.10f }, { 5, 0.05f }, { 23, 0.05f }, { 61, 0.02f },
            { 77, 0.03f }, { 7, 0.05f }, { 50, 0.05f }, { 11, 0.05f },
        });
        case_with_q("dist tokens 99, 8, 120 with q = 0", A, q2, 4003);

        // dist B (a listed prob-0 token 90 that q proposes often)
        const std::vector<float> q3 = make_q({
            { 64, 0.10f }, { 11, 0.20f }, { 90, 0.30f }, { 31, 0.05f }, { 2, 0.15f }, { 57, 0.10f }, { 106, 0.10f },
        });
        case_with_q("dist B, q proposes prob-0 token 90, q(73) = 0", B, q3, 4004);
    }

    // 4. greedy: one-hot dist, the output is always the argmax
    std::printf("greedy (one-hot dist):\n");
    {
        sd_dist G;
        G.tokens = { 42 };
        G.probs  = { 1.0f };

        const std::vector<std::vector<llama_token>> cand_sets = {
            {}, { 42 }, { 17 }, { 17, 42 }, { 17, 99, 5 }, { 1000, 17, 42, 3 },
        };
        for (size_t s = 0; s < cand_sets.size(); s++) {
            const std::vector<llama_token> & cands = cand_sets[s];
            sd_rng                           rng(5000 + s);
            long long                        wrong = 0;
            int32_t                          expect_idx = -1;
            for (size_t c = 0; c < cands.size(); c++) {
                if (cands[c] == 42) { expect_idx = (int32_t) c; break; }
            }
            long long bad_idx = 0;
            for (long long i = 0; i < N_TRIALS; i++) {
                llama_token   drawn = LLAMA_TOKEN_NULL;
                const int32_t r     = sd_accept_deterministic(G, cands.data(), (int32_t) cands.size(), rng, &drawn);
                const llama_token out = r >= 0 && r < (int32_t) cands.size() ? cands[(size_t) r] : drawn;
                if (out != 42) wrong++;
                if (r != expect_idx) bad_idx++;
            }
            std::printf("  deterministic, %zu candidates (set %zu): wrong outputs=%lld, unexpected index=%lld\n",
                        cands.size(), s, wrong, bad_idx);
            CHECK(wrong == 0);
            CHECK(bad_idx == 0);
        }

        // with a drafter distribution q: candidates drawn from q, output always 42, accepted iff it is 42
        const std::vector<float> q = make_q({ { 3, 0.3f }, { 17, 0.3f }, { 42, 0.2f }, { 7, 0.2f } });
        const std::vector<double> cum = cumulative(q);
        const sd_sparse_dist      sparse = sparse_of(q);
        sd_rng                    rng(5100);
        long long                 wrong = 0, n_acc = 0, acc_wrong = 0;
        for (long long i = 0; i < N_TRIALS; i++) {
            const llama_token c     = sample_q(cum, rng);
            llama_token       drawn = LLAMA_TOKEN_NULL;
            const int32_t     r     = sd_accept_with_q(G, c, sparse, rng, &drawn);
            const llama_token out   = r == 0 ? c : drawn;
            if (out != 42) wrong++;
            if (r == 0) n_acc++;
            if ((r == 0) != (c == 42)) acc_wrong++;
        }
        std::printf("  with q: wrong outputs=%lld, accepted=%lld, accept iff candidate==42 violated=%lld\n", wrong,
                    n_acc, acc_wrong);
        CHECK(wrong == 0);
        CHECK(acc_wrong == 0);
    }

    // 6. negative controls: wrong rules must be rejected by the same test
    std::printf("negative controls (must be REJECTED):\n");
    {
        const chi2_result r1 = case_wrong_deterministic("WRONG: accept p(c), else full dist; c=3 (p=0.40)", A, 3, 6001);
        CHECK(r1.stat > r1.crit);
        const chi2_result r2 = case_wrong_deterministic("WRONG: accept p(c), else full dist; c=77 (p=0.01)", A, 77, 6002);
        CHECK(r2.stat > r2.crit);

        const std::vector<float> q1 = make_q({
            { 3, 0.15f }, { 17, 0.25f }, { 42, 0.05f }, { 5, 0.12f }, { 99, 0.02f }, { 23, 0.10f },
            { 61, 0.04f }, { 8, 0.06f }, { 120, 0.05f }, { 77, 0.03f }, { 7, 0.08f }, { 50, 0.05f },
        });
        const chi2_result r3 = case_wrong_with_q("WRONG: min(1,p/q), on rejection draw from p", A, q1, 6003);
        CHECK(r3.stat > r3.crit);
    }

    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("elapsed: %.2f s\n", secs);
    return sd_test_finish("test-accept");
}
