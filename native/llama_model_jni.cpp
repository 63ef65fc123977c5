// JNI functions of dev.llamaspec.LlamaModel.
#include "jni-util.h"

static const char * const CLOSED = "model is closed";

// Loads a model with the named settings of sd_model_settings() (names[i] = values[i]; the others keep
// their defaults).
extern "C" JNIEXPORT jlong JNICALL Java_dev_llamaspec_LlamaModel_nLoad(JNIEnv * env, jclass, jbyteArray path,
                                                                       jobjectArray names, jdoubleArray values,
                                                                       jobjectArray rpc_servers) {
    return jni_guard(env, (jlong) 0, [&]() -> jlong {
        sd_model_params params = sd_model_default_params();
        if (!jni_apply_settings(env, params, names, values, sd_model_set)) return 0;
        const jsize n_rpc = rpc_servers != nullptr ? env->GetArrayLength(rpc_servers) : 0;
        for (jsize i = 0; i < n_rpc; i++) {
            jstring server = (jstring) env->GetObjectArrayElement(rpc_servers, i);
            if (server == nullptr) {
                jni_throw_null_pointer(env, "an RPC server is null");
                return 0;
            }
            const char * chars = env->GetStringUTFChars(server, nullptr);
            if (chars == nullptr) return 0;
            params.rpc_servers.emplace_back(chars);
            env->ReleaseStringUTFChars(server, chars);
            env->DeleteLocalRef(server);
        }
        sd_model * model = nullptr;
        std::string error;
        const sd_status status = sd_model_load(jni_bytes(env, path).c_str(), params, &model, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return 0;
        }
        return reinterpret_cast<jlong>(model);
    });
}

// Why the model cannot be used any more (an RPC server went away), or null.
extern "C" JNIEXPORT jstring JNICALL Java_dev_llamaspec_LlamaModel_nFailure(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jstring) nullptr, [&]() -> jstring {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        std::string failure;
        if (!sd_model_failure(model, failure)) return nullptr;
        return jni_string(env, failure);
    });
}

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_LlamaModel_nFree(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_model_free(reinterpret_cast<sd_model *>(handle));
        return 0;
    });
}

extern "C" JNIEXPORT jobject JNICALL Java_dev_llamaspec_LlamaModel_nInfo(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jobject) nullptr, [&]() -> jobject {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        const sd_model_info info = sd_model_get_info(model);
        jstring name = jni_string(env, info.name);
        jstring arch = jni_string(env, info.architecture);
        jstring desc = jni_string(env, info.description);
        jstring tmpl = jni_string(env, info.chat_template);
        std::string devices;
        for (const std::string & d : info.devices) devices += (devices.empty() ? "" : "\n") + d;
        jstring devs = jni_string(env, devices);
        if (env->ExceptionCheck()) return nullptr;
        return env->CallStaticObjectMethod(g_jni.model_info, g_jni.model_info_make, name, arch, desc, tmpl,
                                           (jint) info.token_bos, (jint) info.token_eos, (jboolean) info.add_bos,
                                           (jboolean) info.add_eos, (jlong) info.n_params, (jlong) info.size_bytes, (jint) info.n_ctx_train,
                                           (jint) info.n_vocab, (jint) info.n_embd, (jint) info.n_layer, devs);
    });
}

extern "C" JNIEXPORT jstring JNICALL Java_dev_llamaspec_LlamaModel_nFingerprint(JNIEnv * env, jclass,
                                                                                jlong handle) {
    return jni_guard(env, (jstring) nullptr, [&]() -> jstring {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        std::string fingerprint, error;
        const sd_status status = sd_model_fingerprint(model, fingerprint, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        return jni_string(env, fingerprint);
    });
}

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_LlamaModel_nCheckDraft(JNIEnv * env, jclass, jlong handle,
                                                                            jlong draft_handle) {
    jni_guard(env, 0, [&] {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        sd_model * draft = model != nullptr ? jni_handle<sd_model>(env, draft_handle, "draft model is closed") : nullptr;
        if (draft == nullptr) return 0;
        std::string error;
        const sd_status status = sd_model_vocab_compatible(model, draft, error);
        if (status != SD_OK) jni_throw_llama(env, status, error);
        return 0;
    });
}

// Throws IllegalArgumentException with llama.cpp's parser message when gbnf is no grammar for this model.
extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_LlamaModel_nCheckGrammar(JNIEnv * env, jclass, jlong handle,
                                                                            jbyteArray gbnf) {
    jni_guard(env, 0, [&] {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return 0;
        std::string error;
        if (sd_grammar_check(model, jni_bytes(env, gbnf), error) != SD_OK) jni_throw_illegal_argument(env, error);
        return 0;
    });
}

extern "C" JNIEXPORT jintArray JNICALL Java_dev_llamaspec_LlamaModel_nTokenize(JNIEnv * env, jclass, jlong handle,
                                                                               jbyteArray text, jboolean add_special,
                                                                               jboolean parse_special) {
    return jni_guard(env, (jintArray) nullptr, [&]() -> jintArray {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        std::vector<llama_token> tokens;
        std::string error;
        const sd_status status = sd_tokenize(model, jni_bytes(env, text), add_special, parse_special, tokens, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        return jni_int_array(env, tokens.data(), tokens.size());
    });
}

extern "C" JNIEXPORT jbyteArray JNICALL Java_dev_llamaspec_LlamaModel_nDetokenize(JNIEnv * env, jclass, jlong handle,
                                                                                  jintArray tokens,
                                                                                  jboolean render_special) {
    return jni_guard(env, (jbyteArray) nullptr, [&]() -> jbyteArray {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        std::string text, error;
        const sd_status status = sd_detokenize(model, jni_ints(env, tokens), render_special, text, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        return jni_byte_array(env, text);
    });
}

extern "C" JNIEXPORT jbyteArray JNICALL Java_dev_llamaspec_LlamaModel_nTokenToPiece(JNIEnv * env, jclass, jlong handle,
                                                                                    jint token,
                                                                                    jboolean render_special) {
    return jni_guard(env, (jbyteArray) nullptr, [&]() -> jbyteArray {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        std::string piece, error;
        const sd_status status = sd_token_to_piece(model, token, render_special, piece, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        return jni_byte_array(env, piece);
    });
}

// Whether llama.cpp renders the model's chat template itself (sd_chat_builtin).
extern "C" JNIEXPORT jboolean JNICALL Java_dev_llamaspec_LlamaModel_nChatBuiltin(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jboolean) JNI_FALSE, [&]() -> jboolean {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        return model != nullptr && sd_chat_builtin(model) ? JNI_TRUE : JNI_FALSE;
    });
}

// Renders a conversation: plain: the plain format (sd_chat_fallback) whatever the model's template,
// else sd_chat_apply.
extern "C" JNIEXPORT jbyteArray JNICALL Java_dev_llamaspec_LlamaModel_nApplyChatTemplate(JNIEnv * env, jclass,
                                                                                         jlong handle,
                                                                                         jobjectArray roles,
                                                                                         jobjectArray contents,
                                                                                         jboolean add_assistant,
                                                                                         jboolean plain) {
    return jni_guard(env, (jbyteArray) nullptr, [&]() -> jbyteArray {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        if (roles == nullptr || contents == nullptr) {
            jni_throw_null_pointer(env, roles == nullptr ? "roles are null" : "contents are null");
            return nullptr;
        }
        const jsize n = env->GetArrayLength(roles);
        if (env->GetArrayLength(contents) != n) {
            jni_throw_illegal_argument(env, "one content per role is needed");
            return nullptr;
        }
        std::vector<sd_chat_message> messages((size_t) n);
        for (jsize i = 0; i < n; i++) {
            jstring role = static_cast<jstring>(env->GetObjectArrayElement(roles, i));
            const bool ok = jni_utf8(env, role, "a role is null", messages[(size_t) i].role);
            if (role != nullptr) env->DeleteLocalRef(role);
            if (!ok) return nullptr;
            jbyteArray content = static_cast<jbyteArray>(env->GetObjectArrayElement(contents, i));
            messages[(size_t) i].content = jni_bytes(env, content);
            env->DeleteLocalRef(content);
        }
        if (plain) {
            return jni_byte_array(env, sd_chat_fallback(messages, add_assistant));
        }
        std::string out, error;
        const sd_status status = sd_chat_apply(model, messages, add_assistant, out, nullptr, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        return jni_byte_array(env, out);
    });
}
