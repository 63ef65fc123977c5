// The thread-count controller (sd-threads.h) against a simulated machine: decodes take a time that
// depends on the thread count and on whether other programs keep the cores busy, on a simulated
// clock. Checks: a fixed count never moves; on an idle machine the full count is kept (tries of
// fewer threads are rare and short); on a busy one the controller moves to fewer threads within a
// second and comes back within seconds once the machine is idle again; a try that runs far past the
// current count's time is stopped; the default is divided among the contexts decoding at once; a
// follower (a draft model's context) finds within its first decodes that a small model decodes
// faster on one thread, keeps a large one on two, and never uses more than its leader's count.
#ifndef LLAMASPEC_DEFAULT_TEST_MODEL
#define LLAMASPEC_DEFAULT_TEST_MODEL ""
#endif

#include "sd-test.h"

#include "engine/sd-threads.h"

#include <cstdint>
#include <cstdio>

// A machine with 2 cores. Idle: one thread decodes in 18 ms, two in 10 ms, and the calling thread
// gets all its time. Busy (one spinning process per core): one thread gets 2/3 of a core (27 ms),
// two threads stall at every operation (120 ms) and the calling thread gets 40 % of the time.
struct machine {
    bool    busy = false;
    int64_t now_us = 1000000;
    double  us(int32_t n) const { return busy ? (n == 1 ? 27000 : 120000) : (n == 1 ? 18000 : 10000); }
    double  share(int32_t n) const { return busy ? (n == 1 ? 0.66 : 0.40) : 1.0; }
};

struct tally {
    int64_t decodes = 0;
    int64_t on[3] = {0, 0, 0};
    int64_t stopped = 0;
};

// Runs decodes of one token for `seconds` of simulated time; a decode that passes its limit is
// stopped there and decoded again, as sd_context_decode does.
static tally run(sd_threads & t, machine & m, double seconds) {
    tally r;
    const int64_t end = m.now_us + (int64_t) (seconds * 1e6);
    while (m.now_us < end) {
        int64_t limit = 0;
        int32_t n = sd_threads_begin(t, 1, m.now_us, true, &limit);
        int64_t us = (int64_t) m.us(n);
        if (limit > 0 && us > limit) {
            m.now_us += limit;
            sd_threads_end(t, {1, n, limit, (int64_t) (limit * m.share(n)), m.now_us, true});
            r.stopped++;
            n = sd_threads_begin(t, 1, m.now_us, false, &limit);
            us = (int64_t) m.us(n);
        }
        m.now_us += us;
        sd_threads_end(t, {1, n, us, (int64_t) (us * m.share(n)), m.now_us, false});
        r.decodes++;
        if (n >= 1 && n <= 2) r.on[n]++;
    }
    return r;
}

static void fixed_count() {
    sd_threads t;
    sd_threads_init(t, 2, false);
    machine m;
    m.busy = true;
    const tally r = run(t, m, 10);
    CHECK(r.on[2] == r.decodes);
    CHECK(t.n_changes == 0);
    sd_threads_free(t);
}

static void idle_keeps_all() {
    sd_threads t;
    sd_threads_init(t, 2, true);
    machine m;
    const tally r = run(t, m, 60);
    std::printf("idle, 60 s: %lld decodes, %lld on one thread\n", (long long) r.decodes, (long long) r.on[1]);
    CHECK(t.n_cur == 2);
    CHECK(r.on[1] * 100 <= r.decodes);  // the tries of one thread cost under 1 % of the decodes
    sd_threads_free(t);
}

static void busy_then_idle() {
    sd_threads t;
    sd_threads_init(t, 2, true);
    machine m;
    run(t, m, 2);  // learn the idle times
    m.busy = true;
    run(t, m, 1);
    CHECK(t.n_cur == 1);  // moved within a second
    const tally busy = run(t, m, 30);
    std::printf("busy, 30 s: %lld decodes, %lld on two threads, %lld tries stopped\n", (long long) busy.decodes,
                (long long) busy.on[2], (long long) busy.stopped);
    CHECK(busy.on[1] * 100 >= busy.decodes * 95);  // the tries of two threads are few and stopped early
    CHECK(busy.stopped > 0);
    CHECK(t.n_cur == 1);
    m.busy = false;
    run(t, m, 12);  // the tries of two threads come at most 10 s apart
    CHECK(t.n_cur == 2);
    const tally idle = run(t, m, 10);
    CHECK(idle.on[2] * 100 >= idle.decodes * 97);
    sd_threads_free(t);
}

static void busy_from_the_start() {
    sd_threads t;
    sd_threads_init(t, 2, true);
    machine m;
    m.busy = true;
    run(t, m, 1);
    CHECK(t.n_cur == 1);
    sd_threads_free(t);
}

static void shared_among_contexts() {
    sd_threads a, b;
    sd_threads_init(a, 2, true);
    sd_threads_init(b, 2, true);
    int64_t now = 50000000;
    int64_t limit = 0;
    // b decodes, then a starts while b's decode is recent: each gets half
    CHECK(sd_threads_begin(b, 1, now, true, &limit) == 2);
    sd_threads_end(b, {1, 2, 10000, 10000, now + 10000, false});
    now += 10000;
    CHECK(sd_threads_active(now) == 1);
    CHECK(sd_threads_begin(a, 1, now, true, &limit) == 1);
    CHECK(sd_threads_active(now) == 2);
    sd_threads_end(a, {1, 1, 18000, 18000, now + 18000, false});
    now += 18000;
    CHECK(sd_threads_begin(b, 1, now, true, &limit) == 1);
    sd_threads_end(b, {1, 1, 18000, 18000, now + 18000, false});
    now += 18000;
    // b stops generating: a soon has both threads again
    now += SD_THREADS_ACTIVE_US + 1000;
    CHECK(sd_threads_begin(a, 1, now, true, &limit) == 2);
    sd_threads_end(a, {1, 2, 10000, 10000, now + 10000, false});
    // a fixed context counts too, and keeps its own count
    sd_threads f;
    sd_threads_init(f, 2, false);
    now += 100000;
    CHECK(sd_threads_begin(f, 1, now, true, &limit) == 2);
    CHECK(sd_threads_begin(a, 1, now, true, &limit) == 1);
    sd_threads_end(a, {1, 1, 18000, 18000, now + 18000, false});
    sd_threads_end(f, {1, 2, 10000, 10000, now + 10000, false});
    sd_threads_free(f);
    sd_threads_free(a);
    sd_threads_free(b);
    CHECK(sd_threads_active(now) == 0);
}

static void failed_decodes_teach_nothing() {
    sd_threads t;
    sd_threads_init(t, 2, true);
    int64_t now = 90000000, limit = 0;
    for (int i = 0; i < 1000; i++) {
        const int32_t n = sd_threads_begin(t, 1, now, true, &limit);
        now += 100;
        sd_threads_end(t, {1, n, -1, 0, now, false});  // cancelled: no time, no share
    }
    CHECK(t.n_cur == 2);
    CHECK(t.n_changes == 0);
    sd_threads_free(t);
}

// Decodes of one token by a follower whose times on one and on two threads are us1 and us2 (an idle
// machine), its leader using `cap` threads; returns how many ran on one thread.
static int64_t follow(sd_threads & t, int64_t & now, int32_t cap, double us1, double us2, int32_t decodes) {
    int64_t on_one = 0;
    for (int32_t i = 0; i < decodes; i++) {
        t.n_cap = cap;
        int64_t limit = 0;
        const int32_t n = sd_threads_begin(t, 1, now, true, &limit);
        CHECK(n >= 1 && n <= cap);
        const int64_t us = (int64_t) (n == 1 ? us1 : us2);
        now += us;
        sd_threads_end(t, {1, n, us, us, now, false});
        if (n == 1) on_one++;
        now += 30000;  // the leader's decode between
    }
    return on_one;
}

static void follower() {
    int64_t now = 200000000;
    // a drafter of stories260K's size: 0.3 ms on one thread, 0.6 ms on two; the count given is fixed
    sd_threads small;
    sd_threads_init(small, 2, false);
    sd_threads_follow(small);
    CHECK(sd_threads_active(now) == 0);  // unregistered: the leader's decodes count for both
    follow(small, now, 2, 300, 600, 12);
    CHECK(small.n_cur == 1);  // learnt within its first dozen decodes
    const int64_t on_one = follow(small, now, 2, 300, 600, 1000);  // 31 s
    std::printf("small follower, 1000 decodes: %lld on one thread\n", (long long) on_one);
    CHECK(on_one >= 960);  // the tries of two threads are few (6 tries of 5 decodes in 31 s)
    CHECK(small.n_cur == 1);
    // a large drafter: 6 ms on one thread, 3.5 ms on two: kept on two
    sd_threads large;
    sd_threads_init(large, 2, true);
    sd_threads_follow(large);
    const int64_t large_on_one = follow(large, now, 2, 6000, 3500, 1000);
    std::printf("large follower, 1000 decodes: %lld on one thread\n", (long long) large_on_one);
    CHECK(large.n_cur == 2);
    CHECK(large_on_one <= 25);  // 5 tries of 4 or 5 decodes
    // the leader moved to one thread (a busy machine): so does the follower, whatever it learnt
    CHECK(follow(large, now, 1, 6000, 3500, 50) == 50);
    sd_threads_free(small);
    sd_threads_free(large);
}

int main() {
    fixed_count();
    idle_keeps_all();
    busy_then_idle();
    busy_from_the_start();
    shared_among_contexts();
    failed_decodes_teach_nothing();
    follower();
    return sd_test_finish("test-threads");
}
