package dev.llamaspec;

/**
 * Passes the progress of a native training run ({@link MedusaTrainer}, {@link EarlyExit}) to a
 * listener; its answer, false, stops the run: when the listener's thread is interrupted.
 */
final class TrainingProgressBridge {
    private final MedusaTrainingListener listener;

    TrainingProgressBridge(MedusaTrainingListener listener) {
        this.listener = listener;
    }

    @SuppressWarnings("unused") // called from JNI
    boolean onNativeProgress(int phase, long done, long total, float loss, double seconds) {
        if (Thread.currentThread().isInterrupted()) {
            return false;
        }
        listener.onProgress(new MedusaTrainingProgress(MedusaTrainingProgress.Phase.fromNative(phase), done, total,
                loss, seconds));
        return !Thread.currentThread().isInterrupted();
    }
}
