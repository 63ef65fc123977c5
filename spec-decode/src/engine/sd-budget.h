// The hardware-aware budget: how many draft nodes a step should evaluate. A step that evaluates
// 1 + n tokens costs cost(1 + n) and yields 1 + (expected accepted nodes) tokens; the budget keeps
// the nodes that maximise tokens per unit of time, which is no speculation at all when drafts are
// unlikely or extra tokens are expensive (a CPU), and wide trees when they are nearly free (a GPU).
#pragma once

#include "draft/sd-tree.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

// Time of one step (a llama_decode and the work around it) by batch size: measured points, refined by
// the steps actually run. The points hold the curve's shape; `scale` follows the single-token step,
// which a generation runs most, so that sizes it seldom runs follow what changes every size (the KV
// cache growing deeper, other work on the machine) instead of keeping the times of the session's start.
//
// The scale moves the other sizes down but never up: a point costs at most what it took when last set
// (`stamp`). On a CPU with flash attention a single token's step grows by half when the KV cache
// passes 256 cells while a 2-token step barely changes (benchmarks.md, "The cost curve's saw-tooth"),
// and a shape scaled up with it priced 2 tokens at 2x one where they cost 1.4x; a budget that then
// never runs that size never learns otherwise. A cost too low is learnt from the steps it leads to.
//
// A cost too high is not, since the budget then never runs that size: a point set in a slow moment (the
// one decode measured at the start, or the one step that set a new size) would price its size (and
// the sizes interpolated beside it) out for the rest of the session. So a point not run for
// SD_COST_FORGET steps is forgotten where the curve without it is cheaper there by a twentieth or more:
// the budget may then run that size again and set its point from the step. A point that is right costs
// at most one step a little dearer than planned every SD_COST_FORGET steps.
//
// The single-token point cannot be forgotten (the curve is priced against it), and a generation whose
// every step drafts never runs it: one measured in a slow moment made plain steps look dear, and the
// budget drafted wide trees for the rest of the session. So once it has not been run for SD_COST_SINGLE
// steps it is stale: the engine's next step drafts nothing, and that step's time replaces the point.
// Where it came in cheaper than the point said, the points set no later than the single-token point
// (measured in the same moment, never run since) come down by the same factor: a point set in a slow
// moment keeps its size priced out (with the single-token point alone replaced, a session whose curve
// was measured while the machine was busy stopped drafting after it). A point brought too low is learnt
// from the next step of its size. The scale and the points set since stay as they are. One plain step in
// SD_COST_SINGLE costs a drafting generation a few tenths of a percent.
//
// A step counts at most SD_COST_RISE times what the curve priced it at (a size below every point as it
// came: the curve's guess there is proportional, far too low for a single token). Interference only ever
// adds time, and on a shared machine it comes in stalls: on the 2-core build machine, with the model's
// file mapped, a decode of 26 ms took 100-200 ms in two steps out of every 12-15, whatever their size.
// Counted in full in the running average the scale then was, one such step moved it 0.2 x 6 of the way
// up, doubling the single token's price while the other sizes, capped by their stamps, stayed: drafting
// then looked twice as cheap as it was, and a draft model accepted at 40 % drafted 3-4 tokens a step at
// 0.7x plain decoding. A real change of speed (the machine busy for good, a deeper KV cache) is followed
// in a few steps all the same: the scale once most of the single tokens in its window (SD_COST_WINDOW)
// agree, a point's running average by up to a tenth of the way each step, a stale single token's point
// by up to half.
static constexpr int64_t SD_COST_FORGET = 128;
static constexpr int64_t SD_COST_SINGLE = 32;
static constexpr double  SD_COST_RISE   = 1.5;
// The scale is the lower median of the last SD_COST_WINDOW single-token steps. A running average (each
// step 0.2 of the way) followed the mean of a skewed time, which stalls pull up, and swung with the
// last few steps; the budget drafted where a single token's price was momentarily high. A draft model
// accepted at 66 % with the Q8_0 model at temperature 0.8: single steps took 29.4 ms (median; mean
// 31.5), the running average priced them at 31-37 ms at the steps that drafted, where a 2-token step
// was priced 1.6 single tokens and took 2.4; drafting ran at 0.9x plain decoding.
static constexpr int32_t SD_COST_WINDOW = 9;

struct sd_cost_model {
    std::map<int32_t, double>  us;    // batch size -> microseconds, times scale
    std::map<int32_t, double>  stamp; // batch size -> the scale when its point was last set (absent: 1)
    std::map<int32_t, int64_t> seen;    // batch size -> the step when its point was last set (absent: 0)
    std::map<int32_t, int64_t> checked; // batch size -> the step when it was last kept by forget_stale (absent: 0)
    int64_t                    steps = 0; // steps observed
    double                     scale = 1.0;
    std::vector<double>        recent; // the last single-token steps' times over the point (at most SD_COST_WINDOW)

    bool   empty() const { return us.empty(); }
    // Interpolated between points, extrapolated linearly beyond them (with the steeper of the last
    // segment's and the whole curve's slope). Not monotone: CPU kernels work in blocks of rows, and
    // on the 2-core build machine a Q4_0 model's 8-token decode costs 3.1 single tokens where 7
    // cost 4.2 (4: 1.8, 3: 2.3).
    double cost(int32_t n) const;
    // A step of n tokens took t_us (counted at most SD_COST_RISE times its price): a new size becomes a
    // point; a single token joins the window whose median is the scale (a stale single token replaces
    // its point), another size moves its own point. Then stale points are checked (SD_COST_FORGET).
    void   observe(int32_t n, double t_us);
    // The single-token point has not been run for SD_COST_SINGLE steps: the next step should be one.
    bool   single_stale() const;

private:
    void   forget_stale();
    double shape(int32_t n) const;
    // A point's value in the shape: us, capped so that scale times it is at most its time when set.
    double point(std::map<int32_t, double>::const_iterator at) const;
};

// How often nodes of each bucket (draft/sd-drafter.h) were accepted: of the nodes tried (their parent
// was accepted), how many were. A node's estimate starts from its drafter's confidence, moved towards
// how often nodes of its kind (sd_bucket_kind: a draft model's top tokens, whatever their probability)
// were accepted, so a small draft model that is right far more often than its probabilities say gets
// its low-probability tokens tried too, while its runner-ups, a kind of their own, are judged by their
// own record; then to the bucket's own record as it fills.
struct sd_bucket_stats {
    std::map<int32_t, std::pair<double, double>> counts; // bucket -> (tried, accepted)
    std::map<int32_t, std::pair<double, double>> groups; // sd_bucket_kind -> (tried, accepted)

    // Estimated probability that a node is accepted given its parent was: (accepted + w p) / (tried + w)
    // over the bucket, with w = SD_PRIOR_WEIGHT and p = (accepted + w conf) / (tried + w) over the
    // buckets of its kind.
    float estimate(int32_t bucket, float conf) const;
    // The estimate made optimistic where the node's kind has been tried little: raised by
    // (1 - estimate) x 2 / (2 + tries of the kind), so a kind never tried counts as sure at its first
    // chance and the bonus is gone after some tens of tries. Without it a kind whose prior does not pay
    // for its cost is never kept, so never tried, and never learnt: a draft model whose probabilities
    // say 0.3 where it is right 0.85 of the time, in a session whose first text is one it is unsure of.
    // The tree cut ranks nodes and a draft model grows its chain by it.
    float explore(int32_t bucket, float conf) const;
    float explore_from(int32_t bucket, double estimate) const; // explore() of a known estimate
    // How many nodes of the bucket's kind were tried.
    double kind_tried(int32_t bucket) const;
    void  observe(int32_t bucket, bool accepted);
};

// Below this many tries of its kind, a draft model's chain that the optimism (sd_bucket_stats::explore)
// carries stops at the first length that beats plain decoding: a kind never tried counts as sure, and a
// sure chain grows to the deepest the curve allows, while what a try teaches is in its first nodes (a
// chain is tried up to its first rejection). On the 2-core build machine a fresh session's first
// drafting step with a draft model accepted at 70 % and the Q8_0 cost-scaled model was a chain of 16 at
// 311 ms (a single token: 24 ms) that gave 1 token: 2.9 % of a 384-token run, whose 41 other drafting
// steps together came out level with plain decoding.
static constexpr double SD_EXPLORE_TRIES = 8.0;

static constexpr double SD_PRIOR_WEIGHT = 4.0;

// How much acceptance each node's siblings leave it: siblings exclude each other, so a node is
// accepted at most where the siblings more likely than it (by `estimate`, the nodes' plain
// sd_bucket_stats::estimate) were not: 1 minus their sum, at least 0; 1 for the most likely.
// sd_budget_select caps every node's estimate, plain or optimistic, with it (so the plain estimates
// of siblings never add up to more than 1).
std::vector<double> sd_sibling_room(const sd_draft_tree & tree, const std::vector<double> & estimate);

// Chooses the nodes to evaluate. Nodes are ranked by their estimated probability of acceptance
// (the product of the conditional estimates along their path, each capped by sd_sibling_room); the
// prefix of that ranking with the highest (1 + expected accepted) / cost(1 + size) is kept, as long
// as it beats plain decoding (1 / cost(1)). At most max_nodes nodes and max_leaves leaves. Returns the keep mask; *expected
// receives the expected tokens of the step.
// explore: rank by sd_bucket_stats::explore instead of estimate (the engine does; the tests of the
// cut's arithmetic do not).
// margin: how much the kept nodes' rate must beat plain decoding's by (sd_forecast::margin).
// *forecast (when given) receives the step's expected tokens by the plain estimates, the optimism left out.
std::vector<bool> sd_budget_select(const sd_draft_tree & tree, const sd_bucket_stats & rates,
                                   const sd_cost_model & cost, int32_t max_nodes, int32_t max_leaves,
                                   double * expected, bool explore = false, double margin = 1.0,
                                   double * forecast = nullptr);

// How many auxiliary columns (of per_column tokens each, worth `value` accepted tokens per token)
// to evaluate beside a selected tree of n_nodes nodes that is expected to yield `expected` tokens:
// the count in [0, max_columns] with the most expected tokens per unit of time (with no tree, columns
// must beat plain decoding's rate by `margin`, sd_forecast::margin).
int32_t sd_budget_columns(const sd_cost_model & cost, int32_t n_nodes, double expected, double value,
                          int32_t per_column, int32_t max_columns, double margin = 1.0);

// The rate of a growing prefix of ranked nodes: expected tokens per unit of time, starting from
// plain decoding's (one token for cost(1)). sd_budget_select ranks a tree's nodes with it; a drafter
// that pays for every node it proposes (a draft model) grows its chain while a node raises the rate.
struct sd_rate {
    const sd_cost_model & cost;
    double per_node_us; // what drafting one node costs besides its verification (a draft model's decode)
    double tokens;      // expected tokens of the step so far (the bonus token included)
    double best;        // the best rate seen

    // margin: how much a step must beat plain decoding's rate by (sd_forecast::margin).
    explicit sd_rate(const sd_cost_model & cost, double per_node_us = 0.0, double margin = 1.0);

    // A step of n_nodes nodes: its verification, plus per_node_us per node.
    double step_cost(int32_t n_nodes) const;

    // Adds a node accepted with probability p (its whole path's), making n_nodes nodes in all; true
    // when the rate rose above the best so far (which it then becomes).
    bool add(double p, int32_t n_nodes);

    // A stopping rule that looks past a step in the cost curve (on CPUs a batch of 2 can cost nearly
    // 2 single steps while 3 or 4 cost little more than 2): whether a node accepted with probability p
    // (its path's), making n_nodes nodes, is worth adding because it raises the rate, or because some
    // continuation of up to max_more nodes, each accepted with conditional probability e (the node's
    // own, the only thing known of what follows), would. When it is, its tokens are added (and the
    // best rate raised if it rose). It looks at nothing after the node, so drawn chains stay exact.
    bool add_looking_ahead(double p, double e, int32_t n_nodes, int32_t max_more);
};

// How far the budget's forecasts of its drafting steps came true, against how far its price of a plain
// step did: the margin by which a drafting step's forecast rate must beat plain decoding's.
//
// The budget keeps a draft where its estimates say it pays best, so where they are too high more
// often than too low: with the realistic draft model (accepted at 70-80 %) and the Q8_0 cost-scaled
// model on the 2-core build machine, drafting steps gave 3.6-6 % fewer tokens than forecast and took
// 2-4 % longer than priced beside single tokens (whose stalls make both come out dearer than their
// median price), and on that curve (2 tokens cost 2.1 single ones, 4 cost 3.5) the drafting that was
// forecast to gain under a tenth lost: the realistic drafter ran at 0.95-0.98x plain decoding in 5 of
// 6 runs of 3 prompts. So the forecasts are checked against what came: tokens, and time over price,
// in drafting steps beside the same in single-token steps. Every record fades by SD_FORECAST_DECAY a
// step (any step: a memory of some fifty) towards a start of SD_FORECAST_PRIOR steps that came true,
// so one that stopped the drafting is forgotten while nothing is drafted.
// Where they came out worse, a drafting step must promise that much more than plain decoding; where
// better, nothing changes (the margin is at least 1, so this only ever drafts less). The margin is
// transient: a draft model is not judged too dear for a session by it (sd_rate's margin is 1 there).
static constexpr double SD_FORECAST_DECAY = 0.98;
static constexpr double SD_FORECAST_PRIOR = 4.0;
static constexpr double SD_FORECAST_MAX   = 1.3;

struct sd_forecast {
    double expected = 0, got = 0;           // tokens of drafting steps: forecast, produced
    double priced = 0, took = 0;            // time of drafting steps: priced, taken (microseconds)
    double plain_priced = 0, plain_took = 0; // of single-token steps
    double prior_tokens = 0, prior_us = 0;  // what each record starts from, and fades back to
    bool   started = false;

    // What the attempts to draft of a drafter that decodes to draft (a draft model) saved: the time
    // of plain decoding for the tokens a step gave less the time it took (its verification), 0 for an
    // attempt that kept nothing, decaying by SD_FORECAST_DECAY an attempt.
    double attempts = 0, saved = 0;

    // A step of n_eval tokens (1: plain) forecast to give `forecast` tokens at price_us (a single
    // token's: single_us) gave `produced` in took_us (counted at most SD_COST_RISE times its price, as
    // the cost model does); `attempt`: the drafter was asked to draft in this step and decodes to do so.
    void   observe(int32_t n_eval, double forecast, int32_t produced, double price_us, double single_us,
                   double took_us, bool attempt = false);
    // How much a drafting step's forecast rate must beat plain decoding's: in [1, SD_FORECAST_MAX].
    double margin() const;
    // What an attempt saved on average (microseconds; below 0 where attempts lost time).
    double value() const { return attempts > 0 ? saved / attempts : 0.0; }
};

// The longest back-off, in steps (sd_budget::kept).
static constexpr int32_t SD_BUDGET_MAX_PAUSE = 16;

// The budget of a session: what it learnt about acceptance and cost, and its back-off.
struct sd_budget {
    sd_bucket_stats rates;
    sd_cost_model   cost;
    sd_forecast     forecast;
    int32_t         skip  = 0; // steps left without drafting
    int32_t         pause = 0; // length of the next back-off

    // After steps where the budget kept nothing and drafting took a noticeable share of a step's time,
    // it backs off exponentially (1, 2, 4 .. 16 steps): such drafting would only cost time. Noticeable
    // is a hundredth of a single-token decode for drafters that only look things up (on stories260K a
    // twentieth let them cost 2-4 % while drafting nothing). For a drafter that decodes (a draft model)
    // it is what an attempt to draft saved on average (sd_forecast::value), at least that hundredth: a
    // pause skips the stretches where the text becomes predictable again (with a hundredth the perfect
    // drafter's speedup on the cost-scaled model's repetitive set fell from 1.33x to 1.18x), so a
    // drafter whose attempts pay drafts every step, while one that seldom pays backs off. (A fixed
    // twentieth before let the realistic draft model, whose drafts the budget cut at most steps on the
    // Q8_0 cost-scaled model, spend 0.31-0.35 ms (median) of a 22 ms step catching up and drafting:
    // 1.5 % of plain decoding's speed, for nothing.) paused(): the back-off holds this step. drafts(): whether this
    // step drafts, counting it against the back-off: not while paused, nor while the single-token
    // cost is stale (sd_cost_model::single_stale; that step is not a pause, and the back-off waits
    // for the next one).
    bool paused() const { return skip > 0; }
    bool drafts();

    // What the step kept, how long drafting took, and whether the drafter decodes to draft
    // (sd_drafter::costs_when_empty): nothing lengthens the next back-off, anything ends it.
    void kept(bool anything, double draft_us, bool decodes);

    // What the buckets of the model-based drafters (draft models and heads, SD_BUCKET_DRAFT_MODEL up
    // to SD_BUCKET_END) learnt is about one draft model or one set of heads: a weak draft model's
    // record would keep a good one from ever drafting in the same session, and the other way round.
    // use_source(key) sets those buckets aside under the current source's key and brings back what
    // was learnt under `key` (nothing the first time), the back-off and the forecasts' record included.
    std::string source;
    void use_source(const std::string & key);

private:
    struct learnt {
        std::map<int32_t, std::pair<double, double>> counts, groups;
        int32_t skip = 0, pause = 0;
        sd_forecast forecast;
    };
    std::map<std::string, learnt> others;
};
