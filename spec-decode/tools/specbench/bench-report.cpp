#include "bench-report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

const char * const bench_plain_repeat = "plain-repeat";

static const bench_result * find_result(const bench_report & report, const std::string & set, const std::string & strategy) {
    for (const bench_result & r : report.results) {
        if (r.set == set && r.strategy == strategy) return &r;
    }
    return nullptr;
}

static std::vector<bench_sample> samples_of(const bench_result & result) {
    std::vector<bench_sample> out;
    for (const bench_run & r : result.runs) out.push_back(r.sample());
    return out;
}

// Plain decoding of each prompt: its two runs together (their tokens over their seconds).
static std::vector<bench_sample> plain_baseline(const bench_report & report, const std::string & set) {
    const bench_result * first = find_result(report, set, "plain");
    const bench_result * again = find_result(report, set, bench_plain_repeat);
    std::vector<bench_sample> out;
    for (size_t i = 0; first != nullptr && i < first->runs.size(); i++) {
        bench_sample s = first->runs[i].sample();
        if (again != nullptr && i < again->runs.size()) {
            s.tokens += again->runs[i].sample().tokens;
            s.seconds += again->runs[i].sample().seconds;
        }
        out.push_back(s);
    }
    return out;
}

static double noise_floor_of(const bench_report & report, const std::string & set) {
    const bench_result * first = find_result(report, set, "plain");
    const bench_result * again = find_result(report, set, bench_plain_repeat);
    if (first == nullptr || again == nullptr) return NAN;
    return bench_noise_floor(bench_ratio_of(samples_of(*again), samples_of(*first)));
}

bench_summary bench_summarise(const bench_report & report, const bench_result & result) {
    bench_summary s;
    std::vector<double> ttft;
    for (const bench_run & r : result.runs) {
        s.generated += r.n_generated;
        s.steps     += r.n_steps;
        s.drafted   += r.n_drafted;
        s.accepted  += r.n_accepted;
        s.aux       += r.n_aux;
        ttft.push_back(r.t_first_us / 1000.0);
    }
    s.ttft_ms = bench_median(ttft);
    double timed_steps = 0, draft_us = 0, verify_us = 0, gen_us = 0;
    for (const bench_run & r : result.runs) {
        if (r.n_steps < 2) continue;
        timed_steps += (double) (r.n_steps - 1);
        draft_us    += r.t_draft_us;
        verify_us   += r.t_verify_us;
        gen_us      += r.t_gen_us;
    }
    if (timed_steps > 0) {
        s.step_draft_ms  = draft_us / timed_steps / 1000.0;
        s.step_decode_ms = verify_us / timed_steps / 1000.0;
        s.step_rest_ms   = (gen_us - draft_us - verify_us) / timed_steps / 1000.0;
    }
    s.noise_floor = noise_floor_of(report, result.set);
    const std::vector<bench_sample> runs = samples_of(result);
    if (result.strategy == "plain") {
        s.tokens_per_second = bench_median_tokens_per_second(plain_baseline(report, result.set));
        s.ratio = bench_ratio_of({}, {});
        return s;
    }
    s.tokens_per_second = bench_median_tokens_per_second(runs);
    if (result.strategy == bench_plain_repeat) {
        const bench_result * first = find_result(report, result.set, "plain");
        s.ratio = bench_ratio_of(runs, first != nullptr ? samples_of(*first) : std::vector<bench_sample>());
        return s;
    }
    s.ratio = bench_ratio_of(runs, plain_baseline(report, result.set));
    s.suspect = bench_suspect(s.drafted, s.generated, s.accepted, s.ratio, s.noise_floor);
    return s;
}

// "1.023 [0.981, 1.062]", or "-" without a ratio.
static std::string interval_text(const bench_interval & v) {
    if (!std::isfinite(v.value)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.3f [%.3f, %.3f]", v.value, v.lo, v.hi);
    return buf;
}

void bench_print_table(const bench_report & report) {
    const std::string threads = report.threads == 0 ? std::string("automatic") : std::to_string(report.threads);
    std::printf("\nmodel: %s (%s, %.1fM parameters), %s threads, up to %d tokens per prompt, flash attention %s, "
                "KV %s, model files %s\n", report.model_path.c_str(), report.model_description.c_str(),
                report.model_params / 1e6, threads.c_str(), report.n_tokens, report.flash_attn.c_str(),
                report.kv_f32 ? "F32" : "F16", report.mmap ? "mapped" : "read into memory");
    if (report.temperature > 0) {
        std::printf("sampling: temperature %.2f, top-k %d, top-p %.2f, min-p %.2f, seed %u (the same for every run)\n",
                    report.temperature, report.top_k, report.top_p, report.min_p, report.seed);
    } else {
        std::printf("greedy (temperature 0)\n");
    }
    if (!report.grammar.empty()) {
        std::printf("grammar: every run generates under %s\n", report.grammar.c_str());
    }
    for (const bench_drafter & d : report.drafters) {
        std::printf("draft model '%s': %s\n", d.label.c_str(), d.path.c_str());
    }
    for (const bench_drafter & h : report.heads) {
        std::printf("heads '%s': %s\n", h.label.c_str(), h.path.c_str());
    }
    std::printf("devices: %s\n", report.devices.c_str());
    if (report.cost_us.empty()) {
        std::printf("decode cost: not measured\n\n");
    } else {
        std::printf("decode cost at KV depth %d (time of one llama_decode, all logits), ratio to batch 1:\n  ",
                    report.cost_depth);
        for (size_t i = 0; i < report.cost_batch.size(); i++) {
            std::printf("b%d %.2f  ", report.cost_batch[i], report.cost_us[i] / report.cost_us[0]);
        }
        std::printf("(batch 1: %.2f ms)\n", report.cost_us[0] / 1000.0);
        // what this curve allows any chain drafter, whatever it costs to draft
        std::printf("most a chain of up to %d drafted tokens can gain on it (drafting free), by acceptance per token:\n  ",
                    report.max_depth);
        for (double a : bench_ceiling_acceptances) {
            const bench_ceiling c = bench_chain_ceiling(report.cost_batch, report.cost_us, a, report.max_depth);
            std::printf("%.2f: %.2fx (chain %d)  ", a, c.speedup, c.chain);
        }
        std::printf("\n\n");
    }
    // the strategy column as wide as the longest name (labelled heads and draft models make long ones)
    int strategy_width = 17;
    for (const bench_result & r : report.results) strategy_width = std::max(strategy_width, (int) r.strategy.size());
    std::printf("%-11s %-*s %7s %6s %7s %8s %7s %5s %9s %-22s %-22s %8s %8s\n", "set", strategy_width, "strategy", "tokens", "steps",
                "drafted", "accepted", "window", "tau", "tokens/s", "ratio: median [95%]", "ratio: sums [95%]",
                "ttft ms", "diverged");
    bool any_suspect = false;
    std::vector<bench_summary> summaries; // the rows' summaries, for the time split below too
    for (const bench_result & r : report.results) {
        summaries.push_back(bench_summarise(report, r));
        const bench_summary & s = summaries.back();
        any_suspect = any_suspect || s.suspect;
        const std::string median = interval_text(s.ratio.median) + (s.suspect ? " !" : "");
        const std::string diverged = report.temperature > 0 ? "-" : std::to_string(r.divergences.size());
        std::printf("%-11s %-*s %7lld %6lld %7lld %8lld %7lld %5.2f %9.1f %-22s %-22s %8.1f %8s\n", r.set.c_str(),
                    strategy_width, r.strategy.c_str(), (long long) s.generated, (long long) s.steps, (long long) s.drafted,
                    (long long) s.accepted, (long long) s.aux,
                    s.steps > 0 ? (double) s.generated / (double) s.steps : 0.0, s.tokens_per_second,
                    median.c_str(), interval_text(s.ratio.sum).c_str(), s.ttft_ms, diverged.c_str());
    }
    for (const bench_result & r : report.results) {
        for (const bench_divergence & d : r.divergences) {
            std::printf("divergence: %s/%s prompt %d token %d: plain %d, %s %d (plain's top-2 logit gap %.6f)\n",
                        r.set.c_str(), r.strategy.c_str(), d.prompt, d.position, d.plain_token, r.strategy.c_str(),
                        d.other_token, d.top2_gap);
        }
    }
    std::printf("time per step in ms (the steps after each prompt's first): drafting (and the budget's cut) + "
                "llama_decode + the rest (acceptance, sampling, drafters' bookkeeping, KV cache commit) = step\n");
    for (size_t i = 0; i < report.results.size(); i++) {
        const bench_result & r = report.results[i];
        const bench_summary & s = summaries[i];
        std::printf("  %-11s %-*s %8.3f + %8.3f + %7.3f = %8.3f\n", r.set.c_str(), strategy_width, r.strategy.c_str(),
                    s.step_draft_ms, s.step_decode_ms, s.step_rest_ms,
                    s.step_draft_ms + s.step_decode_ms + s.step_rest_ms);
    }
    std::printf("\nnoise floor (how far from 1 the median's interval of %s against plain reaches):", bench_plain_repeat);
    for (const bench_prompt_set & set : report.sets) {
        std::printf(" %s %.3f", set.name.c_str(), noise_floor_of(report, set.name));
    }
    std::printf("\ntau = generated tokens per step; window = lookahead guesses evaluated beside the drafts; tokens/s: "
                "the tokens after the first over the time from the first token to the last (the first comes free with "
                "the prompt's evaluation); tokens/s and ttft: median over prompts; ratio: tokens/s over plain decoding's on the same prompts in the same run "
                "(plain runs before and after the strategies, both count; %s: its second run against its first), as "
                "the median of per-prompt ratios and as the ratio of summed tokens over summed seconds, each with a "
                "95%% percentile bootstrap interval over prompts (%d resamples)%s\n", bench_plain_repeat,
                bench_bootstrap_resamples, report.temperature > 0 ? "; diverged: not checked when sampling" : "");
    if (any_suspect) {
        std::printf("! = the median ratio departs by more than the noise floor from what the strategy's work allows "
                    "(1 when it drafted nothing; at most its tau, tokens per step, else): that difference is noise or "
                    "overhead, not speculation\n");
    }
}

static bool write_file(const std::string & path, const std::string & text, std::string & error) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) {
        error = "cannot write " + path;
        return false;
    }
    return true;
}

static std::string json_string(const std::string & s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"':  out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof(buf), "\\u%04x", c);
                    out += buf;
                } else {
                    out += (char) c;
                }
        }
    }
    return out + "\"";
}

static std::string json_number(double v) {
    if (!std::isfinite(v)) return "null";
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", v);
    return buf;
}

// FNV-1a of a run's token ids (each as 4 little-endian bytes): runs of two builds (or strategies)
// produced the same tokens when their hashes are equal.
static std::string tokens_fnv(const std::vector<llama_token> & tokens) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (llama_token t : tokens) {
        for (int b = 0; b < 4; b++) {
            h ^= (uint64_t) (((uint32_t) t >> (8 * b)) & 0xff);
            h *= 0x100000001b3ULL;
        }
    }
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", (unsigned long long) h);
    return hex;
}

static std::string json_interval(const bench_interval & v) {
    return "[" + json_number(v.lo) + ", " + json_number(v.hi) + "]";
}

// The drafter label of a "draft:LABEL" strategy (or of "draft": the first draft model); empty otherwise.
static std::string drafter_of(const bench_report & report, const std::string & strategy) {
    std::string base = strategy;
    bench_strip_fixed(base);
    if (base.rfind("draft:", 0) == 0) return base.substr(6);
    if (base == "draft" && !report.drafters.empty()) return report.drafters[0].label;
    return "";
}

bool bench_write_json(const bench_report & report, const std::string & path, std::string & error) {
    std::ostringstream o;
    o << "{\n  \"model\": {\"path\": " << json_string(report.model_path)
      << ", \"description\": " << json_string(report.model_description)
      << ", \"parameters\": " << report.model_params << "},\n";
    if (!report.drafters.empty()) {
        o << "  \"draft_model\": " << json_string(report.drafters[0].path) << ",\n  \"draft_models\": [";
        for (size_t i = 0; i < report.drafters.size(); i++) {
            o << (i ? ", " : "") << "{\"label\": " << json_string(report.drafters[i].label)
              << ", \"path\": " << json_string(report.drafters[i].path) << "}";
        }
        o << "],\n";
    }
    if (!report.heads.empty()) {
        o << "  \"heads\": [";
        for (size_t i = 0; i < report.heads.size(); i++) {
            o << (i ? ", " : "") << "{\"label\": " << json_string(report.heads[i].label)
              << ", \"path\": " << json_string(report.heads[i].path) << "}";
        }
        o << "],\n";
    }
    o << "  \"threads\": " << report.threads << ", \"tokens_per_prompt\": " << report.n_tokens
      << ", \"ctx\": " << report.n_ctx << ", \"flash_attn\": " << json_string(report.flash_attn)
      << ", \"kv\": " << (report.kv_f32 ? "\"f32\"" : "\"f16\"")
      << ", \"load_mode\": " << (report.mmap ? "\"mmap\"" : "\"none\"") << ", \"max_depth\": " << report.max_depth << ",\n";
    o << "  \"grammar\": " << json_string(report.grammar) << ",\n";
    o << "  \"temperature\": " << json_number(report.temperature) << ", \"seed\": " << report.seed
      << ", \"sampler\": {\"top_k\": " << report.top_k << ", \"top_p\": " << json_number(report.top_p)
      << ", \"min_p\": " << json_number(report.min_p) << "},\n";
    o << "  \"system_info\": " << json_string(report.system_info) << ", \"devices\": " << json_string(report.devices)
      << ", \"date\": " << json_string(report.date)
      << ",\n";
    o << "  \"statistics\": " << json_string(
             "tokens_per_second: the tokens after the first over the time from the first token to the last (gen_ms; the "
             "first token comes free with the prompt's evaluation); tokens_per_second and ttft_ms: median over prompts; "
             "speedup: tokens/s over plain decoding's on the same "
             "prompts in the same run (plain runs before and after the strategies, both count; " +
             std::string(bench_plain_repeat) + ": its second run against its first, the noise floor), as the median of "
             "per-prompt ratios and as the ratio of summed tokens over summed seconds, with 95% percentile bootstrap "
             "intervals over prompts (" + std::to_string(bench_bootstrap_resamples) + " resamples); noise_floor: how "
             "far from 1 the plain-repeat median's interval reaches; suspect: the median departs by more than the noise "
             "floor from what the strategy's work allows (1 when it drafted nothing; at most its tokens per step, "
             "else)") << ",\n";
    o << "  \"decode_cost\": {\"kv_depth\": " << report.cost_depth << ", \"points\": [";
    for (size_t i = 0; i < report.cost_batch.size(); i++) {
        o << (i ? ", " : "") << "{\"batch\": " << report.cost_batch[i] << ", \"us\": " << json_number(report.cost_us[i])
          << ", \"ratio\": " << json_number(report.cost_us[i] / report.cost_us[0]) << "}";
    }
    o << "], \"ceilings\": [";
    for (size_t i = 0; i < bench_ceiling_acceptances.size() && !report.cost_us.empty(); i++) {
        const bench_ceiling c =
            bench_chain_ceiling(report.cost_batch, report.cost_us, bench_ceiling_acceptances[i], report.max_depth);
        o << (i ? ", " : "") << "{\"acceptance\": " << json_number(c.acceptance) << ", \"chain\": " << c.chain
          << ", \"speedup\": " << json_number(c.speedup) << "}";
    }
    o << "]},\n  \"prompt_sets\": [";
    for (size_t i = 0; i < report.sets.size(); i++) {
        const bench_prompt_set & set = report.sets[i];
        o << (i ? "," : "") << "\n    {\"name\": " << json_string(set.name)
          << ", \"description\": " << json_string(set.description) << ", \"prompts\": [";
        for (size_t j = 0; j < set.prompts.size(); j++) {
            o << (j ? ", " : "") << json_string(set.prompts[j]);
        }
        o << "]}";
    }
    o << "\n  ],\n  \"results\": [";
    for (size_t i = 0; i < report.results.size(); i++) {
        const bench_result & r = report.results[i];
        const bench_summary s = bench_summarise(report, r);
        const std::string drafter = drafter_of(report, r.strategy);
        o << (i ? "," : "") << "\n    {\"set\": " << json_string(r.set) << ", \"strategy\": " << json_string(r.strategy);
        if (!drafter.empty()) o << ", \"drafter\": " << json_string(drafter);
        o << ", \"generated\": " << s.generated << ", \"steps\": " << s.steps << ", \"drafted\": " << s.drafted
          << ", \"accepted\": " << s.accepted << ", \"window\": " << s.aux
          << ", \"tau\": " << json_number(s.steps > 0 ? (double) s.generated / (double) s.steps : 0)
          << ",\n     \"tokens_per_second\": {\"median\": " << json_number(s.tokens_per_second) << "}";
        if (s.ratio.n > 0) {
            o << ", \"speedup\": {\"against\": "
              << json_string(r.strategy == bench_plain_repeat ? "the first plain run" : "plain, both runs")
              << ", \"prompts\": " << s.ratio.n << ", \"median\": " << json_number(s.ratio.median.value)
              << ", \"median_interval\": " << json_interval(s.ratio.median) << ", \"sum_ratio\": "
              << json_number(s.ratio.sum.value) << ", \"sum_ratio_interval\": " << json_interval(s.ratio.sum) << "}";
        }
        o << ", \"noise_floor\": " << json_number(s.noise_floor) << ", \"suspect\": " << (s.suspect ? "true" : "false")
          << ", \"ttft_ms\": {\"median\": " << json_number(s.ttft_ms) << "}, \"step_ms\": {\"drafting\": "
          << json_number(s.step_draft_ms) << ", \"decoding\": " << json_number(s.step_decode_ms) << ", \"rest\": "
          << json_number(s.step_rest_ms) << "},\n     \"divergences\": ";
        if (report.temperature > 0) {
            o << "null";
        } else {
            o << "[";
            for (size_t j = 0; j < r.divergences.size(); j++) {
                const bench_divergence & d = r.divergences[j];
                o << (j ? ", " : "") << "{\"prompt\": " << d.prompt << ", \"position\": " << d.position
                  << ", \"plain_token\": " << d.plain_token << ", \"token\": " << d.other_token
                  << ", \"top2_gap\": " << json_number(d.top2_gap) << "}";
            }
            o << "]";
        }
        o << ",\n     \"per_prompt\": [";
        for (size_t j = 0; j < r.runs.size(); j++) {
            const bench_run & run = r.runs[j];
            o << (j ? ", " : "") << "{\"prompt_tokens\": " << run.n_prompt << ", \"generated\": " << run.n_generated
              << ", \"steps\": " << run.n_steps << ", \"drafted\": " << run.n_drafted << ", \"accepted\": "
              << run.n_accepted << ", \"window\": " << run.n_aux << ", \"decode_ms\": " << json_number(run.t_decode_us / 1000.0)
              << ", \"gen_ms\": " << json_number(run.t_gen_us / 1000.0) << ", \"draft_ms\": "
              << json_number(run.t_draft_us / 1000.0) << ", \"verify_ms\": " << json_number(run.t_verify_us / 1000.0)
              << ", \"ttft_ms\": " << json_number(run.t_first_us / 1000.0) << ", \"tokens_fnv\": \"" << tokens_fnv(run.tokens) << "\"}";
        }
        o << "]}";
    }
    o << "\n  ]\n}\n";
    return write_file(path, o.str(), error);
}

bool bench_write_runs(const bench_report & report, const std::string & path, std::string & error) {
    std::ostringstream o;
    o << "tool\tconfig\tdrafter\ttemperature\tset\tprompt\ttokens\tseconds\tdrafted\taccepted\n";
    for (const bench_result & r : report.results) {
        const std::string drafter = drafter_of(report, r.strategy);
        for (size_t i = 0; i < r.runs.size(); i++) {
            const bench_run & run = r.runs[i];
            char line[512];
            const bench_sample s = run.sample();
            std::snprintf(line, sizeof(line), "llamaspec\t%s\t%s\t%g\t%s\t%zu\t%.0f\t%.6f\t%d\t%d\n", r.strategy.c_str(),
                          drafter.empty() ? "-" : drafter.c_str(), report.temperature, r.set.c_str(), i, s.tokens,
                          s.seconds, run.n_drafted, run.n_accepted);
            o << line;
        }
    }
    return write_file(path, o.str(), error);
}

// Two panels: speedup per strategy and prompt set (bars at the median of per-prompt ratios, whiskers
// at its 95 % interval; plain decoding itself has no bar, its repeat shows the noise), and the decode
// cost curve (ratio to batch 1 against batch size, log-log, with the "free" and "linear" lines).
bool bench_write_svg(const bench_report & report, const std::string & path, std::string & error) {
    const int W = 960, H = 420, pad = 60, panel_w = (W - 3 * pad) / 2, panel_h = H - 2 * pad - 20;
    std::ostringstream o;
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    o << "<text x=\"" << pad << "\" y=\"22\" font-size=\"14\">specbench: " << report.model_description << ", "
      << report.threads << " threads, " << (report.temperature > 0 ? "temperature " + json_number(report.temperature) : "greedy")
      << "</text>\n";

    // panel 1: speedup bars
    std::vector<std::pair<const bench_result *, bench_summary>> bars;
    for (const bench_result & r : report.results) {
        const bench_summary s = bench_summarise(report, r);
        if (s.ratio.n > 0) bars.push_back({&r, s});
    }
    const int x0 = pad, y0 = pad + 20;
    double y_max = 1.5;
    for (const auto & bar : bars) {
        if (std::isfinite(bar.second.ratio.median.hi)) y_max = std::max(y_max, bar.second.ratio.median.hi + 0.1);
    }
    auto ys = [&](double v) { return y0 + panel_h - v / y_max * panel_h; };
    o << "<text x=\"" << x0 << "\" y=\"" << y0 - 8 << "\">speedup over plain decoding (median over prompts, 95% interval)</text>\n";
    o << "<line x1=\"" << x0 << "\" y1=\"" << ys(0) << "\" x2=\"" << x0 + panel_w << "\" y2=\"" << ys(0)
      << "\" stroke=\"black\"/>\n<line x1=\"" << x0 << "\" y1=\"" << y0 << "\" x2=\"" << x0 << "\" y2=\"" << ys(0)
      << "\" stroke=\"black\"/>\n";
    for (double v = 0; v <= y_max + 1e-9; v += 0.5) {
        o << "<text x=\"" << x0 - 6 << "\" y=\"" << ys(v) + 4 << "\" text-anchor=\"end\">" << v << "</text>\n";
    }
    o << "<line x1=\"" << x0 << "\" y1=\"" << ys(1) << "\" x2=\"" << x0 + panel_w << "\" y2=\"" << ys(1)
      << "\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>\n";
    const size_t n = std::max<size_t>(1, bars.size());
    const double slot = (double) panel_w / (double) n;
    const char * colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"};
    std::vector<std::string> strategies; // one colour per strategy, the same in every prompt set
    for (const auto & bar : bars) {
        if (std::find(strategies.begin(), strategies.end(), bar.first->strategy) == strategies.end()) {
            strategies.push_back(bar.first->strategy);
        }
    }
    for (size_t i = 0; i < bars.size(); i++) {
        const bench_result & r = *bars[i].first;
        const bench_interval & m = bars[i].second.ratio.median;
        if (!std::isfinite(m.value)) continue;
        const size_t color = (size_t) (std::find(strategies.begin(), strategies.end(), r.strategy) - strategies.begin());
        const double bx = x0 + slot * (double) i + slot * 0.15, bw = slot * 0.7;
        o << "<rect x=\"" << bx << "\" y=\"" << ys(m.value) << "\" width=\"" << bw << "\" height=\""
          << ys(0) - ys(m.value) << "\" fill=\"" << (r.strategy == bench_plain_repeat ? "#bab0ac" : colors[color % 7])
          << "\"/>\n";
        const double cx = bx + bw / 2;
        o << "<line x1=\"" << cx << "\" y1=\"" << ys(m.lo) << "\" x2=\"" << cx << "\" y2=\"" << ys(m.hi)
          << "\" stroke=\"black\"/>\n";
        o << "<text x=\"" << cx << "\" y=\"" << ys(m.hi) - 4 << "\" text-anchor=\"middle\">"
          << json_number(std::round(m.value * 100) / 100) << (bars[i].second.suspect ? " !" : "") << "</text>\n";
        o << "<text x=\"" << cx << "\" y=\"" << ys(0) + 14 << "\" text-anchor=\"middle\" font-size=\"10\">"
          << r.strategy << "</text>\n";
        o << "<text x=\"" << cx << "\" y=\"" << ys(0) + 27 << "\" text-anchor=\"middle\" font-size=\"9\" fill=\"gray\">"
          << r.set << "</text>\n";
    }

    // panel 2: cost curve, log2 batch on x, log2 ratio on y
    const int x1 = 2 * pad + panel_w;
    double r_max = 1;
    for (size_t i = 0; i < report.cost_batch.size(); i++) r_max = std::max(r_max, report.cost_us[i] / report.cost_us[0]);
    const double b_max = report.cost_batch.empty() ? 64 : report.cost_batch.back();
    const double lx = std::log2(std::max(2.0, b_max)), ly = std::log2(std::max(2.0, std::max(r_max, b_max)));
    auto cx = [&](double b) { return x1 + std::log2(b) / lx * panel_w; };
    auto cy = [&](double r) { return y0 + panel_h - std::log2(r) / ly * panel_h; };
    o << "<text x=\"" << x1 << "\" y=\"" << y0 - 8 << "\">decode cost by batch size at KV depth " << report.cost_depth
      << " (ratio to batch 1)</text>\n";
    o << "<line x1=\"" << x1 << "\" y1=\"" << cy(1) << "\" x2=\"" << x1 + panel_w << "\" y2=\"" << cy(1)
      << "\" stroke=\"black\"/>\n<line x1=\"" << x1 << "\" y1=\"" << y0 << "\" x2=\"" << x1 << "\" y2=\"" << cy(1)
      << "\" stroke=\"black\"/>\n";
    o << "<line x1=\"" << cx(1) << "\" y1=\"" << cy(1) << "\" x2=\"" << cx(b_max) << "\" y2=\"" << cy(b_max)
      << "\" stroke=\"gray\" stroke-dasharray=\"4 3\"/><text x=\"" << cx(b_max) - 4 << "\" y=\"" << cy(b_max) + 14
      << "\" text-anchor=\"end\" fill=\"gray\">linear</text>\n";
    o << "<text x=\"" << cx(b_max) - 4 << "\" y=\"" << cy(1) - 6 << "\" text-anchor=\"end\" fill=\"gray\">free</text>\n";
    std::string points;
    for (size_t i = 0; i < report.cost_batch.size(); i++) {
        const double b = report.cost_batch[i], r = report.cost_us[i] / report.cost_us[0];
        points += std::to_string(cx(b)) + "," + std::to_string(cy(r)) + " ";
        o << "<circle cx=\"" << cx(b) << "\" cy=\"" << cy(r) << "\" r=\"3\" fill=\"#4e79a7\"/>\n";
        o << "<text x=\"" << cx(b) << "\" y=\"" << cy(1) + 14 << "\" text-anchor=\"middle\">" << (int) b << "</text>\n";
        o << "<text x=\"" << cx(b) + 4 << "\" y=\"" << cy(r) - 6 << "\">" << json_number(std::round(r * 10) / 10)
          << "</text>\n";
    }
    o << "<polyline points=\"" << points << "\" fill=\"none\" stroke=\"#4e79a7\"/>\n</svg>\n";
    return write_file(path, o.str(), error);
}
