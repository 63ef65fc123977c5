// JNI functions of dev.llamaspec.NativeLog: llama.cpp's log lines go to System.Logger.
#include "jni-util.h"

#include <atomic>

static std::atomic<int> g_min_level{4}; // 0 debug .. 3 error; 4 = nothing

static int level_rank(ggml_log_level level) {
    switch (level) {
        case GGML_LOG_LEVEL_ERROR: return 3;
        case GGML_LOG_LEVEL_WARN:  return 2;
        case GGML_LOG_LEVEL_INFO:  return 1;
        default:                   return 0;
    }
}

static void forward_line(ggml_log_level level, const char * line, void * /*user_data*/) {
    const int rank = level_rank(level);
    if (rank < g_min_level.load(std::memory_order_relaxed) || g_jvm == nullptr) {
        return;
    }
    JNIEnv * env = nullptr;
    jint rc = g_jvm->GetEnv(reinterpret_cast<void **>(&env), JNI_VERSION_1_8);
    if (rc == JNI_EDETACHED) {
        // a llama.cpp worker thread: attach it as a daemon so that it never keeps the JVM alive
        if (g_jvm->AttachCurrentThreadAsDaemon(reinterpret_cast<void **>(&env), nullptr) != JNI_OK) {
            return;
        }
    } else if (rc != JNI_OK) {
        return;
    }
    if (env->ExceptionCheck()) {
        return; // a Java exception is on its way up; logging must not disturb it
    }
    jbyteArray bytes = jni_byte_array(env, line);
    if (bytes == nullptr) {
        env->ExceptionClear();
        return;
    }
    env->CallStaticVoidMethod(g_jni.native_log, g_jni.native_log_log, (jint) rank, bytes);
    if (env->ExceptionCheck()) {
        env->ExceptionClear(); // a failing logger must not fail the generation
    }
    env->DeleteLocalRef(bytes);
}

extern "C" JNIEXPORT void JNICALL Java_dev_llamaspec_NativeLog_nInstall(JNIEnv * env, jclass, jint minimum) {
    jni_guard(env, 0, [&] {
        g_min_level.store(minimum);
        sd_log_set(minimum <= 3 ? forward_line : nullptr, nullptr);
        return 0;
    });
}
