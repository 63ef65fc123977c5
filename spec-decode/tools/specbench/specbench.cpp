// specbench: measures speculative decoding strategies against plain decoding in one run, on one
// model, over prompt sets drawn from a corpus. Prints a table and writes JSON, an SVG chart, one line
// per run (--runs, for bench-table), the prompts as text files (--prompt-files, for other tools) and
// each prompt with plain decoding's continuation as a corpus (--texts, for llamaspec-corpus-index).
//
//   llamaspec-specbench --model FILE --corpus FILE [--strategies plain,...] [--prompts 20] [--tokens 128]
//                       [--threads 2] [--ctx 2048] [--json FILE] [--svg FILE] [--sets stories,repetitive,json,long]
//                       [--first 100] [--temperature 0] [--seed 42] [--draft-model [LABEL=]FILE]... [--texts FILE]
//                       [--max-depth N] [--set NAME=VALUE]...
//
// Strategies run side by side: for each prompt plain decoding runs first, then every strategy, then
// plain decoding again, so all of them see the same machine load and the two plain runs measure the
// noise. With temperature 0 every strategy's output must equal plain decoding's; any divergence is
// reported with plain decoding's top-2 logit gap at that position. With a temperature every run of a
// prompt starts from the same seed.
#include "bench-prompts.h"
#include "bench-report.h"
#include "spec-decode.h"
#include "ggml-backend.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

struct bench_params {
    std::string model;
    bool        help = false;
    std::vector<bench_drafter> drafters; // for the draft strategies ("draft" is the first)
    std::string corpus;
    std::string json_path;
    std::string svg_path;
    std::string runs_path;
    std::string prompt_dir;
    std::string texts_path;
    std::vector<std::string> strategies = {"plain"};
    std::vector<std::string> sets = {"stories", "repetitive"};
    int32_t n_prompts  = 20;
    int32_t first      = 100; // stories before this one are left to the tests
    int32_t n_tokens   = 128;
    int32_t threads    = 2;
    int32_t n_ctx      = 2048;
    int32_t cost_depth = 256;
    std::vector<int32_t> cost_batch = {1, 2, 4, 8, 16, 32, 64};
    int32_t max_depth  = sd_generation_default_params().spec.max_depth; // spec.max_depth for every strategy
    bool    kv_f32     = false;
    bool    mmap       = sd_model_default_params().use_mmap; // map the models' files (--load-mode mmap|none)
    int32_t flash_attn = sd_session_default_params().flash_attn; // sd_flash_attn, as our sessions use it
    bool    strict     = false;                                  // strict numerics
    float   temperature = 0.0f;
    uint32_t seed      = 42;
    int32_t lookahead[3] = {8, 4, 8}; // w, n, g
    std::vector<bench_drafter> heads_files; // Medusa heads by label (medusa, medusa-static: the first)
    std::string grammar;              // GBNF every run generates under (--grammar FILE; empty: none)
    std::string grammar_path;
    std::vector<std::string> rpc_servers; // the target's layers over these ggml-rpc-servers (--rpc)
    std::string corpus_index_path;        // a corpus index for lookup and auto (--corpus-index)
    const sd_corpus * corpus_index = nullptr;
    int32_t rpc_timeout_ms = 30000;
    std::vector<const sd_heads *> heads;    // loaded, as heads_files
    std::vector<std::pair<std::string, double>> settings; // --set NAME=VALUE: generation settings for every run
};

static std::vector<std::string> split(const std::string & s, char sep) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep)) {
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

static const char * flash_attn_name(int32_t fa) {
    return fa == SD_FLASH_ATTN_ON ? "on" : fa == SD_FLASH_ATTN_OFF ? "off" : "auto";
}

static bool flash_attn_parse(const std::string & v, int32_t & out) {
    if (v == "on") out = SD_FLASH_ATTN_ON;
    else if (v == "off") out = SD_FLASH_ATTN_OFF;
    else if (v == "auto") out = SD_FLASH_ATTN_AUTO;
    else return false;
    return true;
}

static void usage(FILE * out = stderr) {
    std::fprintf(out,
        "usage: llamaspec-specbench --model FILE --corpus FILE [--strategies plain] [--sets stories,repetitive,json,long]\n"
        "                           [--prompts 20] [--first 100 (the corpus's story the prompts start at)] [--tokens 128] [--threads 2 (0: automatic)] [--ctx 2048] [--kv f16|f32] [--flash-attn auto|on|off] [--strict] [--json FILE] [--svg FILE]\n"
        "                           [--load-mode mmap|none (map the models' files, the default, or read them into memory)]\n"
        "                           [--lookahead W,N,G] [--heads [LABEL=]MEDUSA.gguf]... [--draft-model [LABEL=]FILE]...\n"
        "                           [--temperature 0] [--seed 42] [--runs FILE] [--prompt-files DIR] [--cost-depth 256 (0: no cost curve)]\n"
        "                           [--cost-batch 1,2,4,8,16,32,64 (the curve's batch sizes, ascending from 1)]\n"
        "                           [--grammar FILE (GBNF every run generates under)] [--rpc HOST:PORT,... [--rpc-timeout-ms 30000]]\n"
        "                           [--corpus-index FILE (llamaspec-corpus-index's; lookup and auto also draft from it)]\n"
        "                           [--texts FILE (each prompt and plain decoding's continuation, a corpus for llamaspec-corpus-index)]\n"
        "                           [--max-depth N (spec.max_depth for every strategy, 1-32; default: the engine's, %d)]\n"
        "                           [--set NAME=VALUE (a generation setting for every run, after the strategy's: spec.draft.p_min=0, ...)]...\n"
        "strategies: plain, lookup, recycling, lookahead, auto, medusa, medusa-static (the first --heads),\n"
        "            medusa:LABEL, medusa-static:LABEL (the heads labelled LABEL),\n"
        "            draft (the first --draft-model), draft:LABEL (the one labelled LABEL);\n"
        "            add -fixed to turn the budget off (lookup-fixed, draft:LABEL-fixed, ...)\n"
        "--flash-attn defaults to what the engine's sessions use (%s); --strict: strict numerics (flash attention off, F32 keys and values)\n",
        (int) sd_generation_default_params().spec.max_depth, flash_attn_name(sd_session_default_params().flash_attn));
}

static bool parse_int(const char * s, int32_t lo, int32_t hi, int32_t & out) {
    char * end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) return false;
    out = (int32_t) v;
    return true;
}

static bool parse_float(const char * s, float lo, float hi, float & out) {
    char * end = nullptr;
    const double v = std::strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= lo && v <= hi)) return false;
    out = (float) v;
    return true;
}

// Strategy names: plain, lookup, recycling, lookahead, auto, medusa, medusa-static, medusa:LABEL,
// medusa-static:LABEL, draft, draft:LABEL; a "-fixed" suffix turns the hardware-aware budget off (every
// proposed node up to the maximum is evaluated). drafter is the index of the draft model in p.drafters
// and heads that of the heads in p.heads_files (-1 when none is used, or when LABEL names none).
static bool strategy_params(const std::string & name, const bench_params & p, sd_speculation_params & spec,
                            int32_t & drafter, int32_t & heads) {
    std::string base = name;
    if (bench_strip_fixed(base)) spec.adaptive = false;
    drafter = -1;
    if (base.rfind("draft:", 0) == 0) {
        for (size_t i = 0; i < p.drafters.size(); i++) {
            if (p.drafters[i].label == base.substr(6)) drafter = (int32_t) i;
        }
        base = "draft";
    } else if (base == "draft" && !p.drafters.empty()) {
        drafter = 0;
    }
    heads = -1;
    const size_t colon = base.find(':');
    if (base.rfind("medusa", 0) == 0 && colon != std::string::npos) {
        for (size_t i = 0; i < p.heads_files.size(); i++) {
            if (p.heads_files[i].label == base.substr(colon + 1)) heads = (int32_t) i;
        }
        if (heads < 0) return false;
        base.resize(colon);
    } else if (base.rfind("medusa", 0) == 0 && !p.heads_files.empty()) {
        heads = 0;
    }
    if (base == "plain") {
        spec.type = SD_SPEC_NONE;
    } else if (base == "medusa-static") {
        spec.type = SD_SPEC_MEDUSA;
        spec.medusa.static_tree = true;
    } else if (base == "none" || !sd_spec_type_from_name(base.c_str(), &spec.type)) {
        return false;
    }
    return !(spec.type == SD_SPEC_NONE && !spec.adaptive);
}

// "LABEL=FILE" (LABEL of letters, digits, '-' and '_') or just "FILE", labelled PREFIX, PREFIX2, ...;
// false when the label is taken or the path empty.
static bool parse_labelled(const std::string & v, const char * prefix, std::vector<bench_drafter> & list) {
    bench_drafter d;
    const size_t eq = v.find('=');
    const std::string label = eq == std::string::npos ? "" : v.substr(0, eq);
    bool is_label = !label.empty();
    for (char c : label) {
        if (!std::isalnum((unsigned char) c) && c != '-' && c != '_') is_label = false;
    }
    if (is_label) {
        d.label = label;
        d.path = v.substr(eq + 1);
    } else {
        d.label = list.empty() ? prefix : prefix + std::to_string(list.size() + 1);
        d.path = v;
    }
    for (const bench_drafter & other : list) {
        if (other.label == d.label) return false;
    }
    list.push_back(d);
    return !d.path.empty();
}

static bool parse_args(int argc, char ** argv, bench_params & p) {
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--strict") {
            p.strict = true;
            continue;
        }
        if (a == "--help" || a == "-h") {
            p.help = true;
            return true;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "error: %s needs a value\n", a.c_str());
            return false;
        }
        const char * v = argv[++i];
        bool ok = true;
        if      (a == "--model")      p.model = v;
        else if (a == "--draft-model") ok = parse_labelled(v, "draft", p.drafters);
        else if (a == "--corpus")     p.corpus = v;
        else if (a == "--json")       p.json_path = v;
        else if (a == "--runs")       p.runs_path = v;
        else if (a == "--prompt-files") p.prompt_dir = v;
        else if (a == "--texts")      p.texts_path = v;
        else if (a == "--heads")      ok = parse_labelled(v, "medusa", p.heads_files);
        else if (a == "--grammar")    p.grammar_path = v;
        else if (a == "--svg")        p.svg_path = v;
        else if (a == "--strategies") p.strategies = split(v, ',');
        else if (a == "--rpc")        p.rpc_servers = split(v, ',');
        else if (a == "--corpus-index") p.corpus_index_path = v;
        else if (a == "--rpc-timeout-ms") ok = parse_int(v, 100, 3600000, p.rpc_timeout_ms);
        else if (a == "--sets")       p.sets = split(v, ',');
        else if (a == "--prompts")    ok = parse_int(v, 1, 100000, p.n_prompts);
        else if (a == "--first")      ok = parse_int(v, 0, 100000, p.first);
        else if (a == "--tokens")     ok = parse_int(v, 1, 1 << 20, p.n_tokens);
        else if (a == "--threads")    ok = parse_int(v, 0, 512, p.threads);
        else if (a == "--ctx")        ok = parse_int(v, 64, 1 << 24, p.n_ctx);
        else if (a == "--max-depth")  ok = parse_int(v, 1, 32, p.max_depth);
        else if (a == "--cost-depth") ok = parse_int(v, 0, 1 << 24, p.cost_depth); // 0: not measured
        else if (a == "--cost-batch") {
            // ascending batch sizes starting at 1 (the curve is priced in single-token decodes)
            p.cost_batch.clear();
            for (const std::string & n : split(v, ',')) {
                int32_t b = 0;
                ok = ok && parse_int(n.c_str(), 1, 65536, b) && (p.cost_batch.empty() ? b == 1 : b > p.cost_batch.back());
                p.cost_batch.push_back(b);
            }
            ok = ok && !p.cost_batch.empty();
        }
        else if (a == "--temperature") ok = parse_float(v, 0.0f, 100.0f, p.temperature);
        else if (a == "--seed") {
            int32_t seed = 0;
            ok = parse_int(v, 0, INT32_MAX, seed);
            p.seed = (uint32_t) seed;
        }
        else if (a == "--flash-attn") ok = flash_attn_parse(v, p.flash_attn);
        else if (a == "--lookahead") {
            const std::vector<std::string> wng = split(v, ',');
            ok = wng.size() == 3 && parse_int(wng[0].c_str(), 1, 32, p.lookahead[0]) &&
                 parse_int(wng[1].c_str(), 2, 16, p.lookahead[1]) && parse_int(wng[2].c_str(), 1, 32, p.lookahead[2]);
        }
        else if (a == "--load-mode")  { p.mmap = std::string(v) == "mmap"; ok = p.mmap || std::string(v) == "none"; }
        else if (a == "--kv")         { p.kv_f32 = std::string(v) == "f32"; ok = p.kv_f32 || std::string(v) == "f16"; }
        else if (a == "--set") {
            // NAME=VALUE, checked against the engine's table now rather than at the first run
            const std::string nv = v;
            const size_t eq = nv.find('=');
            char * end = nullptr;
            const double value = eq == std::string::npos ? 0.0 : std::strtod(nv.c_str() + eq + 1, &end);
            ok = eq != std::string::npos && eq > 0 && end != nullptr && end != nv.c_str() + eq + 1 && *end == '\0';
            if (ok) {
                const std::string name = nv.substr(0, eq);
                sd_generation_params check = sd_generation_default_params();
                std::string error;
                if (sd_generation_set(check, name.c_str(), value, error) != SD_OK) {
                    std::fprintf(stderr, "error: --set %s: %s\n", v, error.c_str());
                    return false;
                }
                if (name == "spec.max_depth") {
                    p.max_depth = check.spec.max_depth; // the cap the report names is the one the runs use
                } else {
                    p.settings.emplace_back(name, value);
                }
            }
        }
        else {
            std::fprintf(stderr, "error: unknown argument %s\n", a.c_str());
            return false;
        }
        if (!ok) {
            std::fprintf(stderr, "error: bad value for %s: %s\n", a.c_str(), v);
            return false;
        }
    }
    if (p.model.empty() || p.corpus.empty()) {
        std::fprintf(stderr, "error: --model and --corpus are required\n");
        return false;
    }
    std::vector<std::string> strategies;
    for (const std::string & s : p.strategies) {
        sd_speculation_params spec = sd_speculation_default_params();
        int32_t drafter = -1, heads = -1;
        if (s == bench_plain_repeat || !strategy_params(s, p, spec, drafter, heads)) {
            std::fprintf(stderr, "error: unknown strategy '%s'\n", s.c_str());
            return false;
        }
        if (spec.type == SD_SPEC_DRAFT_MODEL && drafter < 0) {
            std::fprintf(stderr, "error: strategy '%s' needs %s\n", s.c_str(),
                         s.rfind("draft:", 0) == 0 ? "a --draft-model with that label" : "--draft-model");
            return false;
        }
        if (s != "plain") strategies.push_back(s); // plain decoding runs first and last anyway
    }
    p.strategies = strategies;
    return true;
}

// Generates one prompt with one strategy.
static bool run_one(sd_session * session, const std::vector<sd_model *> & drafts, const std::vector<llama_token> & prompt,
                    const std::string & grammar, const std::string & strategy, const bench_params & p, int32_t n_tokens,
                    bench_run & run, std::string & error) {
    sd_generation_params params = sd_generation_default_params();
    int32_t drafter = -1, heads = -1;
    strategy_params(strategy == bench_plain_repeat ? "plain" : strategy, p, params.spec, drafter, heads);
    params.spec.draft.model = drafter >= 0 ? drafts[(size_t) drafter] : nullptr;
    params.spec.lookahead.w = p.lookahead[0];
    params.spec.lookahead.n = p.lookahead[1];
    params.spec.lookahead.g = p.lookahead[2];
    params.spec.medusa.heads = heads >= 0 ? p.heads[(size_t) heads] : nullptr;
    params.spec.lookup.corpus = p.corpus_index;
    params.spec.max_depth = p.max_depth;
    params.record_margins = true;
    params.temperature = p.temperature;
    params.seed        = p.seed;
    params.max_tokens  = n_tokens;
    params.grammar     = grammar;
    for (const auto & setting : p.settings) {
        if (sd_generation_set(params, setting.first.c_str(), setting.second, error) != SD_OK) return false;
    }
    sd_session_reset(session); // every strategy evaluates the whole prompt, as a fresh request would
    if (sd_generation_begin(session, prompt, params, error) != SD_OK) return false;
    sd_step_result step;
    run.tokens.clear();
    run.margins.clear();
    while (true) {
        if (sd_generation_step(session, step, error) != SD_OK) return false;
        run.tokens.insert(run.tokens.end(), step.tokens.begin(), step.tokens.end());
        run.margins.insert(run.margins.end(), step.margins.begin(), step.margins.end());
        if (step.stop != SD_STOP_NONE) break;
    }
    const sd_stats s = sd_generation_stats(session);
    run.n_prompt    = s.n_prompt;
    run.n_generated = s.n_generated;
    run.n_steps     = s.n_steps;
    run.n_drafted   = s.n_drafted;
    run.n_accepted  = s.n_accepted;
    run.n_aux       = s.n_aux;
    run.t_first_us  = (double) s.t_first_us;
    run.t_decode_us = (double) (s.t_first_us - s.t_prompt_us + s.t_gen_us);
    run.t_gen_us    = (double) s.t_gen_us;
    run.t_draft_us  = (double) s.t_draft_us;
    run.t_verify_us = (double) s.t_verify_us;
    return true;
}

// Writes each prompt to DIR/SET-NNN.txt exactly (no newline added), for tools that read a prompt
// from a file (llama.cpp's -f).
static bool write_prompt_files(const std::string & dir, const std::vector<bench_prompt_set> & sets, std::string & error) {
    for (const bench_prompt_set & set : sets) {
        for (size_t i = 0; i < set.prompts.size(); i++) {
            char name[64];
            std::snprintf(name, sizeof(name), "/%s-%03zu.txt", set.name.c_str(), i);
            FILE * f = std::fopen((dir + name).c_str(), "wb");
            const bool ok = f != nullptr && std::fwrite(set.prompts[i].data(), 1, set.prompts[i].size(), f) ==
                                                set.prompts[i].size();
            if (f == nullptr || std::fclose(f) != 0 || !ok) {
                error = "cannot write " + dir + name;
                return false;
            }
        }
    }
    return true;
}

// Writes each prompt of each set followed by plain decoding's continuation (its first run) and the
// corpus's story separator, so that what the model answered becomes a corpus (llamaspec-corpus-index).
static bool write_texts(const std::string & path, const bench_report & report, const sd_model * model,
                        std::string & error) {
    std::string out;
    for (const bench_result & r : report.results) {
        if (r.strategy != "plain") continue;
        const auto set = std::find_if(report.sets.begin(), report.sets.end(),
                                      [&](const bench_prompt_set & s) { return s.name == r.set; });
        for (size_t i = 0; set != report.sets.end() && i < r.runs.size() && i < set->prompts.size(); i++) {
            // piece by piece, as a stream prints them: detokenizing the continuation alone would drop
            // the space its first token begins with
            out += set->prompts[i];
            for (const llama_token t : r.runs[i].tokens) {
                std::string piece;
                if (sd_token_to_piece(model, t, false, piece, error) != SD_OK) return false;
                out += piece;
            }
            out += "\n<|endoftext|>\n";
        }
    }
    FILE * f = std::fopen(path.c_str(), "wb");
    const bool ok = f != nullptr && std::fwrite(out.data(), 1, out.size(), f) == out.size();
    if (f == nullptr || std::fclose(f) != 0 || !ok) {
        error = "cannot write " + path;
        return false;
    }
    return true;
}

int main(int argc, char ** argv) {
    bench_params p;
    if (!parse_args(argc, argv, p)) {
        usage();
        return 2;
    }
    if (p.help) {
        usage(stdout);
        return 0;
    }
    std::string error;
    std::vector<bench_prompt_set> all_sets;
    if (!bench_prompts_load(p.corpus, p.n_prompts, p.first, all_sets, error)) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }
    bench_report report;
    for (const bench_prompt_set & set : all_sets) {
        if (std::find(p.sets.begin(), p.sets.end(), set.name) != p.sets.end()) report.sets.push_back(set);
    }
    if (report.sets.empty()) {
        std::fprintf(stderr, "error: no prompt set selected (available: stories, repetitive, json, long)\n");
        return 2;
    }

    sd_model_params mparams = sd_model_default_params();
    mparams.n_threads = p.threads;
    mparams.use_mmap = p.mmap;
    sd_model_params target_params = mparams; // the drafters stay local
    target_params.rpc_servers = p.rpc_servers;
    target_params.rpc_timeout_ms = (uint32_t) p.rpc_timeout_ms;
    sd_model * model = nullptr;
    if (sd_model_load(p.model.c_str(), target_params, &model, error) != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }
    if (!p.grammar_path.empty()) {
        std::ifstream in(p.grammar_path);
        std::stringstream text;
        text << in.rdbuf();
        p.grammar = text.str();
        if (!in || sd_grammar_check(model, p.grammar, error) != SD_OK) {
            std::fprintf(stderr, "error: --grammar %s: %s\n", p.grammar_path.c_str(),
                         in ? error.c_str() : "cannot read it");
            sd_model_free(model);
            return 2;
        }
    }
    sd_corpus * corpus = nullptr;
    if (!p.corpus_index_path.empty()) {
        if (sd_corpus_load(p.corpus_index_path.c_str(), model, &corpus, error) != SD_OK) {
            std::fprintf(stderr, "error: --corpus-index: %s\n", error.c_str());
            sd_model_free(model);
            return 1;
        }
        p.corpus_index = corpus;
        const sd_corpus_info ci = sd_corpus_get_info(corpus);
        std::printf("corpus index: %s (%llu tokens, %.1f MB)\n", p.corpus_index_path.c_str(),
                    (unsigned long long) ci.n_tokens, ci.file_bytes / 1e6);
    }
    std::printf("spec.max_depth %d for every strategy\n", (int) p.max_depth);
    for (const auto & setting : p.settings) {
        std::printf("%s %g for every run (--set)\n", setting.first.c_str(), setting.second);
    }
    std::vector<sd_heads *> heads; // owned here, lent through p.heads
    auto free_heads = [&] {
        for (sd_heads * h : heads) sd_heads_free(h);
    };
    for (const bench_drafter & f : p.heads_files) {
        sd_heads * h = nullptr;
        if (sd_heads_load(f.path.c_str(), model, &h, error) != SD_OK) {
            std::fprintf(stderr, "error: heads '%s': %s\n", f.label.c_str(), error.c_str());
            free_heads();
            sd_model_free(model);
            return 1;
        }
        heads.push_back(h);
        p.heads.push_back(h);
    }
    for (const std::string & s : p.strategies) {
        if (s.rfind("medusa", 0) == 0 && heads.empty()) {
            std::fprintf(stderr, "error: strategy '%s' needs --heads FILE\n", s.c_str());
            sd_model_free(model);
            return 2;
        }
    }
    int rc = 0;
    std::vector<sd_model *> drafts;
    for (const bench_drafter & d : p.drafters) {
        sd_model * draft = nullptr;
        if (sd_model_load(d.path.c_str(), mparams, &draft, error) != SD_OK ||
            sd_model_vocab_compatible(model, draft, error) != SD_OK) {
            std::fprintf(stderr, "error: draft model '%s': %s\n", d.label.c_str(), error.c_str());
            sd_model_free(draft);
            rc = 1;
            break;
        }
        drafts.push_back(draft);
    }
    sd_session_params sparams = sd_session_default_params();
    sparams.n_ctx = (uint32_t) p.n_ctx;
    sparams.kv_f32 = p.kv_f32;
    sparams.flash_attn = p.flash_attn;
    sparams.strict_numerics = p.strict;
    sd_session * session = nullptr;
    if (rc == 0 && sd_session_init(model, sparams, &session, error) != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        rc = 1;
    }
    if (rc == 0 && !p.prompt_dir.empty() && !write_prompt_files(p.prompt_dir, report.sets, error)) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        rc = 1;
    }
    if (rc != 0) {
        for (sd_model * d : drafts) sd_model_free(d);
        free_heads();
    sd_corpus_free(corpus);
        sd_model_free(model);
        return rc;
    }
    const sd_generation_params defaults = sd_generation_default_params();
    const sd_model_info info = sd_model_get_info(model);
    report.model_path        = p.model;
    report.model_description = info.description;
    report.model_params      = info.n_params;
    report.drafters          = p.drafters;
    report.heads             = p.heads_files;
    report.threads           = p.threads;
    report.n_tokens          = p.n_tokens;
    report.n_ctx             = (int32_t) sd_session_n_ctx(session);
    report.flash_attn        = p.strict ? "off" : flash_attn_name(p.flash_attn);
    report.kv_f32            = p.kv_f32 || p.strict;
    report.mmap              = p.mmap;
    report.temperature       = p.temperature;
    report.grammar           = p.grammar_path;
    report.top_k             = defaults.top_k;
    report.top_p             = defaults.top_p;
    report.min_p             = defaults.min_p;
    report.seed              = p.seed;
    report.max_depth         = p.max_depth;
    report.system_info       = llama_print_system_info();
    // where the target model runs (its RPC servers included), as sd_model_get_info lists it
    for (const std::string & device : sd_model_get_info(model).devices) {
        if (!report.devices.empty()) report.devices += ", ";
        report.devices += device;
    }
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    report.date = date;

    // The device's decode cost curve (--cost-depth 0: not measured).
    report.cost_depth = std::min(p.cost_depth, p.n_ctx - 64);
    if (report.cost_depth > 0) report.cost_batch = p.cost_batch;
    if (report.cost_depth > 0) std::fprintf(stderr, "measuring the decode cost curve at depth %d ...\n", report.cost_depth);
    if (report.cost_depth > 0 &&
        sd_session_measure_decode_cost(session, report.cost_batch, report.cost_depth, 5, report.cost_us, error) != SD_OK) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        return 1;
    }

    // Each strategy runs in a session of its own, as a service dedicated to it would: what a session's
    // budget learns (acceptance records, the cost curve it measures at its first generation) stays
    // with it from prompt to prompt, and one strategy's record never decides another's drafts (with one
    // session for all, `lookup` started from what `lookup-fixed` had learnt). Plain decoding uses the
    // first session, which learns nothing. A new session is warmed up like the first (a short plain
    // generation, not measured), so that its first prompt does not pay for the context's first decodes.
    std::map<std::string, sd_session *> own;
    const auto session_for = [&](const std::string & strategy, const std::vector<llama_token> & prompt,
                                 const std::string & grammar) -> sd_session * {
        if (strategy == "plain" || strategy == bench_plain_repeat) return session;
        sd_session *& s = own[strategy];
        if (s != nullptr) return s;
        if (sd_session_init(model, sparams, &s, error) != SD_OK) {
            s = nullptr;
            return nullptr;
        }
        bench_run warm;
        if (!run_one(s, drafts, prompt, grammar, "plain", p, std::min(p.n_tokens, 16), warm, error)) return nullptr;
        return s;
    };

    // per prompt: plain, the strategies, plain again
    std::vector<std::string> order = {"plain"};
    order.insert(order.end(), p.strategies.begin(), p.strategies.end());
    order.push_back(bench_plain_repeat);
    for (const bench_prompt_set & set : report.sets) {
        const size_t first_result = report.results.size();
        for (const std::string & strategy : order) {
            report.results.push_back({set.name, strategy, {}, {}});
        }
        for (size_t i = 0; i < set.prompts.size(); i++) {
            std::vector<llama_token> prompt;
            sd_tokenize(model, set.prompts[i], true, false, prompt, error);
            const std::string & grammar = set.grammars.empty() ? p.grammar : set.grammars[i];
            if (i == 0) { // warm-up, not measured
                bench_run warm;
                run_one(session, drafts, prompt, grammar, "plain", p, std::min(p.n_tokens, 16), warm, error);
            }
            for (size_t k = 0; k < order.size(); k++) {
                bench_run run;
                sd_session * with = session_for(order[k], prompt, grammar);
                if (with == nullptr || !run_one(with, drafts, prompt, grammar, order[k], p, p.n_tokens, run, error)) {
                    std::fprintf(stderr, "error: %s/%s prompt %zu: %s\n", set.name.c_str(), order[k].c_str(), i,
                                 error.c_str());
                    rc = 1;
                }
                report.results[first_result + k].runs.push_back(run);
            }
            std::fprintf(stderr, "\r%s: %zu/%zu prompts", set.name.c_str(), i + 1, set.prompts.size());
        }
        std::fprintf(stderr, "\n");

        // Greedy outputs must equal plain decoding's (sampled ones differ where a drafter changes
        // how the random numbers are used).
        const bench_result & plain = report.results[first_result];
        for (size_t k = 1; p.temperature == 0.0f && k < order.size(); k++) {
            bench_result & r = report.results[first_result + k];
            for (size_t i = 0; i < r.runs.size(); i++) {
                const std::vector<llama_token> & a = plain.runs[i].tokens;
                const std::vector<llama_token> & b = r.runs[i].tokens;
                size_t pos = 0;
                while (pos < a.size() && pos < b.size() && a[pos] == b[pos]) pos++;
                if (pos == a.size() && pos == b.size()) continue;
                const std::vector<float> & margins = plain.runs[i].margins;
                r.divergences.push_back({(int32_t) i, (int32_t) pos, pos < a.size() ? a[pos] : -1,
                                         pos < b.size() ? b[pos] : -1, pos < margins.size() ? margins[pos] : NAN});
            }
        }
    }

    bench_print_table(report);
    if (!p.json_path.empty() && !bench_write_json(report, p.json_path, error)) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        rc = 1;
    }
    if (!p.svg_path.empty() && !bench_write_svg(report, p.svg_path, error)) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        rc = 1;
    }
    if (!p.runs_path.empty() && !bench_write_runs(report, p.runs_path, error)) {
        std::fprintf(stderr, "error: %s\n", error.c_str());
        rc = 1;
    }
    if (!p.texts_path.empty() && !write_texts(p.texts_path, report, model, error)) {
        std::fprintf(stderr, "error: --texts: %s\n", error.c_str());
        rc = 1;
    }
    for (auto & o : own) sd_session_free(o.second);
    sd_session_free(session);
    free_heads();
    sd_corpus_free(corpus);
    for (sd_model * d : drafts) sd_model_free(d);
    sd_model_free(model);
    return rc;
}
