// Backend loading and log routing. llama.cpp logs through one process-wide callback and may
// split a line into several calls (GGML_LOG_LEVEL_CONT); lines are reassembled per thread here.
#include "model/sd-log.h"
#include "model/sd-rpc.h"

#include "ggml-backend.h"

#include <cstdlib>
#include <mutex>

sd_status sd_fail(std::string & error, sd_status status, std::string message) {
    error = std::move(message);
    return status;
}

static std::atomic<sd_log_callback> g_log_callback{nullptr};
static std::atomic<void *>          g_log_user_data{nullptr};

struct sd_log_line {
    std::string     text;
    ggml_log_level  level = GGML_LOG_LEVEL_INFO;
};

static thread_local sd_log_line  t_line;
static thread_local std::string  t_last_error;
static thread_local const std::atomic<bool> * t_cancel = nullptr;
static thread_local const std::atomic<bool> * t_stop = nullptr;

sd_log_cancel_scope::sd_log_cancel_scope(const std::atomic<bool> * cancel, const std::atomic<bool> * stop) {
    t_cancel = cancel;
    t_stop = stop;
}
sd_log_cancel_scope::~sd_log_cancel_scope() {
    t_cancel = nullptr;
    t_stop = nullptr;
}

static void sd_log_emit(const sd_log_line & line) {
    ggml_log_level level = line.level;
    if (level == GGML_LOG_LEVEL_ERROR) {
        if ((t_cancel != nullptr && t_cancel->load()) || (t_stop != nullptr && t_stop->load())) {
            level = GGML_LOG_LEVEL_DEBUG; // an aborted computation: the caller asked for it
        } else {
            t_last_error = line.text;
        }
    }
    sd_log_callback callback = g_log_callback.load();
    if (callback != nullptr) {
        callback(level, line.text.c_str(), g_log_user_data.load());
    }
}

static void sd_log_receive(ggml_log_level level, const char * text, void * /*user_data*/) {
    if (text == nullptr) {
        return;
    }
    if (level != GGML_LOG_LEVEL_CONT) {
        if (!t_line.text.empty()) {
            sd_log_emit(t_line);
            t_line.text.clear();
        }
        t_line.level = level;
    }
    for (const char * p = text; *p != '\0'; p++) {
        if (*p == '\n') {
            sd_log_emit(t_line);
            t_line.text.clear();
        } else {
            t_line.text += *p;
        }
    }
}

void sd_log_set(sd_log_callback callback, void * user_data) {
    g_log_user_data.store(user_data);
    g_log_callback.store(callback);
}

std::string sd_log_take_last_error(void) {
    std::string last;
    last.swap(t_last_error);
    return last;
}

static std::mutex  g_backend_mutex;
static std::string g_backend_dir;
static bool        g_backends_loaded = false;

bool sd_backend_set_dir(const char * dir) {
    std::lock_guard<std::mutex> lock(g_backend_mutex);
    if (g_backends_loaded) return false;
    g_backend_dir = dir != nullptr ? dir : "";
    return true;
}

void sd_backend_init(void) {
    static std::once_flag once;
    std::call_once(once, [] {
        std::lock_guard<std::mutex> lock(g_backend_mutex);
        g_backends_loaded = true;
        // Our receiver is installed for good: it forwards to the callback set by sd_log_set, or
        // drops the line, so llama.cpp never writes to the host's stderr.
        llama_log_set(sd_log_receive, nullptr);
        ggml_log_set(sd_log_receive, nullptr);
        const char * env = std::getenv("LLAMASPEC_BACKEND_DIR");
        const std::string dirs = env != nullptr && env[0] != '\0' ? env : g_backend_dir;
        if (dirs.empty()) {
            ggml_backend_load_all();
        } else {
            // a list like PATH: each folder's backends, in order
            size_t start = 0;
            while (start <= dirs.size()) {
                size_t end = dirs.find(':', start);
                if (end == std::string::npos) end = dirs.size();
                if (end > start) ggml_backend_load_all_from_path(dirs.substr(start, end - start).c_str());
                start = end + 1;
            }
        }
        llama_backend_init();
        sd_rpc_install();
    });
}

const char * sd_status_name(sd_status status) {
    switch (status) {
        case SD_OK:                   return "SD_OK";
        case SD_ERR_INVALID_ARGUMENT: return "SD_ERR_INVALID_ARGUMENT";
        case SD_ERR_MODEL_LOAD:       return "SD_ERR_MODEL_LOAD";
        case SD_ERR_CONTEXT_INIT:     return "SD_ERR_CONTEXT_INIT";
        case SD_ERR_CONTEXT_OVERFLOW: return "SD_ERR_CONTEXT_OVERFLOW";
        case SD_ERR_DECODE:           return "SD_ERR_DECODE";
        case SD_ERR_TEMPLATE:         return "SD_ERR_TEMPLATE";
        case SD_ERR_TOKENIZE:         return "SD_ERR_TOKENIZE";
        case SD_ERR_STATE:            return "SD_ERR_STATE";
        case SD_ERR_SESSION_FILE:     return "SD_ERR_SESSION_FILE";
        case SD_ERR_RPC:              return "SD_ERR_RPC";
    }
    return "SD_ERR_UNKNOWN";
}

std::vector<sd_backend_info> sd_backends(void) {
    sd_backend_init();
    std::vector<sd_backend_info> out;
    for (size_t i = 0; i < ggml_backend_reg_count(); i++) {
        ggml_backend_reg_t reg = ggml_backend_reg_get(i);
        out.push_back({ggml_backend_reg_name(reg), ggml_backend_reg_dev_count(reg)});
    }
    return out;
}
