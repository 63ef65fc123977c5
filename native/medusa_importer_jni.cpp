// JNI functions of dev.llamaspec.MedusaImporter.
#include "jni-util.h"

// Writes a heads file for `model` from weights that lie in another file: heads of `layers` blocks each for
// a model of hidden size hidden_size and vocabulary vocab_size; offsets[i] and dtypes[i] ("F32", "F16",
// "BF16") say where tensor i lies, in the heads file's order (per head: weight and bias of each block,
// then the output projection). The weights pass through native memory only.
extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_MedusaImporter_nImport(JNIEnv * env, jclass, jlong model_handle,
                                                                            jbyteArray source, jbyteArray output,
                                                                            jint heads, jint layers,
                                                                            jint hidden_size, jint vocab_size,
                                                                            jlongArray offsets,
                                                                            jobjectArray dtypes) {
    jni_guard(env, 0, [&] {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return 0;
        if (offsets == nullptr || dtypes == nullptr) {
            jni_throw_null_pointer(env, offsets == nullptr ? "offsets are null" : "dtypes are null");
            return 0;
        }
        const jsize n = env->GetArrayLength(offsets);
        if (env->GetArrayLength(dtypes) != n) {
            jni_throw_illegal_argument(env, "nImport: one dtype per offset is needed");
            return 0;
        }
        std::vector<int64_t> o((size_t) n);
        if (n > 0) env->GetLongArrayRegion(offsets, 0, n, reinterpret_cast<jlong *>(o.data()));
        std::vector<sd_heads_source> sources((size_t) n);
        for (jsize i = 0; i < n; i++) {
            jstring dtype = static_cast<jstring>(env->GetObjectArrayElement(dtypes, i));
            std::string name;
            const bool ok = jni_utf8(env, dtype, "a dtype is null", name);
            if (dtype != nullptr) env->DeleteLocalRef(dtype);
            if (!ok) return 0;
            sd_heads_source & s = sources[(size_t) i];
            if (name == "F32") s.type = GGML_TYPE_F32;
            else if (name == "F16") s.type = GGML_TYPE_F16;
            else if (name == "BF16") s.type = GGML_TYPE_BF16;
            else {
                jni_throw_illegal_argument(env, "nImport: unknown dtype '" + name + "' (F32, F16, BF16)");
                return 0;
            }
            if (o[(size_t) i] < 0) {
                jni_throw_illegal_argument(env, "nImport: negative offset " + std::to_string(o[(size_t) i]));
                return 0;
            }
            s.offset = (uint64_t) o[(size_t) i];
        }
        sd_heads_weights weights;
        weights.info.n_heads  = heads;
        weights.info.n_layers = layers;
        weights.info.n_embd   = hidden_size;
        weights.info.n_vocab  = vocab_size;
        std::string error;
        sd_status status = sd_heads_read_from(jni_bytes(env, source).c_str(), sources, weights, error);
        if (status == SD_OK) status = sd_heads_save(jni_bytes(env, output).c_str(), model, weights, error);
        if (status != SD_OK) jni_throw_llama(env, status, error);
        return 0;
    });
}
