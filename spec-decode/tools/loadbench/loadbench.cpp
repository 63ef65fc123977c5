// llamaspec-loadbench: tokens per second on a busy machine. Runs SESSIONS sessions of one model,
// each on its own thread, generating without pause for SECONDS seconds (a new generation whenever
// one ends), optionally while BUSY child processes each spin on a core, and prints the total and
// per-session tokens/s and the threads the sessions ran on. ci/bench --contention runs it.
//
//   llamaspec-loadbench --model FILE [--threads 0] [--sessions 1] [--busy 0] [--seconds 10]
//                       [--tokens 128] [--ctx 1024] [--json FILE]
//
// --threads 0 leaves the threads automatic (the engine's default); a number fixes them. The busy
// processes are killed when the run ends, and also when this program dies (they watch their parent).
#include "spec-decode.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct load_params {
    std::string model;
    std::string json;
    int32_t     threads  = 0;
    int32_t     sessions = 1;
    int32_t     busy     = 0;
    double      seconds  = 10;
    int32_t     tokens   = 128;
    int32_t     n_ctx    = 1024;
};

struct session_result {
    int64_t     tokens = 0;
    int64_t     steps = 0;
    int64_t     thread_steps = 0; // sum over steps of the threads each ran on
    int32_t     min_threads = 0, max_threads = 0;
    std::string error;
};

static void usage(FILE * f) {
    std::fprintf(f, "usage: llamaspec-loadbench --model FILE [--threads 0 (automatic)] [--sessions 1] [--busy 0]\n"
                    "                           [--seconds 10] [--tokens 128] [--ctx 1024] [--json FILE]\n");
}

static bool parse_args(int argc, char ** argv, load_params & p, bool & help) {
    help = false;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") { help = true; return true; }
        if (i + 1 >= argc) { std::fprintf(stderr, "error: %s needs a value\n", a.c_str()); return false; }
        const char * v = argv[++i];
        char * end = nullptr;
        const double x = std::strtod(v, &end);
        const bool number = end != v && *end == '\0';
        if (a == "--model") p.model = v;
        else if (a == "--json") p.json = v;
        else if (a == "--threads" && number && x >= 0 && x <= 512) p.threads = (int32_t) x;
        else if (a == "--sessions" && number && x >= 1 && x <= 64) p.sessions = (int32_t) x;
        else if (a == "--busy" && number && x >= 0 && x <= 512) p.busy = (int32_t) x;
        else if (a == "--seconds" && number && x > 0 && x <= 3600) p.seconds = x;
        else if (a == "--tokens" && number && x >= 1 && x <= 100000) p.tokens = (int32_t) x;
        else if (a == "--ctx" && number && x >= 64 && x <= 1 << 20) p.n_ctx = (int32_t) x;
        else { std::fprintf(stderr, "error: bad option or value: %s %s\n", a.c_str(), v); return false; }
    }
    if (p.model.empty()) { std::fprintf(stderr, "error: --model is required\n"); return false; }
    return true;
}

// A child that keeps one core busy until killed, or until its parent is gone.
static pid_t start_busy(double seconds) {
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    alarm((unsigned) seconds + 60); // a bound in any case
    volatile uint64_t x = 0;
    for (;;) x = x + 1;
}

static const char * const k_openings[] = {
    "Once upon a time, there was a little girl named Lily.",
    "One day, a big dog went to the park to play with a ball.",
    "Tom and his mom went to the store to buy some food.",
    "There was a small bird who lived in a tall tree.",
};

static void run_session(sd_model * model, const load_params & p, int index, std::atomic<bool> & go,
                        std::atomic<bool> & stop, session_result & r) {
    std::string error;
    sd_session_params sp = sd_session_default_params();
    sp.n_ctx = (uint32_t) p.n_ctx;
    sd_session * session = nullptr;
    if (sd_session_init(model, sp, &session, error) != SD_OK) { r.error = error; return; }
    std::vector<llama_token> prompt;
    const char * text = k_openings[index % (int) (sizeof(k_openings) / sizeof(k_openings[0]))];
    if (sd_tokenize(model, text, true, false, prompt, error) != SD_OK) { r.error = error; sd_session_free(session); return; }
    sd_generation_params gp = sd_generation_default_params();
    gp.max_tokens = std::min(p.tokens, p.n_ctx - (int32_t) prompt.size() - 8);
    while (!go.load()) std::this_thread::yield();
    sd_step_result step;
    while (!stop.load() && r.error.empty()) {
        sd_session_reset(session);
        if (sd_generation_begin(session, prompt, gp, error) != SD_OK) { r.error = error; break; }
        while (!stop.load()) {
            if (sd_generation_step(session, step, error) != SD_OK) { r.error = error; break; }
            const int32_t threads = sd_session_threads(session);
            r.tokens += (int64_t) step.tokens.size();
            r.steps++;
            r.thread_steps += threads;
            r.min_threads = r.min_threads == 0 ? threads : std::min(r.min_threads, threads);
            r.max_threads = std::max(r.max_threads, threads);
            if (step.stop != SD_STOP_NONE) break;
        }
    }
    sd_session_free(session);
}

int main(int argc, char ** argv) {
    load_params p;
    bool help = false;
    if (!parse_args(argc, argv, p, help)) { usage(stderr); return 2; }
    if (help) { usage(stdout); return 0; }

    std::string error;
    sd_model_params mp = sd_model_default_params();
    mp.n_threads = p.threads;
    sd_model * model = nullptr;
    if (sd_model_load(p.model.c_str(), mp, &model, error) != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }

    std::vector<pid_t> busy;
    for (int i = 0; i < p.busy; i++) busy.push_back(start_busy(p.seconds));

    std::vector<session_result> results((size_t) p.sessions);
    std::atomic<bool> go{false}, stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < p.sessions; i++) {
        threads.emplace_back(run_session, model, std::cref(p), i, std::ref(go), std::ref(stop), std::ref(results[(size_t) i]));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // sessions made, busy processes running
    const auto t0 = std::chrono::steady_clock::now();
    go = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(p.seconds));
    stop = true;
    for (std::thread & t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (pid_t pid : busy) kill(pid, SIGKILL);
    for (pid_t pid : busy) waitpid(pid, nullptr, 0);
    sd_model_free(model);

    int rc = 0;
    int64_t total = 0;
    for (const session_result & r : results) {
        total += r.tokens;
        if (!r.error.empty()) { std::fprintf(stderr, "error: %s\n", r.error.c_str()); rc = 1; }
    }
    const std::string threads_label = p.threads == 0 ? "auto" : std::to_string(p.threads);
    std::printf("sessions %d, busy %d, threads %s, %.1f s: %.1f tokens/s in all;", p.sessions, p.busy,
                threads_label.c_str(), elapsed, total / elapsed);
    std::string json = "{\"model\": \"" + p.model + "\", \"sessions\": " + std::to_string(p.sessions) +
                       ", \"busy\": " + std::to_string(p.busy) + ", \"threads\": \"" + threads_label +
                       "\", \"seconds\": " + std::to_string(elapsed) + ", \"total_tps\": " + std::to_string(total / elapsed) +
                       ", \"per_session\": [";
    for (size_t i = 0; i < results.size(); i++) {
        const session_result & r = results[i];
        const double avg = r.steps > 0 ? (double) r.thread_steps / r.steps : 0;
        std::printf(" [%zu] %.1f t/s on %.2f threads (%d-%d)", i, r.tokens / elapsed, avg, r.min_threads, r.max_threads);
        json += std::string(i ? ", " : "") + "{\"tps\": " + std::to_string(r.tokens / elapsed) + ", \"threads\": " +
                std::to_string(avg) + "}";
    }
    std::printf("\n");
    json += "]}\n";
    if (!p.json.empty()) {
        FILE * f = std::fopen(p.json.c_str(), "w");
        if (f == nullptr || std::fputs(json.c_str(), f) < 0) { std::fprintf(stderr, "error: cannot write %s\n", p.json.c_str()); rc = 1; }
        if (f != nullptr) std::fclose(f);
    }
    return rc;
}
