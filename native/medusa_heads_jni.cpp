// JNI functions of dev.llamaspec.MedusaHeads.
#include "jni-util.h"

static const char * const CLOSED = "Medusa heads are closed";

extern "C" JNIEXPORT jlong JNICALL Java_dev_llamaspec_MedusaHeads_nLoad(JNIEnv * env, jclass, jlong model_handle,
                                                                        jbyteArray path) {
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

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_MedusaHeads_nFree(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_heads_free(reinterpret_cast<sd_heads *>(handle));
        return 0;
    });
}

// What the heads file holds (sd_heads_info), as a MedusaHeads.Info.
extern "C" JNIEXPORT jobject JNICALL Java_dev_llamaspec_MedusaHeads_nInfo(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jobject) nullptr, [&]() -> jobject {
        sd_heads * heads = jni_handle<sd_heads>(env, handle, CLOSED);
        if (heads == nullptr) return nullptr;
        const sd_heads_info info = sd_heads_get_info(heads);
        jstring fingerprint = jni_string(env, info.fingerprint);
        jstring base_name = jni_string(env, info.base_name);
        jfloatArray accuracy = env->NewFloatArray((jsize) info.accuracy.size());
        if (fingerprint == nullptr || base_name == nullptr || accuracy == nullptr) return nullptr;
        if (!info.accuracy.empty()) {
            env->SetFloatArrayRegion(accuracy, 0, (jsize) info.accuracy.size(), info.accuracy.data());
        }
        return env->NewObject(g_jni.heads_info, g_jni.heads_info_ctor, (jint) info.n_heads, (jint) info.n_layers,
                              (jint) info.n_embd, (jint) info.n_vocab, (jboolean) info.shared_output,
                              (jboolean) info.regressive, (jboolean) info.feature, (jint) info.window, fingerprint,
                              base_name, accuracy);
    });
}

// Logits of every head for n hidden states and (regressive heads) the n tokens after them (tests):
// [n][heads][vocabulary], flattened.
extern "C" JNIEXPORT jfloatArray JNICALL Java_dev_llamaspec_MedusaHeads_nLogits(JNIEnv * env, jclass, jlong handle,
                                                                                jfloatArray hidden, jintArray roots,
                                                                                jint n) {
    return jni_guard(env, (jfloatArray) nullptr, [&]() -> jfloatArray {
        sd_heads * heads = jni_handle<sd_heads>(env, handle, CLOSED);
        if (heads == nullptr) return nullptr;
        const sd_heads_info info = sd_heads_get_info(heads);
        if (hidden == nullptr) {
            jni_throw_null_pointer(env, "hidden states are null");
            return nullptr;
        }
        if (n < 1 || env->GetArrayLength(hidden) != (jsize) ((int64_t) n * info.n_embd)) {
            jni_throw_illegal_argument(env, "hidden states need n x hidden size floats");
            return nullptr;
        }
        if (roots != nullptr && env->GetArrayLength(roots) != n) {
            jni_throw_illegal_argument(env, "roots need n tokens");
            return nullptr;
        }
        std::vector<float> h((size_t) n * (size_t) info.n_embd);
        env->GetFloatArrayRegion(hidden, 0, (jsize) h.size(), h.data());
        std::vector<llama_token> r(roots != nullptr ? (size_t) n : 0);
        if (roots != nullptr) env->GetIntArrayRegion(roots, 0, n, reinterpret_cast<jint *>(r.data()));
        std::vector<float> logits;
        std::string error;
        const sd_status status = sd_heads_logits(heads, h.data(), roots != nullptr ? r.data() : nullptr, n, logits, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        jfloatArray out = env->NewFloatArray((jsize) logits.size());
        if (out != nullptr) env->SetFloatArrayRegion(out, 0, (jsize) logits.size(), logits.data());
        return out;
    });
}
