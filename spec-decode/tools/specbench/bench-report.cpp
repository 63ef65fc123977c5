#include "bench-report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

static bench_stat stat_of(const std::vector<double> & values) {
    bench_stat s;
    if (values.empty()) return s;
    for (double v : values) s.mean += v;
    s.mean /= (double) values.size();
    if (values.size() > 1) {
        double var = 0;
        for (double v : values) var += (v - s.mean) * (v - s.mean);
        s.stddev = std::sqrt(var / (double) (values.size() - 1));
    }
    return s;
}

static const bench_result * plain_of(const bench_report & report, const std::string & set) {
    for (const bench_result & r : report.results) {
        if (r.set == set && r.strategy == "plain") return &r;
    }
    return nullptr;
}

bench_stat bench_speedup(const bench_report & report, const bench_result & result) {
    const bench_result * plain = plain_of(report, result.set);
    std::vector<double> ratios;
    for (size_t i = 0; plain != nullptr && i < result.runs.size() && i < plain->runs.size(); i++) {
        const double base = plain->runs[i].tokens_per_second();
        if (base > 0) ratios.push_back(result.runs[i].tokens_per_second() / base);
    }
    return stat_of(ratios);
}

bench_stat bench_tokens_per_second(const bench_result & result) {
    std::vector<double> values;
    for (const bench_run & r : result.runs) values.push_back(r.tokens_per_second());
    return stat_of(values);
}

struct bench_totals {
    int64_t generated = 0, steps = 0, drafted = 0, accepted = 0, aux = 0;
    std::vector<double> ttft_ms;
};

static bench_totals totals_of(const bench_result & result) {
    bench_totals t;
    for (const bench_run & r : result.runs) {
        t.generated += r.n_generated;
        t.steps     += r.n_steps;
        t.drafted   += r.n_drafted;
        t.accepted  += r.n_accepted;
        t.aux       += r.n_aux;
        t.ttft_ms.push_back(r.t_first_us / 1000.0);
    }
    return t;
}

void bench_print_table(const bench_report & report) {
    std::printf("\nmodel: %s (%s, %.1fM parameters), %d threads, up to %d tokens per prompt, temperature %.2f\n",
                report.model_path.c_str(), report.model_description.c_str(), report.model_params / 1e6,
                report.threads, report.n_tokens, report.temperature);
    if (!report.draft_model_path.empty()) std::printf("draft model: %s\n", report.draft_model_path.c_str());
    std::printf("devices: %s\n", report.devices.c_str());
    std::printf("decode cost at KV depth %d (time of one llama_decode, all logits), ratio to batch 1:\n  ",
                report.cost_depth);
    for (size_t i = 0; i < report.cost_batch.size(); i++) {
        std::printf("b%d %.2f  ", report.cost_batch[i], report.cost_us[i] / report.cost_us[0]);
    }
    std::printf("(batch 1: %.2f ms)\n\n", report.cost_us.empty() ? 0.0 : report.cost_us[0] / 1000.0);
    std::printf("%-11s %-15s %7s %6s %7s %8s %7s %5s %16s %16s %9s %8s\n", "set", "strategy", "tokens", "steps",
                "drafted", "accepted", "window", "tau", "tokens/s", "speedup", "ttft ms", "diverged");
    for (const bench_result & r : report.results) {
        const bench_totals t = totals_of(r);
        const bench_stat tps = bench_tokens_per_second(r);
        const bench_stat sp = bench_speedup(report, r);
        const bench_stat ttft = stat_of(t.ttft_ms);
        std::printf("%-11s %-15s %7lld %6lld %7lld %8lld %7lld %5.2f %8.1f ± %5.1f %7.3f ± %5.3f %9.1f %8zu\n",
                    r.set.c_str(), r.strategy.c_str(), (long long) t.generated, (long long) t.steps,
                    (long long) t.drafted, (long long) t.accepted, (long long) t.aux,
                    t.steps > 0 ? (double) t.generated / (double) t.steps : 0.0, tps.mean, tps.stddev, sp.mean,
                    sp.stddev, ttft.mean, r.divergences.size());
    }
    for (const bench_result & r : report.results) {
        for (const bench_divergence & d : r.divergences) {
            std::printf("divergence: %s/%s prompt %d token %d: plain %d, %s %d (plain's top-2 logit gap %.6f)\n",
                        r.set.c_str(), r.strategy.c_str(), d.prompt, d.position, d.plain_token, r.strategy.c_str(),
                        d.other_token, d.top2_gap);
        }
    }
    std::printf("\ntau = generated tokens per step; window = lookahead guesses evaluated beside the drafts; tokens/s and speedup: mean ± standard deviation over prompts, "
                "speedup relative to plain decoding of the same prompt in the same run\n");
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

// FNV-1a of a run's token ids: runs of two builds (or strategies) produced the same tokens when
// their hashes are equal.
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

bool bench_write_json(const bench_report & report, const std::string & path, std::string & error) {
    std::ostringstream o;
    o << "{\n  \"model\": {\"path\": " << json_string(report.model_path)
      << ", \"description\": " << json_string(report.model_description)
      << ", \"parameters\": " << report.model_params << "},\n";
    if (!report.draft_model_path.empty()) o << "  \"draft_model\": " << json_string(report.draft_model_path) << ",\n";
    o << "  \"threads\": " << report.threads << ", \"tokens_per_prompt\": " << report.n_tokens
      << ", \"temperature\": " << json_number(report.temperature) << ",\n";
    o << "  \"system_info\": " << json_string(report.system_info) << ", \"devices\": " << json_string(report.devices)
      << ", \"date\": " << json_string(report.date)
      << ",\n";
    o << "  \"decode_cost\": {\"kv_depth\": " << report.cost_depth << ", \"points\": [";
    for (size_t i = 0; i < report.cost_batch.size(); i++) {
        o << (i ? ", " : "") << "{\"batch\": " << report.cost_batch[i] << ", \"us\": " << json_number(report.cost_us[i])
          << ", \"ratio\": " << json_number(report.cost_us[i] / report.cost_us[0]) << "}";
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
        const bench_totals t = totals_of(r);
        const bench_stat tps = bench_tokens_per_second(r);
        const bench_stat sp = bench_speedup(report, r);
        const bench_stat ttft = stat_of(t.ttft_ms);
        o << (i ? "," : "") << "\n    {\"set\": " << json_string(r.set) << ", \"strategy\": " << json_string(r.strategy)
          << ", \"generated\": " << t.generated << ", \"steps\": " << t.steps << ", \"drafted\": " << t.drafted
          << ", \"accepted\": " << t.accepted
          << ", \"tau\": " << json_number(t.steps > 0 ? (double) t.generated / (double) t.steps : 0)
          << ", \"tokens_per_second\": {\"mean\": " << json_number(tps.mean) << ", \"stddev\": " << json_number(tps.stddev)
          << "}, \"speedup\": {\"mean\": " << json_number(sp.mean) << ", \"stddev\": " << json_number(sp.stddev)
          << "}, \"ttft_ms\": {\"mean\": " << json_number(ttft.mean) << ", \"stddev\": " << json_number(ttft.stddev)
          << "},\n     \"divergences\": [";
        for (size_t j = 0; j < r.divergences.size(); j++) {
            const bench_divergence & d = r.divergences[j];
            o << (j ? ", " : "") << "{\"prompt\": " << d.prompt << ", \"position\": " << d.position
              << ", \"plain_token\": " << d.plain_token << ", \"token\": " << d.other_token
              << ", \"top2_gap\": " << json_number(d.top2_gap) << "}";
        }
        o << "],\n     \"per_prompt\": [";
        for (size_t j = 0; j < r.runs.size(); j++) {
            const bench_run & run = r.runs[j];
            o << (j ? ", " : "") << "{\"prompt_tokens\": " << run.n_prompt << ", \"generated\": " << run.n_generated
              << ", \"steps\": " << run.n_steps << ", \"drafted\": " << run.n_drafted << ", \"accepted\": "
              << run.n_accepted << ", \"window\": " << run.n_aux << ", \"decode_ms\": " << json_number(run.t_decode_us / 1000.0) << ", \"ttft_ms\": "
              << json_number(run.t_first_us / 1000.0) << ", \"tokens_fnv\": \"" << tokens_fnv(run.tokens) << "\"}";
        }
        o << "]}";
    }
    o << "\n  ]\n}\n";
    return write_file(path, o.str(), error);
}

// Two panels: speedup per strategy and prompt set (bars with ±1 standard deviation), and the decode
// cost curve (ratio to batch 1 against batch size, log-log, with the "free" and "linear" lines).
bool bench_write_svg(const bench_report & report, const std::string & path, std::string & error) {
    const int W = 960, H = 420, pad = 60, panel_w = (W - 3 * pad) / 2, panel_h = H - 2 * pad - 20;
    std::ostringstream o;
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    o << "<text x=\"" << pad << "\" y=\"22\" font-size=\"14\">specbench: " << report.model_description << ", "
      << report.threads << " threads</text>\n";

    // panel 1: speedup bars
    const int x0 = pad, y0 = pad + 20;
    double y_max = 1.5;
    for (const bench_result & r : report.results) {
        const bench_stat s = bench_speedup(report, r);
        y_max = std::max(y_max, s.mean + s.stddev + 0.1);
    }
    auto ys = [&](double v) { return y0 + panel_h - v / y_max * panel_h; };
    o << "<text x=\"" << x0 << "\" y=\"" << y0 - 8 << "\">speedup over plain decoding (mean ± sd over prompts)</text>\n";
    o << "<line x1=\"" << x0 << "\" y1=\"" << ys(0) << "\" x2=\"" << x0 + panel_w << "\" y2=\"" << ys(0)
      << "\" stroke=\"black\"/>\n<line x1=\"" << x0 << "\" y1=\"" << y0 << "\" x2=\"" << x0 << "\" y2=\"" << ys(0)
      << "\" stroke=\"black\"/>\n";
    for (double v = 0; v <= y_max + 1e-9; v += 0.5) {
        o << "<text x=\"" << x0 - 6 << "\" y=\"" << ys(v) + 4 << "\" text-anchor=\"end\">" << v << "</text>\n";
    }
    o << "<line x1=\"" << x0 << "\" y1=\"" << ys(1) << "\" x2=\"" << x0 + panel_w << "\" y2=\"" << ys(1)
      << "\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>\n";
    const size_t n = std::max<size_t>(1, report.results.size());
    const double slot = (double) panel_w / (double) n;
    const char * colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"};
    std::vector<std::string> strategies; // one colour per strategy, the same in every prompt set
    for (const bench_result & r : report.results) {
        if (std::find(strategies.begin(), strategies.end(), r.strategy) == strategies.end()) {
            strategies.push_back(r.strategy);
        }
    }
    for (size_t i = 0; i < report.results.size(); i++) {
        const bench_result & r = report.results[i];
        const size_t color = (size_t) (std::find(strategies.begin(), strategies.end(), r.strategy) - strategies.begin());
        const bench_stat s = bench_speedup(report, r);
        const double bx = x0 + slot * (double) i + slot * 0.15, bw = slot * 0.7;
        o << "<rect x=\"" << bx << "\" y=\"" << ys(s.mean) << "\" width=\"" << bw << "\" height=\""
          << ys(0) - ys(s.mean) << "\" fill=\"" << colors[color % 7] << "\"/>\n";
        const double cx = bx + bw / 2;
        o << "<line x1=\"" << cx << "\" y1=\"" << ys(s.mean - s.stddev) << "\" x2=\"" << cx << "\" y2=\""
          << ys(s.mean + s.stddev) << "\" stroke=\"black\"/>\n";
        o << "<text x=\"" << cx << "\" y=\"" << ys(s.mean + s.stddev) - 4 << "\" text-anchor=\"middle\">"
          << json_number(std::round(s.mean * 100) / 100) << "</text>\n";
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
