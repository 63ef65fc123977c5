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

extern "C" JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM * vm, void * /*reserved*/) {
    JNIEnv * env = nullptr;
    if (vm->GetEnv(reinterpret_cast<void **>(&env), JNI_VERSION_1_8) != JNI_OK) {
        return JNI_ERR;
    }
    g_jvm = vm;
    g_jni.llama_exception = global_class(env, "dev/llamaspec/LlamaException");
    g_jni.model_info      = global_class(env, "dev/llamaspec/ModelInfo");
    g_jni.step_result     = global_class(env, "dev/llamaspec/StepResult");
    g_jni.native_log      = global_class(env, "dev/llamaspec/NativeLog");
    g_jni.string          = global_class(env, "java/lang/String");
    if (g_jni.llama_exception == nullptr || g_jni.model_info == nullptr || g_jni.step_result == nullptr ||
        g_jni.native_log == nullptr || g_jni.string == nullptr) {
        return JNI_ERR;
    }
    g_jni.llama_exception_make = env->GetStaticMethodID(g_jni.llama_exception, "fromNative",
        "(ILjava/lang/String;)Ldev/llamaspec/LlamaException;");
    g_jni.model_info_make = env->GetStaticMethodID(g_jni.model_info, "fromNative",
        "(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;JJIIII)Ldev/llamaspec/ModelInfo;");
    g_jni.step_result_ctor = env->GetMethodID(g_jni.step_result, "<init>", "([I[BI)V");
    g_jni.native_log_log   = env->GetStaticMethodID(g_jni.native_log, "log", "(I[B)V");
    g_jni.string_from_utf8 = env->GetMethodID(g_jni.string, "<init>", "([BLjava/lang/String;)V");
    jstring utf8 = env->NewStringUTF("UTF-8");
    g_jni.utf8_name = utf8 != nullptr ? static_cast<jstring>(env->NewGlobalRef(utf8)) : nullptr;
    if (g_jni.llama_exception_make == nullptr || g_jni.model_info_make == nullptr ||
        g_jni.step_result_ctor == nullptr || g_jni.native_log_log == nullptr ||
        g_jni.string_from_utf8 == nullptr || g_jni.utf8_name == nullptr) {
        return JNI_ERR;
    }
    return JNI_VERSION_1_8;
}

static void throw_class(JNIEnv * env, const char * cls, const char * message) {
    jclass c = env->FindClass(cls);
    if (c != nullptr) {
        env->ThrowNew(c, message);
        env->DeleteLocalRef(c);
    }
}

void jni_throw_illegal_state(JNIEnv * env, const char * message) {
    throw_class(env, "java/lang/IllegalStateException", message);
}

void jni_throw_illegal_argument(JNIEnv * env, const char * message) {
    throw_class(env, "java/lang/IllegalArgumentException", message);
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
