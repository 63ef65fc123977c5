// A minimal test harness: CHECK records a failure and goes on, the program's exit code is the
// number of failed checks (0 = pass), which is what CTest reads.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

static int g_sd_test_failures = 0;
static int g_sd_test_checks   = 0;

#define CHECK(cond) do {                                                              \
        g_sd_test_checks++;                                                           \
        if (!(cond)) {                                                                \
            g_sd_test_failures++;                                                     \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_EQ_STR(a, b) do {                                                       \
        const std::string _a = (a), _b = (b);                                         \
        g_sd_test_checks++;                                                           \
        if (_a != _b) {                                                               \
            g_sd_test_failures++;                                                     \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s == %s\n  left:  \"%s\"\n  right: \"%s\"\n", \
                         __FILE__, __LINE__, #a, #b, _a.c_str(), _b.c_str());         \
        }                                                                             \
    } while (0)

static inline int sd_test_finish(const char * name) {
    std::printf("%s: %d checks, %d failed\n", name, g_sd_test_checks, g_sd_test_failures);
    return g_sd_test_failures == 0 ? 0 : 1;
}

// The model the tests use: LLAMASPEC_TEST_MODEL, else the default compiled in by CMake.
static inline std::string sd_test_model_path() {
    const char * env = std::getenv("LLAMASPEC_TEST_MODEL");
    return env != nullptr && env[0] != '\0' ? std::string(env) : std::string(LLAMASPEC_DEFAULT_TEST_MODEL);
}

// The TinyStories sample beside the test model (../shared/corpus/ next to ../shared/models/).
static inline std::string sd_test_corpus_path() {
    const std::string model = sd_test_model_path();
    const size_t slash = model.rfind("/models/");
    return (slash == std::string::npos ? std::string("../shared") : model.substr(0, slash)) +
           "/corpus/tinystories_train_sample.txt";
}
