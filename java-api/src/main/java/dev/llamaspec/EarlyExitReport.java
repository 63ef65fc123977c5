package dev.llamaspec;

/**
 * What {@link EarlyExit#make} did, as an immutable snapshot. Agreement is the share of held-out corpus
 * positions where the drafter's top token is the model's own greedy token.
 *
 * @param modelLayers      the model's block count
 * @param layers           the model's first blocks the drafter keeps (before its adapter block)
 * @param trainingPositions corpus positions trained on (0 without a corpus)
 * @param heldOutPositions held-out positions the agreement is measured on (0 without a corpus)
 * @param agreementBefore  with the adapter copied from the model's last block (0 without a corpus)
 * @param agreementAfter   with the adapter written (0 without a corpus)
 * @param firstLoss        training cross-entropy of the first step
 * @param loss             mean training cross-entropy of the last 5% of the steps
 * @param steps            optimizer steps done
 * @param bestStep         the step whose weights were written (the agreement is checked every tenth of
 *                         the run); 0 when the copied adapter was the best
 * @param fileBytes        the drafter's file
 * @param modelBytes       the model's file
 * @param seconds          the whole run
 */
public record EarlyExitReport(int modelLayers, int layers, long trainingPositions, long heldOutPositions,
        double agreementBefore, double agreementAfter, double firstLoss, double loss, int steps, int bestStep,
        long fileBytes, long modelBytes, double seconds) {

    /** Whether the adapter was trained on a corpus. */
    public boolean trained() {
        return trainingPositions > 0;
    }

    /** Built from the engine's numbers in the order of {@code Java_dev_llamaspec_EarlyExit_nMake}. */
    static EarlyExitReport fromNative(int layers, double[] v) {
        if (v.length != 12) {
            throw new IllegalStateException("the engine's early-exit report has " + v.length + " numbers, not 12");
        }
        return new EarlyExitReport((int) v[0], layers, (long) v[1], (long) v[2], v[3], v[4], v[5], v[6], (int) v[7],
                (int) v[8], (long) v[9], (long) v[10], v[11]);
    }
}
