// Loading, errors, and plain generation on the test model (label: model).
#include "spec-decode.h"
#include "model/sd-model.h"
#include "sd-test.h"

#include "ggml.h"
#include "gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>
#include <unistd.h>

static std::string write_temp(const std::string & bytes) {
    char path[] = "/tmp/llamaspec-test-XXXXXX";
    const int fd = mkstemp(path);
    if (fd >= 0) {
        if (write(fd, bytes.data(), bytes.size()) != (ssize_t) bytes.size()) { /* checked by the load below */ }
        close(fd);
    }
    return path;
}

static sd_status try_load(const std::string & path, std::string & error) {
    sd_model * model = nullptr;
    sd_status status = sd_model_load(path.c_str(), sd_model_default_params(), &model, error);
    CHECK((status == SD_OK) == (model != nullptr));
    sd_model_free(model);
    return status;
}

// The test model's metadata with token `dup`'s text replaced by token `of`'s: a vocabulary on which
// llama.cpp asserts (aborting the process) while loading the vocabulary, before it reads any tensor;
// found by ci/fuzz. Returns the file's path.
static std::string write_duplicate_vocabulary(const std::string & model, int dup, int of) {
    gguf_init_params params = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    gguf_context * gguf = gguf_init_from_file(model.c_str(), params);
    CHECK(gguf != nullptr);
    if (gguf == nullptr) return "";
    const int64_t key = gguf_find_key(gguf, "tokenizer.ggml.tokens");
    std::vector<std::string> texts;
    for (size_t i = 0; i < gguf_get_arr_n(gguf, key); i++) texts.push_back(gguf_get_arr_str(gguf, key, i));
    texts[(size_t) dup] = texts[(size_t) of];
    std::vector<const char *> ptrs;
    for (const std::string & t : texts) ptrs.push_back(t.c_str());
    gguf_set_arr_str(gguf, "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
    const std::string base = write_temp("");
    std::remove(base.c_str());
    const std::string path = base + ".gguf";
    CHECK(gguf_write_to_file(gguf, path.c_str(), /*only_meta =*/ true));
    gguf_free(gguf);
    return path;
}

// Generates greedily until the generation stops; returns the text.
static std::string generate(sd_session * session, const std::vector<llama_token> & prompt, int32_t max_tokens,
                            sd_stop_reason * stop, std::vector<llama_token> * tokens = nullptr) {
    sd_generation_params params = sd_generation_default_params();
    params.temperature = 0.0f;
    params.max_tokens  = max_tokens;
    std::string error;
    sd_status status = sd_generation_begin(session, prompt, params, error);
    CHECK(status == SD_OK);
    std::string text;
    sd_step_result step;
    *stop = SD_STOP_NONE;
    while (status == SD_OK && *stop == SD_STOP_NONE) {
        status = sd_generation_step(session, step, error);
        text += step.text;
        if (tokens != nullptr) tokens->insert(tokens->end(), step.tokens.begin(), step.tokens.end());
        *stop = step.stop;
    }
    CHECK(status == SD_OK);
    if (status != SD_OK) std::fprintf(stderr, "generation failed: %s\n", error.c_str());
    return text;
}

// Embeddings against llama.cpp's own per-token output: a plain llama.cpp context with embeddings on and
// no pooling gives each token's vector; their mean (and the last one) must be the embedder's vector.
static void embeddings(sd_model * model, llama_model * lmodel) {
    std::string error;
    const std::vector<std::string> texts = {"Once upon a time", "The little dog ran to the park to play.", "Hi"};
    std::vector<std::vector<llama_token>> tokens(texts.size());
    for (size_t i = 0; i < texts.size(); i++) sd_tokenize(model, texts[i], true, false, tokens[i], error);
    llama_context_params cparams = llama_context_default_params();
    cparams.embeddings = true;
    cparams.pooling_type = LLAMA_POOLING_TYPE_NONE;
    cparams.n_ctx = 256;
    cparams.n_threads = 2;
    cparams.type_k = GGML_TYPE_F32;
    cparams.type_v = GGML_TYPE_F32;
    cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context * ref = llama_init_from_model(lmodel, cparams);
    CHECK(ref != nullptr);
    if (ref == nullptr) return;
    const int32_t n_embd = llama_model_n_embd(lmodel);
    for (enum llama_pooling_type pooling : {LLAMA_POOLING_TYPE_MEAN, LLAMA_POOLING_TYPE_LAST}) {
        sd_embedder * e = nullptr;
        CHECK(sd_embedder_init(model, pooling, 256, &e, error) == SD_OK);
        if (e == nullptr) continue;
        CHECK(sd_embedder_dim(e) == n_embd && sd_embedder_pooling(e) == pooling);
        std::vector<float> got;
        CHECK(sd_embed(e, tokens, false, got, error) == SD_OK);
        CHECK(got.size() == texts.size() * (size_t) n_embd);
        float worst = 0;
        for (size_t i = 0; i < texts.size() && got.size() == texts.size() * (size_t) n_embd; i++) {
            llama_memory_clear(llama_get_memory(ref), true);
            llama_batch b = llama_batch_get_one(tokens[i].data(), (int32_t) tokens[i].size());
            CHECK(llama_decode(ref, b) == 0);
            std::vector<double> want((size_t) n_embd, 0.0);
            const int32_t n = (int32_t) tokens[i].size();
            for (int32_t t = pooling == LLAMA_POOLING_TYPE_LAST ? n - 1 : 0; t < n; t++) {
                const float * v = llama_get_embeddings_ith(ref, t);
                for (int32_t k = 0; k < n_embd; k++) want[(size_t) k] += v[k];
            }
            const double count = pooling == LLAMA_POOLING_TYPE_LAST ? 1.0 : (double) n;
            for (int32_t k = 0; k < n_embd; k++) {
                worst = std::max(worst, (float) std::fabs(want[(size_t) k] / count - got[i * (size_t) n_embd + (size_t) k]));
            }
        }
        std::printf("embeddings, %s pooling: largest difference from llama.cpp's per-token vectors %.2e\n",
                    sd_pooling_name(pooling), worst);
        CHECK(worst < 1e-4f);
        // bad input: each names the text
        std::vector<float> out;
        CHECK(sd_embed(e, {{1, 2}, {}}, true, out, error) == SD_ERR_INVALID_ARGUMENT);
        CHECK(error.find("text 1 has no tokens") == 0);
        CHECK(sd_embed(e, {std::vector<llama_token>(300, 5)}, true, out, error) == SD_ERR_CONTEXT_OVERFLOW);
        CHECK(error.find("text 0 has 300 tokens but the embedding context holds 256") == 0);
        CHECK(sd_embed(e, {{1, 999999}}, true, out, error) == SD_ERR_INVALID_ARGUMENT);
        CHECK(error.find("outside the vocabulary") != std::string::npos);
        sd_embedder_free(e);
    }
    llama_free(ref);
    sd_embedder * none = nullptr;
    CHECK(sd_embedder_init(model, LLAMA_POOLING_TYPE_NONE, 256, &none, error) == SD_ERR_INVALID_ARGUMENT);
    CHECK(error.find("pooling 'none' gives no vector per text") == 0 && none == nullptr);
    CHECK(sd_embedder_init(model, LLAMA_POOLING_TYPE_MEAN, 4, &none, error) == SD_ERR_INVALID_ARGUMENT);
}

int main() {
    const std::string path = sd_test_model_path();
    std::string error;

    // Errors are statuses with messages that name the problem.
    CHECK(try_load("/nonexistent/model.gguf", error) == SD_ERR_MODEL_LOAD);
    CHECK(error.find("not found") != std::string::npos);
    CHECK(try_load("/tmp", error) == SD_ERR_MODEL_LOAD);
    CHECK(error.find("directory") != std::string::npos);
    const std::string text_file = write_temp("this is not a model\n");
    CHECK(try_load(text_file, error) == SD_ERR_MODEL_LOAD);
    CHECK(error.find("GGUF") != std::string::npos);
    const std::string truncated = write_temp(std::string("GGUF\x03\x00\x00\x00", 8) + std::string(12, '\x01'));
    CHECK(try_load(truncated, error) == SD_ERR_MODEL_LOAD);
    CHECK(error.find("could not load") != std::string::npos);
    std::remove(text_file.c_str());
    std::remove(truncated.c_str());
    const std::string duplicate = write_duplicate_vocabulary(path, 300, 299);
    CHECK(try_load(duplicate, error) == SD_ERR_MODEL_LOAD); // without the check: abort() in llama.cpp
    CHECK(error.find("invalid vocabulary, token 300 has the same text as token 299") != std::string::npos);
    std::printf("duplicate vocabulary: %s\n", error.c_str());
    std::remove(duplicate.c_str());

    sd_model * model = nullptr;
    sd_model_params mparams = sd_model_default_params();
    mparams.n_threads = 2;
    if (sd_model_load(path.c_str(), mparams, &model, error) != SD_OK) {
        std::fprintf(stderr, "cannot load %s: %s\n", path.c_str(), error.c_str());
        return 1;
    }
    const sd_model_info info = sd_model_get_info(model);
    CHECK(info.architecture == "llama");
    CHECK(info.n_vocab == 512);
    CHECK(info.n_embd == 64);
    CHECK(info.n_layer == 5);
    CHECK(info.n_params > 200000 && info.n_params < 400000);

    std::vector<llama_token> prompt;
    CHECK(sd_tokenize(model, "Once upon a time", true, false, prompt, error) == SD_OK);
    CHECK(!prompt.empty() && prompt[0] == 1); // BOS
    std::string round_trip;
    CHECK(sd_detokenize(model, prompt, false, round_trip, error) == SD_OK);
    CHECK(round_trip.find("Once upon a time") != std::string::npos);
    CHECK(sd_detokenize(model, {5000}, false, round_trip, error) == SD_ERR_INVALID_ARGUMENT);

    sd_session_params sparams = sd_session_default_params();
    sparams.n_ctx = 128;
    sd_session * session = nullptr;
    CHECK(sd_session_init(model, sparams, &session, error) == SD_OK);

    // Greedy continuation; the model's known story opening (computed independently of llama.cpp).
    sd_stop_reason stop;
    std::vector<llama_token> generated;
    const std::string first = generate(session, prompt, 24, &stop, &generated);
    CHECK(stop == SD_STOP_MAX_TOKENS);
    CHECK(generated.size() == 24);
    CHECK(first.rfind(", there was a little girl named Lily", 0) == 0);
    std::printf("greedy: %s\n", first.c_str());

    // The same prompt again reuses the KV cache and gives the same text.
    const std::string second = generate(session, prompt, 24, &stop);
    CHECK_EQ_STR(second, first);
    CHECK(sd_generation_stats(session).n_prompt_reused == (int32_t) prompt.size() - 1);

    // A follow-up prompt that extends the first conversation evaluates only the new tokens.
    std::vector<llama_token> follow = prompt;
    follow.insert(follow.end(), generated.begin(), generated.end());
    generate(session, follow, 8, &stop);
    CHECK(sd_generation_stats(session).n_prompt_reused == (int32_t) prompt.size() + 23);

    // The context fills up: the generation stops with SD_STOP_CONTEXT_FULL, not an error.
    generate(session, prompt, 100000, &stop);
    CHECK(stop == SD_STOP_CONTEXT_FULL || stop == SD_STOP_END_OF_TEXT);
    CHECK(sd_session_n_ctx(session) >= 128); // llama.cpp may round the size up
    CHECK(sd_session_cached_tokens(session).size() <= sd_session_n_ctx(session));

    // A prompt that does not fit is an error.
    std::vector<llama_token> long_prompt(sd_session_n_ctx(session) + 10, prompt[1]);
    sd_generation_params params = sd_generation_default_params();
    CHECK(sd_generation_begin(session, long_prompt, params, error) == SD_ERR_CONTEXT_OVERFLOW);
    params.top_p = 0.0f;
    CHECK(sd_generation_begin(session, prompt, params, error) == SD_ERR_INVALID_ARGUMENT);

    // Cancellation ends the generation at the next step and leaves the session usable.
    params = sd_generation_default_params();
    params.temperature = 0.0f;
    CHECK(sd_generation_begin(session, prompt, params, error) == SD_OK);
    sd_session_cancel(session);
    sd_step_result step;
    CHECK(sd_generation_step(session, step, error) == SD_OK);
    CHECK(step.stop == SD_STOP_CANCELLED);
    CHECK(sd_generation_step(session, step, error) == SD_ERR_STATE);
    CHECK_EQ_STR(generate(session, prompt, 24, &stop), first);

    sd_session_free(session);
    embeddings(model, model->model);
    sd_model_free(model);
    return sd_test_finish("test-model");
}
