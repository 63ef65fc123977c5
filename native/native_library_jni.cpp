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
