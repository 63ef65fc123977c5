// JNI functions of dev.llamaspec.MedusaHeads.
#include "jni-util.h"
#include "spec-decode.h"

#define HEADS_FN(ret, name) extern "C" JNIEXPORT ret JNICALL Java_dev_llamaspec_MedusaHeads_##name

static const char * const CLOSED = "Medusa heads are closed";

HEADS_FN(jlong, nLoad)(JNIEnv * env, jclass, jlong model_handle, jbyteArray path) {
    return jni_guard(env, (jlong) 0, [&]() -> jlong {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return 0;
        sd_heads * heads = nullptr;
        std::string error;
        const sd_status status = sd_heads_load(jni_bytes(env, path).c_str(), model, &heads, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return 0;
        }
        return reinterpret_cast<jlong>(heads);
    });
}

HEADS_FN(void, nFree)(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_heads_free(reinterpret_cast<sd_heads *>(handle));
        return 0;
    });
}

HEADS_FN(jintArray, nSizes)(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jintArray) nullptr, [&]() -> jintArray {
        sd_heads * heads = jni_handle<sd_heads>(env, handle, CLOSED);
        if (heads == nullptr) return nullptr;
        const sd_heads_info info = sd_heads_get_info(heads);
        const int32_t sizes[5] = {info.n_heads, info.n_layers, info.n_embd, info.n_vocab, info.shared_output ? 1 : 0};
        return jni_int_array(env, sizes, 5);
    });
}

HEADS_FN(jobjectArray, nNames)(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jobjectArray) nullptr, [&]() -> jobjectArray {
        sd_heads * heads = jni_handle<sd_heads>(env, handle, CLOSED);
        if (heads == nullptr) return nullptr;
        const sd_heads_info info = sd_heads_get_info(heads);
        jobjectArray out = env->NewObjectArray(2, g_jni.string, nullptr);
        if (out == nullptr) return nullptr;
        jstring fingerprint = jni_string(env, info.fingerprint);
        jstring name = jni_string(env, info.base_name);
        if (env->ExceptionCheck()) return nullptr;
        env->SetObjectArrayElement(out, 0, fingerprint);
        env->SetObjectArrayElement(out, 1, name);
        return out;
    });
}

HEADS_FN(jfloatArray, nAccuracy)(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jfloatArray) nullptr, [&]() -> jfloatArray {
        sd_heads * heads = jni_handle<sd_heads>(env, handle, CLOSED);
        if (heads == nullptr) return nullptr;
        const sd_heads_info info = sd_heads_get_info(heads);
        jfloatArray out = env->NewFloatArray((jsize) info.accuracy.size());
        if (out != nullptr && !info.accuracy.empty()) {
            env->SetFloatArrayRegion(out, 0, (jsize) info.accuracy.size(), info.accuracy.data());
        }
        return out;
    });
}
