// Helpers shared by the JNI sources: cached classes and methods, turning failures into Java
// exceptions, and RAII holders for Java arrays. Every JNI function runs its body through
// jni_guard so that no C++ exception ever crosses into the JVM (that would abort it).
#pragma once

#include <jni.h>

#include <string>
#include <vector>

struct jni_classes {
    jclass    llama_exception;       // dev.llamaspec.LlamaException
    jmethodID llama_exception_make;  // static fromNative(int, String)
    jclass    model_info;            // dev.llamaspec.ModelInfo
    jmethodID model_info_make;       // static fromNative(...)
    jclass    step_result;           // dev.llamaspec.StepResult
    jmethodID step_result_ctor;      // (int[], byte[], int)
    jclass    native_log;            // dev.llamaspec.NativeLog
    jmethodID native_log_log;        // static log(int, byte[])
    jclass    string;                // java.lang.String
    jmethodID string_from_utf8;      // (byte[], String charsetName)
    jstring   utf8_name;             // "UTF-8"
};

// Status of failures outside the engine (ErrorCode.INTERNAL in Java); engine statuses are sd_status.
constexpr int JNI_STATUS_INTERNAL = 100;

// Filled by JNI_OnLoad.
extern jni_classes g_jni;
extern JavaVM *    g_jvm;

// Throws dev.llamaspec.LlamaException with the engine's status code.
void jni_throw_llama(JNIEnv * env, int status, const std::string & message);
void jni_throw_illegal_state(JNIEnv * env, const char * message);
void jni_throw_illegal_argument(JNIEnv * env, const char * message);

// A Java String from UTF-8 bytes (invalid sequences become U+FFFD, unlike NewStringUTF).
jstring jni_string(JNIEnv * env, const std::string & utf8);

// Bytes of a Java byte[], copied.
std::string jni_bytes(JNIEnv * env, jbyteArray array);

// A new Java byte[] / int[] with the given contents; NULL with an exception pending on failure.
jbyteArray jni_byte_array(JNIEnv * env, const std::string & bytes);
jintArray  jni_int_array(JNIEnv * env, const int32_t * data, size_t n);

// Elements of a Java int[], copied.
std::vector<int32_t> jni_ints(JNIEnv * env, jintArray array);

// Runs body; a C++ exception becomes a Java exception and fallback is returned.
template <typename T, typename F>
T jni_guard(JNIEnv * env, T fallback, F body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        jni_throw_llama(env, JNI_STATUS_INTERNAL, "out of native memory");
    } catch (const std::exception & e) {
        jni_throw_llama(env, JNI_STATUS_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        jni_throw_llama(env, JNI_STATUS_INTERNAL, "internal error");
    }
    return fallback;
}

// Casts a handle; throws IllegalStateException and returns NULL for 0.
template <typename T>
T * jni_handle(JNIEnv * env, jlong handle, const char * what) {
    if (handle == 0) {
        jni_throw_illegal_state(env, what);
        return nullptr;
    }
    return reinterpret_cast<T *>(handle);
}
