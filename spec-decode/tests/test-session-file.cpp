// Saved sessions (engine/sd-session-file.cpp): a restored session generates what the original
// would, without evaluating the saved tokens again, and carries Token Recycling's matrix; every bad
// file is refused with its reason; a failed save leaves the old file as it was.
#include "sd-test-generate.h"
#include "sd-test-model-copy.h"
#include "draft/sd-drafters.h"
#include "engine/sd-session.h"

#include "gguf.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

static std::string g_dir;

static std::string read_all(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

static void write_all(const std::string & path, const std::string & bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), (std::streamsize) bytes.size());
}

static std::vector<std::string> dir_entries() {
    std::vector<std::string> out;
    DIR * d = opendir(g_dir.c_str());
    if (d == nullptr) return out;
    while (dirent * e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
    }
    closedir(d);
    return out;
}

static sd_session * new_session(sd_model * model, uint32_t n_ctx, bool strict) {
    sd_session_params params = sd_session_default_params();
    params.n_ctx = n_ctx;
    params.strict_numerics = strict;
    params.n_threads = 2;
    sd_session * s = nullptr;
    std::string error;
    CHECK(sd_session_init(model, params, &s, error) == SD_OK);
    return s;
}

static sd_generation_params greedy(int32_t n, sd_spec_type type) {
    sd_generation_params p = sd_generation_default_params();
    p.temperature = 0.0f;
    p.max_tokens = n;
    p.spec.type = type;
    return p;
}

static std::vector<llama_token> tokenize(sd_model * model, const std::string & text) {
    std::vector<llama_token> out;
    std::string error;
    CHECK(sd_tokenize(model, text, true, false, out, error) == SD_OK);
    return out;
}

// The restore's status and message, printed.
static sd_status restore(sd_session * s, const std::string & path, std::string & error) {
    error.clear();
    const sd_status status = sd_session_restore(s, path, nullptr, error);
    std::printf("restore %s: %s %s\n", path.substr(path.rfind('/') + 1).c_str(), sd_status_name(status), error.c_str());
    return status;
}

// Saves after a conversation-like history, restores into a new session, and continues both: the same
// tokens, and the restored session evaluates only the new part of the prompt.
static void round_trip(sd_model * model, bool strict) {
    std::string error;
    sd_session * a = new_session(model, 512, strict);
    const std::vector<llama_token> prompt = tokenize(model, "Once upon a time, there was a little girl named Lily.");
    const run_result first = sd_test_generate(a, prompt, greedy(60, SD_SPEC_RECYCLING));
    CHECK(first.tokens.size() == 60);
    const std::vector<llama_token> cached = sd_session_cached_tokens(a);
    CHECK(!cached.empty());
    const std::string path = g_dir + "/a.session";
    CHECK(sd_session_save(a, path, "attached \xe2\x9c\x93 bytes", error) == SD_OK);

    sd_session * b = new_session(model, 512, strict);
    std::string attachment;
    CHECK(sd_session_restore(b, path, &attachment, error) == SD_OK);
    CHECK_EQ_STR(attachment, "attached \xe2\x9c\x93 bytes");
    CHECK(sd_session_cached_tokens(b) == cached);
    CHECK(a->drafters.recycling && b->drafters.recycling);
    if (a->drafters.recycling && b->drafters.recycling) {
        CHECK(a->drafters.recycling->learnt() == b->drafters.recycling->learnt());
        CHECK(b->drafters.recycling_made.k == a->drafters.recycling_made.k);
    }

    std::vector<llama_token> next = prompt;
    next.insert(next.end(), first.tokens.begin(), first.tokens.end());
    const std::vector<llama_token> more = tokenize(model, " Then");
    next.insert(next.end(), more.begin() + 1, more.end()); // without its BOS
    for (sd_spec_type type : {SD_SPEC_NONE, SD_SPEC_RECYCLING}) {
        // a fresh pair each time: the first continuation leaves other tokens in the cache
        CHECK(sd_session_restore(b, path, nullptr, error) == SD_OK);
        sd_session * c = new_session(model, 512, strict);
        CHECK(sd_session_restore(c, path, nullptr, error) == SD_OK);
        const run_result restored = sd_test_generate(b, next, greedy(40, type));
        const run_result fresh = sd_test_generate(c, next, greedy(40, type));
        CHECK(restored.tokens == fresh.tokens);
        CHECK(restored.stats.n_prompt_reused == (int32_t) cached.size());
        // and the same as a session that never saw the file
        sd_session * d = new_session(model, 512, strict);
        const run_result plain = sd_test_generate(d, next, greedy(40, SD_SPEC_NONE));
        CHECK(plain.stats.n_prompt_reused == 0);
        if (strict) CHECK(restored.tokens == plain.tokens);
        std::printf("%s, %s: %zu tokens reused, %zu generated, same as a fresh session: %s\n",
                    strict ? "strict" : "default", type == SD_SPEC_NONE ? "plain" : "recycling", cached.size(),
                    restored.tokens.size(), restored.tokens == plain.tokens ? "yes" : "no");
        sd_session_free(c);
        sd_session_free(d);
    }

    // An empty session saves and restores too.
    sd_session_reset(a);
    CHECK(sd_session_save(a, g_dir + "/empty.session", "", error) == SD_OK);
    CHECK(sd_session_restore(b, g_dir + "/empty.session", nullptr, error) == SD_OK);
    CHECK(sd_session_cached_tokens(b).empty());
    sd_session_free(a);
    sd_session_free(b);
}

// A copy of the test model with one weight of its first layer changed: the same vocabulary and output
// projection (so the same fingerprint), other weights.
static std::string write_changed_model() {
    return write_model_copy("changed", [](gguf_context *, ggml_context * data) {
        ggml_tensor * t = ggml_get_tensor(data, "blk.0.ffn_down.weight");
        CHECK(t != nullptr && t->type == GGML_TYPE_F32);
        if (t != nullptr && t->type == GGML_TYPE_F32) ((float *) t->data)[0] += 0.5f;
    });
}

static void bad_files(sd_model * model) {
    std::string error;
    sd_session * a = new_session(model, 512, false);
    sd_test_generate(a, tokenize(model, "Once upon a time"), greedy(30, SD_SPEC_NONE));
    const std::string good = g_dir + "/good.session";
    CHECK(sd_session_save(a, good, "", error) == SD_OK);
    const std::string bytes = read_all(good);
    CHECK(bytes.size() > 100);
    sd_session * b = new_session(model, 512, false);

    auto refused = [&](const std::string & name, const std::string & contents, sd_status expected, const char * says) {
        const std::string path = g_dir + "/" + name;
        if (!contents.empty()) write_all(path, contents);
        const sd_status status = restore(b, path, error);
        CHECK(status == expected);
        CHECK(error.find(says) != std::string::npos);
        CHECK(sd_session_cached_tokens(b).empty());
    };
    refused("missing.session", "", SD_ERR_SESSION_FILE, "No such file");
    refused("model.session", read_all(sd_test_model_path()), SD_ERR_SESSION_FILE, "is not a llamaspec session file");
    refused("half.session", bytes.substr(0, bytes.size() / 2), SD_ERR_SESSION_FILE, "is truncated");
    refused("short.session", bytes.substr(0, bytes.size() - 1), SD_ERR_SESSION_FILE, "is truncated");
    refused("header.session", bytes.substr(0, 12), SD_ERR_SESSION_FILE, "is truncated");
    std::string flipped = bytes;
    flipped[bytes.size() * 2 / 3] ^= 0x10;
    refused("flipped.session", flipped, SD_ERR_SESSION_FILE, "is damaged");
    std::string longer = bytes + "x";
    refused("longer.session", longer, SD_ERR_SESSION_FILE, "is damaged");
    std::string newer = bytes;
    newer[8] = (char) (SD_SESSION_FILE_VERSION + 1);
    refused("newer.session", newer, SD_ERR_SESSION_FILE, "newer than this llamaspec reads");
    refused(".", "", SD_ERR_SESSION_FILE, "folder");

    // A session whose context is too small for the saved tokens.
    sd_session * small = new_session(model, 256, false);
    sd_session_reset(a);
    std::vector<llama_token> long_prompt;
    while (long_prompt.size() < 300) {
        const std::vector<llama_token> t = tokenize(model, "The cat sat on the mat and looked at the bird in the tree.");
        long_prompt.insert(long_prompt.end(), t.begin() + (long_prompt.empty() ? 0 : 1), t.end());
    }
    sd_test_generate(a, long_prompt, greedy(4, SD_SPEC_NONE));
    const std::string big = g_dir + "/big.session";
    CHECK(sd_session_save(a, big, "", error) == SD_OK);
    CHECK(restore(small, big, error) == SD_ERR_CONTEXT_OVERFLOW);
    CHECK(error.find("this session's context holds 256") != std::string::npos);
    sd_session_free(small);

    // Keys and values of other types (strict numerics keeps them in F32).
    sd_session * strict = new_session(model, 512, true);
    CHECK(restore(strict, good, error) == SD_ERR_SESSION_FILE);
    CHECK(error.find("does not fit this session") != std::string::npos && error.find("keys f32") != std::string::npos);
    sd_session_free(strict);

    // Another model: same vocabulary and output projection, one weight changed.
    const std::string changed = write_changed_model();
    sd_model_params mparams = sd_model_default_params();
    sd_model * other = nullptr;
    CHECK(sd_model_load(changed.c_str(), mparams, &other, error) == SD_OK);
    if (other != nullptr) {
        std::string f1, f2;
        CHECK(sd_model_fingerprint(model, f1, error) == SD_OK && sd_model_fingerprint(other, f2, error) == SD_OK);
        CHECK(f1 == f2); // the case the weights id is for
        sd_session * o = new_session(other, 512, false);
        CHECK(restore(o, good, error) == SD_ERR_SESSION_FILE);
        CHECK(error.find("was saved from another model") != std::string::npos);
        sd_session_free(o);
        sd_model_free(other);
    }
    remove_copy(changed);

    // Saving while a generation runs, to a folder that does not exist, and over a folder.
    std::string e;
    CHECK(sd_generation_begin(a, tokenize(model, "Once"), greedy(10, SD_SPEC_NONE), e) == SD_OK);
    CHECK(sd_session_save(a, g_dir + "/running.session", "", error) == SD_ERR_STATE);
    sd_step_result step;
    while (sd_generation_step(a, step, e) == SD_OK && step.stop == SD_STOP_NONE) {}
    CHECK(sd_session_save(a, g_dir + "/no/such/folder/x.session", "", error) == SD_ERR_SESSION_FILE);
    std::printf("save into a missing folder: %s\n", error.c_str());
    CHECK(error.find("No such file") != std::string::npos);

    // A write that fails midway (the file size limit stands in for a full disk): the old file is
    // unchanged and no temporary file is left behind.
    const std::vector<std::string> before = dir_entries();
    signal(SIGXFSZ, SIG_IGN);
    rlimit old_limit;
    getrlimit(RLIMIT_FSIZE, &old_limit);
    rlimit limit = old_limit;
    limit.rlim_cur = 100; // past the header, before the KV cache
    CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0);
    const sd_status full = sd_session_save(a, good, "", error);
    setrlimit(RLIMIT_FSIZE, &old_limit);
    signal(SIGXFSZ, SIG_DFL);
    std::printf("save beyond the size limit: %s %s\n", sd_status_name(full), error.c_str());
    CHECK(full == SD_ERR_SESSION_FILE);
    CHECK(error.find("is unchanged") != std::string::npos);
    CHECK(read_all(good) == bytes);
    CHECK(dir_entries().size() == before.size());
    CHECK(restore(b, good, error) == SD_OK);

    sd_session_free(a);
    sd_session_free(b);
}

int main() {
    std::string error;
    sd_model_params mparams = sd_model_default_params();
    sd_model * model = nullptr;
    if (sd_model_load(sd_test_model_path().c_str(), mparams, &model, error) != SD_OK) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    char dir[] = "/tmp/llamaspec-session-XXXXXX";
    const char * made = mkdtemp(dir);
    CHECK(made != nullptr);
    if (made == nullptr) return 1;
    g_dir = made;
    round_trip(model, true);
    round_trip(model, false);
    bad_files(model);
    for (const std::string & name : dir_entries()) std::remove((g_dir + "/" + name).c_str());
    rmdir(g_dir.c_str());
    sd_model_free(model);
    return sd_test_finish("test-session-file");
}
