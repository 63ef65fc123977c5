// GGUF files read with gguf.h: the metadata without the weights, and where a tensor's bytes lie.
#pragma once

#include "spec-decode.h"

#include "gguf.h"

#include <cstdio>
#include <memory>
#include <string>

struct sd_gguf_deleter { void operator()(gguf_context * g) const { gguf_free(g); } };
typedef std::unique_ptr<gguf_context, sd_gguf_deleter> sd_gguf_ptr;

struct sd_file_closer { void operator()(FILE * f) const { std::fclose(f); } };
typedef std::unique_ptr<FILE, sd_file_closer> sd_file_ptr;

// The metadata and tensor index of a GGUF file (no weights); null when it is not a valid one.
sd_gguf_ptr sd_gguf_open(const char * path);

// A string value, or "" when the key is missing or not a string.
std::string sd_gguf_str(const gguf_context * g, const char * key);

// A tensor of a GGUF file: what it is and where its data lies in the file.
struct sd_gguf_tensor {
    std::string name;
    ggml_type   type = GGML_TYPE_F32;
    int64_t     ne[GGML_MAX_DIMS] = {1, 1, 1, 1};
    size_t      offset = 0; // from the start of the file
    size_t      size = 0;   // bytes
};

// The tensor with this index, or with this name (false when there is none).
sd_gguf_tensor sd_gguf_tensor_at(const gguf_context * g, int64_t id);
bool           sd_gguf_find_tensor(const gguf_context * g, const char * name, sd_gguf_tensor & out);

// The tensor that projects a language model's hidden states to logits: output.weight, or the tied
// token embedding (token_embd.weight).
bool sd_gguf_output_tensor(const gguf_context * g, sd_gguf_tensor & out);

// The values of a tensor of matrix shape (ne[0] * ne[1] of them) as F32, read from its file; false
// when the file is shorter or the type does not convert.
bool sd_gguf_read_f32(FILE * f, const sd_gguf_tensor & t, std::vector<float> & out);

// Reads n bytes at offset; false when the file is shorter.
bool sd_file_read(FILE * f, size_t offset, void * dst, size_t n);

// Size of an open file in bytes (0 when it cannot be told).
size_t sd_file_size(FILE * f);

// Checks what llama.cpp would otherwise report only in its log: the file exists, is a regular
// readable file and starts with the GGUF magic; messages name the file as `what` ("model", "heads").
sd_status sd_check_gguf_file(const char * path, const char * what, std::string & error);
