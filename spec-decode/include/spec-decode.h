// spec-decode: generation engine on the public llama.cpp API.
//
// The engine owns the generation loop (prompt evaluation with KV-cache reuse, sampling, stop
// strings, statistics) so that every front end - the JNI library, the benchmarks, the C++ tests -
// runs the same code. Speculative drafters plug into the same loop (see DESIGN.md).
//
// Conventions (after llama.cpp): functions are sd_<noun>_<verb>, objects are created with
// _init / _load and released with _free, failures are reported as an sd_status plus a message and
// never abort the process or throw across this API.
#pragma once

#include "llama.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

enum sd_status {
    SD_OK                    = 0,
    SD_ERR_INVALID_ARGUMENT  = 1, // a parameter is out of range
    SD_ERR_MODEL_LOAD        = 2, // missing file, not a GGUF file, or llama.cpp refused it
    SD_ERR_CONTEXT_INIT      = 3, // llama.cpp could not create a context (memory, parameters)
    SD_ERR_CONTEXT_OVERFLOW  = 4, // the prompt does not fit in the context
    SD_ERR_DECODE            = 5, // llama_decode failed
    SD_ERR_TEMPLATE          = 6, // the chat template could not be applied
    SD_ERR_TOKENIZE          = 7, // text could not be tokenized
    SD_ERR_STATE             = 8, // call out of order (e.g. a step without a generation)
};

// Name of a status, for messages ("SD_ERR_DECODE").
const char * sd_status_name(sd_status status);

//
// Backend and logging
//

// Loads the ggml backends once per process (idempotent, thread-safe). Called by sd_model_load.
void sd_backend_init(void);

// Where llama.cpp's and ggml's log lines go. Each call receives one whole line without the
// trailing newline. NULL restores silence (the default: nothing is printed).
typedef void (*sd_log_callback)(enum ggml_log_level level, const char * line, void * user_data);
void sd_log_set(sd_log_callback callback, void * user_data);

//
// Model
//

struct sd_model_params {
    int32_t  n_gpu_layers = -1;   // layers to offload to a GPU; -1 = all (no effect on CPU-only builds)
    bool     use_mmap     = true; // map the file instead of reading it
    uint32_t n_ctx        = 0;    // default context size of sessions; 0 = min(training context, 4096)
    int32_t  n_threads    = 0;    // default threads of sessions; 0 = number of cores, at most 8
};

struct sd_model {
    llama_model       * model;
    const llama_vocab * vocab;
    sd_model_params     params;
};

struct sd_model_info {
    std::string name;          // general.name, or the file name
    std::string architecture;  // general.architecture
    std::string description;   // llama_model_desc
    std::string chat_template; // empty when the model has none
    uint64_t    n_params;
    uint64_t    size_bytes;
    int32_t     n_ctx_train;
    int32_t     n_vocab;
    int32_t     n_embd;
    int32_t     n_layer;
};

// Loads a GGUF model. On failure *out is NULL and error says why (file missing, not GGUF, ...).
sd_status sd_model_load(const char * path, const sd_model_params & params, sd_model ** out, std::string & error);
void      sd_model_free(sd_model * model);

sd_model_info sd_model_get_info(const sd_model * model);

// Whether `draft` can draft for `target`: the same vocabulary type, BOS/EOS tokens and their use,
// vocabulary sizes within 128 tokens and the same text for every token id both have (after the first
// few special ids). SD_OK, or SD_ERR_INVALID_ARGUMENT with error naming the first difference.
sd_status sd_model_vocab_compatible(const sd_model * target, const sd_model * draft, std::string & error);

// Tokenizes text. add_special adds BOS/EOS as the model wants; parse_special reads "<s>" etc.
sd_status sd_tokenize(const sd_model * model, const std::string & text, bool add_special, bool parse_special,
                      std::vector<llama_token> & out, std::string & error);

// Text of tokens. Invalid token ids are an error.
sd_status sd_detokenize(const sd_model * model, const std::vector<llama_token> & tokens, bool render_special,
                        std::string & out, std::string & error);

// The piece of one token as llama.cpp prints it (render_special: "<s>" instead of nothing).
sd_status sd_token_to_piece(const sd_model * model, llama_token token, bool render_special, std::string & out,
                            std::string & error);

struct sd_chat_message {
    std::string role;    // "system", "user", "assistant"
    std::string content;
};

// Renders a conversation with the model's own chat template (llama_chat_apply_template). A model
// without a template gets the plain fallback documented at sd_chat_fallback; *used_fallback tells.
sd_status sd_chat_apply(const sd_model * model, const std::vector<sd_chat_message> & messages, bool add_assistant,
                        std::string & out, bool * used_fallback, std::string & error);

// The plain format used for models without a chat template:
//   "<system>\n\n" then "User: <content>\n" / "Assistant: <content>\n" per message, then "Assistant:".
std::string sd_chat_fallback(const std::vector<sd_chat_message> & messages, bool add_assistant);

//
// Session: one llama_context, its KV cache and one generation at a time
//

struct sd_session_params {
    uint32_t n_ctx     = 0; // 0 = the model's default
    uint32_t n_batch   = 0; // tokens per llama_decode during prompt evaluation; 0 = min(512, n_ctx)
    int32_t  n_threads = 0; // 0 = the model's default
    bool     kv_f32    = false; // keys and values in F32 instead of llama.cpp's default F16 (twice the memory)
    bool     flash_attn = false; // flash attention: less memory and faster on GPUs, but its results depend
                                 // on how tokens are batched, so speculative greedy output can differ from
                                 // plain decoding's where the top two logits nearly tie
};

enum sd_spec_type {
    SD_SPEC_NONE      = 0, // plain decoding
    SD_SPEC_LOOKUP    = 1, // prompt lookup / n-gram
    SD_SPEC_RECYCLING = 2, // Token Recycling
    SD_SPEC_AUTO      = 3, // lookup, recycling and lookahead's window together, chosen by the budget
    SD_SPEC_LOOKAHEAD = 4, // lookahead decoding (Jacobi window + n-gram pool)
    SD_SPEC_DRAFT_MODEL = 5, // a second, smaller model with the same vocabulary drafts (draft_model)
};

struct sd_speculation_params {
    sd_spec_type type      = SD_SPEC_NONE;
    int32_t      max_nodes = 32;   // most draft tokens evaluated per step, in [1, 64]
    int32_t      max_depth = 8;    // most draft tokens accepted per step, in [1, 32]
    bool         adaptive  = true; // size each step's tree to the device's measured cost (the budget);
                                   // false: evaluate every proposed node up to max_nodes
    // prompt lookup
    int32_t lookup_min_ngram    = 1;
    int32_t lookup_max_ngram    = 4;
    int32_t lookup_max_branches = 4;
    // Token Recycling
    int32_t recycling_k = 8; // successors remembered per token, in [1, 8]
    // lookahead: a window of w columns x (n - 1) levels of guesses, up to g pooled n-grams per token;
    // with the budget, each step evaluates the number of columns that pays on this device (maybe none)
    int32_t lookahead_w = 8; // in [1, 32]
    int32_t lookahead_n = 4; // in [2, 16]
    int32_t lookahead_g = 8; // in [1, 32]
    // draft model: the session keeps a context on it (created at the first generation that uses it,
    // freed with the session, by sd_session_drop_draft_model, or when another draft model is used);
    // it must stay loaded meanwhile and share the target's vocabulary (sd_model_vocab_compatible)
    sd_model * draft_model    = nullptr; // not owned
    float      draft_p_min    = 0.3f;    // the chain stops before a position where the draft model's top
                                         // token is less likely than this, in [0, 1]
    float      draft_p_branch = 0.6f;    // greedy only: where the top token is less likely than this, the
                                         // runner-up is proposed beside it (a second branch); in [0, 1],
                                         // 0 = chains only. Sampling drafts chains drawn from the draft
                                         // model's distribution, verified by rejection sampling against it
};

struct sd_generation_params {
    int32_t                  max_tokens     = 256;
    std::vector<std::string> stop;                  // generation ends before the first occurrence
    float                    temperature    = 0.8f; // 0 = greedy (argmax)
    int32_t                  top_k          = 40;   // 0 = off
    float                    top_p          = 0.95f;// 1 = off
    float                    min_p          = 0.05f;// 0 = off
    float                    repeat_penalty = 1.0f; // 1 = off
    int32_t                  repeat_last_n  = 64;   // tokens the penalty looks back at
    uint32_t                 seed           = LLAMA_DEFAULT_SEED; // LLAMA_DEFAULT_SEED = random
    sd_speculation_params    spec;
    bool                     record_margins = false; // fill sd_step_result::margins (tests, benchmarks)
};

enum sd_stop_reason {
    SD_STOP_NONE         = 0, // still generating
    SD_STOP_MAX_TOKENS   = 1,
    SD_STOP_END_OF_TEXT  = 2, // the model produced an end-of-generation token
    SD_STOP_STOP_STRING  = 3,
    SD_STOP_CONTEXT_FULL = 4, // no room left in the context
    SD_STOP_CANCELLED    = 5,
};

// What one step of generation produced: one token with plain decoding, several with speculation.
struct sd_step_result {
    std::vector<llama_token> tokens;
    std::string              text;   // whole UTF-8 sequences; stop strings are never included
    sd_stop_reason           stop = SD_STOP_NONE;
    std::vector<float>       margins; // [tokens.size()] when params.record_margins: the target's top-1
                                      // minus top-2 logit (after the sampler filters) where each token was drawn
};

struct sd_stats {
    int32_t n_prompt        = 0; // prompt tokens
    int32_t n_prompt_reused = 0; // of which found in the KV cache
    int32_t n_generated     = 0; // tokens produced (not counting an end-of-generation token)
    int32_t n_steps         = 0; // decode steps of the generation phase
    int32_t n_drafted       = 0; // draft tokens proposed
    int32_t n_accepted      = 0; // draft tokens accepted
    int32_t n_aux           = 0; // auxiliary tokens evaluated beside the drafts (lookahead's window)
    int64_t t_prompt_us     = 0; // prompt evaluation
    int64_t t_first_us      = 0; // from the start of the generation to the first token
    int64_t t_gen_us        = 0; // from the first token to the last
    int64_t t_draft_us      = 0; // drafting and budget
    int64_t t_verify_us     = 0; // evaluating the model (llama_decode) in the generation phase
};

struct sd_session;

sd_status sd_session_init(sd_model * model, const sd_session_params & params, sd_session ** out, std::string & error);
void      sd_session_free(sd_session * session);

uint32_t sd_session_n_ctx(const sd_session * session);

// Tokens whose keys and values are in the KV cache, in order.
const std::vector<llama_token> & sd_session_cached_tokens(const sd_session * session);

// Forgets the KV cache.
void sd_session_reset(sd_session * session);

// Starts a generation: evaluates the part of the prompt that is not already in the KV cache (the
// longest common prefix with the cached tokens is reused) and prepares sampling.
sd_status sd_generation_begin(sd_session * session, const std::vector<llama_token> & prompt,
                              const sd_generation_params & params, std::string & error);

// Runs one step. When result.stop is not SD_STOP_NONE the generation is over.
sd_status sd_generation_step(sd_session * session, sd_step_result & result, std::string & error);

// Statistics of the current (or last) generation.
sd_stats sd_generation_stats(const sd_session * session);

// Evaluates tokens (reusing the cached prefix, like sd_generation_begin) and copies the logits of the
// last one into out (n_vocab floats). Not allowed while a generation runs.
sd_status sd_session_logits(sd_session * session, const std::vector<llama_token> & tokens, std::vector<float> & out,
                            std::string & error);

// Measures what one llama_decode costs for each batch size, with every token's logits requested (as
// a verification step does) at KV depth `depth`: the cache is filled with `depth` tokens, then each
// batch is decoded at positions depth.. and removed again, `reps` times per size after one warm-up.
// out_us[i] is the fastest time for batch_sizes[i] in microseconds (the least disturbed by other
// work on the machine). The session's KV cache is cleared. Sizes must be in [1, the session's batch size]; depth + size must fit in the context.
sd_status sd_session_measure_decode_cost(sd_session * session, const std::vector<int32_t> & batch_sizes, int32_t depth,
                                         int32_t reps, std::vector<double> & out_us, std::string & error);

// Frees the context the session keeps on `draft` for draft-model speculation (on any draft model when
// draft is NULL); call it before freeing a draft model that sessions have used. A generation running
// with that draft model fails at its next step with SD_ERR_STATE.
void sd_session_drop_draft_model(sd_session * session, const sd_model * draft);

// Asks the running generation to stop; safe from any thread. The current llama_decode is aborted
// and the next step returns SD_STOP_CANCELLED. The KV cache stays consistent.
void sd_session_cancel(sd_session * session);
