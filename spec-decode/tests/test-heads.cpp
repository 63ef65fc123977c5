// Medusa heads: the file format round trip, the checks against the model, the ggml evaluation
// against llama.cpp's own output projection, and greedy generation with heads equal to plain
// decoding.
#include "sd-test.h"
#include "sd-test-generate.h"
#include "sd-test-heads.h"

#include "spec-decode.h"
#include "heads/sd-heads.h"
#include "model/sd-model.h"
#include "engine/sd-session.h"

#include "gguf.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

static std::string tmp_path(const char * name) {
    return "/tmp/llamaspec-test-heads-" + std::to_string((long) getpid()) + "-" + name;
}

static void roundtrip_and_checks(sd_model * model) {
    std::string error;
    const std::string path = tmp_path("identity.gguf");
    sd_heads_weights w = identity_heads(model, 3, 2, false);
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 0.01f);
    for (auto & m : w.w) for (float & x : m) x = noise(rng);
    w.info.accuracy.assign(3 * SD_HEADS_RANKS, 0.25f);
    CHECK(sd_heads_save(path.c_str(), model, w, error) == SD_OK);

    sd_heads_weights r;
    CHECK(sd_heads_read(path.c_str(), r, error) == SD_OK);
    CHECK(r.info.n_heads == 3 && r.info.n_layers == 2 && r.info.n_embd == w.info.n_embd && r.info.n_vocab == w.info.n_vocab);
    CHECK(!r.info.shared_output && r.w == w.w && r.b == w.b && r.out == w.out && r.info.accuracy == w.info.accuracy);
    std::string fp;
    CHECK(sd_model_fingerprint(model, fp, error) == SD_OK && fp.size() == 16 && r.info.fingerprint == fp);

    sd_heads * heads = nullptr;
    CHECK(sd_heads_load(path.c_str(), model, &heads, error) == SD_OK && heads != nullptr);
    if (heads != nullptr) {
        const sd_heads_info info = sd_heads_get_info(heads);
        CHECK(info.n_heads == 3 && info.accuracy.size() == (size_t) (3 * SD_HEADS_RANKS));
        sd_heads_free(heads);
    }

    auto load_error = [&](const std::string & p) {
        sd_heads * h = nullptr;
        std::string e;
        const sd_status st = sd_heads_load(p.c_str(), model, &h, e);
        CHECK(st != SD_OK && h == nullptr);
        sd_heads_free(h);
        return e;
    };
    auto contains = [](const std::string & s, const char * part) {
        const bool ok = s.find(part) != std::string::npos;
        if (!ok) std::fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", s.c_str(), part);
        return ok;
    };
    CHECK(contains(load_error("/nonexistent/heads.gguf"), "heads file not found"));
    CHECK(contains(load_error("/tmp"), "heads path is a directory"));
    CHECK(contains(load_error(model->path), "not a Medusa heads file"));

    // made for another model: another fingerprint
    sd_heads_weights other = w;
    other.info.fingerprint = "0123456789abcdef";
    other.info.base_name = "another model";
    const std::string other_path = tmp_path("other.gguf");
    CHECK(sd_heads_save_raw(other_path.c_str(), other, error) == SD_OK);
    CHECK(contains(load_error(other_path), "made for another model ('another model'"));

    // another hidden size
    sd_heads_weights wide = identity_heads(model, 1, 1, true);
    wide.info.n_embd *= 2;
    wide.w[0].assign((size_t) wide.info.n_embd * wide.info.n_embd, 0.0f);
    wide.b[0].assign((size_t) wide.info.n_embd, 0.0f);
    wide.info.fingerprint = fp;
    CHECK(sd_heads_save_raw(other_path.c_str(), wide, error) == SD_OK);
    CHECK(contains(load_error(other_path), "heads are for hidden size"));

    // truncated
    {
        FILE * f = std::fopen(path.c_str(), "rb");
        std::vector<char> bytes(1 << 20);
        const size_t n = std::fread(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
        FILE * g = std::fopen(other_path.c_str(), "wb");
        std::fwrite(bytes.data(), 1, n / 2, g);
        std::fclose(g);
        const std::string e = load_error(other_path);
        CHECK(contains(e, "truncated") || contains(e, "not a valid GGUF"));
    }
    // sizes that do not match the info are refused when writing
    sd_heads_weights bad = w;
    bad.b.pop_back();
    CHECK(sd_heads_save(other_path.c_str(), model, bad, error) == SD_ERR_INVALID_ARGUMENT);
    std::remove(path.c_str());
    std::remove(other_path.c_str());
}

// Identity heads reproduce llama.cpp's logits from llama.cpp's hidden states: this checks the
// hidden state read (final norm output), the graph and the output projection at once.
static void identity_logits(sd_model * model) {
    std::string error;
    for (bool shared : {false, true}) {
        const std::string path = tmp_path("logits.gguf");
        CHECK(sd_heads_save(path.c_str(), model, identity_heads(model, 2, 1, shared), error) == SD_OK);
        sd_heads * heads = nullptr;
        CHECK(sd_heads_load(path.c_str(), model, &heads, error) == SD_OK);
        std::remove(path.c_str());
        if (heads == nullptr) return;

        sd_session_params sp = sd_session_default_params();
        sp.n_ctx = 256;
        sp.strict_numerics = true;
        sd_session * session = nullptr;
        CHECK(sd_session_init(model, sp, &session, error) == SD_OK);
        std::vector<llama_token> prompt;
        CHECK(sd_tokenize(model, "Once upon a time, there was a little dog", true, false, prompt, error) == SD_OK);
        // the session's context with embeddings: evaluate the prompt, read logits and hidden state
        llama_context * ctx = llama_init_from_model(model->model, [] {
            llama_context_params p = llama_context_default_params();
            p.n_ctx = 256;
            p.n_batch = 256;
            p.embeddings = true;
            p.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED; // as the session
            p.type_k = GGML_TYPE_F32;
            p.type_v = GGML_TYPE_F32;
            return p;
        }());
        llama_batch batch = llama_batch_get_one(prompt.data(), (int32_t) prompt.size());
        CHECK(llama_decode(ctx, batch) == 0);
        const float * logits = llama_get_logits_ith(ctx, -1);
        const float * hidden = llama_get_embeddings_ith(ctx, -1);
        CHECK(logits != nullptr && hidden != nullptr);
        if (logits != nullptr && hidden != nullptr) {
            std::vector<float> out;
            CHECK(sd_heads_logits(heads, hidden, 1, out, error) == SD_OK);
            const int32_t n_vocab = llama_vocab_n_tokens(model->vocab);
            CHECK(out.size() == (size_t) (2 * n_vocab));
            double max_diff = 0;
            for (int32_t k = 0; k < 2 && out.size() == (size_t) (2 * n_vocab); k++) {
                for (int32_t v = 0; v < n_vocab; v++) {
                    max_diff = std::max(max_diff, (double) std::fabs(out[(size_t) (k * n_vocab + v)] - logits[v]));
                }
            }
            std::printf("identity heads (%s output): max |heads - model| logit difference %.2e\n",
                        shared ? "shared" : "own", max_diff);
            CHECK(max_diff < 1e-3);

            // the session's capture of the final norm's output equals llama.cpp's embeddings
            CHECK(sd_context_enable_capture(session->ctx, error) == SD_OK);
            session->ctx->capture = true;
            std::vector<float> session_logits;
            CHECK(sd_session_logits(session, prompt, session_logits, error) == SD_OK);
            session->ctx->capture = false;
            const int32_t n_embd = llama_model_n_embd(model->model);
            CHECK(session->ctx->hidden_n >= 1 && session->ctx->hidden.size() == (size_t) session->ctx->hidden_n * n_embd);
            double max_h = 1e9;
            if (session->ctx->hidden_n >= 1) {
                max_h = 0;
                const float * last = &session->ctx->hidden[(size_t) (session->ctx->hidden_n - 1) * n_embd];
                for (int32_t i = 0; i < n_embd; i++) max_h = std::max(max_h, (double) std::fabs(last[i] - hidden[i]));
            }
            std::printf("captured hidden state vs llama.cpp embeddings: max difference %.2e\n", max_h);
            CHECK(max_h < 1e-4);
        }
        llama_free(ctx);
        sd_session_free(session);
        sd_heads_free(heads);
    }
}

// Greedy generation with heads equals plain decoding, with heads that draft (identity heads propose
// the model's next-token guesses shifted by one, which are sometimes right) and the budget off.
static void greedy_equivalence(sd_model * model) {
    std::string error;
    const std::string path = tmp_path("gen.gguf");
    CHECK(sd_heads_save(path.c_str(), model, identity_heads(model, 4, 1, true), error) == SD_OK);
    sd_heads * heads = nullptr;
    CHECK(sd_heads_load(path.c_str(), model, &heads, error) == SD_OK);
    std::remove(path.c_str());
    if (heads == nullptr) return;
    sd_session_params sp = sd_session_default_params();
    sp.n_ctx = 512;
    sp.strict_numerics = true;
    sd_session * session = nullptr;
    CHECK(sd_session_init(model, sp, &session, error) == SD_OK);
    const char * prompts[] = {"Once upon a time", "Tom and Lily went to the park. They", "The little bird"};
    int32_t drafted = 0;
    for (const char * text : prompts) {
        std::vector<llama_token> prompt;
        sd_tokenize(model, text, true, false, prompt, error);
        auto run = [&](sd_spec_type type, bool stat, bool adaptive, sd_stats * stats) {
            sd_generation_params gp = sd_generation_default_params();
            gp.max_tokens = 96;
            gp.temperature = 0.0f;
            gp.spec.type = type;
            gp.spec.medusa.heads = heads;
            gp.spec.medusa.static_tree = stat;
            gp.spec.adaptive = adaptive;
            sd_session_reset(session);
            const run_result r = sd_test_generate(session, prompt, gp);
            if (stats) *stats = r.stats;
            return r.tokens;
        };
        const std::vector<llama_token> plain = run(SD_SPEC_NONE, false, true, nullptr);
        for (bool stat : {false, true}) {
            for (bool adaptive : {false, true}) {
                sd_stats st;
                const std::vector<llama_token> spec = run(SD_SPEC_MEDUSA, stat, adaptive, &st);
                CHECK(spec == plain);
                if (!adaptive) {
                    CHECK(st.n_drafted > 0);
                    drafted += st.n_drafted;
                }
            }
        }
    }
    std::printf("identity heads: %d nodes drafted without the budget\n", drafted);

    // typical acceptance is only used under sampling, and medusa needs heads
    sd_generation_params gp = sd_generation_default_params();
    gp.spec.type = SD_SPEC_MEDUSA;
    std::vector<llama_token> prompt;
    sd_tokenize(model, "Once", true, false, prompt, error);
    CHECK(sd_generation_begin(session, prompt, gp, error) == SD_ERR_INVALID_ARGUMENT);
    CHECK(error.find("needs heads") != std::string::npos);
    gp.spec.medusa.heads = heads;
    gp.spec.medusa.top_k = 0;
    CHECK(sd_generation_begin(session, prompt, gp, error) == SD_ERR_INVALID_ARGUMENT);
    gp.spec.medusa.top_k = 8;
    gp.spec.typical.enabled = true;
    gp.spec.typical.threshold = 0.0f;
    CHECK(sd_generation_begin(session, prompt, gp, error) == SD_ERR_INVALID_ARGUMENT);
    // heads freed after the generation began: the session keeps what it needs
    gp.spec.typical.threshold = 0.09f;
    gp.temperature = 0.8f;
    gp.seed = 3;
    gp.max_tokens = 64;
    CHECK(sd_generation_begin(session, prompt, gp, error) == SD_OK);
    sd_heads_free(heads);
    sd_step_result r;
    int32_t n = 0;
    do {
        if (sd_generation_step(session, r, error) != SD_OK) break;
        n += (int32_t) r.tokens.size();
    } while (r.stop == SD_STOP_NONE);
    CHECK(n > 0);
    sd_session_free(session);
}

int main() {
    sd_backend_init();
    sd_model_params mp = sd_model_default_params();
    sd_model * model = nullptr;
    std::string error;
    if (sd_model_load(sd_test_model_path().c_str(), mp, &model, error) != SD_OK) {
        std::fprintf(stderr, "cannot load the test model: %s\n", error.c_str());
        return 1;
    }
    roundtrip_and_checks(model);
    identity_logits(model);
    greedy_equivalence(model);
    sd_model_free(model);
    return sd_test_finish("test-heads");
}
