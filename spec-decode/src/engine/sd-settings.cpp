// The named settings: one table per params struct gives every number its name, range and default.
// Defaults are set from the tables, values set by name are checked against them, and front ends
// (the JNI library, command lines) read them instead of repeating ranges and defaults.
#include "spec-decode.h"
#include "engine/sd-settings.h"
#include "model/sd-log.h"

#include <cmath>
#include <cstring>
#include <sstream>
#include <type_traits>

namespace {

template <typename T> constexpr sd_setting_type type_of() {
    return std::is_same<T, bool>::value ? SD_SETTING_BOOL
         : std::is_floating_point<T>::value ? SD_SETTING_FLOAT : SD_SETTING_INT;
}

template <typename T> void store(T & field, double value) { field = (T) value; }
template <> void store<bool>(bool & field, double value) { field = value != 0.0; }

// A setting and how to reach its field in P.
template <typename P> struct entry {
    sd_setting setting;
    void   (*set)(P &, double);
    double (*get)(const P &);
};

#define SD_FIELD_TYPE(P, member) std::remove_reference_t<decltype(std::declval<P &>().member)>

// SETTING(P, member, name, min, max, min_open, max_open, zero_ok, default)
#define SETTING(P, member, name, lo, hi, lo_open, hi_open, zero_ok, def)                                  \
    entry<P> {                                                                                            \
        {name, type_of<SD_FIELD_TYPE(P, member)>(), lo, hi, lo_open, hi_open, zero_ok, def},              \
        [](P & p, double v) { store(p.member, v); },                                                      \
        [](const P & p) { return (double) p.member; }                                                     \
    }
#define RANGE(P, member, name, lo, hi, def)   SETTING(P, member, name, lo, hi, false, false, false, def)
#define FLAG(P, member, name, def)            SETTING(P, member, name, 0, 1, false, false, false, def)

const double k_int32_max  = 2147483647.0;
const double k_uint32_max = 4294967295.0;

const std::vector<entry<sd_model_params>> & model_table() {
    typedef sd_model_params P;
    static const std::vector<entry<P>> t = {
        RANGE(P, n_gpu_layers, "n_gpu_layers", -1, k_int32_max, -1),
        FLAG (P, use_mmap,     "use_mmap", 1),
        SETTING(P, n_ctx,      "n_ctx", 8, 1 << 24, false, false, true, 0),
        RANGE(P, n_threads,    "n_threads", 0, 512, 0),
        RANGE(P, rpc_timeout_ms, "rpc_timeout_ms", 100, 3600000, 30000),
    };
    return t;
}

const std::vector<entry<sd_session_params>> & session_table() {
    typedef sd_session_params P;
    static const std::vector<entry<P>> t = {
        SETTING(P, n_ctx,      "n_ctx", 8, 1 << 24, false, false, true, 0),
        RANGE(P, n_batch,      "n_batch", 0, 1 << 16, 0),
        RANGE(P, n_threads,    "n_threads", 0, 512, 0),
        FLAG (P, kv_f32,       "kv_f32", 0),
        RANGE(P, flash_attn,   "flash_attn", SD_FLASH_ATTN_AUTO, SD_FLASH_ATTN_ON, SD_FLASH_ATTN_AUTO),
        FLAG (P, strict_numerics, "strict_numerics", 0),
    };
    return t;
}

const std::vector<entry<sd_generation_params>> & generation_table() {
    typedef sd_generation_params P;
    static const std::vector<entry<P>> t = {
        RANGE  (P, max_tokens,     "max_tokens", 1, 1 << 24, 256),
        RANGE  (P, temperature,    "temperature", 0, 100, 0.8),
        RANGE  (P, top_k,          "top_k", 0, k_int32_max, 40),
        SETTING(P, top_p,          "top_p", 0, 1, true, false, false, 0.95),
        SETTING(P, min_p,          "min_p", 0, 1, false, true, false, 0.05),
        SETTING(P, repeat_penalty, "repeat_penalty", 0, 100, true, false, false, 1.0),
        RANGE  (P, repeat_last_n,  "repeat_last_n", 0, 1 << 20, 64),
        RANGE  (P, seed,           "seed", 0, k_uint32_max, (double) LLAMA_DEFAULT_SEED),
        RANGE  (P, spec.max_nodes, "spec.max_nodes", 1, 64, 32),
        RANGE  (P, spec.max_depth, "spec.max_depth", 1, 32, 16),
        FLAG   (P, spec.adaptive,  "spec.adaptive", 1),
        RANGE  (P, spec.lookup.min_ngram,    "spec.lookup.min_ngram", 1, 64, 1),
        RANGE  (P, spec.lookup.max_ngram,    "spec.lookup.max_ngram", 1, 64, 4),
        RANGE  (P, spec.lookup.max_branches, "spec.lookup.max_branches", 1, 64, 4),
        RANGE  (P, spec.recycling.k,         "spec.recycling.k", 1, 8, 8),
        RANGE  (P, spec.lookahead.w,         "spec.lookahead.w", 1, 32, 8),
        RANGE  (P, spec.lookahead.n,         "spec.lookahead.n", 2, 16, 4),
        RANGE  (P, spec.lookahead.g,         "spec.lookahead.g", 1, 32, 8),
        RANGE  (P, spec.draft.p_min,         "spec.draft.p_min", 0, 1, 0.3),
        RANGE  (P, spec.draft.p_branch,      "spec.draft.p_branch", 0, 1, 0.6),
        FLAG   (P, spec.medusa.static_tree,  "spec.medusa.static_tree", 0),
        RANGE  (P, spec.medusa.top_k,        "spec.medusa.top_k", 1, 32, 8),
        FLAG   (P, spec.typical.enabled,     "spec.typical.enabled", 0),
        SETTING(P, spec.typical.threshold,   "spec.typical.threshold", 0, 1, true, false, false, 0.09),
        RANGE  (P, spec.typical.alpha,       "spec.typical.alpha", 0, 1, 0.3),
    };
    return t;
}

const std::vector<entry<sd_train_params>> & train_table() {
    typedef sd_train_params P;
    static const std::vector<entry<P>> t = {
        RANGE  (P, n_heads,        "heads", 1, SD_HEADS_MAX, 4),
        RANGE  (P, n_layers,       "layers", 0, SD_HEADS_MAX_LAYERS, 1),
        RANGE  (P, n_steps,        "steps", 1, 1e7, 2000),
        RANGE  (P, max_minutes,    "max_minutes", 0, 1e5, 0),
        RANGE  (P, batch,          "batch", 1, 65536, 256),
        SETTING(P, lr,             "lr", 0, 1, true, false, false, 2e-3),
        RANGE  (P, warmup,         "warmup", 0, 0.5, 0.05),
        SETTING(P, weight_decay,   "weight_decay", 0, 1, false, true, false, 0),
        SETTING(P, n_ctx,          "ctx", 32, 65536, false, false, true, 0),
        RANGE  (P, max_tokens,     "max_tokens", 1000, 1e9, 300000),
        RANGE  (P, holdout,        "holdout", 0.01, 0.5, 0.1),
        RANGE  (P, max_eval,       "max_eval", 100, 1e7, 20000),
        FLAG   (P, self_generated, "self_generated", 0),
        RANGE  (P, n_generate,     "generate_tokens", 8, 4096, 128),
        RANGE  (P, max_generated,  "max_generated", 1, 1e6, 1000),
        RANGE  (P, n_threads,      "threads", 0, 512, 0),
        RANGE  (P, seed,           "seed", 0, k_uint32_max, 42),
        FLAG   (P, regressive,     "regressive", 0),
        FLAG   (P, feature,        "feature", 0),
        RANGE  (P, feature_weight, "feature_weight", 0, 100, 1),
        RANGE  (P, attention,      "attention", 0, SD_HEADS_MAX_WINDOW, 0),
    };
    return t;
}

const std::vector<entry<sd_early_exit_params>> & early_exit_table() {
    typedef sd_early_exit_params P;
    static const std::vector<entry<P>> t = {
        RANGE  (P, n_layers,   "layers", 1, 4096, 1), // and below the model's block count
        RANGE  (P, n_steps,    "steps", 1, 1e7, 400),
        RANGE  (P, batch,      "batch", 1, 65536, 128),
        FLAG   (P, attention,  "attention", 0),
        SETTING(P, lr,         "lr", 0, 1, true, false, false, 1e-3),
        RANGE  (P, max_tokens, "max_tokens", 1, 1e9, 30000),
        RANGE  (P, holdout,    "holdout", 0.01, 0.5, 0.1),
        RANGE  (P, n_threads,  "threads", 0, 512, 0),
        RANGE  (P, seed,       "seed", 0, k_uint32_max, 42),
    };
    return t;
}

#undef FLAG
#undef RANGE
#undef SETTING
#undef SD_FIELD_TYPE

template <typename P> const std::vector<sd_setting> & settings_of(const std::vector<entry<P>> & table) {
    static const std::vector<sd_setting> settings = [&] {
        std::vector<sd_setting> out;
        for (const entry<P> & e : table) out.push_back(e.setting);
        return out;
    }();
    return settings;
}

template <typename P> P defaults_of(const std::vector<entry<P>> & table) {
    P p{};
    for (const entry<P> & e : table) e.set(p, e.setting.def);
    return p;
}

template <typename P> sd_status set_in(const std::vector<entry<P>> & table, P & p, const char * name, double value,
                                       std::string & error) {
    for (const entry<P> & e : table) {
        if (std::strcmp(e.setting.name, name) != 0) continue;
        if (!sd_setting_allows(e.setting, value)) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, sd_setting_error(e.setting, name, value));
        }
        e.set(p, value);
        return SD_OK;
    }
    return sd_fail(error, SD_ERR_INVALID_ARGUMENT, std::string("unknown setting '") + (name != nullptr ? name : "") + "'");
}

template <typename P> sd_status check_all(const std::vector<entry<P>> & table, const P & p, std::string & error) {
    for (const entry<P> & e : table) {
        const double value = e.get(p);
        if (!sd_setting_allows(e.setting, value)) {
            return sd_fail(error, SD_ERR_INVALID_ARGUMENT, sd_setting_error(e.setting, e.setting.name, value));
        }
    }
    return SD_OK;
}

// Whole numbers in full ("16777216"), others with six significant digits ("0.01").
std::string number(double v) {
    std::ostringstream s;
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
        s << (long long) v;
    } else {
        s << v;
    }
    return s.str();
}

} // namespace

bool sd_setting_allows(const sd_setting & s, double v) {
    if (!std::isfinite(v)) return false;
    if (s.type != SD_SETTING_FLOAT && v != std::floor(v)) return false;
    if (s.zero_ok && v == 0.0) return true;
    // float fields hold their bounds as floats: 0.01 is stored as 0.0099999998, which must pass
    const bool as_float = s.type == SD_SETTING_FLOAT;
    const double x  = as_float ? (double) (float) v : v;
    const double lo = as_float ? (double) (float) s.min : s.min;
    const double hi = as_float ? (double) (float) s.max : s.max;
    const bool above = s.min_open ? x > lo : x >= lo;
    const bool below = s.max_open ? x < hi : x <= hi;
    return above && below;
}

std::string sd_setting_error(const sd_setting & s, const std::string & label, double v) {
    const std::string range = std::string(s.min_open ? "(" : "[") + number(s.min) + ", " + number(s.max) +
                              (s.max_open ? ")" : "]");
    if (s.type == SD_SETTING_BOOL) return label + " must be 0 or 1, got " + number(v);
    const std::string whole = s.type == SD_SETTING_INT && std::isfinite(v) && v != std::floor(v) ? "an integer " : "";
    return label + " must be " + whole + (s.zero_ok ? "0 or in " : "in ") + range + ", got " + number(v);
}

const std::vector<sd_setting> & sd_model_settings(void)      { return settings_of(model_table()); }
const std::vector<sd_setting> & sd_session_settings(void)    { return settings_of(session_table()); }
const std::vector<sd_setting> & sd_generation_settings(void) { return settings_of(generation_table()); }
const std::vector<sd_setting> & sd_train_settings(void)      { return settings_of(train_table()); }
const std::vector<sd_setting> & sd_early_exit_settings(void) { return settings_of(early_exit_table()); }

sd_model_params       sd_model_default_params(void)      { return defaults_of(model_table()); }
sd_session_params     sd_session_default_params(void)    { return defaults_of(session_table()); }
sd_generation_params  sd_generation_default_params(void) { return defaults_of(generation_table()); }
sd_speculation_params sd_speculation_default_params(void) { return sd_generation_default_params().spec; }
sd_train_params       sd_train_default_params(void)      { return defaults_of(train_table()); }
sd_early_exit_params  sd_early_exit_default_params(void) { return defaults_of(early_exit_table()); }

sd_status sd_model_set(sd_model_params & p, const char * name, double value, std::string & error) {
    return set_in(model_table(), p, name, value, error);
}
sd_status sd_session_set(sd_session_params & p, const char * name, double value, std::string & error) {
    return set_in(session_table(), p, name, value, error);
}
sd_status sd_generation_set(sd_generation_params & p, const char * name, double value, std::string & error) {
    return set_in(generation_table(), p, name, value, error);
}
sd_status sd_train_set(sd_train_params & p, const char * name, double value, std::string & error) {
    return set_in(train_table(), p, name, value, error);
}
sd_status sd_early_exit_set(sd_early_exit_params & p, const char * name, double value, std::string & error) {
    return set_in(early_exit_table(), p, name, value, error);
}

sd_status sd_model_params_check(const sd_model_params & p, std::string & error) {
    return check_all(model_table(), p, error);
}
sd_status sd_session_params_check(const sd_session_params & p, std::string & error) {
    return check_all(session_table(), p, error);
}
sd_status sd_train_params_check(const sd_train_params & p, std::string & error) {
    const sd_status status = check_all(train_table(), p, error);
    if (status != SD_OK) return status;
    if (p.attention > 0 && !p.feature) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "attention (" + std::to_string(p.attention) +
                       ") is for a feature drafter: set feature too");
    }
    return SD_OK;
}
sd_status sd_early_exit_params_check(const sd_early_exit_params & p, std::string & error) {
    return check_all(early_exit_table(), p, error);
}

sd_status sd_generation_params_check(const sd_generation_params & p, std::string & error) {
    const sd_speculation_params & s = p.spec;
    if (s.type < SD_SPEC_NONE || s.type > SD_SPEC_MEDUSA) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "unknown speculation type " + std::to_string((int) s.type));
    }
    const sd_status status = check_all(generation_table(), p, error);
    if (status != SD_OK) return status;
    if (s.lookup.max_ngram < s.lookup.min_ngram) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "spec.lookup.max_ngram (" + std::to_string(s.lookup.max_ngram) +
                       ") must be at least spec.lookup.min_ngram (" + std::to_string(s.lookup.min_ngram) + ")");
    }
    if (s.type == SD_SPEC_MEDUSA && s.medusa.heads == nullptr) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT, "Medusa speculation needs heads (spec.medusa.heads, sd_heads_load)");
    }
    if (s.type == SD_SPEC_DRAFT_MODEL && s.draft.model == nullptr) {
        return sd_fail(error, SD_ERR_INVALID_ARGUMENT,
                       "speculation with a draft model (SD_SPEC_DRAFT_MODEL) needs spec.draft.model, got none");
    }
    return SD_OK;
}

static const char * const k_spec_names[] = {"none", "lookup", "recycling", "auto", "lookahead", "draft", "medusa"};

const char * sd_spec_type_name(sd_spec_type type) {
    const int i = (int) type;
    return i >= 0 && i < (int) (sizeof(k_spec_names) / sizeof(k_spec_names[0])) ? k_spec_names[i] : "unknown";
}

bool sd_spec_type_from_name(const char * name, sd_spec_type * out) {
    for (int i = 0; name != nullptr && i < (int) (sizeof(k_spec_names) / sizeof(k_spec_names[0])); i++) {
        if (std::strcmp(name, k_spec_names[i]) == 0) {
            *out = (sd_spec_type) i;
            return true;
        }
    }
    return false;
}

std::vector<std::pair<const char *, int64_t>> sd_stats_values(const sd_stats & s) {
    return {
        {"n_prompt", s.n_prompt},       {"n_prompt_reused", s.n_prompt_reused}, {"n_generated", s.n_generated},
        {"n_steps", s.n_steps},         {"n_drafted", s.n_drafted},             {"n_accepted", s.n_accepted},
        {"n_aux", s.n_aux},             {"t_prompt_us", s.t_prompt_us},         {"t_first_us", s.t_first_us},
        {"t_gen_us", s.t_gen_us},       {"t_draft_us", s.t_draft_us},           {"t_verify_us", s.t_verify_us},
        {"n_threads", s.n_threads},
    };
}

std::vector<std::pair<const char *, double>> sd_train_report_values(const sd_train_report & r) {
    return {
        {"steps", (double) r.steps},       {"examples", (double) r.examples}, {"n_train", (double) r.n_train},
        {"n_eval", (double) r.n_eval},     {"n_tokens", (double) r.n_tokens}, {"loss_first", r.loss_first},
        {"loss", r.loss},                  {"seconds", r.seconds},            {"seconds_data", r.seconds_data},
        {"seconds_train", r.seconds_train}, {"time_limited", r.time_limited ? 1.0 : 0.0},
    };
}

std::vector<std::pair<const char *, std::vector<float>>> sd_train_report_lists(const sd_train_report & r) {
    return {
        {"top1_before", r.top1_before}, {"top5_before", r.top5_before}, {"top1", r.top1}, {"top5", r.top5},
        {"eval_loss_before", r.eval_loss_before}, {"eval_loss", r.eval_loss}, {"accuracy", r.accuracy},
    };
}
