// Errors and llama.cpp's log: how the engine reports failures and explains them with what llama.cpp
// logged.
#pragma once

#include "spec-decode.h"

#include <atomic>
#include <string>

// Sets error to message and returns status: `return sd_fail(error, SD_ERR_X, "...");`
sd_status sd_fail(std::string & error, sd_status status, std::string message);

// The last error line llama.cpp logged on this thread (then forgotten), to explain a failure.
std::string sd_log_take_last_error(void);

// While a scope is alive on this thread, errors llama.cpp logs on it once `cancel` (or `stop`, the
// engine's own reason to abort a computation) is set are the expected fallout of the abort and are
// logged as debug lines.
struct sd_log_cancel_scope {
    explicit sd_log_cancel_scope(const std::atomic<bool> * cancel, const std::atomic<bool> * stop = nullptr);
    ~sd_log_cancel_scope();
    sd_log_cancel_scope(const sd_log_cancel_scope &) = delete;
    sd_log_cancel_scope & operator=(const sd_log_cancel_scope &) = delete;
};
