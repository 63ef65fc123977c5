// JNI functions of dev.llamaspec.CorpusIndex.
#include "jni-util.h"

static const char * const CLOSED = "the corpus index is closed";

extern "C" JNIEXPORT jdoubleArray JNICALL Java_dev_llamaspec_CorpusIndex_nBuild(JNIEnv * env, jclass, jlong model_handle,
                                                                                jbyteArray text, jbyteArray index) {
    return jni_guard(env, (jdoubleArray) nullptr, [&]() -> jdoubleArray {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return nullptr;
        sd_corpus_info info;
        std::string error;
        const sd_status status = sd_corpus_build(model, jni_bytes(env, text).c_str(), jni_bytes(env, index).c_str(), &info,
                                                 error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        const jdouble values[3] = {(jdouble) info.n_tokens, (jdouble) info.file_bytes, info.build_seconds};
        jdoubleArray out = env->NewDoubleArray(3);
        if (out != nullptr) env->SetDoubleArrayRegion(out, 0, 3, values);
        return out;
    });
}

extern "C" JNIEXPORT jlong JNICALL Java_dev_llamaspec_CorpusIndex_nLoad(JNIEnv * env, jclass, jlong model_handle,
                                                                        jbyteArray path) {
    return jni_guard(env, (jlong) 0, [&]() -> jlong {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return 0;
        sd_corpus * corpus = nullptr;
        std::string error;
        const sd_status status = sd_corpus_load(jni_bytes(env, path).c_str(), model, &corpus, error);
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return 0;
        }
        return reinterpret_cast<jlong>(corpus);
    });
}

extern "C" JNIEXPORT jlongArray JNICALL Java_dev_llamaspec_CorpusIndex_nInfo(JNIEnv * env, jclass, jlong handle) {
    return jni_guard(env, (jlongArray) nullptr, [&]() -> jlongArray {
        sd_corpus * corpus = jni_handle<sd_corpus>(env, handle, CLOSED);
        if (corpus == nullptr) return nullptr;
        const sd_corpus_info info = sd_corpus_get_info(corpus);
        const jlong values[2] = {(jlong) info.n_tokens, (jlong) info.file_bytes};
        jlongArray out = env->NewLongArray(2);
        if (out != nullptr) env->SetLongArrayRegion(out, 0, 2, values);
        return out;
    });
}

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_CorpusIndex_nFree(JNIEnv * env, jclass, jlong handle) {
    jni_guard(env, 0, [&] {
        sd_corpus_free(reinterpret_cast<sd_corpus *>(handle));
        return 0;
    });
}
