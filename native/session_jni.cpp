// JNI functions of dev.llamaspec.Session. The Java side serialises calls on one session and keeps
// the handle alive while a call runs; nCancel alone may run concurrently with nStep.
#include "jni-util.h"
#include "spec-decode.h"

#define SESSION_FN(ret, name) extern "C" JNIEXPORT ret JNICALL Java_dev_llamaspec_Session_##name

static const char * const CLOSED = "session is closed";

SESSION_FN(jlong, nInit)(JNIEnv * env, jclass, jlong model_handle, jint n_ctx, jint n_batch, jint threads,
                         jboolean flash_attn, jboolean kv_f32) {
    return jni_guard(env, (jlong) 0, [&]() -> jlong {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return 0;
        if (n_ctx < 0 || n_batch < 0 || threads < 0) {
            jni_throw_illegal_argument(env, "contextSize, batchSize and threads must be >= 0");
            return 0;
        }
        sd_session_params params = sd_session_default_params();
        params.n_ctx     = (uint32_t) n_ctx;
        params.n_batch   = (uint32_t) n_batch;
        params.n_threads = threads;
        params.flash_attn = flash_attn;
        params.kv_f32    = kv_f32;
        sd_session * session = nullptr;
        std::string error;
        const sd_status status = sd_session_init(model, params, &session, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return 0;
        }
        return reinterpret_cast<jlong>(session);
    });
}

SESSION_FN(void, nFree)(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_session_free(reinterpret_cast<sd_session *>(handle));
        return 0;
    });
}

SESSION_FN(jint, nContextSize)(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jint) 0, [&]() -> jint {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        return session != nullptr ? (jint) sd_session_n_ctx(session) : 0;
    });
}

SESSION_FN(void, nReset)(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session != nullptr) sd_session_reset(session);
        return 0;
    });
}

SESSION_FN(void, nCancel)(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session != nullptr) sd_session_cancel(session);
        return 0;
    });
}

SESSION_FN(void, nBegin)(JNIEnv * env, jclass, jlong handle, jintArray prompt, jint max_tokens, jobjectArray stop,
                         jfloat temperature, jint top_k, jfloat top_p, jfloat min_p, jfloat repeat_penalty,
                         jint repeat_last_n, jlong seed, jintArray speculation, jfloatArray acceptance,
                         jlong heads, jlong draft_model, jfloat draft_p_min, jfloat draft_p_branch) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session == nullptr) return 0;
        if (seed < 0 || seed > (jlong) UINT32_MAX) {
            jni_throw_illegal_argument(env, "seed must be in [0, 2^32 - 1]");
            return 0;
        }
        sd_generation_params params = sd_generation_default_params();
        params.max_tokens     = max_tokens;
        params.temperature    = temperature;
        params.top_k          = top_k;
        params.top_p          = top_p;
        params.min_p          = min_p;
        params.repeat_penalty = repeat_penalty;
        params.repeat_last_n  = repeat_last_n;
        params.seed           = (uint32_t) seed;
        // Speculation as {kind, max nodes, max depth, budget, min n-gram, max n-gram, branches, recycling k,
        // lookahead w, n, g, medusa static tree, medusa candidates per head, typical acceptance};
        // acceptance as {typical threshold, typical alpha}
        const std::vector<int32_t> spec = jni_ints(env, speculation);
        if (spec.size() != 14 || acceptance == nullptr || env->GetArrayLength(acceptance) != 2) {
            jni_throw_illegal_argument(env, "speculation must have 14 values and acceptance 2");
            return 0;
        }
        float typical[2] = {0.0f, 0.0f};
        env->GetFloatArrayRegion(acceptance, 0, 2, typical);
        params.spec.type                = (sd_spec_type) spec[0];
        params.spec.max_nodes           = spec[1];
        params.spec.max_depth           = spec[2];
        params.spec.adaptive            = spec[3] != 0;
        params.spec.lookup.min_ngram    = spec[4];
        params.spec.lookup.max_ngram    = spec[5];
        params.spec.lookup.max_branches = spec[6];
        params.spec.recycling.k         = spec[7];
        params.spec.lookahead.w         = spec[8];
        params.spec.lookahead.n         = spec[9];
        params.spec.lookahead.g         = spec[10];
        params.spec.medusa.static_tree       = spec[11] != 0;
        params.spec.medusa.top_k        = spec[12];
        params.spec.typical.enabled             = spec[13] != 0;
        params.spec.typical.threshold   = typical[0];
        params.spec.typical.alpha       = typical[1];
        params.spec.medusa.heads               = reinterpret_cast<const sd_heads *>(heads);
        // the Java side holds the draft model's read lock for this call (it cannot be freed meanwhile)
        params.spec.draft.model         = reinterpret_cast<sd_model *>(draft_model);
        params.spec.draft.p_min         = draft_p_min;
        params.spec.draft.p_branch      = draft_p_branch;
        const jsize n_stop = stop != nullptr ? env->GetArrayLength(stop) : 0;
        for (jsize i = 0; i < n_stop; i++) {
            jbyteArray s = static_cast<jbyteArray>(env->GetObjectArrayElement(stop, i));
            params.stop.push_back(jni_bytes(env, s));
            env->DeleteLocalRef(s);
        }
        std::string error;
        const sd_status status = sd_generation_begin(session, jni_ints(env, prompt), params, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
        }
        return 0;
    });
}

SESSION_FN(void, nDropDraftModel)(JNIEnv * env, jclass, jlong handle, jlong draft_model) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session != nullptr) sd_session_drop_draft_model(session, reinterpret_cast<sd_model *>(draft_model));
        return 0;
    });
}

SESSION_FN(jobject, nStep)(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jobject) nullptr, [&]() -> jobject {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session == nullptr) return nullptr;
        sd_step_result step;
        std::string error;
        const sd_status status = sd_generation_step(session, step, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        jintArray tokens = jni_int_array(env, step.tokens.data(), step.tokens.size());
        jbyteArray text = jni_byte_array(env, step.text);
        if (tokens == nullptr || text == nullptr) return nullptr;
        return env->NewObject(g_jni.step_result, g_jni.step_result_ctor, tokens, text, (jint) step.stop);
    });
}

SESSION_FN(jlongArray, nStats)(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jlongArray) nullptr, [&]() -> jlongArray {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session == nullptr) return nullptr;
        const sd_stats s = sd_generation_stats(session);
        // Order matches GenerationStats.fromNative.
        const jlong values[] = {s.n_prompt, s.n_prompt_reused, s.n_generated, s.n_steps, s.n_drafted, s.n_accepted,
                                s.t_prompt_us, s.t_first_us, s.t_gen_us, s.t_draft_us, s.t_verify_us, s.n_aux};
        const jsize n = (jsize) (sizeof(values) / sizeof(values[0]));
        jlongArray array = env->NewLongArray(n);
        if (array != nullptr) env->SetLongArrayRegion(array, 0, n, values);
        return array;
    });
}
