// scale-model: builds a cost-scaled copy of a small llama-architecture GGUF model.
//
// The copy is wider (hidden size d -> D, FFN size f -> F, more attention heads) and deeper
// (L -> L2 layers), so that one decode step costs about as much as a model of that shape, while
// its predictions stay those of the small model:
//
//   - the extra hidden dimensions of the residual stream stay exactly zero: the token embedding
//     is zero there, and every weight that writes into the residual stream (attn_output,
//     ffn_down) has zero rows for the extra dimensions;
//   - extra attention heads and extra FFN units are computed from random weights, but the
//     columns of attn_output / ffn_down that read them are zero, so their results are dropped;
//   - RMSNorm over D dims where D - d of them are zero gives rms_d * sqrt(d/D); scaling the
//     norm weights of the real dims by sqrt(d/D) and the epsilon by d/D undoes that;
//   - appended layers have all-zero attn_output and ffn_down, so they add nothing to the
//     residual stream (but still cost a full layer).
//
// The heads keep their size unless --head-dim H asks for larger ones: a model widened with its own
// small heads (8 dimensions for stories260K) gets hundreds of them, and attention then costs per
// head and cache cell far more than in any real model of that width (which has 32-64 heads of 64-128
// dimensions). With H, each real head's dimensions lead a head of H whose other query weights are
// zero (so its scores are unchanged), its query is scaled by sqrt(H/h) (llama.cpp scales scores by
// 1/sqrt(head size)), and the rope base becomes base^(H/h), so that the real dimensions turn at
// the same angles as before (pair i at base^(-2i/H) = the old base^(-2i/h)).
//
// Only the public gguf.h / ggml.h API is used to read and write the files, and llama.h for the
// optional quantization of the result.
//
// --perturb S adds noise to the input's weight matrices before anything else (each weight w of a
// matrix whose root mean square is r becomes w + S * r * g, g standard normal, drawn from --seed):
// a model that predicts like the input only most of the time, such as a realistic draft model for
// the input or its scaled copies. Without --hidden, --ffn and --layers the shape is kept.
//
// Medusa heads made for the input (--heads) are widened the same way (--heads-output): the final
// normed hidden state of the scaled model is the original's padded with zeros, so the heads' blocks
// get their real weights in the leading block and zeros elsewhere (the extra dimensions stay zero
// through x + SiLU(W x + b), as SiLU(0) = 0), and an own output projection gets zero columns for the
// extra dimensions. A shared output stays shared: the scaled model's projection only adds random
// columns that multiply those zeros.
//
// usage: scale-model --input IN.gguf --output OUT.gguf [--hidden D] [--ffn F] [--layers L2]
//                    [--head-dim H] [--quantize q8_0|q4_0|f16] [--seed N] [--perturb S]
//                    [--heads IN.gguf --heads-output OUT.gguf]

#include "ggml.h"
#include "gguf.h"
#include "llama.h"
#include "heads/sd-heads.h"
#include "model/sd-model.h"
#include "spec-decode.h"

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/types.h>
#include <vector>

// the extra weights that are read but never change the result are drawn from U(-k, k)
static const float k_rand_range = 0.02f;

struct scale_params {
    std::string input;
    std::string output;
    std::string quantize;   // empty: keep F32
    std::string heads;        // Medusa heads made for the input, to widen (optional)
    std::string heads_output; // where the widened heads go
    int64_t     n_embd   = 0;
    int64_t     n_ff     = 0;
    int64_t     n_layer  = 0;
    int64_t     head_dim = 0;   // 0: the input's
    uint64_t    seed     = 42;
    double      perturb  = 0;   // noise added to the input's weight matrices, relative to their RMS
};

// the shape of a llama model, as far as the scaling cares
struct model_dims {
    int64_t n_embd    = 0;
    int64_t n_ff      = 0;
    int64_t n_layer   = 0;
    int64_t n_head    = 0;
    int64_t n_head_kv = 0;
    int64_t n_vocab   = 0;
    int64_t head_dim  = 0;
};

// what a tensor dimension is, so its old and new sizes can be looked up
enum axis_kind {
    AXIS_NONE,   // the tensor has no such dimension
    AXIS_EMBD,   // hidden size: d -> D
    AXIS_VOCAB,  // vocabulary: unchanged
    AXIS_Q,      // n_head * head_dim: d -> D
    AXIS_KV,     // n_head_kv * head_dim
    AXIS_FF,     // FFN units: f -> F
    AXIS_FIXED,  // any size, unchanged
};

// how the new elements of a tensor are filled
enum fill_kind {
    FILL_ZERO,    // writes into the residual stream, or is the embedding: extra parts must be zero
    FILL_RANDOM,  // only multiplies zeros or feeds discarded outputs: random, so it costs like a real weight
    FILL_NORM,    // RMSNorm weight: real dims scaled by sqrt(d/D), extra dims 1.0
    FILL_COPY,    // copied unchanged (only for tensors whose shape does not change)
};

struct tensor_rule {
    const char * name;     // full name for global tensors, the part after "blk.N." for layer tensors
    axis_kind    axes[2];  // ne[0] (inputs), ne[1] (outputs)
    fill_kind    fill;
};

static const tensor_rule k_global_rules[] = {
    { "token_embd.weight",  { AXIS_EMBD,  AXIS_VOCAB }, FILL_ZERO   },
    { "output.weight",      { AXIS_EMBD,  AXIS_VOCAB }, FILL_RANDOM },
    { "output_norm.weight", { AXIS_EMBD,  AXIS_NONE  }, FILL_NORM   },
    { "rope_freqs.weight",  { AXIS_FIXED, AXIS_NONE  }, FILL_COPY   },
};

static const tensor_rule k_layer_rules[] = {
    { "attn_norm.weight",   { AXIS_EMBD, AXIS_NONE  }, FILL_NORM   },
    { "attn_q.weight",      { AXIS_EMBD, AXIS_Q     }, FILL_RANDOM },
    { "attn_k.weight",      { AXIS_EMBD, AXIS_KV    }, FILL_RANDOM },
    { "attn_v.weight",      { AXIS_EMBD, AXIS_KV    }, FILL_RANDOM },
    { "attn_output.weight", { AXIS_Q,    AXIS_EMBD  }, FILL_ZERO   },
    { "attn_q.bias",        { AXIS_Q,    AXIS_NONE  }, FILL_RANDOM },
    { "attn_k.bias",        { AXIS_KV,   AXIS_NONE  }, FILL_RANDOM },
    { "attn_v.bias",        { AXIS_KV,   AXIS_NONE  }, FILL_RANDOM },
    { "attn_output.bias",   { AXIS_EMBD, AXIS_NONE  }, FILL_ZERO   },
    { "ffn_norm.weight",    { AXIS_EMBD, AXIS_NONE  }, FILL_NORM   },
    { "ffn_gate.weight",    { AXIS_EMBD, AXIS_FF    }, FILL_RANDOM },
    { "ffn_up.weight",      { AXIS_EMBD, AXIS_FF    }, FILL_RANDOM },
    { "ffn_down.weight",    { AXIS_FF,   AXIS_EMBD  }, FILL_ZERO   },
    { "ffn_gate.bias",      { AXIS_FF,   AXIS_NONE  }, FILL_RANDOM },
    { "ffn_up.bias",        { AXIS_FF,   AXIS_NONE  }, FILL_RANDOM },
    { "ffn_down.bias",      { AXIS_EMBD, AXIS_NONE  }, FILL_ZERO   },
};

// one tensor of the output file
struct out_tensor {
    std::string         name;
    const tensor_rule * rule   = nullptr;
    int64_t             src_id = -1;         // tensor in the input; -1 for the appended layers
    int64_t             ne_src[2] = { 1, 1 };
    int64_t             ne[2]     = { 1, 1 };
};

static void print_usage(const char * argv0) {
    fprintf(stderr,
        "usage: %s --input IN.gguf --output OUT.gguf [--hidden D] [--ffn F] [--layers L2] [--head-dim H]\n"
        "          [--quantize q8_0|q4_0|f16] [--seed N] [--perturb S] [--heads IN.gguf --heads-output OUT.gguf]\n"
        "\n"
        "Builds a cost-scaled copy of a small llama GGUF model: hidden size D, FFN size F and L2\n"
        "layers, computing like a model of that size while predicting exactly like the input.\n"
        "With --perturb, the input's weights get noise first (a model that predicts like it only\n"
        "most of the time, e.g. a realistic draft model).\n"
        "\n"
        "  --input PATH     input llama model (F32, F16 or BF16 tensors)\n"
        "  --output PATH    output GGUF file\n"
        "  --hidden D       new hidden size (>= n_embd, a multiple of head_dim * n_head/n_head_kv; default: n_embd)\n"
        "  --head-dim H     new head size (>= the input's, even; default: the input's): fewer, larger heads,\n"
        "                   as real models of the new width have, the input's heads leading the first ones\n"
        "  --ffn F          new FFN size (>= feed_forward_length; default: feed_forward_length)\n"
        "  --layers L2      new number of layers (>= block_count; default: block_count)\n"
        "  --quantize TYPE  quantize the result with llama_model_quantize (q8_0, q4_0, f16)\n"
        "  --seed N         seed for the random filler weights and the noise (default 42)\n"
        "  --perturb S      add S * RMS(matrix) * N(0,1) to every weight of the input's matrices (default 0: none)\n"
        "  --heads PATH     Medusa heads made for the input model, widened to match the output\n"
        "  --heads-output PATH  where the widened heads are written (they record the output's fingerprint)\n",
        argv0);
}

static bool parse_int(const char * s, int64_t & out) {
    char * end = nullptr;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return false;
    }
    out = v;
    return true;
}

static bool parse_args(int argc, char ** argv, scale_params & params) {
    for (int i = 1; i < argc; i++) {
        const std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            print_usage(argv[0]);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "error: %s needs a value (or is unknown)\n", arg.c_str());
            return false;
        }
        const char * val = argv[++i];
        int64_t n = 0;
        if (arg == "--input") {
            params.input = val;
        } else if (arg == "--output") {
            params.output = val;
        } else if (arg == "--quantize") {
            params.quantize = val;
        } else if (arg == "--heads") {
            params.heads = val;
        } else if (arg == "--heads-output") {
            params.heads_output = val;
        } else if (arg == "--perturb") {
            char * end = nullptr;
            params.perturb = strtod(val, &end);
            if (end == val || *end != '\0' || !(params.perturb >= 0 && params.perturb <= 100)) {
                fprintf(stderr, "error: --perturb: '%s' is not a number in [0, 100]\n", val);
                return false;
            }
        } else if (arg == "--hidden" || arg == "--ffn" || arg == "--layers" || arg == "--seed" || arg == "--head-dim") {
            if (!parse_int(val, n) || n < 0) {
                fprintf(stderr, "error: %s: '%s' is not a non-negative integer\n", arg.c_str(), val);
                return false;
            }
            if (arg == "--hidden") { params.n_embd  = n; }
            if (arg == "--ffn")    { params.n_ff    = n; }
            if (arg == "--layers") { params.n_layer = n; }
            if (arg == "--head-dim") { params.head_dim = n; }
            if (arg == "--seed")   { params.seed    = (uint64_t) n; }
        } else {
            fprintf(stderr, "error: unknown argument: %s\n", arg.c_str());
            return false;
        }
    }
    if (params.input.empty() || params.output.empty()) {
        fprintf(stderr, "error: --input and --output are required\n");
        return false;
    }
    if (params.n_embd == 0 && params.n_ff == 0 && params.n_layer == 0 && params.head_dim == 0 && params.perturb == 0 &&
        params.quantize.empty()) {
        fprintf(stderr, "error: nothing to do: give --hidden, --ffn, --layers, --head-dim, --perturb or --quantize\n");
        return false;
    }
    if (params.input == params.output) {
        fprintf(stderr, "error: --output must differ from --input\n");
        return false;
    }
    if (!params.heads.empty() && params.perturb > 0) {
        fprintf(stderr, "error: --heads and --perturb exclude each other: the heads were made for the unperturbed model\n");
        return false;
    }
    if (params.heads.empty() != params.heads_output.empty()) {
        fprintf(stderr, "error: --heads and --heads-output go together\n");
        return false;
    }
    if (!params.heads.empty() && (params.heads_output == params.heads || params.heads_output == params.output)) {
        fprintf(stderr, "error: --heads-output must differ from --heads and --output\n");
        return false;
    }
    return true;
}

// reads an integer KV of any integer type; the gguf getters abort on a type mismatch, so check first
static bool get_int_kv(const gguf_context * ctx, const char * key, int64_t & out) {
    const int64_t id = gguf_find_key(ctx, key);
    if (id < 0) {
        return false;
    }
    switch (gguf_get_kv_type(ctx, id)) {
        case GGUF_TYPE_UINT8:  out = gguf_get_val_u8 (ctx, id); return true;
        case GGUF_TYPE_INT8:   out = gguf_get_val_i8 (ctx, id); return true;
        case GGUF_TYPE_UINT16: out = gguf_get_val_u16(ctx, id); return true;
        case GGUF_TYPE_INT16:  out = gguf_get_val_i16(ctx, id); return true;
        case GGUF_TYPE_UINT32: out = gguf_get_val_u32(ctx, id); return true;
        case GGUF_TYPE_INT32:  out = gguf_get_val_i32(ctx, id); return true;
        case GGUF_TYPE_UINT64: out = (int64_t) gguf_get_val_u64(ctx, id); return true;
        case GGUF_TYPE_INT64:  out = gguf_get_val_i64(ctx, id); return true;
        default:
            fprintf(stderr, "error: key %s has type %s, expected an integer\n", key, gguf_type_name(gguf_get_kv_type(ctx, id)));
            return false;
    }
}

// writes an integer KV with the type the input used, since llama.cpp's loader checks key types
static void set_int_kv(gguf_context * ctx, const char * key, int64_t val) {
    const int64_t id = gguf_find_key(ctx, key);
    const gguf_type type = id >= 0 ? gguf_get_kv_type(ctx, id) : GGUF_TYPE_UINT32;
    switch (type) {
        case GGUF_TYPE_UINT8:  gguf_set_val_u8 (ctx, key, (uint8_t)  val); break;
        case GGUF_TYPE_INT8:   gguf_set_val_i8 (ctx, key, (int8_t)   val); break;
        case GGUF_TYPE_UINT16: gguf_set_val_u16(ctx, key, (uint16_t) val); break;
        case GGUF_TYPE_INT16:  gguf_set_val_i16(ctx, key, (int16_t)  val); break;
        case GGUF_TYPE_INT32:  gguf_set_val_i32(ctx, key, (int32_t)  val); break;
        case GGUF_TYPE_UINT64: gguf_set_val_u64(ctx, key, (uint64_t) val); break;
        case GGUF_TYPE_INT64:  gguf_set_val_i64(ctx, key, (int64_t)  val); break;
        default:               gguf_set_val_u32(ctx, key, (uint32_t) val); break;
    }
}

static int64_t axis_size(axis_kind axis, const model_dims & m, int64_t fixed) {
    switch (axis) {
        case AXIS_NONE:  return 1;
        case AXIS_EMBD:  return m.n_embd;
        case AXIS_VOCAB: return m.n_vocab;
        case AXIS_Q:     return m.n_head * m.head_dim;
        case AXIS_KV:    return m.n_head_kv * m.head_dim;
        case AXIS_FF:    return m.n_ff;
        case AXIS_FIXED: return fixed;
    }
    return 1;
}

static const tensor_rule * find_rule(const tensor_rule * rules, size_t n, const std::string & name) {
    for (size_t i = 0; i < n; i++) {
        if (name == rules[i].name) {
            return &rules[i];
        }
    }
    return nullptr;
}

// splits "blk.N.rest" into N and rest; false for global tensors
static bool split_layer_name(const std::string & name, int64_t & il, std::string & rest) {
    if (name.compare(0, 4, "blk.") != 0) {
        return false;
    }
    const size_t dot = name.find('.', 4);
    if (dot == std::string::npos || !parse_int(name.substr(4, dot - 4).c_str(), il)) {
        return false;
    }
    rest = name.substr(dot + 1);
    return true;
}

static uint64_t splitmix64(uint64_t & state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// uniform in [-k_rand_range, k_rand_range); hand-rolled so the output is the same everywhere
static float rand_weight(uint64_t & state) {
    const float u = (float) (splitmix64(state) >> 40) * (1.0f / 16777216.0f);
    return (2.0f * u - 1.0f) * k_rand_range;
}

// per-tensor seed, so a tensor's filler does not depend on which tensors come before it
static uint64_t tensor_seed(uint64_t seed, const std::string & name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : name) {
        h = (h ^ (uint8_t) c) * 0x100000001b3ULL;
    }
    return h ^ (seed * 0x9e3779b97f4a7c15ULL);
}

// standard normal (Box-Muller), from the same generator as the filler
static double rand_normal(uint64_t & state) {
    const double u1 = ((double) (splitmix64(state) >> 11) + 1.0) * (1.0 / 9007199254740993.0); // (0, 1]
    const double u2 = (double) (splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// w += scale * rms(w) * N(0, 1) for every element (--perturb)
static void add_noise(std::vector<float> & w, double scale, uint64_t state) {
    double sum_sq = 0;
    for (float v : w) {
        sum_sq += (double) v * v;
    }
    const double rms = w.empty() ? 0 : sqrt(sum_sq / (double) w.size());
    for (float & v : w) {
        v += (float) (scale * rms * rand_normal(state));
    }
}

// reads tensor `id` of the input and converts it to F32
static bool read_tensor_f32(FILE * f, const gguf_context * ctx, int64_t id, std::vector<float> & out) {
    const ggml_type type   = gguf_get_tensor_type(ctx, id);
    const int64_t * ne     = gguf_get_tensor_ne(ctx, id);
    const int64_t   n      = ne[0] * ne[1] * ne[2] * ne[3];
    const size_t    nbytes = gguf_get_tensor_size(ctx, id);
    const uint64_t  offs   = gguf_get_data_offset(ctx) + gguf_get_tensor_offset(ctx, id);

    std::vector<uint8_t> raw(nbytes);
    if (fseeko(f, (off_t) offs, SEEK_SET) != 0 || fread(raw.data(), 1, nbytes, f) != nbytes) {
        fprintf(stderr, "error: failed to read tensor %s (%zu bytes at offset %" PRIu64 ")\n",
                gguf_get_tensor_name(ctx, id), nbytes, offs);
        return false;
    }
    out.resize(n);
    if (type == GGML_TYPE_F32) {
        memcpy(out.data(), raw.data(), n * sizeof(float));
    } else {
        // F16 / BF16, checked when the plan was made
        ggml_get_type_traits(type)->to_float(raw.data(), out.data(), n);
    }
    return true;
}

// writes `n` zero bytes; used for the alignment padding between tensors
static bool write_zeros(FILE * f, size_t n) {
    static const char zeros[256] = { 0 };
    while (n > 0) {
        const size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        if (fwrite(zeros, 1, k, f) != k) {
            return false;
        }
        n -= k;
    }
    return true;
}

static bool parse_quant_type(const std::string & s, llama_ftype & ftype) {
    if (s == "q8_0") { ftype = LLAMA_FTYPE_MOSTLY_Q8_0; return true; }
    if (s == "q4_0") { ftype = LLAMA_FTYPE_MOSTLY_Q4_0; return true; }
    if (s == "f16")  { ftype = LLAMA_FTYPE_MOSTLY_F16;  return true; }
    return false;
}

// reads the hyperparameters of the input and checks that the requested shape can be built from them
static bool read_dims(const gguf_context * ctx, const scale_params & params, model_dims & src, model_dims & dst) {
    const int64_t arch_id = gguf_find_key(ctx, "general.architecture");
    if (arch_id < 0 || gguf_get_kv_type(ctx, arch_id) != GGUF_TYPE_STRING) {
        fprintf(stderr, "error: %s has no general.architecture\n", params.input.c_str());
        return false;
    }
    const std::string arch = gguf_get_val_str(ctx, arch_id);
    if (arch != "llama") {
        fprintf(stderr, "error: architecture is '%s', only 'llama' is supported\n", arch.c_str());
        return false;
    }

    // a per-layer array of FFN sizes would need per-layer handling; stories-style models don't have it
    const int64_t ff_id = gguf_find_key(ctx, "llama.feed_forward_length");
    if (ff_id >= 0 && gguf_get_kv_type(ctx, ff_id) == GGUF_TYPE_ARRAY) {
        fprintf(stderr, "error: per-layer llama.feed_forward_length arrays are not supported\n");
        return false;
    }
    int64_t n_expert = 0;
    if (get_int_kv(ctx, "llama.expert_count", n_expert) && n_expert > 0) {
        fprintf(stderr, "error: mixture-of-experts models are not supported\n");
        return false;
    }

    if (!get_int_kv(ctx, "llama.embedding_length",   src.n_embd)  ||
        !get_int_kv(ctx, "llama.feed_forward_length", src.n_ff)    ||
        !get_int_kv(ctx, "llama.block_count",         src.n_layer) ||
        !get_int_kv(ctx, "llama.attention.head_count", src.n_head)) {
        fprintf(stderr, "error: missing one of llama.embedding_length, llama.feed_forward_length, "
                        "llama.block_count, llama.attention.head_count\n");
        return false;
    }
    if (!get_int_kv(ctx, "llama.attention.head_count_kv", src.n_head_kv)) {
        src.n_head_kv = src.n_head;
    }
    if (src.n_embd <= 0 || src.n_ff <= 0 || src.n_layer <= 0 || src.n_head <= 0 || src.n_head_kv <= 0 ||
        src.n_embd % src.n_head != 0 || src.n_head % src.n_head_kv != 0) {
        fprintf(stderr, "error: inconsistent hyperparameters: n_embd %" PRId64 ", n_ff %" PRId64 ", n_layer %" PRId64
                        ", n_head %" PRId64 ", n_head_kv %" PRId64 "\n",
                src.n_embd, src.n_ff, src.n_layer, src.n_head, src.n_head_kv);
        return false;
    }
    src.head_dim = src.n_embd / src.n_head;

    // the head size must stay what llama.cpp derives from n_embd / n_head
    for (const char * key : { "llama.attention.key_length", "llama.attention.value_length" }) {
        int64_t v = 0;
        if (get_int_kv(ctx, key, v) && v != src.head_dim) {
            fprintf(stderr, "error: %s = %" PRId64 " differs from n_embd / n_head = %" PRId64 ", not supported\n",
                    key, v, src.head_dim);
            return false;
        }
    }

    const int64_t tok_id = gguf_find_tensor(ctx, "token_embd.weight");
    if (tok_id < 0) {
        fprintf(stderr, "error: the model has no token_embd.weight\n");
        return false;
    }
    src.n_vocab = gguf_get_tensor_ne(ctx, tok_id)[1];

    const int64_t gqa_ratio = src.n_head / src.n_head_kv;

    dst           = src;
    dst.n_embd    = params.n_embd  > 0 ? params.n_embd  : src.n_embd;
    dst.n_ff      = params.n_ff    > 0 ? params.n_ff    : src.n_ff;
    dst.n_layer   = params.n_layer > 0 ? params.n_layer : src.n_layer;

    if (dst.n_embd < src.n_embd) {
        fprintf(stderr, "error: --hidden %" PRId64 " is smaller than the model's n_embd %" PRId64 "\n", dst.n_embd, src.n_embd);
        return false;
    }
    dst.head_dim = params.head_dim > 0 ? params.head_dim : src.head_dim;
    if (dst.head_dim < src.head_dim || dst.head_dim % 2 != 0) {
        fprintf(stderr, "error: --head-dim %" PRId64 " must be even and at least the model's head size %" PRId64 "\n",
                dst.head_dim, src.head_dim);
        return false;
    }
    if (dst.n_embd % (dst.head_dim * gqa_ratio) != 0) {
        fprintf(stderr, "error: --hidden %" PRId64 " must be a multiple of head_dim * n_head/n_head_kv = %" PRId64
                        " * %" PRId64 " so that heads keep their size and GQA grouping\n",
                dst.n_embd, dst.head_dim, gqa_ratio);
        return false;
    }
    if (dst.n_embd / dst.head_dim < src.n_head) {
        fprintf(stderr, "error: --hidden %" PRId64 " / --head-dim %" PRId64 " gives fewer heads than the model's %" PRId64 "\n",
                dst.n_embd, dst.head_dim, src.n_head);
        return false;
    }
    if (dst.head_dim != src.head_dim && gguf_find_tensor(ctx, "rope_freqs.weight") >= 0) {
        fprintf(stderr, "error: --head-dim with rope_freqs.weight (per-dimension rope factors) is not supported\n");
        return false;
    }
    if (dst.n_ff < src.n_ff) {
        fprintf(stderr, "error: --ffn %" PRId64 " is smaller than the model's feed_forward_length %" PRId64 "\n", dst.n_ff, src.n_ff);
        return false;
    }
    if (dst.n_layer < src.n_layer) {
        fprintf(stderr, "error: --layers %" PRId64 " is smaller than the model's block_count %" PRId64 "\n", dst.n_layer, src.n_layer);
        return false;
    }
    if (dst.n_embd > UINT32_MAX || dst.n_ff > UINT32_MAX || dst.n_layer > 100000) {
        fprintf(stderr, "error: requested shape is too large\n");
        return false;
    }
    dst.n_head    = dst.n_embd / dst.head_dim;
    dst.n_head_kv = dst.n_head / gqa_ratio;

    // Q4_0 / Q8_0 blocks are 32 values along ne[0]; ne[0] is D for most matrices and F for ffn_down
    if (params.quantize == "q4_0" || params.quantize == "q8_0") {
        if (dst.n_embd % 32 != 0 || dst.n_ff % 32 != 0) {
            fprintf(stderr, "error: --quantize %s needs --hidden and --ffn to be multiples of 32 (got %" PRId64 ", %" PRId64 ")\n",
                    params.quantize.c_str(), dst.n_embd, dst.n_ff);
            return false;
        }
    }
    return true;
}

// lists the output tensors: every input tensor in order (resized), then the appended layers,
// modelled on the tensors of layer 0
static bool make_plan(const gguf_context * ctx, const model_dims & src, const model_dims & dst, std::vector<out_tensor> & plan) {
    const int64_t n_tensors = gguf_get_n_tensors(ctx);
    std::vector<std::string> layer0;

    for (int64_t id = 0; id < n_tensors; id++) {
        const std::string name = gguf_get_tensor_name(ctx, id);
        const int64_t *   ne   = gguf_get_tensor_ne(ctx, id);
        const ggml_type   type = gguf_get_tensor_type(ctx, id);

        if (type != GGML_TYPE_F32 && type != GGML_TYPE_F16 && type != GGML_TYPE_BF16) {
            fprintf(stderr, "error: tensor %s has type %s; only F32, F16 and BF16 models are supported "
                            "(a quantized model has lost the exact weights)\n", name.c_str(), ggml_type_name(type));
            return false;
        }

        int64_t il = -1;
        std::string rest;
        const tensor_rule * rule = nullptr;
        if (split_layer_name(name, il, rest)) {
            if (il < 0 || il >= src.n_layer) {
                fprintf(stderr, "error: tensor %s: layer index out of range (block_count %" PRId64 ")\n", name.c_str(), src.n_layer);
                return false;
            }
            rule = find_rule(k_layer_rules, sizeof(k_layer_rules) / sizeof(k_layer_rules[0]), rest);
            if (rule && il == 0) {
                layer0.push_back(rest);
            }
        } else {
            rule = find_rule(k_global_rules, sizeof(k_global_rules) / sizeof(k_global_rules[0]), name);
        }
        if (!rule) {
            fprintf(stderr, "error: tensor %s is not a known llama tensor; don't know how to scale it\n", name.c_str());
            return false;
        }

        out_tensor t;
        t.name   = name;
        t.rule   = rule;
        t.src_id = id;
        const int n_dims = rule->axes[1] == AXIS_NONE ? 1 : 2;
        for (int i = 0; i < 2; i++) {
            const int64_t want = axis_size(rule->axes[i], src, ne[i]);
            if (ne[i] != want) {
                fprintf(stderr, "error: tensor %s has ne[%d] = %" PRId64 ", expected %" PRId64 "\n", name.c_str(), i, ne[i], want);
                return false;
            }
            t.ne_src[i] = ne[i];
            t.ne[i]     = axis_size(rule->axes[i], dst, ne[i]);
        }
        if (ne[2] != 1 || ne[3] != 1 || (n_dims == 1 && ne[1] != 1)) {
            fprintf(stderr, "error: tensor %s has an unexpected number of dimensions\n", name.c_str());
            return false;
        }
        plan.push_back(t);
    }

    for (int64_t il = src.n_layer; il < dst.n_layer; il++) {
        for (const std::string & rest : layer0) {
            const tensor_rule * rule = find_rule(k_layer_rules, sizeof(k_layer_rules) / sizeof(k_layer_rules[0]), rest);
            out_tensor t;
            t.name   = "blk." + std::to_string(il) + "." + rest;
            t.rule   = rule;
            t.src_id = -1;
            for (int i = 0; i < 2; i++) {
                t.ne_src[i] = 0;
                t.ne[i]     = axis_size(rule->axes[i], dst, 1);
            }
            plan.push_back(t);
        }
    }
    return true;
}

// Where element i of an output axis comes from: its index in the input's axis of size m, or -1 for a
// new element. With larger heads, the input's heads lead the first heads of the output, and
// `head_pad` tells an added dimension of such a head (a query must be zero there).
static int64_t src_index(axis_kind axis, int64_t i, int64_t m, const model_dims & src, const model_dims & dst,
                         bool & head_pad) {
    head_pad = false;
    if ((axis == AXIS_Q || axis == AXIS_KV) && dst.head_dim != src.head_dim) {
        const int64_t h      = i / dst.head_dim;
        const int64_t j      = i % dst.head_dim;
        const int64_t n_real = m / src.head_dim; // 0 for an appended layer
        if (h >= n_real) {
            return -1;
        }
        if (j >= src.head_dim) {
            head_pad = true;
            return -1;
        }
        return h * src.head_dim + j;
    }
    return i < m ? i : -1;
}

// builds the F32 data of one output tensor: the input values where they belong, filler elsewhere
static bool make_tensor_data(FILE * fin, const gguf_context * ctx, const out_tensor & t, const model_dims & src,
                             const model_dims & dst, uint64_t seed, double perturb, std::vector<float> & out) {
    std::vector<float> orig;
    if (t.src_id >= 0 && !read_tensor_f32(fin, ctx, t.src_id, orig)) {
        return false;
    }
    if (perturb > 0 && t.src_id >= 0 && t.rule->axes[1] != AXIS_NONE) {
        add_noise(orig, perturb, tensor_seed(seed ^ 0x6e6f697365ULL, t.name)); // "noise": apart from the filler's
    }

    // rms over D dims of which only d are non-zero is rms_d * sqrt(d/D); the weights undo that.
    // When D/d is a power of 4 the factor is a power of 2 and the result is bit-exact.
    const float norm_scale = (float) sqrt((double) src.n_embd / (double) dst.n_embd);

    // a query of larger heads: scores are scaled by 1/sqrt(head size), so the real query grows by
    // sqrt(H/h) to keep them, and is zero in the added dimensions of its head
    const bool  query   = t.rule == find_rule(k_layer_rules, sizeof(k_layer_rules) / sizeof(k_layer_rules[0]), "attn_q.weight") ||
                          t.rule == find_rule(k_layer_rules, sizeof(k_layer_rules) / sizeof(k_layer_rules[0]), "attn_q.bias");
    const float q_scale = query ? (float) sqrt((double) dst.head_dim / (double) src.head_dim) : 1.0f;

    const int64_t n0 = t.ne[0], n1 = t.ne[1];
    const int64_t m0 = t.src_id >= 0 ? t.ne_src[0] : 0;
    const int64_t m1 = t.src_id >= 0 ? t.ne_src[1] : 0;

    std::vector<int64_t> from0(n0);
    std::vector<char>    pad0(n0);
    for (int64_t i0 = 0; i0 < n0; i0++) {
        bool pad = false;
        from0[i0] = src_index(t.rule->axes[0], i0, m0, src, dst, pad);
        pad0[i0]  = pad;
    }

    uint64_t state = tensor_seed(seed, t.name);
    out.resize(n0 * n1);
    for (int64_t i1 = 0; i1 < n1; i1++) {
        float * row = out.data() + i1 * n0;
        bool pad1 = false;
        const int64_t from1 = t.rule->axes[1] == AXIS_NONE ? (m1 > 0 ? 0 : -1)
                                                            : src_index(t.rule->axes[1], i1, m1, src, dst, pad1);
        for (int64_t i0 = 0; i0 < n0; i0++) {
            if (query && (pad1 || pad0[i0])) {
                row[i0] = 0.0f;
                continue;
            }
            if (from0[i0] >= 0 && from1 >= 0) {
                const float v = orig[from1 * m0 + from0[i0]];
                row[i0] = t.rule->fill == FILL_NORM ? v * norm_scale : v * q_scale;
                continue;
            }
            switch (t.rule->fill) {
                case FILL_ZERO:   row[i0] = 0.0f;                break;
                case FILL_RANDOM: row[i0] = rand_weight(state);  break;
                case FILL_NORM:   row[i0] = 1.0f;                break;
                case FILL_COPY:
                    // only global tensors of unchanged shape are copied, so this is never reached
                    fprintf(stderr, "error: tensor %s cannot be resized\n", t.name.c_str());
                    return false;
            }
        }
    }
    return true;
}

static std::string scaled_suffix(const model_dims & dst) {
    return " (cost-scaled " + std::to_string(dst.n_embd) + "x" + std::to_string(dst.n_layer) + ")";
}

// what general.name gets: the new shape (when it changed) and the noise (when there is any)
static std::string model_suffix(const model_dims & src, const model_dims & dst, const scale_params & params) {
    std::string suffix;
    if (dst.n_embd != src.n_embd || dst.n_ff != src.n_ff || dst.n_layer != src.n_layer) {
        suffix = scaled_suffix(dst);
    }
    if (dst.head_dim != src.head_dim) {
        suffix += " (heads of " + std::to_string(dst.head_dim) + ")";
    }
    if (params.perturb > 0) {
        char buf[96];
        snprintf(buf, sizeof(buf), " (perturbed %g, seed %llu)", params.perturb, (unsigned long long) params.seed);
        suffix += buf;
    }
    return suffix;
}

static bool set_metadata(gguf_context * out, const gguf_context * in, const model_dims & src, const model_dims & dst,
                         const scale_params & params) {
    gguf_set_kv(out, in);

    // the tensor offsets are computed with gguf's own alignment; drop a copied alignment key so
    // the header can't announce a different one
    gguf_remove_key(out, GGUF_KEY_GENERAL_ALIGNMENT);

    set_int_kv(out, "llama.embedding_length",         dst.n_embd);
    set_int_kv(out, "llama.feed_forward_length",      dst.n_ff);
    set_int_kv(out, "llama.block_count",              dst.n_layer);
    set_int_kv(out, "llama.attention.head_count",     dst.n_head);
    set_int_kv(out, "llama.attention.head_count_kv",  dst.n_head_kv);

    // llama.cpp's default rope dimension is n_embd / n_head; write it anyway so the file does not
    // depend on that default
    set_int_kv(out, "llama.rope.dimension_count", dst.head_dim);
    if (dst.head_dim != src.head_dim) {
        for (const char * key : { "llama.attention.key_length", "llama.attention.value_length" }) {
            if (gguf_find_key(out, key) >= 0) {
                set_int_kv(out, key, dst.head_dim);
            }
        }
        // the real dimensions turn as before: pair i at base'^(-2i/H) = base^(-2i/h)
        float base = 10000.0f; // llama.cpp's default
        const int64_t base_id = gguf_find_key(in, "llama.rope.freq_base");
        if (base_id >= 0) {
            if (gguf_get_kv_type(in, base_id) != GGUF_TYPE_FLOAT32) {
                fprintf(stderr, "error: llama.rope.freq_base is not a float32\n");
                return false;
            }
            base = gguf_get_val_f32(in, base_id);
        }
        const double scaled = pow((double) base, (double) dst.head_dim / (double) src.head_dim);
        if (!(scaled < 1e38)) {
            fprintf(stderr, "error: --head-dim %" PRId64 ": the rope base %g would become %g, beyond a float32\n",
                    dst.head_dim, base, scaled);
            return false;
        }
        gguf_set_val_f32(out, "llama.rope.freq_base", (float) scaled);
    }

    const int64_t eps_id = gguf_find_key(in, "llama.attention.layer_norm_rms_epsilon");
    if (eps_id < 0 || gguf_get_kv_type(in, eps_id) != GGUF_TYPE_FLOAT32) {
        fprintf(stderr, "error: llama.attention.layer_norm_rms_epsilon is missing or not a float32\n");
        return false;
    }
    const float eps = gguf_get_val_f32(in, eps_id);
    gguf_set_val_f32(out, "llama.attention.layer_norm_rms_epsilon",
                     (float) ((double) eps * (double) src.n_embd / (double) dst.n_embd));

    const std::string suffix = model_suffix(src, dst, params);
    const int64_t name_id = gguf_find_key(in, "general.name");
    std::string name = "model";
    if (name_id >= 0 && gguf_get_kv_type(in, name_id) == GGUF_TYPE_STRING) {
        name = gguf_get_val_str(in, name_id);
    }
    gguf_set_val_str(out, "general.name", (name + suffix).c_str());

    // all tensors are written as F32
    gguf_set_val_u32(out, "general.file_type", LLAMA_FTYPE_ALL_F32);
    return true;
}

// writes the F32 model to `fname`: the header through gguf, then the tensor data one tensor at a time
static bool write_model(const std::string & fname, FILE * fin, const gguf_context * in, const std::vector<out_tensor> & plan,
                        const model_dims & src, const model_dims & dst, const scale_params & params) {
    bool ok = false;
    gguf_context * out = gguf_init_empty();

    ggml_init_params ip = {
        /*.mem_size   =*/ (plan.size() + 1) * ggml_tensor_overhead(),
        /*.mem_buffer =*/ nullptr,
        /*.no_alloc   =*/ true,
    };
    ggml_context * meta = ggml_init(ip);
    FILE * fout = nullptr;

    do {
        if (!out || !meta || !set_metadata(out, in, src, dst, params)) {
            break;
        }

        bool bad = false;
        for (const out_tensor & t : plan) {
            if (t.name.size() >= GGML_MAX_NAME) {
                fprintf(stderr, "error: tensor name too long: %s\n", t.name.c_str());
                bad = true;
                break;
            }
            ggml_tensor * tensor = t.rule->axes[1] == AXIS_NONE
                ? ggml_new_tensor_1d(meta, GGML_TYPE_F32, t.ne[0])
                : ggml_new_tensor_2d(meta, GGML_TYPE_F32, t.ne[0], t.ne[1]);
            ggml_set_name(tensor, t.name.c_str());
            gguf_add_tensor(out, tensor);
        }
        if (bad) {
            break;
        }

        if (!gguf_write_to_file(out, fname.c_str(), /*only_meta =*/ true)) {
            fprintf(stderr, "error: failed to write the header of %s\n", fname.c_str());
            break;
        }
        fout = fopen(fname.c_str(), "ab");
        if (!fout) {
            fprintf(stderr, "error: failed to open %s for appending: %s\n", fname.c_str(), strerror(errno));
            break;
        }

        const uint64_t meta_size = gguf_get_meta_size(out);
        const size_t   alignment = gguf_get_alignment(out);
        uint64_t       pos       = meta_size;
        std::vector<float> data;

        fprintf(stderr, "%s: header %" PRIu64 " bytes, %zu tensors\n", __func__, meta_size, plan.size());

        for (size_t i = 0; i < plan.size(); i++) {
            const out_tensor & t = plan[i];
            if (!make_tensor_data(fin, in, t, src, dst, params.seed, params.perturb, data)) {
                bad = true;
                break;
            }
            // tensor i starts where the header says it does; anything before it is alignment padding
            const uint64_t start = meta_size + gguf_get_tensor_offset(out, (int64_t) i);
            const size_t   nbytes = data.size() * sizeof(float);
            if (start < pos || nbytes != gguf_get_tensor_size(out, (int64_t) i) ||
                !write_zeros(fout, start - pos) || fwrite(data.data(), 1, nbytes, fout) != nbytes) {
                fprintf(stderr, "error: failed to write tensor %s to %s\n", t.name.c_str(), fname.c_str());
                bad = true;
                break;
            }
            pos = start + nbytes;

            fprintf(stderr, "[%4zu/%4zu] %-28s %6" PRId64 " x %6" PRId64 " (from %s) %10.2f MiB, total %10.2f MiB\n",
                    i + 1, plan.size(), t.name.c_str(), t.ne[0], t.ne[1],
                    t.src_id < 0 ? "new layer" :
                        (std::to_string(t.ne_src[0]) + " x " + std::to_string(t.ne_src[1])).c_str(),
                    nbytes / 1048576.0, pos / 1048576.0);
        }
        if (bad) {
            break;
        }
        // gguf pads the data of the last tensor as well
        const uint64_t end = (pos + alignment - 1) / alignment * alignment;
        if (!write_zeros(fout, end - pos)) {
            fprintf(stderr, "error: failed to write %s\n", fname.c_str());
            break;
        }
        ok = true;
    } while (false);

    if (fout && fclose(fout) != 0) {
        fprintf(stderr, "error: failed to close %s: %s\n", fname.c_str(), strerror(errno));
        ok = false;
    }
    if (meta) {
        ggml_free(meta);
    }
    if (out) {
        gguf_free(out);
    }
    if (!ok) {
        remove(fname.c_str());
    }
    return ok;
}

// Reads the heads of --heads and checks that they were made for the input model.
static bool read_heads(const scale_params & params, const model_dims & src, sd_heads_weights & in) {
    std::string error;
    std::string input_fingerprint;
    if (sd_heads_read(params.heads.c_str(), in, error) != SD_OK ||
        sd_fingerprint_file(params.input.c_str(), input_fingerprint, error) != SD_OK) {
        fprintf(stderr, "error: %s\n", error.c_str());
        return false;
    }
    if (in.info.n_embd != src.n_embd || in.info.n_vocab != src.n_vocab || in.info.fingerprint != input_fingerprint) {
        fprintf(stderr, "error: the heads %s were made for another model (hidden size %d, vocabulary %d, fingerprint %s;"
                        " the input has %" PRId64 ", %" PRId64 ", %s)\n",
                params.heads.c_str(), in.info.n_embd, in.info.n_vocab, in.info.fingerprint.c_str(), src.n_embd,
                src.n_vocab, input_fingerprint.c_str());
        return false;
    }
    return true;
}

// Widens heads made for the input model to the scaled model written at params.output (see the top).
static bool widen_heads(const scale_params & params, const sd_heads_weights & in, const model_dims & src,
                        const model_dims & dst) {
    std::string error;
    const size_t d = (size_t) src.n_embd, D = (size_t) dst.n_embd, V = (size_t) src.n_vocab;
    sd_heads_weights out;
    out.info = in.info;
    out.info.n_embd = (int32_t) D;
    out.info.base_name += scaled_suffix(dst);
    if (sd_fingerprint_file(params.output.c_str(), out.info.fingerprint, error) != SD_OK) {
        fprintf(stderr, "error: %s\n", error.c_str());
        return false;
    }
    // square matrices: the input's in the top left corner, zeros elsewhere (times `scale`)
    auto widen_square = [&](const std::vector<float> & m_in, float scale) {
        std::vector<float> m(D * D, 0.0f);
        for (size_t o = 0; o < d; o++) {
            for (size_t i = 0; i < d; i++) m[o * D + i] = scale * m_in[o * d + i];
        }
        return m;
    };
    for (size_t j = 0; j < in.w.size(); j++) {
        std::vector<float> b(D, 0.0f);
        for (size_t o = 0; o < d; o++) b[o] = in.b[j][o];
        out.w.push_back(widen_square(in.w[j], 1.0f));
        out.b.push_back(std::move(b));
    }
    // a feature drafter's attention: the scores are scaled by 1 / sqrt(hidden size), so the query
    // projection grows by sqrt(D / d) to keep them
    for (size_t j = 0; j < in.attn.size(); j++) {
        out.attn.push_back(widen_square(in.attn[j], j == 0 ? std::sqrt((float) D / (float) d) : 1.0f));
    }
    out.attn_pos = in.attn_pos;
    // output projections and (regressive heads) token tables: rows of the hidden size, zero-padded
    auto widen_rows = [&](const std::vector<std::vector<float>> & in_rows, std::vector<std::vector<float>> & out_rows) {
        for (const std::vector<float> & o_in : in_rows) {
            std::vector<float> o(V * D, 0.0f);
            for (size_t v = 0; v < V; v++) {
                memcpy(&o[v * D], &o_in[v * d], d * sizeof(float));
            }
            out_rows.push_back(std::move(o));
        }
    };
    widen_rows(in.out, out.out);
    widen_rows(in.tok, out.tok);
    if (sd_heads_save_raw(params.heads_output.c_str(), out, error) != SD_OK) {
        fprintf(stderr, "error: %s\n", error.c_str());
        return false;
    }
    fprintf(stderr, "%s: wrote %s: %d heads x %d blocks, hidden size %zu -> %zu%s\n", __func__,
            params.heads_output.c_str(), out.info.n_heads, out.info.n_layers, d, D,
            out.info.shared_output ? ", shared output" : "");
    return true;
}

int main(int argc, char ** argv) {
    scale_params params;
    if (!parse_args(argc, argv, params)) {
        fprintf(stderr, "run %s --help for usage\n", argv[0]);
        return 1;
    }
    llama_ftype ftype = LLAMA_FTYPE_ALL_F32;
    if (!params.quantize.empty() && !parse_quant_type(params.quantize, ftype)) {
        fprintf(stderr, "error: --quantize must be one of q8_0, q4_0, f16 (got '%s')\n", params.quantize.c_str());
        return 1;
    }

    const auto t_start = std::chrono::steady_clock::now();

    FILE * fin = fopen(params.input.c_str(), "rb");
    if (!fin) {
        fprintf(stderr, "error: cannot open %s: %s\n", params.input.c_str(), strerror(errno));
        return 1;
    }
    gguf_init_params gp = {
        /*.no_alloc =*/ true,
        /*.ctx      =*/ nullptr,
    };
    gguf_context * in = gguf_init_from_file(params.input.c_str(), gp);
    if (!in) {
        fprintf(stderr, "error: %s is not a readable GGUF file\n", params.input.c_str());
        fclose(fin);
        return 1;
    }

    int rc = 1;
    model_dims src, dst;
    std::vector<out_tensor> plan;
    sd_heads_weights heads;
    do {
        if (!read_dims(in, params, src, dst) || !make_plan(in, src, dst, plan)) {
            break;
        }
        if (!params.heads.empty() && !read_heads(params, src, heads)) {
            break;
        }
        fprintf(stderr, "%s: n_embd %" PRId64 " -> %" PRId64 ", n_ff %" PRId64 " -> %" PRId64 ", n_layer %" PRId64 " -> %" PRId64
                        ", n_head %" PRId64 " -> %" PRId64 ", n_head_kv %" PRId64 " -> %" PRId64 ", head_dim %" PRId64 " -> %" PRId64 ", n_vocab %" PRId64 "\n",
                __func__, src.n_embd, dst.n_embd, src.n_ff, dst.n_ff, src.n_layer, dst.n_layer,
                src.n_head, dst.n_head, src.n_head_kv, dst.n_head_kv, src.head_dim, dst.head_dim, src.n_vocab);
        if (gguf_find_tensor(in, "output.weight") < 0) {
            fprintf(stderr, "%s: no output.weight: the output is tied to token_embd, which stays exact\n", __func__);
        }

        // when quantizing, the F32 file is only an intermediate step next to the output
        const std::string f32_path = ftype == LLAMA_FTYPE_ALL_F32 ? params.output : params.output + ".f32.tmp";
        if (!write_model(f32_path, fin, in, plan, src, dst, params)) {
            break;
        }

        if (ftype != LLAMA_FTYPE_ALL_F32) {
            fprintf(stderr, "%s: quantizing %s to %s as %s\n", __func__, f32_path.c_str(), params.output.c_str(), params.quantize.c_str());
            llama_backend_init();
            llama_model_quantize_params qp = llama_model_quantize_default_params();
            qp.ftype   = ftype;
            qp.nthread = 0;
            const uint32_t qrc = llama_model_quantize(f32_path.c_str(), params.output.c_str(), &qp);
            llama_backend_free();
            remove(f32_path.c_str());
            if (qrc != 0) {
                fprintf(stderr, "error: llama_model_quantize failed (%u)\n", qrc);
                remove(params.output.c_str());
                break;
            }
        }
        if (!params.heads.empty() && !widen_heads(params, heads, src, dst)) {
            break;
        }
        rc = 0;
    } while (false);

    gguf_free(in);
    fclose(fin);

    if (rc == 0) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        fprintf(stderr, "%s: wrote %s in %.1f s\n", __func__, params.output.c_str(), secs);
    }
    return rc;
}
