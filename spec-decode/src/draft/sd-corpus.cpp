// Corpus index for prompt lookup (REST / Infini-gram style): a text tokenized with the model's
// vocabulary and a suffix array over its tokens, written once and memory-mapped.
//
// File (little-endian):
//   char[8]  "LSCORPUS"
//   u32      format version (1)
//   u32      byte-order marker 0x01020304
//   u64      vocabulary hash (the tokens' texts and kinds: what tokenization depends on)
//   u64      n, the number of tokens
//   i32[n]   the tokens, the text's pieces joined (a piece is a line group, see build)
//   u32[n]   the suffix array: token positions ordered by the k_sort_depth tokens from each
//   u64      FNV-1a of everything before it
#include "draft/sd-corpus.h"
#include "model/sd-log.h"
#include "model/sd-model.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

const char     k_magic[8]     = {'L', 'S', 'C', 'O', 'R', 'P', 'U', 'S'};
const uint32_t k_version      = 1;
const uint32_t k_byte_order   = 0x01020304;
const size_t   k_header_bytes = 8 + 4 + 4 + 8 + 8;
// suffixes are ordered by this many tokens: lookups never use longer patterns (sd_lookup_params'
// max_ngram is at most 16), and equal prefixes this long keep their text order
const int32_t  k_sort_depth   = 24;

uint64_t fnv(uint64_t h, const void * data, size_t n) {
    const unsigned char * p = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

const uint64_t k_fnv_start = 1469598103934665603ull;

std::string errno_text() { return std::strerror(errno); }

} // namespace

sd_corpus_data::~sd_corpus_data() {
    if (map != nullptr) munmap(map, bytes);
}

// The handle sd_corpus_load gives: shares the mapping with the drafters that use it, so that freeing
// the handle during a generation leaves the mapping to them.
struct sd_corpus {
    std::shared_ptr<const sd_corpus_data> data;
    uint64_t id; // unique in the process: an index loaded where a freed one was is not taken for it
};

static std::atomic<uint64_t> g_next_id{1};

uint64_t sd_vocab_hash(const sd_model * model) {
    const llama_vocab * vocab = model->vocab;
    uint64_t h = k_fnv_start;
    const int32_t n = llama_vocab_n_tokens(vocab);
    const int32_t type = (int32_t) llama_vocab_type(vocab);
    h = fnv(h, &n, sizeof(n));
    h = fnv(h, &type, sizeof(type));
    for (llama_token t = 0; t < n; t++) {
        const char * text = llama_vocab_get_text(vocab, t);
        const size_t len = text != nullptr ? std::strlen(text) : 0;
        h = fnv(h, &len, sizeof(len));
        if (len > 0) h = fnv(h, text, len);
        const int32_t attr = (int32_t) llama_vocab_get_attr(vocab, t);
        h = fnv(h, &attr, sizeof(attr));
    }
    return h;
}

sd_status sd_corpus_build(const sd_model * model, const char * text_path, const char * out_path, sd_corpus_info * info,
                          std::string & error) {
    const auto t0 = std::chrono::steady_clock::now();
    if (text_path == nullptr || text_path[0] == '\0' || out_path == nullptr || out_path[0] == '\0') {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the corpus text and the index file must be given");
    }
    std::ifstream in(text_path, std::ios::binary);
    if (!in) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("cannot read the corpus text ") + text_path + ": " + errno_text());
    // tokenized in pieces of about 64 KiB cut at line ends (a token never spans two lines' boundary
    // differently than it would in the whole text, up to the newline's own token)
    std::vector<int32_t> tokens;
    std::string piece, line;
    auto flush = [&]() -> bool {
        if (piece.empty()) return true;
        std::vector<llama_token> t;
        if (sd_tokenize(model, piece, false, false, t, error) != SD_OK) return false;
        tokens.insert(tokens.end(), t.begin(), t.end());
        piece.clear();
        return true;
    };
    while (std::getline(in, line)) {
        piece += line;
        if (!in.eof()) piece += '\n';
        if (piece.size() >= (1u << 16) && !flush()) return SD_ERR_TOKENIZE;
    }
    if (in.bad()) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("cannot read the corpus text ") + text_path);
    if (!flush()) return SD_ERR_TOKENIZE;
    if (tokens.size() < 2) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("the corpus text ") + text_path + " has fewer than 2 tokens");
    if (tokens.size() >= (1ull << 31)) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the corpus has 2^31 tokens or more");

    const uint64_t n = tokens.size();
    std::vector<uint32_t> sa(n);
    for (uint64_t i = 0; i < n; i++) sa[i] = (uint32_t) i;
    const int32_t * t = tokens.data();
    std::stable_sort(sa.begin(), sa.end(), [t, n](uint32_t a, uint32_t b) {
        for (int32_t k = 0; k < k_sort_depth; k++) {
            const bool a_end = a + k >= n, b_end = b + k >= n;
            if (a_end || b_end) return a_end && !b_end;
            if (t[a + k] != t[b + k]) return t[a + k] < t[b + k];
        }
        return false;
    });

    std::string data(k_magic, sizeof(k_magic));
    auto put = [&data](const void * p, size_t bytes) { data.append(static_cast<const char *>(p), bytes); };
    const uint64_t vh = sd_vocab_hash(model);
    put(&k_version, 4);
    put(&k_byte_order, 4);
    put(&vh, 8);
    put(&n, 8);
    put(tokens.data(), n * 4);
    put(sa.data(), n * 4);
    const uint64_t sum = fnv(k_fnv_start, data.data(), data.size());
    put(&sum, 8);

    // written beside the target and renamed over it: a failed write leaves the old index
    const std::string tmp = std::string(out_path) + ".partial." + std::to_string(getpid());
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("cannot write the corpus index ") + out_path + ": " + errno_text());
    size_t written = 0;
    while (written < data.size()) {
        const ssize_t w = write(fd, data.data() + written, data.size() - written);
        if (w <= 0) {
            const std::string why = errno_text();
            close(fd);
            unlink(tmp.c_str());
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("cannot write the corpus index ") + out_path + ": " + why);
        }
        written += (size_t) w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp.c_str(), out_path) != 0) {
        const std::string why = errno_text();
        unlink(tmp.c_str());
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("cannot write the corpus index ") + out_path + ": " + why);
    }
    if (info != nullptr) {
        info->n_tokens = n;
        info->file_bytes = data.size();
        info->build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return SD_OK;
}

sd_status sd_corpus_load(const char * path, const sd_model * model, sd_corpus ** out, std::string & error) {
    *out = nullptr;
    const std::string what = std::string("the corpus index ") + (path != nullptr ? path : "");
    if (path == nullptr || path[0] == '\0') return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "the corpus index path is empty");
    const int fd = open(path, O_RDONLY);
    if (fd < 0) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "cannot open " + what + ": " + errno_text());
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, what + " is not a file");
    }
    const size_t bytes = (size_t) st.st_size;
    if (bytes < k_header_bytes + 8) {
        close(fd);
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, what + " is not a llamaspec corpus index (" + std::to_string(bytes) + " bytes)");
    }
    void * map = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "cannot map " + what + ": " + errno_text());
    auto fail = [&](const std::string & why) {
        munmap(map, bytes);
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, what + " " + why);
    };
    const char * p = static_cast<const char *>(map);
    if (std::memcmp(p, k_magic, sizeof(k_magic)) != 0) return fail("is not a llamaspec corpus index");
    uint32_t version, order;
    uint64_t vh, n, sum;
    std::memcpy(&version, p + 8, 4);
    std::memcpy(&order, p + 12, 4);
    std::memcpy(&vh, p + 16, 8);
    std::memcpy(&n, p + 24, 8);
    if (order != k_byte_order) return fail("was written on a machine of another byte order, or is damaged");
    if (version != k_version) return fail("has format version " + std::to_string(version) + "; this build reads version 1");
    if (n < 2 || n >= (1ull << 31) || bytes != k_header_bytes + n * 8 + 8) return fail("is truncated or damaged");
    std::memcpy(&sum, p + bytes - 8, 8);
    if (fnv(k_fnv_start, p, bytes - 8) != sum) return fail("is damaged (its checksum does not match)");
    if (vh != sd_vocab_hash(model)) return fail("was built for a model with another vocabulary");
    auto data = std::make_shared<sd_corpus_data>();
    data->map = map;
    data->bytes = bytes;
    data->n = n;
    data->tokens = reinterpret_cast<const int32_t *>(p + k_header_bytes);
    data->sa = reinterpret_cast<const uint32_t *>(p + k_header_bytes + n * 4);
    *out = new sd_corpus{data, g_next_id++};
    return SD_OK;
}

void sd_corpus_free(sd_corpus * corpus) {
    delete corpus; // the mapping goes with the last drafter that holds it
}

std::shared_ptr<const sd_corpus_data> sd_corpus_share(const sd_corpus * corpus) {
    return corpus != nullptr ? corpus->data : nullptr;
}

uint64_t sd_corpus_id(const sd_corpus * corpus) {
    return corpus != nullptr ? corpus->id : 0;
}

sd_corpus_info sd_corpus_get_info(const sd_corpus * corpus) {
    sd_corpus_info info;
    info.n_tokens = corpus->data->n;
    info.file_bytes = corpus->data->bytes;
    return info;
}

// The suffix array's range of positions whose first n tokens are `pattern` (n <= k_sort_depth).
static void find_range(const sd_corpus_data * c, const llama_token * pattern, int32_t n, uint64_t & lo, uint64_t & hi) {
    // compares the suffix at pos with the pattern over n tokens: <0, 0, >0
    auto cmp = [c, pattern, n](uint32_t pos) {
        for (int32_t k = 0; k < n; k++) {
            if (pos + (uint64_t) k >= c->n) return -1; // a suffix that ends first sorts first
            if (c->tokens[pos + k] != pattern[k]) return c->tokens[pos + k] < pattern[k] ? -1 : 1;
        }
        return 0;
    };
    uint64_t a = 0, b = c->n;
    while (a < b) { // first suffix not below the pattern
        const uint64_t m = (a + b) / 2;
        if (cmp(c->sa[m]) < 0) a = m + 1; else b = m;
    }
    lo = a;
    b = c->n;
    while (a < b) { // first suffix above it
        const uint64_t m = (a + b) / 2;
        if (cmp(c->sa[m]) <= 0) a = m + 1; else b = m;
    }
    hi = a;
}

int32_t sd_corpus_continuations(const sd_corpus_data * c, const llama_token * context, int32_t n_context, int32_t min_ngram,
                                int32_t max_ngram, int32_t max_len, int32_t max_matches,
                                std::vector<sd_corpus_match> & out) {
    out.clear();
    max_ngram = std::min({max_ngram, n_context, k_sort_depth});
    for (int32_t ngram = max_ngram; ngram >= min_ngram; ngram--) {
        uint64_t lo = 0, hi = 0;
        find_range(c, context + n_context - ngram, ngram, lo, hi);
        if (hi <= lo) continue;
        // up to max_matches matches spread over the range (the suffix array keeps equal patterns in
        // text order), each with what followed it
        const uint64_t count = hi - lo;
        const uint64_t take = std::min<uint64_t>(count, (uint64_t) max_matches);
        for (uint64_t i = 0; i < take; i++) {
            const uint64_t pos = c->sa[lo + i * count / take] + (uint64_t) ngram;
            if (pos >= c->n) continue;
            sd_corpus_match m;
            m.tokens = c->tokens + pos;
            m.len = (int32_t) std::min<uint64_t>((uint64_t) max_len, c->n - pos);
            out.push_back(m);
        }
        if (!out.empty()) return ngram;
    }
    return 0;
}
