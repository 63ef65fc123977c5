// Early exit (Kangaroo-style self-speculation, sd_early_exit_make) on the test model (label: model):
// - the drafter file is a model of the same architecture with K + 1 blocks, loads, shares the
//   vocabulary, and its untrained form with K = block_count - 1 is the model itself;
// - training the adapter (the whole block, or its FFN only) on a slice of the corpus raises held-out
//   agreement with the model's greedy tokens, and never writes weights worse than the copied adapter's;
// - the whole-block training graph (llama.cpp's block rebuilt in ggml) predicts what llama.cpp does:
//   with K = block_count - 1 the copied adapter agrees with the model's greedy tokens;
// - greedy generation with the drafter as a draft model equals plain decoding and accepts drafts;
// - progress is reported per phase, and cancelling from it writes nothing;
// - bad parameters, corpora and paths are refused with messages naming the problem.
#include "sd-test.h"
#include "sd-test-generate.h"

#include "spec-decode.h"
#include "model/sd-gguf.h"
#include "model/sd-model.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

static std::string tmp_path(const char * name) {
    return "/tmp/llamaspec-test-early-exit-" + std::to_string((long) getpid()) + "-" + name;
}

static int64_t block_count(const std::string & path) {
    sd_gguf_ptr g = sd_gguf_open(path.c_str());
    if (!g) return -1;
    const std::string arch = sd_gguf_str(g.get(), "general.architecture");
    const int64_t id = gguf_find_key(g.get(), (arch + ".block_count").c_str());
    return id >= 0 ? (int64_t) gguf_get_val_u32(g.get(), id) : -1;
}

static bool contains(const std::string & s, const char * part) {
    const bool ok = s.find(part) != std::string::npos;
    if (!ok) std::fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", s.c_str(), part);
    return ok;
}

static sd_early_exit_params small(int32_t k) {
    sd_early_exit_params p = sd_early_exit_default_params();
    p.n_layers = k;
    p.corpus = sd_test_corpus_path();
    p.n_steps = 300;
    p.max_tokens = 8000;
    p.n_threads = 1;
    return p;
}

// The untrained drafter with all but the last block is the model: its drafts are the model's own.
static void untrained_full(sd_model * model) {
    const int64_t n_layer = block_count(model->path);
    CHECK(n_layer >= 2);
    const std::string path = tmp_path("full.gguf");
    sd_early_exit_params p = sd_early_exit_default_params();
    p.n_layers = (int32_t) n_layer - 1;
    sd_early_exit_report r;
    std::string error;
    CHECK(sd_early_exit_make(model, p, path.c_str(), r, nullptr, nullptr, error) == SD_OK);
    CHECK(r.n_layers_model == n_layer && r.n_train == 0 && r.file_bytes > 0 && r.model_bytes > 0);
    CHECK(block_count(path) == n_layer);
    sd_model * drafter = nullptr;
    CHECK(sd_model_load(path.c_str(), sd_model_default_params(), &drafter, error) == SD_OK);
    if (drafter != nullptr) {
        std::vector<llama_token> prompt;
        sd_tokenize(model, "Once upon a time, there was a little girl", true, false, prompt, error);
        std::vector<float> a, b;
        sd_session_params sp = sd_session_default_params();
        sp.n_ctx = 128;
        sp.strict_numerics = true;
        sd_session * s1 = nullptr;
        sd_session * s2 = nullptr;
        CHECK(sd_session_init(model, sp, &s1, error) == SD_OK && sd_session_init(drafter, sp, &s2, error) == SD_OK);
        if (s1 != nullptr && s2 != nullptr) {
            CHECK(sd_session_logits(s1, prompt, a, error) == SD_OK && sd_session_logits(s2, prompt, b, error) == SD_OK);
            double diff = a.size() == b.size() && !a.empty() ? 0 : INFINITY;
            for (size_t i = 0; i < a.size() && a.size() == b.size(); i++) diff = std::max(diff, (double) std::fabs(a[i] - b[i]));
            std::printf("first %lld blocks + the last: max logit difference to the model %.2e\n", (long long) n_layer - 1, diff);
            CHECK(diff < 1e-4);
        }
        sd_session_free(s1);
        sd_session_free(s2);
        sd_model_free(drafter);
    }
    std::remove(path.c_str());
}

// Counts progress calls per phase; with stop_at > 0, cancels at that training step.
struct progress_seen {
    int64_t read = 0, eval = 0, steps = 0;
    int64_t stop_at = 0;
};

static bool progress(const sd_train_progress & p, void * user) {
    progress_seen & s = *static_cast<progress_seen *>(user);
    if (p.phase == SD_TRAIN_READ) s.read++;
    if (p.phase == SD_TRAIN_EVAL) s.eval++;
    if (p.phase == SD_TRAIN_OPTIMIZE) {
        s.steps++;
        CHECK(p.done == s.steps && p.total == 300 && p.loss > 0);
    }
    return s.stop_at == 0 || p.done < s.stop_at || p.phase != SD_TRAIN_OPTIMIZE;
}

static void cancellation(sd_model * model) {
    const std::string path = tmp_path("cancelled.gguf");
    sd_early_exit_report r;
    std::string error;
    progress_seen seen;
    seen.stop_at = 5;
    CHECK(sd_early_exit_make(model, small(2), path.c_str(), r, progress, &seen, error) == SD_OK);
    CHECK(r.cancelled && seen.steps == 5 && r.file_bytes == 0);
    CHECK(!std::ifstream(path).good() && !std::ifstream(path + ".untrained").good());
}

// The whole-block graph with the model's own last block as the adapter is the model.
static void whole_block_is_the_model(sd_model * model) {
    const std::string path = tmp_path("full-trained.gguf");
    sd_early_exit_params p = small((int32_t) block_count(model->path) - 1);
    p.attention = true;
    p.n_steps = 1;
    p.max_tokens = 4000;
    sd_early_exit_report r;
    std::string error;
    CHECK(sd_early_exit_make(model, p, path.c_str(), r, nullptr, nullptr, error) == SD_OK);
    std::printf("whole block, K = %d: copied adapter's held-out agreement %.3f on %lld positions\n", p.n_layers,
                r.agreement_before, (long long) r.n_eval);
    CHECK(r.n_eval > 100 && r.agreement_before >= 0.98f);
    std::remove(path.c_str());
}

static void trained(sd_model * model, bool attention) {
    const std::string path = tmp_path("k2.gguf");
    sd_early_exit_report r;
    std::string error;
    progress_seen seen;
    sd_early_exit_params p = small(2);
    p.attention = attention;
    const sd_status status = sd_early_exit_make(model, p, path.c_str(), r, progress, &seen, error);
    if (status != SD_OK) std::fprintf(stderr, "early exit: %s\n", error.c_str());
    CHECK(status == SD_OK);
    std::printf("K = 2, %s: %lld training positions, loss %.3f -> %.3f, held-out agreement %.3f -> %.3f (step %d of %d), "
                "%.2f MB of the model's %.2f MB\n", attention ? "whole block" : "FFN only", (long long) r.n_train, r.loss_first, r.loss, r.agreement_before,
                r.agreement_after, r.best_step, r.steps, r.file_bytes / 1e6, r.model_bytes / 1e6);
    CHECK(r.n_train > 0 && r.n_eval > 0 && r.steps == 300 && !r.cancelled);
    CHECK(seen.read > 0 && seen.eval == 1 && seen.steps == 300);
    CHECK(r.loss < r.loss_first);
    CHECK(r.agreement_after > r.agreement_before && r.best_step > 0);
    CHECK(r.file_bytes > 0 && r.file_bytes < r.model_bytes);
    CHECK(block_count(path) == 3);

    sd_model * drafter = nullptr;
    CHECK(sd_model_load(path.c_str(), sd_model_default_params(), &drafter, error) == SD_OK);
    if (drafter == nullptr) return;
    CHECK(sd_model_vocab_compatible(model, drafter, error) == SD_OK);
    sd_session_params sp = sd_session_default_params();
    sp.n_ctx = 512;
    sp.strict_numerics = true;
    sp.n_threads = 1;
    sd_session * session = nullptr;
    CHECK(sd_session_init(model, sp, &session, error) == SD_OK);
    int64_t drafted = 0, accepted = 0;
    for (const char * text : {"Once upon a time, there was a little dog.", "Lily went to the park with her mom."}) {
        std::vector<llama_token> prompt;
        sd_tokenize(model, text, true, false, prompt, error);
        sd_generation_params params = sd_generation_default_params();
        params.temperature = 0.0f;
        params.max_tokens = 64;
        const run_result plain = sd_test_generate(session, prompt, params);
        params.spec.type = SD_SPEC_DRAFT_MODEL;
        params.spec.draft.model = drafter;
        params.spec.adaptive = false;
        const run_result spec = sd_test_generate(session, prompt, params);
        CHECK(plain.tokens == spec.tokens);
        drafted += spec.stats.n_drafted;
        accepted += spec.stats.n_accepted;
    }
    std::printf("draft model K = 2: %lld drafted, %lld accepted\n", (long long) drafted, (long long) accepted);
    CHECK(accepted > 0);
    sd_session_free(session);
    sd_model_free(drafter);
    std::remove(path.c_str());
}

static void bad_inputs(sd_model * model) {
    std::string error;
    sd_early_exit_report r;
    const std::string path = tmp_path("bad.gguf");
    auto refused = [&](const sd_early_exit_params & p, const char * out, const char * needle) {
        error.clear();
        CHECK(sd_early_exit_make(model, p, out, r, nullptr, nullptr, error) != SD_OK);
        CHECK(contains(error, needle));
        std::printf("refused: %s\n", error.c_str());
    };
    const int64_t n_layer = block_count(model->path);
    refused(small(0), path.c_str(), "layers must be in [1, 4096], got 0");
    refused(small((int32_t) n_layer), path.c_str(), "early exit keeps 1 .. ");
    refused(small(2), "", "output path is empty");
    refused(small(2), "/nonexistent-dir/drafter.gguf", "cannot write /nonexistent-dir/drafter.gguf");
    sd_early_exit_params p = small(2);
    p.batch = 0;
    refused(p, path.c_str(), "batch must be in [1, 65536], got 0");
    p = small(2);
    p.lr = std::nanf("");
    refused(p, path.c_str(), "lr must be in (0, 1], got nan");
    // the table the command line and Java set values through
    p = small(2);
    CHECK(sd_early_exit_set(p, "holdout", 0.6, error) == SD_ERR_INVALID_ARGUMENT && contains(error, "holdout must be in"));
    CHECK(sd_early_exit_set(p, "corpus", 1, error) == SD_ERR_INVALID_ARGUMENT && contains(error, "unknown setting 'corpus'"));
    CHECK(sd_early_exit_set(p, "steps", 7, error) == SD_OK && p.n_steps == 7);
    CHECK(sd_early_exit_set(p, "attention", 2, error) == SD_ERR_INVALID_ARGUMENT && contains(error, "attention must be 0 or 1"));
    CHECK(sd_early_exit_set(p, "attention", 0, error) == SD_OK && !p.attention);
    CHECK(sd_early_exit_settings().size() == 9 && !sd_early_exit_default_params().attention);
    p = small(2);
    p = small(2);
    p.corpus = "/nonexistent-corpus.txt";
    refused(p, path.c_str(), "cannot read the corpus");
    CHECK(!std::ifstream(path).good() && !std::ifstream(path + ".untrained").good()); // nothing left behind
    const std::string short_corpus = tmp_path("short.txt");
    { std::ofstream(short_corpus) << "Tom ran."; }
    p.corpus = short_corpus;
    refused(p, path.c_str(), "the corpus is too short");
    std::remove(short_corpus.c_str());
    CHECK(!std::ifstream(path).good()); // nothing left behind
    CHECK(sd_early_exit_make(nullptr, small(2), path.c_str(), r, nullptr, nullptr, error) == SD_ERR_INVALID_ARGUMENT);
}

int main() {
    std::string error;
    sd_model_params mparams = sd_model_default_params();
    mparams.n_threads = 1;
    sd_model * model = nullptr;
    if (sd_model_load(sd_test_model_path().c_str(), mparams, &model, error) != SD_OK) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    bad_inputs(model);
    untrained_full(model);
    cancellation(model);
    whole_block_is_the_model(model);
    trained(model, true);
    trained(model, false);
    sd_model_free(model);
    return sd_test_finish("test-early-exit");
}
