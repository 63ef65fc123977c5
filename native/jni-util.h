// Helpers shared by the JNI sources: cached classes and methods, turning failures into Java
// exceptions, and RAII holders for Java arrays. Every JNI function runs its body through
// jni_guard so that no C++ exception ever crosses into the JVM (that would abort it).
#pragma once

#include <jni.h>

#include "spec-decode.h"

#include <string>
#include <utility>
#include <vector>

// Java classes and methods the native code calls, looked up once by JNI_OnLoad (a signature that does
// not match the Java code fails the library's load, not a later call).
struct jni_classes {
    jclass    llama_exception;       // dev.llamaspec.LlamaException
    jmethodID llama_exception_make;  // static fromNative(int, String)
    jclass    model_info;            // dev.llamaspec.ModelInfo
    jmethodID model_info_make;       // static fromNative(...)
    jclass    step_result;           // dev.llamaspec.StepResult
    jmethodID step_result_ctor;      // (int[], byte[], int)
    jclass    generation_stats;      // dev.llamaspec.GenerationStats
    jmethodID generation_stats_make; // static fromNative(String[] names, long[] values)
    jclass    training_report;       // dev.llamaspec.MedusaTrainingReport
    jmethodID training_report_make;  // static fromNative(String[] names, double[] values, String[] listNames,
                                     //                   float[][] lists)
    jclass    heads_info;            // dev.llamaspec.MedusaHeads$Info
    jmethodID heads_info_ctor;       // (int heads, int layers, int hiddenSize, int vocabSize, boolean sharedOutput,
                                     //  boolean regressive, boolean feature, int attentionWindow,
                                     //  String fingerprint, String baseModelName, float[] accuracy)
    jclass    setting;               // dev.llamaspec.Setting
    jmethodID setting_make;          // static fromNative(String table, String name, String type, double min,
                                     //   double max, boolean minOpen, boolean maxOpen, boolean zeroOk, double def)
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
void jni_throw_illegal_argument(JNIEnv * env, const std::string & message);
void jni_throw_null_pointer(JNIEnv * env, const char * message);

// A Java String from UTF-8 bytes (invalid sequences become U+FFFD, unlike NewStringUTF).
jstring jni_string(JNIEnv * env, const std::string & utf8);

// Bytes of a Java byte[], copied.
std::string jni_bytes(JNIEnv * env, jbyteArray array);

// A new Java byte[] / int[] with the given contents; NULL with an exception pending on failure.
jbyteArray jni_byte_array(JNIEnv * env, const std::string & bytes);
jintArray  jni_int_array(JNIEnv * env, const int32_t * data, size_t n);

// Elements of a Java int[], copied.
std::vector<int32_t> jni_ints(JNIEnv * env, jintArray array);

// A Java String's text as UTF-8 (its modified UTF-8 for characters outside the BMP). False, with
// NullPointerException pending when s is null (naming what), or OutOfMemoryError, on failure.
bool jni_utf8(JNIEnv * env, jstring s, const char * what, std::string & out);

// A new Java String[] of the given texts; NULL with an exception pending on failure.
jobjectArray jni_string_array(JNIEnv * env, const std::vector<std::string> & texts);

// Named values from Java: names[i] is a setting's name, values[i] its value. False, with an exception
// pending, when an array or a name is null (NullPointerException) or their lengths differ
// (IllegalArgumentException).
bool jni_named_values(JNIEnv * env, jobjectArray names, jdoubleArray values,
                      std::vector<std::pair<std::string, double>> & out);

// Sets every named value with set (sd_model_set, sd_session_set, sd_generation_set, sd_train_set,
// sd_early_exit_set). The Java side checked the values against the same tables, so a failure here (an
// unknown name, a value out of range) is a bug in the caller: IllegalArgumentException with the
// engine's message, and false.
template <typename P>
bool jni_apply_settings(JNIEnv * env, P & params, jobjectArray names, jdoubleArray values,
                        sd_status (*set)(P &, const char *, double, std::string &)) {
    std::vector<std::pair<std::string, double>> named;
    if (!jni_named_values(env, names, values, named)) return false;
    for (const auto & nv : named) {
        std::string error;
        if (set(params, nv.first.c_str(), nv.second, error) != SD_OK) {
            jni_throw_illegal_argument(env, error);
            return false;
        }
    }
    return true;
}

// Progress of a training run (sd_heads_train, sd_early_exit_make) for a Java object's
// boolean onNativeProgress(int phase, long done, long total, float loss, double seconds), whose false
// (or an exception it throws) cancels the run. jni_progress_init: false with NoSuchMethodError pending
// when the object has no such method; jni_on_progress is the sd_train_progress_cb, user the target.
struct jni_progress_target {
    JNIEnv *  env    = nullptr;
    jobject   bridge = nullptr;
    jmethodID method = nullptr;
};
bool jni_progress_init(JNIEnv * env, jobject bridge, jni_progress_target & out);
bool jni_on_progress(const sd_train_progress & p, void * user);

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
