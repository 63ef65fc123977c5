// How many threads a context's decodes use.
//
// A fixed count (the session or the model was given one) is used as given. Automatic threads (none
// given) start from the model's default (the cores, at most 8) and
//  - share the CPU with the other contexts of the process: the default is divided among those
//    decoding at the moment (a decode in the last SD_THREADS_ACTIVE_US counts), so two sessions on
//    two cores run one thread each instead of four threads fighting over two cores;
//  - follow the machine's load, learnt from the decodes' own times: ggml's CPU backend waits for
//    all its threads after every operation, so when another program takes a core, every thread
//    waits for the one that was preempted. When the thread that calls the decode gets much less
//    CPU time than the time that passes (other programs take its core), or, rarely, on a timer, a few decodes try half the threads; a count whose decodes
//    take on average at most SD_THREADS_BETTER of the current one's becomes the current one. Tries
//    of more threads come on a timer that backs off (and at least 20 times the last try's length
//    apart), so that an idle machine is found again within seconds and a busy one loses little to
//    the tries. A try's decode that runs far longer than the current count's is stopped and done
//    again on the current count.
// A follower (sd_threads_follow: a draft model's context, decoding on its target's threads between
// the target's decodes) learns the same way, automatic even when a count was given (that count
// caps it), at most the count its leader uses at the moment (n_cap), and tries half the threads from
// its first decodes on: a small model decodes faster on fewer threads, ggml's threads waiting for
// each other after every operation (stories260K as a drafter on 2 cores: 0.3 ms a token on one
// thread against 0.6 ms on two).
#pragma once

#include <cstdint>
#include <vector>

static constexpr int64_t SD_THREADS_ACTIVE_US = 50000;
static constexpr double  SD_THREADS_BETTER = 0.9;

struct sd_threads {
    bool    automatic = false;
    int32_t n_max = 1;      // the fixed count, or the most an automatic context uses
    int32_t n_learnt = 1;   // the count the machine's load calls for (the tries' verdict)
    int32_t n_cur = 1;      // the count automatic decodes use now: n_learnt within this context's share
    int32_t n_cap = 0;      // a follower's: the count its leader uses now (0: no such cap)
    bool    follower = false;
    int32_t n_changes = 0;  // times n_cur changed
    int32_t n_stopped = 0;  // tries stopped at their limit
    double  try_limit = 4;  // a try's decode is stopped after this many times the count in use's time,
    int64_t try_limit_us = 500;  // plus this (the tests make them tiny to stop every try)

    // Decode times (microseconds) by thread count and batch size, batches of up to SD_THREADS_BATCH
    // tokens only (a long prompt's batches say nothing about a generation step).
    struct times {
        double  mean = 0;   // moving average of the latest decodes (about 10): what throughput sees,
                            // the rare long stalls of a busy machine included
        int32_t n = 0;
    };
    static constexpr int32_t SD_THREADS_BATCH = 32;
    std::vector<times> seen;  // [threads][batch]

    // a try of another count (0: none running): its decodes, and their times against the current
    // count's recent times at the same batch size
    int32_t try_threads = 0;
    int32_t try_decodes = 0;
    int32_t try_samples = 0;
    double  try_ratio_sum = 0;
    int64_t try_started_us = 0;
    int64_t next_up_us = 0, up_interval_us = 0;
    int64_t next_down_us = 0, down_interval_us = 0;
    double  cpu_share = 1;     // moving average of the calling thread's CPU time / the decode's time
    int64_t next_busy_us = 0;  // a low share may start a try of fewer threads from then on
    int64_t busy_pause_us = 0; // the pause after such a try; doubles while they fail

    // what the registry of the process's contexts reads
    bool    decoding = false;
    int64_t last_end_us = 0;
};

// Registers t with the process's contexts (automatic or not: every context decoding takes cores).
void sd_threads_init(sd_threads & t, int32_t n_max, bool automatic);
// Unregisters it.
void sd_threads_free(sd_threads & t);
// Makes an initialised t a follower's (above): unregistered (its leader's decodes count for both) and
// automatic. Set t.n_cap before each decode.
void sd_threads_follow(sd_threads & t);

// The threads for a decode of n_tokens starting now; marks the context as decoding. When the decode
// is a try of another count (only if may_try), *limit_us receives the time after which to stop it
// (it would then be far slower than the count in use), else 0.
int32_t sd_threads_begin(sd_threads & t, int32_t n_tokens, int64_t now_us, bool may_try, int64_t * limit_us);
// A decode that sd_threads_begin announced.
struct sd_decode_time {
    int32_t n_tokens;
    int32_t n_threads;    // it ran on
    int64_t us;           // it took; negative: it failed or was cancelled, so its time says nothing
    int64_t cpu_us;       // CPU time the calling thread got meanwhile; 0: unknown
    int64_t end_us;       // when it ended
    bool    stopped;      // a try stopped at its limit (the try ends)
};
void sd_threads_end(sd_threads & t, const sd_decode_time & d);

// Contexts of the process that are decoding now or did in the last SD_THREADS_ACTIVE_US.
int32_t sd_threads_active(int64_t now_us);
