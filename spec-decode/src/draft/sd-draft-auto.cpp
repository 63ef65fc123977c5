// The automatic strategy: prompt lookup, Token Recycling and lookahead proposed together. Which of
// their nodes are worth evaluating, and whether lookahead's window is, is left to the budget, which
// knows each bucket's observed acceptance, the window's learnt value and the device's cost per batch size.
#include "draft/sd-drafter.h"

#include <algorithm>

struct sd_drafter_auto : sd_drafter {
    sd_drafter * lookup;
    sd_drafter * recycling;
    sd_drafter * lookahead;
    sd_draft_tree part;

    sd_drafter_auto(sd_drafter * l, sd_drafter * r, sd_drafter * a) : lookup(l), recycling(r), lookahead(a) {}

    const char * name() const override { return "auto"; }

    bool wants_logits() const override { return true; }

    void draft(const sd_draft_request & request, sd_draft_tree & out) override {
        sd_tree_clear(out);
        for (sd_drafter * d : {lookup, recycling, lookahead}) {
            d->draft(request, part);
            merge(out, part, request.max_nodes);
        }
    }

    void observe(const sd_step_view & step) override {
        recycling->observe(step);
        lookahead->observe(step);
    }

    int32_t aux_columns() const override { return lookahead->aux_columns(); }
    int32_t aux_column_tokens() const override { return lookahead->aux_column_tokens(); }
    double  aux_value() const override { return lookahead->aux_value(); }
    void    aux(int32_t n_columns, sd_aux_batch & out) override { lookahead->aux(n_columns, out); }

    // Adds the nodes of `from` to `into`, sharing common prefixes; a shared node keeps the higher confidence.
    static void merge(sd_draft_tree & into, const sd_draft_tree & from, int32_t max_nodes) {
        std::vector<int32_t> mapped((size_t) sd_tree_size(from), -1);
        for (int32_t i = 0; i < sd_tree_size(from); i++) {
            const int32_t p = from.parent[(size_t) i];
            const int32_t parent = p < 0 ? -1 : mapped[(size_t) p];
            if (p >= 0 && parent < 0) continue;
            int32_t node = sd_tree_find_child(into, parent, from.token[(size_t) i]);
            if (node >= 0) {
                into.conf[(size_t) node] = std::max(into.conf[(size_t) node], from.conf[(size_t) i]);
            } else if (sd_tree_size(into) < max_nodes) {
                node = sd_tree_add(into, from.token[(size_t) i], parent, from.conf[(size_t) i], from.bucket[(size_t) i]);
            }
            mapped[(size_t) i] = node;
        }
    }
};

sd_drafter * sd_drafter_auto_init(sd_drafter * lookup, sd_drafter * recycling, sd_drafter * lookahead) {
    return new sd_drafter_auto(lookup, recycling, lookahead);
}
