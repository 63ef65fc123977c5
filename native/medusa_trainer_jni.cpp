// JNI functions of dev.llamaspec.MedusaTrainer. The Java side holds the model's read lock while
// training runs; progress goes to the Java object's onNativeProgress, whose result (false: stop)
// cancels the run.
#include "jni-util.h"

// Trains heads with the named settings of sd_train_settings() (names[i] = values[i]; the others keep their
// defaults). Returns MedusaTrainingReport.fromNative(names, values, list names, lists) with the report's
// numbers (sd_train_report_values) and per-head lists (sd_train_report_lists) by name, or null when the
// run was cancelled.
extern "C" JNIEXPORT jobject JNICALL Java_dev_llamaspec_MedusaTrainer_nTrain(JNIEnv * env, jclass, jlong model_handle,
                                                                             jbyteArray corpus, jbyteArray output,
                                                                             jobjectArray names, jdoubleArray values,
                                                                             jobject bridge) {
    return jni_guard(env, (jobject) nullptr, [&]() -> jobject {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return nullptr;
        if (bridge == nullptr) {
            jni_throw_null_pointer(env, "progress bridge is null");
            return nullptr;
        }
        sd_train_params params = sd_train_default_params();
        if (!jni_apply_settings(env, params, names, values, sd_train_set)) return nullptr;
        params.corpus = jni_bytes(env, corpus);
        const std::string out = jni_bytes(env, output);

        jni_progress_target target;
        if (!jni_progress_init(env, bridge, target)) return nullptr;

        sd_train_report r;
        std::string error;
        const sd_status status = sd_heads_train(model, params, out.c_str(), r, jni_on_progress, &target, error);
        if (env->ExceptionCheck()) return nullptr; // thrown by the progress listener
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        if (r.cancelled) return nullptr;

        std::vector<std::string> value_names;
        std::vector<double> numbers;
        for (const auto & v : sd_train_report_values(r)) {
            value_names.emplace_back(v.first);
            numbers.push_back(v.second);
        }
        const std::vector<std::pair<const char *, std::vector<float>>> lists = sd_train_report_lists(r);
        std::vector<std::string> list_names;
        for (const auto & l : lists) list_names.emplace_back(l.first);

        jobjectArray value_name_array = jni_string_array(env, value_names);
        jdoubleArray value_array = env->NewDoubleArray((jsize) numbers.size());
        jobjectArray list_name_array = jni_string_array(env, list_names);
        jclass float_array_class = env->FindClass("[F");
        if (value_name_array == nullptr || value_array == nullptr || list_name_array == nullptr ||
            float_array_class == nullptr) {
            return nullptr;
        }
        env->SetDoubleArrayRegion(value_array, 0, (jsize) numbers.size(), numbers.data());
        jobjectArray list_array = env->NewObjectArray((jsize) lists.size(), float_array_class, nullptr);
        env->DeleteLocalRef(float_array_class);
        if (list_array == nullptr) return nullptr;
        for (size_t i = 0; i < lists.size(); i++) {
            const std::vector<float> & l = lists[i].second;
            jfloatArray a = env->NewFloatArray((jsize) l.size());
            if (a == nullptr) return nullptr;
            if (!l.empty()) env->SetFloatArrayRegion(a, 0, (jsize) l.size(), l.data());
            env->SetObjectArrayElement(list_array, (jsize) i, a);
            env->DeleteLocalRef(a);
        }
        return env->CallStaticObjectMethod(g_jni.training_report, g_jni.training_report_make, value_name_array,
                                           value_array, list_name_array, list_array);
    });
}
