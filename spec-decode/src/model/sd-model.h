// The model as the engine sees it (spec-decode.h keeps sd_model opaque).
#pragma once

#include "spec-decode.h"
#include "model/sd-rpc.h"

#include <mutex>
#include <string>

struct sd_model {
    llama_model       * model;
    const llama_vocab * vocab;
    sd_model_params     params; // as loaded, n_ctx and n_threads resolved
    bool                threads_automatic = false; // no n_threads given: sessions without one adapt theirs
    std::string         path;   // the file it was loaded from
    mutable sd_rpc_link rpc;    // its RPC servers, when it has some
    std::vector<struct ggml_backend_device *> devices; // what it was loaded onto, when given explicitly
    // sd_model_fingerprint's result, computed on first use (it reads the file's output projection)
    mutable std::once_flag fingerprint_once;
    mutable std::string    fingerprint;
    mutable std::string    fingerprint_error;
    // sd_model_weights_id's result, computed on first use
    mutable std::once_flag weights_id_once;
    mutable std::string    weights_id;
    mutable std::string    weights_id_error;
};

// The model's output projection (output.weight, or the tied token_embd.weight) as F32,
// [n_vocab][n_embd] row-major, read from the model's file.
sd_status sd_model_output_f32(const sd_model * model, std::vector<float> & out, std::string & error);

struct sd_gguf_tensor;

// Where the model's output projection lies in its file, checked to be [n_embd, n_vocab] of a type
// that converts to F32.
sd_status sd_model_output_tensor(const sd_model * model, sd_gguf_tensor & out, std::string & error);

// The identity of the model's weights, stronger than its fingerprint (which a fine-tune shares with its
// base model): a hash of every tensor's name, type, shape and slices of its data (computed on first use
// and kept). A saved session's KV cache is valid only for the weights it was computed with.
sd_status sd_model_weights_id(const sd_model * model, std::string & out, std::string & error);
