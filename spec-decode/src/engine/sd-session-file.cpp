// Saved sessions: the tokens in a session's KV cache, the cache itself and what its drafters learnt,
// in one file that is written atomically and checked when read back.
//
// Layout (version 1), every number in the writer's byte order, which the marker records:
//   "LLSPSESS"  u32 version  u32 0x01020304
//   str model fingerprint  str weights id  str model file name  str KV description ("context 512, keys f16, values f16")
//   u32 n_tokens  i32 tokens[n_tokens]
//   str KV cache (llama_state_seq_get_data of sequence 0)
//   u32 Token Recycling's k (0: none)  [str its matrix]
//   str attachment
//   u64 checksum of every byte before it
// where str is a u64 length and that many bytes.
#include "engine/sd-session.h"
#include "model/sd-log.h"
#include "model/sd-model.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char     k_magic[8]  = {'L', 'L', 'S', 'P', 'S', 'E', 'S', 'S'};
static const uint32_t k_marker    = 0x01020304u;

// A checksum of a byte stream fed in pieces of any size: FNV-1a over 8-byte words (every step is a
// bijection of the state, so any change to one word changes the result), then over the last bytes.
struct sd_checksum {
    uint64_t h = 0xcbf29ce484222325ULL;
    uint8_t  pending[8] = {};
    size_t   n_pending = 0;

    void add(const void * data, size_t n) {
        const uint8_t * p = static_cast<const uint8_t *>(data);
        while (n > 0) {
            if (n_pending == 0 && n >= 8) {
                uint64_t w;
                std::memcpy(&w, p, 8);
                mix(w);
                p += 8;
                n -= 8;
                continue;
            }
            pending[n_pending++] = *p++;
            n--;
            if (n_pending == 8) {
                uint64_t w;
                std::memcpy(&w, pending, 8);
                mix(w);
                n_pending = 0;
            }
        }
    }

    void mix(uint64_t w) {
        h ^= w;
        h *= 0x100000001b3ULL;
    }

    uint64_t value() const {
        uint64_t v = h;
        for (size_t i = 0; i < n_pending; i++) {
            v ^= pending[i];
            v *= 0x100000001b3ULL;
        }
        return v;
    }
};

static std::string errno_text() {
    return std::strerror(errno);
}

static std::string file_name(const std::string & path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

static std::string kv_description(const sd_context * c) {
    return "context " + std::to_string(c->n_ctx) + ", keys " + ggml_type_name(c->cparams.type_k) + ", values " +
           ggml_type_name(c->cparams.type_v);
}

// Writes to a file descriptor, keeping the checksum of what it wrote.
struct sd_file_writer {
    int         fd = -1;
    sd_checksum sum;
    bool        failed = false;
    int         error_number = 0;

    void bytes(const void * data, size_t n) {
        if (failed) return;
        sum.add(data, n);
        const char * p = static_cast<const char *>(data);
        while (n > 0) {
            const ssize_t w = ::write(fd, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                failed = true;
                error_number = w < 0 ? errno : ENOSPC;
                return;
            }
            p += w;
            n -= (size_t) w;
        }
    }

    void u32(uint32_t v) { bytes(&v, sizeof(v)); }

    void str(const std::string & s) {
        const uint64_t n = s.size();
        bytes(&n, sizeof(n));
        bytes(s.data(), s.size());
    }
};

sd_status sd_session_save(sd_session * s, const std::string & path, const std::string & attachment,
                          std::string & error) {
    if (s->gen.active) return sd_fail(error, SD_ERR_STATE, "a generation is running");
    if (path.empty()) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the session file's path is empty");
    sd_context * c = s->ctx;
    std::string fingerprint, weights;
    sd_status status = sd_model_fingerprint(c->model, fingerprint, error);
    if (status == SD_OK) status = sd_model_weights_id(c->model, weights, error);
    if (status != SD_OK) return status;

    auto copied = std::make_shared<std::pair<std::string, bool>>();
    llama_context * ctx = c->ctx;
    status = sd_rpc_call(&c->model->rpc, [copied, ctx] {
        std::string & kv = copied->first;
        kv.assign(llama_state_seq_get_size(ctx, 0), '\0');
        copied->second = kv.empty() || llama_state_seq_get_data(ctx, reinterpret_cast<uint8_t *>(&kv[0]), kv.size(), 0) == kv.size();
    }, error);
    if (status != SD_OK) return status;
    if (!copied->second) {
        return sd_fail(error, SD_ERR_SESSION_FILE, "llama.cpp could not copy the session's KV cache");
    }
    const std::string & kv = copied->first;
    const sd_drafter * recycling = s->drafters.recycling.get();
    const std::string matrix = recycling != nullptr ? recycling->learnt() : std::string();

    // A temporary file in the same folder (so that rename replaces the old file in one step).
    const std::string tmp = path + ".tmp-" + std::to_string((long) ::getpid()) + "-" +
                            std::to_string((unsigned long long) llama_time_us());
    sd_file_writer w;
    w.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        return sd_fail(error, SD_ERR_SESSION_FILE, "cannot write the session file " + path + ": " + errno_text());
    }
    w.bytes(k_magic, sizeof(k_magic));
    w.u32(SD_SESSION_FILE_VERSION);
    w.u32(k_marker);
    w.str(fingerprint);
    w.str(weights);
    w.str(file_name(c->model->path));
    w.str(kv_description(c));
    w.u32((uint32_t) c->cached.size());
    w.bytes(c->cached.data(), c->cached.size() * sizeof(llama_token));
    w.str(kv);
    w.u32(matrix.empty() ? 0u : (uint32_t) s->drafters.recycling_made.k);
    if (!matrix.empty()) w.str(matrix);
    w.str(attachment);
    const uint64_t checksum = w.sum.value();
    w.bytes(&checksum, sizeof(checksum));
    if (!w.failed && ::fsync(w.fd) != 0) {
        w.failed = true;
        w.error_number = errno;
    }
    if (::close(w.fd) != 0 && !w.failed) {
        w.failed = true;
        w.error_number = errno;
    }
    if (!w.failed && ::rename(tmp.c_str(), path.c_str()) != 0) {
        w.failed = true;
        w.error_number = errno;
    }
    if (w.failed) {
        ::unlink(tmp.c_str());
        return sd_fail(error, SD_ERR_SESSION_FILE,
                       "cannot write the session file " + path + ": " + std::strerror(w.error_number) +
                       " (the file under that name, if any, is unchanged)");
    }
    // the rename itself reaches the disk with the folder's entry
    const size_t slash = path.find_last_of('/');
    const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return SD_OK;
}

// Reads the sections of a file held in memory, noting when one runs past the end.
struct sd_file_reader {
    const char * p;
    size_t       n;
    size_t       at = 0;
    bool         short_read = false;

    bool bytes(void * out, size_t k) {
        if (short_read || k > n - at) {
            short_read = true;
            return false;
        }
        std::memcpy(out, p + at, k);
        at += k;
        return true;
    }

    uint32_t u32() {
        uint32_t v = 0;
        bytes(&v, sizeof(v));
        return v;
    }

    std::string str() {
        uint64_t k = 0;
        if (!bytes(&k, sizeof(k))) return {};
        if (k > n - at) {
            short_read = true;
            return {};
        }
        std::string s(p + at, (size_t) k);
        at += (size_t) k;
        return s;
    }
};

static bool read_file(const std::string & path, std::string & out, std::string & error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = "cannot read the session file " + path + ": " + errno_text();
        return false;
    }
    struct stat st;
    const bool stated = ::fstat(fd, &st) == 0;
    if (!stated || !S_ISREG(st.st_mode)) {
        error = "cannot read the session file " + path + ": " +
                (!stated ? errno_text() : S_ISDIR(st.st_mode) ? "it is a folder" : "not a regular file");
        ::close(fd);
        return false;
    }
    out.resize((size_t) st.st_size);
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t r = ::read(fd, &out[done], out.size() - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            error = "cannot read the session file " + path + ": " + (r < 0 ? errno_text() : "it shrank while being read");
            ::close(fd);
            return false;
        }
        done += (size_t) r;
    }
    ::close(fd);
    return true;
}

sd_status sd_session_restore(sd_session * s, const std::string & path, std::string * attachment, std::string & error) {
    if (s->gen.active) return sd_fail(error, SD_ERR_STATE, "a generation is running");
    sd_context * c = s->ctx;
    std::string data, message;
    if (!read_file(path, data, message)) return sd_fail(error, SD_ERR_SESSION_FILE, message);
    const std::string what = "the session file " + path;
    if (data.size() < sizeof(k_magic) || std::memcmp(data.data(), k_magic, sizeof(k_magic)) != 0) {
        return sd_fail(error, SD_ERR_SESSION_FILE, what + " is not a llamaspec session file");
    }
    sd_file_reader r{data.data(), data.size()};
    r.at = sizeof(k_magic);
    const uint32_t version = r.u32();
    const uint32_t marker = r.u32();
    if (r.short_read) return sd_fail(error, SD_ERR_SESSION_FILE, what + " is truncated (" + std::to_string(data.size()) + " bytes)");
    if (marker != k_marker) {
        return sd_fail(error, SD_ERR_SESSION_FILE, what + " was written on a machine of another byte order, or is damaged");
    }
    if (version > SD_SESSION_FILE_VERSION) {
        return sd_fail(error, SD_ERR_SESSION_FILE,
                       what + " is of format version " + std::to_string(version) + ", newer than this llamaspec reads (" +
                       std::to_string(SD_SESSION_FILE_VERSION) + "); restore it with the llamaspec that saved it");
    }
    if (version == 0) return sd_fail(error, SD_ERR_SESSION_FILE, what + " is damaged (format version 0)");

    const std::string fingerprint = r.str();
    const std::string weights = r.str();
    const std::string model_name = r.str();
    const std::string kv_saved = r.str();
    const uint32_t n_tokens = r.u32();
    std::vector<llama_token> tokens;
    if (!r.short_read && (uint64_t) n_tokens * sizeof(llama_token) <= data.size() - r.at) {
        tokens.resize(n_tokens);
        r.bytes(tokens.data(), tokens.size() * sizeof(llama_token));
    } else {
        r.short_read = true;
    }
    const std::string kv = r.str();
    const uint32_t k = r.u32();
    const std::string matrix = k > 0 ? r.str() : std::string();
    const std::string attached = r.str();
    const size_t body = r.at;
    uint64_t checksum = 0;
    r.bytes(&checksum, sizeof(checksum));
    if (r.short_read) {
        return sd_fail(error, SD_ERR_SESSION_FILE, what + " is truncated (" + std::to_string(data.size()) + " bytes)");
    }
    sd_checksum sum;
    sum.add(data.data(), body);
    if (r.at != data.size() || sum.value() != checksum) {
        return sd_fail(error, SD_ERR_SESSION_FILE, what + " is damaged (its checksum does not match its contents)");
    }

    std::string ours, our_weights;
    sd_status status = sd_model_fingerprint(c->model, ours, error);
    if (status == SD_OK) status = sd_model_weights_id(c->model, our_weights, error);
    if (status != SD_OK) return status;
    if (fingerprint != ours) {
        return sd_fail(error, SD_ERR_SESSION_FILE,
                       what + " was saved from another model (" + model_name + ", fingerprint " + fingerprint +
                       "); this session's model is " + file_name(c->model->path) + " (fingerprint " + ours + ")");
    }
    if (weights != our_weights) {
        return sd_fail(error, SD_ERR_SESSION_FILE,
                       what + " was saved from another model (" + model_name + ") with the same vocabulary and output "
                       "projection as this session's " + file_name(c->model->path) + " but other weights (a fine-tune "
                       "or another quantization?): its KV cache would be wrong for this one");
    }
    if (tokens.size() >= c->n_ctx) {
        return sd_fail(error, SD_ERR_CONTEXT_OVERFLOW,
                       what + " holds " + std::to_string(tokens.size()) + " tokens but this session's context holds " +
                       std::to_string(c->n_ctx) + " (at least one more is needed to generate)");
    }
    for (llama_token t : tokens) {
        if (t < 0 || t >= c->n_vocab) {
            return sd_fail(error, SD_ERR_SESSION_FILE, what + " is damaged (token " + std::to_string(t) + " is outside the vocabulary)");
        }
    }
    std::unique_ptr<sd_drafter> recycler;
    if (k > 0) {
        sd_recycling_params params = sd_generation_default_params().spec.recycling;
        params.k = (int32_t) k;
        recycler.reset(sd_drafter_recycling_init(params, c->n_vocab));
        if (!recycler->relearn(matrix)) {
            return sd_fail(error, SD_ERR_SESSION_FILE, what + " is damaged (Token Recycling's matrix does not fit the model)");
        }
    }

    sd_session_reset(s);
    llama_memory_t mem = llama_get_memory(c->ctx);
    auto set = std::make_shared<bool>(false);
    auto saved = std::make_shared<std::string>(kv);
    llama_context * ctx = c->ctx;
    status = tokens.empty() ? SD_OK : sd_rpc_call(&c->model->rpc, [set, saved, ctx] {
        *set = llama_state_seq_set_data(ctx, reinterpret_cast<const uint8_t *>(saved->data()), saved->size(), 0) == saved->size();
    }, error);
    if (status != SD_OK) return status;
    const bool restored = tokens.empty() ||
        (*set && llama_memory_seq_pos_min(mem, 0) == 0 && llama_memory_seq_pos_max(mem, 0) == (llama_pos) tokens.size() - 1);
    if (!restored) {
        sd_session_reset(s);
        return sd_fail(error, SD_ERR_SESSION_FILE,
                       what + "'s KV cache does not fit this session (saved with " + kv_saved + "; this session has " +
                       kv_description(c) + "): restore it into a session with the options it was saved with");
    }
    c->cached = std::move(tokens);
    // the state restored is sequence 0's (the reset above emptied the paths' sequences): the next
    // step's paths copy the text from it
    if (recycler) {
        s->drafters.recycling = std::move(recycler);
        s->drafters.recycling_made.k = (int32_t) k;
        s->drafters.automatic.reset(); // it pointed to the old one; made again by the next generation
    }
    if (attachment != nullptr) *attachment = attached;
    return SD_OK;
}
