// Helpers shared by the engine's sources; not part of the public API.
#pragma once

#include "spec-decode.h"

#include <string>

// The last error line llama.cpp logged on this thread (then forgotten), to explain a failure.
std::string sd_log_take_last_error(void);

// Sets error to message and returns status: `return sd_fail(error, SD_ERR_X, "...");`
sd_status sd_fail(std::string & error, sd_status status, std::string message);
