// spec-decode: generation engine on the public llama.cpp API.
//
// The engine owns the generation loop (prompt evaluation with KV-cache reuse, sampling, stop
// strings, statistics) so that every front end - the JNI library, the benchmarks, the C++ tests -
// runs the same code. Speculative drafters plug into the same loop (see docs/engine.md).
//
// Conventions (after llama.cpp): functions are sd_<noun>_<verb>, objects are created with
// _init / _load and released with _free, parameters come from sd_*_default_params(), failures are
// reported as an sd_status plus a message and never abort the process or throw across this API.
#pragma once

#include "llama.h"

#include <cstdint>
#include <string>
#include <utility>
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
    SD_ERR_SESSION_FILE      = 9, // a saved session cannot be written, or read back into this session
    SD_ERR_RPC               = 10, // an RPC server cannot be reached, or went away (the model is then unusable)
};

// Name of a status, for messages ("SD_ERR_DECODE").
const char * sd_status_name(sd_status status);

//
// Backend and logging
//

// Loads the ggml backends once per process (idempotent, thread-safe). Called by sd_model_load.
// From the folders in the environment variable LLAMASPEC_BACKEND_DIR when set, else from those given
// to sd_backend_set_dir, else where ggml looks by default (ggml_backend_load_all). Folders are
// separated by ':' and loaded in order.
void sd_backend_init(void);

// The folders of ggml's backends to load, separated by ':' (a Java jar extracts the ones it carries,
// the optional Vulkan jar its own); takes effect when called before the backends are loaded (before
// the first model). False when they are loaded already.
bool sd_backend_set_dir(const char * dir);

// The ggml backends loaded (loading them first, like sd_model_load): each backend's name and how many
// devices it found. A GPU backend with no device (no driver) is listed with 0.
struct sd_backend_info {
    std::string name;
    size_t      n_devices = 0;
};
std::vector<sd_backend_info> sd_backends(void);

// Where llama.cpp's and ggml's log lines go. Each call receives one whole line without the
// trailing newline. NULL restores silence (the default: nothing is printed).
typedef void (*sd_log_callback)(enum ggml_log_level level, const char * line, void * user_data);
void sd_log_set(sd_log_callback callback, void * user_data);

//
// Named settings
//
// Every number a front end passes to the engine (model, session, generation with its speculation,
// training) has a name, a range and a default in one table per params struct: sd_*_default_params()
// fill a struct from its table, sd_*_set() set one value by name, checked against its range, and
// front ends read the tables instead of repeating ranges and defaults.
//

enum sd_setting_type {
    SD_SETTING_INT   = 0,
    SD_SETTING_FLOAT = 1,
    SD_SETTING_BOOL  = 2,
};

struct sd_setting {
    const char *    name;     // "max_tokens", "spec.lookahead.w", ... (a dot enters a sub-struct)
    sd_setting_type type;
    double          min;      // the allowed range; an open end excludes its bound
    double          max;
    bool            min_open;
    bool            max_open;
    bool            zero_ok;  // 0 is allowed besides the range (it stands for "the default")
    double          def;      // the default
};

// Whether value is allowed (in range, and whole for an integer or boolean setting).
bool sd_setting_allows(const sd_setting & setting, double value);

// "<label> must be in [min, max], got <value>" (brackets as the range's ends; "an integer in"
// for integer settings given a fraction).
std::string sd_setting_error(const sd_setting & setting, const std::string & label, double value);

//
// Model
//

struct sd_model_params {
    int32_t  n_gpu_layers; // layers to offload to a GPU; -1 = all (no effect on CPU-only builds)
    bool     use_mmap;     // map the file instead of reading it
    uint32_t n_ctx;        // default context size of sessions; 0 = min(training context, 4096)
    int32_t  n_threads;    // default threads of sessions; 0 = automatic: up to the number of cores, at
                           // most 8, shared among the sessions decoding at the moment and lowered
                           // while other programs keep the cores busy (see sd_session_params)
    uint32_t rpc_timeout_ms; // with rpc_servers: how long one remote operation may take (a batch's
                             // evaluation included) before the server is given up
    // ggml-rpc-server addresses ("host:port"): the layers are split over them (and the local GPUs) as
    // llama.cpp splits them over devices. A server that goes away makes the model unusable (SD_ERR_RPC).
    std::vector<std::string> rpc_servers;
};

const std::vector<sd_setting> & sd_model_settings(void);
sd_model_params sd_model_default_params(void);
sd_status       sd_model_set(sd_model_params & params, const char * name, double value, std::string & error);

// A loaded model.
struct sd_model;

struct sd_model_info {
    std::string name;          // general.name, or the file name
    std::string architecture;  // general.architecture
    std::string description;   // llama_model_desc
    std::string chat_template; // empty when the model has none
    int32_t     token_bos;     // the BOS token, LLAMA_TOKEN_NULL (-1) when the model has none
    int32_t     token_eos;     // the EOS token, LLAMA_TOKEN_NULL when the model has none
    bool        add_bos;       // the tokenizer puts BOS before a prompt (llama_vocab_get_add_bos)
    bool        add_eos;       // the tokenizer puts EOS after a prompt (llama_vocab_get_add_eos)
    uint64_t    n_params;
    uint64_t    size_bytes;
    int32_t     n_ctx_train;
    int32_t     n_vocab;
    int32_t     n_embd;
    int32_t     n_layer;
    // The devices the model's layers are on, as "NAME (description)": the GPUs ggml's loaded backends
    // offer when n_gpu_layers is not 0 (llama.cpp offloads to all of them), and the CPU, which holds
    // what is not offloaded. Only the CPU when no GPU backend is loaded, whatever n_gpu_layers says.
    std::vector<std::string> devices;
};

// Loads a GGUF model. On failure *out is NULL and error says why (file missing, not GGUF, ...).
sd_status sd_model_load(const char * path, const sd_model_params & params, sd_model ** out, std::string & error);
void      sd_model_free(sd_model * model);
// Whether the model cannot be used any more (an RPC server went away), and why.
bool      sd_model_failure(const sd_model * model, std::string & why);

sd_model_info       sd_model_get_info(const sd_model * model);
const llama_model * sd_model_llama(const sd_model * model);
const char *        sd_model_path(const sd_model * model);

// A fingerprint of a model's identity: its architecture, sizes, vocabulary and output projection
// (computed on first use and kept). Medusa heads carry the fingerprint of the model they were made for.
sd_status sd_model_fingerprint(const sd_model * model, std::string & out, std::string & error);

// Fingerprint of a model file, without loading it (tools that write files for a model).
sd_status sd_fingerprint_file(const char * path, std::string & out, std::string & error);

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

// Whether the model has a chat template that llama_chat_apply_template recognises (one of llama.cpp's
// built-in formats), so that sd_chat_apply renders it; others need a Jinja engine.
bool sd_chat_builtin(const sd_model * model);

// Renders a conversation with the model's own chat template (llama_chat_apply_template). A model
// without a template gets the plain fallback documented at sd_chat_fallback; *used_fallback tells.
// SD_ERR_TEMPLATE when llama.cpp does not recognise the template (sd_chat_builtin).
sd_status sd_chat_apply(const sd_model * model, const std::vector<sd_chat_message> & messages, bool add_assistant,
                        std::string & out, bool * used_fallback, std::string & error);

// The plain format used for models without a chat template:
//   "<system>\n\n" then "User: <content>\n" / "Assistant: <content>\n" per message, then "Assistant:".
std::string sd_chat_fallback(const std::vector<sd_chat_message> & messages, bool add_assistant);

//
// Medusa heads (the file format is documented in docs/medusa-heads.md)
//

// What a heads file holds.
struct sd_heads_info {
    int32_t     n_heads  = 0;  // K: head k predicts the token k + 2 positions ahead
    int32_t     n_layers = 0;  // residual blocks per head
    int32_t     n_embd   = 0;  // hidden size of the base model
    int32_t     n_vocab  = 0;  // vocabulary size of the base model
    bool        shared_output = false; // the heads use the base model's output projection
    bool        regressive = false; // Clover-style: head k also reads the tokens before the one it
                                    // predicts (the root and the previous heads' proposals), each
                                    // through a token table of its own, added to the hidden state
    bool        feature = false;    // EAGLE-style feature drafter (implies regressive): one set of
                                    // weights (head 0's) applied at every depth to the previous
                                    // depth's predicted hidden state and the token after it; "head" k
                                    // is depth k of that recurrence
    int32_t     window = 0;         // a feature drafter's attention window: each depth also attends
                                    // to the model's hidden states at the last `window` positions
                                    // (with the tokens after them); 0 = no attention
    std::string fingerprint;   // of the base model (sd_model_fingerprint)
    std::string base_name;     // the base model's general.name when the heads were made
    std::vector<float> accuracy; // [n_heads * SD_HEADS_RANKS] or empty: accuracy[k * SD_HEADS_RANKS + r] is
                                 // how often head k's rank-r candidate was the right token (held-out text)
};

static constexpr int32_t SD_HEADS_MAX        = 16; // heads per file
static constexpr int32_t SD_HEADS_MAX_LAYERS = 8;
static constexpr int32_t SD_HEADS_RANKS      = 10; // ranks recorded in sd_heads_info::accuracy
static constexpr int32_t SD_HEADS_MAX_WINDOW = 64; // a feature drafter's attention window at most

// Host copy of heads' weights, F32, for writing and reading files (training, importing, widening).
// Matrices are row-major [out][in]: w[k * n_layers + l] has n_embd * n_embd values, out[k] has
// n_vocab * n_embd (empty when shared_output), tok[k] n_vocab * n_embd (row v: what token v adds to
// head k's input; empty unless regressive). A feature drafter has one set (k = 0 only); with an
// attention window it also has attn (the query, key, value and output projections, n_embd * n_embd
// each, row-major [out][in]) and attn_pos (window values: what each distance adds to an attention
// score, distance 0 first).
struct sd_heads_weights {
    sd_heads_info                   info;
    std::vector<std::vector<float>> w;
    std::vector<std::vector<float>> b;
    std::vector<std::vector<float>> out;
    std::vector<std::vector<float>> tok;
    std::vector<std::vector<float>> attn;
    std::vector<float>              attn_pos;
};

// Heads loaded for one model.
struct sd_heads;

// Loads heads for a model; fails with a message naming the mismatch when they were made for
// another model (hidden size, vocabulary, fingerprint) or the file is not a valid heads file.
// This is where heads and model are matched; generation only checks that the heads were loaded
// for the session's model.
sd_status sd_heads_load(const char * path, const sd_model * model, sd_heads ** out, std::string & error);
void      sd_heads_free(sd_heads * heads);
sd_heads_info sd_heads_get_info(const sd_heads * heads);

// Writes heads made for `model` (its fingerprint and name are recorded). Sizes are checked.
sd_status sd_heads_save(const char * path, const sd_model * model, const sd_heads_weights & weights, std::string & error);

// Same, with the fingerprint and base name taken from weights.info (for tools that widen heads).
sd_status sd_heads_save_raw(const char * path, const sd_heads_weights & weights, std::string & error);

// Reads a heads file into host memory (no model check). A shared output stays shared (out empty).
sd_status sd_heads_read(const char * path, sd_heads_weights & out, std::string & error);

// Where one tensor of heads weights lies in a file of another format (for importers): its values,
// little-endian and row-major like sd_heads_weights, start `offset` bytes into the file.
struct sd_heads_source {
    uint64_t  offset = 0;
    ggml_type type   = GGML_TYPE_F32; // F32, F16 or BF16
};

// Reads heads weights from a file of another format (Medusa's safetensors): weights.info gives the
// sizes, sources[i] where the i-th tensor lies, in the order of the heads file (for each head the
// weight and bias of each block, then its output projection unless shared). The values are
// converted to F32 into weights.w, .b and .out. Fails, naming the tensor, when one lies past the
// end of the file.
sd_status sd_heads_read_from(const char * path, const std::vector<sd_heads_source> & sources,
                             sd_heads_weights & weights, std::string & error);

// Logits of every head for n hidden states of the model (n_embd floats each), computed with ggml on
// the heads' backend: out[(i * n_heads + k) * n_vocab + v]. Regressive heads also need root[i], the
// token that followed hidden state i (NULL is refused for them and ignored otherwise); their head
// k > 0 reads the previous heads' best tokens, as in drafting. For tests and tools; generation uses
// the heads through a session.
sd_status sd_heads_logits(const sd_heads * heads, const float * hidden, const llama_token * root, int32_t n,
                          std::vector<float> & out, std::string & error);

//
// Medusa heads: training by self-distillation (the base model's own greedy predictions are the labels)
//

struct sd_train_params {
    std::string corpus;         // path of a UTF-8 text file; "<|endoftext|>" separates documents
    int32_t  n_heads;           // heads to train
    int32_t  n_layers;          // residual blocks per head
    int32_t  n_steps;           // optimizer steps
    float    max_minutes;       // budget of the whole run in minutes; 0 = none. Reading the corpus stops
                                // at 40% of it and the schedule is shortened to fit
    int32_t  batch;             // examples per step
    float    lr;                // peak learning rate (AdamW)
    float    warmup;            // share of the steps with a linear warm-up; then cosine decay to lr / 10
    float    weight_decay;      // AdamW's decoupled weight decay
    int32_t  n_ctx;             // tokens per sequence the base model reads; 0 = the model's training
                                // context, at most 512. Longer documents are cut
    int64_t  max_tokens;        // corpus positions read at most
    float    holdout;           // share of the documents held out for the accuracy table
    int32_t  max_eval;          // held-out examples evaluated at most
    bool     self_generated;    // also train on the base model's greedy continuations of training
                                // documents' openings (what the heads see while drafting)
    int32_t  n_generate;        // tokens generated per opening when self_generated
    int32_t  max_generated;     // continuations generated at most
    int32_t  n_threads;         // 0 = the model's default
    uint32_t seed;              // batch order
    bool     regressive;        // train regressive (Clover-style) heads (sd_heads_info::regressive)
    bool     feature;           // train an EAGLE-style feature drafter (sd_heads_info::feature): the
                                // recurrence unrolled over n_heads depths with teacher-forced tokens,
                                // cross-entropy at every depth plus the squared distance of each
                                // predicted hidden state to the model's own (weighted by feature_weight)
    float    feature_weight;
    int32_t  attention;         // a feature drafter's attention window (sd_heads_info::window), 0 = none
};

// Ranges and defaults: the table (names as the fields without n_: "heads", "steps", "lr", ...).
const std::vector<sd_setting> & sd_train_settings(void);
sd_train_params sd_train_default_params(void);
sd_status       sd_train_set(sd_train_params & params, const char * name, double value, std::string & error);

// What sd_heads_train did. Accuracies are measured on held-out documents: top1[k] is how often head
// k's best candidate was the base model's greedy token k + 2 positions ahead, top5[k] how often it was
// among the five best; *_before are the same for the untrained heads (identity blocks, the base
// model's output projection), for comparison.
struct sd_train_report {
    bool    cancelled  = false;  // the progress callback stopped the run; no file was written
    bool    time_limited = false; // the time budget shortened the run
    int64_t n_tokens   = 0;      // positions the base model read (corpus and generated)
    int64_t n_train    = 0;      // training examples
    int64_t n_eval     = 0;      // held-out examples evaluated
    int32_t steps      = 0;      // optimizer steps done
    int64_t examples   = 0;      // examples seen (steps x batch)
    float   loss_first = 0.0f;   // training loss (cross-entropy summed over heads) of the first step
    float   loss       = 0.0f;   // mean training loss of the last 5% of steps
    std::vector<float> eval_loss_before, eval_loss; // [n_heads] held-out cross-entropy per head
    std::vector<float> top1_before, top5_before, top1, top5; // [n_heads]
    std::vector<float> accuracy; // [n_heads * SD_HEADS_RANKS], as written to the file (sd_heads_info)
    double  seconds_data  = 0;   // reading the corpus (and generating)
    double  seconds_train = 0;
    double  seconds       = 0;   // the whole run
};

// The report's numbers by name ("steps", "loss", "seconds", ...) and its per-head lists by name
// ("top1", "top5_before", ...), for front ends that pass them on.
std::vector<std::pair<const char *, double>>             sd_train_report_values(const sd_train_report & report);
std::vector<std::pair<const char *, std::vector<float>>> sd_train_report_lists(const sd_train_report & report);

enum sd_train_phase {
    SD_TRAIN_READ     = 0, // the base model reads the corpus: done / total = documents
    SD_TRAIN_GENERATE = 1, // greedy continuations (self_generated): done / total = continuations
    SD_TRAIN_EVAL     = 2, // held-out accuracy before or after training: done / total = examples
    SD_TRAIN_OPTIMIZE = 3, // done / total = steps (total may shrink once to fit the time budget)
};

struct sd_train_progress {
    sd_train_phase phase;
    int64_t done;
    int64_t total;
    float   loss;    // SD_TRAIN_OPTIMIZE: the last step's loss, else 0
    float   lr;      // SD_TRAIN_OPTIMIZE: the last step's learning rate, else 0
    double  seconds; // since the run began
};

// Called often (every step, every document); returning false cancels the run.
typedef bool (*sd_train_progress_cb)(const sd_train_progress & progress, void * user);

// Trains Medusa heads for `model` on a text corpus and writes them to out_path (atomically, with the
// held-out rank accuracies in sd_heads_info::accuracy). The base model reads the corpus with hidden
// states on; head k learns, from the hidden state at position t, the base model's greedy prediction
// at position t + k + 1. Blocks start as identities and the output projections as copies of the base
// model's, all trained with AdamW through ggml-opt. A cancelled run returns SD_OK with
// report.cancelled set and leaves no file. progress may be NULL.
sd_status sd_heads_train(sd_model * model, const sd_train_params & params, const char * out_path,
                         sd_train_report & report, sd_train_progress_cb progress, void * user, std::string & error);

//
// Early exit (Kangaroo-style self-speculation): a draft model made of a model's own first blocks
//

// What to make. The drafter is a GGUF model of the same architecture holding the model's token
// embedding, its first n_layers blocks, one adapter block and the model's output norm and head; it
// drafts through the draft-model strategy. The adapter starts as a copy of the model's last block;
// with a corpus its FFN half (by default) or the whole block (attention too, Kangaroo's adapter) is
// trained (AdamW through ggml-opt) so that the drafter predicts the model's own greedy tokens,
// keeping the weights that agree best with the model on held-out text.
struct sd_early_exit_params {
    int32_t     n_layers;   // K: the model's first blocks kept, 1 .. block_count - 1
    std::string corpus;     // UTF-8 text ("<|endoftext|>" between documents); empty: no training
    int32_t     n_steps;    // optimizer steps
    int32_t     batch;      // positions per step (with attention: one sequence of whole documents,
                            // which are read in pieces of at most this many tokens, up to 256)
    bool        attention;  // train the adapter's attention too (the whole block; llama models);
                            // false (the default): its FFN and FFN norm only
    float       lr;         // AdamW learning rate (constant)
    int64_t     max_tokens; // corpus positions read at most
    float       holdout;    // share of the documents held out for the agreement figures
    int32_t     n_threads;  // 0 = the model's default
    uint32_t    seed;       // batch order
};

// Ranges and defaults: the table (names as the fields without n_: "layers", "steps", "lr", ...; the
// corpus is not a setting). The layer count is checked against the model's when the drafter is made.
const std::vector<sd_setting> & sd_early_exit_settings(void);
sd_early_exit_params sd_early_exit_default_params(void);
sd_status            sd_early_exit_set(sd_early_exit_params & params, const char * name, double value, std::string & error);

struct sd_early_exit_report {
    bool     cancelled = false;   // the progress callback stopped the run; no file was written
    int32_t  n_layers_model = 0;  // the model's block count
    int64_t  n_train = 0;         // training positions (0 without a corpus)
    int64_t  n_eval  = 0;         // held-out positions
    float    agreement_before = 0; // held-out share of positions where the drafter's top token is the
    float    agreement_after  = 0; // model's greedy token, with the copied and with the trained adapter
    float    loss_first = 0, loss = 0; // training cross-entropy at the first step and over the last 5%
    int32_t  steps = 0;
    int32_t  best_step = 0;       // the step whose weights were written (checked every tenth of the
                                  // run on the held-out text); 0: the copied adapter was the best
    uint64_t file_bytes = 0;      // the drafter's file
    uint64_t model_bytes = 0;     // the model's file
    double   seconds = 0;
};

// Writes the drafter for `model` to out_path (atomically). Fails with SD_ERR_INVALID_ARGUMENT naming
// the problem for a layer count out of range, a model whose blocks are not llama-style (ffn_gate,
// ffn_up, ffn_down, ffn_norm), an unreadable or too short corpus, or an unwritable path. Training
// reports its progress (SD_TRAIN_READ: positions read of max_tokens; SD_TRAIN_EVAL: held-out
// checks; SD_TRAIN_OPTIMIZE: steps, with the loss) to `progress` (may be NULL), which may cancel: the
// call then returns SD_OK with report.cancelled set and writes nothing.
sd_status sd_early_exit_make(sd_model * model, const sd_early_exit_params & params, const char * out_path,
                             sd_early_exit_report & report, sd_train_progress_cb progress, void * user,
                             std::string & error);

//
// Session: one llama_context, its KV cache and one generation at a time
//

// Flash attention: llama.cpp's choice (on where the backend supports it), off, or on.
enum sd_flash_attn {
    SD_FLASH_ATTN_AUTO = -1,
    SD_FLASH_ATTN_OFF  = 0,
    SD_FLASH_ATTN_ON   = 1,
};

struct sd_session_params {
    uint32_t n_ctx;           // 0 = the model's default; llama.cpp rounds it up (see sd_session_n_ctx)
    uint32_t n_batch;         // tokens per llama_decode during prompt evaluation; 0 = min(512, n_ctx)
    int32_t  n_threads;       // 0 = the model's default. When neither gives a number, threads are automatic:
                              // the model's default divided among the contexts of the process decoding at
                              // the moment, and lowered while other programs keep the cores busy (learnt
                              // from the decodes' own times; src/engine/sd-threads.h). A number is used as is.
    bool     kv_f32;          // keys and values in F32 instead of llama.cpp's default F16 (twice the memory)
    int32_t  flash_attn;      // sd_flash_attn. Flash attention is faster and needs less memory, but its
                              // results depend on how many tokens share a batch: a verification step can
                              // then round a near-tie differently from plain decoding, and greedy
                              // speculative output departs from plain greedy output at that token
    bool     strict_numerics; // flash attention off and keys and values in F32, whatever flash_attn and
                              // kv_f32 say: batched and single evaluation then agree, and greedy
                              // speculative output equals plain greedy output token for token (on the
                              // CPU with F32 weights; see docs/engine.md for quantized weights and GPUs)
};

const std::vector<sd_setting> & sd_session_settings(void);
sd_session_params sd_session_default_params(void);
sd_status         sd_session_set(sd_session_params & params, const char * name, double value, std::string & error);

//
// Speculation: one sub-struct per drafter
//

enum sd_spec_type {
    SD_SPEC_NONE        = 0, // plain decoding
    SD_SPEC_LOOKUP      = 1, // prompt lookup / n-gram
    SD_SPEC_RECYCLING   = 2, // Token Recycling
    SD_SPEC_AUTO        = 3, // lookup, recycling and lookahead's window together, chosen by the budget
    SD_SPEC_LOOKAHEAD   = 4, // lookahead decoding (Jacobi window + n-gram pool)
    SD_SPEC_DRAFT_MODEL = 5, // a second, smaller model with the same vocabulary drafts
    SD_SPEC_MEDUSA      = 6, // Medusa heads
};

// "none", "lookup", "recycling", "auto", "lookahead", "draft", "medusa".
const char * sd_spec_type_name(sd_spec_type type);

// The type of a name of sd_spec_type_name; false for other names.
bool sd_spec_type_from_name(const char * name, sd_spec_type * out);

// Prompt lookup: the last n tokens (n from max_ngram down to min_ngram) are looked up earlier in the
// text and what followed is proposed; up to max_branches distinct matches become sibling branches.
struct sd_corpus;
struct sd_lookup_params {
    int32_t min_ngram;
    int32_t max_ngram;
    int32_t max_branches;
    // A corpus index (not owned; it may be freed once the generation began: the drafter keeps what it
    // needs), or NULL. With one, lookup also proposes what followed the longest matching suffix of the text in the
    // corpus (REST / Infini-gram style), as further branches, the most frequent continuations first.
    const sd_corpus * corpus;
};

// A corpus index: a text (documentation, a code base) tokenized with the model's vocabulary and a
// suffix array over its tokens, built once into a file and memory-mapped when loaded.
struct sd_corpus_info {
    uint64_t n_tokens      = 0;
    uint64_t file_bytes    = 0;
    double   build_seconds = 0; // sd_corpus_build only
};
// Builds the index of the text file text_path for model's vocabulary into out_path (a temporary file
// renamed over it: a failure leaves any old index).
sd_status      sd_corpus_build(const sd_model * model, const char * text_path, const char * out_path,
                               sd_corpus_info * info, std::string & error);
// Maps an index; SD_ERR_INVALID_ARGUMENT naming the problem for a missing, foreign, damaged or truncated
// file, or one built for another vocabulary.
sd_status      sd_corpus_load(const char * path, const sd_model * model, sd_corpus ** out, std::string & error);
void           sd_corpus_free(sd_corpus * corpus);
sd_corpus_info sd_corpus_get_info(const sd_corpus * corpus);

// Token Recycling: k successors remembered per token.
struct sd_recycling_params {
    int32_t k;
};

// Lookahead: a window of w columns x (n - 1) levels of guesses, up to g pooled n-grams per token;
// with the budget, each step evaluates the number of columns that pays on this device (maybe none).
struct sd_lookahead_params {
    int32_t w;
    int32_t n;
    int32_t g;
};

// A draft model: the session keeps a context on it (created at the first generation that uses it,
// freed with the session, by sd_session_drop_draft_model, or when another draft model is used); it
// must stay loaded meanwhile and share the target's vocabulary (sd_model_vocab_compatible). With the
// budget the chain grows while one more token pays (by the acceptance the budget learnt) and greedy
// drafts offer every runner-up to the budget's cut; p_min and p_branch apply without the budget.
// Sampling drafts chains drawn from the draft model's distribution, verified by rejection sampling.
struct sd_draft_model_params {
    sd_model * model;    // not owned
    float      p_min;    // without the budget: the chain stops before a position where the draft model's
                         // top token is less likely than this
    float      p_branch; // without the budget, greedy only: where the top token is less likely than this,
                         // the runner-up is proposed beside it (a second branch); 0 = chains only
};

// Medusa heads (not owned; they may be freed after the generation begins).
struct sd_medusa_params {
    const sd_heads * heads;
    bool             static_tree; // grow the tree by the heads' measured accuracy per rank (Medusa's
                                  // sparse tree) instead of their probabilities
    int32_t          top_k;       // candidates per head
};

// Typical acceptance (Medusa): LOSSY. Under sampling, the candidate with the highest target
// probability p is accepted when p > min(threshold, alpha * exp(-entropy)); the output then no longer
// follows the model's distribution exactly. No effect when greedy.
struct sd_typical_params {
    bool  enabled;
    float threshold;
    float alpha;
};

struct sd_speculation_params {
    sd_spec_type type;
    int32_t      max_nodes; // most draft tokens evaluated per step
    int32_t      max_depth; // most draft tokens accepted per step
    bool         adaptive;  // size each step's tree to the device's measured cost (the budget);
                            // false: evaluate every proposed node up to max_nodes
    sd_lookup_params      lookup;
    sd_recycling_params   recycling;
    sd_lookahead_params   lookahead;
    sd_draft_model_params draft;
    sd_medusa_params      medusa;
    sd_typical_params     typical;
};

struct sd_generation_params {
    int32_t                  max_tokens;
    std::vector<std::string> stop;           // generation ends before the first occurrence
    float                    temperature;    // 0 = greedy (argmax)
    int32_t                  top_k;          // 0 = off
    float                    top_p;          // 1 = off
    float                    min_p;          // 0 = off
    float                    repeat_penalty; // 1 = off
    int32_t                  repeat_last_n;  // tokens the penalty looks back at
    uint32_t                 seed;           // LLAMA_DEFAULT_SEED = random
    sd_speculation_params    spec;
    bool                     record_margins; // fill sd_step_result::margins (tests, benchmarks)
    // Structured output: a grammar in llama.cpp's GBNF (root rule "root"; empty = none). Every token
    // is drawn from the target's distribution restricted to what the grammar allows after the text
    // generated so far (the prompt is not matched), with speculation too; drafts it forbids are
    // dropped before they are evaluated. When the grammar is complete only end-of-generation tokens
    // are allowed; when it allows no token at all, the generation ends with SD_STOP_GRAMMAR.
    std::string              grammar;
};

// The numbers of sd_generation_params by name; speculation's are "spec.max_nodes",
// "spec.lookup.min_ngram", "spec.draft.p_min", ... (the pointers, the type and the stop strings are
// not in the table).
const std::vector<sd_setting> & sd_generation_settings(void);
sd_generation_params  sd_generation_default_params(void);
sd_speculation_params sd_speculation_default_params(void);
sd_status             sd_generation_set(sd_generation_params & params, const char * name, double value,
                                        std::string & error);

//
// Embeddings
//
// An embedder is a llama.cpp context of its own with embeddings on: one vector per text, pooled over
// its tokens. pooling: LLAMA_POOLING_TYPE_UNSPECIFIED takes the model's own (mean when the model has
// none, as generative models do), or MEAN, CLS or LAST; n_ctx is the longest text it takes, in tokens.
// Not thread-safe: one call at a time per embedder.
struct sd_embedder;
sd_status sd_embedder_init(sd_model * model, enum llama_pooling_type pooling, uint32_t n_ctx, sd_embedder ** out,
                           std::string & error);
void      sd_embedder_free(sd_embedder * embedder);
int32_t   sd_embedder_dim(const sd_embedder * embedder);
enum llama_pooling_type sd_embedder_pooling(const sd_embedder * embedder);
uint32_t  sd_embedder_n_ctx(const sd_embedder * embedder);
const char * sd_pooling_name(enum llama_pooling_type pooling);

// The vectors of the texts (tokenized, with BOS as the model wants it), n_texts x dim floats in out,
// L2-normalised when normalize. A text without tokens, longer than the context, or with a token outside
// the vocabulary fails the whole call, naming its index.
sd_status sd_embed(sd_embedder * embedder, const std::vector<std::vector<llama_token>> & inputs, bool normalize,
                   std::vector<float> & out, std::string & error);

// Whether gbnf is a grammar llama.cpp can use (GBNF, root rule "root") with this model's vocabulary;
// SD_ERR_INVALID_ARGUMENT with llama.cpp's parser message when not. sd_generation_begin makes the same
// check of params.grammar.
sd_status sd_grammar_check(const sd_model * model, const std::string & gbnf, std::string & error);

// Every check sd_generation_begin makes of the parameters alone: the table's ranges and what
// relates fields (lookup's n-gram sizes, heads for Medusa, a draft model for SD_SPEC_DRAFT_MODEL).
sd_status sd_generation_params_check(const sd_generation_params & params, std::string & error);

enum sd_stop_reason {
    SD_STOP_NONE         = 0, // still generating
    SD_STOP_MAX_TOKENS   = 1,
    SD_STOP_END_OF_TEXT  = 2, // the model produced an end-of-generation token
    SD_STOP_STOP_STRING  = 3,
    SD_STOP_CONTEXT_FULL = 4, // no room left in the context
    SD_STOP_CANCELLED    = 5,
    SD_STOP_GRAMMAR      = 6, // the grammar allows no token after the text (a dead end)
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
    int32_t n_threads       = 0; // threads the last step ran on (see sd_session_params::n_threads)
};

// The counters by their field names ("n_prompt", ..., "t_verify_us"), for front ends that pass them on.
std::vector<std::pair<const char *, int64_t>> sd_stats_values(const sd_stats & stats);

struct sd_session;

sd_status sd_session_init(sd_model * model, const sd_session_params & params, sd_session ** out, std::string & error);
void      sd_session_free(sd_session * session);

// The context size in tokens, as llama.cpp made it (it rounds the requested size up to a multiple of 256).
uint32_t sd_session_n_ctx(const sd_session * session);

// The model the session was created for.
const sd_model * sd_session_model(const sd_session * session);

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
// batch is decoded at positions depth.. and removed again, `reps` times per size, after one warm-up
// decode of the first size.
// out_us[i] is the fastest time for batch_sizes[i] in microseconds (the least disturbed by other
// work on the machine). The session's KV cache is cleared. Sizes must be in [1, the session's batch
// size]; depth + size must fit in the context.
sd_status sd_session_measure_decode_cost(sd_session * session, const std::vector<int32_t> & batch_sizes, int32_t depth,
                                         int32_t reps, std::vector<double> & out_us, std::string & error);

// Frees the context the session keeps on `draft` for draft-model speculation (on any draft model when
// draft is NULL); call it before freeing a draft model that sessions have used. A generation running
// with that draft model fails at its next step with SD_ERR_STATE.
void sd_session_drop_draft_model(sd_session * session, const sd_model * draft);

// The threads the session's last decode ran on; safe from any thread, beside a running generation.
int32_t sd_session_threads(const sd_session * session);

// Sessions (and other contexts: training, tools) of this process decoding now or in the last 50 ms;
// automatic threads are divided among them.
int32_t sd_sessions_decoding(void);

// Asks the running generation to stop; safe from any thread. The current llama_decode is aborted
// and the next step returns SD_STOP_CANCELLED. The KV cache stays consistent.
void sd_session_cancel(sd_session * session);

//
// Saved sessions
//

// The version of the session file format this build writes; it reads this one and the older ones.
#define SD_SESSION_FILE_VERSION 1

// Writes the session to `path`: the model's fingerprint, the tokens in the KV cache and the cache
// itself (sequence 0, llama.cpp's sequence state), Token Recycling's learnt matrix when the session has
// one, and `attachment`, bytes of the application's (a conversation, say) handed back by restore. The
// file is written under a temporary name beside `path`, flushed to the disk and renamed over `path`:
// a crash or a full disk never leaves a partial file under that name, and a failed write leaves the
// old file as it was. SD_ERR_SESSION_FILE when the file cannot be written, SD_ERR_STATE while a
// generation runs.
sd_status sd_session_save(sd_session * session, const std::string & path, const std::string & attachment,
                          std::string & error);

// Restores a session saved by sd_session_save into `session` (of the same model, a context at least as
// large as the saved tokens and the same kinds of keys and values): afterwards its KV cache holds the
// saved tokens, so a prompt that extends them evaluates only its new tokens. *attachment receives what
// was attached. On failure the session's KV cache is empty and SD_ERR_SESSION_FILE names the problem: a
// missing or unreadable file, not a session file, a newer format version, a truncated or damaged file,
// another model (both fingerprints), a cache that does not fit this session's context;
// SD_ERR_CONTEXT_OVERFLOW when the saved tokens do not fit its context.
sd_status sd_session_restore(sd_session * session, const std::string & path, std::string * attachment,
                             std::string & error);
