// early-exit: makes a Kangaroo-style self-speculative drafter for a model (sd_early_exit_make): its
// first K blocks, an adapter block (its last block, trained on a corpus when one is given) and
// its output head, as a GGUF model for the draft-model strategy. Prints the held-out agreement of the
// drafter's top token with the model's greedy token before and after training, and the sizes.
//
//   llamaspec-early-exit --model M --layers K --output D.gguf [--corpus TXT [--attention 0] [--steps 400]
//                        [--batch 128] [--lr 0.001] [--max-tokens 30000] [--holdout 0.1]] [--threads N] [--seed S]
#include "spec-decode.h"

#include <cstdio>
#include <cstdlib>
#include <string>

static void usage() {
    std::fprintf(stderr,
        "usage: llamaspec-early-exit --model FILE --layers K --output FILE [--corpus FILE [--attention 0] [--steps 400]\n"
        "                            [--batch 128] [--lr 0.001] [--max-tokens 30000] [--holdout 0.1]] [--threads 0]\n"
        "                            [--seed 42]\n"
        "  --layers K     the model's first K blocks draft, through an adapter block and the model's head\n"
        "  --corpus       train the adapter on this text (without it the adapter is the model's last block)\n"
        "  --attention 0  1: train the whole adapter block, attention too (llama models); 0: its FFN only\n");
}

// Progress on one line per phase change or every 2 seconds.
static bool on_progress(const sd_train_progress & p, void * user) {
    static const char * const phases[] = {"reading", "generating", "checking", "training"};
    double & last = *static_cast<double *>(user);
    if (p.done == p.total || p.seconds - last >= 2.0) {
        if (p.phase == SD_TRAIN_OPTIMIZE) {
            std::printf("%7.1fs  %-9s step %lld / %lld  loss %.4f\n", p.seconds, phases[p.phase], (long long) p.done,
                        (long long) p.total, p.loss);
        } else {
            std::printf("%7.1fs  %-9s %lld / %lld\n", p.seconds, phases[p.phase], (long long) p.done, (long long) p.total);
        }
        std::fflush(stdout);
        last = p.seconds;
    }
    return true;
}

// The number in s, or false when s is not one.
static bool parse_number(const char * s, double & out) {
    char * end = nullptr;
    out = std::strtod(s, &end);
    return end != s && *end == '\0';
}

int main(int argc, char ** argv) {
    std::string model_path, output;
    sd_early_exit_params p = sd_early_exit_default_params();
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            usage();
            return 0;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "missing value after %s\n", a.c_str());
            usage();
            return 2;
        }
        const char * v = argv[++i];
        // the numeric options by their names in sd_early_exit_settings(), which checks their ranges
        static const char * const numeric[][2] = {
            {"--layers", "layers"}, {"--attention", "attention"}, {"--steps", "steps"}, {"--batch", "batch"}, {"--lr", "lr"},
            {"--max-tokens", "max_tokens"}, {"--holdout", "holdout"}, {"--threads", "threads"}, {"--seed", "seed"},
        };
        const char * setting = nullptr;
        for (const auto & o : numeric) {
            if (a == o[0]) setting = o[1];
        }
        if (setting != nullptr) {
            double x = 0;
            std::string error = "not a number";
            if (!parse_number(v, x) || sd_early_exit_set(p, setting, x, error) != SD_OK) {
                std::fprintf(stderr, "bad value for %s: %s (%s)\n", a.c_str(), v, error.c_str());
                return 2;
            }
        } else if (a == "--model") {
            model_path = v;
        } else if (a == "--output") {
            output = v;
        } else if (a == "--corpus") {
            p.corpus = v;
        } else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            usage();
            return 2;
        }
    }
    if (model_path.empty() || output.empty()) {
        usage();
        return 2;
    }
    std::string error;
    sd_model_params mparams = sd_model_default_params();
    if (p.n_threads > 0) mparams.n_threads = p.n_threads;
    sd_model * model = nullptr;
    if (sd_model_load(model_path.c_str(), mparams, &model, error) != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }
    sd_early_exit_report r;
    double last = -1;
    const sd_status status = sd_early_exit_make(model, p, output.c_str(), r, on_progress, &last, error);
    sd_model_free(model);
    if (status != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }
    std::printf("wrote %s: the model's first %d of %d blocks and an adapter block; %.1f MB (the model: %.1f MB) in %.1f s\n",
                output.c_str(), p.n_layers, r.n_layers_model, r.file_bytes / 1e6, r.model_bytes / 1e6, r.seconds);
    if (r.n_train > 0) {
        std::printf("adapter %s trained: %d steps x %d on %lld positions, loss %.3f -> %.3f\n",
                    p.attention ? "block" : "FFN", r.steps, p.batch,
                    (long long) r.n_train, r.loss_first, r.loss);
        std::printf("held-out agreement with the model's greedy token (%lld positions): %.3f before, %.3f after "
                    "(the weights of step %d written)\n", (long long) r.n_eval, r.agreement_before, r.agreement_after,
                    r.best_step);
    }
    return 0;
}
