// agreement: how often a draft model's greedy token equals a target model's over corpus text.
//
//   llamaspec-agreement --target T.gguf --draft D.gguf --corpus FILE [--positions 4096] [--first 0]
//                       [--ctx 256] [--threads 2] [--json FILE]
//
// Stories of the corpus ("<|endoftext|>" between them) from story `first` on are read with the
// target's tokenizer (BOS first, at most ctx tokens each) and evaluated by both models in one batch
// per story; at every position both models' argmax (the next token each would choose greedily) are
// compared, until `positions` positions have been counted. The fraction of equal positions is
// the per-token agreement: roughly the chance that a greedy draft token is accepted.
#include "llama.h"
#include "spec-decode.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

struct agreement_params {
    std::string target;
    std::string draft;
    std::string corpus;
    std::string json_path;
    int32_t     positions = 4096;
    int32_t     first     = 0;
    int32_t     n_ctx     = 256;
    int32_t     threads   = 2;
};

static void usage() {
    std::fprintf(stderr,
        "usage: llamaspec-agreement --target T.gguf --draft D.gguf --corpus FILE [--positions 4096] [--first 0]\n"
        "                           [--ctx 256] [--threads 2] [--json FILE]\n"
        "Prints the fraction of positions of corpus text where the draft model's greedy token equals the\n"
        "target's.\n");
}

static bool parse_int(const char * s, int32_t lo, int32_t hi, int32_t & out) {
    char * end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) return false;
    out = (int32_t) v;
    return true;
}

static bool parse_args(int argc, char ** argv, agreement_params & p) {
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "error: %s needs a value\n", a.c_str());
            return false;
        }
        const char * v = argv[++i];
        bool ok = true;
        if      (a == "--target")    p.target = v;
        else if (a == "--draft")     p.draft = v;
        else if (a == "--corpus")    p.corpus = v;
        else if (a == "--json")      p.json_path = v;
        else if (a == "--positions") ok = parse_int(v, 1, 1 << 30, p.positions);
        else if (a == "--first")     ok = parse_int(v, 0, 1 << 30, p.first);
        else if (a == "--ctx")       ok = parse_int(v, 8, 1 << 20, p.n_ctx);
        else if (a == "--threads")   ok = parse_int(v, 1, 512, p.threads);
        else {
            std::fprintf(stderr, "error: unknown argument %s\n", a.c_str());
            return false;
        }
        if (!ok) {
            std::fprintf(stderr, "error: bad value for %s: %s\n", a.c_str(), v);
            return false;
        }
    }
    if (p.target.empty() || p.draft.empty() || p.corpus.empty()) {
        std::fprintf(stderr, "error: --target, --draft and --corpus are required\n");
        return false;
    }
    return true;
}

// A model and a context that returns the logits of every position of a batch.
struct agreement_model {
    llama_model *   model = nullptr;
    llama_context * ctx   = nullptr;
};

static bool model_open(const std::string & path, const agreement_params & p, agreement_model & m) {
    m.model = llama_model_load_from_file(path.c_str(), llama_model_default_params());
    if (m.model == nullptr) {
        std::fprintf(stderr, "error: cannot load %s\n", path.c_str());
        return false;
    }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = (uint32_t) p.n_ctx;
    cp.n_threads = cp.n_threads_batch = p.threads;
    m.ctx = llama_init_from_model(m.model, cp);
    if (m.ctx == nullptr) {
        std::fprintf(stderr, "error: cannot make a context for %s\n", path.c_str());
        return false;
    }
    return true;
}

static void model_close(agreement_model & m) {
    llama_free(m.ctx);
    llama_model_free(m.model);
}

// Evaluates tokens from an empty cache and stores the argmax of every position.
static bool argmax_all(agreement_model & m, const std::vector<llama_token> & tokens, std::vector<llama_token> & out) {
    llama_memory_clear(llama_get_memory(m.ctx), true);
    const int32_t n = (int32_t) tokens.size();
    llama_batch batch = llama_batch_init(n, 0, 1);
    for (int32_t i = 0; i < n; i++) {
        batch.token[i] = tokens[(size_t) i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = n;
    const bool ok = llama_decode(m.ctx, batch) == 0;
    llama_batch_free(batch);
    if (!ok) return false;
    const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(m.model));
    out.resize((size_t) n);
    for (int32_t i = 0; i < n; i++) {
        const float * logits = llama_get_logits_ith(m.ctx, i);
        int32_t best = 0;
        for (int32_t v = 1; v < n_vocab; v++) {
            if (logits[v] > logits[best]) best = v;
        }
        out[(size_t) i] = best;
    }
    return true;
}

static bool read_stories(const std::string & path, std::vector<std::string> & stories) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    const std::string sep = "<|endoftext|>";
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find(sep, start);
        if (end == std::string::npos) end = text.size();
        const size_t b = text.find_first_not_of(" \t\r\n", start);
        if (b != std::string::npos && b < end) stories.push_back(text.substr(b, end - b));
        start = end + sep.size();
    }
    return true;
}

int main(int argc, char ** argv) {
    agreement_params p;
    if (!parse_args(argc, argv, p)) {
        usage();
        return 2;
    }
    std::vector<std::string> stories;
    if (!read_stories(p.corpus, stories)) {
        std::fprintf(stderr, "error: cannot read the corpus %s\n", p.corpus.c_str());
        return 1;
    }
    sd_backend_init(); // ggml's backends, and llama.cpp's log lines silenced
    agreement_model target, draft;
    int rc = 1;
    int64_t counted = 0, equal = 0;
    if (model_open(p.target, p, target) && model_open(p.draft, p, draft)) {
        const llama_vocab * vocab = llama_model_get_vocab(target.model);
        if (llama_vocab_n_tokens(vocab) != llama_vocab_n_tokens(llama_model_get_vocab(draft.model))) {
            std::fprintf(stderr, "error: the models' vocabularies differ in size\n");
        } else {
            rc = 0;
        }
        std::vector<llama_token> tokens, a, b;
        for (size_t s = (size_t) p.first; rc == 0 && s < stories.size() && counted < p.positions; s++) {
            tokens.resize(stories[s].size() + 2);
            const int32_t n = llama_tokenize(vocab, stories[s].c_str(), (int32_t) stories[s].size(), tokens.data(),
                                             (int32_t) tokens.size(), true, false);
            if (n < 2) continue;
            tokens.resize((size_t) std::min(n, p.n_ctx));
            if (!argmax_all(target, tokens, a) || !argmax_all(draft, tokens, b)) {
                std::fprintf(stderr, "error: llama_decode failed on story %zu\n", s);
                rc = 1;
                break;
            }
            // the prediction at the last position has no corpus token after it, but both models made
            // one: it counts like every other
            for (size_t i = 0; i < a.size() && counted < p.positions; i++, counted++) {
                equal += a[i] == b[i];
            }
        }
    }
    if (rc == 0 && counted < p.positions) {
        std::fprintf(stderr, "error: the corpus has only %" PRId64 " positions from story %d on, %d asked\n", counted,
                     p.first, p.positions);
        rc = 1;
    }
    if (rc == 0) {
        const double agreement = (double) equal / (double) counted;
        std::printf("agreement %.4f (%" PRId64 " of %" PRId64 " positions equal; target %s, draft %s, stories from %d, "
                    "at most %d tokens each)\n", agreement, equal, counted, p.target.c_str(), p.draft.c_str(), p.first,
                    p.n_ctx);
        if (!p.json_path.empty()) {
            FILE * f = std::fopen(p.json_path.c_str(), "w");
            if (f == nullptr || std::fprintf(f, "{\"agreement\": %.6f, \"equal\": %" PRId64 ", \"positions\": %" PRId64
                                                ", \"first_story\": %d, \"ctx\": %d}\n",
                                             agreement, equal, counted, p.first, p.n_ctx) < 0 || std::fclose(f) != 0) {
                std::fprintf(stderr, "error: cannot write %s\n", p.json_path.c_str());
                rc = 1;
            }
        }
    }
    if (draft.model != nullptr) model_close(draft);
    if (target.model != nullptr) model_close(target);
    return rc;
}
