// JNI functions of dev.llamaspec.Embedder: an embedding context of a model (sd_embedder).
#include "jni-util.h"

static const char * const CLOSED = "the embedder is closed";

// pooling: a llama_pooling_type (-1 = the model's own).
extern "C" JNIEXPORT jlong JNICALL Java_dev_llamaspec_Embedder_nInit(JNIEnv * env, jclass, jlong model_handle,
                                                                     jint pooling, jint n_ctx) {
    return jni_guard(env, (jlong) 0, [&]() -> jlong {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return 0;
        sd_embedder * embedder = nullptr;
        std::string error;
        const sd_status status = sd_embedder_init(model, (enum llama_pooling_type) pooling,
                                                  n_ctx < 0 ? 0u : (uint32_t) n_ctx, &embedder, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return 0;
        }
        return reinterpret_cast<jlong>(embedder);
    });
}

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_Embedder_nFree(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_embedder_free(reinterpret_cast<sd_embedder *>(handle));
        return 0;
    });
}

// {dimension, pooling, context size}
extern "C" JNIEXPORT jintArray JNICALL Java_dev_llamaspec_Embedder_nInfo(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jintArray) nullptr, [&]() -> jintArray {
        sd_embedder * e = jni_handle<sd_embedder>(env, handle, CLOSED);
        if (e == nullptr) return nullptr;
        const int32_t info[3] = {sd_embedder_dim(e), (int32_t) sd_embedder_pooling(e), (int32_t) sd_embedder_n_ctx(e)};
        return jni_int_array(env, info, 3);
    });
}

// The texts' vectors, one after the other.
extern "C" JNIEXPORT jfloatArray JNICALL Java_dev_llamaspec_Embedder_nEmbed(JNIEnv * env, jclass, jlong handle,
                                                                            jobjectArray texts, jboolean normalize) {
    return jni_guard(env, (jfloatArray) nullptr, [&]() -> jfloatArray {
        sd_embedder * e = jni_handle<sd_embedder>(env, handle, CLOSED);
        if (e == nullptr) return nullptr;
        if (texts == nullptr) {
            jni_throw_illegal_argument(env, "texts is null");
            return nullptr;
        }
        std::vector<std::vector<llama_token>> inputs;
        const jsize n = env->GetArrayLength(texts);
        for (jsize i = 0; i < n; i++) {
            jintArray t = static_cast<jintArray>(env->GetObjectArrayElement(texts, i));
            if (t == nullptr) {
                jni_throw_illegal_argument(env, "text " + std::to_string(i) + " is null");
                return nullptr;
            }
            inputs.push_back(jni_ints(env, t));
            env->DeleteLocalRef(t);
        }
        std::vector<float> out;
        std::string error;
        const sd_status status = sd_embed(e, inputs, normalize, out, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        jfloatArray result = env->NewFloatArray((jsize) out.size());
        if (result != nullptr) env->SetFloatArrayRegion(result, 0, (jsize) out.size(), out.data());
        return result;
    });
}
