// Target distributions: llama.cpp's sampler filters give the candidates and their logits; the draw
// itself is ours, so that plain decoding and every acceptance rule sample the same distribution.
#include "sd-session.h"

#include <algorithm>
#include <cmath>

llama_sampler * sd_filter_init(const sd_model * m, const sd_generation_params & p) {
    llama_sampler_chain_params sparams = llama_sampler_chain_default_params();
    sparams.no_perf = true;
    llama_sampler * chain = llama_sampler_chain_init(sparams);
    if (p.repeat_penalty != 1.0f && p.repeat_last_n != 0) {
        llama_sampler_chain_add(chain, llama_sampler_init_penalties(llama_vocab_n_tokens(m->vocab), p.repeat_last_n,
                                                                    p.repeat_penalty, 0.0f, 0.0f));
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

void sd_target_dist(sd_session * s, const float * logits, sd_dist & out) {
    std::vector<llama_token_data> & cur = s->candidates;
    cur.resize((size_t) s->n_vocab);
    for (int32_t t = 0; t < s->n_vocab; t++) {
        cur[(size_t) t] = {t, logits[t], 0.0f};
    }
    llama_token_data_array arr = {cur.data(), cur.size(), -1, false};
    llama_sampler_apply(s->filter, &arr);

    out.tokens.clear();
    out.probs.clear();
    if (s->params.record_margins) {
        float top1 = -INFINITY, top2 = -INFINITY;
        for (size_t i = 0; i < arr.size; i++) {
            const float l = arr.data[i].logit;
            if (l > top1) { top2 = top1; top1 = l; } else if (l > top2) { top2 = l; }
        }
        s->margin = top1 - top2;
    }
    if (s->greedy) {
        size_t best = 0;
        for (size_t i = 1; i < arr.size; i++) {
            if (arr.data[i].logit > arr.data[best].logit ||
                (arr.data[i].logit == arr.data[best].logit && arr.data[i].id < arr.data[best].id)) {
                best = i;
            }
        }
        out.tokens.push_back(arr.data[best].id);
        out.probs.push_back(1.0f);
        return;
    }
    float max_logit = -INFINITY;
    for (size_t i = 0; i < arr.size; i++) max_logit = std::max(max_logit, arr.data[i].logit);
    double sum = 0;
    for (size_t i = 0; i < arr.size; i++) {
        if (arr.data[i].logit == -INFINITY) continue;
        const double e = std::exp((double) (arr.data[i].logit - max_logit));
        out.tokens.push_back(arr.data[i].id);
        out.probs.push_back((float) e);
        sum += e;
    }
    for (float & p : out.probs) p = (float) (p / sum);
}
