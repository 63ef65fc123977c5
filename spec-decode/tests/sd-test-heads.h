// Medusa heads built by the tests themselves (no training): identity residual blocks and the model's
// own output projection, so every head proposes the model's next-token guesses for the position
// it reads - valid drafts that are sometimes right.
#pragma once

#include "spec-decode.h"
#include "heads/sd-heads.h"
#include "model/sd-model.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

// Heads whose blocks are the identity (W = 0, b = 0) and whose output projection is the model's:
// every head then gives the model's own logits for the hidden state it reads.
static inline sd_heads_weights identity_heads(const sd_model * model, int32_t n_heads, int32_t n_layers, bool shared) {
    sd_heads_weights w;
    w.info.n_heads = n_heads;
    w.info.n_layers = n_layers;
    w.info.n_embd = llama_model_n_embd(model->model);
    w.info.n_vocab = llama_vocab_n_tokens(model->vocab);
    w.info.shared_output = shared;
    const size_t e = (size_t) w.info.n_embd;
    for (int32_t i = 0; i < n_heads * n_layers; i++) {
        w.w.emplace_back(e * e, 0.0f);
        w.b.emplace_back(e, 0.0f);
    }
    if (!shared) {
        std::vector<float> out; // the model's output projection as F32, row-major [n_vocab][n_embd]
        std::string error;
        if (sd_model_output_f32(model, out, error) != SD_OK) std::fprintf(stderr, "output projection: %s\n", error.c_str());
        for (int32_t k = 0; k < n_heads; k++) w.out.push_back(out);
    }
    return w;
}

// Regressive identity heads: token tables of small fixed pseudo-random values (at most `scale` in
// magnitude), so that a head's candidates depend on the tokens it reads.
static inline sd_heads_weights regressive_heads(const sd_model * model, int32_t n_heads, int32_t n_layers, bool shared,
                                                float scale) {
    sd_heads_weights w = identity_heads(model, n_heads, n_layers, shared);
    w.info.regressive = true;
    const size_t n = (size_t) w.info.n_vocab * (size_t) w.info.n_embd;
    for (int32_t k = 0; k < n_heads; k++) {
        std::vector<float> t(n);
        for (size_t i = 0; i < n; i++) {
            const double noise = std::sin((double) (i + 7919 * (size_t) k) * 12.9898) * 43758.5453;
            t[i] = scale * (float) (2.0 * (noise - std::floor(noise)) - 1.0);
        }
        w.tok.push_back(std::move(t));
    }
    return w;
}

// A feature drafter of n_heads depths: one set of weights, identity blocks, a token table like
// regressive_heads' first one.
static inline sd_heads_weights feature_heads(const sd_model * model, int32_t n_heads, int32_t n_layers, float scale) {
    sd_heads_weights w = regressive_heads(model, 1, n_layers, true, scale);
    w.info.n_heads = n_heads;
    w.info.feature = true;
    return w;
}

// A feature drafter with an attention window: feature_heads' weights plus query, key, value and output
// projections of fixed pseudo-random values (at most `scale` in magnitude) and a score per distance
// that falls with it.
static inline sd_heads_weights feature_attention_heads(const sd_model * model, int32_t n_heads, int32_t n_layers,
                                                       float scale, int32_t window) {
    sd_heads_weights w = feature_heads(model, n_heads, n_layers, scale);
    w.info.window = window;
    const size_t n = (size_t) w.info.n_embd * (size_t) w.info.n_embd;
    for (int32_t j = 0; j < 4; j++) {
        std::vector<float> m(n);
        for (size_t i = 0; i < n; i++) {
            const double noise = std::sin((double) (i + 104729 * (size_t) (j + 1)) * 78.233) * 43758.5453;
            m[i] = scale * (float) (2.0 * (noise - std::floor(noise)) - 1.0);
        }
        w.attn.push_back(std::move(m));
    }
    for (int32_t j = 0; j < window; j++) w.attn_pos.push_back(-0.25f * (float) j);
    return w;
}

// Writes heads for the model to a temporary file and loads them (nullptr on failure).
static inline sd_heads * heads_load(const sd_model * model, const sd_heads_weights & w) {
    const std::string path = "/tmp/llamaspec-test-heads-" + std::to_string((long) getpid()) + ".gguf";
    std::string error;
    sd_heads * heads = nullptr;
    if (sd_heads_save(path.c_str(), model, w, error) != SD_OK ||
        sd_heads_load(path.c_str(), model, &heads, error) != SD_OK) {
        std::fprintf(stderr, "test heads: %s\n", error.c_str());
    }
    std::remove(path.c_str());
    return heads;
}

// Identity heads for the model, loaded (nullptr on failure).
static inline sd_heads * identity_heads_load(const sd_model * model, int32_t n_heads, bool shared) {
    return heads_load(model, identity_heads(model, n_heads, 1, shared));
}
