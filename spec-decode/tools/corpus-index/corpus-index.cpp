// llamaspec-corpus-index: builds the corpus index that prompt lookup drafts from (sd_corpus_build):
// a text tokenized with the model's vocabulary and a suffix array over it, in one file.
//
//   llamaspec-corpus-index --model MODEL.gguf --corpus TEXT --out INDEX
#include "spec-decode.h"

#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char ** argv) {
    std::string model_path, corpus_path, out_path;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--model") model_path = argv[i + 1];
        else if (a == "--corpus") corpus_path = argv[i + 1];
        else if (a == "--out") out_path = argv[i + 1];
        else {
            std::fprintf(stderr, "error: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (argc % 2 == 0 || model_path.empty() || corpus_path.empty() || out_path.empty()) {
        std::fprintf(stderr, "usage: llamaspec-corpus-index --model MODEL.gguf --corpus TEXT --out INDEX\n");
        return 2;
    }
    sd_model_params mp = sd_model_default_params();
    mp.n_threads = 1;
    sd_model * model = nullptr;
    std::string error;
    if (sd_model_load(model_path.c_str(), mp, &model, error) != SD_OK) {
        std::fprintf(stderr, "error: --model: %s\n", error.c_str());
        return 1;
    }
    sd_corpus_info info;
    const sd_status status = sd_corpus_build(model, corpus_path.c_str(), out_path.c_str(), &info, error);
    sd_model_free(model);
    if (status != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }
    std::printf("%s: %llu tokens, %.2f MB, built in %.2f s\n", out_path.c_str(), (unsigned long long) info.n_tokens,
                info.file_bytes / 1e6, info.build_seconds);
    return 0;
}
