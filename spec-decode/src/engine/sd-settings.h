// The table checks of the params that sd_model_load, sd_session_init, sd_heads_train and
// sd_early_exit_make take (the generation's are public: sd_generation_params_check).
#pragma once

#include "spec-decode.h"

sd_status sd_model_params_check(const sd_model_params & params, std::string & error);
sd_status sd_session_params_check(const sd_session_params & params, std::string & error);
sd_status sd_train_params_check(const sd_train_params & params, std::string & error);
sd_status sd_early_exit_params_check(const sd_early_exit_params & params, std::string & error);
