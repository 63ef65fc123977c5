// JNI functions of dev.llamaspec.MedusaTrainer. The Java side holds the model's read lock while
// training runs; progress goes to the Java object's onNativeProgress, whose result (false: stop)
// cancels the run.
#include "jni-util.h"
#include "spec-decode.h"

#define TRAINER_FN(ret, name) extern "C" JNIEXPORT ret JNICALL Java_dev_llamaspec_MedusaTrainer_##name

namespace {

struct progress_target {
    JNIEnv *  env;
    jobject   bridge;
    jmethodID method; // boolean onNativeProgress(int phase, long done, long total, float loss, double seconds)
};

bool on_progress(const sd_train_progress & p, void * user) {
    progress_target & t = *static_cast<progress_target *>(user);
    const jboolean go = t.env->CallBooleanMethod(t.bridge, t.method, (jint) p.phase, (jlong) p.done, (jlong) p.total,
                                                 (jfloat) p.loss, (jdouble) p.seconds);
    return !t.env->ExceptionCheck() && go == JNI_TRUE;
}

} // namespace

// ints: {heads, layers, steps, batch, threads, contextSize, maxEval, selfGenerated}; longs: {maxTokens, seed};
// floats: {maxMinutes, learningRate, warmup, weightDecay, holdout}. Returns the report as doubles
// (see MedusaTrainingReport.fromNative for the order), or null when cancelled.
TRAINER_FN(jdoubleArray, nTrain)(JNIEnv * env, jclass, jlong model_handle, jbyteArray corpus, jbyteArray output,
                                 jintArray ints, jlongArray longs, jfloatArray floats, jobject bridge) {
    return jni_guard(env, (jdoubleArray) nullptr, [&]() -> jdoubleArray {
        sd_model * model = jni_handle<sd_model>(env, model_handle, "model is closed");
        if (model == nullptr) return nullptr;
        const std::vector<int32_t> i = jni_ints(env, ints);
        if (i.size() != 8 || env->GetArrayLength(longs) != 2 || env->GetArrayLength(floats) != 5) {
            jni_throw_illegal_argument(env, "training parameters have the wrong size");
            return nullptr;
        }
        jlong l[2];
        jfloat f[5];
        env->GetLongArrayRegion(longs, 0, 2, l);
        env->GetFloatArrayRegion(floats, 0, 5, f);
        sd_train_params params = sd_train_default_params();
        params.corpus         = jni_bytes(env, corpus);
        params.n_heads        = i[0];
        params.n_layers       = i[1];
        params.n_steps        = i[2];
        params.batch          = i[3];
        params.n_threads      = i[4];
        params.n_ctx          = i[5];
        params.max_eval       = i[6];
        params.self_generated = i[7] != 0;
        params.max_tokens     = l[0];
        params.seed           = (uint32_t) l[1];
        params.max_minutes    = f[0];
        params.lr             = f[1];
        params.warmup         = f[2];
        params.weight_decay   = f[3];
        params.holdout        = f[4];
        const std::string out = jni_bytes(env, output);

        jclass bridge_class = env->GetObjectClass(bridge);
        progress_target target = {env, bridge, env->GetMethodID(bridge_class, "onNativeProgress", "(IJJFD)Z")};
        env->DeleteLocalRef(bridge_class);
        if (target.method == nullptr) return nullptr; // NoSuchMethodError pending

        sd_train_report r;
        std::string error;
        const sd_status status = sd_heads_train(model, params, out.c_str(), r, on_progress, &target, error);
        if (env->ExceptionCheck()) return nullptr; // thrown by the progress listener
        if (status != SD_OK) {
            jni_throw_llama(env, status, error);
            return nullptr;
        }
        if (r.cancelled) return nullptr;
        // {steps, examples, training examples, held-out examples, positions read, first loss, loss,
        //  seconds, seconds reading, seconds training, time limited, heads} then per head
        //  {top-1 before, top-5 before, top-1, top-5}
        std::vector<double> v = {(double) r.steps, (double) r.examples, (double) r.n_train, (double) r.n_eval,
                                 (double) r.n_tokens, r.loss_first, r.loss, r.seconds, r.seconds_data, r.seconds_train,
                                 r.time_limited ? 1.0 : 0.0, (double) r.top1.size()};
        for (size_t k = 0; k < r.top1.size(); k++) {
            v.insert(v.end(), {r.top1_before[k], r.top5_before[k], r.top1[k], r.top5[k]});
        }
        jdoubleArray array = env->NewDoubleArray((jsize) v.size());
        if (array != nullptr) env->SetDoubleArrayRegion(array, 0, (jsize) v.size(), v.data());
        return array;
    });
}
