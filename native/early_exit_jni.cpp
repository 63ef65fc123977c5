// JNI functions of dev.llamaspec.EarlyExit. The Java side holds the model's read lock while the drafter
// is made; progress goes to the Java object's onNativeProgress, whose result (false: stop) cancels the
// run.
#include "jni-util.h"

// Makes an early-exit drafter of the model with the named settings of sd_early_exit_settings()
// (names[i] = values[i]; the others keep their defaults), trained on corpus unless it is null. Returns
// the report's numbers in the order EarlyExitReport.fromNative reads them, or null when the run was
// cancelled.
extern "C" JNIEXPORT jdoubleArray JNICALL Java_dev_llamaspec_EarlyExit_nMake(JNIEnv * env, jclass, jlong model_handle,
                                                                           jbyteArray corpus, jbyteArray output,
                                                                           jobjectArray names, jdoubleArray values,
                                                                           jobject bridge) {
    return jni_guard(env, (jdoubleArray) nullptr, [&]() -> jdoubleArray {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return nullptr;
        if (bridge == nullptr) {
            jni_throw_null_pointer(env, "progress bridge is null");
            return nullptr;
        }
        sd_early_exit_params params = sd_early_exit_default_params();
        if (!jni_apply_settings(env, params, names, values, sd_early_exit_set)) return nullptr;
        if (corpus != nullptr) params.corpus = jni_bytes(env, corpus);
        const std::string out = jni_bytes(env, output);
        jni_progress_target target;
        if (!jni_progress_init(env, bridge, target)) return nullptr;

        sd_early_exit_report r;
        std::string error;
        const sd_status status = sd_early_exit_make(model, params, out.c_str(), r, jni_on_progress, &target, error);
        if (env->ExceptionCheck()) return nullptr; // thrown by the progress listener
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        if (r.cancelled) return nullptr;
        const double numbers[] = {(double) r.n_layers_model, (double) r.n_train, (double) r.n_eval, r.agreement_before,
                                  r.agreement_after, r.loss_first, r.loss, (double) r.steps, (double) r.best_step,
                                  (double) r.file_bytes, (double) r.model_bytes, r.seconds};
        const jsize n = (jsize) (sizeof(numbers) / sizeof(numbers[0]));
        jdoubleArray a = env->NewDoubleArray(n);
        if (a != nullptr) env->SetDoubleArrayRegion(a, 0, n, numbers);
        return a;
    });
}
