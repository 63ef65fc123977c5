// Pure logic of speculative drafting, without a model: draft trees (sd-tree.cpp), the hardware-aware
// budget (sd-budget.cpp: cost model, acceptance model, node selection) and the training-free drafters
// (prompt lookup, Token Recycling, and the automatic strategy that merges both).
//
// Every expected value below is worked out by hand from the rules documented in sd-draft.h and
// sd-budget.h; the comments next to each check show the arithmetic.
#ifndef LLAMASPEC_DEFAULT_TEST_MODEL
#define LLAMASPEC_DEFAULT_TEST_MODEL ""
#endif

#include "sd-test.h"

#include "engine/sd-budget.h"
#include "draft/sd-drafter.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

// ----------------------------------------------------------------------------------------------
// helpers

static bool near(double a, double b, double eps = 1e-6) {
    return std::fabs(a - b) <= eps;
}

static bool near_all(const std::vector<float> & a, const std::vector<float> & b, double eps = 1e-6) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++) {
        if (!near(a[i], b[i], eps)) return false;
    }
    return true;
}

// Every node's parent precedes it (parent[i] < i), and all four arrays have the same length.
static bool well_formed(const sd_draft_tree & t) {
    const size_t n = t.token.size();
    if (t.parent.size() != n || t.conf.size() != n || t.bucket.size() != n) return false;
    for (size_t i = 0; i < n; i++) {
        if (t.parent[i] < -1 || t.parent[i] >= (int32_t) i) return false;
    }
    return true;
}

// No parent (root included) has two children with the same token.
static bool no_duplicate_children(const sd_draft_tree & t) {
    for (size_t i = 0; i < t.token.size(); i++) {
        for (size_t j = i + 1; j < t.token.size(); j++) {
            if (t.parent[i] == t.parent[j] && t.token[i] == t.token[j]) return false;
        }
    }
    return true;
}

// A kept node always has its parent kept.
static bool mask_is_tree(const sd_draft_tree & t, const std::vector<bool> & keep) {
    if (keep.size() != t.token.size()) return false;
    for (size_t i = 0; i < keep.size(); i++) {
        if (keep[i] && t.parent[i] >= 0 && !keep[(size_t) t.parent[i]]) return false;
    }
    return true;
}

// The nodes' plain estimates, as sd_budget_select hands them to sd_sibling_room.
static std::vector<double> plain_estimates(const sd_draft_tree & tree, const sd_bucket_stats & rates) {
    std::vector<double> e;
    for (int32_t i = 0; i < sd_tree_size(tree); i++) e.push_back(rates.estimate(tree.bucket[(size_t) i], tree.conf[(size_t) i]));
    return e;
}

static int32_t count_kept(const std::vector<bool> & keep) {
    int32_t n = 0;
    for (bool k : keep) n += k ? 1 : 0;
    return n;
}

// Leaves of the sub-tree made of the kept nodes.
static int32_t count_leaves(const sd_draft_tree & t, const std::vector<bool> & keep) {
    int32_t leaves = 0;
    for (size_t i = 0; i < keep.size(); i++) {
        if (!keep[i]) continue;
        bool has_kept_child = false;
        for (size_t j = 0; j < keep.size(); j++) {
            if (keep[j] && t.parent[j] == (int32_t) i) has_kept_child = true;
        }
        leaves += has_kept_child ? 0 : 1;
    }
    return leaves;
}

static void print_tree(const char * what, const sd_draft_tree & t) {
    std::fprintf(stderr, "  %s (%zu nodes):", what, t.token.size());
    for (size_t i = 0; i < t.token.size(); i++) {
        std::fprintf(stderr, " [%zu] tok=%d par=%d conf=%.4f bkt=%d;", i, t.token[i], t.parent[i], t.conf[i], t.bucket[i]);
    }
    std::fprintf(stderr, "\n");
}

// Checks a tree against exact token/parent/bucket arrays and conf values (to 1e-6); prints it on a mismatch.
#define CHECK_TREE(tree, tokens_, parents_, confs_, buckets_) do {                                 \
        const std::vector<llama_token> _tk = tokens_;                                              \
        const std::vector<int32_t>     _pa = parents_;                                             \
        const std::vector<float>       _cf = confs_;                                               \
        const std::vector<int32_t>     _bk = buckets_;                                             \
        const int _before = g_sd_test_failures;                                                    \
        CHECK(well_formed(tree));                                                                  \
        CHECK((tree).token == _tk);                                                                \
        CHECK((tree).parent == _pa);                                                               \
        CHECK(near_all((tree).conf, _cf));                                                         \
        CHECK((tree).bucket == _bk);                                                               \
        if (g_sd_test_failures != _before) print_tree(#tree, tree);                                \
    } while (0)

#define V(...) {__VA_ARGS__}

// A flat cost: a batch of 1..65 tokens costs the same (a GPU far from saturation).
static sd_cost_model flat_cost() {
    sd_cost_model c;
    for (int32_t n = 1; n <= 65; n++) c.us[n] = 1.0;
    return c;
}

// ----------------------------------------------------------------------------------------------
// 1. tree basics

static void test_tree_basics() {
    sd_draft_tree t;
    CHECK(sd_tree_size(t) == 0);
    CHECK(sd_tree_find_child(t, -1, 10) == -1);
    CHECK(sd_tree_depths(t).empty());

    // root -> 0:10 -> 2:30 -> 3:40
    // root -> 1:20 -> 4:50
    CHECK(sd_tree_add(t, 10, -1, 0.5f, 1) == 0);
    CHECK(sd_tree_add(t, 20, -1, 0.4f, 2) == 1);
    CHECK(sd_tree_add(t, 30,  0, 0.3f, 3) == 2);
    CHECK(sd_tree_add(t, 40,  2, 0.2f, 4) == 3);
    CHECK(sd_tree_add(t, 50,  1, 0.1f, 5) == 4);
    CHECK(sd_tree_size(t) == 5);
    CHECK_TREE(t, V(10, 20, 30, 40, 50), V(-1, -1, 0, 2, 1), V(0.5f, 0.4f, 0.3f, 0.2f, 0.1f), V(1, 2, 3, 4, 5));

    CHECK(sd_tree_find_child(t, -1, 10) == 0);
    CHECK(sd_tree_find_child(t, -1, 20) == 1);
    CHECK(sd_tree_find_child(t, -1, 30) == -1); // 30 exists, but under node 0, not under the root
    CHECK(sd_tree_find_child(t, 0, 30) == 2);
    CHECK(sd_tree_find_child(t, 2, 40) == 3);
    CHECK(sd_tree_find_child(t, 1, 50) == 4);
    CHECK(sd_tree_find_child(t, 1, 30) == -1);
    CHECK(sd_tree_find_child(t, 3, 40) == -1); // a leaf has no children

    // children of the root have depth 1
    CHECK(sd_tree_depths(t) == std::vector<int32_t>({1, 1, 2, 3, 2}));

    // Subset: drop node 1 (20) -> its child 4 (50) must go although keep[4] is true; the others keep
    // their order and are renumbered: 10 -> 0, 30 -> 1 (parent 0), 40 -> 2 (parent 1).
    {
        const sd_draft_tree s = sd_tree_subset(t, {true, false, true, true, true});
        CHECK_TREE(s, V(10, 30, 40), V(-1, 0, 1), V(0.5f, 0.3f, 0.2f), V(1, 3, 4));
    }
    // Drop node 2 (30): its child 3 (40) goes too; 10 -> 0, 20 -> 1, 50 -> 2 (parent 1).
    {
        const sd_draft_tree s = sd_tree_subset(t, {true, true, false, true, true});
        CHECK_TREE(s, V(10, 20, 50), V(-1, -1, 1), V(0.5f, 0.4f, 0.1f), V(1, 2, 5));
        CHECK(sd_tree_depths(s) == std::vector<int32_t>({1, 1, 2}));
    }
    // Drop only the first root child: everything below it goes; 20 -> 0, 50 -> 1 (parent 0).
    {
        const sd_draft_tree s = sd_tree_subset(t, {false, true, true, true, true});
        CHECK_TREE(s, V(20, 50), V(-1, 0), V(0.4f, 0.1f), V(2, 5));
    }
    // Keep all: identical; keep none: empty.
    {
        const sd_draft_tree s = sd_tree_subset(t, std::vector<bool>(5, true));
        CHECK_TREE(s, V(10, 20, 30, 40, 50), V(-1, -1, 0, 2, 1), V(0.5f, 0.4f, 0.3f, 0.2f, 0.1f), V(1, 2, 3, 4, 5));
        CHECK(sd_tree_size(sd_tree_subset(t, std::vector<bool>(5, false))) == 0);
    }

    sd_tree_clear(t);
    CHECK(sd_tree_size(t) == 0);
    CHECK(t.token.empty() && t.parent.empty() && t.conf.empty() && t.bucket.empty());
}

// ----------------------------------------------------------------------------------------------
// 2. cost model

static void test_cost_model() {
    // No points: the cost is the batch size.
    {
        sd_cost_model c;
        CHECK(c.empty());
        CHECK(near(c.cost(1), 1.0));
        CHECK(near(c.cost(7), 7.0));
    }
    // Points {2: 10, 4: 14, 8: 30}.
    {
        sd_cost_model c;
        c.us = {{2, 10.0}, {4, 14.0}, {8, 30.0}};
        CHECK(!c.empty());
        // exact points
        CHECK(near(c.cost(2), 10.0));
        CHECK(near(c.cost(4), 14.0));
        CHECK(near(c.cost(8), 30.0));
        // linear interpolation: cost(3) = 10 + (1/2)(14 - 10) = 12; cost(6) = 14 + (2/4)(30 - 14) = 22;
        // cost(5) = 14 + (1/4)(16) = 18; cost(7) = 14 + (3/4)(16) = 26
        CHECK(near(c.cost(3), 12.0));
        CHECK(near(c.cost(5), 18.0));
        CHECK(near(c.cost(6), 22.0));
        CHECK(near(c.cost(7), 26.0));
        // below the smallest point: proportional to it, cost(1) = 10 * 1/2 = 5
        CHECK(near(c.cost(1), 5.0));
        // beyond the last point: slope of the last two = (30 - 14) / (8 - 4) = 4;
        // cost(9) = 30 + 4 = 34, cost(10) = 30 + 4*2 = 38, cost(16) = 30 + 4*8 = 62
        CHECK(near(c.cost(9), 34.0));
        CHECK(near(c.cost(10), 38.0));
        CHECK(near(c.cost(16), 62.0));
    }
    // Not monotone: CPU kernels work in blocks of rows (on the build machine's Q4_0 model 8 tokens cost
    // 3.1 single tokens, 7 cost 4.2), so each size keeps its own point and sizes between points are
    // linear: {1: 10, 4: 18, 7: 42, 8: 31}: cost(8) = 31 below cost(7) = 42, cost(5) = 18 + 24/3 = 26.
    // Beyond the points the slope never goes down: {2: 10, 4: 8} gives cost(3) = 9 and cost(100) = 8.
    {
        sd_cost_model c;
        c.us = {{1, 10.0}, {4, 18.0}, {7, 42.0}, {8, 31.0}};
        CHECK(near(c.cost(8), 31.0));
        CHECK(near(c.cost(7), 42.0));
        CHECK(near(c.cost(5), 26.0));
        CHECK(c.cost(8) < c.cost(7));
        sd_cost_model d;
        d.us = {{2, 10.0}, {4, 8.0}};
        CHECK(near(d.cost(3), 9.0));
        CHECK(near(d.cost(4), 8.0));
        CHECK(near(d.cost(6), 8.0));
        CHECK(near(d.cost(100), 8.0));
    }
    // Beyond the points the slope is the steeper of the last segment's and the whole curve's:
    // {1: 1, 8: 15, 16: 16} has a last slope of 1/8 but a mean slope of 1, so cost(24) = 16 + 8 = 24.
    {
        sd_cost_model c;
        c.us = {{1, 1.0}, {8, 15.0}, {16, 16.0}};
        CHECK(near(c.cost(24), 24.0));
    }
    // A single point {4: 8}: proportional on both sides: cost(2) = 8 * 2/4 = 4, cost(8) = 8 * 8/4 = 16.
    {
        sd_cost_model c;
        c.us = {{4, 8.0}};
        CHECK(near(c.cost(2), 4.0));
        CHECK(near(c.cost(4), 8.0));
        CHECK(near(c.cost(8), 16.0));
    }
    // observe: a known point moves by an EMA (0.8 old + 0.2 new), a new one is inserted as is; a step
    // counts at most SD_COST_RISE (1.5) times its price.
    {
        sd_cost_model c;
        c.observe(4, 10.0); // new point: 10
        CHECK(c.us.size() == 1);
        CHECK(near(c.cost(4), 10.0));
        c.observe(4, 15.0); // 0.8*10 + 0.2*15 = 11
        CHECK(c.us.size() == 1);
        CHECK(near(c.cost(4), 11.0));
        c.observe(4, 1.0);  // 0.8*11 + 0.2*1 = 9
        CHECK(near(c.cost(4), 9.0));
        c.observe(6, 18.0); // inserted (at most 1.5 x 13.5, its proportional price): {4: 9, 6: 18}
        CHECK(c.us.size() == 2);
        CHECK(near(c.cost(6), 18.0));
        CHECK(near(c.cost(5), 13.5)); // (9 + 18) / 2
        CHECK(near(c.cost(8), 27.0)); // slope (18 - 9) / 2 = 4.5 -> 18 + 2*4.5
        CHECK(near(c.cost(2), 4.5));  // 9 * 2/4
        c.observe(6, 24.0); // 0.8*18 + 0.2*24 = 19.2
        CHECK(near(c.cost(6), 19.2));
        CHECK(near(c.cost(4), 9.0)); // untouched
        // A single-token step moves the other sizes down with it, never up past what they took when
        // last seen: {1: 5} joins (below every point: as it came), then single tokens that take 10 (a
        // deeper KV cache, which on a CPU can slow one token by half and two tokens hardly at all) leave
        // 4 and 6 at their times. The scale is the lower median of the last single tokens' times over
        // the point (8 counts as 1.5 x 5), the scale before them counting as one: one alone moves nothing.
        c.observe(1, 5.0);
        CHECK(near(c.cost(1), 5.0));
        c.observe(1, 8.0); // {1, 1.5}: 1
        CHECK(near(c.scale, 1.0));
        CHECK(near(c.cost(1), 5.0));
        c.observe(1, 8.0); // {1, 1.5, 1.5}: 1.5
        CHECK(near(c.scale, 1.5));
        CHECK(near(c.cost(1), 7.5));
        CHECK(near(c.cost(6), 19.2)); // capped by its stamp
        for (int32_t i = 0; i < 60; i++) c.observe(1, 8.0);
        CHECK(near(c.cost(1), 8.0, 1e-3));
        CHECK(near(c.cost(4), 9.0, 1e-2));
        CHECK(near(c.cost(6), 19.2, 1e-2));
        // A step of a size held down by the cap replaces its point (the cap was a guess), set at scale
        // 1.6; then the EMA again. The others stay.
        c.observe(4, 12.0);
        CHECK(near(c.cost(4), 12.0, 1e-2));
        c.observe(4, 17.0); // 0.8*12 + 0.2*17 = 13
        CHECK(near(c.cost(4), 13.0, 1e-2));
        CHECK(near(c.cost(6), 19.2, 1e-2));
        // Single tokens as fast as before bring the sizes set at scale 1.6 down with them (4: 13 ->
        // 8.125), and not the one set at scale 1 (6: 19.2); a step faster than its price counts in full.
        for (int32_t i = 0; i < 60; i++) c.observe(1, 5.0);
        CHECK(near(c.cost(1), 5.0, 1e-3));
        CHECK(near(c.cost(4), 8.125, 1e-2));
        CHECK(near(c.cost(6), 19.2, 1e-2));
    }
    // A stall (the machine gave the decode to something else for a while) counts as SD_COST_RISE times
    // the step's price: one single token of 6x does not move the scale (the lower median of {1, 1.5}),
    // where counted in full in a running average it moved it to 2.0, which priced the single token at
    // twice the others and made drafting look twice as cheap as it was; a size's
    // point by a tenth of the way; a new size between points at most 1.5x its interpolated price. A
    // real slowdown is followed within a few steps.
    {
        sd_cost_model c;
        c.us = {{1, 10.0}, {2, 16.0}, {4, 25.0}};
        c.observe(2, 100.0); // counts as 24: 0.8*16 + 0.2*24
        CHECK(near(c.cost(2), 17.6));
        c.observe(3, 200.0); // new, priced at (17.6 + 25) / 2 = 21.3: counts as 31.95
        CHECK(near(c.cost(3), 31.95));
        c.observe(1, 60.0);
        CHECK(near(c.scale, 1.0));
        CHECK(near(c.cost(1), 10.0));
        CHECK(near(c.cost(2), 17.6));
        sd_cost_model slow;
        slow.us = {{1, 10.0}, {2, 16.0}};
        for (int32_t i = 0; i < 20; i++) slow.observe(1, 30.0); // the machine now runs at a third of its speed
        CHECK(slow.cost(1) > 27.0);
        // a skewed time, one step in four 40 % slower: the typical step, where the mean is 11
        sd_cost_model skew;
        skew.us = {{1, 10.0}};
        for (int32_t i = 0; i < 30; i++) skew.observe(1, i % 4 == 0 ? 14.0 : 10.0);
        CHECK(near(skew.cost(1), 10.0));
        CHECK(skew.recent.size() == (size_t) SD_COST_WINDOW);
    }
    // A point set too high (a slow moment when it was measured) prices its size out; not run for SD_COST_FORGET steps, it is forgotten where the curve without it
    // is a twentieth or more cheaper, and the next step of its size sets it again. A point that the
    // curve without it would price higher stays.
    {
        sd_cost_model c;
        c.us = {{1, 10.0}, {2, 17.0}, {3, 60.0}, {4, 23.0}, {8, 46.0}};
        CHECK(near(c.cost(3), 60.0));
        CHECK(near(c.cost(4), 23.0)); // its own point: a smaller size's does not hold it up
        for (int64_t i = 1; i < SD_COST_FORGET; i++) c.observe(2, 17.0);
        CHECK(c.us.size() == 5); // not stale yet
        CHECK(near(c.cost(3), 60.0));
        c.observe(2, 17.0);
        // 3: 20 without it (between 17 and 23), forgotten; 4: 26.7 without it (between 17 and 46), kept;
        // 8: 40.3 without it (4's 23 plus the mean slope 13/3 for 4 more), forgotten
        CHECK(c.us.count(3) == 0);
        CHECK(c.us.count(4) == 1);
        CHECK(c.us.count(8) == 0);
        CHECK(near(c.cost(3), 20.0));
        CHECK(near(c.cost(4), 23.0));
        CHECK(near(c.cost(8), 23.0 + 4.0 * 13.0 / 3.0));
        c.observe(8, 46.0); // the next step of that size sets its point again
        CHECK(near(c.cost(8), 46.0));
        c.observe(3, 19.0);
        CHECK(near(c.cost(3), 19.0));
        // 4 stays as long as the curve without it is dearer, checked every SD_COST_FORGET steps
        for (int64_t i = 0; i < 3 * SD_COST_FORGET; i++) c.observe(2, 17.0);
        CHECK(near(c.cost(4), 23.0));
        CHECK(c.us.count(3) == 1); // without 3, 20: not a twentieth below 19
        CHECK(c.us.count(8) == 0); // without 8, 40.3 again: forgotten until a step of 8 sets it again
        // a size run every step is never stale
        sd_cost_model run;
        run.us = {{1, 10.0}, {2, 30.0}, {4, 23.0}};
        for (int64_t i = 0; i < 2 * SD_COST_FORGET; i++) run.observe(2, 30.0);
        CHECK(near(run.cost(2), 30.0));
        CHECK(near(run.cost(4), 23.0)); // cheaper than 2: its own point
        CHECK(run.us.count(4) == 1);    // not run for 256 steps, but without it 4 would cost 70
    }
    // The single-token point is never forgotten; not run for SD_COST_SINGLE steps it is stale (the
    // engine's next step drafts nothing), and that step's time replaces it. Cheaper than the point
    // said, it brings the points set no later than it down by the same factor (measured in the same
    // slow moment); the points set since and the scale stay. A single token run before it goes stale
    // joins the scale's window as before; a stale one that came in dearer moves nothing else.
    {
        sd_cost_model c;
        c.us = {{1, 20.0}, {2, 25.0}, {4, 40.0}}; // measured in a slow moment
        CHECK(!c.single_stale());
        for (int64_t i = 1; i < SD_COST_SINGLE; i++) c.observe(4, 40.0); // 4 really takes 40
        CHECK(!c.single_stale());
        c.observe(4, 40.0);
        CHECK(c.single_stale());
        c.observe(1, 10.0);        // the single token takes 10: half what its point said
        CHECK(!c.single_stale());
        CHECK(near(c.scale, 1.0));
        CHECK(near(c.cost(1), 10.0));
        CHECK(near(c.cost(2), 12.5)); // measured with it, never run since: halved too
        CHECK(near(c.cost(4), 40.0)); // set by the steps since
        c.observe(1, 20.0);           // run again soon after: the window {1, 1.5} (20 counts as 1.5 x 10)
        CHECK(near(c.scale, 1.0));    // keeps its lower median
        CHECK(near(c.cost(1), 10.0));
        for (int64_t i = 1; i < SD_COST_SINGLE; i++) c.observe(4, 48.0);
        CHECK(!c.single_stale());
        c.observe(4, 48.0);
        CHECK(c.single_stale());
        const double four = c.cost(4);
        c.observe(1, 24.0); // dearer than the 10 it said: the point alone, by at most half (15)
        CHECK(near(c.cost(1), 15.0));
        CHECK(near(c.scale, 1.0));
        CHECK(near(c.cost(4), four));
        c.observe(1, 15.0); // the window's times follow the new point: {2/3, 1, 1}, so 15 it stays
        CHECK(near(c.cost(1), 15.0));
        // a model without a single-token point (never measured) has nothing to go stale
        sd_cost_model none;
        none.us = {{2, 30.0}};
        for (int64_t i = 0; i < 2 * SD_COST_FORGET; i++) none.observe(2, 30.0);
        CHECK(!none.single_stale());
    }
    // The budget's step: a stale single-token cost makes the step plain without counting it against
    // the back-off (nor being one: paused() stays as the back-off says); the back-off then runs its
    // length.
    {
        sd_budget b;
        b.cost.us = {{1, 20.0}, {4, 40.0}};
        CHECK(b.drafts());
        for (int64_t i = 0; i < SD_COST_SINGLE; i++) b.cost.observe(4, 40.0);
        b.skip = 2;
        CHECK(b.cost.single_stale() && b.paused());
        CHECK(!b.drafts());
        CHECK(b.skip == 2); // the stale step was not one of the pause's
        b.cost.observe(1, 20.0);
        CHECK(!b.cost.single_stale());
        CHECK(!b.drafts() && !b.drafts() && b.drafts());
        CHECK(!b.paused());
        for (int64_t i = 0; i < SD_COST_SINGLE; i++) b.cost.observe(4, 40.0);
        CHECK(!b.paused() && !b.drafts()); // stale without a back-off: plain, and not a pause
        b.cost.observe(1, 20.0);
        CHECK(b.drafts());
    }
}

// ----------------------------------------------------------------------------------------------
// 3. acceptance model

static void test_accept_model() {
    sd_bucket_stats a;
    // no data: the prior itself, (0 + 4p) / (0 + 4) = p
    CHECK(near(a.estimate(7, 0.3f), 0.3));
    CHECK(near(a.estimate(7, 0.9f), 0.9));
    CHECK(near(a.estimate(123, 0.0f), 0.0));

    // bucket 7 (prompt lookup's range): 4 tried, 3 accepted
    a.observe(7, true);
    a.observe(7, false);
    a.observe(7, true);
    a.observe(7, true);
    CHECK(a.counts.size() == 1);
    CHECK(near(a.counts[7].first, 4.0) && near(a.counts[7].second, 3.0));
    // the drafter's prior moves towards lookup's record (3 of 4): p = (3 + 4 * 0.5) / (4 + 4) = 0.625,
    // and the bucket's estimate towards its own: (3 + 4 * 0.625) / (4 + 4) = 0.6875
    CHECK(near(a.estimate(7, 0.5f), 0.6875));
    // confidence 0: p = 3/8, (3 + 1.5) / 8 = 0.5625; confidence 1: p = 7/8, (3 + 3.5) / 8 = 0.8125
    CHECK(near(a.estimate(7, 0.0f), 0.5625));
    CHECK(near(a.estimate(7, 1.0f), 0.8125));
    // an untried bucket of the same drafter starts from the drafter's record: (3 + 4 * 0.2) / 8 = 0.475
    CHECK(near(a.estimate(8, 0.2f), 0.475));
    // another drafter's buckets are untouched
    CHECK(near(a.estimate(150, 0.2f), 0.2));

    // bucket 9: 16 tried, none accepted; lookup's record is 3 of 20: p = (3 + 3.2) / 24,
    // (0 + 4p) / (16 + 4) = 0.051667
    for (int i = 0; i < 16; i++) a.observe(9, false);
    CHECK(near(a.estimate(9, 0.8f), 4 * (6.2 / 24) / 20));
    // bucket 7 again: 6 tried, 3 accepted; lookup 3 of 22: p = (3 + 2) / 26, (3 + 4p) / 10 = 0.376923
    a.observe(7, false);
    a.observe(7, false);
    CHECK(near(a.estimate(7, 0.5f), (3 + 4 * (5 / 26.0)) / 10));

    // A drafter right far more often than its probabilities say (a small draft model: 20 nodes, all
    // accepted) gets its untried kinds of node tried: a node of confidence 0.25 starts at
    // (20 + 4 * 0.25) / (20 + 4) = 0.875 instead of 0.25.
    sd_bucket_stats modest;
    for (int i = 0; i < 20; i++) modest.observe(SD_BUCKET_DRAFT_MODEL + 2, true);
    CHECK(near(modest.estimate(SD_BUCKET_DRAFT_MODEL + 3, 0.25f), 0.875));
    // ...but not its runner-ups, a kind of their own (the drafter's top tokens say nothing about how
    // often the second choice is right): an untried runner-up bucket starts from its confidence, and
    // once runner-ups were tried and rejected, from their record: 10 tried, 1 accepted,
    // p = (1 + 4 * 0.3) / 14, estimate of an untried runner-up decile = p
    CHECK(near(modest.estimate(SD_BUCKET_DRAFT_MODEL + 23, 0.3f), 0.3));
    for (int i = 0; i < 10; i++) modest.observe(SD_BUCKET_DRAFT_MODEL + 21, i == 0);
    CHECK(near(modest.estimate(SD_BUCKET_DRAFT_MODEL + 24, 0.3f), 2.2 / 14));
    // and the top tokens' record is still their own: (20 + 4 * 0.25) / 24
    CHECK(near(modest.estimate(SD_BUCKET_DRAFT_MODEL + 5, 0.25f), 0.875));
    // kinds: a draft model's and Medusa's decades (top / drawn / runner-up, one head), other drafters whole
    CHECK(sd_bucket_kind(SD_BUCKET_DRAFT_MODEL + 7) == SD_BUCKET_DRAFT_MODEL);
    CHECK(sd_bucket_kind(SD_BUCKET_DRAFT_MODEL + 27) == SD_BUCKET_DRAFT_MODEL + 20);
    CHECK(sd_bucket_kind(SD_BUCKET_MEDUSA + 39) == SD_BUCKET_MEDUSA + 30);
    CHECK(sd_bucket_kind(SD_BUCKET_RECYCLING + 57) == SD_BUCKET_RECYCLING);
    CHECK(sd_bucket_kind(SD_BUCKET_LOOKUP + 33) == SD_BUCKET_LOOKUP);
    CHECK(sd_bucket_base(SD_BUCKET_DRAFT_MODEL + 23) == SD_BUCKET_DRAFT_MODEL);
    CHECK(sd_bucket_base(SD_BUCKET_MEDUSA + 159) == SD_BUCKET_MEDUSA);
    CHECK(sd_bucket_base(SD_BUCKET_END) == SD_BUCKET_END && sd_bucket_base(-1) == SD_BUCKET_END);
    CHECK(sd_bucket_in(SD_BUCKET_LOOKUP + 4 * 16 + 15, SD_BUCKET_LOOKUP) && !sd_bucket_in(100, SD_BUCKET_LOOKUP));
    // a corpus index's nodes: a range and a kind of their own, apart from the text's lookups, by the
    // quarter of the matches their branch continued and by depth (deeper than 5 shares the 5th's)
    CHECK(sd_bucket_base(sd_corpus_bucket(1, 0.0f)) == SD_BUCKET_CORPUS);
    CHECK(sd_bucket_base(sd_corpus_bucket(40, 1.0f)) == SD_BUCKET_CORPUS && sd_bucket_in(99, SD_BUCKET_CORPUS));
    CHECK(sd_bucket_kind(sd_corpus_bucket(3, 0.6f)) == SD_BUCKET_CORPUS);
    CHECK(sd_bucket_kind(SD_BUCKET_CORPUS) != sd_bucket_kind(SD_BUCKET_LOOKUP + 17));
    CHECK(sd_corpus_bucket(1, 0.1f) == SD_BUCKET_CORPUS && sd_corpus_bucket(1, 0.3f) == SD_BUCKET_CORPUS + 5);
    CHECK(sd_corpus_bucket(2, 0.5f) == SD_BUCKET_CORPUS + 11 && sd_corpus_bucket(5, 0.99f) == SD_BUCKET_CORPUS + 19);
    CHECK(sd_corpus_bucket(9, 0.8f) == sd_corpus_bucket(5, 0.8f) && sd_corpus_bucket(0, 0.0f) == SD_BUCKET_CORPUS);
    CHECK(sd_corpus_bucket(1, -1.0f) == SD_BUCKET_CORPUS && sd_corpus_bucket(1, 2.0f) == SD_BUCKET_CORPUS + 15);
    CHECK(sd_bucket_base(sd_corpus_bucket(5, 1.0f) + 1) == SD_BUCKET_RECYCLING);
}

// ----------------------------------------------------------------------------------------------
// 4. budget

static void test_budget() {
    const sd_bucket_stats none; // no observations: every estimate equals the drafter's confidence

    // A small tree; p = product of conf along the path (estimate = conf with no data), each capped by
    // what its more likely siblings leave (the root's children: 0.9, then 0.5 where 0.1 is left):
    //   0: root child conf 0.9 -> p 0.9
    //   1: root child conf 0.5 -> p min(0.5, 1 - 0.9) = 0.1
    //   2: child of 0, conf 0.8 -> p 0.72
    //   3: child of 1, conf 0.5 -> p 0.05
    //   4: child of 2, conf 0.1 -> p 0.072
    // ranking by p: 0, 2, 1, 4, 3
    sd_draft_tree t;
    sd_tree_add(t, 100, -1, 0.9f, 0);
    sd_tree_add(t, 101, -1, 0.5f, 1);
    sd_tree_add(t, 102,  0, 0.8f, 2);
    sd_tree_add(t, 103,  1, 0.5f, 3);
    sd_tree_add(t, 104,  2, 0.1f, 4);

    // GPU-like flat cost: every node adds tokens for free, so everything allowed is kept.
    {
        const sd_cost_model gpu = flat_cost();
        double expected = 0;
        std::vector<bool> keep = sd_budget_select(t, none, gpu, 64, 64, &expected);
        CHECK(keep == std::vector<bool>(5, true));
        CHECK(near(expected, 1 + 0.9 + 0.1 + 0.72 + 0.05 + 0.072, 1e-5)); // 2.842

        // max_nodes 3: the three most likely, 0, 2, 1 -> 1 + 0.9 + 0.72 + 0.1 = 2.72
        keep = sd_budget_select(t, none, gpu, 3, 64, &expected);
        CHECK(keep == std::vector<bool>({true, true, true, false, false}));
        CHECK(near(expected, 2.72, 1e-5));

        // max_nodes 1: node 0 only -> 1 + 0.9
        keep = sd_budget_select(t, none, gpu, 1, 64, &expected);
        CHECK(keep == std::vector<bool>({true, false, false, false, false}));
        CHECK(near(expected, 1.9, 1e-5));

        // max_nodes 0: nothing, 1 token per step
        keep = sd_budget_select(t, none, gpu, 0, 64, &expected);
        CHECK(count_kept(keep) == 0);
        CHECK(near(expected, 1.0));

        // max_leaves 1: 0 (1 leaf), 2 extends 0 (still 1 leaf), 1 would be a second leaf -> stop.
        // kept {0, 2}: 1 + 0.9 + 0.72 = 2.62
        keep = sd_budget_select(t, none, gpu, 64, 1, &expected);
        CHECK(keep == std::vector<bool>({true, false, true, false, false}));
        CHECK(near(expected, 2.62, 1e-5));
        CHECK(count_leaves(t, keep) == 1);

        // max_leaves 2: 0, 2, 1 (2 leaves), 4 extends 2, 3 extends 1 -> all 5, 2 leaves (3 and 4)
        keep = sd_budget_select(t, none, gpu, 64, 2, &expected);
        CHECK(keep == std::vector<bool>(5, true));
        CHECK(count_leaves(t, keep) == 2);

        // expected may be null
        keep = sd_budget_select(t, none, gpu, 64, 64, nullptr);
        CHECK(count_kept(keep) == 5);

        // An empty tree: nothing to keep, 1 token.
        const sd_draft_tree empty;
        expected = 0;
        keep = sd_budget_select(empty, none, gpu, 64, 64, &expected);
        CHECK(keep.empty());
        CHECK(near(expected, 1.0));

        // A chain extends a single leaf: max_leaves 1 still keeps all of it.
        sd_draft_tree chain;
        for (int32_t i = 0; i < 8; i++) sd_tree_add(chain, 200 + i, i - 1, 0.9f, i);
        keep = sd_budget_select(chain, none, gpu, 64, 1, &expected);
        CHECK(count_kept(keep) == 8);
        // 1 + sum_{i=1..8} 0.9^i = 1 + 0.9 (1 - 0.9^8) / 0.1 = 1 + 9 (1 - 0.43046721) = 6.12579511
        CHECK(near(expected, 6.12579511, 1e-5));
    }

    // CPU-like linear cost (cost(n) = n): with n nodes the rate is (1 + sum p) / (1 + n), which beats
    // plain decoding (1 / 1) only if the average p exceeds 1 -- impossible. So nothing is kept, even
    // for very likely nodes, and the step yields 1 token.
    {
        sd_draft_tree chain;
        for (int32_t i = 0; i < 6; i++) sd_tree_add(chain, 300 + i, i - 1, 0.99f, i);
        const sd_cost_model empty_model;  // no points: cost(n) = n
        sd_cost_model cpu;                // {1: 1, 2: 2}: extrapolated with slope 1, cost(n) = n
        cpu.us = {{1, 1.0}, {2, 2.0}};
        CHECK(near(cpu.cost(7), 7.0));
        for (const sd_cost_model * c : {&empty_model, (const sd_cost_model *) &cpu}) {
            double expected = 0;
            std::vector<bool> keep = sd_budget_select(chain, none, *c, 64, 64, &expected);
            CHECK(count_kept(keep) == 0);
            CHECK(near(expected, 1.0));
            keep = sd_budget_select(t, none, *c, 64, 64, &expected);
            CHECK(count_kept(keep) == 0);
            CHECK(near(expected, 1.0));
        }
        // Even conf 1.0 only ties plain decoding ((1 + n) / (1 + n) = 1), which does not beat it.
        sd_draft_tree sure;
        sd_tree_add(sure, 1, -1, 1.0f, 0);
        double expected = 0;
        CHECK(count_kept(sd_budget_select(sure, none, empty_model, 64, 64, &expected)) == 0);
        CHECK(near(expected, 1.0));
    }

    // A concave cost {1: 1.0, 2: 1.2, 4: 1.9, 8: 3.4} and a chain of 8 nodes of conf 0.9 (distinct
    // buckets, no observations -> estimate 0.9, p_k = 0.9^k).
    //   cost: c(1)=1, c(2)=1.2, c(3)=1.55, c(4)=1.9, c(5)=2.275, c(6)=2.65, c(7)=3.025, c(8)=3.4,
    //         c(9)=3.4 + 0.375 = 3.775 (slope (3.4 - 1.9) / 4 = 0.375)
    //   k nodes: tokens T_k = 1 + sum_{i<=k} 0.9^i, rate T_k / c(k + 1):
    //     k=0: 1     / 1     = 1
    //     k=1: 1.9   / 1.2   = 1.5833
    //     k=2: 2.71  / 1.55  = 1.7484
    //     k=3: 3.439 / 1.9   = 1.8100   <- best
    //     k=4: 4.0951/ 2.275 = 1.8000
    //     k=5: 4.68559 / 2.65 = 1.7682, and decreasing further (k=8: 6.1258 / 3.775 = 1.6227)
    //   -> the first 3 nodes are kept, expected tokens 3.439.
    {
        sd_cost_model concave;
        concave.us = {{1, 1.0}, {2, 1.2}, {4, 1.9}, {8, 3.4}};
        CHECK(near(concave.cost(3), 1.55));
        CHECK(near(concave.cost(5), 2.275));
        CHECK(near(concave.cost(9), 3.775));
        sd_draft_tree chain;
        for (int32_t i = 0; i < 8; i++) sd_tree_add(chain, 400 + i, i - 1, 0.9f, 10 + i);
        double expected = 0;
        std::vector<bool> keep = sd_budget_select(chain, none, concave, 64, 64, &expected);
        CHECK(keep == std::vector<bool>({true, true, true, false, false, false, false, false}));
        CHECK(near(expected, 3.439, 1e-5));

        // max_nodes 2 caps it below the optimum: k=2 (rate 1.7484 > 1.5833), expected 2.71
        keep = sd_budget_select(chain, none, concave, 2, 64, &expected);
        CHECK(count_kept(keep) == 2 && keep[0] && keep[1]);
        CHECK(near(expected, 2.71, 1e-5));

        // Learnt acceptance overrides the prior: bucket 10 (the first node) failed 96 times out of 96,
        // so lookup's record gives p = (0 + 4 * 0.9) / (96 + 4) = 0.036 and the bucket's estimate is
        // (0 + 4 * 0.036) / (96 + 4) = 0.00144. Every node's p is then below that and the best rate with
        // nodes is k=1: 1.00144 / 1.2 < 1 -> nothing is kept.
        sd_bucket_stats bad;
        for (int i = 0; i < 96; i++) bad.observe(10, false);
        CHECK(near(bad.estimate(10, 0.9f), 4 * 0.036 / 100, 1e-6));
        keep = sd_budget_select(chain, bad, concave, 64, 64, &expected);
        CHECK(count_kept(keep) == 0);
        CHECK(near(expected, 1.0));

        // The other way: buckets 10..17 all accepted 36 of 36: lookup's record gives
        // p = (288 + 4 * 0.9) / (288 + 4) = 0.998630, the estimate is e = (36 + 4p) / 40 = 0.999863 and
        // p_k = e^k. The rate rises all the way (k=8: 8.9945 / 3.775 = 2.383): all 8 are kept, expected
        // 1 + sum e^k.
        sd_bucket_stats good;
        for (int32_t b = 10; b < 18; b++) {
            for (int i = 0; i < 36; i++) good.observe(b, true);
        }
        const double e = (36 + 4 * (291.6 / 292)) / 40;
        CHECK(near(good.estimate(10, 0.9f), e, 1e-6));
        keep = sd_budget_select(chain, good, concave, 64, 64, &expected);
        CHECK(count_kept(keep) == 8);
        double tokens = 1, pk = 1;
        for (int k = 0; k < 8; k++) tokens += (pk *= e);
        CHECK(near(expected, tokens, 1e-5));
    }

    // Nodes drawn from a drafter's q: the ranking is a stopping rule (rejection sampling against q needs
    // the decision to verify a node to be blind to what was drawn after it) that looks past a step in
    // the cost curve using only the node's own estimate. Costs 1, 2, 2.05, 2.1: with p = 0.95^k one
    // node gives 1.95 / 2 < 1 (a loss), but a continuation projected at 0.95 gives 2.8525 / 2.05 =
    // 1.39, so all three are kept (1 + 0.95 + 0.9025 + 0.857375 tokens); on a linear curve (costs
    // 1, 2, 3, 4) no projection pays and none is.
    {
        sd_cost_model dip;
        dip.us = {{1, 1.0}, {2, 2.0}, {3, 2.05}, {4, 2.1}};
        sd_draft_tree chain;
        for (int32_t i = 0; i < 3; i++) sd_tree_add(chain, 400 + i, i - 1, 0.95f, 20 + i);
        double expected = 0;
        CHECK(count_kept(sd_budget_select(chain, none, dip, 64, 64, &expected)) == 3);
        CHECK(!sd_tree_has_drawn(chain));
        chain.q[1] = {{401, 1.0f}}; // one drawn node is enough
        CHECK(sd_tree_node_drawn(chain, 1) && !sd_tree_node_drawn(chain, 0) && sd_tree_has_drawn(chain));
        CHECK(count_kept(sd_budget_select(chain, none, dip, 64, 64, &expected)) == 3);
        CHECK(near(expected, 1.0 + 0.95 + 0.9025 + 0.857375, 1e-5));
        sd_cost_model linear;
        linear.us = {{1, 1.0}, {2, 2.0}, {3, 3.0}, {4, 4.0}};
        CHECK(count_kept(sd_budget_select(chain, none, linear, 64, 64, &expected)) == 0);
        CHECK(near(expected, 1.0));
        // the rule itself: a loss now, a gain projected
        sd_rate r(dip);
        CHECK(!r.add_looking_ahead(0.95, 0.95, 1, 0) && r.add_looking_ahead(0.95, 0.95, 1, 2));
        CHECK(near(r.tokens, 1.95) && near(r.best, 1.0));
        // a drafter's own cost per node (a draft model's decode) counts: at 0.3 of a step the projected
        // chain of 3 costs 2.1 + 0.9 for 3.71 tokens (1.24 a step, still a gain); at a whole step, 2.1 + 3
        // for the same tokens (0.73: a loss), and no chain pays even if every node were accepted
        sd_rate cheap(dip, 0.3);
        CHECK(near(cheap.step_cost(3), 3.0) && cheap.add_looking_ahead(0.95, 0.95, 1, 2));
        sd_rate dear(dip, 1.0);
        CHECK(near(dear.step_cost(2), 4.05) && !dear.add_looking_ahead(0.95, 0.95, 1, 2));
        for (int32_t n = 1; n <= 3; n++) CHECK((n + 1) / dear.step_cost(n) <= dear.best);
        CHECK(near(sd_rate(dip).step_cost(3), 2.1));
        // subsets keep each node's q
        const sd_draft_tree s = sd_tree_subset(chain, {true, true, false});
        CHECK(sd_tree_size(s) == 2 && sd_tree_node_drawn(s, 1) && sd_sparse_prob(s.q[1], 401) == 1.0f && !sd_tree_node_drawn(s, 0));
    }

    // The ranking keeps a tree.
    //   0: root child, conf 0.95 -> p 0.95
    //   1: root child, conf 0.6  -> p min(0.6, 1 - 0.95) = 0.05 (shallow sibling)
    //   2: child of 0, conf 0.95 -> p 0.9025 (deeper, yet more likely than 1)
    //   3: child of 2, conf 0.95 -> p 0.857375
    // flat cost, max_nodes 3: 0, 2, 3 are kept -- the chain, not the shallow sibling.
    {
        sd_draft_tree d;
        sd_tree_add(d, 1, -1, 0.95f, 0);
        sd_tree_add(d, 2, -1, 0.6f, 1);
        sd_tree_add(d, 3,  0, 0.95f, 2);
        sd_tree_add(d, 4,  2, 0.95f, 3);
        const sd_cost_model gpu = flat_cost();
        double expected = 0;
        std::vector<bool> keep = sd_budget_select(d, none, gpu, 3, 64, &expected);
        CHECK(keep == std::vector<bool>({true, false, true, true}));
        CHECK(near(expected, 1 + 0.95 + 0.9025 + 0.857375, 1e-5));
        CHECK(mask_is_tree(d, keep));

        // A child whose own conf (1.0) is higher than a shallow node's is still only as likely as its
        // parent: A (conf 0.2) -> B (conf 1.0) has p(B) = 0.2; C (conf 0.3) is a root child.
        // Ranking: C 0.3, then A and B tie at 0.2 and keep tree order (A before B).
        sd_draft_tree e;
        sd_tree_add(e, 1, -1, 0.2f, 0); // A
        sd_tree_add(e, 2,  0, 1.0f, 1); // B
        sd_tree_add(e, 3, -1, 0.3f, 2); // C
        keep = sd_budget_select(e, none, gpu, 1, 64, &expected);
        CHECK(keep == std::vector<bool>({false, false, true}));
        keep = sd_budget_select(e, none, gpu, 2, 64, &expected);
        CHECK(keep == std::vector<bool>({true, false, true})); // B is never kept without A
        keep = sd_budget_select(e, none, gpu, 3, 64, &expected);
        CHECK(keep == std::vector<bool>({true, true, true}));

        // A larger pseudo-random tree: for every max_nodes and max_leaves, the kept nodes form a
        // tree, the count is min(max_nodes, n) when nothing else limits it (n: the nodes with any
        // chance, those whose more likely siblings leave them some, and their parents too), and
        // leaves <= max_leaves.
        sd_draft_tree r;
        uint32_t state = 12345;
        auto next = [&]() { state = state * 1664525u + 1013904223u; return state >> 8; };
        for (int32_t i = 0; i < 40; i++) {
            const int32_t parent = i == 0 ? -1 : (int32_t) (next() % (uint32_t) (i + 1)) - 1;
            const float conf = 0.05f + 0.5f * (float) (next() % 1000) / 1000.0f;
            sd_tree_add(r, (llama_token) (next() % 50), parent, conf, (int32_t) (next() % 20));
        }
        CHECK(well_formed(r));
        const std::vector<double> room = sd_sibling_room(r, plain_estimates(r, none));
        std::vector<bool> chance((size_t) sd_tree_size(r));
        for (int32_t i = 0; i < sd_tree_size(r); i++) {
            const int32_t parent = r.parent[(size_t) i];
            chance[(size_t) i] = room[(size_t) i] > 0 && (parent < 0 || chance[(size_t) parent]);
        }
        const int32_t with_chance = count_kept(chance);
        CHECK(with_chance > 0 && with_chance < 40); // both kinds: 38 with a chance, 2 left nothing
        bool all_trees = true, counts_ok = true, leaves_ok = true;
        for (int32_t max_nodes = 0; max_nodes <= 41; max_nodes++) {
            keep = sd_budget_select(r, none, gpu, max_nodes, 1000, &expected);
            all_trees = all_trees && mask_is_tree(r, keep);
            counts_ok = counts_ok && count_kept(keep) == std::min(max_nodes, with_chance);
            for (int32_t max_leaves = 1; max_leaves <= 8; max_leaves++) {
                keep = sd_budget_select(r, none, gpu, max_nodes, max_leaves, &expected);
                all_trees = all_trees && mask_is_tree(r, keep);
                leaves_ok = leaves_ok && count_leaves(r, keep) <= max_leaves;
            }
        }
        CHECK(all_trees);
        CHECK(counts_ok);
        CHECK(leaves_ok);
    }

    // max_leaves on a star: 10 root children of conf 0.14, 0.13, ..., 0.05 (sum 0.95). Each is a new
    // leaf, so max_leaves 3 keeps the 3 most likely: 1 + 0.14 + 0.13 + 0.12.
    {
        sd_draft_tree star;
        for (int32_t i = 0; i < 10; i++) sd_tree_add(star, 500 + i, -1, 0.14f - 0.01f * (float) i, i);
        const sd_cost_model gpu = flat_cost();
        double expected = 0;
        std::vector<bool> keep = sd_budget_select(star, none, gpu, 64, 3, &expected);
        std::vector<bool> want(10, false);
        want[0] = want[1] = want[2] = true;
        CHECK(keep == want);
        CHECK(count_leaves(star, keep) == 3);
        CHECK(near(expected, 1.39, 1e-5));
        // unlimited leaves: all 10; 1 + 0.95
        keep = sd_budget_select(star, none, gpu, 64, 64, &expected);
        CHECK(count_kept(keep) == 10);
        CHECK(near(expected, 1.95, 1e-5));
        // Confidences 0.9, 0.85, ..., 0.45 (sum 6.75) cannot all be right: 0.9 leaves 0.1 to the
        // second and nothing to the rest, which are never worth a node, even for free.
        sd_draft_tree over;
        for (int32_t i = 0; i < 10; i++) sd_tree_add(over, 500 + i, -1, 0.9f - 0.05f * (float) i, i);
        keep = sd_budget_select(over, none, gpu, 64, 64, &expected);
        want[2] = false;
        CHECK(keep == want);
        CHECK(near(expected, 2.0, 1e-5));
    }
}

// ----------------------------------------------------------------------------------------------
// 5. prompt lookup

// ----------------------------------------------------------------------------------------------
// 4b. exploration

static void test_exploration() {
    // One lookup node of confidence 0.3 where a second token costs 0.4 of a first: by its prior it
    // never pays (1.3 / 1.4 < 1), so without the bonus it would never be tried and never learnt.
    sd_draft_tree one;
    sd_tree_add(one, 42, -1, 0.3f, SD_BUCKET_LOOKUP + 17);
    sd_cost_model cpu;
    cpu.us = {{1, 1.0}, {2, 1.4}};
    double expected = 0;
    const sd_bucket_stats fresh;
    CHECK(near(fresh.explore(SD_BUCKET_LOOKUP + 17, 0.3f), 1.0)); // never tried: counts as sure
    CHECK(count_kept(sd_budget_select(one, fresh, cpu, 64, 64, &expected, true)) == 1);
    CHECK(count_kept(sd_budget_select(one, fresh, cpu, 64, 64, &expected, false)) == 0);

    // Tried twice and rejected twice: estimate e = (0 + 4 * p) / (2 + 4) with p = (0 + 4 * 0.3) / 6 = 0.2,
    // so e = 0.8 / 6; the bonus adds (1 - e) * 2 / 4.
    sd_bucket_stats twice;
    twice.observe(SD_BUCKET_LOOKUP + 17, false);
    twice.observe(SD_BUCKET_LOOKUP + 17, false);
    const double e = 0.8 / 6;
    CHECK(near(twice.estimate(SD_BUCKET_LOOKUP + 17, 0.3f), e, 1e-6));
    CHECK(near(twice.explore(SD_BUCKET_LOOKUP + 17, 0.3f), e + (1 - e) * 0.5, 1e-6));

    // A kind that keeps failing stops being tried after a few tries...
    sd_bucket_stats wrong;
    int32_t tried = 0;
    while (tried < 200 && count_kept(sd_budget_select(one, wrong, cpu, 64, 64, &expected, true)) == 1) {
        wrong.observe(SD_BUCKET_LOOKUP + 17, false);
        tried++;
    }
    CHECK(tried >= 2 && tried <= 10);
    // ...and one right more often than its confidence says is learnt and kept for good.
    sd_bucket_stats right;
    for (int i = 0; i < 40; i++) {
        CHECK(count_kept(sd_budget_select(one, right, cpu, 64, 64, &expected, true)) == 1);
        right.observe(SD_BUCKET_LOOKUP + 17, i % 4 != 0); // 3 in 4 accepted
    }
    CHECK(count_kept(sd_budget_select(one, right, cpu, 64, 64, &expected, false)) == 1);

    // An untried sibling kind (a draft model's runner-up) does not push a known node down: the most
    // likely sibling keeps its own estimate. The top token's kind was right 20 of 20 times: its kind's
    // record p = (20 + 4 * 0.6) / 24 = 0.9333, the bucket's estimate e = (20 + 4p) / 24 = 0.9889, its
    // bonus (1 - e) * 2 / 22; the runner-up's plain estimate is 0.2. The runner-up's own optimism
    // (explore 1.0, untried) is capped by what the top node leaves it: 1 - 0.9889.
    sd_bucket_stats drafted;
    for (int i = 0; i < 20; i++) drafted.observe(SD_BUCKET_DRAFT_MODEL + 6, true);
    sd_draft_tree pair;
    sd_tree_add(pair, 1, -1, 0.6f, SD_BUCKET_DRAFT_MODEL + 6);
    sd_tree_add(pair, 2, -1, 0.2f, SD_BUCKET_DRAFT_MODEL + 22);
    sd_cost_model flat;
    flat.us = {{1, 1.0}, {2, 1.0}, {3, 1.0}};
    sd_budget_select(pair, drafted, flat, 64, 64, &expected, true);
    const double top = drafted.explore(SD_BUCKET_DRAFT_MODEL + 6, 0.6f);
    CHECK(near(drafted.estimate(SD_BUCKET_DRAFT_MODEL + 6, 0.6f), (20 + 4 * 22.4 / 24) / 24, 1e-6));
    CHECK(near(expected, 1 + top + (1.0 - drafted.estimate(SD_BUCKET_DRAFT_MODEL + 6, 0.6f)), 1e-5));

    // Nor does a known runner-up whose estimate is too high for its top token's (0.95 + 0.5 > 1: they
    // cannot both be right that often): the top keeps 0.95 and the runner-up gets what is left, 0.05.
    // A chain of 8 such pairs on a cost of 1 + 0.1 per extra node: the tops' p_k = 0.95^k, tokens
    // 1 + 19 (1 - 0.95^8) = 7.3946 for cost 1.8 (rate 4.108); a runner-up adds at most 0.05 tokens for
    // 0.1 more cost, which lowers it. So all 8 tops are kept and no runner-up, exactly as with runner-ups
    // of 0.04. (Scaling siblings that add up to more than 1 down to 1, as the cut did before, made the
    // tops 0.95 / 1.45 = 0.655 and the runner-ups 0.345, and kept 3 tops and 2 runner-ups, expecting 2.94
    // tokens.)
    sd_cost_model tenth;
    for (int32_t b = 1; b <= 17; b++) tenth.us[b] = 1.0 + 0.1 * (b - 1);
    for (float runner_up : {0.5f, 0.04f}) {
        sd_draft_tree pairs;
        int32_t at = -1;
        for (int32_t d = 0; d < 8; d++) {
            const int32_t top_node = sd_tree_add(pairs, 10 + d, at, 0.95f, SD_BUCKET_DRAFT_MODEL + 7);
            sd_tree_add(pairs, 20 + d, at, runner_up, SD_BUCKET_DRAFT_MODEL + 22);
            at = top_node;
        }
        const sd_bucket_stats none;
        const std::vector<bool> keep = sd_budget_select(pairs, none, tenth, 64, 64, &expected);
        for (int32_t i = 0; i < sd_tree_size(pairs); i++) CHECK(keep[(size_t) i] == (i % 2 == 0));
        CHECK(near(expected, 1 + 19 * (1 - std::pow(0.95, 8)), 1e-5));
    }

    // A fresh session: every kind untried, so every node's optimistic estimate is 1. A chain of 4 top
    // tokens (conf 0.7), each with its runner-up (conf 0.2): without the siblings' cap all 8 counted
    // as sure and were kept wherever a batch of 9 cost less than 9 single tokens; with it a runner-up
    // counts 1 - 0.7 = 0.3 (times its path), and on a CPU-like curve only the chain is worth its cost.
    sd_bucket_stats fresh_rates;
    sd_draft_tree chain;
    int32_t up = -1;
    for (int32_t d = 0; d < 4; d++) {
        const int32_t top_node = sd_tree_add(chain, 10 + d, up, 0.7f, SD_BUCKET_DRAFT_MODEL + 7);
        sd_tree_add(chain, 20 + d, up, 0.2f, SD_BUCKET_DRAFT_MODEL + 22);
        up = top_node;
    }
    const std::vector<double> room = sd_sibling_room(chain, plain_estimates(chain, fresh_rates));
    for (int32_t i = 0; i < sd_tree_size(chain); i++) {
        CHECK(near(room[(size_t) i], i % 2 == 0 ? 1.0 : 0.3, 1e-6)); // tops first, runner-ups 1 - 0.7
    }
    sd_cost_model curve; // batch 1..9: 1, 1.3, 1.55, 1.8, 2.2, 2.6, 3.0, 3.4, 3.8
    curve.us = {{1, 1.0}, {2, 1.3}, {3, 1.55}, {4, 1.8}, {5, 2.2}, {6, 2.6}, {7, 3.0}, {8, 3.4}, {9, 3.8}};
    const std::vector<bool> first = sd_budget_select(chain, fresh_rates, curve, 64, 64, &expected, true);
    CHECK(count_kept(first) == 4);
    for (int32_t i = 0; i < sd_tree_size(chain); i++) CHECK(first[(size_t) i] == (i % 2 == 0));
    CHECK(near(expected, 5.0, 1e-6));
    // an empty tree: nothing to leave
    const std::vector<double> none = sd_sibling_room(sd_draft_tree(), {});
    CHECK(none.empty());

    // Three siblings, plain estimates 0.5, 0.2, 0.3 (their confidences, nothing observed): ranked 0.5,
    // 0.3, 0.2, so they are left 1, 0.5 and 0.2.
    sd_draft_tree three;
    sd_tree_add(three, 1, -1, 0.5f, SD_BUCKET_LOOKUP + 1);
    sd_tree_add(three, 2, -1, 0.2f, SD_BUCKET_LOOKUP + 2);
    sd_tree_add(three, 3, -1, 0.3f, SD_BUCKET_LOOKUP + 3);
    const std::vector<double> left = sd_sibling_room(three, plain_estimates(three, fresh_rates));
    CHECK(near(left[0], 1.0, 1e-6) && near(left[1], 0.2, 1e-6) && near(left[2], 0.5, 1e-6));
    // siblings that add up to more than 1 leave the less likely nothing once the more likely have
    // used it up: with a fourth at 0.8 they are ranked 0.8, 0.5, 0.3, 0.2 and left 1, 0.2, 0 and 0
    sd_tree_add(three, 4, -1, 0.8f, SD_BUCKET_LOOKUP + 4);
    const std::vector<double> full = sd_sibling_room(three, plain_estimates(three, fresh_rates));
    CHECK(near(full[3], 1.0, 1e-6) && near(full[0], 0.2, 1e-6) && near(full[2], 0.0, 1e-6) &&
          near(full[1], 0.0, 1e-6));
}

static void test_lookup() {
    // conf of a lookup node: min(0.9, 0.3 + 0.12 ngram), times 0.9 below the first token;
    // bucket: min(ngram, 4) * 16 + min(depth, 15).
    //   ngram 1: 0.42 / 0.378, buckets 17, 18, ...
    //   ngram 2: 0.54 / 0.486, buckets 33, 34, ...
    //   ngram 3: 0.66 / 0.594, buckets 49, 50, ...
    //   ngram 5: min(0.9, 0.9) = 0.9 / 0.81, buckets 64 + depth
    sd_draft_tree t;

    // history [5 6 7 8 9 1 2 5 6 7], root 7. ngram 3: pattern [5 6 7] matches at 0, what follows is
    // [8 9 1 2 5 6 7] (positions 3..9). Shorter n-grams ([6 7] at 1, [7] at 2) lead to the same
    // continuation, which adds nothing (and is not counted as a branch).
    {
        std::unique_ptr<sd_drafter> d(sd_drafter_lookup_init({1, 3, 4}));
        CHECK_EQ_STR(d->name(), "lookup");
        CHECK(!d->wants_logits());
        const std::vector<llama_token> h = {5, 6, 7, 8, 9, 1, 2, 5, 6, 7};
        d->draft({h, 16, 4, nullptr}, t);
        CHECK_TREE(t, V(8, 9, 1, 2), V(-1, 0, 1, 2), V(0.66f, 0.594f, 0.594f, 0.594f), V(49, 50, 51, 52));
        // max_depth 2
        d->draft({h, 16, 2, nullptr}, t);
        CHECK_TREE(t, V(8, 9), V(-1, 0), V(0.66f, 0.594f), V(49, 50));
        // max_depth beyond the history: the continuation runs to the end (7 tokens)
        d->draft({h, 16, 100, nullptr}, t);
        CHECK_TREE(t, V(8, 9, 1, 2, 5, 6, 7), V(-1, 0, 1, 2, 3, 4, 5),
                   V(0.66f, 0.594f, 0.594f, 0.594f, 0.594f, 0.594f, 0.594f), V(49, 50, 51, 52, 53, 54, 55));
        // max_nodes 3
        d->draft({h, 3, 100, nullptr}, t);
        CHECK_TREE(t, V(8, 9, 1), V(-1, 0, 1), V(0.66f, 0.594f, 0.594f), V(49, 50, 51));
        // max_depth 0: nothing
        d->draft({h, 16, 0, nullptr}, t);
        CHECK(sd_tree_size(t) == 0);
    }

    // Several earlier matches with different continuations become siblings, most recent first.
    // history [1 2 3 1 2 4 7 1 2], root 2, ngram 2 only: [1 2] at 3 -> [4 7 1 2]; at 0 -> [3 1 2 4 ...].
    {
        const std::vector<llama_token> h = {1, 2, 3, 1, 2, 4, 7, 1, 2};
        std::unique_ptr<sd_drafter> d(sd_drafter_lookup_init({2, 2, 4}));
        d->draft({h, 16, 3, nullptr}, t);
        CHECK_TREE(t, V(4, 7, 1, 3, 1, 2), V(-1, 0, 1, -1, 3, 4),
                   V(0.54f, 0.486f, 0.486f, 0.54f, 0.486f, 0.486f), V(33, 34, 35, 33, 34, 35));
        // max_nodes 4: the second branch is cut after its first token
        d->draft({h, 4, 3, nullptr}, t);
        CHECK_TREE(t, V(4, 7, 1, 3), V(-1, 0, 1, -1), V(0.54f, 0.486f, 0.486f, 0.54f), V(33, 34, 35, 33));

        // max_branches 1: only the most recent match
        std::unique_ptr<sd_drafter> one(sd_drafter_lookup_init({2, 2, 1}));
        one->draft({h, 16, 3, nullptr}, t);
        CHECK_TREE(t, V(4, 7, 1), V(-1, 0, 1), V(0.54f, 0.486f, 0.486f), V(33, 34, 35));
    }

    // Three matches, max_branches 2: the oldest is left out.
    // history [1 5 | 1 6 | 1 7 | 1], root 1, ngram 1: matches at 4 -> [7], at 2 -> [6], at 0 -> [5].
    {
        const std::vector<llama_token> h = {1, 5, 1, 6, 1, 7, 1};
        std::unique_ptr<sd_drafter> d(sd_drafter_lookup_init({1, 1, 2}));
        d->draft({h, 16, 1, nullptr}, t);
        CHECK_TREE(t, V(7, 6), V(-1, -1), V(0.42f, 0.42f), V(17, 17));
        std::unique_ptr<sd_drafter> d3(sd_drafter_lookup_init({1, 1, 3}));
        d3->draft({h, 16, 1, nullptr}, t);
        CHECK_TREE(t, V(7, 6, 5), V(-1, -1, -1), V(0.42f, 0.42f, 0.42f), V(17, 17, 17));
    }

    // Continuations sharing a first token share the node and branch below it.
    // history [1 2 3 9 1 2 3 8 1 2], root 2, ngram 2 ([1 2]): at 4 -> [3 8], at 0 -> [3 9] (max_depth 2).
    {
        const std::vector<llama_token> h = {1, 2, 3, 9, 1, 2, 3, 8, 1, 2};
        std::unique_ptr<sd_drafter> d(sd_drafter_lookup_init({2, 2, 4}));
        d->draft({h, 16, 2, nullptr}, t);
        CHECK_TREE(t, V(3, 8, 9), V(-1, 0, 0), V(0.54f, 0.486f, 0.486f), V(33, 34, 34));
        CHECK(no_duplicate_children(t));
    }

    // Longer n-grams are tried first. history [7 3 8 7 4 5 8 7], root 7, lookup(1, 2):
    //   ngram 2: [8 7] at 2 -> [4 5]              (first, conf 0.54)
    //   ngram 1: [7] at 3 -> [4 5] (already there); [7] at 0 -> [3 8]   (second, conf 0.42)
    {
        const std::vector<llama_token> h = {7, 3, 8, 7, 4, 5, 8, 7};
        std::unique_ptr<sd_drafter> d(sd_drafter_lookup_init({1, 2, 4}));
        d->draft({h, 16, 2, nullptr}, t);
        CHECK_TREE(t, V(4, 5, 3, 8), V(-1, 0, -1, 2), V(0.54f, 0.486f, 0.42f, 0.378f), V(33, 34, 17, 18));
        // A repeated continuation is not a branch: with max_branches 2, [7] at 3 (-> [4 5] again)
        // does not use up the second branch, so [7] at 0 (-> [3 8]) is still added.
        std::unique_ptr<sd_drafter> d2(sd_drafter_lookup_init({1, 2, 2}));
        d2->draft({h, 16, 2, nullptr}, t);
        CHECK_TREE(t, V(4, 5, 3, 8), V(-1, 0, -1, 2), V(0.54f, 0.486f, 0.42f, 0.378f), V(33, 34, 17, 18));
        // max_branches 1: only the 2-gram's branch
        std::unique_ptr<sd_drafter> d1(sd_drafter_lookup_init({1, 2, 1}));
        d1->draft({h, 16, 2, nullptr}, t);
        CHECK_TREE(t, V(4, 5), V(-1, 0), V(0.54f, 0.486f), V(33, 34));
    }

    // A long n-gram: conf is capped at 0.9 and the bucket at ngram 4.
    // history [1 2 3 4 5 6 | 1 2 3 4 5], root 5, lookup(5, 5): [1 2 3 4 5] at 0 -> [6 1 2 ...]
    {
        const std::vector<llama_token> h = {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5};
        std::unique_ptr<sd_drafter> d(sd_drafter_lookup_init({5, 5, 4}));
        d->draft({h, 16, 2, nullptr}, t);
        CHECK_TREE(t, V(6, 1), V(-1, 0), V(0.9f, 0.81f), V(65, 66));
    }

    // A repeated token: history [7 7 7], root 7, lookup(1, 3):
    //   ngram 2 (min(3, n - 1)): [7 7] at 0 -> [7]                      (node 0, conf 0.54)
    //   ngram 1: [7] at 1 -> [7] (there); [7] at 0 -> [7 7]: adds 7 below node 0 (conf 0.42*0.9)
    {
        std::unique_ptr<sd_drafter> d(sd_drafter_lookup_init({1, 3, 4}));
        d->draft({{7, 7, 7}, 16, 4, nullptr}, t);
        CHECK_TREE(t, V(7, 7), V(-1, 0), V(0.54f, 0.378f), V(33, 18));
    }

    // No match, too short, empty: no nodes.
    {
        std::unique_ptr<sd_drafter> d(sd_drafter_lookup_init({1, 3, 4}));
        d->draft({{1, 2, 3, 4}, 16, 4, nullptr}, t);
        CHECK(sd_tree_size(t) == 0);
        d->draft({{5}, 16, 4, nullptr}, t);
        CHECK(sd_tree_size(t) == 0);
        d->draft({{}, 16, 4, nullptr}, t);
        CHECK(sd_tree_size(t) == 0);
        // the previous contents are cleared: [5 6 5], root 5, [5] at 0 -> [6 5] (2 nodes), then none
        d->draft({{5, 6, 5}, 16, 4, nullptr}, t);
        CHECK_TREE(t, V(6, 5), V(-1, 0), V(0.42f, 0.378f), V(17, 18));
        d->draft({{1, 2, 3, 4}, 16, 4, nullptr}, t);
        CHECK(sd_tree_size(t) == 0);
        // min_ngram 2 ignores a single-token match: [9 | 3 1 | 9] has only [9] in common
        std::unique_ptr<sd_drafter> d2(sd_drafter_lookup_init({2, 3, 4}));
        d2->draft({{9, 3, 1, 9}, 16, 4, nullptr}, t);
        CHECK(sd_tree_size(t) == 0);
    }
}

// ----------------------------------------------------------------------------------------------
// 6. Token Recycling

static const int32_t N_VOCAB = 16;

// A logits row of N_VOCAB entries, -10 everywhere except the given (token, logit) pairs.
static std::vector<float> row(std::initializer_list<std::pair<int32_t, float>> entries) {
    std::vector<float> r((size_t) N_VOCAB, -10.0f);
    for (const auto & e : entries) r[(size_t) e.first] = e.second;
    return r;
}

// Calls observe with one row per input token.
static void observe(sd_drafter & d, const std::vector<llama_token> & tokens, const std::vector<std::vector<float>> & rows) {
    std::vector<const float *> ptrs;
    for (const auto & r : rows) ptrs.push_back(r.empty() ? nullptr : r.data());
    const sd_step_view step{tokens.data(), ptrs.data(), (int32_t) tokens.size(), N_VOCAB, nullptr, nullptr, 0, nullptr, 0};
    d.observe(step);
}

// Recycling nodes: conf = rank prior (0.45, 0.15, 0.08 for ranks 0..2),
// bucket = 100 + min(depth, 7) * 8 + rank: depth 1 -> 108, 109, 110; depth 2 -> 116, 117, 118.
//
// The static template for k = 3 (best first by the product of rank priors):
//   T0 root r0 (0.45), T1 T0.r0 (0.2025), T2 root r1 (0.15), T3 T1.r0 (0.091125), T4 root r2 (0.08),
//   then T0.r1 (0.0675) and T2.r0 (0.0675), T3.r0 (0.041), T0.r2 (0.036) and T4.r0 (0.036), ...
static void test_recycling() {
    std::unique_ptr<sd_drafter> d(sd_drafter_recycling_init({3}, N_VOCAB));
    CHECK_EQ_STR(d->name(), "recycling");
    CHECK(d->wants_logits());
    sd_draft_tree t;

    // Nothing observed: nothing to recycle.
    d->draft({{4, 1}, 16, 4, nullptr}, t);
    CHECK(sd_tree_size(t) == 0);
    d->draft({{}, 16, 4, nullptr}, t);
    CHECK(sd_tree_size(t) == 0);

    // Step with inputs [1, 2]: after 1 the model ranks 2 > 5 > 9, after 2 it ranks 3 > 4 > 6.
    observe(*d, {1, 2}, {row({{2, 5.0f}, {5, 3.0f}, {9, 1.0f}}), row({{3, 4.0f}, {4, 2.0f}, {6, 1.0f}})});

    // Draft from root 1, walking the template:
    //   T0 -> 2 (node 0), T1 = 2's r0 -> 3 (node 1), T2 -> 5 (node 2), T3 = 3's r0: unknown,
    //   T4 -> 9 (node 3), T0.r1 = 2's r1 -> 4 (node 4), T2.r0 = 5's r0: unknown, T0.r2 -> 6 (node 5);
    //   nothing else is known (3, 4, 5, 6, 9 have no row).
    d->draft({{8, 1}, 16, 4, nullptr}, t);
    CHECK_TREE(t, V(2, 3, 5, 9, 4, 6), V(-1, 0, -1, -1, 0, 0),
               V(0.45f, 0.45f, 0.15f, 0.08f, 0.15f, 0.08f), V(108, 116, 109, 110, 117, 118));
    // root children in rank order
    CHECK(sd_tree_find_child(t, -1, 2) == 0 && sd_tree_find_child(t, -1, 5) == 2 && sd_tree_find_child(t, -1, 9) == 3);

    // max_nodes 3: the template's prefix
    d->draft({{1}, 3, 4, nullptr}, t);
    CHECK_TREE(t, V(2, 3, 5), V(-1, 0, -1), V(0.45f, 0.45f, 0.15f), V(108, 116, 109));
    // max_depth 1: only the root children
    d->draft({{1}, 16, 1, nullptr}, t);
    CHECK_TREE(t, V(2, 5, 9), V(-1, -1, -1), V(0.45f, 0.15f, 0.08f), V(108, 109, 110));

    // Root 2: its successors 3, 4, 6, no grandchildren
    d->draft({{1, 2}, 16, 4, nullptr}, t);
    CHECK_TREE(t, V(3, 4, 6), V(-1, -1, -1), V(0.45f, 0.15f, 0.08f), V(108, 109, 110));
    // Root 3: unknown
    d->draft({{3}, 16, 4, nullptr}, t);
    CHECK(sd_tree_size(t) == 0);

    // A later observe of token 1 overwrites its row: 7 > 8 > 10; none of them has a row.
    // Out-of-range inputs and missing rows are ignored (the second and third inputs).
    observe(*d, {1, N_VOCAB, 2}, {row({{7, 9.0f}, {8, 8.0f}, {10, 7.0f}}), row({{0, 9.0f}, {1, 8.0f}, {2, 7.0f}}), {}});
    d->draft({{1}, 16, 4, nullptr}, t);
    CHECK_TREE(t, V(7, 8, 10), V(-1, -1, -1), V(0.45f, 0.15f, 0.08f), V(108, 109, 110));
    // 2's row is as before (the missing row did not touch it)
    d->draft({{2}, 16, 4, nullptr}, t);
    CHECK_TREE(t, V(3, 4, 6), V(-1, -1, -1), V(0.45f, 0.15f, 0.08f), V(108, 109, 110));

    // Ties between logits: the lower token id ranks first. Token 0: 11 = 12 = 13 (all 1.0).
    observe(*d, {0}, {row({{13, 1.0f}, {12, 1.0f}, {11, 1.0f}})});
    d->draft({{0}, 16, 1, nullptr}, t);
    CHECK_TREE(t, V(11, 12, 13), V(-1, -1, -1), V(0.45f, 0.15f, 0.08f), V(108, 109, 110));

    // A self loop: token 14 -> 14 > 3 > 4 (3 and 4 were never inputs, so they have no row).
    // The walk stays within max_depth and max_nodes, and never duplicates a child.
    observe(*d, {14}, {row({{14, 3.0f}, {3, 2.0f}, {4, 1.0f}})});
    for (int32_t depth = 1; depth <= 6; depth++) {
        d->draft({{14}, 64, depth, nullptr}, t);
        const std::vector<int32_t> dep = sd_tree_depths(t);
        int32_t max_seen = 0;
        for (int32_t x : dep) max_seen = std::max(max_seen, x);
        CHECK(well_formed(t));
        CHECK(no_duplicate_children(t));
        CHECK(max_seen == depth); // the rank-0 chain 14 14 14 ... reaches exactly max_depth
        // depth 1: 14, 3, 4; each level below a 14 adds 14, 3, 4 again (3 and 4 have no row), as long
        // as the template holds those nodes: at least 3 nodes per level for the first levels.
        if (depth <= 3) CHECK(sd_tree_size(t) == 3 * depth);
    }
    d->draft({{14}, 5, 6, nullptr}, t);
    CHECK(sd_tree_size(t) == 5);
    // the first five template nodes: T0 14, T1 14 (below 0), T2 3, T3 14 (below 1), T4 4
    CHECK_TREE(t, V(14, 14, 3, 14, 4), V(-1, 0, -1, 1, -1), V(0.45f, 0.45f, 0.15f, 0.45f, 0.08f),
               V(108, 116, 109, 124, 110));

    // k is clamped to 1..8; with k = 1 only rank 0 is kept: a chain.
    std::unique_ptr<sd_drafter> k1(sd_drafter_recycling_init({1}, N_VOCAB));
    observe(*k1, {1, 2}, {row({{2, 5.0f}, {5, 3.0f}}), row({{3, 4.0f}, {4, 2.0f}})});
    k1->draft({{1}, 16, 4, nullptr}, t);
    CHECK_TREE(t, V(2, 3), V(-1, 0), V(0.45f, 0.45f), V(108, 116));
}

// ----------------------------------------------------------------------------------------------
// 7. automatic strategy

static void test_auto() {
    std::unique_ptr<sd_drafter> lookup(sd_drafter_lookup_init({1, 3, 4}));
    std::unique_ptr<sd_drafter> recycling(sd_drafter_recycling_init({3}, N_VOCAB));
    std::unique_ptr<sd_drafter> lookahead(sd_drafter_lookahead_init({2, 3, 4}));
    std::unique_ptr<sd_drafter> a(sd_drafter_auto_init(lookup.get(), recycling.get(), lookahead.get()));
    CHECK_EQ_STR(a->name(), "auto");
    CHECK(a->wants_logits());
    sd_draft_tree t;

    // Before any observe: lookup alone. history [1 2 3 0 1], root 1: only [1] matches (at 0) -> [2 3]
    // with ngram 1: conf 0.42, 0.378, buckets 17, 18.
    const std::vector<llama_token> h = {1, 2, 3, 0, 1};
    a->draft({h, 16, 2, nullptr}, t);
    CHECK_TREE(t, V(2, 3), V(-1, 0), V(0.42f, 0.378f), V(17, 18));

    // observe goes to the recycling drafter: 1 -> 2 > 5 > 9, 2 -> 3 > 4 > 6 (same as above).
    observe(*a, {1, 2}, {row({{2, 5.0f}, {5, 3.0f}, {9, 1.0f}}), row({{3, 4.0f}, {4, 2.0f}, {6, 1.0f}})});
    recycling->draft({h, 16, 2, nullptr}, t);
    CHECK(sd_tree_size(t) == 6); // the recycling drafter did learn it

    // Merged: lookup's [2 3] first; recycling's 2 and 2->3 are the same nodes (conf max(0.42, 0.45) =
    // 0.45 and max(0.378, 0.45) = 0.45, buckets stay lookup's), then its new nodes 5, 9, 4 (below 2), 6.
    a->draft({h, 16, 2, nullptr}, t);
    CHECK_TREE(t, V(2, 3, 5, 9, 4, 6), V(-1, 0, -1, -1, 0, 0),
               V(0.45f, 0.45f, 0.15f, 0.08f, 0.15f, 0.08f), V(17, 18, 109, 110, 117, 118));
    CHECK(no_duplicate_children(t));

    // When lookup is more confident, its conf stays: history [0 1 2 3 0 1], ngram 2 [0 1] at 0 ->
    // [2 3] with conf 0.54, 0.486 (> 0.45); buckets 33, 34.
    const std::vector<llama_token> h2 = {0, 1, 2, 3, 0, 1};
    a->draft({h2, 16, 2, nullptr}, t);
    CHECK_TREE(t, V(2, 3, 5, 9, 4, 6), V(-1, 0, -1, -1, 0, 0),
               V(0.54f, 0.486f, 0.15f, 0.08f, 0.15f, 0.08f), V(33, 34, 109, 110, 117, 118));

    // max_nodes applies to the merged tree: 4 -> [2 3] + recycling's new 5, 9.
    a->draft({h, 4, 2, nullptr}, t);
    CHECK_TREE(t, V(2, 3, 5, 9), V(-1, 0, -1, -1), V(0.45f, 0.45f, 0.15f, 0.08f), V(17, 18, 109, 110));

    // Branches that differ: lookup proposes [5 7] (history [1 5 7 0 1]), recycling 2, 5, 9, ...:
    // 5 is shared (conf max(0.42, 0.15) = 0.42), 7 stays below it, recycling's 2 and 9 are added and
    // 2's successors 3, 4, 6 below 2.
    //   merged: 5 (0.42, 17), 7 (0.378, 18, below 5), 2, 9, then below 2: 3, 4, 6 -- in the order the
    //   recycling tree lists them: 2 (its node 0), 3 (node 1), 5 (shared), 9, 4, 6.
    const std::vector<llama_token> h3 = {1, 5, 7, 0, 1};
    a->draft({h3, 16, 2, nullptr}, t);
    CHECK_TREE(t, V(5, 7, 2, 3, 9, 4, 6), V(-1, 0, -1, 2, -1, 2, 2),
               V(0.42f, 0.378f, 0.45f, 0.45f, 0.08f, 0.15f, 0.08f), V(17, 18, 108, 116, 110, 117, 118));
    CHECK(no_duplicate_children(t));

    // Whatever the history, the merged tree is a valid tree without duplicate children.
    const std::vector<std::vector<llama_token>> hs = {{}, {1}, {2, 1, 2, 1, 2}, {1, 2, 3, 1, 2, 4, 1, 2}, {9, 9, 9, 9}};
    bool ok = true;
    for (const auto & hh : hs) {
        for (int32_t max_nodes : {1, 3, 8, 32}) {
            a->draft({hh, max_nodes, 4, nullptr}, t);
            ok = ok && well_formed(t) && no_duplicate_children(t) && sd_tree_size(t) <= max_nodes;
            const std::vector<int32_t> dep = sd_tree_depths(t);
            for (int32_t x : dep) ok = ok && x <= 4;
        }
    }
    CHECK(ok);
}

// ----------------------------------------------------------------------------------------------
// 8. lookahead

// Evaluates a drafter's auxiliary tokens with a fake model that predicts `next` for every column's
// last level; the tree `tree` with accepted nodes `accepted` was verified in the same step.
static void observe_aux(sd_drafter & d, const sd_aux_batch & aux, const std::vector<llama_token> & next,
                        const sd_draft_tree & tree, const std::vector<int32_t> & accepted) {
    std::vector<std::vector<float>> rows;
    for (size_t i = 0; i < aux.token.size(); i++) {
        // the last level comes last, one row per column in column order
        const size_t first_of_last = aux.token.size() - (size_t) aux.n_columns;
        rows.push_back(i < first_of_last ? row({{0, 1.0f}}) : row({{next[i - first_of_last], 5.0f}}));
    }
    std::vector<const float *> ptrs;
    for (const auto & r : rows) ptrs.push_back(r.data());
    const llama_token root = 0;
    const sd_step_view step{&root, nullptr, 1, N_VOCAB, &tree, accepted.data(), (int32_t) accepted.size(),
                            ptrs.data(), (int32_t) ptrs.size()};
    d.observe(step);
}

static void test_lookahead() {
    // w = 3 columns, n = 3: 2 levels, g = 2 n-grams per first token.
    std::unique_ptr<sd_drafter> d(sd_drafter_lookahead_init({3, 3, 2}));
    CHECK_EQ_STR(d->name(), "lookahead");
    CHECK(d->aux_columns() == 3);
    CHECK(d->aux_column_tokens() == 2);
    CHECK(std::fabs(d->aux_value() - 0.02) < 1e-9); // the prior
    sd_draft_tree t;
    sd_aux_batch aux;

    // An empty pool drafts nothing; the window starts with tokens of the history.
    const std::vector<llama_token> h = {5, 6, 7};
    d->draft({h, 16, 8, nullptr}, t);
    CHECK(sd_tree_size(t) == 0);
    d->aux(2, aux);
    CHECK(aux.n_columns == 2);
    CHECK(aux.token.size() == 4);
    bool from_history = true;
    for (llama_token x : aux.token) from_history = from_history && (x == 5 || x == 6 || x == 7);
    CHECK(from_history);
    // Level 0 first: column c at offset 1 + c, shared by columns c..1; then level 1 at offset 2 + c,
    // its own column only.
    CHECK(aux.offset == std::vector<int32_t>({1, 2, 2, 3}));
    CHECK(aux.col_first == std::vector<int32_t>({0, 1, 0, 1}));
    CHECK(aux.col_last == std::vector<int32_t>({1, 1, 0, 1}));
    // More columns than the window has: all of them.
    d->aux(10, aux);
    CHECK(aux.n_columns == 3);
    CHECK(aux.token.size() == 6);

    // The model predicts 11 after column 0 and 12 after column 1 (2 columns evaluated). Column c held
    // (a_c, b_c); the n-grams (a_c, b_c, guess) go to the pool under a_c, and the column shifts to
    // (b_c, guess).
    d->draft({h, 16, 8, nullptr}, t);
    d->aux(2, aux);
    const std::vector<llama_token> before = aux.token; // a0 a1 b0 b1
    const sd_draft_tree empty;
    observe_aux(*d, aux, {11, 12}, empty, {});
    d->draft({h, 16, 8, nullptr}, t);
    d->aux(3, aux);
    CHECK(aux.token[0] == before[2] && aux.token[1] == before[3]); // level 0 = the old level 1
    CHECK(aux.token[3] == 11 && aux.token[4] == 12);                // level 1 = the new guesses
    // Column 2 was not evaluated: unchanged (its tokens are at 2 and 5).
    // The pool: root a0 proposes [b0 11] as a chain, buckets 201, 202.
    const std::vector<llama_token> ha = {9, before[0]};
    d->draft({ha, 16, 8, nullptr}, t);
    CHECK(before[0] != before[1]); // else a1's n-gram would be proposed too
    CHECK_TREE(t, V(before[2], 11), V(-1, 0), V(0.3f, 0.6f), V(201, 202));
    // max_depth cuts the chain.
    d->draft({ha, 16, 1, nullptr}, t);
    CHECK(sd_tree_size(t) >= 1 && sd_tree_size(t) <= 2);
    bool depth_one = true;
    for (int32_t p : t.parent) depth_one = depth_one && p == -1;
    CHECK(depth_one);

    // Up to g = 2 n-grams per first token, the newest first, repeated ones not duplicated:
    // a fresh drafter with one column whose guesses follow token 1 three times.
    std::unique_ptr<sd_drafter> one(sd_drafter_lookahead_init({1, 2, 2}));
    const std::vector<llama_token> h1 = {1};
    for (llama_token next : {1, 12, 13, 13, 13}) {
        // window holds 1 (from the history) then each guess: n-grams (1 1), (1 12), (12 13), (13 13) twice
        one->draft({h1, 16, 8, nullptr}, t);
        one->aux(1, aux);
        observe_aux(*one, aux, {next}, empty, {});
    }
    one->draft({h1, 16, 8, nullptr}, t);
    CHECK_TREE(t, V(12, 1), V(-1, -1), V(0.3f, 0.3f), V(201, 201));
    const std::vector<llama_token> h13 = {13};
    one->draft({h13, 16, 8, nullptr}, t);
    CHECK_TREE(t, V(13), V(-1), V(0.3f), V(201));

    // The window's value: accepted pooled nodes per evaluated guess, with the prior's weight of 64
    // guesses. 2 guesses evaluated with 2 pooled nodes accepted: (2 + 0.02 * 64) / (2 + 64), after
    // the earlier observations faded. Nodes of other drafters do not count.
    std::unique_ptr<sd_drafter> v(sd_drafter_lookahead_init({1, 3, 4}));
    sd_draft_tree accepted_tree;
    sd_tree_add(accepted_tree, 3, -1, 0.3f, 201);
    sd_tree_add(accepted_tree, 4, 0, 0.6f, 202);
    sd_tree_add(accepted_tree, 5, 1, 0.5f, 17);
    v->draft({h1, 16, 8, nullptr}, t);
    v->aux(1, aux);
    observe_aux(*v, aux, {7}, accepted_tree, {0, 1, 2});
    CHECK(std::fabs(v->aux_value() - (2.0 + 0.02 * 64) / (2.0 + 64)) < 1e-9);

    // The budget for the window: on a flat (GPU-like) cost every column that fits pays for any value;
    // on a cost proportional to the batch size none does unless a guess is worth a whole token.
    sd_cost_model gpu = flat_cost();
    CHECK(sd_budget_columns(gpu, 4, 2.0, 0.02, 3, 8) == 8);
    sd_cost_model linear;
    for (int32_t n = 1; n <= 64; n *= 2) linear.us[n] = 100.0 * n;
    CHECK(sd_budget_columns(linear, 4, 2.0, 0.02, 3, 8) == 0);
    CHECK(sd_budget_columns(linear, 0, 1.0, 0.5, 3, 8) == 0);
    // A CPU-like curve (batch 8 costs 4.2 tokens), columns of 1 token worth 0.5 each: tokens per unit
    // of time 1 / 1 without, 1.5 / 1.39 = 1.079 with one column, 2 / 1.845 = 1.084 with two,
    // 2.5 / 2.30 = 1.087 with three, 3 / 2.775 = 1.081 with four: three.
    sd_cost_model cpu;
    cpu.us = {{1, 1.0}, {2, 1.39}, {4, 2.30}, {8, 4.20}, {16, 7.92}};
    CHECK(sd_budget_columns(cpu, 0, 1.0, 0.5, 1, 4) == 3);
    CHECK(sd_budget_columns(cpu, 0, 1.0, 0.1, 1, 4) == 0);
}

// What the budget learnt about a draft model's (or heads') nodes stays with it: another source starts
// from the priors, going back brings the record back, and the other drafters' buckets are shared.
static void test_sources() {
    sd_budget b;
    const int32_t draft = SD_BUCKET_DRAFT_MODEL + 5, medusa = SD_BUCKET_MEDUSA + 3, lookup = SD_BUCKET_LOOKUP + 17;
    b.use_source("draft model weak.gguf");
    for (int i = 0; i < 40; i++) b.rates.observe(draft, false);
    for (int i = 0; i < 40; i++) b.rates.observe(lookup, true);
    b.skip = 3;
    b.pause = 4;
    const float weak = b.rates.estimate(draft, 0.5f);
    CHECK(weak < 0.1f);
    b.use_source("draft model good.gguf");
    CHECK(std::fabs(b.rates.estimate(draft, 0.5f) - 0.5f) < 1e-6f); // nothing learnt about this one yet
    CHECK(b.rates.estimate(lookup, 0.5f) > 0.9f);                     // lookup's record is everyone's
    CHECK(b.skip == 0 && b.pause == 0);
    for (int i = 0; i < 40; i++) b.rates.observe(draft, true);
    for (int i = 0; i < 10; i++) b.rates.observe(medusa, true);
    b.use_source("heads 1");
    CHECK(std::fabs(b.rates.estimate(medusa, 0.5f) - 0.5f) < 1e-6f);
    b.use_source("draft model weak.gguf");
    CHECK(std::fabs(b.rates.estimate(draft, 0.5f) - weak) < 1e-6f);
    CHECK(b.skip == 3 && b.pause == 4);
    b.use_source("draft model good.gguf");
    CHECK(b.rates.estimate(draft, 0.5f) > 0.9f && b.rates.estimate(medusa, 0.5f) > 0.7f);
    std::printf("budget sources: a weak draft model's record (%.3f) stays with it\n", weak);
}

// The forecasts' record (sd_forecast): the margin by which a drafting step must beat plain decoding,
// and what an attempt of a drafter that decodes saved, which sets how soon the budget backs off.
static void test_forecast() {
    // The first step sets the start: 2 x SD_FORECAST_PRIOR = 8 tokens forecast and got, 4 x 100 us
    // priced and taken for drafting and for plain steps; a plain step that came true leaves margin 1.
    sd_forecast f;
    CHECK(near(f.margin(), 1.0) && near(f.value(), 0.0));
    f.observe(1, 1.0, 1, 100, 100, 100);
    CHECK(f.started && near(f.prior_tokens, 8.0) && near(f.prior_us, 400.0));
    CHECK(near(f.plain_priced, 500.0) && near(f.plain_took, 500.0) && near(f.margin(), 1.0));
    // A drafting step forecast 3 tokens and gave 2, on time: expected 8 + 3, got 8 + 2 (the fade
    // towards the start changes neither), so drafting came to 10 / 11 of its forecast: margin 1.1.
    f.observe(4, 3.0, 2, 250, 100, 250);
    CHECK(near(f.expected, 11.0) && near(f.got, 10.0) && near(f.priced, 650.0) && near(f.took, 650.0));
    CHECK(near(f.margin(), 1.1, 1e-9));
    // 200 plain steps that came true: the record fades back to its start (the 3 and 2 tokens to
    // 0.98^200 = 0.0176 of themselves): margin 1.002.
    for (int i = 0; i < 200; i++) f.observe(1, 1.0, 1, 100, 100, 100);
    CHECK(f.margin() > 1.0 && f.margin() < 1.005);
    // Forecasts that keep missing by half: the margin stops at SD_FORECAST_MAX. Forecasts beaten: 1.
    for (int i = 0; i < 100; i++) f.observe(4, 4.0, 2, 250, 100, 250);
    CHECK(near(f.margin(), SD_FORECAST_MAX));
    for (int i = 0; i < 300; i++) f.observe(4, 2.0, 4, 250, 100, 250);
    CHECK(near(f.margin(), 1.0));

    // Time: drafting steps 10 % over their price while plain steps are on time need a margin near 1.1
    // (1.094 with the start's weight: alternating steps, drafting's record 400 + 250 x 25.25 priced
    // against 400 + 275 x 25.25 taken); when plain steps run 10 % over their price too (stalls hit
    // both), they cancel out (0.9205 / 0.9141 = 1.007).
    double slow_margin = 0, both_margin = 0;
    {
        sd_forecast slow, both;
        for (int i = 0; i < 400; i++) {
            slow.observe(1, 1.0, 1, 100, 100, 100);
            slow.observe(3, 3.0, 3, 250, 100, 275);
            both.observe(1, 1.0, 1, 100, 100, 110);
            both.observe(3, 3.0, 3, 250, 100, 275);
        }
        slow_margin = slow.margin();
        both_margin = both.margin();
        CHECK(slow_margin > 1.08 && slow_margin < 1.1);
        CHECK(both_margin >= 1.0 && both_margin < 1.02);
        // a stall counts at most SD_COST_RISE times its price, as in the cost model
        sd_forecast stalled;
        stalled.observe(3, 3.0, 3, 250, 100, 10000);
        CHECK(near(stalled.took, 400.0 + 375.0));
    }

    // What attempts saved: 3 tokens for 200 us where plain decoding takes 100 a token saves 100 us
    // (a start of 4 attempts that saved a token each: 100 us); attempts that kept nothing save 0.
    {
        sd_forecast v;
        for (int i = 0; i < 50; i++) v.observe(3, 3.0, 3, 200, 100, 200, true);
        CHECK(near(v.value(), 100.0, 1e-6));
        for (int i = 0; i < 400; i++) v.observe(1, 1.0, 1, 100, 100, 100, true);
        CHECK(v.value() >= 0.0 && v.value() < 0.1);
        // steps that were not attempts (a pause, a drafter that does not decode) do not count
        const double before = v.value();
        for (int i = 0; i < 50; i++) v.observe(3, 3.0, 3, 200, 100, 200, false);
        CHECK(near(v.value(), before));
        // an attempt that lost time: 2 tokens for 300 us against 200 of plain decoding
        sd_forecast lost;
        for (int i = 0; i < 400; i++) lost.observe(3, 3.0, 2, 300, 100, 300, true);
        CHECK(lost.value() < -95.0);
    }

    // The back-off (sd_budget::kept): a drafter that decodes pauses after an empty step that took more
    // than what an attempt saves (at least a hundredth of a single token); one that only looks things
    // up, after one that took more than a hundredth.
    {
        sd_budget b;
        b.cost.us = {{1, 100.0}};
        for (int i = 0; i < 50; i++) b.forecast.observe(3, 3.0, 3, 200, 100, 200, true); // value 100 us
        b.kept(false, 5.0, true);
        CHECK(b.skip == 0 && b.pause == 0);   // 5 us < 100 us saved an attempt
        b.kept(false, 5.0, false);
        CHECK(b.skip == 1 && b.pause == 1);   // a lookup: 5 us > 1 us
        b.kept(true, 5.0, false);
        CHECK(b.pause == 0);
        for (int i = 0; i < 400; i++) b.forecast.observe(1, 1.0, 1, 100, 100, 100, true); // value ~0
        b.skip = 0;
        b.kept(false, 5.0, true);
        CHECK(b.skip == 1 && b.pause == 1);   // 5 us > max(1 us, ~0)
        b.skip = 0;
        b.pause = 0;
        b.kept(false, 0.5, true);
        CHECK(b.skip == 0 && b.pause == 0);   // below a hundredth: never a pause
    }

    // The margin in the cut: a chain of conf 0.5 on the concave curve {1: 1, 2: 1.2, 4: 1.9} is best
    // at one node (1.5 / 1.2 = 1.25 x plain decoding's rate; two: 1.75 / 1.55 = 1.129): kept with a
    // margin of 1.2, not with 1.3.
    {
        sd_cost_model concave;
        concave.us = {{1, 1.0}, {2, 1.2}, {4, 1.9}};
        sd_draft_tree chain;
        for (int32_t i = 0; i < 3; i++) sd_tree_add(chain, 400 + i, i - 1, 0.5f, 30 + i);
        const sd_bucket_stats none;
        double expected = 0, forecast = 0;
        std::vector<bool> keep = sd_budget_select(chain, none, concave, 64, 64, &expected, false, 1.2, &forecast);
        CHECK(count_kept(keep) == 1 && keep[0] && near(expected, 1.5) && near(forecast, 1.5));
        keep = sd_budget_select(chain, none, concave, 64, 64, &expected, false, 1.3, &forecast);
        CHECK(count_kept(keep) == 0 && near(expected, 1.0) && near(forecast, 1.0));
        // ranked by the optimistic estimates, the forecast keeps the plain ones: a kind never tried
        // counts as sure, so all three nodes pay (4 tokens / 1.9 = 2.1) and are expected to give 4,
        // while the forecast is 1 + 0.5 + 0.25 + 0.125
        keep = sd_budget_select(chain, none, concave, 64, 64, &expected, true, 1.0, &forecast);
        CHECK(count_kept(keep) == 3 && near(expected, 4.0) && near(forecast, 1.875));
        // auxiliary columns alone must beat plain decoding by the margin too: one column of a token
        // worth 0.5 gives 1.5 / 1.2 = 1.25
        CHECK(sd_budget_columns(concave, 0, 1.0, 0.5, 1, 1, 1.2) == 1);
        CHECK(sd_budget_columns(concave, 0, 1.0, 0.5, 1, 1, 1.3) == 0);
    }
    std::printf("forecasts: margin 1.1 after 2 tokens of 3 forecast; drafting 10 %% over its price: %.3f alone, %.3f "
                "beside plain steps as slow\n", slow_margin, both_margin);
}

int main() {
    test_tree_basics();
    test_cost_model();
    test_accept_model();
    test_budget();
    test_exploration();
    test_sources();
    test_forecast();
    test_lookup();
    test_recycling();
    test_auto();
    test_lookahead();
    return sd_test_finish("test-tree");
}
