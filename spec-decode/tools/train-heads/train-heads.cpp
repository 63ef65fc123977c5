// train-heads: trains Medusa heads for a model on a text corpus (self-distillation, see
// sd_heads_train) and prints the held-out accuracy of each head before and after training.
//
//   llamaspec-train-heads --model M --corpus TXT --output H.gguf [--heads 4] [--layers 1] [--steps N]
//                         [--minutes M] [--batch B] [--lr X] [--self-generated] [--regressive] [--feature [--attention W]] [--threads N] [--seed S]
#include "spec-decode.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

static void usage() {
    std::fprintf(stderr,
        "usage: llamaspec-train-heads --model FILE --corpus FILE --output FILE [--heads 4] [--layers 1]\n"
        "                             [--steps 2000] [--minutes 0] [--batch 256] [--lr 0.002] [--self-generated]\n"
        "                             [--regressive] [--feature [--feature-weight 1] [--attention 0]] [--threads 0]\n"
        "                             [--seed 42] [--max-tokens 300000]\n"
        "  --minutes M   time budget of the whole run (0 = none): the schedule is shortened to fit\n"
        "  --self-generated  also train on the model's greedy continuations of corpus openings\n"
        "  --regressive  Clover-style heads: head k also reads the tokens before the one it predicts\n"
        "  --feature     an EAGLE-style feature drafter: one network predicting the next hidden state,\n"
        "                applied --heads times (--feature-weight: weight of the hidden-state loss;\n"
        "                --attention W: each depth also attends to the model's hidden states at the last\n"
        "                W positions, 1..64)\n");
}

static bool parse_int(const char * s, int64_t & out) {
    char * end = nullptr;
    const long long v = std::strtoll(s, &end, 10);
    if (end == s || *end != '\0') return false;
    out = v;
    return true;
}

static bool parse_float(const char * s, float & out) {
    char * end = nullptr;
    out = std::strtof(s, &end);
    return end != s && *end == '\0';
}

static const char * const k_phases[] = {"reading", "generating", "evaluating", "training"};

struct progress_state {
    double last = -1;
    int    phase = -1;
};

static bool on_progress(const sd_train_progress & p, void * user) {
    progress_state & s = *static_cast<progress_state *>(user);
    const bool last = p.done == p.total;
    if (p.phase != s.phase || last || p.seconds - s.last >= 2.0) {
        if (p.phase == SD_TRAIN_OPTIMIZE) {
            std::printf("%7.1fs  %-10s step %lld / %lld  loss %.4f  lr %.2e\n", p.seconds, k_phases[p.phase],
                        (long long) p.done, (long long) p.total, p.loss, p.lr);
        } else {
            std::printf("%7.1fs  %-10s %lld / %lld\n", p.seconds, k_phases[p.phase], (long long) p.done, (long long) p.total);
        }
        std::fflush(stdout);
        s.last = p.seconds;
        s.phase = p.phase;
    }
    return true;
}

int main(int argc, char ** argv) {
    std::string model_path, output;
    sd_train_params params = sd_train_default_params();
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--self-generated") {
            params.self_generated = true;
            continue;
        }
        if (a == "--regressive") {
            params.regressive = true;
            continue;
        }
        if (a == "--feature") {
            params.feature = true;
            continue;
        }
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
        int64_t n = 0;
        bool ok = true;
        if      (a == "--model")      model_path = v;
        else if (a == "--corpus")     params.corpus = v;
        else if (a == "--output")     output = v;
        else if (a == "--heads")      { ok = parse_int(v, n); params.n_heads = (int32_t) n; }
        else if (a == "--layers")     { ok = parse_int(v, n); params.n_layers = (int32_t) n; }
        else if (a == "--steps")      { ok = parse_int(v, n); params.n_steps = (int32_t) n; }
        else if (a == "--batch")      { ok = parse_int(v, n); params.batch = (int32_t) n; }
        else if (a == "--threads")    { ok = parse_int(v, n); params.n_threads = (int32_t) n; }
        else if (a == "--seed")       { ok = parse_int(v, n) && n >= 0 && n <= 0xffffffffLL; params.seed = (uint32_t) n; }
        else if (a == "--max-tokens") { ok = parse_int(v, n); params.max_tokens = n; }
        else if (a == "--minutes")    ok = parse_float(v, params.max_minutes);
        else if (a == "--lr")         ok = parse_float(v, params.lr);
        else if (a == "--feature-weight") ok = parse_float(v, params.feature_weight);
        else if (a == "--attention")  { ok = parse_int(v, n); params.attention = (int32_t) n; }
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            usage();
            return 2;
        }
        if (!ok) {
            std::fprintf(stderr, "bad value for %s: %s\n", a.c_str(), v);
            return 2;
        }
    }
    if (model_path.empty() || params.corpus.empty() || output.empty()) {
        usage();
        return 2;
    }

    std::string error;
    sd_model_params mparams = sd_model_default_params();
    if (params.n_threads > 0) mparams.n_threads = params.n_threads;
    sd_model * model = nullptr;
    if (sd_model_load(model_path.c_str(), mparams, &model, error) != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }
    progress_state state;
    sd_train_report report;
    const sd_status status = sd_heads_train(model, params, output.c_str(), report, on_progress, &state, error);
    sd_model_free(model);
    if (status != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }

    std::printf("\n%lld positions read (%.1f s), %lld training examples, %lld held-out examples evaluated\n",
                (long long) report.n_tokens, report.seconds_data, (long long) report.n_train, (long long) report.n_eval);
    std::printf("%d steps x %d = %lld examples in %.1f s%s; loss %.3f -> %.3f (cross-entropy summed over heads)\n",
                report.steps, params.batch, (long long) report.examples, report.seconds_train,
                report.time_limited ? " (shortened to the time budget)" : "", report.loss_first, report.loss);
    std::printf("\nheld-out accuracy (target: the model's greedy token k + 2 positions ahead%s)\n",
                params.regressive || params.feature ? ", given the text's tokens before it" : "");
    std::printf("head   top-1 before   top-1 after   top-5 before   top-5 after   loss before   loss after\n");
    for (size_t k = 0; k < report.top1.size(); k++) {
        std::printf("%4zu   %12.3f   %11.3f   %12.3f   %11.3f   %11.3f   %10.3f\n", k + 1, report.top1_before[k],
                    report.top1[k], report.top5_before[k], report.top5[k], report.eval_loss_before[k], report.eval_loss[k]);
    }
    std::printf("\nwrote %s in %.1f s\n", output.c_str(), report.seconds);
    return 0;
}
