// Model loading, information, tokenizer and chat template.
#include "model/sd-model.h"
#include "model/sd-gguf.h"
#include "model/sd-log.h"
#include "engine/sd-settings.h"

#include "ggml-backend.h"

#include <algorithm>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unordered_map>

// Checks, on the GGUF metadata alone, what llama.cpp asserts on (aborting the process) instead of
// returning an error. Each check here comes from an input ci/fuzz found.
static sd_status check_gguf_metadata(const char * path, std::string & error) {
    sd_gguf_ptr g = sd_gguf_open(path);
    gguf_context * gguf = g.get();
    if (gguf == nullptr) {
        std::string reason = sd_log_take_last_error();
        return sd_fail(error, SD_ERR_MODEL_LOAD,
                       std::string("could not load the model ") + path + ": not a valid GGUF file" +
                       (reason.empty() ? "" : " (" + reason + ")"));
    }
    sd_status status = SD_OK;
    // The vocabulary: llama.cpp maps token texts to ids and asserts that no text appears twice.
    const int64_t key = gguf_find_key(gguf, "tokenizer.ggml.tokens");
    if (key >= 0 && gguf_get_kv_type(gguf, key) == GGUF_TYPE_ARRAY && gguf_get_arr_type(gguf, key) == GGUF_TYPE_STRING) {
        const size_t n = gguf_get_arr_n(gguf, key);
        std::unordered_map<std::string, size_t> seen;
        seen.reserve(n);
        for (size_t i = 0; i < n; i++) {
            const char * text = gguf_get_arr_str(gguf, key, i);
            auto inserted = seen.emplace(text != nullptr ? text : "", i);
            if (!inserted.second) {
                status = sd_fail(error, SD_ERR_MODEL_LOAD,
                                 std::string("could not load the model ") + path + ": invalid vocabulary, token " +
                                 std::to_string(i) +
                                 " has the same text as token " + std::to_string(inserted.first->second));
                break;
            }
        }
    }
    return status;
}

sd_status sd_model_load(const char * path, const sd_model_params & params, sd_model ** out, std::string & error) {
    *out = nullptr;
    if (path == nullptr || path[0] == '\0') {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "model path is empty");
    }
    sd_status status = sd_model_params_check(params, error);
    if (status != SD_OK) {
        return status;
    }
    status = sd_check_gguf_file(path, "model", error);
    if (status != SD_OK) {
        return status;
    }
    sd_backend_init();
    sd_log_take_last_error();
    status = check_gguf_metadata(path, error);
    if (status != SD_OK) {
        return status;
    }

    std::unique_ptr<sd_model> m(new sd_model());
    m->rpc.endpoints  = params.rpc_servers;
    m->rpc.timeout_ms = params.rpc_timeout_ms;
    for (const std::string & endpoint : params.rpc_servers) {
        std::string why;
        if (!sd_rpc_endpoint_valid(endpoint, why)) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, why);
    }
    llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = params.n_gpu_layers;
    mparams.load_mode    = params.use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
    if (m->rpc.active()) {
        status = sd_rpc_connect(m->rpc, m->devices, error);
        if (status != SD_OK) return status;
    }
    if (m->rpc.active() || (rpc != nullptr && ggml_backend_reg_dev_count(rpc) > 0)) {
        // the devices by hand: this model's RPC servers and the local GPUs, never the servers another
        // model of the process registered
        for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
            ggml_backend_dev_t dev = ggml_backend_dev_get(i);
            const enum ggml_backend_dev_type type = ggml_backend_dev_type(dev);
            if ((type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) &&
                ggml_backend_dev_backend_reg(dev) != rpc) {
                m->devices.push_back(dev);
            }
        }
        m->devices.push_back(nullptr);
        mparams.devices = m->devices.data();
    }

    sd_log_take_last_error();
    llama_model * model = nullptr;
    status = sd_rpc_call(&m->rpc, [&] { model = llama_model_load_from_file(path, mparams); }, error, false);
    if (status != SD_OK) {
        m.release(); // the load may still hold it, waiting on the server that went away
        return status;
    }
    if (model == nullptr) {
        std::string reason = sd_log_take_last_error();
        return sd_fail(error, SD_ERR_MODEL_LOAD,
                       std::string("llama.cpp could not load the model ") + path +
                       (reason.empty() ? "" : ": " + reason));
    }
    if (!llama_model_has_decoder(model) || llama_model_n_embd(model) <= 0 ||
        llama_vocab_n_tokens(llama_model_get_vocab(model)) <= 0) {
        std::string ignored;
        if (sd_rpc_call(&m->rpc, [model] { llama_model_free(model); }, ignored) != SD_OK) m.release();
        return sd_fail(error, SD_ERR_MODEL_LOAD, std::string("not a text-generation model: ") + path);
    }

    m->model  = model;
    m->vocab  = llama_model_get_vocab(model);
    m->params = params;
    m->path   = path;
    if (m->params.n_threads == 0) {
        m->threads_automatic = true;
        const unsigned hw = std::thread::hardware_concurrency();
        m->params.n_threads = (int32_t) std::min(8u, std::max(1u, hw));
    }
    if (m->params.n_ctx == 0) {
        const int32_t train = llama_model_n_ctx_train(model);
        m->params.n_ctx = (uint32_t) (train > 0 ? std::min(train, 4096) : 4096);
    }
    if (m->rpc.active()) sd_rpc_watch(m->rpc);
    *out = m.release();
    return SD_OK;
}

const llama_model * sd_model_llama(const sd_model * model) {
    return model->model;
}

const char * sd_model_path(const sd_model * model) {
    return model->path.c_str();
}

void sd_model_free(sd_model * model) {
    if (model == nullptr) {
        return;
    }
    if (model->rpc.active()) {
        // a model whose server went away is left as it is: freeing it would talk to that server
        std::string ignored;
        if (!model->rpc.broken) sd_rpc_call(&model->rpc, [model] { llama_model_free(model->model); }, ignored);
        if (model->rpc.broken) return;
    } else {
        llama_model_free(model->model);
    }
    delete model;
}

bool sd_model_failure(const sd_model * model, std::string & why) {
    if (!model->rpc.broken) return false;
    std::lock_guard<std::mutex> lock(model->rpc.mutex);
    why = model->rpc.error;
    return true;
}

static std::string model_meta(const llama_model * model, const char * key) {
    char buf[512];
    const int32_t n = llama_model_meta_val_str(model, key, buf, sizeof(buf));
    return n < 0 ? std::string() : std::string(buf, std::min((size_t) n, sizeof(buf) - 1));
}

sd_model_info sd_model_get_info(const sd_model * m) {
    sd_model_info info;
    info.name         = model_meta(m->model, "general.name");
    info.architecture = model_meta(m->model, "general.architecture");
    char desc[256];
    const int32_t n = llama_model_desc(m->model, desc, sizeof(desc));
    info.description  = n < 0 ? std::string() : std::string(desc, std::min((size_t) n, sizeof(desc) - 1));
    const char * tmpl = llama_model_chat_template(m->model, nullptr);
    info.chat_template = tmpl != nullptr ? tmpl : "";
    info.token_bos     = llama_vocab_bos(m->vocab);
    info.token_eos     = llama_vocab_eos(m->vocab);
    info.add_bos       = llama_vocab_get_add_bos(m->vocab);
    info.add_eos       = llama_vocab_get_add_eos(m->vocab);
    info.n_params     = llama_model_n_params(m->model);
    info.size_bytes   = llama_model_size(m->model);
    info.n_ctx_train  = llama_model_n_ctx_train(m->model);
    info.n_vocab      = llama_vocab_n_tokens(m->vocab);
    info.n_embd       = llama_model_n_embd(m->model);
    info.n_layer      = llama_model_n_layer(m->model);
    if (!m->devices.empty()) {
        // given by hand (RPC servers, local GPUs): those, and the CPU
        for (size_t i = 0; i < m->devices.size(); i++) {
            ggml_backend_dev_t dev = m->devices[i];
            if (dev != nullptr && m->params.n_gpu_layers != 0 && llama_model_n_layer(m->model) > 0) {
                // an RPC server by its address as given (ggml-rpc may know it by another spelling)
                const std::string what = i < m->rpc.device_endpoints.size() ? "RPC server " + m->rpc.device_endpoints[i]
                                                                            : ggml_backend_dev_description(dev);
                info.devices.push_back(std::string(ggml_backend_dev_name(dev)) + " (" + what + ")");
            }
        }
        ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
        if (cpu != nullptr) info.devices.push_back(std::string(ggml_backend_dev_name(cpu)) + " (" + ggml_backend_dev_description(cpu) + ")");
        return info;
    }
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        const enum ggml_backend_dev_type type = ggml_backend_dev_type(dev);
        const bool gpu = type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
        if ((gpu && m->params.n_gpu_layers != 0 && llama_model_n_layer(m->model) > 0) || type == GGML_BACKEND_DEVICE_TYPE_CPU) {
            info.devices.push_back(std::string(ggml_backend_dev_name(dev)) + " (" + ggml_backend_dev_description(dev) + ")");
        }
    }
    // the CPU last: it holds what is not offloaded
    std::stable_partition(info.devices.begin(), info.devices.end(),
                          [](const std::string & d) { return d.rfind("CPU", 0) != 0; });
    return info;
}

// A token's text for a message: quoted, control bytes escaped.
static std::string quoted_token_text(const llama_vocab * vocab, llama_token token) {
    const char * text = llama_vocab_get_text(vocab, token);
    std::string out = "'";
    for (const char * c = text != nullptr ? text : ""; *c != '\0'; c++) {
        if ((unsigned char) *c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", (unsigned) (unsigned char) *c);
            out += buf;
        } else {
            out += *c;
        }
    }
    return out + "'";
}

static const char * vocab_type_name(enum llama_vocab_type type) {
    switch (type) {
        case LLAMA_VOCAB_TYPE_NONE: return "none";
        case LLAMA_VOCAB_TYPE_SPM:  return "SentencePiece (spm)";
        case LLAMA_VOCAB_TYPE_BPE:  return "byte-level BPE (bpe)";
        case LLAMA_VOCAB_TYPE_WPM:  return "WordPiece (wpm)";
        case LLAMA_VOCAB_TYPE_UGM:  return "Unigram (ugm)";
        case LLAMA_VOCAB_TYPE_RWKV: return "RWKV";
        default:                    return "unknown";
    }
}

// The checks of llama.cpp's speculative example: token ids mean the same text in both models.
sd_status sd_model_vocab_compatible(const sd_model * target, const sd_model * draft, std::string & error) {
    static const int32_t max_size_difference = 128;
    static const int32_t first_checked_token = 5; // the first ids are special tokens, often renumbered
    const llama_vocab * vt = target->vocab;
    const llama_vocab * vd = draft->vocab;
    const std::string prefix = "the draft model's vocabulary does not match the target model's: ";
    if (llama_vocab_type(vt) != llama_vocab_type(vd)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                       prefix + "vocabulary type " + vocab_type_name(llama_vocab_type(vd)) + " instead of " +
                       vocab_type_name(llama_vocab_type(vt)));
    }
    if (llama_vocab_bos(vt) != llama_vocab_bos(vd) || llama_vocab_eos(vt) != llama_vocab_eos(vd)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                       prefix + "BOS/EOS tokens " + std::to_string(llama_vocab_bos(vd)) + "/" +
                       std::to_string(llama_vocab_eos(vd)) + " instead of " + std::to_string(llama_vocab_bos(vt)) +
                       "/" + std::to_string(llama_vocab_eos(vt)));
    }
    if (llama_vocab_get_add_bos(vt) != llama_vocab_get_add_bos(vd) ||
        llama_vocab_get_add_eos(vt) != llama_vocab_get_add_eos(vd)) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                       prefix + "prompts get BOS/EOS added differently (add_bos " +
                       std::to_string(llama_vocab_get_add_bos(vd)) + " vs " + std::to_string(llama_vocab_get_add_bos(vt)) +
                       ", add_eos " + std::to_string(llama_vocab_get_add_eos(vd)) + " vs " +
                       std::to_string(llama_vocab_get_add_eos(vt)) + ")");
    }
    const int32_t nt = llama_vocab_n_tokens(vt);
    const int32_t nd = llama_vocab_n_tokens(vd);
    if (std::abs(nt - nd) > max_size_difference) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                       prefix + std::to_string(nd) + " tokens instead of " + std::to_string(nt) +
                       " (at most " + std::to_string(max_size_difference) + " may differ)");
    }
    for (llama_token t = first_checked_token; t < std::min(nt, nd); t++) {
        const char * a = llama_vocab_get_text(vt, t);
        const char * b = llama_vocab_get_text(vd, t);
        if (std::strcmp(a != nullptr ? a : "", b != nullptr ? b : "") != 0) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                           prefix + "token " + std::to_string(t) + " is " + quoted_token_text(vd, t) +
                           " in the draft model and " + quoted_token_text(vt, t) + " in the target model");
        }
    }
    return SD_OK;
}

sd_status sd_tokenize(const sd_model * m, const std::string & text, bool add_special, bool parse_special,
                      std::vector<llama_token> & out, std::string & error) {
    if (text.size() > (size_t) INT32_MAX / 2) {
        return sd_fail(error, SD_ERR_TOKENIZE, "text is too long to tokenize");
    }
    out.resize(text.size() + 2);
    int32_t n = llama_tokenize(m->vocab, text.data(), (int32_t) text.size(), out.data(), (int32_t) out.size(),
                               add_special, parse_special);
    if (n < 0 && n != INT32_MIN) {
        out.resize((size_t) -n);
        n = llama_tokenize(m->vocab, text.data(), (int32_t) text.size(), out.data(), (int32_t) out.size(),
                           add_special, parse_special);
    }
    if (n < 0) {
        out.clear();
        return sd_fail(error, SD_ERR_TOKENIZE, "tokenization failed");
    }
    out.resize((size_t) n);
    return SD_OK;
}

static sd_status check_tokens(const sd_model * m, const llama_token * tokens, size_t n, std::string & error) {
    const int32_t n_vocab = llama_vocab_n_tokens(m->vocab);
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                           "token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                           " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
        }
    }
    return SD_OK;
}

sd_status sd_detokenize(const sd_model * m, const std::vector<llama_token> & tokens, bool render_special,
                        std::string & out, std::string & error) {
    sd_status status = check_tokens(m, tokens.data(), tokens.size(), error);
    if (status != SD_OK) {
        return status;
    }
    out.resize(tokens.size() * 8 + 16);
    int32_t n = llama_detokenize(m->vocab, tokens.data(), (int32_t) tokens.size(), &out[0], (int32_t) out.size(),
                                 false, render_special);
    if (n < 0) {
        out.resize((size_t) -n);
        n = llama_detokenize(m->vocab, tokens.data(), (int32_t) tokens.size(), &out[0], (int32_t) out.size(),
                             false, render_special);
    }
    if (n < 0) {
        out.clear();
        return sd_fail(error, SD_ERR_TOKENIZE, "detokenization failed");
    }
    out.resize((size_t) n);
    return SD_OK;
}

sd_status sd_token_to_piece(const sd_model * m, llama_token token, bool render_special, std::string & out,
                            std::string & error) {
    sd_status status = check_tokens(m, &token, 1, error);
    if (status != SD_OK) {
        return status;
    }
    char buf[256];
    int32_t n = llama_token_to_piece(m->vocab, token, buf, sizeof(buf), 0, render_special);
    if (n >= 0) {
        out.assign(buf, (size_t) n);
        return SD_OK;
    }
    out.resize((size_t) -n);
    n = llama_token_to_piece(m->vocab, token, &out[0], (int32_t) out.size(), 0, render_special);
    if (n < 0) {
        out.clear();
        return sd_fail(error, SD_ERR_TOKENIZE, "cannot render token " + std::to_string(token));
    }
    out.resize((size_t) n);
    return SD_OK;
}

std::string sd_chat_fallback(const std::vector<sd_chat_message> & messages, bool add_assistant) {
    std::string out;
    for (const sd_chat_message & msg : messages) {
        if (msg.role == "system") {
            out += msg.content + "\n\n";
        } else if (msg.role == "assistant") {
            out += "Assistant: " + msg.content + "\n";
        } else {
            out += "User: " + msg.content + "\n";
        }
    }
    if (add_assistant) {
        out += "Assistant:";
    }
    return out;
}

bool sd_chat_builtin(const sd_model * m) {
    const char * tmpl = llama_model_chat_template(m->model, nullptr);
    if (tmpl == nullptr) {
        return false;
    }
    // llama.cpp detects the format from the template's text before it looks at the messages
    const llama_chat_message probe = {"user", "Hello"};
    return llama_chat_apply_template(tmpl, &probe, 1, true, nullptr, 0) >= 0;
}

sd_status sd_chat_apply(const sd_model * m, const std::vector<sd_chat_message> & messages, bool add_assistant,
                        std::string & out, bool * used_fallback, std::string & error) {
    for (const sd_chat_message & msg : messages) {
        if (msg.role != "system" && msg.role != "user" && msg.role != "assistant") {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                           "chat role must be system, user or assistant, not '" + msg.role + "'");
        }
    }
    const char * tmpl = llama_model_chat_template(m->model, nullptr);
    if (tmpl == nullptr) {
        out = sd_chat_fallback(messages, add_assistant);
        if (used_fallback != nullptr) *used_fallback = true;
        return SD_OK;
    }
    std::vector<llama_chat_message> chat;
    size_t total = 0;
    for (const sd_chat_message & msg : messages) {
        chat.push_back({msg.role.c_str(), msg.content.c_str()});
        total += msg.role.size() + msg.content.size();
    }
    std::vector<char> buf(2 * total + 256);
    int32_t n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), add_assistant, buf.data(), (int32_t) buf.size());
    if (n > (int32_t) buf.size()) {
        buf.resize((size_t) n);
        n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), add_assistant, buf.data(), (int32_t) buf.size());
    }
    if (n < 0) {
        return sd_fail(error, SD_ERR_TEMPLATE,
                       "the model's chat template is not one llama.cpp can apply without a Jinja engine; "
                       "render the prompt yourself and call generate");
    }
    out.assign(buf.data(), (size_t) n);
    if (used_fallback != nullptr) *used_fallback = false;
    return SD_OK;
}
