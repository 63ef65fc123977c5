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

// Writes a heads file for `model` from weights that lie in another file (MedusaImporter): sizes is
// {heads, layers, hidden size, vocabulary}, offsets[i] / types[i] (0 = F32, 1 = F16, 2 = BF16) say
// where tensor i lies, in the heads file's order. The weights pass through native memory only.
HEADS_FN(void, nImport)(JNIEnv * env, jclass, jlong model_handle, jbyteArray source, jbyteArray output,
                        jintArray sizes, jlongArray offsets, jintArray types) {
    jni_guard(env, 0, [&] {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return 0;
        const std::vector<int32_t> s = jni_ints(env, sizes);
        const std::vector<int32_t> t = jni_ints(env, types);
        std::vector<int64_t> o((size_t) env->GetArrayLength(offsets));
        if (!o.empty()) env->GetLongArrayRegion(offsets, 0, (jsize) o.size(), reinterpret_cast<jlong *>(o.data()));
        if (s.size() != 4 || t.size() != o.size()) {
            jni_throw_illegal_argument(env, "nImport: sizes need 4 values and one type per offset");
            return 0;
        }
        static const ggml_type k_types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16};
        std::vector<sd_heads_source> sources(o.size());
        for (size_t i = 0; i < o.size(); i++) {
            if (o[i] < 0 || t[i] < 0 || t[i] > 2) {
                jni_throw_illegal_argument(env, "nImport: negative offset or unknown type");
                return 0;
            }
            sources[i].offset = (uint64_t) o[i];
            sources[i].type = k_types[t[i]];
        }
        sd_heads_weights weights;
        weights.info.n_heads = s[0];
        weights.info.n_layers = s[1];
        weights.info.n_embd = s[2];
        weights.info.n_vocab = s[3];
        std::string error;
        sd_status status = sd_heads_read_from(jni_bytes(env, source).c_str(), sources, weights, error);
        if (status == SD_OK) status = sd_heads_save(jni_bytes(env, output).c_str(), model, weights, error);
        if (status != SD_OK) jni_throw_llama(env, status, error);
        return 0;
    });
}

// Logits of every head for n hidden states (tests): [n][heads][vocabulary], flattened.
HEADS_FN(jfloatArray, nLogits)(JNIEnv * env, jclass, jlong handle, jfloatArray hidden, jint n) {
    return jni_guard(env, (jfloatArray) nullptr, [&]() -> jfloatArray {
        sd_heads * heads = jni_handle<sd_heads>(env, handle, CLOSED);
        if (heads == nullptr) return nullptr;
        const sd_heads_info info = sd_heads_get_info(heads);
        if (n < 1 || env->GetArrayLength(hidden) != (jsize) ((int64_t) n * info.n_embd)) {
            jni_throw_illegal_argument(env, "hidden states need n x hidden size floats");
            return nullptr;
        }
        std::vector<float> h((size_t) n * (size_t) info.n_embd);
        env->GetFloatArrayRegion(hidden, 0, (jsize) h.size(), h.data());
        std::vector<float> logits;
        std::string error;
        const sd_status status = sd_heads_logits(heads, h.data(), n, logits, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        jfloatArray out = env->NewFloatArray((jsize) logits.size());
        if (out != nullptr) env->SetFloatArrayRegion(out, 0, (jsize) logits.size(), logits.data());
        return out;
    });
}
