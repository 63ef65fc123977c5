#include "engine/sd-sampling.h"
#include "model/sd-log.h"
#include "model/sd-model.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#ifndef _WIN32
#include <unistd.h>
#endif
#include <cmath>

// Whether sd_filter_init puts the repetition penalty first in the chain (sd_filter_first_k reads it too).
static bool has_penalties(const sd_generation_params & p, bool without_penalties) {
    return !without_penalties && p.repeat_penalty != 1.0f && p.repeat_last_n != 0;
}

llama_sampler * sd_filter_init(int32_t n_vocab, const sd_generation_params & p, bool without_penalties) {
    llama_sampler_chain_params sparams = llama_sampler_chain_default_params();
    sparams.no_perf = true;
    llama_sampler * chain = llama_sampler_chain_init(sparams);
    if (has_penalties(p, without_penalties)) {
        llama_sampler_chain_add(chain, llama_sampler_init_penalties(n_vocab, p.repeat_last_n, p.repeat_penalty, 0.0f, 0.0f));
    }
    if (p.temperature == 0.0f) {
        return chain; // greedy: the argmax after the penalties
    }
    if (p.top_k > 0) {
        llama_sampler_chain_add(chain, llama_sampler_init_top_k(p.top_k));
    }
    if (p.top_p < 1.0f) {
        llama_sampler_chain_add(chain, llama_sampler_init_top_p(p.top_p, 1));
    }
    if (p.min_p > 0.0f) {
        llama_sampler_chain_add(chain, llama_sampler_init_min_p(p.min_p, 1));
    }
    llama_sampler_chain_add(chain, llama_sampler_init_temp(p.temperature));
    return chain;
}

llama_token_data_array sd_filter_apply(llama_sampler * filter, const float * logits, int32_t n,
                                       std::vector<llama_token_data> & scratch) {
    scratch.resize((size_t) n);
    for (int32_t t = 0; t < n; t++) {
        scratch[(size_t) t] = {t, logits[t], 0.0f};
    }
    llama_token_data_array arr = {scratch.data(), scratch.size(), -1, false};
    if (filter != nullptr) llama_sampler_apply(filter, &arr);
    return arr;
}

int32_t sd_filter_first_k(const sd_generation_params & p, bool without_penalties) {
    return p.temperature == 0.0f || has_penalties(p, without_penalties) || p.top_k <= 0 ? 0 : p.top_k;
}

static void top_k_pairs(const float * logits, int32_t n, int32_t k, std::vector<std::pair<float, int32_t>> & buf);

llama_token_data_array sd_filter_apply_top(llama_sampler * filter, int32_t first_k, const float * logits, int32_t n,
                                           std::vector<llama_token_data> & scratch,
                                           std::vector<std::pair<float, int32_t>> & top_scratch) {
    if (first_k <= 0 || first_k >= n) return sd_filter_apply(filter, logits, n, scratch);
    top_k_pairs(logits, n, first_k, top_scratch);
    scratch.resize((size_t) first_k);
    for (int32_t i = 0; i < first_k; i++) scratch[(size_t) i] = {-top_scratch[(size_t) i].second, top_scratch[(size_t) i].first, 0.0f};
    // not marked sorted: the chain's own top-k then keeps all of them, whatever it assumes of the order
    llama_token_data_array arr = {scratch.data(), scratch.size(), -1, false};
    if (filter != nullptr) llama_sampler_apply(filter, &arr);
    return arr;
}

void sd_softmax(const llama_token_data_array & arr, int32_t n_limit, sd_dist & out) {
    out.tokens.clear();
    out.probs.clear();
    float max_logit = -INFINITY;
    for (size_t i = 0; i < arr.size; i++) {
        if (arr.data[i].id < n_limit) max_logit = std::max(max_logit, arr.data[i].logit);
    }
    if (max_logit == -INFINITY) return;
    double sum = 0;
    for (size_t i = 0; i < arr.size; i++) {
        if (arr.data[i].id >= n_limit || arr.data[i].logit == -INFINITY) continue;
        const double e = std::exp((double) (arr.data[i].logit - max_logit));
        out.tokens.push_back(arr.data[i].id);
        out.probs.push_back((float) e);
        sum += e;
    }
    for (float & p : out.probs) p = (float) (p / sum);
}

float sd_top2_margin(const llama_token_data_array & arr) {
    float top1 = -INFINITY, top2 = -INFINITY;
    for (size_t i = 0; i < arr.size; i++) {
        const float l = arr.data[i].logit;
        if (l > top1) { top2 = top1; top1 = l; } else if (l > top2) { top2 = l; }
    }
    return top1 - top2;
}

llama_token sd_argmax(const llama_token_data_array & arr) {
    size_t best = 0;
    for (size_t i = 1; i < arr.size; i++) {
        if (arr.data[i].logit > arr.data[best].logit ||
            (arr.data[i].logit == arr.data[best].logit && arr.data[i].id < arr.data[best].id)) {
            best = i;
        }
    }
    return arr.size > 0 ? arr.data[best].id : LLAMA_TOKEN_NULL;
}

sd_sampler::~sd_sampler() {
    if (filter != nullptr) llama_sampler_free(filter);
    if (grammar != nullptr) llama_sampler_free(grammar);
}

// llama.cpp expands a repetition x{m,n} into n copies of x: a count in the millions would take the
// process's memory and time before any message. The counts are checked first (outside literals,
// character classes and comments).
static const long k_max_repetition = 10000;

static bool repetitions_ok(const std::string & g, std::string & error) {
    for (size_t i = 0; i < g.size(); i++) {
        const char c = g[i];
        if (c == '"' || c == '[') {
            const char end = c == '"' ? '"' : ']';
            for (i++; i < g.size() && g[i] != end; i++) {
                if (g[i] == '\\') i++;
            }
        } else if (c == '#') {
            while (i < g.size() && g[i] != '\n') i++;
        } else if (c == '{') {
            size_t j = i + 1;
            while (j < g.size() && g[j] != '}' && g[j] != '"' && g[j] != '[') {
                if (std::isdigit((unsigned char) g[j])) {
                    size_t k = j;
                    while (k < g.size() && std::isdigit((unsigned char) g[k])) k++;
                    if (k - j > 9 || std::stol(g.substr(j, k - j)) > k_max_repetition) {
                        sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the grammar repeats an element " + g.substr(j, k - j) +
                                " times: at most " + std::to_string(k_max_repetition) + " are allowed");
                        return false;
                    }
                    j = k;
                } else {
                    j++;
                }
            }
            i = j;
        }
    }
    return true;
}

// llama.cpp's grammar parser prints what is wrong to the process's stderr (fprintf), not to its log:
// while it runs, stderr goes to a temporary file, from which the message is taken; whatever else was
// written there meanwhile (another thread's output) goes on to stderr afterwards.
static std::mutex g_stderr_mutex;

static llama_sampler * init_capturing_stderr(const llama_vocab * vocab, const std::string & gbnf, std::string & parser_error) {
#ifdef _WIN32
    return llama_sampler_init_grammar(vocab, gbnf.c_str(), "root");
#else
    std::lock_guard<std::mutex> lock(g_stderr_mutex);
    std::fflush(stderr);
    FILE * tmp = std::tmpfile();
    const int saved = tmp != nullptr ? dup(2) : -1;
    const bool capturing = saved >= 0 && dup2(fileno(tmp), 2) >= 0;
    llama_sampler * grammar = llama_sampler_init_grammar(vocab, gbnf.c_str(), "root");
    std::fflush(stderr);
    if (capturing) dup2(saved, 2);
    if (saved >= 0) close(saved);
    if (tmp == nullptr) return grammar;
    std::string text;
    std::rewind(tmp);
    char buffer[4096];
    for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, tmp)) > 0;) text.append(buffer, n);
    std::fclose(tmp);
    const std::string marker = "error parsing grammar: ";
    const size_t at = text.find(marker);
    if (at != std::string::npos) {
        const size_t line_start = text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
        const size_t line_end = text.find('\n', at);
        parser_error = text.substr(at + marker.size(), line_end == std::string::npos ? std::string::npos
                                                                                      : line_end - at - marker.size());
        // the parser's block: its line, a blank line, the grammar's text
        const std::string block = text.substr(line_start, line_end == std::string::npos ? std::string::npos
                                                                                          : line_end + 1 - line_start) +
                                  "\n" + gbnf + "\n";
        if (text.compare(line_start, block.size(), block) == 0) text.erase(line_start, block.size());
        else text.erase(line_start, line_end == std::string::npos ? std::string::npos : line_end + 1 - line_start);
    }
    if (!text.empty()) {
        const ssize_t ignored = write(2, text.data(), text.size());
        (void) ignored;
    }
    return grammar;
#endif
}

static llama_sampler * grammar_init(const llama_vocab * vocab, const std::string & gbnf, std::string & error) {
    if (!repetitions_ok(gbnf, error)) return nullptr;
    sd_log_take_last_error();
    std::string parser_error;
    llama_sampler * grammar = init_capturing_stderr(vocab, gbnf, parser_error);
    if (grammar == nullptr) {
        const std::string why = !parser_error.empty() ? parser_error : sd_log_take_last_error();
        sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the grammar is not valid GBNF with a rule 'root'" +
                (why.empty() ? std::string() : ": " + why));
    }
    return grammar;
}

sd_status sd_grammar_check(const sd_model * model, const std::string & gbnf, std::string & error) {
    if (model == nullptr) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "no model");
    if (gbnf.empty()) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the grammar is empty");
    llama_sampler * grammar = grammar_init(model->vocab, gbnf, error);
    if (grammar == nullptr) return SD_ERR_INVALID_ARGUMENT;
    llama_sampler_free(grammar);
    return SD_OK;
}

sd_status sd_sampler::reset(const llama_vocab * vocab, int32_t n_vocab, const sd_generation_params & params,
                            const std::vector<llama_token> & history, std::string & error) {
    if (filter != nullptr) llama_sampler_free(filter);
    if (grammar != nullptr) llama_sampler_free(grammar);
    filter = nullptr;
    grammar = nullptr;
    dead_end = false;
    if (!params.grammar.empty()) {
        grammar = grammar_init(vocab, params.grammar, error);
        if (grammar == nullptr) return SD_ERR_INVALID_ARGUMENT;
    }
    filter = sd_filter_init(n_vocab, params, false);
    first_k = sd_filter_first_k(params, false);
    greedy = params.temperature == 0.0f;
    record_margin = params.record_margins;
    const size_t n_history = std::min(history.size(), (size_t) std::max(params.repeat_last_n, 0));
    for (size_t i = history.size() - n_history; i < history.size(); i++) {
        llama_sampler_accept(filter, history[i]);
    }
    return SD_OK;
}

// The logits are read in blocks of this many: a block none of which can change the answer costs one
// vectorized comparison per logit.
static constexpr int32_t k_block = 32;

llama_token sd_logits_argmax(const float * logits, int32_t n, llama_token * second) {
    int32_t best = -1, next = -1;
    float top1 = -INFINITY, top2 = -INFINITY;
    const auto offer = [&](int32_t t) {
        const float l = logits[t];
        if (l > top1) {
            top2 = top1;
            next = best;
            top1 = l;
            best = t;
        } else if (l > top2) {
            top2 = l;
            next = t;
        }
    };
    int32_t t = 0;
    for (; t + k_block <= n; t += k_block) {
        // a logit not above the runner-up changes neither
        bool any = false;
        for (int32_t j = 0; j < k_block; j++) any |= logits[t + j] > top2;
        if (!any) continue;
        for (int32_t j = 0; j < k_block; j++) offer(t + j);
    }
    for (; t < n; t++) offer(t);
    if (second != nullptr) *second = next;
    return best;
}

// The k best of logits[0..n) (k <= n) as (logit, -id) pairs, best first, in buf[0..k): the larger logit,
// of equal logits the lower id. The first k are kept; after them a logit is kept when it is above the
// floor, which starts at the lowest of those k or just below the k-th largest of 64 group maxima over
// the row's opening, whichever is higher, and rises to the k-th best kept whenever 2k (at least k + 16)
// are kept and cut down to their k best (a later logit equal to it has a higher id, so it cannot
// enter). A block of logits none of which is above the floor costs one vectorized comparison each; in
// the others a logit is written and counted when kept, without a branch. Measured in a decoding loop
// with stories260K's logits (where the cache holds the model's work, not this code), this takes 1.4 us
// for the top 8 and 5.1 us for the top 40 of 512, against 2.8 and 11.7 with a heap of k.
static void top_k_pairs(const float * logits, int32_t n, int32_t k, std::vector<std::pair<float, int32_t>> & buf) {
    const auto better = [](const std::pair<float, int32_t> & a, const std::pair<float, int32_t> & b) { return a > b; };
    const size_t cap = (size_t) (k + std::max(k, 16));
    if (buf.size() < cap + k_block) buf.resize(cap + k_block);
    std::pair<float, int32_t> * kept = buf.data();
    size_t m = 0;
    float floor = INFINITY;
    int32_t t = 0;
    for (; t < k; t++) {
        kept[m++] = {logits[t], -t};
        floor = std::min(floor, logits[t]);
    }
    // A first floor from the row's opening (up to 2,048 logits in 64 groups): at least k logits reach
    // the k-th largest of the groups' maxima, so a logit below it is not among the k best. (A model's
    // first ids are often control tokens with its lowest logits, which would otherwise be the floor.)
    const int32_t n_groups = 64;
    const int32_t group = std::min(n, 2048) / n_groups;
    if (k <= n_groups && group > 0) {
        float maxima[n_groups];
        for (int32_t g = 0; g < n_groups; g++) {
            float best = -INFINITY;
            for (int32_t j = 0; j < group; j++) best = std::max(best, logits[g * group + j]);
            maxima[g] = best;
        }
        std::nth_element(maxima, maxima + (k - 1), maxima + n_groups, std::greater<float>());
        // kept from here: the logits above the floor, which are those that reach the k-th maximum
        floor = std::max(floor, std::nextafter(maxima[k - 1], -INFINITY));
    }
    for (; t + k_block <= n; t += k_block) {
        bool any = false;
        for (int32_t j = 0; j < k_block; j++) any |= logits[t + j] > floor;
        if (!any) continue;
        for (int32_t j = 0; j < k_block; j++) {
            // written whether or not it is kept: no branch to mispredict
            kept[m] = {logits[t + j], -(t + j)};
            m += logits[t + j] > floor;
        }
        if (m >= cap) {
            std::nth_element(kept, kept + (k - 1), kept + m, better);
            m = (size_t) k;
            floor = kept[k - 1].first;
        }
    }
    // fewer than cap were kept after the last block: the rest fits in the k_block beyond
    for (; t < n; t++) {
        kept[m] = {logits[t], -t};
        m += logits[t] > floor;
    }
    if (m > (size_t) k) std::nth_element(kept, kept + (k - 1), kept + m, better);
    std::sort(kept, kept + k, better);
}

void sd_logits_top_k(const float * logits, int32_t n, int32_t k, std::vector<std::pair<float, int32_t>> & scratch,
                     llama_token * out) {
    const int32_t m = std::max(0, std::min(k, n));
    if (m > 0) top_k_pairs(logits, n, m, scratch);
    for (int32_t i = 0; i < k; i++) out[i] = i < m ? -scratch[(size_t) i].second : -1;
}

// exp(x) for x <= 0: 2^r e^f with r = round(x log2 e) and |f| <= ln 2 / 2, e^f by its Taylor polynomial
// of degree 6 (relative error under 4e-6), 2^r built in the float's exponent bits; x below -87 (where
// floats run out) is taken as -87.
static inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float y = x * 1.44269504088896341f;
    const float r = (y + 12582912.0f) - 12582912.0f; // 1.5 x 2^23: rounds y to an integer
    const float f = (y - r) * 0.693147180559945309f;
    float p = 1.0f / 720.0f;
    p = p * f + 1.0f / 120.0f;
    p = p * f + 1.0f / 24.0f;
    p = p * f + 1.0f / 6.0f;
    p = p * f + 0.5f;
    p = p * f + 1.0f;
    p = p * f + 1.0f;
    const int32_t bits = ((int32_t) r + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

double sd_logits_exp_sum(const float * logits, int32_t n, float max) {
    // k_block partial sums in float (no term exceeds 1) over at most 1,024 logits, their totals in double
    double sum = 0;
    int32_t t = 0;
    while (t + k_block <= n) {
        float partial[k_block] = {};
        const int32_t end = std::min(n - n % k_block, t + 32 * k_block);
        for (; t < end; t += k_block) {
            for (int32_t j = 0; j < k_block; j++) partial[j] += exp_nonpositive(logits[t + j] - max);
        }
        for (float p : partial) sum += p;
    }
    for (; t < n; t++) sum += exp_nonpositive(logits[t] - max);
    return sum;
}

void sd_sampler::dist(const float * logits, int32_t n_vocab, sd_dist & out) {
    if (greedy && grammar == nullptr && llama_sampler_chain_n(filter) == 0) {
        // greedy without a grammar and without penalties: the argmax and the margin straight from the
        // logits, not copied into candidates first (12 bytes a token, 1.8 MB a visited node at 150,000)
        dead_end = false;
        llama_token second = -1;
        const llama_token best = sd_logits_argmax(logits, n_vocab, record_margin ? &second : nullptr);
        if (record_margin) margin = best < 0 ? 0.0f : second < 0 ? INFINITY : logits[best] - logits[second];
        out.tokens.assign(1, best < 0 ? 0 : best);
        out.probs.assign(1, 1.0f);
        return;
    }
    if (grammar == nullptr && first_k > 0) {
        // sampled without a grammar, the filters beginning with top-k: only the k largest logits are read
        // further (152,064 tokens: 196 us a visited node through a copy of them all, 26 us this way)
        dead_end = false;
        const llama_token_data_array arr = sd_filter_apply_top(filter, first_k, logits, n_vocab, scratch, top_scratch);
        if (record_margin) margin = sd_top2_margin(arr);
        sd_softmax(arr, n_vocab, out);
        return;
    }
    llama_token_data_array arr = sd_filter_apply(nullptr, logits, n_vocab, scratch); // the filters come after the grammar
    dead_end = false;
    if (grammar != nullptr) {
        llama_sampler_apply(grammar, &arr);
        bool any = false;
        for (size_t i = 0; i < arr.size && !any; i++) any = arr.data[i].logit != -INFINITY;
        if (!any) {
            dead_end = true;
            margin = 0.0f;
            out.tokens.clear();
            out.probs.clear();
            return;
        }
    }
    llama_sampler_apply(filter, &arr);
    if (record_margin) margin = sd_top2_margin(arr);
    if (greedy) {
        out.tokens.assign(1, sd_argmax(arr));
        out.probs.assign(1, 1.0f);
        return;
    }
    sd_softmax(arr, n_vocab, out);
}

void sd_sampler::accept(llama_token token) {
    llama_sampler_accept(filter, token);
    if (grammar != nullptr) llama_sampler_accept(grammar, token);
}

bool sd_sampler::allows(llama_sampler * state, llama_token token) {
    llama_token_data one = {token, 0.0f, 0.0f};
    llama_token_data_array arr = {&one, 1, -1, false};
    llama_sampler_apply(state, &arr);
    return arr.data[0].logit != -INFINITY;
}
