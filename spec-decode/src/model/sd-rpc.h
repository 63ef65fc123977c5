// Models split over machines with ggml's RPC backend (ggml-rpc-server on each machine), and what keeps
// the process alive when a server goes away.
//
// ggml's RPC client aborts the process when a server is unreachable or stops answering
// (GGML_ABORT). We install a ggml abort callback (sd_rpc_install, from sd_backend_init) that turns such
// an abort into an error instead:
//   - on a thread inside sd_rpc_connect (registering a server), it throws, and the load fails with
//     the server's address;
//   - on any other thread (ggml-rpc's own dispatcher threads, or our call threads below) it records the
//     failure and parks the thread for good, since returning would abort the process. A parked thread
//     uses no CPU.
// Every llama.cpp call of an RPC model that can talk to a server runs through sd_rpc_call: on a call
// thread of its own, which the caller waits for until it finishes, a failure is recorded, or the
// model's timeout passes. Then the model is broken for good: every later call fails at once, and its
// llama.cpp objects are never freed (freeing them would talk to the dead server); reload the model.
// Sockets to the servers get the timeout as their receive and send timeout, so a server that stops
// answering fails the call within it.
#pragma once

#include "spec-decode.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct ggml_backend_device;

// The RPC servers of one model and their state.
struct sd_rpc_link {
    std::vector<std::string> endpoints;   // "host:port", as given
    std::vector<std::vector<int>> fds;    // the sockets to each endpoint, found after connecting
    std::vector<std::string> device_endpoints; // the endpoint of each device sd_rpc_connect gave, in order
    // each endpoint as failures are recorded, "a.b.c.d:port" (the endpoint when it does not resolve);
    // set by sd_rpc_connect, shared with the call threads
    std::shared_ptr<const std::vector<std::string>> keys;
    uint32_t timeout_ms = 0;
    std::atomic<bool> broken{false};
    std::mutex mutex;
    std::string error;                    // why it broke

    bool active() const { return !endpoints.empty(); }
};

// Installs the abort callback (once; chains to the one before for aborts that are not RPC failures).
void sd_rpc_install(void);

// Checks "host:port" syntax (host: a name, an IPv4 address or [IPv6]; port 1-65535).
bool sd_rpc_endpoint_valid(const std::string & endpoint, std::string & error);

// Registers each server with ggml's RPC backend and returns their devices. SD_ERR_RPC naming the
// address when a server cannot be reached or does not speak the protocol.
sd_status sd_rpc_connect(sd_rpc_link & link, std::vector<ggml_backend_device *> & devices, std::string & error);

// Finds the link's sockets and gives them its timeout (call after connecting and after creating
// contexts, which may open more).
void sd_rpc_watch(sd_rpc_link & link);

// Runs fn, which calls llama.cpp for a model on `link`: directly when the link is not active, else on
// a call thread as described above. SD_ERR_RPC (naming the server) when the link is or becomes broken.
// `bounded`: the call also ends after the link's timeout (plus a second) however the sockets fare; a
// model's load, which may send gigabytes, is bounded by its sockets' timeouts only.
sd_status sd_rpc_call(sd_rpc_link * link, const std::function<void()> & fn, std::string & error, bool bounded = true);
