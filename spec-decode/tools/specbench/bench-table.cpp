// bench-table: one table of tokens per second from several tools measured in one run on one model:
// our strategies (specbench --runs) beside llama.cpp's own tools (llama-bench, llama-speculative-simple,
// llama-lookup), with the ratios that matter: ours over our plain decoding (paired by prompt, with
// the interval of bench-stats.h), ours over llama.cpp's plain decoding, and ours over the fastest
// llama.cpp speculative configuration that uses the same drafter. Then the speed issue's targets,
// each judged on those ratios (bench_judge). Prints both tables and writes them as JSON and Markdown.
//
//   llamaspec-bench-table --runs FILE [--runs FILE]... [--title TEXT] [--note TEXT]...
//                         [--drafter LABEL=TEXT]... [--java RATIO,LO,HI] [--json FILE] [--markdown FILE]
//
// --java: plain decoding through the Java API over llama-bench's in interleaved rounds (ci/bench-plain's
// PlainBench: the median of the rounds' own ratios, and their smallest and largest), judged against 0.97
// with that range as its interval.
//
// Input: tab-separated lines "tool config drafter temperature set prompt tokens seconds drafted
// accepted" (a header line starting with "tool" is skipped). set "-" (llama-bench without a set's
// depth) applies to every set; a llama-bench line of a set is that set's reference (the fastest one
// when there are several). A line whose seconds are not positive records a run that failed.
#include "bench-stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

struct table_record {
    std::string tool, config, drafter, set;
    double      temperature = 0;
    int32_t     prompt = -1; // -1: "-"
    bench_sample sample;
    int64_t     drafted = -1, accepted = -1; // -1: not reported
};

// One row: the runs of one tool and config on one set at one temperature, by prompt.
struct table_row {
    std::string tool, config, drafter, set;
    double      temperature = 0;
    std::vector<table_record> runs;
    int32_t     failed = 0;
};

struct table_params {
    std::vector<std::string> runs_paths;
    std::string title;
    std::vector<std::string> notes;
    std::vector<std::pair<std::string, std::string>> drafters; // label, description
    std::string json_path;
    std::string markdown_path;
    bench_interval java{NAN, NAN, NAN}; // --java
};

static std::vector<std::string> split(const std::string & s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        const size_t end = s.find(sep, start);
        out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return out;
}

static bool read_runs(const std::string & path, std::vector<table_record> & out, std::string & error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot read " + path;
        return false;
    }
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        line_no++;
        if (line.empty() || line.rfind("tool\t", 0) == 0) continue;
        const std::vector<std::string> f = split(line, '\t');
        if (f.size() != 10) {
            error = path + ":" + std::to_string(line_no) + ": expected 10 tab-separated fields, found " +
                    std::to_string(f.size());
            return false;
        }
        table_record r;
        r.tool = f[0];
        r.config = f[1];
        r.drafter = f[2];
        r.temperature = std::atof(f[3].c_str());
        r.set = f[4];
        r.prompt = f[5] == "-" ? -1 : std::atoi(f[5].c_str());
        r.sample.tokens = std::atof(f[6].c_str());
        r.sample.seconds = std::atof(f[7].c_str());
        r.drafted = f[8] == "-" ? -1 : std::atoll(f[8].c_str());
        r.accepted = f[9] == "-" ? -1 : std::atoll(f[9].c_str());
        out.push_back(r);
    }
    return true;
}

static std::vector<table_row> group_rows(const std::vector<table_record> & records) {
    std::vector<table_row> rows;
    for (const table_record & r : records) {
        table_row * row = nullptr;
        for (table_row & x : rows) {
            if (x.tool == r.tool && x.config == r.config && x.drafter == r.drafter && x.set == r.set &&
                x.temperature == r.temperature) {
                row = &x;
            }
        }
        if (row == nullptr) {
            rows.push_back({r.tool, r.config, r.drafter, r.set, r.temperature, {}, 0});
            row = &rows.back();
        }
        if (r.sample.seconds > 0) {
            row->runs.push_back(r);
        } else {
            row->failed++;
        }
    }
    for (table_row & row : rows) {
        std::stable_sort(row.runs.begin(), row.runs.end(),
                         [](const table_record & a, const table_record & b) { return a.prompt < b.prompt; });
    }
    return rows;
}

static std::vector<bench_sample> samples(const table_row & row) {
    std::vector<bench_sample> out;
    for (const table_record & r : row.runs) out.push_back(r.sample);
    return out;
}

// The samples of a row by prompt index (0 .. n-1); prompts without a run get seconds 0 (left out).
static std::vector<bench_sample> by_prompt(const table_row & row, int32_t n) {
    std::vector<bench_sample> out((size_t) n);
    for (const table_record & r : row.runs) {
        if (r.prompt >= 0 && r.prompt < n) out[(size_t) r.prompt] = r.sample;
    }
    return out;
}

static double median_tps(const table_row & row) { return bench_median_tokens_per_second(samples(row)); }

static const table_row * find_row(const std::vector<table_row> & rows, const std::string & tool, const std::string & config,
                                  const std::string & set, double temperature) {
    for (const table_row & r : rows) {
        if (r.tool == tool && r.config == config && r.set == set && r.temperature == temperature) return &r;
    }
    return nullptr;
}

static bool is_ours(const table_row & row) { return row.tool == "llamaspec"; }
static bool is_llama_spec(const table_row & row) {
    return row.tool == "llama-speculative-simple" || row.tool == "llama-lookup";
}

// The table's numbers for one row.
struct table_line {
    const table_row * row = nullptr;
    double      tps = NAN;            // median over prompts
    int64_t     drafted = -1, accepted = -1;
    int64_t     tokens = 0;           // over its runs
    bench_ratio vs_our_plain{0, {NAN, NAN, NAN}, {NAN, NAN, NAN}};
    double      vs_llama_plain = NAN; // median over median of llama-bench
    double      vs_llama_best = NAN;  // median over the fastest llama.cpp speculative row, same drafter
    std::string llama_best;           // that row's tool and config
    bool        suspect = false;
};

static std::string method_of(const table_row & row) {
    if (row.tool == "llamaspec") return row.config;
    return row.tool + " " + row.config;
}

static std::vector<table_line> make_lines(const std::vector<table_row> & rows, std::vector<std::string> & sets,
                                          std::vector<double> & temperatures) {
    for (const table_row & r : rows) {
        if (r.set != "-" && std::find(sets.begin(), sets.end(), r.set) == sets.end()) sets.push_back(r.set);
        if (std::find(temperatures.begin(), temperatures.end(), r.temperature) == temperatures.end()) {
            temperatures.push_back(r.temperature);
        }
    }
    std::sort(temperatures.begin(), temperatures.end());
    // llama.cpp's plain decoding for a set: its fastest llama-bench row of that set, else of no set
    auto llama_plain_of = [&](const std::string & set) {
        const table_row * best = nullptr;
        for (const std::string & s : {set, std::string("-")}) {
            for (const table_row & r : rows) {
                if (r.tool == "llama-bench" && r.set == s && (best == nullptr || median_tps(r) > median_tps(*best))) best = &r;
            }
            if (best != nullptr) break;
        }
        return best;
    };
    std::vector<table_line> lines;
    auto add = [&](const table_row & r) {
        table_line l;
        l.row = &r;
        l.tps = median_tps(r);
        for (const table_record & x : r.runs) {
            if (x.drafted >= 0) l.drafted = std::max<int64_t>(l.drafted, 0) + x.drafted;
            if (x.accepted >= 0) l.accepted = std::max<int64_t>(l.accepted, 0) + x.accepted;
            l.tokens += (int64_t) x.sample.tokens;
        }
        const table_row * llama_plain = llama_plain_of(r.set);
        if (llama_plain != nullptr) l.vs_llama_plain = l.tps / median_tps(*llama_plain);
        lines.push_back(l);
        return &lines.back();
    };
    for (const table_row & r : rows) {
        if (r.tool == "llama-bench" && r.set == "-") add(r);
    }
    for (double temperature : temperatures) {
        for (const std::string & set : sets) {
            // llama.cpp's rows first, then ours; the fastest llama.cpp row per drafter is the reference
            for (const table_row & r : rows) {
                if (r.set == set && r.temperature == temperature && r.tool == "llama-bench") add(r);
            }
            for (const table_row & r : rows) {
                if (r.set == set && r.temperature == temperature && !is_ours(r) && r.tool != "llama-bench") add(r);
            }
            const table_row * plain = find_row(rows, "llamaspec", "plain", set, temperature);
            const table_row * repeat = find_row(rows, "llamaspec", "plain-repeat", set, temperature);
            int32_t n = 0;
            for (const table_row & r : rows) {
                for (const table_record & x : r.runs) n = std::max(n, x.prompt + 1);
            }
            std::vector<bench_sample> base;
            if (plain != nullptr) {
                base = by_prompt(*plain, n);
                if (repeat != nullptr) {
                    const std::vector<bench_sample> again = by_prompt(*repeat, n);
                    for (size_t i = 0; i < base.size(); i++) {
                        if (base[i].seconds > 0 && again[i].seconds > 0) {
                            base[i].tokens += again[i].tokens;
                            base[i].seconds += again[i].seconds;
                        }
                    }
                }
            }
            const double noise = plain != nullptr && repeat != nullptr
                ? bench_noise_floor(bench_ratio_of(by_prompt(*repeat, n), by_prompt(*plain, n))) : NAN;
            for (const table_row & r : rows) {
                if (r.set != set || r.temperature != temperature || !is_ours(r)) continue;
                table_line * l = add(r);
                if (&r == plain) { // as specbench reports it: both plain runs of each prompt together
                    l->tps = bench_median_tokens_per_second(base);
                    const table_row * llama_plain = llama_plain_of(set);
                    if (llama_plain != nullptr) l->vs_llama_plain = l->tps / median_tps(*llama_plain);
                } else if (&r == repeat) {
                    l->vs_our_plain = bench_ratio_of(by_prompt(r, n), by_prompt(*plain, n));
                } else if (&r != plain && plain != nullptr) {
                    l->vs_our_plain = bench_ratio_of(by_prompt(r, n), base);
                    l->suspect = bench_suspect(std::max<int64_t>(l->drafted, 0), l->tokens, l->accepted, l->vs_our_plain, noise);
                }
                const std::string drafter = r.drafter;
                for (const table_row & x : rows) {
                    if (!is_llama_spec(x) || x.set != set || x.temperature != temperature || x.drafter != drafter) continue;
                    const double ratio = l->tps / median_tps(x);
                    if (std::isfinite(ratio) && (!std::isfinite(l->vs_llama_best) || ratio < l->vs_llama_best)) {
                        l->vs_llama_best = ratio; // the smallest ratio is against the fastest row
                        l->llama_best = method_of(x);
                    }
                }
            }
        }
    }
    return lines;
}

static std::string fmt(const char * format, double v) {
    if (!std::isfinite(v)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof(buf), format, v);
    return buf;
}

static std::string interval_text(const bench_interval & v) {
    if (!std::isfinite(v.value)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.3f [%.3f, %.3f]", v.value, v.lo, v.hi);
    return buf;
}

static std::string accept_text(const table_line & l) {
    if (l.drafted < 0) return "-";
    if (l.drafted == 0) return "0 drafted";
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.0f%% of %lld", 100.0 * (double) std::max<int64_t>(l.accepted, 0) / (double) l.drafted,
                  (long long) l.drafted);
    return buf;
}

static std::string temperature_text(double t) { return t > 0 ? fmt("%g", t) : "greedy"; }

// One of the speed issue's targets, judged on the table's numbers.
struct table_target {
    std::string    what;
    std::string    set, sampling;
    bench_interval measured;
    bool           count = false; // measured is a count, not a ratio
    std::string    against;
    double         target = NAN;
    bench_verdict  verdict = bench_verdict::unknown;
};

// Prompt lookup, Token Recycling, lookahead and auto (with or without the budget).
static bool training_free(const std::string & config) {
    std::string base = config;
    bench_strip_fixed(base);
    return base == "lookup" || base == "recycling" || base == "lookahead" || base == "auto";
}

// The targets: greedy plain decoding at least level with llama-bench (the Java API within 3 % in interleaved
// rounds); the perfect drafter 1.3x llama.cpp's fastest speculative setting with it (greedy, and
// sampled against its probabilistic draft sampling); the realistic drafter 1.15x llama-bench and never
// below our plain decoding; training-free strategies at least 0.97x our plain and drafting on the
// repetitive prompts.
static std::vector<table_target> make_targets(const std::vector<table_line> & lines, const bench_interval & java) {
    std::vector<table_target> out;
    const auto point = [](double v) { return bench_interval{v, v, v}; };
    // a speed measured on a row marked suspect is not judged; a count of drafted nodes still is
    bool row_suspect = false;
    const auto add = [&](const std::string & what, const std::string & set, const std::string & sampling,
                         const bench_interval & measured, const std::string & against, double target, bool count = false) {
        out.push_back({what, set, sampling, measured, count, against, target,
                       row_suspect && !count ? bench_verdict::not_judged : bench_judge(measured, target)});
    };
    if (std::isfinite(java.value)) {
        add("plain decoding through the Java API (interleaved rounds)", "-", "greedy", java, "llama-bench", 0.97);
    }
    for (const table_line & l : lines) {
        const table_row & r = *l.row;
        if (!is_ours(r)) continue;
        const std::string sampling = temperature_text(r.temperature);
        row_suspect = l.suspect;
        if (r.config == "plain") {
            // llama-bench decodes without sampling: only greedy plain decoding is measured against it
            if (r.temperature > 0) continue;
            add("plain decoding (specbench; llama-bench runs minutes apart)", r.set, sampling, point(l.vs_llama_plain),
                "llama-bench", 1.0);
        } else if (r.drafter == "perfect") {
            add("perfect drafter", r.set, sampling, point(l.vs_llama_best), l.llama_best.empty() ? "-" : l.llama_best, 1.3);
        } else if (r.drafter == "realistic") {
            add("realistic drafter", r.set, sampling, point(l.vs_llama_plain), "llama-bench", 1.15);
            add("realistic drafter, never below our plain", r.set, sampling, l.vs_our_plain.median, "our plain", 1.0);
        } else if (training_free(r.config)) {
            add(r.config, r.set, sampling, l.vs_our_plain.median, "our plain", 0.97);
            if (r.set == "repetitive") {
                add(r.config + " drafts on the repetitive prompts (nodes drafted)", r.set, sampling,
                    point(l.drafted < 0 ? NAN : (double) l.drafted), "-", 1.0, true);
            }
        }
    }
    return out;
}

static const char * k_headers[] = {"set", "sampling", "engine", "method", "drafter", "prompts", "tokens/s",
                                   "accepted", "x our plain [95%]", "x llama.cpp plain", "x best llama.cpp (same drafter)",
                                   "flag"};
static const size_t k_columns = sizeof(k_headers) / sizeof(k_headers[0]);

static const char * k_target_headers[] = {"target", "set", "sampling", "measured [95%]", "against", "target ratio",
                                          "verdict"};

static std::vector<std::string> target_cells(const table_target & t) {
    return {t.what, t.set, t.sampling,
            t.count ? fmt("%.0f", t.measured.value)
                    : t.measured.lo != t.measured.hi ? interval_text(t.measured) : fmt("%.3f", t.measured.value),
            t.against, t.count ? "at least 1" : fmt("%.2f", t.target), bench_verdict_text(t.verdict)};
}

// A table as aligned text (the first row is the header).
static std::string text_table(const std::vector<std::vector<std::string>> & rows) {
    std::vector<size_t> width;
    for (const auto & r : rows) {
        if (width.size() < r.size()) width.resize(r.size(), 0);
        for (size_t i = 0; i < r.size(); i++) width[i] = std::max(width[i], r[i].size());
    }
    std::string text;
    for (const auto & r : rows) {
        std::string s;
        for (size_t i = 0; i < r.size(); i++) {
            s += r[i] + std::string(width[i] - r[i].size() + (i + 1 < r.size() ? 2 : 0), ' ');
        }
        while (!s.empty() && s.back() == ' ') s.pop_back();
        text += s + "\n";
    }
    return text;
}

// The same as Markdown.
static std::string markdown_table(const std::vector<std::vector<std::string>> & rows) {
    std::string md;
    for (size_t k = 0; k < rows.size(); k++) {
        md += "|";
        for (const std::string & cell : rows[k]) md += " " + cell + " |";
        md += "\n";
        if (k == 0) {
            md += "|";
            for (size_t i = 0; i < rows[k].size(); i++) md += "---|";
            md += "\n";
        }
    }
    return md;
}

static std::vector<std::string> cells_of(const table_line & l) {
    const table_row & r = *l.row;
    std::string prompts = std::to_string(r.runs.size());
    if (r.tool == "llama-bench") prompts = std::to_string(r.runs.size()) + " reps";
    if (r.failed > 0) prompts += " (" + std::to_string(r.failed) + " failed)";
    return {r.set, temperature_text(r.temperature), is_ours(r) ? "llamaspec" : "llama.cpp", method_of(r),
            r.drafter, prompts, fmt("%.1f", l.tps), accept_text(l), interval_text(l.vs_our_plain.median),
            fmt("%.3f", l.vs_llama_plain),
            std::isfinite(l.vs_llama_best) ? fmt("%.3f", l.vs_llama_best) + " (" + l.llama_best + ")" : "-",
            l.suspect ? "!" : ""};
}

static std::string json_string(const std::string & s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += (char) c;
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
        } else {
            out += (char) c;
        }
    }
    return out + "\"";
}

static std::string json_number(double v) { return fmt("%.6g", v) == "-" ? "null" : fmt("%.6g", v); }

// An interval's bounds as a JSON pair: [lo, hi].
static std::string json_bounds(const bench_interval & v) { return "[" + json_number(v.lo) + ", " + json_number(v.hi) + "]"; }

static std::string legend(const table_params & p) {
    std::string s;
    for (const auto & d : p.drafters) s += "drafter " + d.first + ": " + d.second + "\n";
    s += "tokens/s: median over prompts (our plain: both its runs of each prompt together; llama-bench: over its "
         "repetitions, after as many tokens as the set's median prompt); ours count the tokens after the first over the time from the first token to the "
         "last (the first comes free with the prompt's evaluation), llama.cpp's tools every token they time. x our plain: median of "
         "per-prompt ratios to our plain decoding in the same run (both plain runs; plain-repeat: second run against "
         "first, the noise floor), 95% percentile bootstrap interval over prompts. x llama.cpp plain: median tokens/s "
         "over llama-bench's on the same set (the faster of its rows). x best llama.cpp: median tokens/s over that of the fastest llama.cpp speculative row "
         "on the same set and sampling with the same drafter (no drafter: llama-lookup). ! = departs by more than the "
         "noise floor from what its work allows: from 1 having drafted nothing, or above its tokens per step "
         "(tokens / (tokens - accepted)).\n";
    return s;
}

static bool write_text(const std::string & path, const std::string & text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    return (bool) out;
}

static int32_t run_table(const table_params & p, const std::vector<table_row> & rows) {
    std::vector<std::string> sets;
    std::vector<double> temperatures;
    const std::vector<table_line> lines = make_lines(rows, sets, temperatures);
    std::vector<std::vector<std::string>> table = {std::vector<std::string>(k_headers, k_headers + k_columns)};
    for (const table_line & l : lines) table.push_back(cells_of(l));
    const std::vector<table_target> targets = make_targets(lines, p.java);
    std::vector<std::vector<std::string>> judged = {
        std::vector<std::string>(std::begin(k_target_headers), std::end(k_target_headers))};
    for (const table_target & t : targets) judged.push_back(target_cells(t));
    const std::string targets_title = "against the speed issue's targets (met: the measured value reaches the target; "
                                      "within the noise: only its 95% interval does; short: the interval lies below it; "
                                      "not judged: the row it comes from is marked !)";

    std::string text = p.title.empty() ? "" : p.title + "\n";
    for (const std::string & n : p.notes) text += n + "\n";
    text += "\n" + text_table(table) + "\n" + legend(p);
    if (targets.size() > 0) text += "\n" + targets_title + ":\n" + text_table(judged);
    std::fputs(text.c_str(), stdout);

    int32_t rc = 0;
    if (!p.markdown_path.empty()) {
        std::string md = p.title.empty() ? "" : "### " + p.title + "\n\n";
        for (const std::string & n : p.notes) md += "- " + n + "\n";
        md += "\n" + markdown_table(table) + "\n" + legend(p);
        if (targets.size() > 0) md += "\n" + targets_title + ":\n\n" + markdown_table(judged);
        if (!write_text(p.markdown_path, md)) {
            std::fprintf(stderr, "error: cannot write %s\n", p.markdown_path.c_str());
            rc = 1;
        }
    }
    if (!p.json_path.empty()) {
        std::ostringstream o;
        o << "{\n  \"title\": " << json_string(p.title) << ",\n  \"notes\": [";
        for (size_t i = 0; i < p.notes.size(); i++) o << (i ? ", " : "") << json_string(p.notes[i]);
        o << "],\n  \"drafters\": {";
        for (size_t i = 0; i < p.drafters.size(); i++) {
            o << (i ? ", " : "") << json_string(p.drafters[i].first) << ": " << json_string(p.drafters[i].second);
        }
        o << "},\n  \"legend\": " << json_string(legend(p)) << ",\n  \"rows\": [";
        for (size_t i = 0; i < lines.size(); i++) {
            const table_line & l = lines[i];
            const table_row & r = *l.row;
            o << (i ? "," : "") << "\n    {\"set\": " << json_string(r.set) << ", \"temperature\": "
              << json_number(r.temperature) << ", \"engine\": " << json_string(is_ours(r) ? "llamaspec" : "llama.cpp")
              << ", \"tool\": " << json_string(r.tool) << ", \"config\": " << json_string(r.config)
              << ", \"drafter\": " << json_string(r.drafter) << ", \"runs\": " << r.runs.size()
              << ", \"failed\": " << r.failed << ", \"tokens_per_second\": " << json_number(l.tps)
              << ", \"drafted\": " << (l.drafted < 0 ? "null" : std::to_string(l.drafted))
              << ", \"accepted\": " << (l.accepted < 0 ? "null" : std::to_string(l.accepted));
            if (l.vs_our_plain.n > 0) {
                o << ", \"vs_our_plain\": {\"median\": " << json_number(l.vs_our_plain.median.value)
                  << ", \"median_interval\": " << json_bounds(l.vs_our_plain.median)
                  << ", \"sum_ratio\": " << json_number(l.vs_our_plain.sum.value)
                  << ", \"sum_ratio_interval\": " << json_bounds(l.vs_our_plain.sum) << "}";
            }
            o << ", \"vs_llamacpp_plain\": " << json_number(l.vs_llama_plain);
            if (!l.llama_best.empty()) {
                o << ", \"vs_best_llamacpp\": {\"ratio\": " << json_number(l.vs_llama_best) << ", \"against\": "
                  << json_string(l.llama_best) << "}";
            }
            o << ", \"suspect\": " << (l.suspect ? "true" : "false") << "}";
        }
        o << "\n  ],\n  \"targets\": [";
        for (size_t i = 0; i < targets.size(); i++) {
            const table_target & t = targets[i];
            o << (i ? "," : "") << "\n    {\"target\": " << json_string(t.what) << ", \"set\": " << json_string(t.set)
              << ", \"sampling\": " << json_string(t.sampling) << ", \"measured\": " << json_number(t.measured.value)
              << ", \"interval\": " << json_bounds(t.measured) << ", \"against\": " << json_string(t.against) << ", \"target_ratio\": " << json_number(t.target)
              << ", \"verdict\": " << json_string(bench_verdict_text(t.verdict)) << "}";
        }
        o << "\n  ]\n}\n";
        if (!write_text(p.json_path, o.str())) {
            std::fprintf(stderr, "error: cannot write %s\n", p.json_path.c_str());
            rc = 1;
        }
    }
    return rc;
}

static void usage() {
    std::fprintf(stderr,
        "usage: llamaspec-bench-table --runs FILE [--runs FILE]... [--title TEXT] [--note TEXT]...\n"
        "                             [--drafter LABEL=TEXT]... [--java RATIO,LO,HI] [--json FILE] [--markdown FILE]\n");
}

int main(int argc, char ** argv) {
    table_params p;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "error: %s needs a value\n", a.c_str());
            usage();
            return 2;
        }
        const std::string v = argv[++i];
        if      (a == "--runs")     p.runs_paths.push_back(v);
        else if (a == "--title")    p.title = v;
        else if (a == "--note")     p.notes.push_back(v);
        else if (a == "--json")     p.json_path = v;
        else if (a == "--markdown") p.markdown_path = v;
        else if (a == "--java") {
            const std::vector<std::string> f = split(v, ',');
            double x[3];
            bool ok = f.size() == 3;
            for (size_t k = 0; k < 3 && ok; k++) {
                char * end = nullptr;
                x[k] = std::strtod(f[k].c_str(), &end);
                ok = !f[k].empty() && *end == '\0' && std::isfinite(x[k]) && x[k] > 0;
            }
            if (!ok || x[1] > x[0] || x[2] < x[0]) {
                std::fprintf(stderr, "error: --java needs RATIO,LO,HI with 0 < LO <= RATIO <= HI, not '%s'\n", v.c_str());
                return 2;
            }
            p.java = {x[0], x[1], x[2]};
        }
        else if (a == "--drafter" && v.find('=') != std::string::npos) {
            p.drafters.push_back({v.substr(0, v.find('=')), v.substr(v.find('=') + 1)});
        } else {
            std::fprintf(stderr, "error: unknown argument %s %s\n", a.c_str(), v.c_str());
            usage();
            return 2;
        }
    }
    if (p.runs_paths.empty()) {
        usage();
        return 2;
    }
    std::vector<table_record> records;
    std::string error;
    for (const std::string & path : p.runs_paths) {
        if (!read_runs(path, records, error)) {
            std::fprintf(stderr, "error: %s\n", error.c_str());
            return 1;
        }
    }
    const std::vector<table_row> rows = group_rows(records);
    return run_table(p, rows);
}
