#include "draft/sd-drafters.h"
#include "draft/sd-corpus.h"
#include "engine/sd-context.h"
#include "heads/sd-heads.h"
#include "model/sd-log.h"

#include <algorithm>

static const sd_bucket k_bucket_bases[] = {SD_BUCKET_LOOKUP, SD_BUCKET_CORPUS, SD_BUCKET_RECYCLING,
                                           SD_BUCKET_LOOKAHEAD, SD_BUCKET_DRAFT_MODEL, SD_BUCKET_MEDUSA,
                                           SD_BUCKET_END};

bool sd_bucket_in(int32_t bucket, sd_bucket base) {
    return sd_bucket_base(bucket) == base && base != SD_BUCKET_END;
}

sd_bucket sd_bucket_base(int32_t bucket) {
    if (bucket < SD_BUCKET_LOOKUP || bucket >= SD_BUCKET_END) return SD_BUCKET_END;
    const sd_bucket * next = std::upper_bound(std::begin(k_bucket_bases), std::end(k_bucket_bases), bucket,
                                              [](int32_t b, sd_bucket base) { return b < (int32_t) base; });
    return *(next - 1);
}

int32_t sd_bucket_kind(int32_t bucket) {
    const sd_bucket base = sd_bucket_base(bucket);
    if (base == SD_BUCKET_DRAFT_MODEL || base == SD_BUCKET_MEDUSA) return bucket - (bucket - base) % 10;
    return base;
}

int32_t sd_decile(float p) {
    return std::min(9, std::max(0, (int32_t) (p * 10.0f)));
}

int32_t sd_corpus_bucket(int32_t depth, float share) {
    const int32_t quarter = std::min(3, std::max(0, (int32_t) (share * 4.0f)));
    return SD_BUCKET_CORPUS + quarter * 5 + std::min(std::max(depth, 1), 5) - 1;
}

static bool same(const sd_lookup_params & a, const sd_lookup_params & b) {
    return a.min_ngram == b.min_ngram && a.max_ngram == b.max_ngram && a.max_branches == b.max_branches;
}

static bool same(const sd_lookahead_params & a, const sd_lookahead_params & b) {
    return a.w == b.w && a.n == b.n && a.g == b.g;
}

sd_drafters::~sd_drafters() {
    draft.reset(); // first: its context runs on the threads of the session that owns these drafters
}

sd_status sd_drafters_get(sd_drafters & d, sd_context * target, const sd_speculation_params & p, sd_drafter ** out,
                          std::string & error) {
    *out = nullptr;
    switch (p.type) {
        case SD_SPEC_NONE:
            return SD_OK;
        case SD_SPEC_MEDUSA: {
            const std::shared_ptr<sd_heads_data> & heads = p.medusa.heads->data;
            if (!d.medusa || d.medusa_heads != heads || d.medusa_made.static_tree != p.medusa.static_tree ||
                d.medusa_made.top_k != p.medusa.top_k) {
                d.medusa.reset();
                d.medusa_heads.reset();
                sd_drafter * m = sd_drafter_medusa_init(heads, p.medusa, llama_n_threads(target->ctx),
                                                        target->threadpool, &target->n_threads_set, error);
                if (m == nullptr) return SD_ERR_CONTEXT_INIT;
                d.medusa.reset(m);
                d.medusa_heads = heads;
                d.medusa_made = p.medusa;
            }
            *out = d.medusa.get();
            return SD_OK;
        }
        case SD_SPEC_DRAFT_MODEL:
            if (!d.draft || d.draft_made != p.draft.model) {
                d.draft.reset(); // its context first: it may share the session's threads
                d.draft.reset(sd_drafter_draft_model_init(target, p.draft.model));
                d.draft_made = p.draft.model;
            }
            *out = d.draft.get();
            return SD_OK;
        default:
            break;
    }
    if (!d.lookup || !same(d.lookup_made, p.lookup) || d.lookup_corpus != sd_corpus_id(p.lookup.corpus)) {
        d.lookup.reset(sd_drafter_lookup_init(p.lookup));
        d.lookup_made = p.lookup;
        d.lookup_made.corpus = nullptr; // the drafter keeps the index's mapping; the handle may go
        d.lookup_corpus = sd_corpus_id(p.lookup.corpus);
    }
    if (!d.recycling || d.recycling_made.k != p.recycling.k) {
        d.recycling.reset(sd_drafter_recycling_init(p.recycling, target->n_vocab));
        d.recycling_made = p.recycling;
    }
    if (!d.lookahead || !same(d.lookahead_made, p.lookahead)) {
        d.lookahead.reset(sd_drafter_lookahead_init(p.lookahead));
        d.lookahead_made = p.lookahead;
    }
    d.automatic.reset(sd_drafter_auto_init(d.lookup.get(), d.recycling.get(), d.lookahead.get()));
    switch (p.type) {
        case SD_SPEC_LOOKUP:    *out = d.lookup.get(); break;
        case SD_SPEC_RECYCLING: *out = d.recycling.get(); break;
        case SD_SPEC_LOOKAHEAD: *out = d.lookahead.get(); break;
        default:                *out = d.automatic.get(); break;
    }
    return SD_OK;
}

const sd_drafter * sd_drafters_drop_draft_model(sd_drafters & d, const sd_model * model) {
    if (!d.draft || (model != nullptr && model != d.draft_made)) return nullptr;
    const sd_drafter * dropped = d.draft.get();
    d.draft.reset();
    d.draft_made = nullptr;
    return dropped;
}
