// The drafters of a session. They are kept across generations with what they learnt (Token
// Recycling's matrix, lookahead's pool, a draft model's context), each made for the settings of the
// generation that uses it and made again when a generation asks for other settings.
#pragma once

#include "draft/sd-drafter.h"

#include <memory>

struct sd_drafters {
    std::unique_ptr<sd_drafter> lookup;
    std::unique_ptr<sd_drafter> recycling;
    std::unique_ptr<sd_drafter> lookahead;
    std::unique_ptr<sd_drafter> automatic; // over the three above
    std::unique_ptr<sd_drafter> medusa;
    std::unique_ptr<sd_drafter> draft;     // the draft model's drafter and its context

    // the settings each was made with
    sd_lookup_params               lookup_made    = {};
    uint64_t                       lookup_corpus  = 0; // sd_corpus_id of the lookup drafter's index
    sd_recycling_params            recycling_made = {};
    sd_lookahead_params            lookahead_made = {};
    sd_medusa_params               medusa_made    = {};
    std::shared_ptr<sd_heads_data> medusa_heads;          // what `medusa` evaluates
    const sd_model *               draft_made     = nullptr;

    sd_drafters() = default;
    sd_drafters(const sd_drafters &) = delete;
    sd_drafters & operator=(const sd_drafters &) = delete;
    ~sd_drafters();
};

// The drafter for these settings, NULL for plain decoding. `target` is the session's context (the
// vocabulary, the threads, what a draft model's context is made like). The heads must have been
// loaded for the target's model.
sd_status sd_drafters_get(sd_drafters & drafters, sd_context * target, const sd_speculation_params & params,
                          sd_drafter ** out, std::string & error);

// Frees the draft model's drafter (and its context) if it drafts with `model` (with any when NULL);
// returns the drafter freed, or NULL (the pointer only tells which one it was: do not use it).
const sd_drafter * sd_drafters_drop_draft_model(sd_drafters & drafters, const sd_model * model);
