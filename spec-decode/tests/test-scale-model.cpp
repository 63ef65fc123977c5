// A cost-scaled model predicts exactly what the original does: stories260K widened to D=256 (with
// wider FFN and extra layers, F32) gives the same greedy continuation for several prompts. Medusa
// heads widened with it (--heads) give the original heads' logits for the padded hidden state, with
// an own output projection and with the shared one, and so does a feature drafter with an attention
// window. --perturb makes a reproducible noisy copy.
#include "spec-decode.h"
#include "heads/sd-heads.h"
#include "model/sd-model.h"
#include "sd-test.h"
#include "sd-test-heads.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <unistd.h>

static std::vector<llama_token> greedy(sd_model * model, const std::string & prompt, int32_t n) {
    std::string error;
    sd_session * session = nullptr;
    sd_session_params sparams = sd_session_default_params();
    sparams.n_ctx = 256;
    sparams.strict_numerics = true; // the two models agree up to rounding: compare them where rounding cannot differ
    if (sd_session_init(model, sparams, &session, error) != SD_OK) {
        std::fprintf(stderr, "session: %s\n", error.c_str());
        return {};
    }
    std::vector<llama_token> tokens, out;
    sd_tokenize(model, prompt, true, false, tokens, error);
    sd_generation_params params = sd_generation_default_params();
    params.temperature = 0.0f;
    params.max_tokens  = n;
    sd_step_result step;
    if (sd_generation_begin(session, tokens, params, error) == SD_OK) {
        while (sd_generation_step(session, step, error) == SD_OK) {
            out.insert(out.end(), step.tokens.begin(), step.tokens.end());
            if (step.stop != SD_STOP_NONE) break;
        }
    }
    sd_session_free(session);
    return out;
}

// Random heads for the model: small W and b, and (unless shared) a random output projection.
static sd_heads_weights random_heads(const sd_model * model, int32_t n_heads, int32_t n_layers, bool shared) {
    std::mt19937 rng(1234 + n_heads);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    sd_heads_weights w;
    w.info.n_heads = n_heads;
    w.info.n_layers = n_layers;
    w.info.n_embd = sd_model_get_info(model).n_embd;
    w.info.n_vocab = sd_model_get_info(model).n_vocab;
    w.info.shared_output = shared;
    const size_t e = (size_t) w.info.n_embd;
    for (int32_t i = 0; i < n_heads * n_layers; i++) {
        w.w.emplace_back(e * e);
        w.b.emplace_back(e);
        for (float & x : w.w.back()) x = 0.1f * u(rng);
        for (float & x : w.b.back()) x = 0.1f * u(rng);
    }
    for (int32_t k = 0; !shared && k < n_heads; k++) {
        w.out.emplace_back((size_t) w.info.n_vocab * e);
        for (float & x : w.out.back()) x = 0.5f * u(rng);
    }
    return w;
}

// The widened heads on the scaled model give the original heads' logits for the padded state.
static void check_widened(sd_model * original, sd_model * scaled, const std::string & heads_path,
                          const std::string & widened_path) {
    std::string error;
    sd_heads * a = nullptr;
    sd_heads * b = nullptr;
    CHECK(sd_heads_load(heads_path.c_str(), original, &a, error) == SD_OK);
    CHECK(sd_heads_load(widened_path.c_str(), scaled, &b, error) == SD_OK);
    if (a == nullptr || b == nullptr) {
        std::fprintf(stderr, "heads: %s\n", error.c_str());
        sd_heads_free(a);
        return;
    }
    const sd_heads_info ia = sd_heads_get_info(a), ib = sd_heads_get_info(b);
    CHECK(ib.n_embd == 256 && ib.n_heads == ia.n_heads && ib.n_layers == ia.n_layers);
    CHECK(ib.shared_output == ia.shared_output);
    const int32_t d = ia.n_embd, n = 3;
    std::mt19937 rng(99);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> h((size_t) (n * d)), padded((size_t) (n * ib.n_embd), 0.0f);
    for (int32_t i = 0; i < n; i++) {
        for (int32_t j = 0; j < d; j++) padded[(size_t) (i * ib.n_embd + j)] = h[(size_t) (i * d + j)] = normal(rng);
    }
    const llama_token roots[n] = {1, 7, 30}; // read by regressive heads only
    std::vector<float> la, lb;
    CHECK(sd_heads_logits(a, h.data(), roots, n, la, error) == SD_OK);
    CHECK(sd_heads_logits(b, padded.data(), roots, n, lb, error) == SD_OK);
    // an attention window: a whole window of other states (the scores, and the query's scaling, count)
    if (ia.window > 0) {
        const int32_t W = ia.window;
        std::vector<float> wa((size_t) (n * W * d)), wb((size_t) (n * W * ib.n_embd), 0.0f);
        std::vector<llama_token> tokens((size_t) (n * W));
        std::vector<uint8_t> valid((size_t) (n * W), 1);
        for (int32_t i = 0; i < n * W; i++) {
            tokens[(size_t) i] = (llama_token) ((i * 37) % ia.n_vocab);
            for (int32_t j = 0; j < d; j++) wb[(size_t) (i * ib.n_embd + j)] = wa[(size_t) (i * d + j)] = normal(rng);
        }
        const sd_heads_window_input win_a = {wa.data(), tokens.data(), valid.data()};
        const sd_heads_window_input win_b = {wb.data(), tokens.data(), valid.data()};
        std::unique_ptr<sd_heads_evaluator> ea, eb;
        CHECK(sd_heads_evaluator_init(a->data, 1, nullptr, ea, error) == SD_OK);
        CHECK(sd_heads_evaluator_init(b->data, 1, nullptr, eb, error) == SD_OK);
        std::vector<float> wla, wlb;
        if (ea != nullptr && eb != nullptr) {
            CHECK(sd_heads_evaluate(*ea, h.data(), roots, 1, n, wla, nullptr, error, &win_a) == SD_OK);
            CHECK(sd_heads_evaluate(*eb, padded.data(), roots, 1, n, wlb, nullptr, error, &win_b) == SD_OK);
        }
        CHECK(wla != la); // the window changed the logits
        la.insert(la.end(), wla.begin(), wla.end());
        lb.insert(lb.end(), wlb.begin(), wlb.end());
    }
    CHECK(la.size() == lb.size() && !la.empty());
    float worst = 0.0f;
    for (size_t i = 0; i < la.size() && la.size() == lb.size(); i++) {
        worst = std::max(worst, std::fabs(la[i] - lb[i]) / (1.0f + std::fabs(la[i])));
    }
    CHECK(worst < 1e-4f);
    if (worst >= 1e-4f) std::fprintf(stderr, "widened heads' logits differ by up to %g (relative)\n", worst);
    // the widened heads are for the scaled model only
    sd_heads * wrong = nullptr;
    CHECK(sd_heads_load(widened_path.c_str(), original, &wrong, error) != SD_OK && wrong == nullptr);
    sd_heads_free(b);
    sd_heads_free(a);
}

static bool same_bytes(const std::string & a, const std::string & b) {
    FILE * fa = std::fopen(a.c_str(), "rb");
    FILE * fb = std::fopen(b.c_str(), "rb");
    bool same = fa != nullptr && fb != nullptr;
    while (same) {
        const int ca = std::fgetc(fa), cb = std::fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa != nullptr) std::fclose(fa);
    if (fb != nullptr) std::fclose(fb);
    return same;
}

// --perturb: the same seed gives the same file, another seed another one; the shape is kept, and
// the noisy copy predicts differently somewhere (a drafter that is sometimes wrong).
static void check_perturbed(sd_model * original, const std::string & original_path, const std::string & tmp) {
    const std::string a = tmp + "-noisy-a.gguf", b = tmp + "-noisy-b.gguf", c = tmp + "-noisy-c.gguf";
    const std::string perturb = std::string(LLAMASPEC_SCALE_MODEL) + " --input '" + original_path + "' --perturb 0.3";
    CHECK(std::system((perturb + " --seed 3 --output '" + a + "' 2>/dev/null").c_str()) == 0);
    CHECK(std::system((perturb + " --seed 3 --output '" + b + "' 2>/dev/null").c_str()) == 0);
    CHECK(std::system((perturb + " --seed 4 --output '" + c + "' 2>/dev/null").c_str()) == 0);
    CHECK(same_bytes(a, b));
    CHECK(!same_bytes(a, c));
    std::string error;
    sd_model_params mparams = sd_model_default_params();
    mparams.n_threads = 2;
    sd_model * noisy = nullptr;
    CHECK(sd_model_load(a.c_str(), mparams, &noisy, error) == SD_OK);
    if (noisy != nullptr) {
        CHECK(sd_model_get_info(noisy).n_params == sd_model_get_info(original).n_params);
        CHECK(sd_model_vocab_compatible(original, noisy, error) == SD_OK);
        bool differs = false;
        for (const char * prompt : {"Once upon a time", "Tom and Sue went to the park."}) {
            differs = differs || greedy(original, prompt, 64) != greedy(noisy, prompt, 64);
        }
        CHECK(differs);
        sd_model_free(noisy);
    }
    // a call that changes nothing is refused
    CHECK(std::system((std::string(LLAMASPEC_SCALE_MODEL) + " --input '" + original_path + "' --output '" + c +
                       "x' 2>/dev/null").c_str()) != 0);
    for (const std::string & p : {a, b, c}) std::remove(p.c_str());
}

// --head-dim: the heads grow from 8 to 64 dimensions (8 heads at D=512, the input's leading them), and
// the model still continues every prompt as the input does.
static void check_head_dim(sd_model * original, const std::string & original_path, const std::string & tmp) {
    const std::string path = tmp + "-h64.gguf";
    const std::string scale = std::string(LLAMASPEC_SCALE_MODEL) + " --input '" + original_path + "' --output '" + path + "'";
    CHECK(std::system((scale + " --hidden 512 --layers 6 --head-dim 64 2>/dev/null").c_str()) == 0);
    std::string error;
    sd_model_params mparams = sd_model_default_params();
    mparams.n_threads = 2;
    sd_model * wide = nullptr;
    CHECK(sd_model_load(path.c_str(), mparams, &wide, error) == SD_OK);
    if (wide == nullptr) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return;
    }
    CHECK(llama_model_n_head(wide->model) == 8);
    CHECK(llama_model_n_head_kv(wide->model) == 4);
    CHECK(llama_model_n_embd(wide->model) == 512);
    for (const char * prompt : {"Once upon a time", "Tom and Sue went to the park.", "The little dog was sad because"}) {
        const std::vector<llama_token> a = greedy(original, prompt, 64);
        const std::vector<llama_token> b = greedy(wide, prompt, 64);
        CHECK(!a.empty());
        CHECK(a == b);
        if (a != b) {
            std::fprintf(stderr, "--head-dim 64: greedy continuations differ for \"%s\"\n", prompt);
        }
    }
    sd_model_free(wide);
    std::remove(path.c_str());
    // smaller, odd, or too few heads for the input's: refused
    for (const char * bad : {" --hidden 512 --head-dim 4", " --hidden 512 --head-dim 9", " --hidden 256 --head-dim 64"}) {
        CHECK(std::system((scale + bad + " 2>/dev/null").c_str()) != 0);
        CHECK(access(path.c_str(), F_OK) != 0);
    }
}

int main() {
    const std::string original_path = sd_test_model_path();
    const std::string scaled_path = "/tmp/llamaspec-test-scaled-" + std::to_string(getpid()) + ".gguf";
    const std::string tmp = "/tmp/llamaspec-test-scaled-" + std::to_string(getpid());
    const std::string heads_path = tmp + "-heads.gguf", shared_path = tmp + "-shared-heads.gguf";
    const std::string widened_path = tmp + "-heads-256.gguf", widened_shared_path = tmp + "-shared-heads-256.gguf";
    const std::string scaled2_path = tmp + "-2.gguf";

    std::string error;
    sd_model_params mparams = sd_model_default_params();
    mparams.n_threads = 2;
    sd_model * original = nullptr;
    sd_model * scaled = nullptr;
    CHECK(sd_model_load(original_path.c_str(), mparams, &original, error) == SD_OK);
    if (original == nullptr) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    CHECK(sd_heads_save(heads_path.c_str(), original, random_heads(original, 2, 1, false), error) == SD_OK);
    CHECK(sd_heads_save(shared_path.c_str(), original, random_heads(original, 1, 2, true), error) == SD_OK);

    const std::string scale = std::string(LLAMASPEC_SCALE_MODEL) + " --input '" + original_path + "' --hidden 256 --ffn 688 --layers 8";
    const std::string cmd = scale + " --output '" + scaled_path + "' --heads '" + heads_path + "' --heads-output '" +
                            widened_path + "' 2>/dev/null";
    CHECK(std::system(cmd.c_str()) == 0);
    CHECK(sd_model_load(scaled_path.c_str(), mparams, &scaled, error) == SD_OK);
    if (scaled == nullptr) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    check_widened(original, scaled, heads_path, widened_path);
    std::remove(scaled_path.c_str());

    // shared output: a second scaled model (the same file, seeded) with heads that share the projection
    sd_model * scaled2 = nullptr;
    CHECK(std::system((scale + " --output '" + scaled2_path + "' --heads '" + shared_path + "' --heads-output '" +
                       widened_shared_path + "' 2>/dev/null").c_str()) == 0);
    CHECK(sd_model_load(scaled2_path.c_str(), mparams, &scaled2, error) == SD_OK);
    if (scaled2 != nullptr) {
        check_widened(original, scaled2, shared_path, widened_shared_path);
        sd_model_free(scaled2);
    }
    std::remove(scaled2_path.c_str());
    // a feature drafter with an attention window (shared output)
    const std::string attention_path = tmp + "-attention.gguf", widened_attention_path = tmp + "-attention-256.gguf";
    CHECK(sd_heads_save(attention_path.c_str(), original, feature_attention_heads(original, 3, 1, 0.3f, 4), error) == SD_OK);
    CHECK(std::system((scale + " --output '" + scaled2_path + "' --heads '" + attention_path + "' --heads-output '" +
                       widened_attention_path + "' 2>/dev/null").c_str()) == 0);
    scaled2 = nullptr;
    CHECK(sd_model_load(scaled2_path.c_str(), mparams, &scaled2, error) == SD_OK);
    if (scaled2 != nullptr) {
        check_widened(original, scaled2, attention_path, widened_attention_path);
        sd_model_free(scaled2);
    }
    std::remove(scaled2_path.c_str());
    std::remove(attention_path.c_str());
    std::remove(widened_attention_path.c_str());
    // heads made for another model (the widened ones) are refused before anything is written
    CHECK(std::system((scale + " --output '" + scaled2_path + "' --heads '" + widened_path + "' --heads-output '" +
                       tmp + "-never.gguf' 2>/dev/null").c_str()) != 0);
    CHECK(std::system((scale + " --output '" + scaled2_path + "' --heads '" + heads_path + "' 2>/dev/null").c_str()) != 0);
    for (const std::string & p : {heads_path, shared_path, widened_path, widened_shared_path, scaled2_path}) {
        std::remove(p.c_str());
    }
    const sd_model_info info = sd_model_get_info(scaled);
    CHECK(info.n_embd == 256);
    CHECK(info.n_layer == 8);
    CHECK(info.n_params > 4 * sd_model_get_info(original).n_params);

    for (const char * prompt : {"Once upon a time", "Tom and Sue went to the park.", "The little dog was sad because"}) {
        const std::vector<llama_token> a = greedy(original, prompt, 64);
        const std::vector<llama_token> b = greedy(scaled, prompt, 64);
        CHECK(!a.empty());
        CHECK(a == b);
        if (a != b) {
            std::fprintf(stderr, "greedy continuations differ for \"%s\"\n", prompt);
        }
    }

    check_perturbed(original, original_path, tmp);
    check_head_dim(original, original_path, tmp);

    // Bad arguments are refused with an error, not a crash.
    const std::string bad = std::string(LLAMASPEC_SCALE_MODEL) + " --input '" + original_path +
                            "' --output /tmp/never.gguf --hidden 100 --ffn 688 --layers 8 2>/dev/null";
    CHECK(std::system(bad.c_str()) != 0);

    sd_model_free(scaled);
    sd_model_free(original);
    return sd_test_finish("test-scale-model");
}
