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
#include "draft/sd-drafter.h"

#include "gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

static std::string tmp_path(const char * name) {
    return "/tmp/llamaspec-test-heads-" + std::to_string((long) getpid()) + "-" + name;
}

// Whether an error message has `part`, telling which when it has not.
static bool contains(const std::string & s, const char * part) {
    const bool ok = s.find(part) != std::string::npos;
    if (!ok) std::fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", s.c_str(), part);
    return ok;
}

// A copy of the heads file `from` at `to`, its metadata changed by `edit`.
static void rewrite_heads(const std::string & from, const std::string & to, const std::function<void(gguf_context *)> & edit) {
    ggml_context * data = nullptr;
    gguf_init_params gp = {/*no_alloc =*/ false, &data};
    gguf_context * src = gguf_init_from_file(from.c_str(), gp);
    CHECK(src != nullptr);
    if (src == nullptr) return;
    gguf_context * dst = gguf_init_empty();
    gguf_set_kv(dst, src);
    for (int64_t i = 0; i < gguf_get_n_tensors(src); i++) {
        gguf_add_tensor(dst, ggml_get_tensor(data, gguf_get_tensor_name(src, i))); // shares the data
    }
    edit(dst);
    CHECK(gguf_write_to_file(dst, to.c_str(), false));
    gguf_free(dst);
    gguf_free(src);
    ggml_free(data);
}

// The error of loading the heads file p for the model (which must fail).
static std::string heads_load_error(sd_model * model, const std::string & p) {
    sd_heads * h = nullptr;
    std::string e;
    CHECK(sd_heads_load(p.c_str(), model, &h, e) != SD_OK && h == nullptr);
    sd_heads_free(h);
    return e;
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

    CHECK(contains(heads_load_error(model, "/nonexistent/heads.gguf"), "heads file not found"));
    CHECK(contains(heads_load_error(model, "/tmp"), "heads path is a directory"));
    CHECK(contains(heads_load_error(model, model->path), "not a Medusa heads file"));

    // made for another model: another fingerprint
    sd_heads_weights other = w;
    other.info.fingerprint = "0123456789abcdef";
    other.info.base_name = "another model";
    const std::string other_path = tmp_path("other.gguf");
    CHECK(sd_heads_save_raw(other_path.c_str(), other, error) == SD_OK);
    CHECK(contains(heads_load_error(model, other_path), "made for another model ('another model'"));

    // another hidden size
    sd_heads_weights wide = identity_heads(model, 1, 1, true);
    wide.info.n_embd *= 2;
    wide.w[0].assign((size_t) wide.info.n_embd * wide.info.n_embd, 0.0f);
    wide.b[0].assign((size_t) wide.info.n_embd, 0.0f);
    wide.info.fingerprint = fp;
    CHECK(sd_heads_save_raw(other_path.c_str(), wide, error) == SD_OK);
    CHECK(contains(heads_load_error(model, other_path), "heads are for hidden size"));

    // truncated
    {
        FILE * f = std::fopen(path.c_str(), "rb");
        std::vector<char> bytes(1 << 20);
        const size_t n = std::fread(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
        FILE * g = std::fopen(other_path.c_str(), "wb");
        std::fwrite(bytes.data(), 1, n / 2, g);
        std::fclose(g);
        const std::string e = heads_load_error(model, other_path);
        CHECK(contains(e, "truncated") || contains(e, "not a valid GGUF"));
    }
    // sizes that do not match the info are refused when writing
    sd_heads_weights bad = w;
    bad.b.pop_back();
    CHECK(sd_heads_save(other_path.c_str(), model, bad, error) == SD_ERR_INVALID_ARGUMENT);
    std::remove(path.c_str());
    std::remove(other_path.c_str());
}

// Regressive heads: the file round trip, bad files and inputs, and the ggml graph against a host
// computation of the same maths (token tables, the chain of argmax tokens, blocks, output).
static void regressive(sd_model * model) {
    std::string error;
    const int32_t n_heads = 3, n_embd = llama_model_n_embd(model->model), n_vocab = llama_vocab_n_tokens(model->vocab);
    sd_heads_weights w = regressive_heads(model, n_heads, 1, true, 0.5f);
    std::mt19937 rng(11);
    std::normal_distribution<float> noise(0.0f, 0.05f);
    for (auto & m : w.w) for (float & x : m) x = noise(rng);
    for (auto & m : w.b) for (float & x : m) x = noise(rng);
    const std::string path = tmp_path("regressive.gguf");
    CHECK(sd_heads_save(path.c_str(), model, w, error) == SD_OK);
    sd_heads_weights r;
    CHECK(sd_heads_read(path.c_str(), r, error) == SD_OK);
    CHECK(r.info.regressive && r.tok == w.tok && r.w == w.w && r.b == w.b);

    sd_heads * heads = nullptr;
    CHECK(sd_heads_load(path.c_str(), model, &heads, error) == SD_OK && heads != nullptr);
    if (heads == nullptr) return;
    CHECK(sd_heads_get_info(heads).regressive);

    // the host computation
    std::vector<float> out_proj;
    CHECK(sd_model_output_f32(model, out_proj, error) == SD_OK);
    std::vector<float> hidden((size_t) 3 * n_embd);
    for (float & x : hidden) x = 0.3f * noise(rng) / 0.05f;
    const llama_token roots[3] = {1, 17, n_vocab - 1};
    std::vector<float> want((size_t) 3 * n_heads * n_vocab);
    for (int32_t i = 0; i < 3; i++) {
        std::vector<float> acc((size_t) n_embd, 0.0f);
        llama_token tok = roots[i];
        for (int32_t k = 0; k < n_heads; k++) {
            for (int32_t e = 0; e < n_embd; e++) acc[(size_t) e] += w.tok[(size_t) k][(size_t) tok * n_embd + e];
            std::vector<float> x((size_t) n_embd);
            for (int32_t e = 0; e < n_embd; e++) x[(size_t) e] = hidden[(size_t) i * n_embd + e] + acc[(size_t) e];
            std::vector<float> y((size_t) n_embd);
            for (int32_t o = 0; o < n_embd; o++) {
                double sum = w.b[(size_t) k][(size_t) o];
                for (int32_t e = 0; e < n_embd; e++) sum += (double) w.w[(size_t) k][(size_t) o * n_embd + e] * x[(size_t) e];
                y[(size_t) o] = (float) (sum / (1.0 + std::exp(-sum)));
            }
            for (int32_t e = 0; e < n_embd; e++) x[(size_t) e] += y[(size_t) e];
            float * l = &want[((size_t) i * n_heads + k) * n_vocab];
            for (int32_t v = 0; v < n_vocab; v++) {
                double sum = 0;
                for (int32_t e = 0; e < n_embd; e++) sum += (double) out_proj[(size_t) v * n_embd + e] * x[(size_t) e];
                l[v] = (float) sum;
            }
            tok = (llama_token) (std::max_element(l, l + n_vocab) - l); // what the next head reads
        }
    }
    std::vector<float> got;
    CHECK(sd_heads_logits(heads, hidden.data(), roots, 3, got, error) == SD_OK);
    CHECK(got.size() == want.size());
    double max_diff = 0;
    for (size_t i = 0; i < got.size() && got.size() == want.size(); i++) {
        max_diff = std::max(max_diff, (double) std::fabs(got[i] - want[i]));
    }
    std::printf("regressive heads: max |ggml - host| logit difference %.2e\n", max_diff);
    CHECK(max_diff < 1e-3);
    // the root matters: the same hidden state after two different roots
    std::vector<float> a, b;
    const llama_token root_a = 5, root_b = 6;
    CHECK(sd_heads_logits(heads, hidden.data(), &root_a, 1, a, error) == SD_OK);
    CHECK(sd_heads_logits(heads, hidden.data(), &root_b, 1, b, error) == SD_OK);
    CHECK(a.size() == b.size() && a != b);

    // bad inputs: no roots, a root outside the vocabulary
    CHECK(sd_heads_logits(heads, hidden.data(), nullptr, 1, got, error) == SD_ERR_INVALID_ARGUMENT);
    CHECK(contains(error, "need the token after each hidden state"));
    const llama_token outside = n_vocab;
    CHECK(sd_heads_logits(heads, hidden.data(), &outside, 1, got, error) == SD_ERR_INVALID_ARGUMENT);
    CHECK(contains(error, "outside the heads' vocabulary"));
    sd_heads_free(heads);

    // bad files: a flag that is not a bool, and a regressive file without its token tables
    const std::string bad = tmp_path("regressive-bad.gguf");
    rewrite_heads(path, bad, [](gguf_context * g) { gguf_set_val_u32(g, "medusa.regressive", 1); });
    CHECK(contains(heads_load_error(model, bad), "medusa.regressive that is not a bool"));
    const std::string plain = tmp_path("plain.gguf");
    CHECK(sd_heads_save(plain.c_str(), model, identity_heads(model, 2, 1, true), error) == SD_OK);
    rewrite_heads(plain, bad, [](gguf_context * g) { gguf_set_val_bool(g, "medusa.regressive", true); });
    CHECK(contains(heads_load_error(model, bad), "lacks tensor medusa.0.token.weight"));
    // token tables that do not match the info are refused when writing
    sd_heads_weights short_tables = w;
    short_tables.tok.pop_back();
    CHECK(sd_heads_save(bad.c_str(), model, short_tables, error) == SD_ERR_INVALID_ARGUMENT);
    std::remove(path.c_str());
    std::remove(bad.c_str());
    std::remove(plain.c_str());
}

// A feature drafter: the file round trip and the ggml recurrence against a host computation.
static void feature(sd_model * model) {
    std::string error;
    const int32_t depth = 3, n_embd = llama_model_n_embd(model->model), n_vocab = llama_vocab_n_tokens(model->vocab);
    sd_heads_weights w = feature_heads(model, depth, 2, 0.5f);
    std::mt19937 rng(13);
    std::normal_distribution<float> noise(0.0f, 0.05f);
    for (auto & m : w.w) for (float & x : m) x = noise(rng);
    for (auto & m : w.b) for (float & x : m) x = noise(rng);
    CHECK(w.w.size() == 2 && w.tok.size() == 1);
    const std::string path = tmp_path("feature.gguf");
    CHECK(sd_heads_save(path.c_str(), model, w, error) == SD_OK);
    sd_heads_weights r;
    CHECK(sd_heads_read(path.c_str(), r, error) == SD_OK);
    CHECK(r.info.feature && r.info.regressive && r.info.n_heads == depth && r.w == w.w && r.tok == w.tok);
    sd_heads * heads = nullptr;
    CHECK(sd_heads_load(path.c_str(), model, &heads, error) == SD_OK && heads != nullptr);
    std::remove(path.c_str());
    if (heads == nullptr) return;
    CHECK(sd_heads_get_info(heads).feature);

    std::vector<float> out_proj;
    CHECK(sd_model_output_f32(model, out_proj, error) == SD_OK);
    std::vector<float> hidden((size_t) 2 * n_embd);
    for (float & x : hidden) x = 0.3f * noise(rng) / 0.05f;
    const llama_token roots[2] = {3, 40};
    std::vector<float> want((size_t) 2 * depth * n_vocab);
    for (int32_t i = 0; i < 2; i++) {
        std::vector<float> f(hidden.begin() + (long) i * n_embd, hidden.begin() + (long) (i + 1) * n_embd);
        llama_token tok = roots[i];
        for (int32_t k = 0; k < depth; k++) {
            for (int32_t e = 0; e < n_embd; e++) f[(size_t) e] += w.tok[0][(size_t) tok * n_embd + e];
            for (int32_t l = 0; l < 2; l++) {
                std::vector<float> y((size_t) n_embd);
                for (int32_t o = 0; o < n_embd; o++) {
                    double sum = w.b[(size_t) l][(size_t) o];
                    for (int32_t e = 0; e < n_embd; e++) sum += (double) w.w[(size_t) l][(size_t) o * n_embd + e] * f[(size_t) e];
                    y[(size_t) o] = (float) (sum / (1.0 + std::exp(-sum)));
                }
                for (int32_t e = 0; e < n_embd; e++) f[(size_t) e] += y[(size_t) e];
            }
            float * l = &want[((size_t) i * depth + k) * n_vocab];
            for (int32_t v = 0; v < n_vocab; v++) {
                double sum = 0;
                for (int32_t e = 0; e < n_embd; e++) sum += (double) out_proj[(size_t) v * n_embd + e] * f[(size_t) e];
                l[v] = (float) sum;
            }
            tok = (llama_token) (std::max_element(l, l + n_vocab) - l);
        }
    }
    std::vector<float> got;
    CHECK(sd_heads_logits(heads, hidden.data(), roots, 2, got, error) == SD_OK);
    CHECK(got.size() == want.size());
    double max_diff = 0;
    for (size_t i = 0; i < got.size() && got.size() == want.size(); i++) {
        max_diff = std::max(max_diff, (double) std::fabs(got[i] - want[i]));
    }
    std::printf("feature drafter: max |ggml - host| logit difference %.2e\n", max_diff);
    CHECK(max_diff < 1e-3);
    CHECK(sd_heads_logits(heads, hidden.data(), nullptr, 1, got, error) == SD_ERR_INVALID_ARGUMENT);
    sd_heads_free(heads);
    // a feature drafter must read tokens
    sd_heads_weights bad = w;
    bad.info.regressive = false;
    bad.tok.clear();
    CHECK(sd_heads_save(path.c_str(), model, bad, error) == SD_ERR_INVALID_ARGUMENT);
}

static double max_diff(const std::vector<float> & a, const std::vector<float> & b) {
    double d = a.size() == b.size() ? 0.0 : INFINITY;
    for (size_t i = 0; i < a.size() && a.size() == b.size(); i++) d = std::max(d, (double) std::fabs(a[i] - b[i]));
    return d;
}

static std::vector<float> matvec(const std::vector<float> & m, const float * x, int32_t n_embd) {
    std::vector<float> y((size_t) n_embd);
    for (int32_t o = 0; o < n_embd; o++) {
        double sum = 0;
        for (int32_t k = 0; k < n_embd; k++) sum += (double) m[(size_t) o * n_embd + k] * x[(size_t) k];
        y[(size_t) o] = (float) sum;
    }
    return y;
}

// Keys and values kept between evaluations (one row, as the drafter keeps them): those a first
// evaluation computes are the host's (the loaded heads' merged projections: Q^T K c and O_a V c), and standing in for entries 1.. of a second (whose hidden states
// there are then not read) they give the whole window's logits `want`. Bad uses are refused.
static void kept_keys(sd_heads_evaluator & e, const sd_heads_weights & w, const std::vector<float> & hidden,
                      const std::vector<float> & win_hidden, const std::vector<llama_token> & win_tokens,
                      const std::vector<uint8_t> & valid, llama_token root, const std::vector<float> & want) {
    std::string error;
    const int32_t W = w.info.window, n_embd = w.info.n_embd;
    const size_t ne = (size_t) n_embd;
    std::vector<float> keys((size_t) W * ne), values((size_t) W * ne), got;
    sd_heads_window_input fresh = {win_hidden.data(), win_tokens.data(), valid.data(), W, nullptr, nullptr,
                                   keys.data(), values.data()};
    CHECK(sd_heads_evaluate(e, hidden.data(), &root, 1, 1, got, nullptr, error, &fresh) == SD_OK);
    const double d_fresh = max_diff(got, want);
    std::vector<float> want_keys, want_values;
    for (int32_t j = 0; j < W; j++) {
        std::vector<float> c(&win_hidden[(size_t) j * ne], &win_hidden[(size_t) (j + 1) * ne]);
        for (size_t x = 0; x < ne; x++) c[x] += w.tok[0][(size_t) win_tokens[(size_t) j] * ne + x];
        // the loaded heads' keys and values: Q^T K c and O_a V c
        const std::vector<float> kc = matvec(w.attn[1], c.data(), n_embd), vc = matvec(w.attn[2], c.data(), n_embd);
        std::vector<float> k((size_t) n_embd, 0.0f);
        for (int32_t o = 0; o < n_embd; o++) {
            for (int32_t a = 0; a < n_embd; a++) k[(size_t) a] += w.attn[0][(size_t) o * ne + (size_t) a] * kc[(size_t) o];
        }
        const std::vector<float> v = matvec(w.attn[3], vc.data(), n_embd);
        want_keys.insert(want_keys.end(), k.begin(), k.end());
        want_values.insert(want_values.end(), v.begin(), v.end());
    }
    const double d_keys = std::max(max_diff(keys, want_keys), max_diff(values, want_values));
    // entries 1.. as kept keys and values: their hidden states are not read
    std::vector<float> unread = win_hidden;
    std::fill(unread.begin() + (long) ne, unread.end(), 100.0f);
    sd_heads_window_input kept = {unread.data(), win_tokens.data(), valid.data(), 1, keys.data(), values.data(),
                                  nullptr, nullptr};
    std::vector<float> got_kept, got_all_kept, got_changed;
    CHECK(sd_heads_evaluate(e, hidden.data(), &root, 1, 1, got_kept, nullptr, error, &kept) == SD_OK);
    kept.n_fresh = 0;
    CHECK(sd_heads_evaluate(e, hidden.data(), &root, 1, 1, got_all_kept, nullptr, error, &kept) == SD_OK);
    // and they are what is read: other keys there give other logits
    std::vector<float> other = keys;
    for (size_t x = 2 * ne; x < 3 * ne; x++) other[x] *= 3.0f;
    kept.n_fresh = 1;
    kept.keys = other.data();
    CHECK(sd_heads_evaluate(e, hidden.data(), &root, 1, 1, got_changed, nullptr, error, &kept) == SD_OK);
    std::printf("kept keys and values: fresh ones differ from the host's by %.2e; logits against the whole window's: "
                "%.2e (all fresh), %.2e (entries 1.. kept), %.2e (all kept); other kept keys moved them by %.2e\n", d_keys,
                d_fresh, max_diff(got_kept, want), max_diff(got_all_kept, want), max_diff(got_changed, want));
    CHECK(d_keys < 1e-3 && d_fresh < 1e-4 && max_diff(got_kept, want) < 1e-4 && max_diff(got_all_kept, want) < 1e-4);
    CHECK(max_diff(got_changed, want) > 1e-3);
    // refused: kept keys for two rows, more fresh entries than the window, fresh entries without the others' keys
    const llama_token roots[2] = {root, root};
    std::vector<float> two(2 * ne);
    kept.keys = keys.data();
    CHECK(sd_heads_evaluate(e, two.data(), roots, 1, 2, got, nullptr, error, &kept) == SD_ERR_INVALID_ARGUMENT &&
          contains(error, "need one row"));
    kept.n_fresh = W + 1;
    CHECK(sd_heads_evaluate(e, hidden.data(), &root, 1, 1, got, nullptr, error, &kept) == SD_ERR_INVALID_ARGUMENT &&
          contains(error, "fresh entries"));
    kept.n_fresh = 2;
    kept.values = nullptr;
    CHECK(sd_heads_evaluate(e, hidden.data(), &root, 1, 1, got, nullptr, error, &kept) == SD_ERR_INVALID_ARGUMENT &&
          contains(error, "keys and values of the others"));
}

// A feature drafter with an attention window: the file round trip, bad files and inputs, and the ggml
// graph against a host computation of the same maths, with windows that have masked entries.
static void feature_attention(sd_model * model) {
    std::string error;
    const int32_t depth = 3, W = 4, n_embd = llama_model_n_embd(model->model), n_vocab = llama_vocab_n_tokens(model->vocab);
    sd_heads_weights w = feature_attention_heads(model, depth, 1, 0.3f, W);
    std::mt19937 rng(17);
    std::normal_distribution<float> noise(0.0f, 0.05f);
    for (auto & m : w.w) for (float & x : m) x = noise(rng);
    for (auto & m : w.b) for (float & x : m) x = noise(rng);
    const std::string path = tmp_path("attention.gguf");
    CHECK(sd_heads_save(path.c_str(), model, w, error) == SD_OK);
    sd_heads_weights r;
    CHECK(sd_heads_read(path.c_str(), r, error) == SD_OK);
    CHECK(r.info.feature && r.info.window == W && r.attn == w.attn && r.attn_pos == w.attn_pos && r.w == w.w);

    // bad weights are refused when writing
    const std::string other = tmp_path("attention-bad.gguf");
    sd_heads_weights bad = w;
    bad.attn.pop_back();
    CHECK(sd_heads_save(other.c_str(), model, bad, error) == SD_ERR_INVALID_ARGUMENT);
    bad = w;
    bad.attn_pos.push_back(0.0f);
    CHECK(sd_heads_save(other.c_str(), model, bad, error) == SD_ERR_INVALID_ARGUMENT);
    bad = w;
    bad.info.window = SD_HEADS_MAX_WINDOW + 1;
    bad.attn_pos.assign((size_t) bad.info.window, 0.0f);
    CHECK(sd_heads_save(other.c_str(), model, bad, error) == SD_ERR_INVALID_ARGUMENT && contains(error, "attention window"));
    bad = regressive_heads(model, 2, 1, true, 0.1f);
    bad.info.window = 2;
    bad.attn = w.attn;
    bad.attn_pos.assign(2, 0.0f);
    CHECK(sd_heads_save(other.c_str(), model, bad, error) == SD_ERR_INVALID_ARGUMENT && contains(error, "feature drafter"));
    // bad files: a window out of range, a window on heads that are no feature drafter
    rewrite_heads(path, other, [](gguf_context * g) { gguf_set_val_u32(g, "medusa.attention_window", SD_HEADS_MAX_WINDOW + 1); });
    CHECK(contains(heads_load_error(model, other), "medusa.attention_window = 65, expected 0..64"));
    rewrite_heads(path, other, [](gguf_context * g) { gguf_remove_key(g, "medusa.feature"); });
    CHECK(contains(heads_load_error(model, other), "only a feature drafter attends"));
    rewrite_heads(path, other, [](gguf_context * g) { gguf_set_val_u32(g, "medusa.attention_window", W + 1); });
    CHECK(contains(heads_load_error(model, other), "medusa.0.attn_pos.bias has shape [4, 1], expected [5, 1]"));
    std::remove(other.c_str());

    sd_heads * heads = nullptr;
    CHECK(sd_heads_load(path.c_str(), model, &heads, error) == SD_OK && heads != nullptr);
    std::remove(path.c_str());
    if (heads == nullptr) return;
    CHECK(sd_heads_get_info(heads).window == W);
    std::unique_ptr<sd_heads_evaluator> e;
    CHECK(sd_heads_evaluator_init(heads->data, 1, nullptr, e, error) == SD_OK);
    if (e == nullptr) {
        sd_heads_free(heads);
        return;
    }

    // two rows: the first with a whole window, the second with entries 1 and 3 masked out (their
    // contents must not matter)
    std::vector<float> out_proj;
    CHECK(sd_model_output_f32(model, out_proj, error) == SD_OK);
    const int32_t n = 2;
    std::vector<float> hidden((size_t) n * n_embd), win_hidden((size_t) n * W * n_embd);
    for (float & x : hidden) x = 0.3f * noise(rng) / 0.05f;
    for (float & x : win_hidden) x = 0.3f * noise(rng) / 0.05f;
    const llama_token roots[n] = {5, 33};
    std::vector<llama_token> win_tokens = {roots[0], 7, 9, 11, roots[1], 13, 15, 17};
    std::vector<uint8_t> valid = {1, 1, 1, 1, 1, 0, 1, 0};
    for (int32_t i = 0; i < n; i++) { // entry 0 is the row's own hidden state
        std::copy(&hidden[(size_t) i * n_embd], &hidden[(size_t) (i + 1) * n_embd], &win_hidden[(size_t) i * W * n_embd]);
    }
    auto host = [&](const std::vector<uint8_t> & mask, const std::vector<float> & wh) {
        std::vector<float> want((size_t) n * depth * n_vocab);
        for (int32_t i = 0; i < n; i++) {
            std::vector<std::vector<float>> keys, values;
            for (int32_t j = 0; j < W; j++) {
                std::vector<float> c(&wh[((size_t) i * W + j) * n_embd], &wh[((size_t) i * W + j + 1) * n_embd]);
                const llama_token t = win_tokens[(size_t) (i * W + j)];
                for (int32_t x = 0; x < n_embd; x++) c[(size_t) x] += w.tok[0][(size_t) t * n_embd + x];
                keys.push_back(matvec(w.attn[1], c.data(), n_embd));
                values.push_back(matvec(w.attn[2], c.data(), n_embd));
            }
            std::vector<float> f(hidden.begin() + (long) i * n_embd, hidden.begin() + (long) (i + 1) * n_embd);
            llama_token tok = roots[i];
            for (int32_t k = 0; k < depth; k++) {
                for (int32_t x = 0; x < n_embd; x++) f[(size_t) x] += w.tok[0][(size_t) tok * n_embd + x];
                const std::vector<float> q = matvec(w.attn[0], f.data(), n_embd);
                std::vector<double> score((size_t) W, -INFINITY);
                double max = -INFINITY, sum = 0;
                for (int32_t j = 0; j < W; j++) {
                    if (!mask[(size_t) (i * W + j)]) continue;
                    double d = 0;
                    for (int32_t x = 0; x < n_embd; x++) d += (double) q[(size_t) x] * keys[(size_t) j][(size_t) x];
                    score[(size_t) j] = d / std::sqrt((double) n_embd) + w.attn_pos[(size_t) j];
                    max = std::max(max, score[(size_t) j]);
                }
                std::vector<float> o((size_t) n_embd, 0.0f);
                for (int32_t j = 0; j < W; j++) sum += std::exp(score[(size_t) j] - max);
                for (int32_t j = 0; j < W; j++) {
                    const double a = std::exp(score[(size_t) j] - max) / sum;
                    for (int32_t x = 0; x < n_embd; x++) o[(size_t) x] += (float) (a * values[(size_t) j][(size_t) x]);
                }
                const std::vector<float> add = matvec(w.attn[3], o.data(), n_embd);
                for (int32_t x = 0; x < n_embd; x++) f[(size_t) x] += add[(size_t) x];
                std::vector<float> y = matvec(w.w[0], f.data(), n_embd);
                for (int32_t x = 0; x < n_embd; x++) {
                    const double v = (double) y[(size_t) x] + w.b[0][(size_t) x];
                    f[(size_t) x] += (float) (v / (1.0 + std::exp(-v)));
                }
                float * l = &want[((size_t) i * depth + k) * n_vocab];
                for (int32_t v = 0; v < n_vocab; v++) {
                    double s = 0;
                    for (int32_t x = 0; x < n_embd; x++) s += (double) out_proj[(size_t) v * n_embd + x] * f[(size_t) x];
                    l[v] = (float) s;
                }
                tok = (llama_token) (std::max_element(l, l + n_vocab) - l);
            }
        }
        return want;
    };
    std::vector<float> got;
    sd_heads_window_input win = {win_hidden.data(), win_tokens.data(), valid.data()};
    CHECK(sd_heads_evaluate(*e, hidden.data(), roots, 1, n, got, nullptr, error, &win) == SD_OK);
    const std::vector<float> want = host(valid, win_hidden);
    const double d_window = max_diff(got, want);
    // masked entries do not count: other contents there give the same logits
    std::vector<float> scrambled = win_hidden;
    for (int32_t j : {5, 7}) {
        for (int32_t x = 0; x < n_embd; x++) scrambled[(size_t) j * n_embd + x] = 100.0f;
    }
    win.hidden = scrambled.data();
    std::vector<float> got_scrambled;
    CHECK(sd_heads_evaluate(*e, hidden.data(), roots, 1, n, got_scrambled, nullptr, error, &win) == SD_OK);
    // without a window: each row's own hidden state and root alone
    const std::vector<uint8_t> own = {1, 0, 0, 0, 1, 0, 0, 0};
    std::vector<float> got_own;
    CHECK(sd_heads_evaluate(*e, hidden.data(), roots, 1, n, got_own, nullptr, error) == SD_OK);
    const double d_own = max_diff(got_own, host(own, win_hidden));
    std::printf("feature drafter with attention: max |ggml - host| logit difference %.2e (window), %.2e (own state "
                "alone); masked entries changed the logits by %.2e; the window moved them by %.2e\n", d_window, d_own,
                max_diff(got, got_scrambled), max_diff(got, got_own));
    CHECK(d_window < 1e-3 && d_own < 1e-3);
    CHECK(got == got_scrambled);
    CHECK(max_diff(got, got_own) > 1e-2); // the window matters
    kept_keys(*e, w, hidden, win_hidden, win_tokens, valid, roots[0],
              std::vector<float>(got.begin(), got.begin() + (long) depth * n_vocab));
    // a token outside the vocabulary in the window
    win.hidden = win_hidden.data();
    win_tokens[2] = n_vocab;
    CHECK(sd_heads_evaluate(*e, hidden.data(), roots, 1, n, got, nullptr, error, &win) == SD_ERR_INVALID_ARGUMENT &&
          contains(error, "in the attention window is outside the heads' vocabulary"));
    e.reset();
    sd_heads_free(heads);
}

// The attention drafter keeps its window's keys and values between drafts: over steps that show it one
// to three positions each, and generations that start inside the first one's text with other hidden
// states or other tokens after that point, each draft's chain (token and probability per depth) is the
// one the whole window gives with every key and value computed afresh.
static void attention_drafter(sd_model * model) {
    std::string error;
    const int32_t depth = 3, W = 4, n_embd = llama_model_n_embd(model->model), n_vocab = llama_vocab_n_tokens(model->vocab);
    sd_heads_weights w = feature_attention_heads(model, depth, 1, 0.3f, W);
    std::mt19937 rng(23);
    std::normal_distribution<float> noise(0.0f, 0.05f);
    for (auto & m : w.w) for (float & x : m) x = noise(rng);
    sd_heads * heads = heads_load(model, w);
    CHECK(heads != nullptr);
    if (heads == nullptr) return;
    std::unique_ptr<sd_heads_evaluator> e;
    CHECK(sd_heads_evaluator_init(heads->data, 1, nullptr, e, error) == SD_OK);
    const sd_medusa_params mp = {heads, false, 4};
    std::unique_ptr<sd_drafter> d(sd_drafter_medusa_init(heads->data, mp, 1, nullptr, nullptr, error));
    CHECK(d != nullptr);
    if (d == nullptr || e == nullptr) {
        sd_heads_free(heads);
        return;
    }
    const size_t ne = (size_t) n_embd;
    const int32_t n_pos = 48;
    std::vector<float> rows((size_t) n_pos * ne);              // the hidden state shown for each position
    std::vector<llama_token> text((size_t) n_pos + 1);
    std::uniform_int_distribution<int32_t> token(1, n_vocab - 1);
    auto fill = [&](int32_t from, bool new_rows, bool new_tokens) {
        for (size_t x = (size_t) from * ne; x < rows.size() && new_rows; x++) rows[x] = 0.3f * noise(rng) / 0.05f;
        for (size_t p = (size_t) from + 1; p < text.size() && new_tokens; p++) text[p] = token(rng);
    };
    fill(0, true, true);
    auto show = [&](int32_t first, int32_t n) {
        std::vector<const float *> r;
        for (int32_t p = first; p < first + n; p++) r.push_back(&rows[(size_t) p * ne]);
        d->hidden(r.data(), n, n_embd, first + n - 1);
    };
    int32_t drafts = 0, mismatches = 0;
    double max_prob_diff = 0;
    sd_draft_tree tree;
    // a draft after position last, the window's entries from position `start` on
    auto check_draft = [&](int32_t last, int32_t start) {
        const std::vector<llama_token> history(text.begin(), text.begin() + last + 2);
        const sd_draft_request request = {history, 16, depth, nullptr};
        d->draft(request, tree);
        std::vector<float> win_hidden((size_t) W * ne, 0.0f), want;
        std::vector<llama_token> win_tokens((size_t) W, 0);
        std::vector<uint8_t> valid((size_t) W, 0);
        for (int32_t j = 0; j < W && last - j >= start; j++) {
            std::copy(&rows[(size_t) (last - j) * ne], &rows[(size_t) (last - j + 1) * ne], &win_hidden[(size_t) j * ne]);
            win_tokens[(size_t) j] = text[(size_t) (last - j + 1)];
            valid[(size_t) j] = 1;
        }
        const sd_heads_window_input win = {win_hidden.data(), win_tokens.data(), valid.data()};
        CHECK(sd_heads_evaluate(*e, &rows[(size_t) last * ne], &history.back(), 1, 1, want, nullptr, error, &win) == SD_OK);
        // the chain: at each depth, the first child of the chain's node
        int32_t parent = -1;
        for (int32_t k = 0; k < depth; k++) {
            const float * l = &want[(size_t) k * (size_t) n_vocab];
            const int32_t best = (int32_t) (std::max_element(l, l + n_vocab) - l);
            double sum = 0;
            for (int32_t v = 0; v < n_vocab; v++) sum += std::exp((double) (l[v] - l[best]));
            int32_t node = -1;
            for (int32_t i = 0; i < sd_tree_size(tree) && node < 0; i++) {
                if (tree.parent[(size_t) i] == parent) node = i;
            }
            if (node < 0 || tree.token[(size_t) node] != best) {
                mismatches++;
                break;
            }
            max_prob_diff = std::max(max_prob_diff, std::fabs(tree.conf[(size_t) node] - 1.0 / sum));
            parent = node;
        }
        drafts++;
    };
    const sd_generation_params gp = sd_generation_default_params();
    const int32_t advance[] = {1, 3, 2, 1, 1, 3, 2, 2};
    int32_t last = 3;
    for (int32_t generation = 0; generation < 3; generation++) {
        // the later ones start three positions before the last one ended, whose keys are kept: the
        // second gives the positions after that point other hidden states (the tokens stay), the third
        // another root and other tokens
        const int32_t start = generation == 0 ? last : last - 3;
        if (generation > 0) fill(start + 1, generation == 1, generation == 2);
        show(start, 1);
        CHECK(d->begin(std::vector<llama_token>(text.begin(), text.begin() + start + 1), gp, 0, error) == SD_OK);
        last = start;
        check_draft(last, start);
        for (int32_t a : advance) {
            show(last + 1, a);
            last += a;
            check_draft(last, start);
        }
    }
    std::printf("attention drafter: %d drafts, %d chains unlike the whole window's, max probability difference %.2e\n",
                drafts, mismatches, max_prob_diff);
    CHECK(drafts == 27 && mismatches == 0 && max_prob_diff < 1e-4);
    d.reset();
    e.reset();
    sd_heads_free(heads);
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
            CHECK(sd_heads_logits(heads, hidden, nullptr, 1, out, error) == SD_OK);
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
    regressive(model);
    feature(model);
    feature_attention(model);
    attention_drafter(model);
    greedy_equivalence(model);
    sd_model_free(model);
    return sd_test_finish("test-heads");
}
