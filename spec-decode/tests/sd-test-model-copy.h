// Copies of the test model with changed metadata or weights, for the tests that need another model.
#pragma once

#include "sd-test.h"

#include "ggml.h"
#include "gguf.h"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <unistd.h>

// A copy of the test model changed by `edit` (metadata, and tensor data in place), written to a new
// temporary directory; remove_copy deletes both.
static inline std::string write_model_copy(const char * name, const std::function<void(gguf_context *, ggml_context *)> & edit) {
    ggml_context * data = nullptr;
    gguf_init_params params = {/*no_alloc =*/ false, /*ctx =*/ &data};
    gguf_context * src = gguf_init_from_file(sd_test_model_path().c_str(), params);
    CHECK(src != nullptr);
    if (src == nullptr) return "";
    gguf_context * dst = gguf_init_empty();
    gguf_set_kv(dst, src);
    for (int64_t i = 0; i < gguf_get_n_tensors(src); i++) {
        gguf_add_tensor(dst, ggml_get_tensor(data, gguf_get_tensor_name(src, i))); // shares the data
    }
    edit(dst, data);
    char dir[] = "/tmp/llamaspec-draft-XXXXXX";
    const char * made = mkdtemp(dir);
    CHECK(made != nullptr);
    const std::string path = std::string(made != nullptr ? made : "/tmp") + "/" + name + ".gguf";
    CHECK(gguf_write_to_file(dst, path.c_str(), /*only_meta =*/ false));
    gguf_free(dst);
    gguf_free(src);
    ggml_free(data);
    return path;
}

static inline void remove_copy(const std::string & path) {
    std::remove(path.c_str());
    rmdir(path.substr(0, path.rfind('/')).c_str());
}

