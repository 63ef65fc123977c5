// JNI functions of dev.llamaspec.Session. The Java side serialises calls on one session and keeps
// the handle alive while a call runs; nCancel and nThreads alone may run concurrently with nStep.
#include "jni-util.h"

static const char * const CLOSED = "session is closed";

// A session of a model with the named settings of sd_session_settings() (names[i] = values[i]).
extern "C" JNIEXPORT jlong JNICALL Java_dev_llamaspec_Session_nInit(JNIEnv * env, jclass, jlong model_handle,
                                                                    jobjectArray names, jdoubleArray values) {
    return jni_guard(env, (jlong) 0, [&]() -> jlong {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return 0;
        sd_session_params params = sd_session_default_params();
        if (!jni_apply_settings(env, params, names, values, sd_session_set)) return 0;
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

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_Session_nFree(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_session_free(reinterpret_cast<sd_session *>(handle));
        return 0;
    });
}

extern "C" JNIEXPORT jint JNICALL Java_dev_llamaspec_Session_nContextSize(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jint) 0, [&]() -> jint {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        return session != nullptr ? (jint) sd_session_n_ctx(session) : 0;
    });
}

// Safe beside a running nStep, like nCancel.
extern "C" JNIEXPORT jint JNICALL Java_dev_llamaspec_Session_nThreads(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jint) 0, [&]() -> jint {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        return session != nullptr ? (jint) sd_session_threads(session) : 0;
    });
}

extern "C" JNIEXPORT jint JNICALL Java_dev_llamaspec_Session_nDecoding(JNIEnv * env, jclass) {
    return jni_guard(env, (jint) 0, [&]() -> jint { return (jint) sd_sessions_decoding(); });
}

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_Session_nReset(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session != nullptr) sd_session_reset(session);
        return 0;
    });
}

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_Session_nCancel(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session != nullptr) sd_session_cancel(session);
        return 0;
    });
}

// Begins a generation: speculation_type is a name of sd_spec_type_name, names[i] = values[i] are settings
// of sd_generation_settings() ("max_tokens", "spec.lookahead.w", ...; the others keep their defaults),
// heads and draft_model the handles of Medusa heads and a draft model, or 0, grammar GBNF in UTF-8 or
// null. The Java side holds both open (their read locks) for this call.
extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_Session_nBegin(JNIEnv * env, jclass, jlong handle,
                                                                    jintArray prompt, jobjectArray stop,
                                                                    jstring speculation_type, jobjectArray names,
                                                                    jdoubleArray values, jlong heads,
                                                                    jlong draft_model, jlong corpus, jbyteArray grammar) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session == nullptr) return 0;
        sd_generation_params params = sd_generation_default_params();
        std::string type;
        if (!jni_utf8(env, speculation_type, "speculation type is null", type)) return 0;
        if (!sd_spec_type_from_name(type.c_str(), &params.spec.type)) {
            jni_throw_illegal_argument(env, "unknown speculation type '" + type + "'");
            return 0;
        }
        if (!jni_apply_settings(env, params, names, values, sd_generation_set)) return 0;
        params.spec.medusa.heads = reinterpret_cast<const sd_heads *>(heads);
        params.spec.draft.model  = reinterpret_cast<sd_model *>(draft_model);
        params.spec.lookup.corpus = reinterpret_cast<const sd_corpus *>(corpus);
        const jsize n_stop = stop != nullptr ? env->GetArrayLength(stop) : 0;
        for (jsize i = 0; i < n_stop; i++) {
            jbyteArray s = static_cast<jbyteArray>(env->GetObjectArrayElement(stop, i));
            params.stop.push_back(jni_bytes(env, s));
            env->DeleteLocalRef(s);
        }
        std::string error;
        if (grammar != nullptr) {
            params.grammar = jni_bytes(env, grammar);
            // a grammar llama.cpp cannot use is the caller's mistake, found before anything is evaluated
            if (sd_grammar_check(sd_session_model(session), params.grammar, error) != SD_OK) {
                jni_throw_illegal_argument(env, error);
                return 0;
            }
        }
        const sd_status status = sd_generation_begin(session, jni_ints(env, prompt), params, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
        }
        return 0;
    });
}

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_Session_nDropDraftModel(JNIEnv * env, jclass, jlong handle,
                                                                             jlong draft_model) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session != nullptr) sd_session_drop_draft_model(session, reinterpret_cast<sd_model *>(draft_model));
        return 0;
    });
}

extern "C" JNIEXPORT jobject JNICALL Java_dev_llamaspec_Session_nStep(JNIEnv * env, jclass, jlong handle) {
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

// The statistics of the current or last generation: GenerationStats.fromNative(names, values) with the
// counters of sd_stats_values by their field names.
extern "C" JNIEXPORT jobject JNICALL Java_dev_llamaspec_Session_nStats(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jobject) nullptr, [&]() -> jobject {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session == nullptr) return nullptr;
        const std::vector<std::pair<const char *, int64_t>> stats = sd_stats_values(sd_generation_stats(session));
        std::vector<std::string> names;
        std::vector<jlong> values;
        for (const auto & s : stats) {
            names.emplace_back(s.first);
            values.push_back((jlong) s.second);
        }
        jobjectArray name_array = jni_string_array(env, names);
        jlongArray value_array = env->NewLongArray((jsize) values.size());
        if (name_array == nullptr || value_array == nullptr) return nullptr;
        env->SetLongArrayRegion(value_array, 0, (jsize) values.size(), values.data());
        return env->CallStaticObjectMethod(g_jni.generation_stats, g_jni.generation_stats_make, name_array,
                                           value_array);
    });
}

// Saves the session to path (UTF-8 bytes) with the attachment's bytes (may be null: none).
extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_Session_nSave(JNIEnv * env, jclass, jlong handle, jbyteArray path,
                                                                   jbyteArray attachment) {
    jni_guard(env, 0, [&] {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session == nullptr) return 0;
        if (path == nullptr) {
            jni_throw_null_pointer(env, "path");
            return 0;
        }
        std::string error;
        const sd_status status = sd_session_save(session, jni_bytes(env, path),
                                                 attachment != nullptr ? jni_bytes(env, attachment) : std::string(), error);
        if (status != SD_OK) jni_throw_llama(env, status, error);
        return 0;
    });
}

// Restores a saved session into this one and returns what was attached to it.
extern "C" JNIEXPORT jbyteArray JNICALL Java_dev_llamaspec_Session_nRestore(JNIEnv * env, jclass, jlong handle,
                                                                          jbyteArray path) {
    return jni_guard(env, (jbyteArray) nullptr, [&]() -> jbyteArray {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session == nullptr) return nullptr;
        if (path == nullptr) {
            jni_throw_null_pointer(env, "path");
            return nullptr;
        }
        std::string attachment, error;
        const sd_status status = sd_session_restore(session, jni_bytes(env, path), &attachment, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        return jni_byte_array(env, attachment);
    });
}

extern "C" JNIEXPORT jintArray JNICALL Java_dev_llamaspec_Session_nCachedTokens(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jintArray) nullptr, [&]() -> jintArray {
        sd_session * session = jni_handle<sd_session>(env, handle, CLOSED);
        if (session == nullptr) return nullptr;
        const std::vector<llama_token> & tokens = sd_session_cached_tokens(session);
        return jni_int_array(env, tokens.data(), tokens.size());
    });
}
