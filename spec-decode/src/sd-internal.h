// Helpers shared by the engine's sources; not part of the public API.
#pragma once

#include "spec-decode.h"

#include <atomic>
#include <mutex>
#include <string>

// The last error line llama.cpp logged on this thread (then forgotten), to explain a failure.
std::string sd_log_take_last_error(void);

// Checks that path is a readable regular file starting with the GGUF magic; messages name the file
// as `what` ("model", "heads").
sd_status sd_check_gguf_file(const char * path, const char * what, std::string & error);

// Sets error to message and returns status: `return sd_fail(error, SD_ERR_X, "...");`
sd_status sd_fail(std::string & error, sd_status status, std::string message);

// While a scope is alive on this thread, errors llama.cpp logs on it once `cancel` is set are the
// expected fallout of the cancellation (an aborted graph computation) and are logged as debug lines.
struct sd_log_cancel_scope {
    explicit sd_log_cancel_scope(const std::atomic<bool> * cancel);
    ~sd_log_cancel_scope();
    sd_log_cancel_scope(const sd_log_cancel_scope &) = delete;
    sd_log_cancel_scope & operator=(const sd_log_cancel_scope &) = delete;
};

// What a loaded model is (spec-decode.h keeps it opaque).
struct sd_model {
    llama_model       * model;
    const llama_vocab * vocab;
    sd_model_params     params;
    std::string         path;        // the file it was loaded from
    // sd_model_fingerprint's result, computed on first use (reading the file's output projection)
    mutable std::once_flag fingerprint_once;
    mutable std::string    fingerprint;
    mutable std::string    fingerprint_error;
};

// The table checks of the params structs that sd_model_load, sd_session_init and sd_heads_train take.
sd_status sd_model_params_check(const sd_model_params & params, std::string & error);
sd_status sd_session_params_check(const sd_session_params & params, std::string & error);
sd_status sd_train_params_check(const sd_train_params & params, std::string & error);
