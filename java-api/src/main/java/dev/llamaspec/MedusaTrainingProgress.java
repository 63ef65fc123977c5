package dev.llamaspec;

/**
 * Where a {@link MedusaTrainer} run stands.
 *
 * @param phase   what the run is doing
 * @param done    documents read, continuations generated, examples evaluated or steps done
 * @param total   of how many ({@link Phase#TRAINING}: may shrink once to fit the time budget)
 * @param loss    {@link Phase#TRAINING}: the last step's loss (cross-entropy summed over heads), else 0
 * @param seconds since the run began
 */
public record MedusaTrainingProgress(Phase phase, long done, long total, double loss, double seconds) {

    /** The phases of a run, in order (evaluation runs before and after training). */
    public enum Phase {
        /** The base model reads the corpus. */
        READING,
        /** The base model generates continuations of corpus openings (self-generated data). */
        GENERATING,
        /** Held-out accuracy of the heads. */
        EVALUATING,
        /** Optimizer steps. */
        TRAINING;

        static Phase fromNative(int phase) {
            return values()[phase];
        }
    }
}
