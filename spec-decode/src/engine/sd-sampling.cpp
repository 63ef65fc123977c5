#include "engine/sd-sampling.h"

#include <algorithm>
#include <cmath>

llama_sampler * sd_filter_init(int32_t n_vocab, const sd_generation_params & p, bool without_penalties) {
    llama_sampler_chain_params sparams = llama_sampler_chain_default_params();
    sparams.no_perf = true;
    llama_sampler * chain = llama_sampler_chain_init(sparams);
    if (!without_penalties && p.repeat_penalty != 1.0f && p.repeat_last_n != 0) {
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
}

void sd_sampler::reset(int32_t n_vocab, const sd_generation_params & params, const std::vector<llama_token> & history) {
    if (filter != nullptr) llama_sampler_free(filter);
    filter = sd_filter_init(n_vocab, params, false);
    greedy = params.temperature == 0.0f;
    record_margin = params.record_margins;
    const size_t n_history = std::min(history.size(), (size_t) std::max(params.repeat_last_n, 0));
    for (size_t i = history.size() - n_history; i < history.size(); i++) {
        llama_sampler_accept(filter, history[i]);
    }
}

void sd_sampler::dist(const float * logits, int32_t n_vocab, sd_dist & out) {
    const llama_token_data_array arr = sd_filter_apply(filter, logits, n_vocab, scratch);
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
}
