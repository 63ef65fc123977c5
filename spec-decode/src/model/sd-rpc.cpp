// Models split over machines with ggml's RPC backend; see sd-rpc.h.
#include "model/sd-rpc.h"
#include "model/sd-log.h"

#include "ggml-backend.h"
#include "ggml.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cstdio>
#include <sys/time.h>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unordered_map>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

// An abort of ggml while registering a server, thrown from the abort callback.
struct rpc_abort : std::runtime_error {
    using std::runtime_error::runtime_error;
};

ggml_abort_callback_t g_previous = nullptr;
thread_local int t_throw = 0;          // > 0 inside sd_rpc_connect
thread_local bool t_call_thread = false; // a call thread of sd_rpc_call

// Failures recorded by the abort callback, and the call threads finishing: one lock and one condition,
// so that a waiting caller wakes for either.
std::mutex g_mutex;
std::condition_variable g_changed;
uint64_t g_failures = 0;
std::string g_failure_message;
// Which server each failure was on, when known: ggml-rpc's dispatcher threads by thread id (found when
// a server is registered: the threads that appear), and the call threads by their link.
std::unordered_map<pid_t, std::string> g_thread_server;   // guarded by g_mutex; "a.b.c.d:port"
std::vector<std::string> g_failed_servers;                // guarded by g_mutex; grows
uint64_t g_unattributed = 0;                              // failures on threads of no known server
thread_local const std::vector<std::string> * t_link_servers = nullptr; // a call thread's link's servers

// ggml's message without its source location ("./src/ggml-rpc/ggml-rpc.cpp:650: Failed to ...").
std::string clean(const char * message) {
    std::string m = message != nullptr ? message : "";
    const size_t cut = m.find(": ");
    if (m.rfind("./", 0) == 0 && cut != std::string::npos) m = m.substr(cut + 2);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
}

void on_abort(const char * message) {
    if (t_throw > 0) {
        throw rpc_abort(clean(message));
    }
    const bool rpc = message != nullptr && std::strstr(message, "ggml-rpc") != nullptr;
    if (rpc || t_call_thread) {
        {
            std::lock_guard<std::mutex> lock(g_mutex);
            g_failures++;
            g_failure_message = clean(message);
            auto it = g_thread_server.find((pid_t) syscall(SYS_gettid));
            if (it != g_thread_server.end()) {
                g_failed_servers.push_back(it->second);
            } else if (t_link_servers != nullptr) {
                g_failed_servers.insert(g_failed_servers.end(), t_link_servers->begin(), t_link_servers->end());
            } else {
                g_unattributed++;
            }
        }
        g_changed.notify_all();
        // returning would abort the process: this thread waits for good instead
        for (;;) pause();
    }
    if (g_previous != nullptr) g_previous(message);
}

// ggml-rpc keeps one connection per endpoint string for the life of the process, and a broken model
// keeps its connections (we never free it): after a failure, the same string would give the dead
// connection again. So every connection after the first to an address is made through another
// spelling of it that ggml-rpc reads the same way (inet_addr, gethostbyname): its bytes in octal with n
// leading zeros, n counting the failures of links to that address.
std::mutex g_spelling_mutex;
std::unordered_map<std::string, int> g_failed_links; // "a.b.c.d:port" -> links to it that broke
std::vector<int> g_dead_fds;                          // the sockets of broken links, kept open by ggml-rpc

bool split_endpoint(const std::string & endpoint, std::string & host, std::string & port);

// The IPv4 address and port of an endpoint, as "a.b.c.d:port" and the address, or false.
bool ipv4_of(const std::string & endpoint, std::string & key, in_addr & address, std::string & port) {
    std::string host;
    if (!split_endpoint(endpoint, host, port)) return false;
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo * list = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &list) != 0 || list == nullptr) return false;
    address = reinterpret_cast<const sockaddr_in *>(list->ai_addr)->sin_addr;
    freeaddrinfo(list);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &address, text, sizeof(text));
    key = std::string(text) + ":" + port;
    return true;
}

// The endpoint string to give ggml-rpc for `endpoint` now.
std::string ggml_endpoint(const std::string & endpoint) {
    std::string key, port;
    in_addr address{};
    if (!ipv4_of(endpoint, key, address, port)) return endpoint;
    std::lock_guard<std::mutex> lock(g_spelling_mutex);
    const int failed = g_failed_links[key];
    if (failed == 0) return endpoint;
    // each byte in octal with `failed` leading zeros ("0177.00.00.01" for 127.0.0.1 after one failure)
    const uint32_t a = ntohl(address.s_addr);
    std::string spelled;
    for (int shift = 24; shift >= 0; shift -= 8) {
        char octal[8];
        std::snprintf(octal, sizeof(octal), "%o", (unsigned) ((a >> shift) & 0xff));
        spelled += std::string((size_t) failed, '0') + octal + (shift > 0 ? "." : "");
    }
    return spelled + ":" + port;
}

void forget_connections(const sd_rpc_link & link) {
    {
        std::lock_guard<std::mutex> lock(g_spelling_mutex);
        for (const auto & fds : link.fds) g_dead_fds.insert(g_dead_fds.end(), fds.begin(), fds.end());
    }
    std::lock_guard<std::mutex> lock(g_spelling_mutex);
    for (const std::string & key : *link.keys) g_failed_links[key]++;
}

bool split_endpoint(const std::string & endpoint, std::string & host, std::string & port) {
    const size_t colon = endpoint.rfind(':');
    if (colon == std::string::npos) return false;
    host = endpoint.substr(0, colon);
    port = endpoint.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return true;
}

// Whether `fd` is a socket connected to address:port (ggml's RPC client speaks IPv4 only).
bool connected_to(int fd, const in_addr & address, uint16_t port) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &len) != 0 || peer.ss_family != AF_INET) return false;
    const auto & p = reinterpret_cast<const sockaddr_in &>(peer);
    return p.sin_port == htons(port) && p.sin_addr.s_addr == address.s_addr;
}

// Whether the peer of a socket closed it (or the connection failed).
bool hung_up(int fd) {
    pollfd p{fd, (short) (POLLIN | POLLRDHUP), 0};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

std::string join(const std::vector<std::string> & items) {
    std::string out;
    for (const std::string & item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

// Why the link failed: a server that closed its connection, else the one that has been waited for the
// longest (sent to more recently than heard from).
std::string diagnose(sd_rpc_link & link) {
    size_t waited = SIZE_MAX;
    uint32_t waited_ms = 0;
    for (size_t i = 0; i < link.endpoints.size(); i++) {
        for (int fd : link.fds[i]) {
            if (hung_up(fd)) return "RPC server " + link.endpoints[i] + " closed the connection (it stopped or crashed)";
            tcp_info info{};
            socklen_t len = sizeof(info);
            if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
                info.tcpi_last_data_sent < info.tcpi_last_data_recv && (waited == SIZE_MAX || info.tcpi_last_data_recv > waited_ms)) {
                waited = i;
                waited_ms = info.tcpi_last_data_recv;
            }
        }
    }
    const std::string which = waited != SIZE_MAX ? "RPC server " + link.endpoints[waited]
                            : link.endpoints.size() == 1 ? "RPC server " + link.endpoints[0]
                                                         : "one of the RPC servers " + join(link.endpoints);
    return which + " did not answer within " + std::to_string(link.timeout_ms) + " ms";
}

std::vector<pid_t> threads_now() {
    std::vector<pid_t> out;
    DIR * dir = opendir("/proc/self/task");
    if (dir == nullptr) return out;
    while (dirent * entry = readdir(dir)) {
        if (entry->d_name[0] != '.') out.push_back((pid_t) std::atoi(entry->d_name));
    }
    closedir(dir);
    return out;
}

// Each endpoint as failures are recorded: "a.b.c.d:port", or the endpoint when it does not resolve.
std::shared_ptr<const std::vector<std::string>> server_keys(const std::vector<std::string> & endpoints) {
    auto keys = std::make_shared<std::vector<std::string>>();
    for (const std::string & endpoint : endpoints) {
        std::string key, port;
        in_addr address{};
        keys->push_back(ipv4_of(endpoint, key, address, port) ? key : endpoint);
    }
    return keys;
}

bool closed_any(const sd_rpc_link & link) {
    for (const auto & fds : link.fds) {
        for (int fd : fds) {
            if (hung_up(fd)) return true;
        }
    }
    return false;
}

sd_status broken(sd_rpc_link & link, std::string & error) {
    std::lock_guard<std::mutex> lock(link.mutex);
    return sd_fail(error, SD_ERR_RPC, link.error + "; the model cannot be used any more: load it again");
}

void set_timeout(int fd, uint32_t ms) {
    timeval tv{};
    tv.tv_sec  = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

} // namespace

void sd_rpc_install(void) {
    static std::once_flag once;
    std::call_once(once, [] { g_previous = ggml_set_abort_callback(on_abort); });
}

bool sd_rpc_endpoint_valid(const std::string & endpoint, std::string & error) {
    std::string host, port;
    if (!split_endpoint(endpoint, host, port) || host.empty() || port.empty()) {
        error = "RPC server \"" + endpoint + "\" is not HOST:PORT";
        return false;
    }
    for (char c : port) {
        if (c < '0' || c > '9') {
            error = "RPC server \"" + endpoint + "\": the port is not a number";
            return false;
        }
    }
    const long p = port.size() > 5 ? 0 : std::strtol(port.c_str(), nullptr, 10);
    if (p < 1 || p > 65535) {
        error = "RPC server \"" + endpoint + "\": the port must be from 1 to 65535";
        return false;
    }
    for (char c : host) {
        if (!(std::isalnum((unsigned char) c) || c == '.' || c == '-' || c == ':' || c == '_' || c == '%')) {
            error = "RPC server \"" + endpoint + "\": the host has the character '" + std::string(1, c) + "'";
            return false;
        }
    }
    return true;
}

sd_status sd_rpc_connect(sd_rpc_link & link, std::vector<ggml_backend_device *> & devices, std::string & error) {
    ggml_backend_reg_t reg = ggml_backend_reg_by_name("RPC");
    if (reg == nullptr) {
        return sd_fail(error, SD_ERR_RPC, "ggml's RPC backend is not installed (libggml-rpc.so in ggml's backend "
                                          "folder; Debian's package libggml0-backend-rpc)");
    }
    typedef ggml_backend_reg_t (*add_server_t)(const char * endpoint);
    auto add = reinterpret_cast<add_server_t>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_rpc_add_server"));
    if (add == nullptr) {
        return sd_fail(error, SD_ERR_RPC, "ggml's RPC backend has no ggml_backend_rpc_add_server (too old)");
    }
    link.keys = server_keys(link.endpoints);
    for (size_t e = 0; e < link.endpoints.size(); e++) {
        const std::string & endpoint = link.endpoints[e];
        ggml_backend_reg_t server = nullptr;
        const std::string spelled = ggml_endpoint(endpoint);
        const std::vector<pid_t> before = threads_now();
        t_throw++;
        try {
            server = add(spelled.c_str());
        } catch (const rpc_abort & e) {
            t_throw--;
            return sd_fail(error, SD_ERR_RPC, "cannot use RPC server " + endpoint + ": " + e.what());
        }
        t_throw--;
        {
            // the threads registering made are ggml-rpc's for this server (its dispatcher)
            const std::string & key = (*link.keys)[e];
            std::lock_guard<std::mutex> lock(g_mutex);
            for (pid_t tid : threads_now()) {
                if (std::find(before.begin(), before.end(), tid) == before.end()) g_thread_server[tid] = key;
            }
        }
        const size_t n = server != nullptr ? ggml_backend_reg_dev_count(server) : 0;
        if (n == 0) {
            return sd_fail(error, SD_ERR_RPC, "RPC server " + endpoint + " offers no device");
        }
        for (size_t i = 0; i < n; i++) {
            devices.push_back(ggml_backend_reg_dev_get(server, i));
            link.device_endpoints.push_back(endpoint);
        }
    }
    sd_rpc_watch(link);
    return SD_OK;
}

void sd_rpc_watch(sd_rpc_link & link) {
    link.fds.assign(link.endpoints.size(), {});
    std::vector<in_addr> addresses(link.endpoints.size());
    std::vector<uint16_t> ports(link.endpoints.size(), 0); // 0: not resolved, matches no socket
    for (size_t i = 0; i < link.endpoints.size(); i++) {
        std::string key, port;
        if (ipv4_of(link.endpoints[i], key, addresses[i], port)) ports[i] = (uint16_t) std::atoi(port.c_str());
    }
    DIR * dir = opendir("/proc/self/fd");
    if (dir == nullptr) return;
    while (dirent * entry = readdir(dir)) {
        const int fd = std::atoi(entry->d_name);
        if (fd <= 2 || fd == dirfd(dir)) continue;
        {
            std::lock_guard<std::mutex> lock(g_spelling_mutex);
            if (std::find(g_dead_fds.begin(), g_dead_fds.end(), fd) != g_dead_fds.end()) continue;
        }
        for (size_t i = 0; i < addresses.size(); i++) {
            if (ports[i] != 0 && connected_to(fd, addresses[i], ports[i])) {
                link.fds[i].push_back(fd);
                set_timeout(fd, link.timeout_ms);
            }
        }
    }
    closedir(dir);
}

sd_status sd_rpc_call(sd_rpc_link * link, const std::function<void()> & fn, std::string & error, bool bounded) {
    if (link == nullptr || !link->active()) {
        fn();
        return SD_OK;
    }
    if (link->broken) return broken(*link, error);
    struct state {
        bool done = false;
    };
    auto st   = std::make_shared<state>();
    auto task = std::make_shared<std::function<void()>>(fn);
    const std::shared_ptr<const std::vector<std::string>> keys = link->keys; // set by sd_rpc_connect
    uint64_t failures;
    size_t seen_failed;
    uint64_t seen_unattributed;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        failures = g_failures;
        seen_failed = g_failed_servers.size();
        seen_unattributed = g_unattributed;
    }
    std::thread([st, task, keys] {
        t_call_thread = true;
        t_link_servers = keys.get();
        try {
            (*task)();
        } catch (...) {
            // llama.cpp's C API does not throw; nothing to carry back
        }
        {
            std::lock_guard<std::mutex> lock(g_mutex);
            st->done = true;
        }
        g_changed.notify_all();
    }).detach();
    // the sockets' own timeout fails a server that stops answering; this deadline is the last resort
    const auto deadline = std::chrono::steady_clock::now() +
                          (bounded ? std::chrono::milliseconds(link->timeout_ms + 1000) : std::chrono::hours(24 * 365));
    std::unique_lock<std::mutex> lock(g_mutex);
    for (;;) {
        if (st->done) return SD_OK;
        if (g_failures != failures) {
            failures = g_failures;
            // a failure on one of our servers ends the call; one on another model's server does not
            bool ours = closed_any(*link);
            for (size_t i = seen_failed; i < g_failed_servers.size() && !ours; i++) {
                ours = std::find(keys->begin(), keys->end(), g_failed_servers[i]) != keys->end();
            }
            seen_failed = g_failed_servers.size();
            if (ours) break;
            if (g_unattributed != seen_unattributed) {
                // a failure on a thread of no known server: ours if this call does not finish soon (a
                // load, which may send gigabytes, gets the whole timeout)
                seen_unattributed = g_unattributed;
                const auto grace = bounded ? std::chrono::milliseconds(200) : std::chrono::milliseconds(link->timeout_ms);
                if (!g_changed.wait_for(lock, grace, [&] { return st->done || g_failures != failures; })) break;
            }
            continue;
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        g_changed.wait_until(lock, deadline);
    }
    lock.unlock();
    {
        std::lock_guard<std::mutex> link_lock(link->mutex);
        if (!link->broken) {
            link->error = diagnose(*link);
            link->broken = true;
            forget_connections(*link);
            // the call thread must never go on with objects its caller gives up: cut the connections,
            // so that ggml-rpc fails (and parks) whatever still waits on them
            for (const auto & fds : link->fds) {
                for (int fd : fds) shutdown(fd, SHUT_RDWR);
            }
        }
    }
    sd_log_take_last_error();
    return broken(*link, error);
}
