// JNI functions of dev.llamaspec.NativeLibrary: where ggml loads the backends the jar carries from.
#include "jni-util.h"

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_NativeLibrary_nBackendDir(JNIEnv * env, jclass, jstring dir) {
    jni_guard(env, 0, [&] {
        const char * chars = dir != nullptr ? env->GetStringUTFChars(dir, nullptr) : nullptr;
        if (chars != nullptr) {
            sd_backend_set_dir(chars);
            env->ReleaseStringUTFChars(dir, chars);
        }
        return 0;
    });
}

// The loaded ggml backends, one "NAME<TAB>DEVICES" entry each.
extern "C" JNIEXPORT jobjectArray JNICALL Java_dev_llamaspec_NativeLibrary_nBackends(JNIEnv * env, jclass) {
    return jni_guard(env, (jobjectArray) nullptr, [&] {
        std::vector<std::string> entries;
        for (const sd_backend_info & b : sd_backends()) entries.push_back(b.name + "\t" + std::to_string(b.n_devices));
        return jni_string_array(env, entries);
    });
}
