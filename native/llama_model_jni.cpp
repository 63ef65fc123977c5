// JNI functions of dev.llamaspec.LlamaModel.
#include "jni-util.h"
#include "spec-decode.h"

#define MODEL_FN(ret, name) extern "C" JNIEXPORT ret JNICALL Java_dev_llamaspec_LlamaModel_##name

static const char * const CLOSED = "model is closed";

MODEL_FN(jlong, nLoad)(JNIEnv * env, jclass, jbyteArray path, jint gpu_layers, jboolean mmap, jint n_ctx,
                       jint threads) {
    return jni_guard(env, (jlong) 0, [&]() -> jlong {
        if (n_ctx < 0 || threads < 0) {
            jni_throw_illegal_argument(env, "contextSize and threads must be >= 0");
            return 0;
        }
        sd_model_params params = sd_model_default_params();
        params.n_gpu_layers = gpu_layers;
        params.use_mmap     = mmap;
        params.n_ctx        = (uint32_t) n_ctx;
        params.n_threads    = threads;
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

MODEL_FN(void, nFree)(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_model_free(reinterpret_cast<sd_model *>(handle));
        return 0;
    });
}

MODEL_FN(jobject, nInfo)(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jobject) nullptr, [&]() -> jobject {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        const sd_model_info info = sd_model_get_info(model);
        jstring name = jni_string(env, info.name);
        jstring arch = jni_string(env, info.architecture);
        jstring desc = jni_string(env, info.description);
        jstring tmpl = jni_string(env, info.chat_template);
        if (env->ExceptionCheck()) return nullptr;
        return env->CallStaticObjectMethod(g_jni.model_info, g_jni.model_info_make, name, arch, desc, tmpl,
                                           (jlong) info.n_params, (jlong) info.size_bytes, (jint) info.n_ctx_train,
                                           (jint) info.n_vocab, (jint) info.n_embd, (jint) info.n_layer);
    });
}

MODEL_FN(jstring, nFingerprint)(JNIEnv * env, jclass, jlong handle) {
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

MODEL_FN(void, nCheckDraft)(JNIEnv * env, jclass, jlong handle, jlong draft_handle) {
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

MODEL_FN(jintArray, nTokenize)(JNIEnv * env, jclass, jlong handle, jbyteArray text, jboolean add_special,
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

MODEL_FN(jbyteArray, nDetokenize)(JNIEnv * env, jclass, jlong handle, jintArray tokens, jboolean render_special) {
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

MODEL_FN(jbyteArray, nTokenToPiece)(JNIEnv * env, jclass, jlong handle, jint token, jboolean render_special) {
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

MODEL_FN(jbyteArray, nApplyChatTemplate)(JNIEnv * env, jclass, jlong handle, jobjectArray roles,
                                         jobjectArray contents, jboolean add_assistant) {
    return jni_guard(env, (jbyteArray) nullptr, [&]() -> jbyteArray {
        sd_model * model = jni_handle<sd_model>(env, handle, CLOSED);
        if (model == nullptr) return nullptr;
        const jsize n = env->GetArrayLength(roles);
        std::vector<sd_chat_message> messages((size_t) n);
        for (jsize i = 0; i < n; i++) {
            jstring role = static_cast<jstring>(env->GetObjectArrayElement(roles, i));
            const char * chars = role != nullptr ? env->GetStringUTFChars(role, nullptr) : nullptr;
            if (chars == nullptr) return nullptr; // OutOfMemoryError pending
            messages[(size_t) i].role = chars;
            env->ReleaseStringUTFChars(role, chars);
            env->DeleteLocalRef(role);
            jbyteArray content = static_cast<jbyteArray>(env->GetObjectArrayElement(contents, i));
            messages[(size_t) i].content = jni_bytes(env, content);
            env->DeleteLocalRef(content);
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
