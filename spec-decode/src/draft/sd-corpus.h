// Corpus index for prompt lookup (REST / Infini-gram style); the public half is in spec-decode.h.
#pragma once

#include "spec-decode.h"

#include <memory>
#include <vector>

// A mapped index: the tokens and the suffix array over them.
struct sd_corpus_data {
    void *           map = nullptr;
    size_t           bytes = 0;
    const int32_t *  tokens = nullptr;
    const uint32_t * sa = nullptr;
    uint64_t         n = 0;
    ~sd_corpus_data();
};

// The mapping behind a handle, shared: a drafter keeps it while it may draft from it.
std::shared_ptr<const sd_corpus_data> sd_corpus_share(const sd_corpus * corpus);

// A number unique to each loaded index in the process (0 for NULL).
uint64_t sd_corpus_id(const sd_corpus * corpus);

// A continuation in the corpus: the tokens that followed a match (pointing into the mapped index).
struct sd_corpus_match {
    const llama_token * tokens;
    int32_t             len;
};

// Finds the longest suffix of context (from max_ngram tokens down to min_ngram) that occurs in the
// corpus and returns its length (0 when none does); out gets up to max_matches of its occurrences, spread
// over them, each with up to max_len tokens of what followed.
int32_t sd_corpus_continuations(const sd_corpus_data * corpus, const llama_token * context, int32_t n_context,
                                int32_t min_ngram, int32_t max_ngram, int32_t max_len, int32_t max_matches,
                                std::vector<sd_corpus_match> & out);

// The hash of what tokenization depends on (the tokens' texts and kinds, the vocabulary type).
uint64_t sd_vocab_hash(const sd_model * model);
