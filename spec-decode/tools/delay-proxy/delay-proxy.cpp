// llamaspec-delay-proxy: forwards TCP connections on 127.0.0.1 with a fixed one-way delay each way, for
// ci/bench --rpc: what a network adds to every message between a model and its RPC servers. Each chunk
// read is written on after the delay, in order and pipelined (the delay does not limit the bandwidth),
// as Linux's netem delay would do on a link (netem is not in every kernel; this needs none).
//
//   llamaspec-delay-proxy LISTEN_PORT TARGET_PORT DELAY_MS
//
// Listens on 127.0.0.1:LISTEN_PORT and connects each client to 127.0.0.1:TARGET_PORT; no other address
// is ever a target. Runs until killed.
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using clock_type = std::chrono::steady_clock;

namespace {

struct chunk {
    clock_type::time_point due;
    std::vector<char> bytes; // empty: the sender closed
};

// One direction of a connection: a reader queues what it reads, a writer sends it when it is due.
void pump(int from, int to, std::chrono::microseconds delay) {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<chunk> queue;
    std::thread writer([&] {
        for (;;) {
            chunk c;
            {
                std::unique_lock<std::mutex> lock(mutex);
                cv.wait(lock, [&] { return !queue.empty(); });
                c = std::move(queue.front());
                queue.pop_front();
            }
            std::this_thread::sleep_until(c.due);
            if (c.bytes.empty()) {
                shutdown(to, SHUT_WR);
                return;
            }
            size_t sent = 0;
            while (sent < c.bytes.size()) {
                const ssize_t n = send(to, c.bytes.data() + sent, c.bytes.size() - sent, MSG_NOSIGNAL);
                if (n <= 0) {
                    shutdown(from, SHUT_RDWR);
                    return;
                }
                sent += (size_t) n;
            }
        }
    });
    std::vector<char> buffer(1 << 16);
    for (;;) {
        const ssize_t n = recv(from, buffer.data(), buffer.size(), 0);
        chunk c;
        c.due = clock_type::now() + delay;
        if (n > 0) c.bytes.assign(buffer.begin(), buffer.begin() + n);
        {
            std::lock_guard<std::mutex> lock(mutex);
            queue.push_back(std::move(c));
        }
        cv.notify_one();
        if (n <= 0) break;
    }
    writer.join();
}

void no_delay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

} // namespace

int main(int argc, char ** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: llamaspec-delay-proxy LISTEN_PORT TARGET_PORT DELAY_MS\n");
        return 2;
    }
    const int listen_port = std::atoi(argv[1]);
    const int target_port = std::atoi(argv[2]);
    const double delay_ms = std::atof(argv[3]);
    if (listen_port < 1 || listen_port > 65535 || target_port < 1 || target_port > 65535 || !(delay_ms >= 0 && delay_ms <= 10000)) {
        std::fprintf(stderr, "llamaspec-delay-proxy: ports must be 1-65535 and the delay 0-10000 ms\n");
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    const auto delay = std::chrono::microseconds((long long) (delay_ms * 1000));
    const int server = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t) listen_port);
    if (bind(server, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 || listen(server, 16) != 0) {
        std::perror("llamaspec-delay-proxy: listen");
        return 1;
    }
    for (;;) {
        const int client = accept(server, nullptr, nullptr);
        if (client < 0) continue;
        const int target = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in t{};
        t.sin_family = AF_INET;
        t.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        t.sin_port = htons((uint16_t) target_port);
        if (connect(target, reinterpret_cast<sockaddr *>(&t), sizeof(t)) != 0) {
            close(client);
            close(target);
            continue;
        }
        no_delay(client);
        no_delay(target);
        std::thread([client, target, delay] {
            std::thread back(pump, target, client, delay);
            pump(client, target, delay);
            back.join();
            close(client);
            close(target);
        }).detach();
    }
}
