#include "engine/sd-threads.h"

#include <algorithm>
#include <mutex>

static constexpr int64_t UP_INTERVAL_US = 500000;       // first try of more threads, then doubling to
static constexpr int64_t UP_INTERVAL_MAX_US = 10000000;  // this
static constexpr int64_t DOWN_INTERVAL_US = 2000000;     // the same for fewer threads while the CPU share is fine
static constexpr int64_t DOWN_INTERVAL_MAX_US = 32000000;
static constexpr int32_t TRY_SAMPLES = 4;        // compared decodes a try needs
static constexpr int64_t TRY_MIN_US = 10000;     // and the time it lasts at least (stalls are rare events)
static constexpr int32_t TRY_DECODES = 64;       // decodes a try takes at most
static constexpr double  MEAN_WEIGHT = 0.1;
static constexpr double  CPU_SHARE_LOW = 0.6;    // a calling thread with less CPU than this share of the time: busy
static constexpr double  CPU_SHARE_WEIGHT = 0.2;
static constexpr int64_t BUSY_PAUSE_US = 50000;  // after a try, a low share starts none for this long, doubling
static constexpr int64_t BUSY_PAUSE_MAX_US = 10000000;  // while such tries fail, up to this (a GPU decode
                                                        // leaves the calling thread waiting: its share is low)

static std::mutex                 g_mutex;
static std::vector<sd_threads *> g_contexts;

static int32_t active_locked(int64_t now_us) {
    int32_t n = 0;
    for (const sd_threads * t : g_contexts) {
        if (t->decoding || (t->last_end_us > 0 && now_us - t->last_end_us < SD_THREADS_ACTIVE_US)) n++;
    }
    return n;
}

int32_t sd_threads_active(int64_t now_us) {
    std::lock_guard<std::mutex> lock(g_mutex);
    return active_locked(now_us);
}

void sd_threads_init(sd_threads & t, int32_t n_max, bool automatic) {
    t.automatic = automatic;
    t.n_max = std::max(1, n_max);
    t.n_learnt = t.n_max;
    t.n_cur = t.n_max;
    t.seen.assign((size_t) (t.n_max + 1) * (sd_threads::SD_THREADS_BATCH + 1), sd_threads::times{});
    t.up_interval_us = UP_INTERVAL_US;
    t.down_interval_us = DOWN_INTERVAL_US;
    t.busy_pause_us = BUSY_PAUSE_US;
    std::lock_guard<std::mutex> lock(g_mutex);
    g_contexts.push_back(&t);
}

void sd_threads_free(sd_threads & t) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_contexts.erase(std::remove(g_contexts.begin(), g_contexts.end(), &t), g_contexts.end());
}

void sd_threads_follow(sd_threads & t) {
    sd_threads_free(t);
    t.automatic = true;
    t.follower = true;
}

static sd_threads::times * seen_at(sd_threads & t, int32_t n_threads, int32_t n_tokens) {
    if (n_threads < 1 || n_threads > t.n_max || n_tokens < 1 || n_tokens > sd_threads::SD_THREADS_BATCH) return nullptr;
    return &t.seen[(size_t) n_threads * (sd_threads::SD_THREADS_BATCH + 1) + (size_t) n_tokens];
}

static void start_try(sd_threads & t, int32_t n_threads, int64_t now_us) {
    t.try_threads = n_threads;
    t.try_decodes = 0;
    t.try_samples = 0;
    t.try_ratio_sum = 0;
    t.try_started_us = now_us;
}

int32_t sd_threads_begin(sd_threads & t, int32_t n_tokens, int64_t now_us, bool may_try, int64_t * limit_us) {
    *limit_us = 0;
    int32_t active;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        t.decoding = true;
        active = active_locked(now_us);
    }
    if (!t.automatic) return t.n_max;

    int32_t cap = std::max(1, t.n_max / std::max(1, active));
    if (t.n_cap > 0) cap = std::min(cap, t.n_cap);
    const int32_t use = std::min(t.n_learnt, cap);
    if (use != t.n_cur) {
        t.n_cur = use;
        t.n_changes++;
        t.try_threads = 0;  // a try compares with the count in use; that count just changed
    }
    if (t.next_up_us == 0) {
        t.next_up_us = now_us + t.up_interval_us;
        t.next_down_us = t.follower ? now_us : now_us + t.down_interval_us;
    }
    // a try needs this size's recent time on the count in use to compare with
    const sd_threads::times * cur = seen_at(t, t.n_cur, n_tokens);
    if (!may_try || cur == nullptr || cur->n < 2) return t.n_cur;
    if (t.try_threads == 0) {
        if (t.n_cur < cap && now_us >= t.next_up_us) {
            start_try(t, std::min(cap, 2 * t.n_cur), now_us);
        } else if (t.n_cur > 1 && now_us >= t.next_down_us) {
            start_try(t, std::max(1, t.n_cur / 2), now_us);
        }
    }
    if (t.try_threads == 0) return t.n_cur;
    // the first decode on a new count also wakes the threads that joined (they slept meanwhile): it is
    // not compared, and only stopped when far slower
    *limit_us = (int64_t) ((t.try_decodes == 0 ? 5 * t.try_limit : t.try_limit) * cur->mean) + t.try_limit_us;
    return t.try_threads;
}

static void end_try(sd_threads & t, int64_t now_us) {
    const bool    up = t.try_threads > t.n_cur;
    const int64_t took = now_us - t.try_started_us;
    const double  ratio = t.try_samples > 0 ? t.try_ratio_sum / t.try_samples : 0;
    const bool    better = t.try_samples > 0 && ratio < SD_THREADS_BETTER;
    if (better) {
        t.n_learnt = t.try_threads;
        t.n_cur = t.try_threads;
        t.n_changes++;
        t.up_interval_us = UP_INTERVAL_US;
        t.down_interval_us = DOWN_INTERVAL_US;
        t.busy_pause_us = BUSY_PAUSE_US;
        t.cpu_share = 1;
        t.next_up_us = now_us + t.up_interval_us;
        t.next_down_us = now_us + t.down_interval_us;
    } else if (up) {
        t.up_interval_us = std::min(2 * t.up_interval_us, UP_INTERVAL_MAX_US);
        t.next_up_us = now_us + std::max(t.up_interval_us, 20 * took);
    } else {
        t.down_interval_us = std::min(2 * t.down_interval_us, DOWN_INTERVAL_MAX_US);
        t.next_down_us = now_us + std::max(t.down_interval_us, 20 * took);
        t.busy_pause_us = std::min(2 * t.busy_pause_us, BUSY_PAUSE_MAX_US);
    }
    t.next_busy_us = now_us + t.busy_pause_us;
    t.try_threads = 0;
}

void sd_threads_end(sd_threads & t, const sd_decode_time & d) {
    const int32_t n_tokens = d.n_tokens, n_threads = d.n_threads;
    const int64_t now_us = d.end_us;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        t.decoding = false;
        t.last_end_us = now_us;
    }
    if (!t.automatic || d.us < 0) return;
    if (d.stopped) {
        t.n_stopped++;
        if (t.try_threads == n_threads) {
            t.try_samples = 0;  // no sample: not better
            end_try(t, now_us);
        }
        return;
    }
    sd_threads::times * s = seen_at(t, n_threads, n_tokens);
    if (s == nullptr) return;
    const double dt = (double) std::max<int64_t>(d.us, 1);
    const bool   trying = t.try_threads != 0 && n_threads == t.try_threads;
    if (trying && t.try_decodes == 0) {
        t.try_decodes++;
        return;  // the warm-up: not compared, and not a time of the count in the long run
    }
    if (trying) {
        const sd_threads::times * cur = seen_at(t, t.n_cur, n_tokens);
        if (cur != nullptr && cur->n >= 2) {
            t.try_ratio_sum += dt / cur->mean;
            t.try_samples++;
        }
        t.try_decodes++;
    }
    s->mean  = s->n == 0 ? dt : (1 - MEAN_WEIGHT) * s->mean + MEAN_WEIGHT * dt;
    s->n++;
    // the calling thread kept off its core: the next decode tries fewer threads. (Decode times alone
    // say less: they grow with the KV cache and vary with the batch.)
    if (!trying && n_threads == t.n_cur && d.cpu_us > 0) {
        t.cpu_share += CPU_SHARE_WEIGHT * (std::min(1.0, (double) d.cpu_us / dt) - t.cpu_share);
        if (t.n_cur > 1 && t.try_threads == 0 && t.cpu_share < CPU_SHARE_LOW && now_us >= t.next_busy_us) {
            t.next_down_us = now_us;
        }
    }
    if (trying && ((t.try_samples >= TRY_SAMPLES && now_us - t.try_started_us >= TRY_MIN_US) ||
                   t.try_decodes >= TRY_DECODES)) {
        end_try(t, now_us);
    }
}
