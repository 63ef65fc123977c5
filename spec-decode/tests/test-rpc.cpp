// Models split over ggml-rpc-server processes on 127.0.0.1 (model/sd-rpc.cpp): greedy output over RPC
// equals local output for plain decoding and every strategy; seeded sampling repeats; a server killed
// or stopped mid-generation ends it with SD_ERR_RPC naming the server within the timeout, the process
// goes on and a local model keeps working; bad addresses, a port with nothing listening and a listener
// that is not an RPC server are refused with their reason.
//
// The servers are children of this test, killed at its end and, through PR_SET_PDEATHSIG, when it dies.
#include "sd-test-generate.h"
#include "sd-test-heads.h"
#include "model/sd-model.h"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <cstdio>
#include <cstring>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#ifndef LLAMASPEC_RPC_SERVER
#define LLAMASPEC_RPC_SERVER "/usr/libexec/x86_64-linux-gnu/llama/bin/ggml-rpc-server"
#endif

static const uint32_t k_timeout_ms = 2000;
static const int k_prompts = 5;
static const int k_tokens = 64;
static const char * const k_texts[k_prompts] = {
    "Once upon a time", "The little dog", "Lily and Tom went to the park.", "One day, a big bird", "Sam had a red ball.",
};

// A free TCP port on 127.0.0.1 (bound, read, released).
static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

static bool accepts(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t) port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0;
    close(fd);
    return ok;
}

struct server {
    pid_t pid = -1;
    int port = 0;
    std::string endpoint() const { return "127.0.0.1:" + std::to_string(port); }
};

static std::vector<pid_t> g_children;

static server start_server(int port = 0) {
    server s;
    s.port = port != 0 ? port : free_port();
    const pid_t parent = getpid();
    s.pid = fork();
    if (s.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        const int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        const std::string p = std::to_string(s.port);
        execl(LLAMASPEC_RPC_SERVER, "ggml-rpc-server", "-H", "127.0.0.1", "-p", p.c_str(), "-t", "1", (char *) nullptr);
        _exit(127);
    }
    g_children.push_back(s.pid);
    for (int i = 0; i < 200 && !accepts(s.port); i++) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    CHECK(accepts(s.port));
    return s;
}

static void kill_all() {
    for (pid_t pid : g_children) {
        kill(pid, SIGCONT);
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }
    g_children.clear();
}

static sd_status load(const std::vector<std::string> & servers, sd_model ** out, std::string & error) {
    sd_model_params p = sd_model_default_params();
    p.rpc_servers = servers;
    p.rpc_timeout_ms = k_timeout_ms;
    p.n_threads = 1;
    error.clear();
    const sd_status status = sd_model_load(sd_test_model_path().c_str(), p, out, error);
    std::printf("load over [%zu servers]: %s %s\n", servers.size(), sd_status_name(status), error.c_str());
    return status;
}

static sd_session * new_session(sd_model * model) {
    sd_session_params params = sd_session_default_params();
    params.n_ctx = 512;
    params.n_threads = 1;
    params.strict_numerics = true;
    sd_session * s = nullptr;
    std::string error;
    if (sd_session_init(model, params, &s, error) != SD_OK) std::fprintf(stderr, "session: %s\n", error.c_str());
    CHECK(s != nullptr);
    return s;
}

static std::vector<llama_token> tokenize(sd_model * model, const std::string & text) {
    std::vector<llama_token> out;
    std::string error;
    CHECK(sd_tokenize(model, text, true, false, out, error) == SD_OK);
    return out;
}

static sd_generation_params params_for(sd_spec_type type, sd_model * draft, const sd_heads * heads, float temperature) {
    sd_generation_params p = sd_generation_default_params();
    p.temperature = temperature;
    p.seed = 1234;
    p.max_tokens = k_tokens;
    p.spec.type = type;
    p.spec.draft.model = draft;
    p.spec.medusa.heads = heads;
    return p;
}

// Greedy output over RPC equals local output, for plain decoding and every strategy (the draft model and
// the heads local); seeded sampling gives the same tokens twice, and the local ones.
static void same_as_local(sd_model * remote, sd_model * local, sd_heads * remote_heads, sd_heads * local_heads) {
    sd_session * r = new_session(remote);
    sd_session * l = new_session(local);
    const sd_spec_type types[] = {SD_SPEC_NONE, SD_SPEC_LOOKUP, SD_SPEC_RECYCLING, SD_SPEC_LOOKAHEAD, SD_SPEC_AUTO,
                                  SD_SPEC_DRAFT_MODEL, SD_SPEC_MEDUSA};
    // With the budget and with fixed trees: whether the budget's drafts pay depends on the machine's
    // timing at the moment (it may rightly draft nothing), so only fixed trees must draft.
    for (sd_spec_type type : types) {
        for (bool adaptive : {true, false}) {
            if (type == SD_SPEC_NONE && !adaptive) continue;
            int same = 0;
            int drafted = 0;
            for (const char * text : k_texts) {
                const std::vector<llama_token> prompt = tokenize(local, text);
                const run_result want = sd_test_generate(l, prompt, params_for(SD_SPEC_NONE, nullptr, nullptr, 0.0f));
                sd_generation_params p = params_for(type, local, remote_heads, 0.0f);
                p.spec.adaptive = adaptive;
                const run_result got = sd_test_generate(r, prompt, p);
                CHECK(got.tokens.size() == (size_t) k_tokens);
                same += got.tokens == want.tokens;
                drafted += got.stats.n_drafted;
            }
            std::printf("greedy %-9s%s over RPC: %d of %d prompts equal to local plain decoding, %d drafted\n",
                        sd_spec_type_name(type), adaptive ? "" : " fixed", same, k_prompts, drafted);
            CHECK(same == k_prompts);
            // lookahead's window needs longer texts than these to find anything on this model
            if (!adaptive && type != SD_SPEC_LOOKAHEAD) CHECK(drafted > 0);
        }
    }
    // sampling: fresh sessions and fixed trees (the budget's trees follow measured costs, and the random
    // numbers drawn follow the trees)
    for (sd_spec_type type : {SD_SPEC_NONE, SD_SPEC_RECYCLING, SD_SPEC_DRAFT_MODEL}) {
        const std::vector<llama_token> prompt = tokenize(local, k_texts[0]);
        sd_generation_params p = params_for(type, local, nullptr, 0.8f);
        p.spec.adaptive = false;
        std::vector<llama_token> runs[3];
        for (int i = 0; i < 3; i++) {
            sd_session * s = new_session(i < 2 ? remote : local);
            runs[i] = sd_test_generate(s, prompt, p).tokens;
            sd_session_free(s);
        }
        std::printf("sampled %-9s over RPC: repeats %d, equal to local %d\n", sd_spec_type_name(type),
                    runs[0] == runs[1], runs[0] == runs[2]);
        CHECK(runs[0] == runs[1]);
        CHECK(runs[0] == runs[2]);
    }
    sd_session_free(r);
    sd_session_free(l);
}

// A generation over RPC while `fault` is done to the second server after a few steps: the step fails
// with SD_ERR_RPC naming that server within the timeout, later calls fail at once, and a local model
// keeps working.
static void fault(sd_model * local, const char * what, int signal) {
    server a = start_server();
    server b = start_server();
    server c = start_server();
    sd_model * remote = nullptr;
    sd_model * other = nullptr; // another model, on a server of its own
    std::string error;
    CHECK(load({a.endpoint(), b.endpoint()}, &remote, error) == SD_OK);
    CHECK(load({c.endpoint()}, &other, error) == SD_OK);
    if (remote == nullptr || other == nullptr) return;
    sd_session * o = new_session(other);
    // the other model generates on its own thread while the server goes away
    run_result during;
    std::thread other_thread([&] {
        sd_generation_params p = params_for(SD_SPEC_NONE, nullptr, nullptr, 0.0f);
        p.max_tokens = 300;
        during = sd_test_generate(o, tokenize(local, k_texts[3]), p);
    });
    sd_session * s = new_session(remote);
    sd_generation_params p = params_for(SD_SPEC_NONE, nullptr, nullptr, 0.0f);
    p.max_tokens = 400;
    CHECK(sd_generation_begin(s, tokenize(local, k_texts[1]), p, error) == SD_OK);
    sd_step_result step;
    int steps = 0;
    sd_status status = SD_OK;
    auto t0 = std::chrono::steady_clock::now();
    while (steps < 400) {
        if (steps == 5) {
            kill(b.pid, signal);
            t0 = std::chrono::steady_clock::now();
        }
        status = sd_generation_step(s, step, error);
        if (status != SD_OK || step.stop != SD_STOP_NONE) break;
        steps++;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s server %s after 5 steps: step %d ended %s after %.0f ms: %s\n", what, b.endpoint().c_str(), steps,
                sd_status_name(status), ms, error.c_str());
    CHECK(status == SD_ERR_RPC);
    CHECK(error.find(b.endpoint()) != std::string::npos);
    CHECK(ms < k_timeout_ms + 1500);
    // unusable from now on, at once
    const auto t1 = std::chrono::steady_clock::now();
    sd_session * again = nullptr;
    sd_session_params sp = sd_session_default_params();
    sp.n_ctx = 256;
    const sd_status second = sd_session_init(remote, sp, &again, error);
    const double ms2 = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
    std::printf("a new session on it: %s after %.0f ms: %s\n", sd_status_name(second), ms2, error.c_str());
    CHECK(second == SD_ERR_RPC);
    CHECK(ms2 < 100);
    // the model on the other server is untouched
    other_thread.join();
    CHECK(during.tokens.size() == 300);
    const run_result after = sd_test_generate(o, tokenize(local, k_texts[4]), params_for(SD_SPEC_NONE, nullptr, nullptr, 0.0f));
    CHECK(after.tokens.size() == (size_t) k_tokens);
    std::string none;
    CHECK(!sd_model_failure(other, none));
    sd_session_free(o);
    sd_model_free(other);
    kill(c.pid, SIGKILL);
    // the local model is untouched
    sd_session * l = new_session(local);
    const run_result ok = sd_test_generate(l, tokenize(local, k_texts[2]), params_for(SD_SPEC_RECYCLING, nullptr, nullptr, 0.0f));
    CHECK(ok.tokens.size() == (size_t) k_tokens);
    sd_session_free(l);
    // freeing what is left of the broken model must not touch the dead server (nor crash)
    sd_session_free(s);
    sd_model_free(remote);
    kill(a.pid, SIGKILL);
    kill(b.pid, SIGCONT);
    kill(b.pid, SIGKILL);
}

// A plain TCP listener that answers every connection with garbage.
static int garbage_listener(int & port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a));
    listen(fd, 4);
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    port = ntohs(a.sin_port);
    std::thread([fd] {
        for (;;) {
            const int c = accept(fd, nullptr, nullptr);
            if (c < 0) return;
            const char junk[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n0123456789abcdef0123456789abcdef";
            (void) !write(c, junk, sizeof(junk));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            close(c);
        }
    }).detach();
    return fd;
}

static void bad_addresses() {
    sd_model * m = nullptr;
    std::string error;
    for (const char * bad : {"localhost", "127.0.0.1:", ":50052", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:port",
                             "host name:50052"}) {
        CHECK(load({bad}, &m, error) == SD_ERR_INVALID_ARGUMENT);
        CHECK(m == nullptr);
        CHECK(error.find(bad) != std::string::npos);
    }
    const std::string nothing = "127.0.0.1:" + std::to_string(free_port());
    CHECK(load({nothing}, &m, error) == SD_ERR_RPC);
    CHECK(m == nullptr);
    CHECK(error.find(nothing) != std::string::npos);
    int port = 0;
    const int listener = garbage_listener(port);
    const std::string garbage = "127.0.0.1:" + std::to_string(port);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(load({garbage}, &m, error) == SD_ERR_RPC);
    std::printf("garbage listener refused after %.0f ms\n",
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    CHECK(m == nullptr);
    CHECK(error.find(garbage) != std::string::npos);
    shutdown(listener, SHUT_RDWR);
    close(listener);
}

int main() {
    std::signal(SIGPIPE, SIG_IGN); // as in the JVM: a write to a closed connection is an error, not a signal
    std::atexit(kill_all);
    std::string error;
    sd_model_params lp = sd_model_default_params();
    lp.n_threads = 1;
    sd_model * local = nullptr;
    if (sd_model_load(sd_test_model_path().c_str(), lp, &local, error) != SD_OK) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    bad_addresses();

    server a = start_server();
    server b = start_server();
    sd_model * remote = nullptr;
    CHECK(load({a.endpoint(), b.endpoint()}, &remote, error) == SD_OK);
    if (remote != nullptr) {
        const sd_model_info info = sd_model_get_info(remote);
        std::string devices;
        for (const std::string & d : info.devices) devices += " [" + d + "]";
        std::printf("devices:%s\n", devices.c_str());
        CHECK(devices.find("RPC server " + a.endpoint()) != std::string::npos);
        CHECK(devices.find(b.endpoint()) != std::string::npos);
        sd_heads * remote_heads = identity_heads_load(remote, 4, true);
        sd_heads * local_heads = identity_heads_load(local, 4, true);
        same_as_local(remote, local, remote_heads, local_heads);
        sd_heads_free(remote_heads);
        sd_heads_free(local_heads);
        sd_model_free(remote);
    }
    // a model loaded after an RPC model stays local
    sd_model * local2 = nullptr;
    CHECK(sd_model_load(sd_test_model_path().c_str(), lp, &local2, error) == SD_OK);
    if (local2 != nullptr) {
        const sd_model_info info = sd_model_get_info(local2);
        for (const std::string & d : info.devices) CHECK(d.find("RPC") == std::string::npos);
        sd_model_free(local2);
    }
    kill_all();

    fault(local, "killed", SIGKILL);
    fault(local, "stopped", SIGSTOP);

    // a server restarted on the same port: loading the model again works
    std::printf("restart\n");
    std::fflush(stdout);
    {
        server c = start_server();
        sd_model * m = nullptr;
        CHECK(load({c.endpoint()}, &m, error) == SD_OK);
        sd_session * s = m != nullptr ? new_session(m) : nullptr;
        kill(c.pid, SIGKILL);
        waitpid(c.pid, nullptr, 0);
        if (s != nullptr) {
            CHECK(sd_generation_begin(s, tokenize(local, k_texts[0]), params_for(SD_SPEC_NONE, nullptr, nullptr, 0.0f), error) != SD_OK ||
                  [&] { sd_step_result st; return sd_generation_step(s, st, error); }() == SD_ERR_RPC);
            sd_session_free(s);
        }
        sd_model_free(m);
        server again = start_server(c.port);
        sd_model * m2 = nullptr;
        CHECK(load({again.endpoint()}, &m2, error) == SD_OK);
        if (m2 != nullptr) {
            sd_session * s2 = new_session(m2);
            const run_result r = sd_test_generate(s2, tokenize(local, k_texts[0]), params_for(SD_SPEC_NONE, nullptr, nullptr, 0.0f));
            std::printf("after the restart on port %d: %zu tokens\n", c.port, r.tokens.size());
            CHECK(r.tokens.size() == (size_t) k_tokens);
            sd_session_free(s2);
            sd_model_free(m2);
        }
    }
    kill_all();
    sd_model_free(local);
    return sd_test_finish("test-rpc");
}
