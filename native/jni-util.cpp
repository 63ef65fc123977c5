#include "jni-util.h"

jni_classes g_jni = {};
JavaVM *    g_jvm = nullptr;

static jclass global_class(JNIEnv * env, const char * name) {
    jclass local = env->FindClass(name);
    if (local == nullptr) {
        return nullptr;
    }
    jclass global = static_cast<jclass>(env->NewGlobalRef(local));
    env->DeleteLocalRef(local);
    return global;
}

// A static method of a cached class; NULL (with NoSuchMethodError pending) when cls is NULL or lacks it.
static jmethodID static_method(JNIEnv * env, jclass cls, const char * name, const char * signature) {
    return cls != nullptr ? env->GetStaticMethodID(cls, name, signature) : nullptr;
}

static jmethodID method(JNIEnv * env, jclass cls, const char * name, const char * signature) {
    return cls != nullptr ? env->GetMethodID(cls, name, signature) : nullptr;
}

extern "C" JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM * vm, void * /*reserved*/) {
    JNIEnv * env = nullptr;
    if (vm->GetEnv(reinterpret_cast<void **>(&env), JNI_VERSION_1_8) != JNI_OK) {
        return JNI_ERR;
    }
    g_jvm = vm;
    jni_classes & j = g_jni;
    j.llama_exception  = global_class(env, "dev/llamaspec/LlamaException");
    j.model_info       = global_class(env, "dev/llamaspec/ModelInfo");
    j.step_result      = global_class(env, "dev/llamaspec/StepResult");
    j.generation_stats = global_class(env, "dev/llamaspec/GenerationStats");
    j.training_report  = global_class(env, "dev/llamaspec/MedusaTrainingReport");
    j.heads_info       = global_class(env, "dev/llamaspec/MedusaHeads$Info");
    j.setting          = global_class(env, "dev/llamaspec/Setting");
    j.native_log       = global_class(env, "dev/llamaspec/NativeLog");
    j.string           = global_class(env, "java/lang/String");
    j.llama_exception_make = static_method(env, j.llama_exception, "fromNative",
        "(ILjava/lang/String;)Ldev/llamaspec/LlamaException;");
    j.model_info_make = static_method(env, j.model_info, "fromNative",
        "(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;IIZZJJIIIILjava/lang/String;)"
        "Ldev/llamaspec/ModelInfo;");
    j.step_result_ctor = method(env, j.step_result, "<init>", "([I[BI)V");
    j.generation_stats_make = static_method(env, j.generation_stats, "fromNative",
        "([Ljava/lang/String;[J)Ldev/llamaspec/GenerationStats;");
    j.training_report_make = static_method(env, j.training_report, "fromNative",
        "([Ljava/lang/String;[D[Ljava/lang/String;[[F)Ldev/llamaspec/MedusaTrainingReport;");
    j.heads_info_ctor = method(env, j.heads_info, "<init>", "(IIIIZZZILjava/lang/String;Ljava/lang/String;[F)V");
    j.setting_make = static_method(env, j.setting, "fromNative",
        "(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;DDZZZD)Ldev/llamaspec/Setting;");
    j.native_log_log   = static_method(env, j.native_log, "log", "(I[B)V");
    j.string_from_utf8 = method(env, j.string, "<init>", "([BLjava/lang/String;)V");
    jstring utf8 = env->NewStringUTF("UTF-8");
    j.utf8_name = utf8 != nullptr ? static_cast<jstring>(env->NewGlobalRef(utf8)) : nullptr;
    if (j.llama_exception_make == nullptr || j.model_info_make == nullptr || j.step_result_ctor == nullptr ||
        j.generation_stats_make == nullptr || j.training_report_make == nullptr || j.heads_info_ctor == nullptr ||
        j.setting_make == nullptr || j.native_log_log == nullptr || j.string_from_utf8 == nullptr ||
        j.utf8_name == nullptr) {
        return JNI_ERR; // the pending NoClassDefFoundError / NoSuchMethodError says what is missing
    }
    return JNI_VERSION_1_8;
}

static void throw_class(JNIEnv * env, const char * cls, const char * message) {
    if (env->ExceptionCheck()) {
        return; // keep the first failure
    }
    jclass c = env->FindClass(cls);
    if (c != nullptr) {
        env->ThrowNew(c, message);
        env->DeleteLocalRef(c);
    }
}

void jni_throw_illegal_state(JNIEnv * env, const char * message) {
    throw_class(env, "java/lang/IllegalStateException", message);
}

void jni_throw_illegal_argument(JNIEnv * env, const std::string & message) {
    throw_class(env, "java/lang/IllegalArgumentException", message.c_str());
}

void jni_throw_null_pointer(JNIEnv * env, const char * message) {
    throw_class(env, "java/lang/NullPointerException", message);
}

void jni_throw_llama(JNIEnv * env, int status, const std::string & message) {
    if (env->ExceptionCheck()) {
        return; // keep the first failure
    }
    jstring msg = jni_string(env, message);
    if (msg == nullptr) {
        return;
    }
    jobject ex = env->CallStaticObjectMethod(g_jni.llama_exception, g_jni.llama_exception_make, (jint) status, msg);
    env->DeleteLocalRef(msg);
    if (ex != nullptr && !env->ExceptionCheck()) {
        env->Throw(static_cast<jthrowable>(ex));
    }
}

jbyteArray jni_byte_array(JNIEnv * env, const std::string & bytes) {
    jbyteArray array = env->NewByteArray((jsize) bytes.size());
    if (array != nullptr && !bytes.empty()) {
        env->SetByteArrayRegion(array, 0, (jsize) bytes.size(), reinterpret_cast<const jbyte *>(bytes.data()));
    }
    return array;
}

jintArray jni_int_array(JNIEnv * env, const int32_t * data, size_t n) {
    jintArray array = env->NewIntArray((jsize) n);
    if (array != nullptr && n > 0) {
        env->SetIntArrayRegion(array, 0, (jsize) n, reinterpret_cast<const jint *>(data));
    }
    return array;
}

jstring jni_string(JNIEnv * env, const std::string & utf8) {
    jbyteArray bytes = jni_byte_array(env, utf8);
    if (bytes == nullptr) {
        return nullptr;
    }
    jstring s = static_cast<jstring>(env->NewObject(g_jni.string, g_jni.string_from_utf8, bytes, g_jni.utf8_name));
    env->DeleteLocalRef(bytes);
    return s;
}

std::string jni_bytes(JNIEnv * env, jbyteArray array) {
    std::string out;
    if (array == nullptr) {
        return out;
    }
    out.resize((size_t) env->GetArrayLength(array));
    if (!out.empty()) {
        env->GetByteArrayRegion(array, 0, (jsize) out.size(), reinterpret_cast<jbyte *>(&out[0]));
    }
    return out;
}

std::vector<int32_t> jni_ints(JNIEnv * env, jintArray array) {
    std::vector<int32_t> out;
    if (array == nullptr) {
        return out;
    }
    out.resize((size_t) env->GetArrayLength(array));
    if (!out.empty()) {
        env->GetIntArrayRegion(array, 0, (jsize) out.size(), reinterpret_cast<jint *>(out.data()));
    }
    return out;
}

bool jni_utf8(JNIEnv * env, jstring s, const char * what, std::string & out) {
    if (s == nullptr) {
        jni_throw_null_pointer(env, what);
        return false;
    }
    const char * chars = env->GetStringUTFChars(s, nullptr);
    if (chars == nullptr) return false; // OutOfMemoryError pending
    out = chars;
    env->ReleaseStringUTFChars(s, chars);
    return true;
}

jobjectArray jni_string_array(JNIEnv * env, const std::vector<std::string> & texts) {
    jobjectArray array = env->NewObjectArray((jsize) texts.size(), g_jni.string, nullptr);
    for (size_t i = 0; array != nullptr && i < texts.size(); i++) {
        jstring s = jni_string(env, texts[i]);
        if (s == nullptr) return nullptr;
        env->SetObjectArrayElement(array, (jsize) i, s);
        env->DeleteLocalRef(s);
    }
    return array;
}

bool jni_named_values(JNIEnv * env, jobjectArray names, jdoubleArray values,
                      std::vector<std::pair<std::string, double>> & out) {
    if (names == nullptr || values == nullptr) {
        jni_throw_null_pointer(env, names == nullptr ? "setting names are null" : "setting values are null");
        return false;
    }
    const jsize n = env->GetArrayLength(names);
    if (env->GetArrayLength(values) != n) {
        jni_throw_illegal_argument(env, std::to_string(n) + " setting names but " +
                                   std::to_string(env->GetArrayLength(values)) + " values");
        return false;
    }
    std::vector<double> v((size_t) n);
    if (n > 0) env->GetDoubleArrayRegion(values, 0, n, v.data());
    out.clear();
    for (jsize i = 0; i < n; i++) {
        jstring name = static_cast<jstring>(env->GetObjectArrayElement(names, i));
        std::string text;
        const bool ok = jni_utf8(env, name, "a setting name is null", text);
        if (name != nullptr) env->DeleteLocalRef(name);
        if (!ok) return false;
        out.emplace_back(text, v[(size_t) i]);
    }
    return true;
}

bool jni_progress_init(JNIEnv * env, jobject bridge, jni_progress_target & out) {
    jclass bridge_class = env->GetObjectClass(bridge);
    out = {env, bridge, env->GetMethodID(bridge_class, "onNativeProgress", "(IJJFD)Z")};
    env->DeleteLocalRef(bridge_class);
    return out.method != nullptr; // else NoSuchMethodError pending
}

bool jni_on_progress(const sd_train_progress & p, void * user) {
    jni_progress_target & t = *static_cast<jni_progress_target *>(user);
    const jboolean go = t.env->CallBooleanMethod(t.bridge, t.method, (jint) p.phase, (jlong) p.done, (jlong) p.total,
                                                 (jfloat) p.loss, (jdouble) p.seconds);
    return !t.env->ExceptionCheck() && go == JNI_TRUE;
}
