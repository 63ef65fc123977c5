// Medusa heads inside the engine: the ggml graph of the heads (shared by inference and training)
// and an evaluator that runs it on a backend.
//
// Head k (0-based) reads the base model's last hidden state h (after the final norm) and predicts
// the token k + 2 positions after the one h was computed for (the base model itself predicts + 1):
//
//   x = h;  for each block l:  x = x + SiLU(W[k][l] x + b[k][l]);   logits_k = O[k] x
//
// O[k] is the head's own output projection, or the base model's when the file says it is shared.
//
// Regressive heads (Clover-style) also read the tokens between: head k's input is
//
//   x = h + T[0][t_0] + ... + T[k][t_k]
//
// where t_0 is the root (the token after h's position), t_j (j > 0) the token head j - 1 proposed
// (its argmax while drafting, the true token while training) and T[j] head j's token table. Head k
// then knows every token before the one it predicts, which a plain Medusa head has to guess.
//
// A feature drafter (EAGLE-style, without attention) has one set of weights, applied at every depth
// to the hidden state it predicted at the depth before (h at depth 0) plus the token table's row of
// the token that followed it; the result is its guess of the model's next hidden state:
//
//   f_0 = h;  f_{k+1} = blocks(f_k + T[t_k]);  logits_k = O f_{k+1}
//
// With an attention window W, each depth's input also attends (one head, scaled dot product) to the
// model's own hidden states at the last W positions of the text, each with the token that followed
// it, c_j = h_{P-j} + T[x_{P-j+1}] (j = 0 is the position of h, whose token is the root):
//
//   u = f_k + T[t_k];  s_j = (Q u . K c_j) / sqrt(n_embd) + pos[j];  a = softmax(s over the valid j)
//   f_{k+1} = blocks(u + O_a sum_j a_j V c_j)
//
// The window holds what the model computed, never the drafter's guesses: the recurrence carries
// those. Positions the drafter never saw (the prompt's, steps that did not draft) are masked out. An
// entry's key and value depend on its position alone, so a drafter keeps them between drafts.
#pragma once

#include "spec-decode.h"

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

// The heads' tensors in some ggml context (weights [n_embd, n_embd], biases [n_embd], outputs
// [n_embd, n_vocab]; ggml order: ne0 is the input dimension).
struct sd_heads_tensors {
    int32_t n_heads  = 0;
    int32_t n_layers = 0;
    std::vector<ggml_tensor *> w;   // [n_heads * n_layers], head-major
    std::vector<ggml_tensor *> b;   // [n_heads * n_layers]
    std::vector<ggml_tensor *> out; // [n_heads]; all the same tensor when the output is shared
    std::vector<ggml_tensor *> tok; // [n_heads] token tables [n_embd, n_vocab]; empty unless regressive
    bool feature = false;           // a feature drafter: one set of weights (w, b, out, tok of head 0)
    int32_t window = 0;             // a feature drafter's attention window; then:
    ggml_tensor * attn[4] = {};     // query, key, value, output projections [n_embd, n_embd] (training)
    ggml_tensor * attn_pos = nullptr; // [window] score added per distance
    // or, loaded for inference, the projections merged: Q^T K and O_a V [n_embd, n_embd], so that an
    // entry's key Q^T K c is scored against u itself and its value O_a V c is added to u as it is;
    // the same scores and outputs without a projection per depth
    ggml_tensor * attn_key   = nullptr;
    ggml_tensor * attn_value = nullptr;
};

// A feature drafter's attention window, as graph inputs for n rows: hidden [n_embd, window * n] (row
// i's entries j = 0..window-1 at columns i * window + j, entry j the position j before h's),
// tokens I32 [window * n] (the token after each), mask [window, n] (0 where the entry is valid, a
// large negative value where it is not; entry 0 always valid).
// Keys and values computed before (with attn_key and attn_value when the heads have them, else with K
// and V) can stand in for entries (one row): keys and values [n_embd, window - m] hold entries
// m..window-1, hidden and tokens then only entries 0..m-1 (null when m = 0). sd_heads_graph sets
// fresh_keys and fresh_values to the keys and values it computes from hidden.
struct sd_heads_window {
    ggml_tensor * hidden = nullptr;
    ggml_tensor * tokens = nullptr;
    ggml_tensor * mask   = nullptr;
    ggml_tensor * keys   = nullptr;
    ggml_tensor * values = nullptr;
    ggml_tensor * fresh_keys   = nullptr;
    ggml_tensor * fresh_values = nullptr;
};

// What the mask adds to an entry's score: 0 when it is valid, else a value that leaves it no weight.
inline float sd_heads_window_mask(bool valid) { return valid ? 0.0f : -1e30f; }

// The names of a feature drafter's attention tensors in a heads file: the query, key, value and
// output projections, and the score per distance.
inline constexpr const char * SD_HEADS_ATTN_NAMES[4] = {"medusa.0.attn_q.weight", "medusa.0.attn_k.weight",
                                                        "medusa.0.attn_v.weight", "medusa.0.attn_output.weight"};
inline constexpr const char * SD_HEADS_ATTN_POS_NAME = "medusa.0.attn_pos.bias";

// Sets of weights a heads file holds: one per head, one for a feature drafter.
inline int32_t sd_heads_sets(const sd_heads_info & i) { return i.feature ? 1 : i.n_heads; }

// Logits of every head for the hidden states h [n_embd, n]: one tensor [n_vocab, n] per head.
// Regressive heads read tokens (I32): root [n], and either forced (n_heads - 1 tensors [n]: the
// tokens heads 1.. read, for training and held-out measurement) or, when forced is empty, each
// previous head's argmax, which then goes to *chain (n_heads - 1 tensors [n]) when given. A feature
// drafter's predicted hidden states f_1 .. f_K go to *features when given; one with an attention window
// reads it from win.
std::vector<ggml_tensor *> sd_heads_graph(ggml_context * ctx, const sd_heads_tensors & t, ggml_tensor * h,
                                          ggml_tensor * root = nullptr, const std::vector<ggml_tensor *> & forced = {},
                                          std::vector<ggml_tensor *> * chain = nullptr,
                                          std::vector<ggml_tensor *> * features = nullptr,
                                          sd_heads_window * win = nullptr);

// Loaded heads: metadata and weights in a backend buffer. Shared (read-only) by the evaluators of
// every session that uses them.
struct sd_heads_data {
    sd_heads_info           info;
    ggml_backend_dev_t      device = nullptr;
    ggml_context          * ctx    = nullptr; // the weight tensors (no data)
    ggml_backend_buffer_t   buffer = nullptr; // their data
    sd_heads_tensors        tensors;

    ~sd_heads_data();
};

struct sd_heads {
    std::shared_ptr<sd_heads_data> data;
    const sd_model *               model; // loaded for it
};

// Runs the heads for one session: its own backend instance and graph allocator (a backend is not
// safe to use from two threads at once).
struct sd_heads_evaluator {
    std::shared_ptr<sd_heads_data> data;
    ggml_backend_t  backend = nullptr;
    ggml_gallocr_t  galloc  = nullptr;
    std::vector<uint8_t> meta; // memory of the graph's context
    ggml_backend_set_n_threads_t set_n_threads = nullptr; // the backend's, when it has threads
    int32_t         n_threads = 0;

    ~sd_heads_evaluator();
};

// A backend's thread-count setter, or null when the device's backend has no threads.
ggml_backend_set_n_threads_t sd_backend_threads_fn(ggml_backend_dev_t dev);

// Runs the backend on n threads (when it has threads and n > 0).
void sd_backend_set_threads(ggml_backend_t backend, int32_t n);

// Runs the heads' next evaluations on n threads (when the backend has threads and n > 0).
void sd_heads_evaluator_threads(sd_heads_evaluator & e, int32_t n);

// The sizes a heads file may have: 1..SD_HEADS_MAX heads, 0..SD_HEADS_MAX_LAYERS blocks, a hidden
// size and a vocabulary up to these.
static constexpr int32_t SD_HEADS_MAX_EMBD  = 1 << 16;
static constexpr int32_t SD_HEADS_MAX_VOCAB = 1 << 22;
sd_status sd_heads_sizes_check(const sd_heads_info & info, std::string & error);

// A text corpus split into documents at "<|endoftext|>", each tokenized with BOS and cut into windows
// of at most n_ctx tokens; windows shorter than min_len are dropped (training reads these).
sd_status sd_read_documents(const sd_model * model, const std::string & path, int32_t n_ctx, int32_t min_len,
                            std::vector<std::vector<llama_token>> & docs, std::string & error);

// Nodes of a graph of the heads (sd_heads_graph plus room): weights being trained count as nodes.
size_t sd_heads_graph_size(int32_t n_heads, int32_t n_layers, int32_t window = 0);

// The device heads for this model run on: the model's GPU when it is offloaded to one, else the CPU.
ggml_backend_dev_t sd_heads_device(const sd_model * model);

// On the CPU the evaluator computes with `threadpool` when given (the session's, so that the heads
// and llama.cpp do not run two sets of threads), else with n_threads threads of its own.
sd_status sd_heads_evaluator_init(const std::shared_ptr<sd_heads_data> & data, int32_t n_threads,
                                  ggml_threadpool * threadpool, std::unique_ptr<sd_heads_evaluator> & out,
                                  std::string & error);

// Logits of every head for n hidden states (n_embd floats each): out[(i * n_heads + k) * n_vocab + v].
// Regressive heads read tokens[i * n_tokens + j] for row i: n_tokens = 1 gives the roots (head k > 0
// reads the previous heads' argmax, written to chain[i * (n_heads - 1) + k - 1] when chain is given),
// n_tokens = n_heads also the tokens heads 1.. read (teacher forcing). Other heads ignore tokens.
// A feature drafter with an attention window reads `window` when given (rows as sd_heads_window's,
// host arrays of window * n entries; valid[i * window + j] false masks an entry); without one, each
// row's window holds only its own hidden state and root.
// A window's keys and values depend on its entries alone, so a drafter keeps them between drafts: with
// n_fresh >= 0 (one row only), entries 0..n_fresh-1 are read from hidden and tokens and the rest from
// keys and values ([window * n_embd] each, entry j at j * n_embd, as computed before); the keys and
// values of entries 0..n_fresh-1 then go to fresh_keys and fresh_values when given (same layout).
struct sd_heads_window_input {
    const float *       hidden; // [n * window * n_embd]
    const llama_token * tokens; // [n * window]
    const uint8_t *     valid;  // [n * window]
    int32_t       n_fresh      = -1; // -1: every entry from hidden and tokens
    const float * keys         = nullptr;
    const float * values       = nullptr;
    float *       fresh_keys   = nullptr;
    float *       fresh_values = nullptr;
};
sd_status sd_heads_evaluate(sd_heads_evaluator & e, const float * hidden, const llama_token * tokens, int32_t n_tokens,
                            int32_t n, std::vector<float> & out, std::vector<llama_token> * chain, std::string & error,
                            const sd_heads_window_input * window = nullptr);
