package dev.llamaspec;

/**
 * Receives the progress of a {@link MedusaTrainer} run, on the thread that runs it, often (every
 * optimizer step, every document read): keep it short. An exception thrown here stops the run and is
 * rethrown by {@link MedusaTrainer#train}.
 */
@FunctionalInterface
public interface MedusaTrainingListener {
    void onProgress(MedusaTrainingProgress progress);

    /** A listener that ignores progress. */
    static MedusaTrainingListener none() {
        return progress -> { };
    }
}
