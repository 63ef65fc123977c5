#include "engine/sd-budget.h"
#include "draft/sd-drafter.h"

#include <algorithm>
#include <array>
#include <numeric>

namespace {

// The step recorded for batch size n in `steps` (seen, checked); 0 when none is.
int64_t step_of(const std::map<int32_t, int64_t> & steps, int32_t n) {
    auto it = steps.find(n);
    return it == steps.end() ? 0 : it->second;
}

} // namespace

double sd_cost_model::cost(int32_t n) const {
    return scale * shape(n);
}

double sd_cost_model::point(std::map<int32_t, double>::const_iterator at) const {
    if (at->first <= 1) return at->second;
    auto s = stamp.find(at->first);
    const double then = s == stamp.end() ? 1.0 : s->second;
    return at->second * std::min(1.0, then / scale);
}

double sd_cost_model::shape(int32_t n) const {
    if (us.empty()) return (double) n;
    auto hi = us.lower_bound(n);
    if (hi != us.end() && hi->first == n) return point(hi);
    if (hi == us.begin()) {
        // below the smallest point: proportional to it
        return point(hi) * (double) n / (double) hi->first;
    }
    auto lo = std::prev(hi);
    if (hi == us.end()) {
        // beyond the largest point: linear, with the steeper of the last two points' slope and the
        // whole curve's (or proportional with one point)
        if (lo == us.begin()) return point(lo) * (double) n / (double) lo->first;
        auto lo2 = std::prev(lo);
        const auto first = us.begin();
        const double last_slope = (point(lo) - point(lo2)) / (double) (lo->first - lo2->first);
        const double mean_slope = (point(lo) - point(first)) / (double) (lo->first - first->first);
        const double slope = std::max(0.0, std::max(last_slope, mean_slope));
        return point(lo) + slope * (double) (n - lo->first);
    }
    const double f = (double) (n - lo->first) / (double) (hi->first - lo->first);
    return point(lo) + f * (point(hi) - point(lo));
}

bool sd_cost_model::single_stale() const {
    return us.find(1) != us.end() && steps - step_of(seen, 1) >= SD_COST_SINGLE;
}

void sd_cost_model::observe(int32_t n, double t_us) {
    const bool stale = n == 1 && single_stale();
    // a stall says nothing of the size (below every point the curve's guess is proportional, too low)
    if (!us.empty() && n >= us.begin()->first) t_us = std::min(t_us, SD_COST_RISE * cost(n));
    steps++;
    auto it = us.find(n);
    if (stale) {
        // not run for SD_COST_SINGLE steps: this step is the single token's time now, whatever the
        // other sizes did meanwhile (they kept their own points); those set no later than it was
        // follow it down
        const double ratio = t_us / (scale * it->second);
        const int64_t then = step_of(seen, 1);
        it->second = t_us / scale;
        for (double & r : recent) r /= ratio; // the same times against the new point
        if (ratio < 1.0) {
            for (auto & point : us) {
                if (point.first > 1 && step_of(seen, point.first) <= then) point.second *= ratio;
            }
        }
    } else if (it != us.end() && n == 1) {
        // the single-token step, the one a generation runs most: the whole curve follows the lower
        // median of the last SD_COST_WINDOW (the scale before them counting as one while there are fewer)
        if (recent.empty()) recent.push_back(scale);
        recent.push_back(t_us / it->second);
        if (recent.size() > (size_t) SD_COST_WINDOW) recent.erase(recent.begin());
        std::array<double, SD_COST_WINDOW> sorted{}; // on the stack: this runs every single-token step
        std::copy(recent.begin(), recent.end(), sorted.begin());
        const auto end = sorted.begin() + (long) recent.size();
        const auto mid = sorted.begin() + (long) (recent.size() - 1) / 2;
        std::nth_element(sorted.begin(), mid, end);
        scale = *mid;
    } else {
        if (it == us.end()) {
            us[n] = t_us / scale;
        } else {
            // a point held down by the cap was a guess (its time at another scale): this step replaces it
            const double now = point(it);
            const double w = now < it->second ? 1.0 : 0.2;
            it->second = (1.0 - w) * now + w * t_us / scale;
        }
        stamp[n] = scale;
    }
    seen[n] = steps;
    forget_stale();
}

void sd_cost_model::forget_stale() {
    for (auto it = us.begin(); it != us.end();) {
        const int32_t n = it->first;
        if (n <= 1 || steps - std::max(step_of(seen, n), step_of(checked, n)) < SD_COST_FORGET) {
            ++it;
            continue;
        }
        checked[n] = steps; // kept: checked again SD_COST_FORGET steps from now
        sd_cost_model without = *this;
        without.us.erase(n);
        if (without.shape(n) <= 0.95 * shape(n)) {
            stamp.erase(n);
            seen.erase(n);
            checked.erase(n);
            it = us.erase(it);
        } else {
            ++it;
        }
    }
}

float sd_bucket_stats::estimate(int32_t bucket, float conf) const {
    double p = conf;
    auto g = groups.find(sd_bucket_kind(bucket));
    if (g != groups.end()) p = (g->second.second + SD_PRIOR_WEIGHT * conf) / (g->second.first + SD_PRIOR_WEIGHT);
    auto it = counts.find(bucket);
    const double tried = it == counts.end() ? 0.0 : it->second.first;
    const double accepted = it == counts.end() ? 0.0 : it->second.second;
    return (float) ((accepted + SD_PRIOR_WEIGHT * p) / (tried + SD_PRIOR_WEIGHT));
}

float sd_bucket_stats::explore(int32_t bucket, float conf) const {
    return explore_from(bucket, estimate(bucket, conf));
}

float sd_bucket_stats::explore_from(int32_t bucket, double e) const {
    return (float) (e + (1.0 - e) * 2.0 / (2.0 + kind_tried(bucket)));
}

double sd_bucket_stats::kind_tried(int32_t bucket) const {
    auto g = groups.find(sd_bucket_kind(bucket));
    return g == groups.end() ? 0.0 : g->second.first;
}

void sd_bucket_stats::observe(int32_t bucket, bool accepted) {
    for (std::pair<double, double> * c : {&counts[bucket], &groups[sd_bucket_kind(bucket)]}) {
        c->first += 1;
        c->second += accepted ? 1 : 0;
    }
}

std::vector<double> sd_sibling_room(const sd_draft_tree & tree, const std::vector<double> & e) {
    const int32_t n = sd_tree_size(tree);
    // the nodes by parent, and among siblings most likely first, ties in tree order
    std::vector<int32_t> by_parent((size_t) n);
    std::iota(by_parent.begin(), by_parent.end(), 0);
    std::sort(by_parent.begin(), by_parent.end(), [&](int32_t a, int32_t b) {
        const int32_t pa = tree.parent[(size_t) a], pb = tree.parent[(size_t) b];
        if (pa != pb) return pa < pb;
        if (e[(size_t) a] != e[(size_t) b]) return e[(size_t) a] > e[(size_t) b];
        return a < b;
    });
    std::vector<double> room((size_t) n, 1.0);
    double ahead = 0;
    for (int32_t j = 0; j < n; j++) {
        const int32_t k = by_parent[(size_t) j];
        if (j == 0 || tree.parent[(size_t) k] != tree.parent[(size_t) by_parent[(size_t) j - 1]]) ahead = 0;
        room[(size_t) k] = std::max(0.0, 1.0 - ahead);
        ahead += e[(size_t) k];
    }
    return room;
}

std::vector<bool> sd_budget_select(const sd_draft_tree & tree, const sd_bucket_stats & rates,
                                   const sd_cost_model & cost, int32_t max_nodes, int32_t max_leaves,
                                   double * expected, bool explore, double margin, double * forecast) {
    const int32_t n = sd_tree_size(tree);
    std::vector<bool> keep((size_t) n, false);
    // Conditional estimates, ranked by the optimistic ones (explore) or the plain ones. Siblings
    // exclude each other: one is accepted only where those more likely than it were not, so each is
    // capped at what the plain estimates of the siblings ahead of it leave (sd_sibling_room); the most
    // likely keeps its own estimate. Without the cap a fresh session's first draft-model step ranked
    // every untried runner-up as sure beside its untried top token, and kept all 32 nodes. (Before,
    // siblings whose plain estimates added up to more than 1 were all scaled down to sum to 1, which
    // took a known top token of 0.95 to 0.65 beside a seldom-tried runner-up estimated at 0.5, and so
    // cut a draft model's greedy chains at 4-5 tokens where 8 would pay.)
    std::vector<double> cond((size_t) n), plain((size_t) n);
    for (int32_t i = 0; i < n; i++) {
        const int32_t b = tree.bucket[(size_t) i];
        const double e = rates.estimate(b, tree.conf[(size_t) i]);
        plain[(size_t) i] = e;
        cond[(size_t) i] = explore ? rates.explore_from(b, e) : e;
    }
    const std::vector<double> room = sd_sibling_room(tree, plain);
    // p: a node's path probability by the estimates it is ranked by; plain_p: by the plain ones (the
    // step's forecast)
    std::vector<double> p((size_t) n), plain_p((size_t) n);
    for (int32_t i = 0; i < n; i++) {
        const int32_t parent = tree.parent[(size_t) i];
        cond[(size_t) i] = std::min(cond[(size_t) i], room[(size_t) i]);
        p[(size_t) i] = cond[(size_t) i] * (parent < 0 ? 1.0 : p[(size_t) parent]);
        plain_p[(size_t) i] = std::min(plain[(size_t) i], room[(size_t) i]) * (parent < 0 ? 1.0 : plain_p[(size_t) parent]);
    }
    // Best first; a parent is at least as likely as its child, and ties keep tree order, so every
    // prefix of this ranking is a tree.
    std::vector<int32_t> order((size_t) n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return p[(size_t) a] != p[(size_t) b] ? p[(size_t) a] > p[(size_t) b] : a < b;
    });

    // A node drawn from a drafter's distribution is verified by rejection sampling against it, which is
    // exact only if whether the node is verified does not depend on what was drawn: so with drawn nodes
    // the ranking is a stopping rule: each node is kept while it, or a continuation projected from its
    // own estimate, raises the rate (sd_rate::add_looking_ahead), and the first node that is not ends
    // it; nothing kept is taken back (a node's rank and rate depend on the estimates of the nodes
    // before it, never on those after it).
    const bool stopping_rule = sd_tree_has_drawn(tree);
    sd_rate rate(cost, 0.0, margin);
    int32_t best_n = 0;
    double best_tokens = 1.0;
    std::vector<int32_t> children((size_t) n, 0);
    int32_t leaves = 0;
    const int32_t limit = std::min(n, max_nodes);
    for (int32_t k = 0; k < limit; k++) {
        const int32_t node = order[(size_t) k];
        const int32_t parent = tree.parent[(size_t) node];
        if (parent >= 0 && !keep[(size_t) parent]) break; // cannot happen with a consistent ranking
        // a node adds a leaf unless it extends one
        const int32_t new_leaves = leaves + ((parent >= 0 && children[(size_t) parent] == 0) ? 0 : 1);
        if (new_leaves > max_leaves) break;
        keep[(size_t) node] = true;
        leaves = new_leaves;
        if (parent >= 0) children[(size_t) parent]++;
        if (stopping_rule) {
            if (!rate.add_looking_ahead(p[(size_t) node], cond[(size_t) node], k + 1, limit - (k + 1))) break;
            best_n = k + 1;
            best_tokens = rate.tokens;
        } else if (rate.add(p[(size_t) node], k + 1)) {
            best_n = k + 1;
            best_tokens = rate.tokens;
        }
    }
    std::fill(keep.begin(), keep.end(), false);
    for (int32_t k = 0; k < best_n; k++) keep[(size_t) order[(size_t) k]] = true;
    if (expected != nullptr) *expected = best_tokens;
    if (forecast != nullptr) {
        *forecast = 1.0;
        for (int32_t k = 0; k < best_n; k++) *forecast += plain_p[(size_t) order[(size_t) k]];
    }
    return keep;
}

int32_t sd_budget_columns(const sd_cost_model & cost, int32_t n_nodes, double expected, double value,
                          int32_t per_column, int32_t max_columns, double margin) {
    int32_t best = 0;
    // without a tree the columns are the step's whole draft, and must beat plain decoding by the margin
    double best_rate = expected / cost.cost(1 + n_nodes) * (n_nodes == 0 ? margin : 1.0);
    for (int32_t c = 1; c <= max_columns; c++) {
        const int32_t extra = c * per_column;
        const double rate = (expected + value * (double) extra) / cost.cost(1 + n_nodes + extra);
        if (rate > best_rate) {
            best_rate = rate;
            best = c;
        }
    }
    return best;
}

sd_rate::sd_rate(const sd_cost_model & c, double per_node, double margin)
    : cost(c), per_node_us(per_node), tokens(1.0), best(margin / c.cost(1)) {}

void sd_forecast::observe(int32_t n_eval, double forecast, int32_t produced, double price_us, double single,
                          double took_us, bool attempt) {
    if (n_eval < 1 || !(price_us > 0) || !(single > 0)) return;
    if (!started) {
        prior_tokens = 2.0 * SD_FORECAST_PRIOR;
        prior_us = SD_FORECAST_PRIOR * single;
        expected = got = prior_tokens;
        priced = took = plain_priced = plain_took = prior_us;
        attempts = SD_FORECAST_PRIOR;
        saved = SD_FORECAST_PRIOR * single;
        started = true;
    }
    took_us = std::min(took_us, SD_COST_RISE * price_us);
    if (attempt) {
        // against plain decoding as it came out (its steps' time over their price)
        const double plain_us = plain_took / plain_priced * single;
        attempts = SD_FORECAST_DECAY * attempts + 1.0;
        saved = SD_FORECAST_DECAY * saved + (n_eval == 1 ? 0.0 : (double) produced * plain_us - took_us);
    }
    // every record fades towards its start, so that steps that no longer draft forget why
    const auto fade = [](double & x, double start) { x = SD_FORECAST_DECAY * x + (1.0 - SD_FORECAST_DECAY) * start; };
    fade(expected, prior_tokens);
    fade(got, prior_tokens);
    fade(priced, prior_us);
    fade(took, prior_us);
    fade(plain_priced, prior_us);
    fade(plain_took, prior_us);
    if (n_eval == 1) {
        plain_priced += price_us;
        plain_took += took_us;
    } else {
        expected += forecast;
        got += (double) produced;
        priced += price_us;
        took += took_us;
    }
}

double sd_forecast::margin() const {
    if (!started) return 1.0;
    // drafting's rate came to (got / expected) x (priced / took) of its forecast, plain decoding's to
    // plain_priced / plain_took of its price
    const double drafting = (got / expected) * (priced / took);
    const double plain    = plain_priced / plain_took;
    return std::min(SD_FORECAST_MAX, std::max(1.0, plain / drafting));
}

double sd_rate::step_cost(int32_t n_nodes) const {
    return cost.cost(n_nodes + 1) + per_node_us * (double) n_nodes;
}

bool sd_rate::add(double p, int32_t n_nodes) {
    tokens += p;
    const double r = tokens / step_cost(n_nodes);
    if (r <= best) return false;
    best = r;
    return true;
}

bool sd_rate::add_looking_ahead(double p, double e, int32_t n_nodes, int32_t max_more) {
    const double t = tokens + p;
    const double r = t / step_cost(n_nodes);
    bool worth = r > best;
    double more = t, next = p;
    for (int32_t j = 1; !worth && j <= max_more; j++) {
        next *= e;
        more += next;
        worth = more / step_cost(n_nodes + j) > best;
    }
    if (!worth) return false;
    tokens = t;
    if (r > best) best = r;
    return true;
}

void sd_budget::use_source(const std::string & key) {
    if (key == source) return;
    const auto model_based = [](int32_t bucket) { return bucket >= SD_BUCKET_DRAFT_MODEL && bucket < SD_BUCKET_END; };
    const auto move = [&](std::map<int32_t, std::pair<double, double>> & from, std::map<int32_t, std::pair<double, double>> & to) {
        to.clear();
        for (auto it = from.begin(); it != from.end();) {
            if (model_based(it->first)) {
                to.insert(*it);
                it = from.erase(it);
            } else {
                ++it;
            }
        }
    };
    learnt & old = others[source];
    move(rates.counts, old.counts);
    move(rates.groups, old.groups);
    old.skip = skip;
    old.pause = pause;
    old.forecast = forecast;
    learnt & back = others[key];
    rates.counts.insert(back.counts.begin(), back.counts.end());
    rates.groups.insert(back.groups.begin(), back.groups.end());
    skip = back.skip;
    pause = back.pause;
    forecast = back.forecast;
    others.erase(key);
    source = key;
}

bool sd_budget::drafts() {
    if (cost.single_stale()) return false; // this step measures the single token; the back-off waits
    if (skip == 0) return true;
    skip--;
    return false;
}

void sd_budget::kept(bool anything, double draft_us, bool decodes) {
    const double noticeable = cost.cost(1) / 100;
    if (anything || draft_us < (decodes ? std::max(noticeable, forecast.value()) : noticeable)) {
        pause = 0;
    } else {
        pause = std::min(SD_BUDGET_MAX_PAUSE, std::max(1, pause * 2));
        skip = pause;
    }
}
